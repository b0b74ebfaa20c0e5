//! Verifies a status callback: a raw form body plus its `X-Signature` header.
//!
//! With the `axum` feature, `clawops::webhook::axum::VerifiedStatusCallback` does the same as
//! an extractor that answers 401 on a bad signature.
//!
//! ```sh
//! cargo run --example verify_webhook
//! ```

use clawops::reqwest::header::HeaderMap;
use clawops::webhook;

fn main() -> clawops::Result<()> {
    let signing_key = std::env::var("CLAWOPS_SIGNING_KEY").unwrap_or_else(|_| "test_key".into());
    // What your server received (URL as ClawOps called it, headers, raw body).
    let url = "https://my-app.com/webhook";
    let body = b"CallId=CA123&CallStatus=completed";
    let mut headers = HeaderMap::new();
    headers.insert(
        webhook::SIGNATURE_HEADER,
        "J3dZchH2utI+voZ5StWa4YrMirKJhtPAr9QEPsTUIeU="
            .parse()
            .expect("static header value"),
    );

    match webhook::verify_form(url, &headers, body, &signing_key) {
        Ok(event) => println!("{:?} is now {:?}", event.call_id, event.call_status),
        Err(e) => println!("rejected: {e}"),
    }
    Ok(())
}
