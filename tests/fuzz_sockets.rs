//! Bounded fuzz run of the parsers only reachable through a socket (issue 12): the agent's
//! control loop (frames injected by the emulator), its media loop (a fake media server and
//! [`CallRunner`]) and the OpenAI Realtime session's server frames (a fake Realtime server).
//! Hostile mutations come from `tests/fuzz_common/mod.rs`. Each batch of inputs is followed by a
//! sentinel that only a live receive loop answers, so a panic, a dead task or a wedged loop
//! fails the test; the agent's control connection must also survive without a reconnect.
//!
//! `PROPTEST_CASES` / 4 inputs per socket (default 500). New socket parsers (Gemini, Deepgram,
//! ElevenLabs, SSE, MCP) follow [`fuzz_openai_realtime_server_frames`]: a fake server sends
//! `inputs(seeds, n)` raw, then a sentinel.

mod agent_common;
mod fuzz_common;
mod openai_realtime_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops::agent::testing::ScriptedSession as TestSession;
use clawops::agent::{CallHandle, CallRunner, Session};
use clawops::providers::openai::OpenAIRealtime;
use clawops_api::events::{ControlEvent, MediaEvent};
use futures::{SinkExt, StreamExt};
use fuzz_common::input_strategy;
use openai_realtime_common::{FakeCall, headline_tools};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

fn cases() -> usize {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map(|c| c / 4)
        .unwrap_or(500)
        .max(20)
}

/// `n` mutated inputs of `seeds` (deterministic per run of proptest's RNG).
fn inputs(seeds: &[Vec<u8>], n: usize) -> Vec<Vec<u8>> {
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = input_strategy();
    (0..n)
        .map(|_| {
            let (pick, ops) = strategy.new_tree(&mut runner).expect("tree").current();
            fuzz_common::apply(&seeds[pick % seeds.len()], &ops)
        })
        .collect()
}

/// A text frame as the peer would send it (WebSocket text is UTF-8: invalid bytes become U+FFFD).
fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

fn spec_messages(name: &str) -> Vec<Value> {
    let specs =
        clawops_codegen::spec::Specs::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
            .expect("spec");
    fuzz_common::message_examples(&specs.asyncapi)
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect()
}

// ----- control frames ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_agent_control_frames() {
    // Spec examples of every server → SDK control event, with media URLs on a closed loopback
    // port (a fuzzed `call.incoming` must never reach the network). `agent.retired` is left out:
    // a valid one legitimately retires the agent, which the sentinel would mistake for a fault.
    let seeds: Vec<Vec<u8>> = spec_messages("ControlEvent")
        .into_iter()
        .filter(|v| v["event"] != "agent.retired")
        .map(|mut v| {
            if v.get("mediaUrl").is_some() {
                v["mediaUrl"] = json!("ws://127.0.0.1:1/v1/agent/media/CAfuzz?token=tok_fuzz");
            }
            v.to_string().into_bytes()
        })
        .collect();
    assert!(seeds.len() >= 8, "{} seeds", seeds.len());
    let emu = emulator().await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(Script::default(), probe))
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let conn = get(&emu, "/_emulator/agents").await["data"][0]["connectionId"].clone();
    let frames = inputs(&seeds, cases());
    let mut sent = 0;
    for (i, input) in frames.iter().enumerate() {
        let frame = text(input);
        if matches!(
            ControlEvent::from_json(&frame),
            Ok(ControlEvent::AgentRetired(_))
        ) {
            continue;
        }
        let (status, _) = post(
            &emu,
            &format!("/_emulator/agents/{NUMBER}/send"),
            json!({"text": frame}),
        )
        .await;
        assert_eq!(status, 204, "frame {i} not delivered");
        sent += 1;
        if i % 100 == 99 || i == frames.len() - 1 {
            // Sentinel: the same connection still answers a call end to end.
            let id = inbound(
                &emu,
                NUMBER,
                json!({"seconds": 0.1, "hangupAfterAudio": true}),
            )
            .await;
            let view = wait_call(&emu, &id).await;
            assert_eq!(view["accepted"], true, "after {sent} fuzzed frames");
            assert_eq!(
                view["endedStatus"], "completed",
                "after {sent} fuzzed frames"
            );
            assert_eq!(
                get(&emu, "/_emulator/agents").await["data"][0]["connectionId"],
                conn,
                "no fuzzed frame may cost the control connection"
            );
        }
    }
    assert!(sent >= frames.len() * 9 / 10, "only {sent} frames sent");
    assert!(agent.is_connected());
    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    emu.shutdown().await;
}

