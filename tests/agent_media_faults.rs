//! Faults on the per-call media socket: malformed frames and a peer that vanishes without a FIN.

mod agent_common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_common::*;
use clawops::agent::EndReason;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_media_frames_leave_twenty_concurrent_calls_intact() {
    let emu = emulator().await;
    assert_eq!(
        put(
            &emu,
            "/_emulator/faults",
            json!({"mediaMalformedFrames": true})
        )
        .await,
        200
    );
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(
            Script {
                echo: true,
                act_after_frames: Some(50),
                hangup: true,
                ..Script::default()
            },
            probe.clone(),
        ))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let from = format!("010000001{i:02}");
        ids.push(
            inbound(
                &emu,
                NUMBER,
                json!({"from": from, "seconds": 1.0, "dtmf": "7"}),
            )
            .await,
        );
    }
    for id in &ids {
        let view = wait_call(&emu, id).await;
        assert_eq!(view["endedStatus"], "completed", "{id}");
        assert_eq!(
            view["endedBy"], "agent",
            "{id}: the agent's scripted hangup ended it"
        );
        assert_eq!(view["callerAudioBytes"], 8000, "{id}");
        assert_eq!(view["audioBytes"], 8000, "{id}: every valid frame echoed");
    }
    for id in &ids {
        let id2 = id.clone();
        eventually(5, "call_end", || {
            log.of(&id2).last().map(String::as_str) == Some("call_end")
        })
        .await;
        // The valid key arrives; the malformed `dtmf` frame (digit null) is not a key.
        assert_eq!(log.of(id), vec!["call_start", "dtmf:7", "call_end"], "{id}");
    }
    {
        let p = probe.lock().unwrap();
        for id in &ids {
            let heard = &p.audio_in.iter().find(|(c, _)| c == id).expect("audio").1;
            // Only the 50 valid caller frames reached the session: the malformed `media`
            // frames (no payload, numeric payload, invalid base64) carried no audio.
            assert_eq!(heard.len(), 8000, "{id}");
        }
    }
    assert!(agent.is_connected());
    eventually(10, "calls unregistered", || agent.active_calls() == 0).await;
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_peer_that_vanishes_ends_its_call_by_heartbeat_and_spares_the_others() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let calls = Calls::default();
    let heartbeat = Duration::from_millis(400);
    let agent = calls
        .attach(agent_builder(&emu, NUMBER))
        .heartbeat(heartbeat)
        .session_factory(ScriptedSession::factory(
            Script {
                echo: true,
                ..Script::default()
            },
            probe.clone(),
        ))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    // A healthy call that talks for a while.
    let healthy = inbound(&emu, NUMBER, json!({"seconds": 1.0, "maxSeconds": 30.0})).await;
    wait_media(&emu, &healthy).await;
    // From now on, new media sockets go silent 200 ms after `start`.
    assert_eq!(
        put(
            &emu,
            "/_emulator/faults",
            json!({"mediaSilentAfterMs": 200})
        )
        .await,
        200
    );
    let silent = inbound(&emu, NUMBER, json!({"seconds": 30.0, "maxSeconds": 30.0})).await;
    wait_media(&emu, &silent).await;
    let started = Instant::now();
    let call = {
        let s = silent.clone();
        eventually(5, "call_start", || {
            calls.0.lock().unwrap().iter().any(|c| c.call_id() == s)
        })
        .await;
        calls.get(&silent)
    };
    // The vanished peer sends no `stop` and no close: only the missing pong can end the call.
    tokio::time::timeout(Duration::from_secs(10), call.wait())
        .await
        .expect("the heartbeat ends a call whose media peer vanished");
    let took = started.elapsed();
    assert!(
        took >= heartbeat,
        "ended only after a ping went unanswered ({took:?})"
    );
    assert_eq!(call.metrics().end_reason, Some(EndReason::Error));
    // The healthy call was not disturbed: still up, its audio fully echoed.
    assert!(!calls.get(&healthy).is_ended());
    let h = healthy.clone();
    let emu_ref = &emu;
    for _ in 0..500 {
        let v = get(emu_ref, &format!("/_emulator/calls/{h}")).await;
        if v["audioBytes"] == 8000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    post(
        &emu,
        &format!("/_emulator/calls/{healthy}/hangup"),
        json!({}),
    )
    .await;
    let view = wait_call(&emu, &healthy).await;
    assert_eq!(view["endedStatus"], "completed");
    assert_eq!(view["callerAudioBytes"], 8000);
    assert_eq!(view["audioBytes"], 8000);
    assert_eq!(
        calls.get(&healthy).wait().await,
        clawops_api::types::CallStatus::Completed
    );
    assert_eq!(
        calls.get(&healthy).metrics().end_reason,
        Some(EndReason::UserHangup)
    );
    // Release the emulator's side of the vanished call.
    post(
        &emu,
        &format!("/_emulator/calls/{silent}/hangup"),
        json!({}),
    )
    .await;
    eventually(10, "calls unregistered", || agent.active_calls() == 0).await;
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}
