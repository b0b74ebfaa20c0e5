//! Places a call with a managed agent and a per-call instruction, then polls its status.
//!
//! ```sh
//! CLAWOPS_API_KEY=sk_… CLAWOPS_ACCOUNT_ID=AC… cargo run --example place_call -- 01012345678 07052358010 cmagent123
//! ```

use std::time::Duration;

use clawops::ClawOps;
use clawops::resources::CreateCall;
use clawops::types::CallStatus;

#[tokio::main]
async fn main() -> clawops::Result<()> {
    let mut args = std::env::args().skip(1);
    let to = args.next().unwrap_or_else(|| "01012345678".into());
    let from = args.next().unwrap_or_else(|| "07052358010".into());
    let agent = args.next().unwrap_or_else(|| "cmagent123".into());
    let client = ClawOps::from_env()?;

    // POST /calls is never retried after it may have reached the server: one dial per intent.
    let call = client
        .calls()
        .create(
            CreateCall::new(to, from)
                .agent(agent)
                .call_context("예약 확인만 하고 끊어라", [("orderId", "A-1234")])
                .ring_timeout(30),
        )
        .await?;
    println!("placed {} ({})", call.call_id, call.status);

    loop {
        let call = client.calls().get(&call.call_id).await?;
        match call.status {
            CallStatus::Queued | CallStatus::Ringing | CallStatus::InProgress => {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            other => {
                println!("ended: {other} (cause {:?})", call.hangup_cause);
                return Ok(());
            }
        }
    }
}
