//! Soak: 200 inbound calls, 50 at a time, fast mode; afterwards no emulator task, runtime task
//! or socket is left over (counted through `Emulator::task_count`, tokio runtime metrics and
//! `/proc/self/fd`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use clawops_emulator::Emulator;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

const AGENT: &str = "07012340001";
const CALLS: usize = 200;
const CONCURRENCY: usize = 50;

fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

async fn settle<F: Fn() -> bool>(check: F) -> bool {
    for _ in 0..200 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

/// A minimal raw agent: accepts every offer, speaks one frame and a mark, reads until stop.
async fn agent_loop(mut control: Ws) -> usize {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut ended = 0;
    let mut media_tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            frame = control.next() => {
                let Some(Ok(Message::Text(text))) = frame else { break };
                let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                match v["event"].as_str() {
                    Some("call.incoming") => {
                        let id = v["callId"].as_str().unwrap().to_owned();
                        let url = v["mediaUrl"].as_str().unwrap().to_owned();
                        tx.send(json!({"event": "call.accept", "callId": id}).to_string()).unwrap();
                        media_tasks.spawn(async move {
                            let mut media = connect_media(&url).await;
                            media.send(Message::Text(json!({"event": "media", "media": {"payload": "//////////8="}}).to_string().into())).await.ok();
                            media.send(Message::Text(json!({"event": "mark", "mark": {"name": "m"}}).to_string().into())).await.ok();
                            read_until_stop(&mut media).await;
                            media.close(None).await.ok();
                            while let Some(Ok(_)) = media.next().await {}
                        });
                    }
                    Some("call.ended") => {
                        ended += 1;
                        if ended == CALLS { break; }
                    }
                    _ => {}
                }
            }
            Some(out) = rx.recv() => control.send(Message::Text(out.into())).await.unwrap(),
        }
    }
    while media_tasks.join_next().await.is_some() {}
    control.close(None).await.ok();
    while let Some(Ok(_)) = control.next().await {}
    ended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_calls_fifty_at_a_time_leave_nothing_behind() {
    let emu = Arc::new(Emulator::start().await.unwrap());
    // Warm the HTTP client pool once so its sockets are part of the baseline.
    control(&emu, "GET", "/health", None).await;
    let base_tasks = emu.task_count();
    let base_sockets = open_sockets();
    let metrics = tokio::runtime::Handle::current().metrics();
    let base_runtime_tasks = metrics.num_alive_tasks();

    let agent = tokio::spawn(agent_loop(connect_agent(&emu, AGENT).await));
    assert!(settle(|| emu.open_control_sockets() == 1).await);

    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let http = reqwest::Client::new();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (emu, http) = (emu.clone(), http.clone());
        calls.spawn(async move {
            let _permit = permit;
            let body = json!({"from": format!("010{i:08}"), "to": AGENT, "audio": "tone", "seconds": 0.2, "dtmf": "1", "hangupAfterAudio": true});
            let r = http.post(format!("{}/_emulator/inbound-calls", emu.base_url())).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 201);
            let id = r.json::<serde_json::Value>().await.unwrap()["callId"].as_str().unwrap().to_owned();
            let view: serde_json::Value = http
                .get(format!("{}/_emulator/calls/{id}/wait?timeoutMs=60000", emu.base_url()))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(view["endedStatus"], "completed", "{view}");
            assert_eq!(view["callerAudioBytes"], 1600);
        });
    }
    while let Some(r) = calls.join_next().await {
        r.unwrap();
    }
    assert_eq!(
        agent.await.unwrap(),
        CALLS,
        "every call ended with call.ended"
    );
    drop(http);

    let (emu_tasks_ok, sockets_ok, runtime_ok) = (
        settle(|| emu.task_count() == base_tasks).await,
        settle(|| open_sockets() <= base_sockets).await,
        settle(|| metrics.num_alive_tasks() <= base_runtime_tasks).await,
    );
    println!(
        "soak: emulator tasks {} (baseline {base_tasks}), sockets {} (baseline {base_sockets}), runtime tasks {} (baseline {base_runtime_tasks}), live calls {}, control sockets {}",
        emu.task_count(),
        open_sockets(),
        metrics.num_alive_tasks(),
        emu.live_calls(),
        emu.open_control_sockets()
    );
    assert!(
        emu_tasks_ok,
        "leaked emulator tasks: {} > {base_tasks}",
        emu.task_count()
    );
    assert!(
        sockets_ok,
        "leaked sockets: {} > {base_sockets}",
        open_sockets()
    );
    assert!(
        runtime_ok,
        "leaked runtime tasks: {} > {base_runtime_tasks}",
        metrics.num_alive_tasks()
    );
    assert_eq!(emu.live_calls(), 0);
    assert_eq!(emu.open_control_sockets(), 0);
    let emu = Arc::try_unwrap(emu).unwrap();
    emu.shutdown().await;
}
