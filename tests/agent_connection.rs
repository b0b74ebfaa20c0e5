//! Control connection resilience and transfers through it, against the emulator.

mod agent_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use clawops::agent::{AgentError, TransferOptions, TransferResultKind};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_drop_and_refusal_reconnects_while_the_live_call_continues() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let calls = Calls::default();
    let c2 = calls.clone();
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(
            Script {
                echo: true,
                ..Script::default()
            },
            probe.clone(),
        ))
        .on_call_start(move |call| {
            let calls = c2.clone();
            async move { calls.0.lock().unwrap().push(call) }
        })
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let first_conn = get(&emu, "/_emulator/agents").await["data"][0]["connectionId"].clone();

    let live = inbound(&emu, NUMBER, json!({"seconds": 0.2})).await;
    wait_media(&emu, &live).await;

    // Refuse upgrades for 1 s, then drop the connection.
    assert_eq!(
        put(
            &emu,
            "/_emulator/faults",
            json!({"refuseControlSeconds": 1.0})
        )
        .await,
        200
    );
    let (status, _) = post(&emu, &format!("/_emulator/agents/{NUMBER}/drop"), json!({})).await;
    assert_eq!(status, 204);
    eventually(3, "drop noticed", || !agent.is_connected()).await;
    eventually(10, "reconnected", || agent.is_connected()).await;
    let agents = get(&emu, "/_emulator/agents").await;
    assert_ne!(agents["data"][0]["connectionId"], first_conn);
    // hello was sent again on the new connection.
    assert_eq!(agents["data"][0]["hello"]["sdk"]["name"], "clawops-rust");

    // The live call kept its media: audio still flows both ways.
    let before = get(&emu, &format!("/_emulator/calls/{live}")).await;
    assert_eq!(before["endedStatus"], serde_json::Value::Null);
    let call = calls.get(&live);
    call.send_audio(vec![0x22; 160]);
    // The next inbound call is answered on the new connection.
    let next = inbound(
        &emu,
        NUMBER,
        json!({"seconds": 0.2, "hangupAfterAudio": true}),
    )
    .await;
    let view = wait_call(&emu, &next).await;
    assert_eq!(view["accepted"], true);
    assert_eq!(view["endedStatus"], "completed");
    // End the live call from the caller side; its terminal frame arrives on the new connection.
    let (status, _) = post(&emu, &format!("/_emulator/calls/{live}/hangup"), json!({})).await;
    assert_eq!(status, 204);
    let status = tokio::time::timeout(Duration::from_secs(10), call.wait())
        .await
        .expect("ends");
    assert_eq!(status.as_str(), "completed");
    let after = get(&emu, &format!("/_emulator/calls/{live}")).await;
    assert!(after["audioBytes"].as_u64().unwrap() > before["audioBytes"].as_u64().unwrap());
    eventually(5, "call_end", || {
        log.of(&live).last().map(String::as_str) == Some("call_end")
    })
    .await;
    assert_eq!(call.ended_duration(), after["duration"].as_i64());
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_32_no_reconnect_after_takeover_close() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let taken: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
    let t2 = taken.clone();
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(Script::default(), probe.clone()))
        .on_taken_over(move |code, reason| t2.lock().unwrap().push((code, reason)))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let (status, _) = post(
        &emu,
        &format!("/_emulator/agents/{NUMBER}/close"),
        json!({"code": 4409, "reason": "replaced"}),
    )
    .await;
    assert_eq!(status, 204);
    eventually(3, "taken over", || agent.taken_over()).await;
    assert_eq!(
        taken.lock().unwrap().clone(),
        vec![(4409, "replaced".to_owned())]
    );
    // The replaced connection is closed; several backoff periods later no new one appeared.
    eventually(5, "replaced socket closed", || {
        emu.open_control_sockets() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(emu.open_control_sockets(), 0);
    assert!(matches!(
        agent.connect().await,
        Err(AgentError::TakenOver(t)) if t.code == 4409 && t.reason == "replaced"
    ));
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_control_frames_are_harmless() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let agent = agent_builder(&emu, NUMBER)
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
    for text in [
        "not json at all",
        r#"{"event":"call.incoming"}"#,
        r#"{"event":"call.ended","callId":7}"#,
        r#"{"event":"call.brand_new","callId":"X"}"#,
        r#"{"no_event":true}"#,
        r#"[1,2,3]"#,
    ] {
        let (status, _) = post(
            &emu,
            &format!("/_emulator/agents/{NUMBER}/send"),
            json!({"text": text}),
        )
        .await;
        assert_eq!(status, 204, "{text}");
    }
    let call_id = inbound(
        &emu,
        NUMBER,
        json!({"seconds": 0.2, "hangupAfterAudio": true}),
    )
    .await;
    let view = wait_call(&emu, &call_id).await;
    assert_eq!(view["accepted"], true);
    assert_eq!(view["endedStatus"], "completed");
    assert!(agent.is_connected());
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_blind_warm_repeated_duplicate_unknown_and_late() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let calls = Calls::default();
    let c2 = calls.clone();
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(
            Script {
                echo: true,
                ..Script::default()
            },
            probe.clone(),
        ))
        .on_call_start(move |call| {
            let calls = c2.clone();
            async move { calls.0.lock().unwrap().push(call) }
        })
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    put(
        &emu,
        "/_emulator/destinations/01050005000",
        json!({"outcome": "answer", "transferDuration": 61}),
    )
    .await;
    put(
        &emu,
        "/_emulator/destinations/01060006000",
        json!({"outcome": "busy"}),
    )
    .await;

    let id = inbound(&emu, NUMBER, json!({"seconds": 0.2})).await;
    wait_media(&emu, &id).await;
    let call = calls.get(&id);

    // A bad caller_id_mode is rejected before anything is sent.
    let err = call
        .transfer(TransferOptions::new("01050005000").caller_id_mode("origin"))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::InvalidArgument { .. }), "{err:?}");

    // Two transfers in one call (return mode): warm to a busy target, then blind to a live one.
    let failed = call
        .transfer(
            TransferOptions::new("01060006000")
                .warm("고객 연결합니다")
                .return_after(),
        )
        .await
        .expect("result");
    assert_eq!(failed.kind, TransferResultKind::Failed);
    assert_eq!(
        failed
            .result
            .reason
            .as_ref()
            .map(|r| r.to_string())
            .as_deref(),
        Some("busy")
    );

    // Duplicate and reordered results are harmless.
    put(
        &emu,
        "/_emulator/faults",
        json!({"transferDuplicate": true, "transferReorder": true}),
    )
    .await;
    let ok = call
        .transfer(TransferOptions::new("01050005000").return_after())
        .await
        .expect("result");
    assert_eq!(ok.kind, TransferResultKind::Completed);
    assert_eq!(ok.result.duration, Some(61));

    // An unknown requestId resolves nothing and breaks nothing.
    let stray = format!(
        r#"{{"event":"call.transfer.completed","callId":"{id}","requestId":"ffffffffffffffffffffffffffffffff","transfer":{{"status":"completed"}}}}"#
    );
    post(
        &emu,
        &format!("/_emulator/agents/{NUMBER}/send"),
        json!({"text": stray}),
    )
    .await;

    // Blind terminate with call.ended arriving before the result (within the 2 s grace).
    put(
        &emu,
        "/_emulator/faults",
        json!({"endedBeforeTransferResult": true}),
    )
    .await;
    let late = tokio::time::timeout(
        Duration::from_secs(10),
        call.transfer(TransferOptions::new("01050005000")),
    )
    .await
    .expect("no hang")
    .expect("late result still delivered");
    assert_eq!(late.kind, TransferResultKind::Completed);
    tokio::time::timeout(Duration::from_secs(10), call.wait())
        .await
        .expect("call ended");

    // Every request id was fresh; the wire frames carry the exact options.
    let view = get(&emu, &format!("/_emulator/calls/{id}")).await;
    let transfers = view["transfers"].as_array().unwrap();
    assert_eq!(transfers.len(), 3);
    let ids: std::collections::HashSet<&str> = transfers
        .iter()
        .map(|t| t["requestId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(transfers[0]["mode"], "warm");
    assert_eq!(transfers[0]["whisper"], "고객 연결합니다");
    assert_eq!(transfers[0]["afterTransfer"], "return");
    assert_eq!(transfers[2]["mode"], "blind");
    assert_eq!(transfers[2]["afterTransfer"], "terminate");
    assert!(agent.is_connected());
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_transfer_at_answer_that_ends_the_call_first_leaves_nothing_hanging() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let outcome = Arc::new(Mutex::new(None));
    let out = outcome.clone();
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(Script::default(), probe.clone()))
        .on_call_start(move |call| {
            let out = out.clone();
            async move {
                // Right at answer: the AI leg may end before the media socket connects.
                let result = call.transfer(TransferOptions::new("01070007000")).await;
                *out.lock().unwrap() = Some(result.map(|o| o.kind));
            }
        })
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    put(
        &emu,
        "/_emulator/destinations/01070007000",
        json!({"outcome": "answer", "transferDuration": 9}),
    )
    .await;
    put(
        &emu,
        "/_emulator/faults",
        json!({"endedBeforeTransferResult": true}),
    )
    .await;
    let id = inbound(&emu, NUMBER, json!({"seconds": 5.0, "maxSeconds": 30.0})).await;
    let view = wait_call(&emu, &id).await;
    assert_eq!(view["endedStatus"], "completed");
    assert_eq!(view["endedBy"], "transfer");
    assert_eq!(view["transfers"].as_array().map(Vec::len), Some(1));
    // The result that came after `call.ended` (within the grace) still resolved the wait.
    eventually(10, "transfer outcome", || outcome.lock().unwrap().is_some()).await;
    let kind = outcome.lock().unwrap().take().expect("outcome");
    assert!(
        matches!(kind, Ok(TransferResultKind::Completed)),
        "{kind:?}"
    );
    eventually(10, "calls unregistered", || agent.active_calls() == 0).await;
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}
