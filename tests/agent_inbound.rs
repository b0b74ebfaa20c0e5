//! Inbound calls end to end against the emulator (loopback, fast mode).

mod agent_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use clawops::agent::ToolRegistry;
use serde_json::json;

/// Order lookup arguments.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Lookup {
    /// The order id.
    id: String,
}

fn tools() -> ToolRegistry {
    let mut tools = ToolRegistry::new();
    tools
        .register("lookup", |args: Lookup| async move {
            Ok::<_, String>(format!("order {} shipped", args.id))
        })
        .expect("valid tool");
    tools
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_call_end_to_end() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let script = Script {
        greeting: vec![0x55; 400], // 2.5 frames: the tail must not be padded
        mark_greeting: true,
        echo: true,
        act_after_frames: Some(10),
        tool: Some(("lookup".into(), r#"{"id":"A-1"}"#.into())),
        barge_in: true,
        hangup: true,
        transcript: Some("안녕하세요".into()),
        ..Script::default()
    };
    let rec_dir = tempfile::tempdir().unwrap();
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(script, probe.clone()))
        .tools(tools())
        .recording(true, rec_dir.path())
        .build()
        .expect("agent builds");
    agent.connect().await.expect("connects");

    // The hello frame reached the server with our SDK identity.
    let agents = get(&emu, "/_emulator/agents").await;
    let hello = &agents["data"][0]["hello"];
    assert_eq!(hello["sdk"]["name"], "clawops-rust");
    assert_eq!(hello["sdk"]["capabilities"], json!(["retire"]));

    let call_id = inbound(&emu, NUMBER, json!({"audio": "tone", "seconds": 1.0})).await;
    wait_call(&emu, &call_id).await;
    // call.metrics follows the media close: poll until the server has it.
    let mut view = get(&emu, &format!("/_emulator/calls/{call_id}")).await;
    for _ in 0..100 {
        if !view["metrics"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        view = get(&emu, &format!("/_emulator/calls/{call_id}")).await;
    }

    // Accepted, media connected, ended by our hangup handshake.
    assert_eq!(view["accepted"], true);
    assert_eq!(view["mediaConnected"], true);
    assert_eq!(view["hangup"], true);
    assert_eq!(view["endedBy"], "agent");
    assert_eq!(view["endedStatus"], "completed");
    // Control frames of this call, in order: accept, …, metrics.
    let frames: Vec<String> = view["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["event"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        frames.first().map(String::as_str),
        Some("call.accept"),
        "{frames:?}"
    );
    assert!(frames.contains(&"call.metrics".to_owned()), "{frames:?}");
    // Marks: the greeting mark and the hangup mark, both echoed; the hangup mark last.
    let marks: Vec<String> = serde_json::from_value(view["marks"].clone()).unwrap();
    assert_eq!(marks.len(), 2, "{marks:?}");
    assert_eq!(marks[0], "greeting-end");
    assert!(marks[1].starts_with("hangup-"), "{marks:?}");
    let echoed: Vec<String> = serde_json::from_value(view["marksEchoed"].clone()).unwrap();
    assert_eq!(echoed, marks);
    // Barge-in clear reached the server.
    assert_eq!(view["clears"], 1);
    // Audio both ways: caller audio reached the session; greeting + echo reached the server.
    let caller_bytes = view["callerAudioBytes"].as_u64().unwrap();
    assert_eq!(caller_bytes, 8000); // 1 s of μ-law
    let got: usize = probe
        .lock()
        .unwrap()
        .audio_in
        .iter()
        .map(|(_, a)| a.len())
        .sum();
    assert_eq!(got as u64, caller_bytes);
    let sent = view["audioBytes"].as_u64().unwrap();
    assert!(
        sent >= 400 + 10 * 160,
        "greeting plus echoed frames, got {sent}"
    );
    // The first frame is the raw 400-byte greeting (no re-chunking, no padding).
    let media: Vec<&serde_json::Value> = view["frames"].as_array().unwrap().iter().collect();
    let _ = media;
    // Metrics frame content.
    let metrics = &view["metrics"];
    assert_eq!(metrics["endReason"], "agent_hangup");
    assert_eq!(metrics["toolCallCount"], 1);
    assert_eq!(metrics["toolErrorCount"], 0);
    assert_eq!(metrics["bargeInCount"], 1);
    assert!(metrics["firstResponseMs"].as_i64().is_some());

    // The tool ran with schemars-decoded arguments.
    eventually(5, "session stop", || probe.lock().unwrap().stopped == 1).await;
    {
        let p = probe.lock().unwrap();
        assert_eq!(
            p.tool_results,
            vec![(call_id.clone(), "order A-1 shipped".to_owned())]
        );
        assert_eq!(p.mark_echoed, vec![(call_id.clone(), true)]);
        assert_eq!(p.sessions, 1);
    }
    // Events in order, with call_end after the terminal frame.
    eventually(5, "call_end", || {
        log.of(&call_id).last().map(String::as_str) == Some("call_end")
    })
    .await;
    assert_eq!(
        log.of(&call_id),
        vec!["call_start", "transcript:assistant:안녕하세요", "call_end"]
    );
    assert_eq!(agent.active_calls(), 0);

    // Recording: three files named after the call, same length, placed by media timestamps.
    let read = |suffix: &str| -> Vec<i16> {
        let path = rec_dir.path().join(format!("{call_id}_{suffix}.wav"));
        let mut r =
            hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(r.spec().sample_rate, 8000);
        assert_eq!(r.spec().channels, 1);
        r.samples::<i16>().map(Result::unwrap).collect()
    };
    let (rin, rout, rmix) = (read("in"), read("out"), read("mix"));
    assert_eq!(rin.len(), rout.len());
    assert_eq!(rin.len(), rmix.len());
    // 1 s of caller audio at timestamps 0..980 ms → at least 8000 samples, not stretched.
    assert!(
        rin.len() >= 8000 && rin.len() < 8000 + 4000,
        "{}",
        rin.len()
    );
    assert!(rin[..8000].iter().any(|&s| s != 0), "caller leg recorded");
    let out_nonzero = rout.iter().filter(|&&s| s != 0).count();
    assert!(out_nonzero >= 400, "agent leg recorded ({out_nonzero})");

    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    assert_eq!(probe.lock().unwrap().live, 0, "sessions dropped");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_27_call_end_sees_terminal_status_and_duration() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    type Seen = Vec<(Option<String>, Option<i64>, String)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let seen2 = seen.clone();
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(
            Script {
                echo: true,
                ..Script::default()
            },
            probe.clone(),
        ))
        .on_call_end(move |call| {
            let seen = seen2.clone();
            async move {
                seen.lock().unwrap().push((
                    call.ended_status().map(|s| s.to_string()),
                    call.ended_duration(),
                    format!("{:?}", call.metrics().end_reason),
                ));
            }
        })
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    // The caller hangs up after 1 s of audio: the server ends the stream (`stop`).
    let call_id = inbound(
        &emu,
        NUMBER,
        json!({"seconds": 1.0, "hangupAfterAudio": true}),
    )
    .await;
    let view = wait_call(&emu, &call_id).await;
    assert_eq!(view["endedBy"], "caller");
    eventually(5, "call_end", || !seen.lock().unwrap().is_empty()).await;
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![(
            Some("completed".to_owned()),
            view["duration"].as_i64(),
            "Some(UserHangup)".to_owned()
        )]
    );
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_5_session_start_failure_sends_session_failed() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let script = Script {
        fail_start: Some("provider key missing".into()),
        ..Script::default()
    };
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(script, probe.clone()))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let call_id = inbound(&emu, NUMBER, json!({})).await;
    let view = wait_call(&emu, &call_id).await;
    assert_eq!(view["sessionFailed"]["reason"], "SessionStartError");
    assert_eq!(
        view["sessionFailed"]["message"],
        "session: provider key missing"
    );
    assert_eq!(view["mediaConnected"], false);
    assert_eq!(view["endedStatus"], "failed");
    // The call resolves (no hanging wait), and call_start is paired with call_end.
    eventually(5, "events", || log.of(&call_id).len() == 2).await;
    assert_eq!(log.of(&call_id), vec!["call_start", "call_end"]);
    assert_eq!(agent.active_calls(), 0);
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_incoming_rejects_busy() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(Script::default(), probe.clone()))
        .on_incoming(|offer| async move {
            if offer.from_number() == "01099999999" {
                offer.reject(clawops::events::CallRejectReason::Busy);
            }
        })
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let call_id = inbound(&emu, NUMBER, json!({"from": "01099999999"})).await;
    let view = wait_call(&emu, &call_id).await;
    assert_eq!(view["rejected"], "busy");
    assert_eq!(view["endedStatus"], "busy");
    assert_eq!(
        probe.lock().unwrap().sessions,
        0,
        "no session for a rejected call"
    );
    let _ = Duration::ZERO;
    agent.disconnect().await;
    emu.shutdown().await;
}
