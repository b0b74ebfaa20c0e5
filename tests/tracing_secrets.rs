//! Secrets and DTMF digits never reach logs or spans: a capturing subscriber records every span
//! (name, fields, later records) and every event of a whole call — API key, media token, MCP
//! header and env values, keypad digits pressed by the caller, tool arguments and results —
//! and the test searches the capture for them (incidents 29 and 43, providers.md §9.4).
#![cfg(feature = "mcp")]

mod agent_common;
mod mcp_common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use agent_common::{EventLog, NUMBER, agent_builder, emulator, eventually, inbound, wait_call};
use clawops::mcp::McpServer;
use mcp_common::{HttpServer, ModelSession, Probe, Step, server_bin};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Everything logged or traced by the SDK side (the in-process emulator, which plays the
/// server and knows every secret, is left out).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

/// rmcp logs whole JSON-RPC messages (tool arguments and results) at this level and below
/// (`tracing` orders TRACE > DEBUG): deployments filter `rmcp` to `info` (documented in
/// `clawops::mcp`).
const RMCP_PAYLOAD_LEVEL: tracing::Level = tracing::Level::TRACE;

fn ours(target: &str) -> bool {
    !target.starts_with("clawops_emulator")
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        if ours(attrs.metadata().target()) {
            let mut out = self.0.lock().unwrap();
            let _ = write!(
                out,
                "\nSPAN {} [{}]",
                attrs.metadata().name(),
                attrs.metadata().target()
            );
            attrs.record(&mut Fields(&mut out));
        }
    }
    fn on_record(&self, _id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut out = self.0.lock().unwrap();
        out.push_str("\nRECORD");
        values.record(&mut Fields(&mut out));
    }
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if ours(meta.target())
            && !(meta.target().starts_with("rmcp") && *meta.level() >= RMCP_PAYLOAD_LEVEL)
        {
            let mut out = self.0.lock().unwrap();
            let _ = write!(
                out,
                "\nEVENT {} [{}]",
                event.metadata().level(),
                event.metadata().target()
            );
            event.record(&mut Fields(&mut out));
        }
    }
}

// current_thread: the thread-local default subscriber sees every task of the call (and
// records everything: no level filter).
#[tokio::test]
async fn a_whole_call_logs_no_secrets_dtmf_digits_or_tool_payloads() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));

    let emu = emulator().await;
    let api_key = emu.api_key().to_owned();
    let http = HttpServer::start(("x-mcp-key", "hdr-secret-9931")).await;
    let probe = Probe::default();
    let log = EventLog::default();
    let p = probe.clone();
    let steps: Vec<Step> = vec![
        ("lookup_order", r#"{"order_id":"ARG-31337"}"#.into()),
        ("fail", r#"{"reason":"RESULT-27182"}"#.into()),
        ("collect_dtmf", r#"{"max_digits":4,"timeout":1}"#.into()),
    ];
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(move || ModelSession::new(steps.clone(), p.clone()))
        .mcp_server(McpServer::stdio(
            server_bin().to_string_lossy(),
            ["--arg-secret-5150"],
            [("MCP_TEST_TOKEN", "env-secret-4711")],
        ))
        .mcp_server(McpServer::http(
            format!("{}?key=query-secret-8086", http.url),
            [("x-mcp-key", "hdr-secret-9931")],
        ))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let call_id = inbound(
        &emu,
        NUMBER,
        json!({"seconds": 3, "maxSeconds": 30, "dtmf": "9*8#7*6"}),
    )
    .await;
    let view = wait_call(&emu, &call_id).await;
    eventually(15, "call_end", || {
        log.of(&call_id).iter().any(|e| e == "call_end")
    })
    .await;
    agent.disconnect().await;
    emu.shutdown().await;
    http.stop().await;

    // The call really did all of it: MCP tools answered, and the caller pressed keys.
    let results = probe.results.lock().unwrap().clone();
    assert_eq!(results[0].1, "order ARG-31337: shipped");
    assert_eq!(results[1].1, "MCP Error: RESULT-27182");
    let keys: Vec<String> = log
        .of(&call_id)
        .into_iter()
        .filter(|e| e.starts_with("dtmf:"))
        .collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    assert_eq!(view["mediaConnected"], true);

    let text = capture.0.lock().unwrap().clone();
    assert!(text.contains("SPAN call"), "the capture works");
    assert!(text.contains("SPAN mcp.connect"));
    assert!(text.contains("SPAN mcp.call_tool"));
    for secret in [
        api_key.as_str(),
        // the emulator's one-time media tokens are `tok_<64 hex>`
        "tok_",
        "hdr-secret-9931",
        "query-secret-8086",
        "env-secret-4711",
        "--arg-secret-5150",
        "ARG-31337",
        "RESULT-27182",
        "9*8",
        "7*6",
        "9*8#7*6",
    ] {
        if let Some(at) = text.find(secret) {
            let line = text[..at].rsplit('\n').next().unwrap_or_default();
            panic!("{secret:?} leaked: {line}{secret}…");
        }
    }
}
