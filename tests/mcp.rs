//! MCP servers as tools of a call (feature `mcp`): the workspace's `mcp-test-server` over stdio
//! and over Streamable HTTP on loopback, through the emulator and a full agent.
#![cfg(feature = "mcp")]

mod agent_common;
mod mcp_common;

use std::time::Duration;

use agent_common::{
    EventLog, NUMBER, agent_builder, emulator, eventually, get, inbound, wait_call,
};
use clawops::agent::ToolRegistry;
use clawops::mcp::McpServer;
use clawops_emulator::Emulator;
use mcp_common::{HttpServer, ModelSession, Probe, Step, process_exists, server_bin};
use serde_json::{Value, json};

/// Result of one call run through the agent.
struct Run {
    results: Vec<(String, String)>,
    offered: Vec<Vec<String>>,
    events: Vec<String>,
    view: Value,
}

impl Run {
    fn results(&self) -> Vec<(&str, &str)> {
        self.results
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect()
    }

    /// The control frame `event` the agent sent about the call.
    fn frame(&self, event: &str) -> Value {
        self.view["frames"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["event"] == event))
            .cloned()
            .unwrap_or_else(|| panic!("no {event} frame in {}", self.view["frames"]))
    }
}

fn stdio(pid_file: &std::path::Path) -> McpServer {
    McpServer::stdio(
        server_bin().to_string_lossy(),
        [
            "--pid-file".to_owned(),
            pid_file.to_string_lossy().into_owned(),
        ],
        [("MCP_TEST_TOKEN", "env-secret-4711")],
    )
}

