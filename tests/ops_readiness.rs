//! Readiness on the emulator: the marker file's lifecycle, the health port (503 → 200 → 503)
//! and the Prometheus page after a finished call.

mod agent_common;
mod ops_common;

use std::sync::{Arc, Mutex};

use agent_common::*;
use clawops::agent::ops::{METRIC_NAMES, ReadyFile};
use ops_common::{NOT_READY, READY, http_get, sample};
use serde_json::json;

fn marker_pid(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let pid = text.strip_prefix("pid=")?.split(' ').next()?.to_owned();
    assert!(text.ends_with('\n'));
    assert!(text.contains(" since="), "{text}");
    Some(pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_port_is_503_before_connect_200_when_ready_503_after_agent_retired() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ready");
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(Script::default(), probe))
        .ready_file(ReadyFile::at(&marker))
        .health_port(0)
        .build()
        .unwrap();
    let addr = agent.open_health_port().await.unwrap().expect("configured");
    // Any path: probes with a typo in the path still get the readiness answer.
    assert_eq!(http_get(addr, "/healthz").await, NOT_READY);
    assert_eq!(http_get(addr, "/anything").await, NOT_READY);
    assert!(!marker.exists());

    agent.connect().await.unwrap();
    assert_eq!(http_get(addr, "/healthz").await, READY);
    assert_eq!(marker_pid(&marker), Some(std::process::id().to_string()));

    let (status, _) = post(
        &emu,
        &format!("/_emulator/agents/{NUMBER}/retire"),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    eventually(5, "retired", || agent.taken_over()).await;
    assert_eq!(http_get(addr, "/healthz").await, NOT_READY);
    assert!(!marker.exists(), "marker removed on agent.retired");
    assert!(agent.is_connected(), "the connection itself stays open");
    agent.disconnect().await;
    // The port closes with the agent.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", addr.port()))
            .await
            .is_err()
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_file_lifecycle_stale_marker_and_connect_again_after_disconnect() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("clawops-ready");
    // Left behind by a SIGKILLed process.
    std::fs::write(&marker, "pid=999999 since=1\n").unwrap();
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(Script::default(), probe))
        .ready_file(ReadyFile::at(&marker))
        .build()
        .unwrap();
    assert!(
        !marker.exists(),
        "stale marker removed when the agent is built"
    );
    assert!(!agent.is_ready());

    agent.connect().await.unwrap();
    assert_eq!(marker_pid(&marker), Some(std::process::id().to_string()));
    let first = get(&emu, "/_emulator/agents").await["data"][0]["connectionId"].clone();

    agent.disconnect().await;
    assert!(!marker.exists(), "removed on disconnect");
    assert_eq!(agent.task_count(), 0);
    eventually(5, "server saw the close", || {
        emu.open_control_sockets() == 0
    })
    .await;

    // connect() works again after disconnect(): a new connection, hello again, marker again.
    agent.connect().await.expect("connects again");
    assert!(agent.is_ready());
    assert_eq!(marker_pid(&marker), Some(std::process::id().to_string()));
    let agents = get(&emu, "/_emulator/agents").await;
    assert_ne!(agents["data"][0]["connectionId"], first);
    assert_eq!(agents["data"][0]["hello"]["sdk"]["name"], "clawops-rust");
    // …and it serves calls.
    let id = inbound(
        &emu,
        NUMBER,
        json!({"seconds": 0.2, "hangupAfterAudio": true}),
    )
    .await;
    assert_eq!(wait_call(&emu, &id).await["accepted"], true);

    // drain() without calls: marker removed at once, then disconnected.
    let report = agent.drain(None).await;
    assert_eq!((report.cut, report.handed_over), (0, false));
    assert!(!marker.exists());
    assert!(!agent.is_connected());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_page_shows_the_counters_of_a_finished_call() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(
            Script {
                greeting: vec![0x55; 320],
                echo: true,
                act_after_frames: Some(2),
                // Unknown tool: counted as a call and an error.
                tool: Some(("nope".into(), "{}".into())),
                ..Script::default()
            },
            probe.clone(),
        ))
        .ready_file(ReadyFile::disabled())
        .health_port(0)
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let addr = agent.health_addr().unwrap();
    let id = inbound(
        &emu,
        NUMBER,
        json!({"audio": "tone", "seconds": 0.6, "maxSeconds": 60}),
    )
    .await;
    eventually(10, "the tool ran", || {
        probe.lock().unwrap().tool_results.len() == 1
    })
    .await;
    let (status, _) = post(&emu, &format!("/_emulator/calls/{id}/hangup"), json!({})).await;
    assert_eq!(status, 204);
    let view = wait_call(&emu, &id).await;
    assert_eq!(view["endedStatus"], "completed");
    eventually(10, "call left the agent", || {
        agent.active_calls() == 0 && log.of(&id).last().map(String::as_str) == Some("call_end")
    })
    .await;

    let page = http_get(addr, "/metrics").await;
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    for name in METRIC_NAMES {
        // Every family is declared (OpenMetrics names counter families without `_total`).
        let family = name.trim_end_matches("_total");
        assert!(
            body.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{body}"
        );
    }
    let value = |series: &str| sample(body, series);
    assert_eq!(
        value("clawops_agent_calls_ended_total{status=\"completed\"}"),
        Some(1.0)
    );
    assert_eq!(value("clawops_agent_tool_calls_total"), Some(1.0));
    assert_eq!(value("clawops_agent_tool_errors_total"), Some(1.0));
    assert_eq!(
        value("clawops_agent_time_to_first_audio_seconds_count"),
        Some(1.0)
    );
    assert_eq!(value("clawops_agent_active_calls"), Some(0.0));
    assert_eq!(value("clawops_agent_ready"), Some(1.0));
    assert_eq!(value("clawops_agent_control_reconnects_total"), Some(0.0));
    // The fast emulator delivers audio ahead of real time: nothing is late.
    assert_eq!(value("clawops_agent_frames_late_total"), Some(0.0));
    agent.disconnect().await;
    emu.shutdown().await;
}
