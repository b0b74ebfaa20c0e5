//! Slot ownership on the emulator: rolling deploys (soft `agent.retired` and hard 4409),
//! revocation (4403), a gateway roll (1001) and the lame duck that never reconnects.

mod agent_common;
mod ops_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use clawops::agent::ops::{ServeOptions, TakeOver, TakeOverKind};
use clawops::agent::{Agent, AgentError, CallOptions, DrainReport};
use clawops_emulator::Emulator;
use serde_json::{Value, json};

/// A call that stays up until the test hangs it up (caller side).
async fn long_call(emu: &Emulator) -> String {
    inbound(
        emu,
        NUMBER,
        json!({"audio": "tone", "seconds": 0.2, "maxSeconds": 120}),
    )
    .await
}

/// A short call the caller ends once its audio played out.
async fn short_call(emu: &Emulator) -> String {
    inbound(
        emu,
        NUMBER,
        json!({"audio": "tone", "seconds": 0.2, "hangupAfterAudio": true}),
    )
    .await
}

fn accepts(view: &Value) -> usize {
    view["frames"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["event"] == "call.accept").count())
        .unwrap_or(0)
}

async fn connections(emu: &Emulator) -> Vec<(u64, String)> {
    get(emu, "/_emulator/agents").await["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c["connectionId"].as_u64().unwrap(),
                c["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

struct Side {
    agent: Agent,
    log: EventLog,
    calls: Calls,
    notices: Arc<Mutex<Vec<TakeOver>>>,
}

fn side(emu: &Emulator) -> Side {
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let calls = Calls::default();
    let notices: Arc<Mutex<Vec<TakeOver>>> = Arc::default();
    let n2 = notices.clone();
    let agent = calls
        .attach(log.attach(agent_builder(emu, NUMBER)))
        .session_factory(ScriptedSession::factory(
            Script {
                echo: true,
                ..Script::default()
            },
            probe,
        ))
        .ready_file(clawops::agent::ops::ReadyFile::disabled())
        .health_port(0)
        .on_takeover(move |t| n2.lock().unwrap().push(t.clone()))
        .build()
        .unwrap();
    Side {
        agent,
        log,
        calls,
        notices,
    }
}

/// Rolls a deploy: A serves with 10 calls, B connects, calls placed meanwhile; returns the ids
/// placed during the handover and A's serve report.
async fn roll(emu: &Emulator, soft: bool) -> (Side, Side, Vec<String>, Vec<String>, DrainReport) {
    if soft {
        let status = put(
            emu,
            &format!("/_emulator/agents/{NUMBER}/takeover"),
            json!({"style": "soft"}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let a = side(emu);
    let serve = {
        let agent = a.agent.clone();
        // Returns once drained (the default would idle until a signal: see ops_shutdown).
        let options = ServeOptions::new().wait_for_signal_after_takeover(false);
        tokio::spawn(async move { agent.serve_with(options).await })
    };
    eventually(10, "A connected", || a.agent.is_ready()).await;
    let mut in_progress = Vec::new();
    for _ in 0..10 {
        in_progress.push(long_call(emu).await);
    }
    for id in &in_progress {
        wait_media(emu, id).await;
    }
    assert_eq!(a.agent.active_calls(), 10);

    // B connects while calls keep arriving.
    let b = side(emu);
    let b_agent = b.agent.clone();
    let b_connect = tokio::spawn(async move { b_agent.connect().await });
    let mut during = Vec::new();
    for _ in 0..6 {
        during.push(short_call(emu).await);
    }
    b_connect.await.unwrap().expect("B connects");
    eventually(10, "A taken over", || a.agent.taken_over()).await;
    for _ in 0..4 {
        during.push(short_call(emu).await);
    }
    // End A's calls from the caller side.
    for id in &in_progress {
        let (status, _) = post(emu, &format!("/_emulator/calls/{id}/hangup"), json!({})).await;
        assert_eq!(status, 204);
    }
    let report = tokio::time::timeout(Duration::from_secs(30), serve)
        .await
        .expect("A's serve returns once its calls ended")
        .unwrap()
        .expect("serve ok");
    (a, b, in_progress, during, report)
}

/// Every call placed during the handover was answered exactly once, by A or B, and completed.
async fn nothing_lost(emu: &Emulator, a: &Side, b: &Side, during: &[String]) {
    for id in during {
        let view = wait_call(emu, id).await;
        assert_eq!(view["endedStatus"], "completed", "{id}: {view}");
        assert_eq!(accepts(&view), 1, "{id} answered once");
        let on_a = a.log.of(id).contains(&"call_start".to_owned());
        let on_b = b.log.of(id).contains(&"call_start".to_owned());
        assert!(on_a ^ on_b, "{id} started on exactly one agent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_deploy_soft_retire_keeps_calls_and_their_durations() {
    let emu = emulator().await;
    let (a, b, in_progress, during, report) = roll(&emu, true).await;
    assert_eq!(
        a.notices.lock().unwrap().clone(),
        vec![TakeOver::retired("replaced")]
    );
    assert_eq!(
        (
            report.completed,
            report.cut,
            report.handed_over,
            report.signalled
        ),
        (10, 0, true, false)
    );
    // A's calls ended with the duration of their call.ended (the connection stayed open).
    for id in &in_progress {
        let view = wait_call(&emu, id).await;
        let call = a.calls.get(id);
        assert_eq!(
            call.ended_status().map(|s| s.to_string()),
            Some("completed".into())
        );
        assert_eq!(call.ended_duration(), view["duration"].as_i64(), "{id}");
        assert!(call.ended_duration().is_some());
        assert_eq!(a.log.of(id).last().map(String::as_str), Some("call_end"));
    }
    nothing_lost(&emu, &a, &b, &during).await;
    // Calls after the takeover all went to B.
    let after = short_call(&emu).await;
    assert_eq!(wait_call(&emu, &after).await["endedStatus"], "completed");
    eventually(5, "B logged the call", || {
        b.log.of(&after).contains(&"call_end".to_owned())
    })
    .await;
    assert!(a.log.of(&after).is_empty());
    // The server closed A's retired connection once its calls ended; A never came back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while connections(&emu).await.len() > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let conns = connections(&emu).await;
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0].1, "holder");
    assert!(b.agent.is_ready() && !a.agent.is_ready());
    // A refuses to take the slot back.
    assert!(matches!(
        a.agent.connect().await,
        Err(AgentError::TakenOver(t)) if t.kind == TakeOverKind::Retired
    ));
    assert!(matches!(
        a.agent.call("01099998888", CallOptions::new()).await,
        Err(AgentError::TakenOver(_))
    ));
    assert_eq!(a.agent.task_count(), 0);
    b.agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_deploy_hard_4409_never_reconnects() {
    let emu = emulator().await;
    let (a, b, in_progress, during, report) = roll(&emu, false).await;
    assert_eq!(
        a.notices.lock().unwrap().clone(),
        vec![TakeOver::closed(4409, "replaced")]
    );
    assert_eq!(
        (
            report.completed,
            report.cut,
            report.handed_over,
            report.signalled
        ),
        (10, 0, true, false)
    );
    for id in &in_progress {
        let view = wait_call(&emu, id).await;
        assert_eq!(view["endedStatus"], "completed");
        // The terminal frame could not come on the closed connection.
        assert_eq!(a.calls.get(id).ended_duration(), None);
        assert_eq!(a.log.of(id).last().map(String::as_str), Some("call_end"));
    }
    nothing_lost(&emu, &a, &b, &during).await;
    // Several backoff periods later A has not reconnected.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(emu.open_control_sockets(), 1);
    assert_eq!(connections(&emu).await.len(), 1);
    assert!(matches!(
        a.agent.connect().await,
        Err(AgentError::TakenOver(t)) if t.code == 4409 && t.reason == "replaced"
    ));
    b.agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_number_4403_is_terminal_and_typed() {
    let emu = emulator().await;
    let a = side(&emu);
    a.agent.connect().await.unwrap();
    let (status, body) = post(
        &emu,
        &format!("/_emulator/agents/{NUMBER}/revoke"),
        json!({}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"closed": 1})));
    eventually(5, "taken over", || a.agent.taken_over()).await;
    let page = ops_common::http_get(a.agent.health_addr().unwrap(), "/metrics").await;
    assert_eq!(
        ops_common::sample(
            &page,
            "clawops_agent_takeovers_total{kind=\"ownership_lost\"}"
        ),
        Some(1.0),
        "{page}"
    );
    let expected = TakeOver::closed(4403, "ownership lost");
    assert_eq!(expected.kind, TakeOverKind::OwnershipLost);
    assert_eq!(a.notices.lock().unwrap().clone(), vec![expected.clone()]);
    assert_eq!(a.agent.take_over_notice(), Some(expected));
    eventually(5, "closed socket gone", || emu.open_control_sockets() == 0).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(emu.open_control_sockets(), 0);
    let err = a.agent.connect().await.unwrap_err();
    assert!(err.to_string().contains("4403"), "{err}");
    assert!(matches!(
        a.agent.call("01099998888", CallOptions::new()).await,
        Err(AgentError::TakenOver(t)) if t.code == 4403
    ));
    a.agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_roll_1001_reconnects_with_hello_and_counts_it() {
    let emu = emulator().await;
    let a = side(&emu);
    a.agent.connect().await.unwrap();
    let first = connections(&emu).await;
    let live = long_call(&emu).await;
    wait_media(&emu, &live).await;
    let (status, body) = post(&emu, "/_emulator/gateway/roll", json!({})).await;
    assert_eq!((status, body), (200, json!({"closed": 1})));
    eventually(10, "reconnected", || {
        a.agent.is_connected() && a.agent.is_ready()
    })
    .await;
    let mut second = connections(&emu).await;
    for _ in 0..100 {
        if second.first().map(|c| c.0) != first.first().map(|c| c.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        second = connections(&emu).await;
    }
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].0, first[0].0);
    let agents = get(&emu, "/_emulator/agents").await;
    assert_eq!(
        agents["data"][0]["hello"]["sdk"]["capabilities"],
        json!(["retire"])
    );
    assert!(!a.agent.taken_over());
    assert!(a.notices.lock().unwrap().is_empty());
    let page = ops_common::http_get(a.agent.health_addr().unwrap(), "/metrics").await;
    assert_eq!(
        ops_common::sample(&page, "clawops_agent_control_reconnects_total"),
        Some(1.0),
        "{page}"
    );
    assert_eq!(ops_common::sample(&page, "clawops_agent_ready"), Some(1.0));
    // The call in progress survived; the next one is answered on the new connection.
    let next = short_call(&emu).await;
    assert_eq!(wait_call(&emu, &next).await["endedStatus"], "completed");
    post(&emu, &format!("/_emulator/calls/{live}/hangup"), json!({})).await;
    let view = wait_call(&emu, &live).await;
    assert_eq!(view["endedStatus"], "completed");
    a.agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lame_duck_after_agent_retired_never_reconnects_on_1006() {
    let emu = emulator().await;
    let a = side(&emu);
    a.agent.connect().await.unwrap();
    let live = long_call(&emu).await;
    wait_media(&emu, &live).await;
    // agent.retired without a successor: lame duck, connection kept open.
    let (status, _) = post(
        &emu,
        &format!("/_emulator/agents/{NUMBER}/retire"),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    eventually(5, "retired", || a.agent.taken_over()).await;
    assert!(a.agent.is_connected(), "the retired connection stays open");
    assert!(!a.agent.is_ready());
    // Now the TCP connection drops (1006): no reconnect, for any reason.
    let (status, _) = post(&emu, &format!("/_emulator/agents/{NUMBER}/drop"), json!({})).await;
    assert_eq!(status, 204);
    eventually(5, "dropped", || !a.agent.is_connected()).await;
    eventually(5, "dropped socket gone", || emu.open_control_sockets() == 0).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(emu.open_control_sockets(), 0);
    assert!(matches!(
        a.agent.connect().await,
        Err(AgentError::TakenOver(_))
    ));
    // The call in progress is still served on its own media socket.
    let call = a.calls.get(&live);
    assert!(!call.is_ended());
    post(&emu, &format!("/_emulator/calls/{live}/hangup"), json!({})).await;
    assert_eq!(wait_call(&emu, &live).await["endedStatus"], "completed");
    a.agent.disconnect().await;
    emu.shutdown().await;
}
