//! Call metrics that are true: who ended the call, and the turns the session completed.

mod agent_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use clawops::agent::{EndReason, TransferOptions, TransferResultKind};
use serde_json::json;

async fn transfer_setup(
    number: &str,
) -> (clawops_emulator::Emulator, clawops::agent::Agent, Calls) {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let calls = Calls::default();
    let agent = calls
        .attach(agent_builder(&emu, number))
        .session_factory(ScriptedSession::factory(
            Script {
                echo: true,
                ..Script::default()
            },
            probe,
        ))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    put(
        &emu,
        "/_emulator/destinations/01050005000",
        json!({"outcome": "answer", "transferDuration": 5}),
    )
    .await;
    put(
        &emu,
        "/_emulator/destinations/01060006000",
        json!({"outcome": "busy"}),
    )
    .await;
    (emu, agent, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_transfer_ends_the_call_with_end_reason_transfer() {
    let (emu, agent, calls) = transfer_setup(NUMBER).await;
    let id = inbound(&emu, NUMBER, json!({"seconds": 0.2})).await;
    wait_media(&emu, &id).await;
    let call = calls.get(&id);
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        call.transfer(TransferOptions::new("01050005000")),
    )
    .await
    .expect("no hang")
    .expect("result");
    assert_eq!(outcome.kind, TransferResultKind::Completed);
    tokio::time::timeout(Duration::from_secs(10), call.wait())
        .await
        .expect("call ended");
    assert_eq!(call.metrics().end_reason, Some(EndReason::Transfer));
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transfer_then_the_caller_hanging_up_is_a_user_hangup() {
    let (emu, agent, calls) = transfer_setup(NUMBER).await;
    let id = inbound(&emu, NUMBER, json!({"seconds": 0.2})).await;
    wait_media(&emu, &id).await;
    let call = calls.get(&id);
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        call.transfer(TransferOptions::new("01060006000")),
    )
    .await
    .expect("no hang")
    .expect("result");
    assert_eq!(outcome.kind, TransferResultKind::Failed);
    let (status, _) = post(&emu, &format!("/_emulator/calls/{id}/hangup"), json!({})).await;
    assert_eq!(status, 204);
    tokio::time::timeout(Duration::from_secs(10), call.wait())
        .await
        .expect("call ended");
    assert_eq!(call.metrics().end_reason, Some(EndReason::UserHangup));
    agent.disconnect().await;
    emu.shutdown().await;
}
