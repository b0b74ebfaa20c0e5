//! Many concurrent calls against the emulator: isolation, fault tolerance, no leaks.

mod agent_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use clawops::audio::ulaw_to_linear;
use serde_json::json;

/// Writes a 1 s WAV whose every sample is the linear value of μ-law `code`.
fn signature_wav(dir: &std::path::Path, code: u8) -> String {
    let path = dir.join(format!("sig_{code:02x}.wav"));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for _ in 0..8000 {
        w.write_sample(ulaw_to_linear(code)).unwrap();
    }
    w.finalize().unwrap();
    path.to_string_lossy().into_owned()
}

/// The agent channel of the emulator's stereo recording of `call_id`, as linear samples.
async fn agent_leg(emu: &clawops_emulator::Emulator, call_id: &str) -> Vec<i16> {
    let url = format!(
        "{}/v1/accounts/{}/recordings/{call_id}",
        emu.base_url(),
        emu.account_id()
    );
    let bytes = reqwest::Client::new()
        .get(url)
        .bearer_auth(emu.api_key())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes.to_vec())).expect("WAV");
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    samples.chunks(2).map(|c| c[1]).collect()
}

/// Echo every frame; after the 50th (1 s of caller audio) hang up with the handshake, which
/// flushes every echoed frame first.
fn hangup_after_echo() -> Script {
    Script {
        echo: true,
        act_after_frames: Some(50),
        hangup: true,
        ..Script::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_get_only_their_own_audio_back() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(hangup_after_echo(), probe.clone()))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    // 50 distinct μ-law codes (none of them silence).
    let codes: Vec<u8> = (0..50u8).map(|i| 0x10 + i).collect();
    let mut ids = Vec::new();
    for &code in &codes {
        let wav = signature_wav(dir.path(), code);
        let id = inbound(&emu, NUMBER, json!({"audio": wav, "seconds": 1.0})).await;
        ids.push((id, code));
    }
    for (id, _) in &ids {
        let view = wait_call(&emu, id).await;
        assert_eq!(view["endedStatus"], "completed", "{id}");
    }
    for (id, code) in &ids {
        // Inbound isolation: the session of this call heard only this call's signature.
        {
            let p = probe.lock().unwrap();
            let heard = &p.audio_in.iter().find(|(c, _)| c == id).expect("audio").1;
            assert_eq!(heard.len(), 8000, "{id}");
            assert!(heard.iter().all(|b| b == code), "{id} heard foreign audio");
        }
        // Outbound isolation: everything the server played on this call is its own signature.
        let leg = agent_leg(&emu, id).await;
        let mine = ulaw_to_linear(*code);
        let played: Vec<i16> = leg.into_iter().filter(|&s| s != 0).collect();
        assert_eq!(played.len(), 8000, "{id}: all echoed audio played");
        assert!(
            played.iter().all(|&s| s == mine),
            "{id} got foreign audio back"
        );
    }
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_and_a_panicking_or_slow_handler_leave_twenty_calls_intact() {
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let log = EventLog::default();
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(ScriptedSession::factory(hangup_after_echo(), probe.clone()))
        .on_call_start(|call| async move {
            if call.from_number() == "01000000013" {
                panic!("user handler bug");
            }
            if call.from_number() == "01000000014" {
                // A slow handler delays only this call's later events, never its audio.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
        .on_dtmf(|call, _| async move {
            if call.from_number() == "01000000013" {
                panic!("user dtmf handler bug");
            }
        })
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let from = format!("010000000{i:02}");
        let id = inbound(
            &emu,
            NUMBER,
            json!({"from": from, "seconds": 1.0, "dtmf": "1#"}),
        )
        .await;
        ids.push(id);
        if i % 5 == 0 {
            for text in [
                "{{{",
                r#"{"event":"call.ended","callId":null}"#,
                r#"{"event":"agent.future","x":1}"#,
            ] {
                post(
                    &emu,
                    &format!("/_emulator/agents/{NUMBER}/send"),
                    json!({"text": text}),
                )
                .await;
            }
        }
    }
    for id in &ids {
        let view = wait_call(&emu, id).await;
        assert_eq!(view["endedStatus"], "completed", "{id}");
        assert_eq!(
            view["audioBytes"], view["callerAudioBytes"],
            "{id} echoed completely"
        );
    }
    // Every call, the panicking one included, got its events in order.
    for id in &ids {
        let id2 = id.clone();
        eventually(5, "call_end", || {
            log.of(&id2).last().map(String::as_str) == Some("call_end")
        })
        .await;
        assert_eq!(
            log.of(id),
            vec!["call_start", "dtmf:1", "dtmf:#", "call_end"],
            "{id}"
        );
    }
    assert!(agent.is_connected());
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_leftover_tasks_sockets_or_sessions_after_500_calls() {
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
    let baseline = agent.task_count(); // the control connection
    for batch in 0..25 {
        let mut ids = Vec::new();
        for _ in 0..20 {
            ids.push(
                inbound(
                    &emu,
                    NUMBER,
                    json!({"seconds": 0.1, "hangupAfterAudio": true}),
                )
                .await,
            );
        }
        for id in &ids {
            let view = wait_call(&emu, id).await;
            assert_eq!(view["endedStatus"], "completed", "batch {batch}");
        }
    }
    eventually(10, "calls unregistered", || agent.active_calls() == 0).await;
    eventually(10, "tasks reaped", || agent.task_count() == baseline).await;
    {
        let p = probe.lock().unwrap();
        assert_eq!(p.sessions, 500);
        assert_eq!(p.stopped, 500);
        assert_eq!(p.live, 0, "every session dropped");
    }
    assert_eq!(emu.live_calls(), 0);
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    eventually(5, "control socket closed", || {
        emu.open_control_sockets() == 0
    })
    .await;
    emu.shutdown().await;
}