// ----- media frames -----------------------------------------------------------------------------

/// Agent audio the sentinel expects back (no μ-law zero codes, so gain leaves it unchanged).
fn pattern() -> Vec<u8> {
    (0..160u32).map(|i| 0x10 + (i % 0x60) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_agent_media_frames() {
    // `stop` ends the call by design; it is left out of the seeds and of the mutated inputs.
    let seeds: Vec<Vec<u8>> = spec_messages("MediaEvent")
        .into_iter()
        .filter(|v| v["event"] != "stop")
        .map(|v| v.to_string().into_bytes())
        .collect();
    assert!(seeds.len() >= 5, "{} seeds", seeds.len());
    let frames: Vec<String> = inputs(&seeds, cases())
        .iter()
        .map(|i| text(i))
        .filter(|t| !matches!(MediaEvent::from_json(t), Ok(MediaEvent::MediaStop(_))))
        .collect();
    let total = frames.len();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "ws://{}/v1/agent/media/CA1?token=tok_fuzz",
        listener.local_addr().unwrap()
    );
    let (result_tx, mut result_rx) = mpsc::unbounded_channel::<Result<usize, String>>();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let start = json!({"event":"start","sequenceNumber":"1","start":{"streamId":"MZ1","callId":"CA1","accountId":"AC1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{}}});
        ws.send(Message::text(
            json!({"event":"connected","protocol":"Call","version":"1.0.0"}).to_string(),
        ))
        .await
        .unwrap();
        ws.send(Message::text(start.to_string())).await.unwrap();
        let sentinel = json!({"event":"media","sequenceNumber":"99","media":{"track":"inbound","chunk":"99","timestamp":"99999","payload":B64.encode(pattern())}}).to_string();
        for (batch, chunk) in frames.chunks(100).enumerate() {
            for frame in chunk {
                if ws.send(Message::text(frame.clone())).await.is_err() {
                    let _ = result_tx.send(Err(format!("socket closed in batch {batch}")));
                    return;
                }
            }
            // A fresh valid `start`, then the sentinel audio the echo session must send back.
            let _ = ws.send(Message::text(start.to_string())).await;
            let _ = ws.send(Message::text(sentinel.clone())).await;
            let echoed = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(msg) = ws.next().await {
                    let Ok(Message::Text(t)) = msg else {
                        if matches!(msg, Ok(Message::Close(_)) | Err(_)) {
                            return false;
                        }
                        continue;
                    };
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    let audio = v["media"]["payload"]
                        .as_str()
                        .and_then(|p| B64.decode(p).ok())
                        .unwrap_or_default();
                    if audio.windows(160).any(|w| w == pattern().as_slice()) {
                        return true;
                    }
                }
                false
            })
            .await
            .unwrap_or(false);
            if !echoed {
                let _ = result_tx.send(Err(format!("no echo of the sentinel after batch {batch}")));
                return;
            }
            let _ = result_tx.send(Ok(chunk.len()));
        }
        let stop = json!({"event":"stop","sequenceNumber":"100","stop":{"accountId":"AC1","callId":"CA1"}});
        let _ = ws.send(Message::text(stop.to_string())).await;
        let _ = ws.close(None).await;
    });
    let call = tokio::time::timeout(
        Duration::from_secs(120),
        CallRunner::new("CA1", "01012345678", "07012345678")
            .run(&url, Box::new(TestSession::new().echo(true))),
    )
    .await
    .expect("the call ends");
    server.await.unwrap();
    let mut delivered = 0;
    while let Ok(r) = result_rx.try_recv() {
        delivered += r.unwrap_or_else(|e| panic!("{e} (of {total} frames)"));
    }
    assert_eq!(delivered, total);
    let call = call.expect("call ran");
    assert!(call.is_ended());
}

// ----- OpenAI Realtime server frames ---------------------------------------------------------------

