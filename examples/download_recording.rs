//! Streams a call recording to a file without holding it in memory.
//!
//! ```sh
//! CLAWOPS_API_KEY=sk_… CLAWOPS_ACCOUNT_ID=AC… cargo run --example download_recording -- CA0123…
//! ```

use clawops::ClawOps;

#[tokio::main]
async fn main() -> clawops::Result<()> {
    let call_id = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "CA0123456789abcdef0123456789abcdef".into());
    let client = ClawOps::from_env()?;
    let path = format!("{call_id}.wav");
    let mut file = tokio::fs::File::create(&path).await?;
    let info = client.recordings().download_to(&call_id, &mut file).await?;
    println!(
        "wrote {} bytes of {} to {path} (server file name {:?})",
        info.len, info.content_type, info.file_name
    );
    Ok(())
}
