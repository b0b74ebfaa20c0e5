//! A pipeline call end to end: the agent, the ClawOps emulator (real-time media) and fake
//! Deepgram, OpenAI-compatible and ElevenLabs servers on 127.0.0.1 speaking their real wire
//! protocols. One call runs a greeting turn, a tool call and a barge-in; the call's
//! `{call}_out.wav` recording shows the interrupted answer stopping.
#![cfg(all(
    feature = "deepgram",
    feature = "elevenlabs",
    feature = "openai-compatible"
))]

mod agent_common;
mod provider_common;

use std::time::Duration;

use agent_common::{EventLog, NUMBER, agent_builder, eventually, get, inbound, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops::agent::ToolRegistry;
use clawops::providers::deepgram::DeepgramStt;
use clawops::providers::elevenlabs::ElevenLabsTts;
use clawops::providers::llm::OpenAiCompatibleLlm;
use clawops::providers::pipeline::Pipeline;
use clawops_emulator::{Config, Emulator};
use provider_common::{FakeHttp, FakeWs, Reply, WsConn, WsSeen};
use serde_json::{Value, json};
use tokio::sync::watch;

const SYSTEM: &str = "친절한 상담원입니다.";
/// Peak amplitudes of the three answers, so the recording tells them apart.
const GREETING_AMP: f32 = 3000.0;
const ANSWER_AMP: f32 = 9000.0;
const REPLY_AMP: f32 = 20000.0;
/// The interrupted answer is 4 s long, sent in real time in 100 ms chunks.
const ANSWER_CHUNKS: usize = 40;
/// Chunks sent before the caller barges in.
const BARGE_IN_AFTER: usize = 10;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct CheckOrder {
    /// 주문 번호
    order_id: String,
}

/// 100 ms of 24 kHz PCM16 LE at 400 Hz, base64 as ElevenLabs sends it.
fn audio_chunk(amplitude: f32) -> String {
    let mut pcm = Vec::with_capacity(4800);
    for i in 0..2400 {
        let v =
            (amplitude * (i as f32 * 2.0 * std::f32::consts::PI * 400.0 / 24_000.0).sin()) as i16;
        pcm.extend_from_slice(&v.to_le_bytes());
    }
    B64.encode(pcm)
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
}

fn text_reply(parts: &[&str]) -> Reply {
    let mut events: Vec<Value> = parts
        .iter()
        .map(|p| chunk(json!({"content": p}), None))
        .collect();
    events.push(chunk(json!({}), Some("stop")));
    Reply::data(&events).done()
}

/// Reads the sentences of one synthesis up to the end-of-stream frame.
async fn sentences(conn: &mut WsConn) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let f = conn.json().await;
        let t = f["text"].as_str().unwrap_or_default().to_owned();
        if t.is_empty() {
            return out;
        }
        out.push(t);
    }
}

/// Speaks `chunks` × 100 ms at once, then finishes like ElevenLabs.
fn speak_all(conn: &WsConn, chunks: usize, amplitude: f32) {
    for _ in 0..chunks {
        conn.send(json!({"audio": audio_chunk(amplitude), "isFinal": null}));
    }
    conn.send(json!({"audio": null, "isFinal": true}));
    conn.close();
}

struct TtsLog {
    bos: Value,
    uri: String,
    key: String,
    greeting: Vec<String>,
    answer_first: String,
    answer_chunks_sent: usize,
    answer_socket_dropped: bool,
    reply: Vec<String>,
}

/// Window classes of the outbound recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum W {
    Silence,
    Greeting,
    Answer,
    Reply,
    Other,
}