fn openai_seeds() -> Vec<Vec<u8>> {
    let audio = B64.encode([0x55u8; 320]);
    [
        json!({"type":"session.updated","event_id":"e1","session":{"id":"sess_1","type":"realtime"}}),
        json!({"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"item_a","output_index":0,"content_index":0,"delta":audio}),
        json!({"type":"response.output_audio.done","event_id":"e","response_id":"r","item_id":"item_a","output_index":0,"content_index":0}),
        json!({"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":1000,"item_id":"item_u"}),
        json!({"type":"response.output_item.done","event_id":"e","response_id":"r","output_index":0,"item":{"id":"item_f","type":"function_call","status":"completed","name":"check_order","call_id":"call_1","arguments":"{\"order_id\":\"A-1\"}"}}),
        json!({"type":"conversation.item.input_audio_transcription.delta","event_id":"e","item_id":"item_u","content_index":0,"delta":"주문"}),
        json!({"type":"conversation.item.input_audio_transcription.completed","event_id":"e","item_id":"item_u","content_index":0,"transcript":"주문 확인"}),
        json!({"type":"response.output_audio_transcript.delta","event_id":"e","response_id":"r","item_id":"item_a","output_index":0,"content_index":0,"delta":"네"}),
        json!({"type":"response.output_audio_transcript.done","event_id":"e","response_id":"r","item_id":"item_a","output_index":0,"content_index":0,"transcript":"네, 확인해 드리겠습니다."}),
        json!({"type":"response.done","event_id":"e","response":{"id":"r","object":"realtime.response","status":"completed","output":[]}}),
        json!({"type":"response.done","event_id":"e","response":{"id":"r","status":"failed","status_details":{"error":{"code":"server_error"}}}}),
        json!({"type":"error","event_id":"e","error":{"type":"invalid_request_error","code":"unknown_parameter","message":"x"}}),
        json!({"type":"rate_limits.updated","event_id":"e","rate_limits":[{"name":"tokens","limit":1000,"remaining":999}]}),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_openai_realtime_server_frames() {
    let frames: Vec<String> = inputs(&openai_seeds(), cases())
        .iter()
        .map(|i| text(i))
        .collect();
    let total = frames.len();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let (go_tx, mut go_rx) = mpsc::unbounded_channel::<Vec<String>>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let (mut sink, mut stream) = ws.split();
        sink.send(Message::text(json!({"type":"session.created","event_id":"e0","session":{"id":"sess_1","type":"realtime"}}).to_string())).await.unwrap();
        loop {
            tokio::select! {
                batch = go_rx.recv() => match batch {
                    Some(batch) => for f in batch {
                        if sink.send(Message::text(f)).await.is_err() { return }
                    },
                    None => return,
                },
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        let v: Value = serde_json::from_str(&t).unwrap_or_default();
                        if v["type"] == "session.update" {
                            let _ = sink.send(Message::text(json!({"type":"session.updated","event_id":"eu","session":v["session"].clone()}).to_string())).await;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                },
            }
        }
    });
    let session = OpenAIRealtime::builder()
        .api_key("sk-test-key")
        .base_url(&base_url)
        .system_prompt("fuzz")
        .build()
        .unwrap();
    session.set_tools(headline_tools());
    let call = FakeCall::new("CA1");
    let handle: CallHandle = call.clone();
    tokio::time::timeout(Duration::from_secs(10), session.start(handle))
        .await
        .expect("start in time")
        .expect("session starts");
    for (batch, chunk) in frames.chunks(100).enumerate() {
        let mut out = chunk.to_vec();
        // Sentinel: audio of a fresh item; only a live receive loop delivers it to the call.
        let item = format!("item_sentinel_{batch}");
        out.push(json!({"type":"response.output_audio.delta","event_id":"es","response_id":"rs","item_id":item,"output_index":0,"content_index":0,"delta":B64.encode(pattern())}).to_string());
        go_tx.send(out).unwrap();
        let mut alive = false;
        for _ in 0..500 {
            let audio = call.audio_bytes();
            if audio.windows(160).any(|w| w == pattern().as_slice()) {
                alive = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            alive,
            "the receive loop died in batch {batch} (of {total} frames)"
        );
        call.audio.lock().unwrap().clear();
    }
    session.stop().await;
}
