//! Calls `argv[1]` from the number in `CLAWOPS_FROM` (echoing the callee's audio) and prints the
//! outcome: `completed` with the server-confirmed duration, or the failure reason.
//!
//! ```sh
//! CLAWOPS_FROM=07012341234 cargo run --example outbound_call -- 01012345678
//! ```

use clawops::agent::{Agent, CallOptions, EchoSession};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let to = std::env::args()
        .nth(1)
        .ok_or("usage: outbound_call <number>")?;
    let from =
        std::env::var("CLAWOPS_FROM").map_err(|_| "set CLAWOPS_FROM to the calling number")?;
    let agent = Agent::builder(from)
        .session_factory(EchoSession::default)
        .on_call_failed(|call, reason| async move {
            println!("call {} failed: {reason}", call.call_id());
        })
        .build()?;
    let call = agent.call(&to, CallOptions::new()).await?;
    println!("call {} to {to} placed", call.call_id());
    let status = call.wait().await;
    match call.ended_duration() {
        Some(secs) => println!("outcome: {status} ({secs} s)"),
        None => println!("outcome: {status}"),
    }
    agent.disconnect().await;
    Ok(())
}
