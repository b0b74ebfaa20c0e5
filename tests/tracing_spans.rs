//! The span tree of one call, exported through the `otel` layer into an in-memory exporter:
//! `call` → `mcp.connect`, `call` → `llm.session` → `tool.call` → `mcp.call_tool`, with the
//! attribute names of providers.md §9.2 (+ `mcp.tools.count`, `tool.duration_ms`).
#![cfg(all(feature = "otel", feature = "mcp"))]

mod agent_common;
mod mcp_common;

use agent_common::{EventLog, NUMBER, agent_builder, emulator, eventually, inbound, wait_call};
use clawops::mcp::McpServer;
use mcp_common::{ModelSession, Probe, Step, server_bin};
use opentelemetry::Value;
use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn s(v: &str) -> Option<Value> {
    Some(Value::String(v.to_owned().into()))
}

fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "exactly one {name} span");
    found[0]
}

fn id(span: &SpanData) -> SpanId {
    span.span_context.span_id()
}

// current_thread: the thread-local default subscriber sees every task of the call.
#[tokio::test]
async fn one_call_exports_the_span_tree_with_its_attributes() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber =
        tracing_subscriber::registry().with(clawops::telemetry::otel::layer(&provider));
    let _guard = tracing::subscriber::set_default(subscriber);

    let emu = emulator().await;
    let bin = server_bin().to_string_lossy().into_owned();
    let probe = Probe::default();
    let log = EventLog::default();
    let p = probe.clone();
    let steps: Vec<Step> = vec![
        ("lookup_order", r#"{"order_id":"ARG-31337"}"#.into()),
        ("fail", r#"{"reason":"nope"}"#.into()),
    ];
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(move || ModelSession::new(steps.clone(), p.clone()))
        .mcp_server(McpServer::stdio(
            bin.clone(),
            Vec::<String>::new(),
            [("MCP_TEST_TOKEN", "env-secret-4711")],
        ))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let call_id = inbound(&emu, NUMBER, json!({"seconds": 10, "maxSeconds": 30})).await;
    wait_call(&emu, &call_id).await;
    eventually(15, "call_end", || {
        log.of(&call_id).iter().any(|e| e == "call_end")
    })
    .await;
    agent.disconnect().await;
    emu.shutdown().await;
    assert_eq!(
        *probe.results.lock().unwrap(),
        [
            (
                "lookup_order".to_owned(),
                "order ARG-31337: shipped".to_owned()
            ),
            ("fail".to_owned(), "MCP Error: nope".to_owned())
        ]
    );
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();

    // call (a root span)
    let call = one(&spans, "call");
    assert_eq!(call.parent_span_id, SpanId::INVALID);
    assert_eq!(attr(call, "call.id"), s(&call_id));
    assert_eq!(attr(call, "call.from"), s("01055556666"));
    assert_eq!(attr(call, "call.to"), s(NUMBER));
    assert_eq!(
        call.instrumentation_scope.name(),
        clawops::telemetry::TRACER_NAME
    );
    let trace = call.span_context.trace_id();

    // call → mcp.connect
    let connect = one(&spans, "mcp.connect");
    assert_eq!(connect.parent_span_id, id(call));
    assert_eq!(attr(connect, "mcp.server"), s(&bin));
    assert_eq!(attr(connect, "mcp.server.type"), s("stdio"));
    assert_eq!(attr(connect, "mcp.server.command"), s(&bin));
    assert_eq!(attr(connect, "mcp.server.url"), None);
    assert_eq!(attr(connect, "mcp.tools.count"), Some(Value::I64(5)));
    assert_eq!(attr(connect, "error"), Some(Value::Bool(false)));

    // call → llm.session (attributes from the session's telemetry)
    let llm = one(&spans, "llm.session");
    assert_eq!(llm.parent_span_id, id(call));
    assert_eq!(attr(llm, "gen_ai.system"), s("test"));
    assert_eq!(attr(llm, "gen_ai.request.model"), s("scripted-model"));
    assert_eq!(attr(llm, "gen_ai.request.voice"), s("alloy"));
    assert!(
        connect.end_time <= llm.start_time,
        "MCP connected before the session started"
    );

    // llm.session → tool.call → mcp.call_tool, for both calls
    let tools: Vec<&SpanData> = spans.iter().filter(|s| s.name == "tool.call").collect();
    assert_eq!(tools.len(), 2);
    for (name, is_error) in [("lookup_order", false), ("fail", true)] {
        let tool = tools
            .iter()
            .find(|t| attr(t, "tool.name") == s(name))
            .unwrap_or_else(|| panic!("tool.call for {name}"));
        assert_eq!(tool.parent_span_id, id(llm));
        assert_eq!(attr(tool, "tool.source"), s("mcp"));
        assert_eq!(attr(tool, "error"), Some(Value::Bool(is_error)));
        assert!(
            matches!(attr(tool, "tool.duration_ms"), Some(Value::I64(ms)) if ms >= 0),
            "{:?}",
            attr(tool, "tool.duration_ms")
        );
        let mcp: Vec<&SpanData> = spans
            .iter()
            .filter(|s| s.name == "mcp.call_tool" && s.parent_span_id == id(tool))
            .collect();
        assert_eq!(mcp.len(), 1, "one mcp.call_tool under tool.call {name}");
        assert_eq!(attr(mcp[0], "mcp.tool.name"), s(name));
        assert_eq!(
            attr(mcp[0], "mcp.tool.is_error"),
            is_error.then_some(Value::Bool(true))
        );
    }

    // One trace; no span carries tool arguments, results or MCP env values.
    for span in spans.iter().filter(|s| s.span_context.trace_id() == trace) {
        for kv in &span.attributes {
            let v = kv.value.as_str();
            for secret in ["ARG-31337", "nope", "env-secret-4711"] {
                assert!(!v.contains(secret), "{} {}={v}", span.name, kv.key);
            }
        }
    }
    let names: Vec<&str> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .map(|s| s.name.as_ref())
        .filter(|n| {
            n.starts_with("call")
                || n.starts_with("mcp.")
                || n.starts_with("llm.")
                || n.starts_with("tool.")
        })
        .collect();
    assert_eq!(names.len(), 1 + 1 + 1 + 2 + 2, "{names:?}");
}
