//! Lists every completed call of the last pages, lazily, 100 per request.
//!
//! ```sh
//! CLAWOPS_API_KEY=sk_… CLAWOPS_ACCOUNT_ID=AC… cargo run --example list_calls
//! ```

use clawops::ClawOps;
use clawops::resources::ListCalls;
use clawops::types::CallStatus;
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> clawops::Result<()> {
    let client = ClawOps::from_env()?;
    let mut calls = client
        .calls()
        .list(
            ListCalls::new()
                .status(CallStatus::Completed)
                .page_size(100),
        )
        .auto_paging();
    let mut seconds = 0i64;
    let mut n = 0usize;
    while let Some(call) = calls.try_next().await? {
        n += 1;
        seconds += call.duration.unwrap_or(0);
    }
    println!("{n} completed calls, {seconds} s in total");
    Ok(())
}