fn user_tools() -> ToolRegistry {
    let mut tools = ToolRegistry::new();
    tools
        .register_with_description("local_echo", "Echoes the text.", |args: Echo| async move {
            Ok::<_, std::convert::Infallible>(format!("local {}", args.text))
        })
        .unwrap();
    tools
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Echo {
    text: String,
}

/// Runs one inbound call whose session makes `steps`, with `servers`; waits for `call_end`.
async fn run_call(emu: &Emulator, servers: Vec<McpServer>, steps: Vec<Step>) -> Run {
    let probe = Probe::default();
    let log = EventLog::default();
    let p = probe.clone();
    let agent = log
        .attach(agent_builder(emu, NUMBER))
        .tools(user_tools())
        .session_factory(move || ModelSession::new(steps.clone(), p.clone()))
        .mcp_servers(servers)
        .build()
        .expect("agent builds");
    agent.connect().await.expect("agent connects");
    let id = inbound(emu, NUMBER, json!({"seconds": 10, "maxSeconds": 30})).await;
    wait_call(emu, &id).await;
    eventually(15, "call_end", || {
        log.of(&id).iter().any(|e| e == "call_end")
    })
    .await;
    // The metrics frame leaves before call_end; wait until the emulator has processed it.
    let mut view = Value::Null;
    for _ in 0..250 {
        view = get(emu, &format!("/_emulator/calls/{id}")).await;
        if view["frames"].to_string().contains("\"call.metrics\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    agent.disconnect().await;
    Run {
        results: probe.results.lock().unwrap().clone(),
        offered: probe.offered.lock().unwrap().clone(),
        events: log.of(&id),
        view,
    }
}

fn pid_of(path: &std::path::Path) -> u32 {
    std::fs::read_to_string(path)
        .expect("server wrote its pid")
        .trim()
        .parse()
        .expect("pid")
}

const OFFERED_WITH_MCP: [&str; 9] = [
    "local_echo",
    "crash",
    "fail",
    "lookup_order",
    "sleep",
    "hang_up",
    "collect_dtmf",
    "send_dtmf",
    "transfer_call",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_stdio_tool_result_reaches_the_model_and_child_is_reaped() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let run = run_call(
        &emu,
        vec![stdio(&pid_file)],
        vec![("lookup_order", r#"{"order_id":"A-7"}"#.into())],
    )
    .await;

    // The exact text the model received, and the assistant said it.
    assert_eq!(run.results(), [("lookup_order", "order A-7: shipped")]);
    assert!(
        run.events
            .contains(&"transcript:assistant:lookup_order -> order A-7: shipped".to_owned()),
        "{:?}",
        run.events
    );
    // Tools offered: first the agent's (before the session starts nothing else is known),
    // then the call's set: user tools, MCP tools in the server's listing order, builtins; the
    // server's `hang_up` clashes with the builtin and is not offered twice.
    assert_eq!(
        run.offered.last().unwrap(),
        &OFFERED_WITH_MCP.map(str::to_owned).to_vec()
    );
    // Frames: telemetry counts the MCP server and the call's user + MCP tools; metrics count
    // the tool call; the session started (no call.session_failed).
    let telemetry = run.frame("call.telemetry");
    assert_eq!(telemetry["telemetry"]["mcpServerCount"], 1);
    assert_eq!(telemetry["telemetry"]["toolCount"], 5);
    let metrics = run.frame("call.metrics");
    assert_eq!(metrics["metrics"]["toolCallCount"], 1);
    assert_eq!(metrics["metrics"]["toolErrorCount"], 0);
    assert_eq!(run.view["sessionFailed"], Value::Null);
    assert_eq!(run.view["endedBy"], "agent");
    // Closed at call end, and the child was waited for (no zombie).
    assert!(!process_exists(pid_of(&pid_file)), "MCP child not reaped");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_streamable_http_with_custom_header_reaches_the_model() {
    let emu = emulator().await;
    let server = HttpServer::start(("x-mcp-key", "hdr-secret-9931")).await;
    let run = run_call(
        &emu,
        vec![McpServer::http(
            server.url.clone(),
            [("x-mcp-key", "hdr-secret-9931")],
        )],
        vec![
            ("lookup_order", r#"{"order_id":"B-12"}"#.into()),
            ("fail", r#"{"reason":"nope"}"#.into()),
        ],
    )
    .await;
    // The server answers 401 without the header: the tool results prove it was sent.
    assert_eq!(
        run.results(),
        [
            ("lookup_order", "order B-12: shipped"),
            ("fail", "MCP Error: nope")
        ]
    );
    assert_eq!(
        run.offered.last().unwrap(),
        &OFFERED_WITH_MCP.map(str::to_owned).to_vec()
    );
    let metrics = run.frame("call.metrics");
    assert_eq!(metrics["metrics"]["toolCallCount"], 2);
    assert_eq!(metrics["metrics"]["toolErrorCount"], 1);
    server.stop().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_http_without_the_required_header_degrades_to_no_tools_not_a_dead_call() {
    let emu = emulator().await;
    let server = HttpServer::start(("x-mcp-key", "right")).await;
    let run = run_call(
        &emu,
        vec![
            McpServer::http(server.url.clone(), [("x-mcp-key", "wrong")])
                .connect_timeout(Duration::from_secs(5)),
        ],
        vec![
            ("lookup_order", r#"{"order_id":"C-1"}"#.into()),
            ("local_echo", r#"{"text":"still here"}"#.into()),
        ],
    )
    .await;
    assert_eq!(
        run.results(),
        [
            ("lookup_order", "Error: Unknown tool: lookup_order"),
            ("local_echo", "local still here"),
        ]
    );
    assert_eq!(run.view["sessionFailed"], Value::Null);
    assert_eq!(run.view["endedBy"], "agent");
    server.stop().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_crashed_server_and_failing_tools_give_mcp_errors_and_the_call_continues() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let run = run_call(
        &emu,
        vec![stdio(&pid_file).call_timeout(Duration::from_millis(1500))],
        vec![
            ("sleep", r#"{"ms":5000}"#.into()),
            ("fail", r#"{"reason":"card declined"}"#.into()),
            ("lookup_order", r#"{"order_id":"D-4"}"#.into()),
            ("crash", "{}".into()),
            ("lookup_order", r#"{"order_id":"D-5"}"#.into()),
            ("local_echo", r#"{"text":"after crash"}"#.into()),
        ],
    )
    .await;
    let results = run.results();
    assert_eq!(results.len(), 6, "{results:?}");
    assert_eq!(
        results[..3],
        [
            ("sleep", "MCP Error: tool sleep timed out after 1500 ms"),
            ("fail", "MCP Error: card declined"),
            ("lookup_order", "order D-4: shipped"),
        ]
    );
    // The crash and the call after it: errors for the model, naming the server, never a
    // dead call.
    let server = server_bin().to_string_lossy().into_owned();
    for (i, name) in [(3, "crash"), (4, "lookup_order")] {
        assert_eq!(results[i].0, name);
        assert!(
            results[i]
                .1
                .starts_with(&format!("MCP Error: MCP server {server} failed: ")),
            "{:?}",
            results[i]
        );
    }
    assert_eq!(results[5], ("local_echo", "local after crash"));
    let metrics = run.frame("call.metrics");
    assert_eq!(metrics["metrics"]["toolCallCount"], 6);
    assert_eq!(metrics["metrics"]["toolErrorCount"], 4);
    assert_eq!(run.view["sessionFailed"], Value::Null);
    assert_eq!(run.view["endedBy"], "agent");
    // The crashed child was reaped.
    let pid = pid_of(&pid_file);
    eventually(10, "crashed MCP child reaped", || !process_exists(pid)).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_server_that_cannot_start_leaves_the_call_running() {
    let emu = emulator().await;
    let run = run_call(
        &emu,
        vec![McpServer::stdio(
            "/nonexistent/mcp-server",
            Vec::<String>::new(),
            Vec::<(String, String)>::new(),
        )],
        vec![("local_echo", r#"{"text":"hi"}"#.into())],
    )
    .await;
    assert_eq!(run.results(), [("local_echo", "local hi")]);
    let telemetry = run.frame("call.telemetry");
    assert_eq!(telemetry["telemetry"]["mcpServerCount"], 1);
    assert_eq!(telemetry["telemetry"]["toolCount"], 1);
    assert_eq!(run.view["sessionFailed"], Value::Null);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tool_clashing_with_an_earlier_server_or_a_builtin_is_not_offered() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    // Two servers with the same tools: the second server's tools all clash.
    let run = run_call(
        &emu,
        vec![stdio(&a), stdio(&b)],
        vec![("lookup_order", r#"{"order_id":"E-1"}"#.into())],
    )
    .await;
    assert_eq!(run.results(), [("lookup_order", "order E-1: shipped")]);
    assert_eq!(
        run.offered.last().unwrap(),
        &OFFERED_WITH_MCP.map(str::to_owned).to_vec()
    );
    assert!(!process_exists(pid_of(&a)));
    assert!(!process_exists(pid_of(&b)));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_14_mcp_tools_resynced_at_attach() {
    // Outbound with prewarm: the session is prewarmed with the agent's tools (MCP servers are
    // per call and connect at answer), then gets the call's tools with the MCP tools
    // **before** attach, so a provider resyncs its schema at attach.
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let probe = Probe::default();
    let log = EventLog::default();
    let p = probe.clone();
    let steps: Vec<Step> = vec![("lookup_order", r#"{"order_id":"F-9"}"#.into())];
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .tools(user_tools())
        .session_factory(move || ModelSession::new(steps.clone(), p.clone()))
        .mcp_server(stdio(&pid_file))
        .build()
        .expect("agent builds");
    agent.connect().await.expect("agent connects");
    let call = agent
        .call("01099990000", clawops::agent::CallOptions::new())
        .await
        .expect("originate");
    let id = call.call_id().to_owned();
    wait_call(&emu, &id).await;
    eventually(15, "call_end", || {
        log.of(&id).iter().any(|e| e == "call_end")
    })
    .await;
    agent.disconnect().await;
    assert_eq!(
        *probe.lifecycle.lock().unwrap(),
        ["set_tools:5", "prewarm", "set_tools:9", "attach"]
    );
    assert_eq!(
        probe.offered.lock().unwrap().last().unwrap(),
        &OFFERED_WITH_MCP.map(str::to_owned).to_vec()
    );
    assert_eq!(
        *probe.results.lock().unwrap(),
        [("lookup_order".to_owned(), "order F-9: shipped".to_owned())]
    );
    assert!(!process_exists(pid_of(&pid_file)));
    emu.shutdown().await;
}

/// A one-call media server on loopback: `connected`, `start`, then every mark echoed until the
/// client closes. Returns the `ws://` URL.
async fn media_server() -> String {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let start = json!({"event": "start", "sequenceNumber": "1", "start": {
            "streamId": "MZ1", "callId": "CA_runner", "accountId": "AC1", "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {}}});
        for frame in [
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            start,
        ] {
            if ws.send(Message::text(frame.to_string())).await.is_err() {
                return;
            }
        }
        while let Some(Ok(msg)) = ws.next().await {
            match msg {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    if v["event"] == "mark" {
                        let echo =
                            json!({"event": "mark", "sequenceNumber": "9", "mark": v["mark"]});
                        let _ = ws.send(Message::text(echo.to_string())).await;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    format!("ws://{addr}/v1/agent/media/CA_runner?token=t")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_runner_gives_its_session_the_mcp_tools_and_reaps_the_server() {
    use clawops::agent::{CallRunner, SessionTools};
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let url = media_server().await;
    let probe = Probe::default();
    let session = ModelSession::new(
        vec![
            ("lookup_order", r#"{"order_id":"R-1"}"#.into()),
            ("local_echo", r#"{"text":"runner"}"#.into()),
        ],
        probe.clone(),
    );
    let call = tokio::time::timeout(
        Duration::from_secs(30),
        CallRunner::new("CA_runner", "01012345678", NUMBER)
            .tools(SessionTools {
                registry: user_tools(),
                ..SessionTools::default()
            })
            .mcp_server(stdio(&pid_file))
            .run(&url, Box::new(session)),
    )
    .await
    .expect("the call ends")
    .expect("the call ran");
    assert!(call.is_ended());
    let results = probe.results.lock().unwrap().clone();
    assert_eq!(
        results,
        [
            ("lookup_order".to_owned(), "order R-1: shipped".to_owned()),
            ("local_echo".to_owned(), "local runner".to_owned()),
        ]
    );
    // One offer, before the session started: the runner's tools, then the server's.
    let offered = probe.offered.lock().unwrap().clone();
    assert_eq!(offered.len(), 1, "{offered:?}");
    assert_eq!(offered[0][0], "local_echo");
    assert!(
        offered[0].iter().any(|t| t == "lookup_order"),
        "{offered:?}"
    );
    // The stdio server was closed and reaped with the call.
    let pid = pid_of(&pid_file);
    eventually(10, "MCP child reaped", || !process_exists(pid)).await;
}
