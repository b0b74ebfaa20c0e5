//! Serves the number in `CLAWOPS_FROM`: echoes each caller's audio back and hangs up when the
//! caller presses `#`. Credentials and base URL come from `CLAWOPS_API_KEY`,
//! `CLAWOPS_ACCOUNT_ID` and `CLAWOPS_BASE_URL`.
//!
//! ```sh
//! CLAWOPS_FROM=07012341234 cargo run --example echo_agent
//! ```

use clawops::agent::{Agent, EchoSession};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let number =
        std::env::var("CLAWOPS_FROM").map_err(|_| "set CLAWOPS_FROM to the number to serve")?;
    let agent = Agent::builder(number)
        .session_factory(EchoSession::default)
        .on_call_start(|call| async move {
            println!(
                "call {} from {} started",
                call.call_id(),
                call.from_number()
            );
        })
        .on_dtmf(|call, digit| async move {
            if digit == "#" {
                call.hangup().await;
            }
        })
        .on_call_end(|call| async move {
            println!(
                "call {} ended: {} ({:?} s)",
                call.call_id(),
                call.ended_status()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                call.ended_duration()
            );
        })
        .build()?;
    let report = agent.serve().await?;
    println!(
        "drained: {} completed, {} cut",
        report.completed, report.cut
    );
    Ok(())
}
