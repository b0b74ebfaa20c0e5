//! DTMF through the media connection: passive routing (debounce, finish key, max digits),
//! `collect_dtmf` timing rules and `send_dtmf`, against the emulator.

mod agent_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use clawops::agent::{CollectOptions, DtmfSettings};
use clawops_emulator::{Config, Emulator};
use serde_json::json;

fn digits_of(probe: &Probes, id: &str) -> Vec<String> {
    probe
        .lock()
        .unwrap()
        .dtmf
        .iter()
        .filter(|(c, _)| c == id)
        .map(|(_, d)| d.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_dtmf_finish_key_max_digits_and_debounce() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let settings = DtmfSettings::new(Duration::from_millis(300), Some('#'), Some(4)).unwrap();
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(Script::default(), probe.clone()))
        .passive_dtmf(settings)
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    // "53#" → "53" at once (finish key excluded); "123456" → "1234" by max digits, then "56"
    // after the debounce; a lone "#" is delivered as "#".
    let id = inbound(&emu, NUMBER, json!({"seconds": 1.0, "dtmf": "53#123456"})).await;
    eventually(5, "passive deliveries", || {
        digits_of(&probe, &id).len() == 3
    })
    .await;
    assert_eq!(digits_of(&probe, &id), vec!["53", "1234", "56"]);
    // Every key is also a user event, in order.
    let keys: Vec<String> = log
        .of(&id)
        .into_iter()
        .filter(|e| e.starts_with("dtmf:"))
        .collect();
    assert_eq!(
        keys,
        ["5", "3", "#", "1", "2", "3", "4", "5", "6"].map(|d| format!("dtmf:{d}"))
    );
    // The caller stays on the line until the key is delivered: a key still queued when the
    // call ends is dropped on purpose (incident 21), so hanging up right after the audio
    // would race the delivery.
    let id2 = inbound(&emu, NUMBER, json!({"seconds": 0.4, "dtmf": "#"})).await;
    eventually(5, "lone finish key", || {
        digits_of(&probe, &id2) == vec!["#"]
    })
    .await;
    let (status, _) = post(&emu, &format!("/_emulator/calls/{id2}/hangup"), json!({})).await;
    assert_eq!(status, 204);
    let view = wait_call(&emu, &id2).await;
    assert_eq!(view["endedBy"], "caller", "{view}");
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_dtmf_counts_after_playout_and_takes_only_later_keys() {
    // Real-time pacing: the prompt really plays for its length; keys arrive on the timeline.
    let emu = Emulator::start_with(Config::default().with_realtime(true))
        .await
        .unwrap();
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let calls = Calls::default();
    let agent = calls
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(Script::default(), probe.clone()))
        .passive_dtmf(DtmfSettings::new(Duration::from_secs(2), Some('#'), None).unwrap())
        .build()
        .unwrap();
    agent.connect().await.unwrap();

    // 1) No keys: the inter-digit timeout starts only after the 1 s prompt has played.
    let id = inbound(&emu, NUMBER, json!({"seconds": 4.0, "audio": "silence"})).await;
    wait_media(&emu, &id).await;
    let call = calls.get(&id);
    call.send_audio(vec![0x7f; 8000]); // 1 s prompt
    let t0 = tokio::time::Instant::now();
    let got = call
        .collect_dtmf(CollectOptions::new(4).timeout(Duration::from_millis(500)))
        .await
        .unwrap();
    let waited = t0.elapsed();
    assert_eq!(got.as_str(), "");
    assert!(
        waited >= Duration::from_millis(1300),
        "counted from playout end, waited {waited:?}"
    );
    // The collector's playout mark went out and was echoed.
    let view = get(&emu, &format!("/_emulator/calls/{id}")).await;
    let marks: Vec<String> = serde_json::from_value(view["marks"].clone()).unwrap();
    assert!(
        marks
            .iter()
            .any(|m| m.starts_with("playout-") && m.len() == "playout-".len() + 12),
        "{marks:?}"
    );
    call.hangup().await;

    // 2) Keys at 0.5 s, 1.0 s, 1.5 s, 2.0 s ("7", "2", "9", "#"); the collector opens at 0.75 s:
    //    "7" goes to the passive path (flushed to the model at open), the collector gets "29".
    let id = inbound(
        &emu,
        NUMBER,
        json!({"seconds": 2.5, "audio": "silence", "dtmf": "729#"}),
    )
    .await;
    wait_media(&emu, &id).await;
    let call = calls.get(&id);
    tokio::time::sleep(Duration::from_millis(750)).await;
    let got = call
        .collect_dtmf(CollectOptions::new(6).timeout(Duration::from_secs(3)))
        .await
        .unwrap();
    assert_eq!(got.as_str(), "29");
    assert_eq!(digits_of(&probe, &id), vec!["7"]);
    // Every key during the collection interrupted the prompt (clear).
    let view = get(&emu, &format!("/_emulator/calls/{id}")).await;
    assert!(view["clears"].as_u64().unwrap() >= 2);
    // A second concurrent collection is "busy", not an error the model would stop using.
    call.hangup().await;
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_dtmf_frames_and_pauses() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let calls = Calls::default();
    let agent = calls
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(Script::default(), probe.clone()))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let id = inbound(&emu, NUMBER, json!({"seconds": 0.2})).await;
    wait_media(&emu, &id).await;
    let call = calls.get(&id);
    assert!(
        call.send_dtmf("12x").await.is_err(),
        "validated before the first tone"
    );
    let t0 = tokio::time::Instant::now();
    call.send_dtmf("1w2W#").await.unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(1500));
    call.hangup().await;
    let view = wait_call(&emu, &id).await;
    assert_eq!(view["dtmf"], json!(["1", "2", "#"]));
    agent.disconnect().await;
    emu.shutdown().await;
}
