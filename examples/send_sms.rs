//! Sends an SMS, then an alimtalk with an SMS fallback.
//!
//! ```sh
//! CLAWOPS_API_KEY=sk_… CLAWOPS_ACCOUNT_ID=AC… cargo run --example send_sms -- 01012345678 07052358010
//! ```

use clawops::resources::SendMessage;
use clawops::types::TextMessageType;
use clawops::{ClawOps, ErrorKind};

#[tokio::main]
async fn main() -> clawops::Result<()> {
    let mut args = std::env::args().skip(1);
    let to = args.next().unwrap_or_else(|| "01012345678".into());
    let from = args.next().unwrap_or_else(|| "07052358010".into());
    let client = ClawOps::from_env()?;

    let sms = client
        .messages()
        .send(SendMessage::text(&to, &from, "안녕하세요"))
        .await?;
    println!("sent {} ({})", sms.message_id, sms.status);

    let alimtalk = SendMessage::alimtalk(&to, &from, "clx9kak0001", "clx9tpl0001")
        .variable("고객명", "홍길동")
        .fallback_text(TextMessageType::Sms, "", "주문이 접수되었습니다.");
    match client.messages().send(alimtalk).await {
        Ok(m) => println!("alimtalk {} ({})", m.message_id, m.status),
        Err(e) if e.kind() == ErrorKind::UnprocessableEntity => {
            println!("refused: {e} (code {:?})", e.code().map(|c| c.as_str()));
        }
        Err(e) => return Err(e),
    }
    Ok(())
}
