//! Outbound calls through `Agent::call` against the emulator: answered, and every unanswered
//! outcome ending in `call_failed` only.

mod agent_common;

use std::sync::{Arc, Mutex};

use agent_common::*;
use clawops::agent::{Agent, CallOptions};
use clawops::types::CallStatus;
use serde_json::json;

async fn agent_with(emu: &clawops_emulator::Emulator, probe: &Probes, log: &EventLog) -> Agent {
    let script = Script {
        echo: true,
        greeting: vec![0x11; 320],
        ..Script::default()
    };
    log.attach(agent_builder(emu, NUMBER))
        .session_factory(ScriptedSession::factory(script, probe.clone()))
        .build()
        .expect("agent builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_answered_gets_start_and_end() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let to = "01020003000";
    assert_eq!(
        put(
            &emu,
            &format!("/_emulator/destinations/{to}"),
            json!({"outcome": "answer", "seconds": 0.5, "maxSeconds": 30.0})
        )
        .await,
        200
    );
    // The session hangs up once it heard all 25 caller frames; the hangup handshake flushes
    // every queued frame first, so what the far end got does not depend on scheduling.
    let script = Script {
        echo: true,
        greeting: vec![0x11; 320],
        act_after_frames: Some(25),
        hangup: true,
        ..Script::default()
    };
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(script, probe.clone()))
        .build()
        .expect("agent builds");
    let call = agent
        .call(to, CallOptions::new().timeout_secs(30))
        .await
        .expect("originated");
    assert_eq!(call.direction(), &clawops::types::Direction::Outbound);
    assert_eq!(call.from_number(), NUMBER);
    assert_eq!(call.to_number(), to);
    let status = tokio::time::timeout(std::time::Duration::from_secs(15), call.wait())
        .await
        .expect("call ends");
    assert_eq!(status, CallStatus::Completed);
    eventually(5, "call_end", || {
        log.of(call.call_id()).last().map(String::as_str) == Some("call_end")
    })
    .await;
    assert_eq!(log.of(call.call_id()), vec!["call_start", "call_end"]);
    let view = get(&emu, &format!("/_emulator/calls/{}", call.call_id())).await;
    assert_eq!(view["endedBy"], "agent");
    assert_eq!(call.ended_duration(), view["duration"].as_i64());
    // The prewarmed greeting and the echo of all caller audio were played.
    assert_eq!(view["audioBytes"].as_u64().unwrap(), 320 + 4000);
    assert_eq!(view["callerAudioBytes"].as_u64().unwrap(), 4000);
    eventually(5, "stopped", || probe.lock().unwrap().stopped == 1).await;
    assert_eq!(probe.lock().unwrap().started, 1);
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_12_outbound_unanswered_outcomes_end_in_call_failed_only() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let agent = agent_with(&emu, &probe, &log).await;
    for (i, outcome) in ["no-answer", "busy", "rejected", "failed"]
        .into_iter()
        .enumerate()
    {
        let to = format!("0103000000{i}");
        assert_eq!(
            put(
                &emu,
                &format!("/_emulator/destinations/{to}"),
                json!({"outcome": outcome})
            )
            .await,
            200
        );
        let call = agent
            .call(&to, CallOptions::new())
            .await
            .expect("originated");
        let status = tokio::time::timeout(std::time::Duration::from_secs(10), call.wait())
            .await
            .expect("call ends");
        assert_eq!(status.as_str(), outcome);
        assert_eq!(
            call.ended_status().map(|s| s.to_string()).as_deref(),
            Some(outcome)
        );
        assert_eq!(call.ended_duration(), Some(0));
        let id = call.call_id().to_owned();
        eventually(5, "call_failed", || !log.of(&id).is_empty()).await;
        // Give a wrong extra event the chance to show up.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            log.of(&id),
            vec![format!("call_failed:{outcome}")],
            "{outcome}"
        );
    }
    // Prewarmed sessions of unanswered calls were stopped (incident 6), none attached.
    eventually(5, "sessions stopped", || probe.lock().unwrap().stopped == 4).await;
    assert_eq!(probe.lock().unwrap().started, 0);
    assert_eq!(agent.active_calls(), 0);
    agent.disconnect().await;
    assert_eq!(probe.lock().unwrap().live, 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_error_is_typed() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let agent = agent_with(&emu, &probe, &log).await;
    agent.connect().await.unwrap();
    assert_eq!(
        put(
            &emu,
            "/_emulator/faults",
            json!({"restErrorStatus": 400, "restErrorCount": 1})
        )
        .await,
        200
    );
    let err = agent
        .call("01040004000", CallOptions::new())
        .await
        .unwrap_err();
    match err {
        clawops::agent::AgentError::Originate(e) => assert_eq!(e.status(), Some(400), "{e}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(probe.lock().unwrap().sessions, 0);
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_a_ringing_outbound_call_cancels_it_through_rest() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let to = "01050005000";
    // The far end would ring for 20 s and then answer.
    assert_eq!(
        put(
            &emu,
            &format!("/_emulator/destinations/{to}"),
            json!({"outcome": "answer", "ringSeconds": 20.0})
        )
        .await,
        200
    );
    let agent = agent_with(&emu, &probe, &log).await;
    let call = agent
        .call(to, CallOptions::new().timeout_secs(60))
        .await
        .expect("originated");
    let id = call.call_id().to_owned();
    let view_ringing = {
        let mut v = get(&emu, &format!("/_emulator/calls/{id}")).await;
        for _ in 0..500 {
            if v["status"] == "ringing" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            v = get(&emu, &format!("/_emulator/calls/{id}")).await;
        }
        v
    };
    assert_eq!(view_ringing["status"], "ringing");
    // Hanging up before the answer does not wait for a media socket that does not exist.
    tokio::time::timeout(std::time::Duration::from_secs(3), call.hangup())
        .await
        .expect("hangup of a ringing call returns at once");
    let status = tokio::time::timeout(std::time::Duration::from_secs(5), call.wait())
        .await
        .expect("the cancelled call ends");
    assert_eq!(status, CallStatus::Canceled);
    let view = wait_call(&emu, &id).await;
    assert_eq!(view["endedStatus"], "canceled");
    assert_eq!(view["mediaConnected"], false, "never answered");
    eventually(5, "call_failed", || !log.of(&id).is_empty()).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(log.of(&id), vec!["call_failed:canceled"]);
    eventually(5, "prewarmed session stopped", || {
        probe.lock().unwrap().stopped == 1
    })
    .await;
    assert_eq!(probe.lock().unwrap().started, 0);
    eventually(5, "unregistered", || agent.active_calls() == 0).await;
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}