fn classify(window: &[i16]) -> W {
    let peak = window
        .iter()
        .map(|s| i32::from(*s).abs())
        .max()
        .unwrap_or(0);
    match peak {
        0..=200 => W::Silence,
        2000..=4500 => W::Greeting,
        7000..=11500 => W::Answer,
        16000..=24000 => W::Reply,
        _ => W::Other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_call_through_the_emulator_turn_tool_call_and_barge_in_recorded() {
    let emu = Emulator::start_with(Config::default().with_realtime(true))
        .await
        .unwrap();
    let mut deepgram = FakeWs::start().await;
    let mut elevenlabs = FakeWs::start().await;
    let tool_turn = Reply::data(&[
        chunk(json!({"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"check_order","arguments":""}}]}), None),
        chunk(json!({"tool_calls":[{"index":0,"function":{"arguments":"{\"order_id\":\"A-1\"}"}}]}), None),
        chunk(json!({}), Some("tool_calls")),
    ])
    .done();
    let mut llm = FakeHttp::start(vec![
        text_reply(&["안녕하세요.", " 클로옵스입니다."]),
        tool_turn,
        text_reply(&[
            "주문하신 상품은 배송 완료되었습니다.",
            " 더 궁금한 점이 있으신가요?",
        ]),
        text_reply(&["네, 말씀하세요."]),
    ])
    .await;

    let pipeline = Pipeline::builder(
        DeepgramStt::builder()
            .api_key("dg-key")
            .base_url(&deepgram.url)
            .build(),
        OpenAiCompatibleLlm::openai()
            .api_key("sk-llm")
            .base_url(format!("{}/v1", llm.base_url))
            .build(),
        ElevenLabsTts::builder()
            .api_key("el-key")
            .base_url(&elevenlabs.url)
            .build(),
    )
    .system_prompt(SYSTEM)
    .build();
    let mut tools = ToolRegistry::new();
    tools
        .register("check_order", |a: CheckOrder| async move {
            Ok::<_, std::convert::Infallible>(format!("order {} shipped", a.order_id))
        })
        .unwrap();
    let rec_dir = tempfile::tempdir().unwrap();
    let log = EventLog::default();
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(pipeline)
        .tools(tools)
        .recording(true, rec_dir.path())
        .build()
        .unwrap();
    agent.connect().await.unwrap();

    // The fake ElevenLabs: greeting, the paced answer (until the client drops it), the reply.
    let (paced_tx, mut paced) = watch::channel(0usize);
    let tts = tokio::spawn(async move {
        let mut c1 = elevenlabs.conn().await;
        let bos = c1.json().await;
        let greeting = sentences(&mut c1).await;
        speak_all(&c1, 5, GREETING_AMP);

        let mut c2 = elevenlabs.conn().await;
        c2.json().await; // BOS
        let answer_first = c2.json().await["text"].as_str().unwrap().to_owned();
        let mut sent = 0;
        let mut dropped = false;
        while sent < ANSWER_CHUNKS {
            while let Ok(seen) = c2.seen.try_recv() {
                if matches!(seen, WsSeen::Close | WsSeen::Ended) {
                    dropped = true;
                }
            }
            if dropped {
                break;
            }
            c2.send(json!({"audio": audio_chunk(ANSWER_AMP), "isFinal": null}));
            sent += 1;
            paced_tx.send_replace(sent);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !dropped {
            c2.wait_gone().await;
        }

        let mut c3 = elevenlabs.conn().await;
        c3.json().await;
        let reply = sentences(&mut c3).await;
        speak_all(&c3, 3, REPLY_AMP);
        TtsLog {
            bos,
            uri: c1.uri.clone(),
            key: c1.headers["xi-api-key"].clone(),
            greeting,
            answer_first,
            answer_chunks_sent: sent,
            answer_socket_dropped: dropped,
            reply,
        }
    });

    let call_id = inbound(
        &emu,
        NUMBER,
        json!({"audio": "silence", "seconds": 30, "maxSeconds": 60}),
    )
    .await;

    // Deepgram: the session's STT connection; caller audio arrives as 640-byte frames.
    let WsConn {
        uri: dg_uri,
        headers: dg_headers,
        seen: mut dg_seen,
        push: dg_push,
    } = deepgram.conn().await;
    assert_eq!(
        dg_uri,
        "/v1/listen?model=nova-3&language=ko&sample_rate=16000&encoding=linear16&channels=1&punctuate=true&interim_results=true&endpointing=300&utterance_end_ms=1000"
    );
    assert_eq!(dg_headers["authorization"], "Token dg-key");
    let (frames_tx, frames) = watch::channel((0usize, true));
    tokio::spawn(async move {
        let (mut n, mut all_640) = (0, true);
        while let Some(seen) = dg_seen.recv().await {
            if let WsSeen::Binary(b) = seen {
                n += 1;
                all_640 &= b.len() == 640 || b.is_empty();
                frames_tx.send_replace((n, all_640));
            }
        }
    });
    let say = |v: Value| {
        dg_push
            .send(provider_common::WsPush::Text(v.to_string()))
            .unwrap()
    };
    let result = |t: &str, is_final: bool| {
        json!({"type":"Results","is_final":is_final,"speech_final":is_final,
            "channel":{"alternatives":[{"transcript":t,"confidence":0.99}]}})
    };

    // Turn 1: the greeting.
    let req = llm.request().await;
    assert_eq!(req.uri, "/v1/chat/completions");
    assert_eq!(req.headers["authorization"], "Bearer sk-llm");
    assert_eq!(
        req.body["messages"],
        json!([{"role":"system","content":SYSTEM},{"role":"user","content":"[통화 시작]"}])
    );
    let names: Vec<&str> = req.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "check_order",
            "hang_up",
            "collect_dtmf",
            "send_dtmf",
            "transfer_call"
        ]
    );
    eventually(10, "greeting transcript", || {
        log.of(&call_id)
            .contains(&"transcript:assistant:안녕하세요. 클로옵스입니다.".to_owned())
    })
    .await;

    // Turn 2: the caller asks; the model calls the tool, then answers (paced, long).
    say(result("주문", false));
    say(result("주문 A-1 확인해 주세요", true));
    let req = llm.request().await;
    assert_eq!(
        req.body["messages"].as_array().unwrap()[2..],
        json!([{"role":"assistant","content":"안녕하세요. 클로옵스입니다."},
            {"role":"user","content":"주문 A-1 확인해 주세요"}])
        .as_array()
        .unwrap()[..]
    );
    let req = llm.request().await;
    assert_eq!(
        req.body["messages"].as_array().unwrap()[4..],
        json!([{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"check_order","arguments":"{\"order_id\":\"A-1\"}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"order A-1 shipped"}])
        .as_array()
        .unwrap()[..]
    );

    // Barge-in 1 s into the answer.
    tokio::time::timeout(
        Duration::from_secs(10),
        paced.wait_for(|n| *n >= BARGE_IN_AFTER),
    )
    .await
    .expect("answer audio streaming")
    .unwrap();
    say(result("잠깐만요", false));
    say(result("잠깐만요, 다른 질문이요", true));
    let req = llm.request().await;
    let messages = req.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 7, "{messages:?}");
    // The interrupted answer is not in the history: the tool result is followed by the caller.
    assert_eq!(messages[5]["role"], "tool");
    assert_eq!(
        messages[6],
        json!({"role":"user","content":"잠깐만요, 다른 질문이요"})
    );
    eventually(10, "reply transcript", || {
        log.of(&call_id)
            .contains(&"transcript:assistant:네, 말씀하세요.".to_owned())
    })
    .await;
    let tts = tts.await.unwrap();
    assert_eq!(
        tts.uri,
        "/v1/text-to-speech/EXAVITQu4vr4xnSDxMaL/stream-input?model_id=eleven_flash_v2_5&output_format=pcm_24000"
    );
    assert_eq!(tts.key, "el-key");
    assert_eq!(tts.bos["xi_api_key"], "el-key");
    assert_eq!(tts.greeting, ["안녕하세요.", " 클로옵스입니다."]);
    assert_eq!(tts.answer_first, "주문하신 상품은 배송 완료되었습니다.");
    assert_eq!(tts.reply, ["네, 말씀하세요."]);
    assert!(tts.answer_socket_dropped, "barge-in dropped the TTS socket");
    assert!(
        tts.answer_chunks_sent < ANSWER_CHUNKS,
        "{}",
        tts.answer_chunks_sent
    );

    // End the call and check what the server saw.
    let (status, _) = post(
        &emu,
        &format!("/_emulator/calls/{call_id}/hangup"),
        json!({}),
    )
    .await;
    assert!(status < 300, "{status}");
    eventually(10, "call_end", || {
        log.of(&call_id).last().map(String::as_str) == Some("call_end")
    })
    .await;
    let view = get(&emu, &format!("/_emulator/calls/{call_id}")).await;
    // Two clears: the caller's first interim after the greeting (its audio may still play)
    // and the barge-in into the answer.
    assert_eq!(view["clears"], 2, "{view}");
    let (n, all_640) = *frames.borrow();
    assert!(n >= 50, "caller audio reached Deepgram ({n} frames)");
    assert!(all_640, "every Deepgram frame is 640 bytes");
    let user_lines: Vec<String> = log
        .of(&call_id)
        .into_iter()
        .filter(|e| e.starts_with("transcript:"))
        .collect();
    assert_eq!(
        user_lines,
        [
            "transcript:assistant:안녕하세요. 클로옵스입니다.",
            "transcript:user:주문 A-1 확인해 주세요",
            "transcript:user:잠깐만요, 다른 질문이요",
            "transcript:assistant:네, 말씀하세요.",
        ]
    );

    // The recording: greeting, the answer cut at the barge-in, silence, the reply.
    let path = rec_dir.path().join(format!("{call_id}_out.wav"));
    let mut reader =
        hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(reader.spec().sample_rate, 8000);
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let windows: Vec<W> = samples.chunks(160).map(classify).collect();
    let mut segments: Vec<(W, usize, usize)> = Vec::new(); // (class, first window, count)
    for (i, w) in windows.iter().enumerate() {
        if matches!(w, W::Silence | W::Other) {
            continue;
        }
        match segments.last_mut() {
            Some((c, start, n)) if c == w && *start + *n + 2 >= i => *n = i + 1 - *start,
            _ => segments.push((*w, i, 1)),
        }
    }
    let classes: Vec<W> = segments.iter().map(|s| s.0).collect();
    assert_eq!(classes, [W::Greeting, W::Answer, W::Reply], "{segments:?}");
    let (_, answer_start, answer_len) = segments[1];
    let (_, reply_start, _) = segments[2];
    let answer_ms = answer_len * 20;
    eprintln!(
        "segments {segments:?}; TTS sent {} chunks; windows {}",
        tts.answer_chunks_sent,
        windows.len()
    );
    let sent_ms = tts.answer_chunks_sent * 100;
    // The answer stops where the barge-in happened: never longer than what the fake TTS sent
    // before the socket went away (4 s were scripted), at least what preceded the barge-in.
    assert!(
        answer_ms + 100 >= BARGE_IN_AFTER * 100 && answer_ms <= sent_ms + 100,
        "answer {answer_ms} ms, TTS sent {sent_ms} ms"
    );
    assert!(answer_ms < ANSWER_CHUNKS * 100 / 2, "answer {answer_ms} ms");
    // After the cut: silence (≥ 300 ms: the 0.5 s turn debounce) until the reply.
    let gap = &windows[answer_start + answer_len..reply_start];
    assert!(gap.len() >= 15, "gap {} windows", gap.len());
    assert!(
        gap.iter().skip(2).all(|w| *w == W::Silence),
        "silence after the barge-in: {gap:?}"
    );

    agent.disconnect().await;
    emu.shutdown().await;
}
