//! Agent-side incidents of the Python peer (`agent-protocol.md` §13/§13.1, `providers.md` §13)
//! that no other suite already proves; `docs/incidents.md` maps every row. The situations run on
//! the emulator or on a fake media server inside the test speaking the real wire protocol.

mod agent_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use clawops::agent::testing::{Action, ScriptedSession as TestSession};
use clawops::agent::{
    AgentError, BufferingCall, CallControl, CallEvent, CallOptions, CallRunner, CollectOptions,
    TransferOptions,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(root().join(path.as_ref()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

// ----- a fake media server ----------------------------------------------------------------------

/// What the fake media server saw.
#[derive(Default)]
struct Seen {
    headers: Vec<(String, String)>,
    uri: String,
    texts: Vec<Value>,
    pings: usize,
    closed: bool,
}

#[derive(Clone, Copy)]
struct MediaScript {
    /// Echo every `mark` (as the platform does once playback reached it).
    echo_marks: bool,
    /// Stop reading (so no pong is ever sent again) after the first ping.
    vanish_after_ping: bool,
}

/// Serves one media connection on loopback; returns its URL (with a one-time token).
#[allow(clippy::result_large_err)] // the handshake callback's error type is tungstenite's
async fn fake_media(script: MediaScript) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let s2 = s.clone();
        let mut ws =
            tokio_tungstenite::accept_hdr_async(tcp, move |req: &Request, resp: Response| {
                let mut seen = s2.lock().unwrap();
                seen.uri = req.uri().to_string();
                seen.headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                Ok(resp)
            })
            .await
            .unwrap();
        let start = json!({"event": "start", "sequenceNumber": "1", "start": {
            "streamId": "MZ1", "callId": "CA1", "accountId": "AC1", "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {}}});
        let media = json!({"event": "media", "sequenceNumber": "2", "media": {
            "track": "inbound", "chunk": "1", "timestamp": "0",
            "payload": "////////////////////////////////////////////////////////////////////////////////"}});
        for frame in [
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            start,
            media,
        ] {
            if ws.send(Message::text(frame.to_string())).await.is_err() {
                return;
            }
        }
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    let mark = (v["event"] == "mark").then(|| v["mark"].clone());
                    s.lock().unwrap().texts.push(v);
                    if let (true, Some(mark)) = (script.echo_marks, mark) {
                        let echo = json!({"event": "mark", "sequenceNumber": "9", "mark": mark});
                        let _ = ws.send(Message::text(echo.to_string())).await;
                    }
                }
                Ok(Message::Ping(_)) => {
                    s.lock().unwrap().pings += 1;
                    if script.vanish_after_ping {
                        // A peer that vanished without FIN: the socket stays open, nothing is
                        // read or written any more.
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        s.lock().unwrap().closed = true;
    });
    (
        format!("ws://{addr}/v1/agent/media/CA1?token=tok_onetime"),
        seen,
    )
}

// ----- A8, A25, A41, P0.27.1: build and CI facts ------------------------------------------------

/// `[section]` lines of a Cargo.toml (a tiny reader; enough for the facts checked here).
fn toml_section(text: &str, name: &str) -> Vec<String> {
    let header = format!("[{name}]");
    text.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn declared_features() -> BTreeSet<String> {
    toml_section(&read("Cargo.toml"), "features")
        .iter()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .collect()
}

#[test]
fn incident_8_every_provider_feature_builds_with_its_transport() {
    // The WebSocket and HTTP transports every provider session uses are unconditional
    // dependencies: no feature combination can enable a provider without its transport.
    let deps = toml_section(&read("Cargo.toml"), "dependencies");
    for transport in ["tokio-tungstenite", "reqwest"] {
        let line = deps
            .iter()
            .find(|l| l.starts_with(&format!("{transport} ")))
            .unwrap_or_else(|| panic!("{transport} is a dependency"));
        assert!(
            !line.contains("optional"),
            "{transport} must not be optional: {line}"
        );
    }
    assert!(declared_features().contains("openai"));
    // And the feature really compiles the session (this line fails to build otherwise).
    #[cfg(feature = "openai")]
    {
        let _ = clawops::providers::openai::OpenAIRealtime::builder();
    }
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "models-only-consumer")
            {
                continue; // a separate crate with its own manifest
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn incident_25_every_feature_suite_is_compiled_and_run_in_ci() {
    // A suite gated on a misspelt or undeclared feature would be skipped silently forever (the
    // peer's LiveKit tests were skipped for lack of a dev dependency). Every feature
    // gate of this crate names a declared feature, and CI runs the tests with all of them.
    let features = declared_features();
    let mut files = Vec::new();
    for dir in ["src", "tests", "examples", "benches"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut unknown = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, _) in text.match_indices("feature = \"") {
            let rest = &text[i + "feature = \"".len()..];
            let name = &rest[..rest.find('"').unwrap_or(0)];
            if !features.contains(name) {
                unknown.push(format!("{}: {name}", file.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "gates on undeclared features: {unknown:?}"
    );
    let ci = read(".ci/run");
    assert!(
        ci.lines()
            .any(|l| l.trim() == "cargo test --workspace --all-features"),
        "CI must run every suite with every feature"
    );
}

#[test]
fn incident_41_msrv_is_declared_and_inherited_by_every_crate() {
    let manifest = read("Cargo.toml");
    let workspace = toml_section(&manifest, "workspace.package");
    let msrv = workspace
        .iter()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("workspace.package.rust-version");
    let msrv = msrv.trim_matches('"');
    let parts: Vec<u32> = msrv.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(
        parts.len() >= 2 && parts[0] == 1 && parts[1] >= 85,
        "edition 2024 needs ≥ 1.85: {msrv}"
    );
    let members = toml_section(&manifest, "workspace")
        .into_iter()
        .find(|l| l.starts_with("members"))
        .expect("workspace members");
    for member in members
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect::<Vec<_>>()
    {
        let path = if member == "." {
            "Cargo.toml".to_owned()
        } else {
            format!("{member}/Cargo.toml")
        };
        let package = toml_section(&read(&path), "package");
        assert!(
            package.iter().any(|l| l == "rust-version.workspace = true"
                || l == &format!("rust-version = \"{msrv}\"")),
            "{path} must inherit rust-version {msrv}"
        );
    }
}

// ----- A9, A10, A42: the media socket ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_9_missing_mark_echo_is_not_an_error_and_hangup_completes() {
    let (url, seen) = fake_media(MediaScript {
        echo_marks: false,
        vanish_after_ping: false,
    })
    .await;
    let outcome: Arc<Mutex<Vec<bool>>> = Arc::default();
    let o = outcome.clone();
    let runner = CallRunner::new("CA1", "01012345678", "07012345678").on_event(move |call, ev| {
        let o = o.clone();
        async move {
            if ev == CallEvent::Start {
                tokio::spawn(async move {
                    call.send_audio(vec![0xFF; 160]);
                    // Nobody echoes: a plain `false`, twice (the waiter was removed).
                    let first = call.mark("probe", Duration::from_millis(200)).await;
                    let second = call.mark("probe", Duration::from_millis(200)).await;
                    o.lock().unwrap().extend([first, second]);
                    call.hangup().await;
                });
            }
        }
    });
    let call = tokio::time::timeout(
        Duration::from_secs(20),
        runner.run(&url, Box::new(TestSession::new())),
    )
    .await
    .expect("hangup completes without a mark echo")
    .expect("the call ran");
    assert!(call.is_ended());
    assert_eq!(*outcome.lock().unwrap(), [false, false]);
    let seen = seen.lock().unwrap();
    let marks: Vec<&str> = seen
        .texts
        .iter()
        .filter(|v| v["event"] == "mark")
        .filter_map(|v| v["mark"]["name"].as_str())
        .collect();
    assert_eq!(&marks[..2], ["probe", "probe"]);
    assert_eq!(marks.len(), 3, "two probes and the hangup mark: {marks:?}");
    assert!(seen.closed, "hangup closed the media socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_10_media_socket_is_pinged() {
    assert_eq!(clawops::agent::MEDIA_HEARTBEAT, Duration::from_secs(30));
    let (url, seen) = fake_media(MediaScript {
        echo_marks: true,
        vanish_after_ping: true,
    })
    .await;
    let ended = tokio::time::timeout(
        Duration::from_secs(20),
        CallRunner::new("CA1", "01012345678", "07012345678")
            .heartbeat(Duration::from_millis(200))
            .run(&url, Box::new(TestSession::new())),
    )
    .await
    .expect("a vanished peer ends the call instead of hanging the receive loop");
    if let Ok(call) = &ended {
        assert!(call.is_ended());
    }
    assert_eq!(seen.lock().unwrap().pings, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_42_media_socket_carries_no_credentials() {
    let (url, seen) = fake_media(MediaScript {
        echo_marks: true,
        vanish_after_ping: false,
    })
    .await;
    let session = TestSession::new().on_start([Action::HangUp]);
    tokio::time::timeout(
        Duration::from_secs(20),
        CallRunner::new("CA1", "01012345678", "07012345678")
            .account_id("AC1")
            .run(&url, Box::new(session)),
    )
    .await
    .expect("call ends")
    .expect("call ran");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.uri, "/v1/agent/media/CA1?token=tok_onetime");
    let names: Vec<&str> = seen.headers.iter().map(|(k, _)| k.as_str()).collect();
    for secret in [
        "authorization",
        "cookie",
        "x-api-key",
        "proxy-authorization",
    ] {
        assert!(!names.contains(&secret), "{secret} sent: {names:?}");
    }
    assert!(
        !seen
            .headers
            .iter()
            .any(|(_, v)| v.contains("sk_") || v.contains("tok_")),
        "no key or token in any header"
    );
}

// ----- A16, A23: against the emulator -------------------------------------------------------------

async fn connection_id(emu: &clawops_emulator::Emulator) -> Value {
    get(emu, "/_emulator/agents").await["data"][0]["connectionId"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_16_late_transfer_result_keeps_control_loop_alive() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let calls = Calls::default();
    let agent = calls
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(Script::default(), probe.clone()))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let conn = connection_id(&emu).await;
    // A long bridge whose result frames are slow.
    put(
        &emu,
        "/_emulator/destinations/01050005000",
        json!({"outcome": "answer", "transferDuration": 57}),
    )
    .await;
    put(&emu, "/_emulator/faults", json!({"transferDelayMs": 1500})).await;

    let id = inbound(&emu, NUMBER, json!({"seconds": 0.2})).await;
    wait_media(&emu, &id).await;
    let call = calls.get(&id);
    // The caller gives up waiting (the peer's cancelled future): the wait is dropped.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(200),
        call.transfer(TransferOptions::new("01050005000").return_after()),
    )
    .await;
    assert!(gave_up.is_err(), "still waiting after 200 ms");
    let view = get(&emu, &format!("/_emulator/calls/{id}")).await;
    let request_id = view["transfers"][0]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Results for the finished wait, a duplicate, a contradicting one, a malformed one and one
    // for a call nobody knows: each is absorbed on its own.
    let result = |event: &str, status: &str| {
        json!({"event": event, "callId": id, "requestId": request_id,
               "transfer": {"status": status, "duration": 57}})
        .to_string()
    };
    for text in [
        result("call.transfer.completed", "completed"),
        result("call.transfer.completed", "completed"),
        result("call.transfer.failed", "failed"),
        json!({"event": "call.transfer.completed", "callId": id, "requestId": request_id, "transfer": 5}).to_string(),
        json!({"event": "call.transfer.completed", "callId": "CAnobody", "requestId": "00", "transfer": {}}).to_string(),
    ] {
        let (status, _) = post(
            &emu,
            &format!("/_emulator/agents/{NUMBER}/send"),
            json!({"text": text}),
        )
        .await;
        assert_eq!(status, 204);
    }
    // The call goes on and ends normally.
    post(&emu, &format!("/_emulator/calls/{id}/hangup"), json!({})).await;
    assert_eq!(wait_call(&emu, &id).await["endedStatus"], "completed");

    // The same control connection still answers the next call.
    put(&emu, "/_emulator/faults", json!({})).await;
    let next = inbound(
        &emu,
        NUMBER,
        json!({"seconds": 0.2, "hangupAfterAudio": true}),
    )
    .await;
    let view = wait_call(&emu, &next).await;
    assert_eq!(view["accepted"], true);
    assert_eq!(view["endedStatus"], "completed");
    assert!(agent.is_connected());
    assert_eq!(connection_id(&emu).await, conn, "no reconnect was needed");
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_23_failed_outbound_cleanup_leaves_the_live_call_alone() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let calls = Calls::default();
    let agent = calls
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(Script::default(), probe.clone()))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let live = inbound(&emu, NUMBER, json!({"seconds": 0.2})).await;
    wait_media(&emu, &live).await;
    eventually(5, "live session started", || {
        probe.lock().unwrap().started == 1
    })
    .await;

    put(
        &emu,
        "/_emulator/destinations/01030000009",
        json!({"outcome": "busy"}),
    )
    .await;
    let failed = agent
        .call("01030000009", CallOptions::new())
        .await
        .expect("originated");
    let status = tokio::time::timeout(Duration::from_secs(10), failed.wait())
        .await
        .expect("outbound ends");
    assert_eq!(status.as_str(), "busy");
    // Every session except the live call's has been stopped; the live one is untouched.
    eventually(5, "failed call cleaned up", || {
        let p = probe.lock().unwrap();
        p.stopped == p.sessions - 1
    })
    .await;
    let call = calls.get(&live);
    assert!(!call.is_ended());
    let before = get(&emu, &format!("/_emulator/calls/{live}")).await["audioBytes"]
        .as_u64()
        .unwrap();
    call.send_audio(vec![0xFF; 800]);
    let mut after = before;
    for _ in 0..250 {
        after = get(&emu, &format!("/_emulator/calls/{live}")).await["audioBytes"]
            .as_u64()
            .unwrap();
        if after >= before + 800 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(after, before + 800, "the live call still plays its audio");
    post(&emu, &format!("/_emulator/calls/{live}/hangup"), json!({})).await;
    let view = wait_call(&emu, &live).await;
    assert_eq!(view["endedStatus"], "completed");
    assert_eq!(view["endedBy"], "caller");
    eventually(5, "all stopped", || {
        let p = probe.lock().unwrap();
        p.stopped == p.sessions
    })
    .await;
    agent.disconnect().await;
    emu.shutdown().await;
}

// ----- L8: the buffering stand-in ----------------------------------------------------------------

#[tokio::test]
async fn incident_l8_buffering_call_counts_tool_calls_and_errors() {
    let stub = BufferingCall::new("CA1");
    let call: &dyn CallControl = &*stub;
    call.record_tool_call();
    call.record_tool_call();
    call.record_tool_error("lookup_order", "database down");
    call.clear_audio();
    assert_eq!(stub.counters(), (2, 1, 1));
    // Call-control features answer a typed "not connected yet" instead of failing inside the
    // error path.
    let err = call
        .collect_dtmf(CollectOptions::new(4))
        .await
        .expect_err("not before answer");
    assert!(matches!(err, AgentError::NotAvailable(_)), "{err:?}");
    assert!(!call.is_connected());
}

// ----- L9, L13: bounded prewarm and session start ------------------------------------------------

/// A session whose `prewarm` or `start` never finishes (a provider that accepted the TCP
/// connection and then went quiet); it records what the agent did with it, in order.
struct StuckSession {
    prewarm_hangs: bool,
    start_hangs: bool,
    log: Arc<Mutex<Vec<&'static str>>>,
}

impl StuckSession {
    fn note(&self, what: &'static str) {
        self.log.lock().unwrap().push(what);
    }
}

#[async_trait::async_trait]
impl clawops::agent::Session for StuckSession {
    async fn prewarm(&self, _stand_in: clawops::agent::CallHandle) -> Result<(), AgentError> {
        self.note("prewarm");
        if self.prewarm_hangs {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
    async fn attach(&self, _call: clawops::agent::CallHandle) -> Result<(), AgentError> {
        self.note("attach");
        Ok(())
    }
    async fn start(&self, _call: clawops::agent::CallHandle) -> Result<(), AgentError> {
        self.note("start");
        if self.start_hangs {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
    async fn feed_audio(&self, _ulaw: bytes::Bytes, _timestamp_ms: u64) {}
    async fn feed_dtmf(&self, _digits: clawops::agent::DtmfInput) {}
    async fn stop(&self) {
        self.note("stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_l9_prewarm_timeout_stops_the_half_open_session_before_start() {
    // §13.1: a prewarm that times out left its half-opened provider connection behind when the
    // agent fell back to `start`. The agent stops the session first, then starts it fresh.
    let emu = emulator().await;
    let to = "01060009009";
    assert_eq!(
        put(
            &emu,
            &format!("/_emulator/destinations/{to}"),
            json!({"outcome": "answer", "seconds": 0.2, "hangupAfterAudio": true})
        )
        .await,
        200
    );
    let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let l = log.clone();
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(move || StuckSession {
            prewarm_hangs: true,
            start_hangs: false,
            log: l.clone(),
        })
        .build()
        .unwrap();
    let call = agent
        .call(to, CallOptions::new())
        .await
        .expect("originated");
    // PREWARM_TIMEOUT (10 s) + the call itself.
    let status = tokio::time::timeout(
        clawops::agent::PREWARM_TIMEOUT + Duration::from_secs(20),
        call.wait(),
    )
    .await
    .expect("call ends");
    assert_eq!(status.as_str(), "completed");
    agent.disconnect().await;
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log[..3],
        ["prewarm", "stop", "start"],
        "stopped before the fallback start: {log:?}"
    );
    assert!(!log.contains(&"attach"), "{log:?}");
    assert_eq!(
        log.last(),
        Some(&"stop"),
        "and stopped at call end: {log:?}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_l13_session_start_is_bounded_before_the_media_token_expires() {
    // §13.1: the media URL is opened only after the AI session started, so a slow provider ate
    // the one-time token's 30 s. The agent bounds the start (SESSION_START_TIMEOUT, below the
    // token lifetime) and then fails the call with `call.session_failed` instead of hanging.
    assert!(clawops::agent::SESSION_START_TIMEOUT < Duration::from_secs(30));
    let emu = emulator().await;
    let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let l = log.clone();
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(move || StuckSession {
            prewarm_hangs: false,
            start_hangs: true,
            log: l.clone(),
        })
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let id = inbound(&emu, NUMBER, json!({"seconds": 0.2, "maxSeconds": 120})).await;
    let started = tokio::time::Instant::now();
    let mut view = Value::Null;
    while started.elapsed() < Duration::from_secs(45) {
        view = get(&emu, &format!("/_emulator/calls/{id}")).await;
        if !view["endedStatus"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        view["sessionFailed"]["reason"], "SessionStartError",
        "{view}"
    );
    assert_eq!(
        view["sessionFailed"]["message"],
        "session: session start timed out"
    );
    assert_eq!(view["endedStatus"], "failed");
    assert_eq!(view["mediaConnected"], false);
    eventually(5, "session stopped", || {
        log.lock().unwrap().as_slice() == ["start", "stop"]
    })
    .await;
    agent.disconnect().await;
    emu.shutdown().await;
}

// ----- L12: refused credentials ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_l12_refused_credentials_are_reported_as_an_auth_failure() {
    // §13.1: a 401/403 at the upgrade was retried forever and looked like a flaky network. The
    // agent's `connect()` names the credentials (distinct from a transient refusal) and never
    // leaks the key.
    let emu = emulator().await;
    let bad_key = "sk_wrong_key_4242";
    let wrong = clawops::agent::Agent::builder(NUMBER)
        .api_key(bad_key)
        .account_id(emu.account_id())
        .base_url(emu.base_url())
        .reconnect_backoff(Duration::from_millis(100), Duration::from_millis(400))
        .session_factory(ScriptedSession::factory(
            Script::default(),
            Probes::default(),
        ))
        .build()
        .unwrap();
    // A transient refusal for comparison: right key, control upgrades refused for a while.
    assert_eq!(
        put(
            &emu,
            "/_emulator/faults",
            json!({"refuseControlSeconds": 30})
        )
        .await,
        200
    );
    let flaky = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(
            Script::default(),
            Probes::default(),
        ))
        .build()
        .unwrap();
    let (auth, transient) = tokio::join!(wrong.connect(), flaky.connect());
    let auth = auth.expect_err("wrong key");
    assert!(
        matches!(
            auth,
            clawops::agent::AgentError::Unauthorized { status: 401 }
        ),
        "{auth:?}"
    );
    let auth = auth.to_string();
    let transient = transient.expect_err("refused").to_string();
    assert!(
        auth.contains("refused the credentials (HTTP 401)"),
        "{auth}"
    );
    assert!(!auth.contains(bad_key), "{auth}");
    assert!(!transient.contains("401"), "{transient}");
    assert!(transient.contains("not up after"), "{transient}");
    // Nothing was retried for the refused credentials: the wrong agent is not trying again.
    assert!(!wrong.is_connected());
    wrong.disconnect().await;
    flaky.disconnect().await;
    emu.shutdown().await;
}

// ----- A36: one shutdown budget ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_36_no_default_drain_limit_and_one_budget_for_handover_and_drain() {
    use clawops::agent::ops::{ReadyFile, ServeOptions};
    // The peer's 120/110 s defaults cut 29.8 % of calls: by default nothing is cut by a timer.
    let defaults = ServeOptions::default();
    assert_eq!(defaults.drain_timeout, None);
    assert_eq!(defaults.shutdown_deadline, None);
    assert_eq!(defaults.handover_wait, Duration::from_secs(20));

    // One absolute deadline covers handover and drain together: handover 3 s (no successor
    // comes), then only the 1 s left of the 4 s budget for the drain, although the drain's own
    // limit is 60 s. A per-phase deadline would take 3 + 4 s.
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_builder(&emu, NUMBER)
        .ready_file(ReadyFile::at(dir.path().join("ready")))
        .session_factory(ScriptedSession::factory(
            Script::default(),
            Probes::default(),
        ))
        .build()
        .unwrap();
    let serving = tokio::spawn({
        let agent = agent.clone();
        async move {
            agent
                .serve_with(
                    ServeOptions::new()
                        .handover_wait(Duration::from_secs(3))
                        .drain_timeout(Duration::from_secs(60))
                        .shutdown_deadline(Duration::from_secs(4)),
                )
                .await
        }
    });
    // serve installs its signal handlers before it connects.
    eventually(10, "serving", || agent.is_ready()).await;
    let id = inbound(&emu, NUMBER, json!({"seconds": 0.2, "maxSeconds": 120})).await;
    wait_media(&emu, &id).await;
    let status = std::process::Command::new("kill")
        .args(["-s", "TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = tokio::time::Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .expect("serve returns")
        .unwrap()
        .expect("serve ok");
    let took = signalled.elapsed();
    assert_eq!(
        (report.completed, report.cut, report.signalled),
        (0, 1, true)
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_millis(6500),
        "handover (3 s) + the rest of the 4 s budget, not 3 + 4 s: {took:?}"
    );
    let view = wait_call(&emu, &id).await;
    assert_eq!(view["endedBy"], "agent");
    emu.shutdown().await;
}

// ----- A38: `role=retiring` ----------------------------------------------------------------------

#[test]
fn incident_38_a_retiring_connection_url_says_role_retiring() {
    // A38's second half: should a lame duck ever open a control connection, the server must see
    // it is retiring (and not hand it the slot back). The lame duck never reconnecting is proven
    // in tests/ops_takeover.rs and tests/ops_shutdown.rs.
    let base = "https://api.claw-ops.com/";
    assert_eq!(
        clawops::agent::control_url(base, "AC1", "07012340001", true),
        "wss://api.claw-ops.com/v1/accounts/AC1/agent/listen?number=07012340001&role=retiring"
    );
    assert_eq!(
        clawops::agent::control_url(base, "AC1", "07012340001", false),
        "wss://api.claw-ops.com/v1/accounts/AC1/agent/listen?number=07012340001"
    );
}
