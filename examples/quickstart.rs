//! The generated layer end to end: the REST client lists and fetches calls, and control and
//! media frames decode into their message enums, including values and events this crate has
//! never seen.
//!
//! With no `CLAWOPS_API_KEY` set it runs offline against a tiny loopback server inside this
//! example (the ClawOps emulator replaces it once it lands). With `CLAWOPS_API_KEY` and
//! `CLAWOPS_ACCOUNT_ID` set it lists calls from `CLAWOPS_BASE_URL` (default
//! `https://api.claw-ops.com`).
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use clawops::events::{ControlEvent, MediaCommand, MediaEvent};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (base_url, api_key, account_id) = match std::env::var("CLAWOPS_API_KEY") {
        Ok(key) => (
            std::env::var("CLAWOPS_BASE_URL").unwrap_or_else(|_| "https://api.claw-ops.com".into()),
            key,
            std::env::var("CLAWOPS_ACCOUNT_ID")?,
        ),
        Err(_) => (
            serve_canned_api()?,
            "sk_test_demo".to_owned(),
            "AC123".to_owned(),
        ),
    };
    println!("REST base URL: {base_url}");

    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {api_key}"))?,
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    let client = clawops::api::Client::new_with_client(&base_url, http);

    let page = client
        .list_calls()
        .account_id(&account_id)
        .page_size(20)
        .send()
        .await?;
    println!(
        "{} call(s) of {} on page {}:",
        page.data.len(),
        page.meta.total,
        page.meta.page
    );
    for call in &page.data {
        println!(
            "  {} {} {} -> {} status={} duration={:?}",
            call.call_id, call.direction, call.from, call.to, call.status, call.duration
        );
    }
    if let Some(first) = page.data.first() {
        let call = client
            .get_call()
            .account_id(&account_id)
            .call_id(&first.call_id)
            .send()
            .await?;
        println!(
            "get_call({}): status={} hangupCause={:?}",
            call.call_id, call.status, call.hangup_cause
        );
    }

    println!("\nControl and media frames:");
    let frames = [
        r#"{"event":"call.incoming","callId":"CA1","from":"01012345678","to":"07012345678","mediaUrl":"wss://media.example/CA1?token=t"}"#,
        r#"{"event":"call.ended","callId":"CA1","status":"completed","duration":91}"#,
        r#"{"event":"call.ended","callId":"CA2","status":"lost-in-space","duration":0}"#,
        r#"{"event":"call.teleported","callId":"CA3"}"#,
    ];
    for frame in frames {
        match ControlEvent::from_json(frame)? {
            ControlEvent::CallIncoming(c) => {
                println!("  call.incoming {} from {:?}", c.call_id, c.from)
            }
            ControlEvent::CallEnded(e) => println!(
                "  call.ended {} status={} (known value: {})",
                e.call_id,
                e.status.as_ref().map_or("?", |s| s.as_str()),
                e.status.as_ref().is_some_and(|s| !s.is_unknown())
            ),
            other => println!(
                "  {} kept verbatim as {:?}",
                other.event().unwrap_or("?"),
                other
            ),
        }
    }
    let media = MediaEvent::from_json(
        r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"greeting-end"}}"#,
    )?;
    println!("  media {:?}", media.event());
    let clear = MediaCommand::from_value(serde_json::json!({"event": "clear"}))?;
    println!("  barge-in frame: {}", clear.to_json()?);
    Ok(())
}

/// A loopback HTTP server answering the two requests above with canned spec-shaped JSON.
fn serve_canned_api() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let call = r#"{"callId":"CA00000000000000000000000000000001","accountId":"AC123","status":"completed","direction":"outbound","from":"07012345678","to":"01000000000","duration":62,"hangupCause":"normal_clearing","dateCreated":"2026-10-13T07:20:13Z"}"#;
    let list = format!(r#"{{"data":[{call}],"meta":{{"total":1,"page":1,"pageSize":20}}}}"#);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let Ok(mut stream) = stream else { continue };
            let mut request_line = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Drain the headers (the requests carry no body) before answering.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let body = if request_line.contains("/calls?") || request_line.contains("/calls ") {
                &list
            } else {
                call
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(base)
}
