//! Socket-level fuzz drivers for the provider parsers that have no public parse function
//! (issue 12, second batch), shared by `tests/fuzz_providers.rs` (bounded CI run) and
//! `benches/fuzz.rs` (long run): Gemini Live frames, Deepgram STT frames, ElevenLabs TTS
//! frames and the SSE streams of the three LLM wire protocols. Each driver starts a fake
//! provider server on loopback speaking the real wire protocol, feeds the provider's public
//! surface (`GeminiLiveSession::start`, `Stt::transcribe`, `Tts::synthesize`,
//! `Llm::generate`) hostile mutations of real frames (see `tests/fuzz_common/mod.rs`) in
//! batches, and after every batch sends a **sentinel** that only a live receive loop answers
//! (a transcript, a final, exact audio bytes, exact text). A panic in a provider's reader task
//! ends that task, so the sentinel is lost and the driver fails.
//!
//! MCP results are fuzzed in `tests/fuzz_providers.rs` only (they need the agent and the
//! emulator).
#![allow(dead_code, unused_imports)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::fuzz_common::{Op, apply};

/// What a driver counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Hostile inputs delivered.
    pub inputs: u64,
    /// Inputs that ended in a value (LLM: the stream ended without an error item).
    pub values: u64,
    /// Inputs that ended in a typed error (LLM: an `Err` item of the stream).
    pub errors: u64,
    /// Sentinels answered (one per batch).
    pub sentinels: u64,
}

/// `n` hostile mutations (1–4 steps each) of `seeds`, reproducible from `seed`.
pub fn inputs(seeds: &[Vec<u8>], n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|_| {
            let ops: Vec<Op> = (0..rng.usize(1..5)).map(|_| Op::random(&mut rng)).collect();
            apply(&seeds[rng.usize(..seeds.len())], &ops)
        })
        .collect()
}

fn bytes_of(values: &[Value]) -> Vec<Vec<u8>> {
    values.iter().map(|v| v.to_string().into_bytes()).collect()
}

/// A text frame as the peer would send it (WebSocket text is UTF-8: invalid bytes become U+FFFD).
pub fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

/// Sentinel audio (PCM16 LE bytes, distinctive).
pub fn pattern() -> Vec<u8> {
    (0..320u32).map(|i| (i * 7 % 251) as u8).collect()
}

const WAIT: Duration = Duration::from_secs(10);

// ----- a WebSocket provider server --------------------------------------------------------------

enum Out {
    Text(String),
    Binary(Vec<u8>),
}

/// Accepts WebSocket clients on loopback; the live connection sends what the driver queues.
/// `setup_reply`: sent after the client's first frame (Gemini's `setupComplete`).
struct WsServer {
    addr: String,
    tx: mpsc::UnboundedSender<Out>,
    accept: tokio::task::JoinHandle<()>,
}

impl WsServer {
    async fn start(setup_reply: Option<&'static str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (tx, rx) = mpsc::unbounded_channel::<Out>();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let rx = Arc::clone(&rx);
                tokio::spawn(async move {
                    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    let (mut sink, mut stream) = ws.split();
                    if let Some(reply) = setup_reply {
                        // Gemini: the first client frame is `setup`.
                        if !matches!(stream.next().await, Some(Ok(_))) {
                            return;
                        }
                        if sink
                            .send(Message::binary(reply.as_bytes().to_vec()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    // One live connection at a time owns the queue.
                    let mut rx = rx.lock().await;
                    loop {
                        tokio::select! {
                            out = rx.recv() => {
                                let msg = match out {
                                    Some(Out::Text(t)) => Message::text(t),
                                    Some(Out::Binary(b)) => Message::binary(b),
                                    None => return,
                                };
                                if sink.send(msg).await.is_err() {
                                    return;
                                }
                            }
                            msg = stream.next() => match msg {
                                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                                Some(Ok(_)) => {}
                            },
                        }
                    }
                });
            }
        });
        Self { addr, tx, accept }
    }

    fn send_text(&self, t: String) {
        let _ = self.tx.send(Out::Text(t));
    }

    fn send_binary(&self, b: Vec<u8>) {
        let _ = self.tx.send(Out::Binary(b));
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

// ----- Gemini Live ------------------------------------------------------------------------------

/// Real server messages of the Live API (from tests/gemini_live.rs and the session's reader).
#[cfg(feature = "gemini")]
pub fn gemini_seeds() -> Vec<Vec<u8>> {
    let pcm = B64.encode([0x10u8, 0x00, 0xf0, 0xff].repeat(240));
    bytes_of(&[
        json!({"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": pcm}}]}}}),
        json!({"serverContent": {"modelTurn": {"parts": [{"text": "생각 중"}, {"inlineData": {"mimeType": "audio/pcm", "data": pcm}}]}}}),
        json!({"serverContent": {"inputTranscription": {"text": "주문 확인해 주세요"}}}),
        json!({"serverContent": {"outputTranscription": {"text": "네, 확인해 드리겠습니다."}}}),
        json!({"serverContent": {"generationComplete": true}}),
        json!({"serverContent": {"turnComplete": true}}),
        json!({"serverContent": {"interrupted": true}}),
        json!({"toolCall": {"functionCalls": [{"id": "fc_1", "name": "check_order", "args": {"order_id": "A-1"}}]}}),
        json!({"toolCall": {"functionCalls": [{"name": "save_note", "args": {"note": "x"}}]}}),
        json!({"toolCallCancellation": {"ids": ["fc_1"]}}),
        json!({"sessionResumptionUpdate": {"newHandle": "h-2", "resumable": true}}),
        json!({"usageMetadata": {"promptTokenCount": 10, "responseTokenCount": 5, "totalTokenCount": 15}}),
        json!({"setupComplete": {}}),
    ])
}

/// Feeds `frames` (binary, like Google's server) to a started `GeminiLiveSession`, `batch` at
/// a time, each batch followed by a transcript + `turnComplete` sentinel that must reach the
/// call. Frames with `goAway` are skipped (a valid one legitimately reconnects).
#[cfg(feature = "gemini")]
pub async fn gemini(frames: &[Vec<u8>], batch: usize) -> Result<Tally, String> {
    use clawops::agent::{CallHandle, Role, Session, SessionEvent};
    use clawops::providers::gemini::GeminiRealtime;
    let server = WsServer::start(Some(r#"{"setupComplete":{}}"#)).await;
    let session = GeminiRealtime::builder()
        .api_key("AIza-fuzz")
        .base_url(format!("http://{}", server.addr))
        .system_prompt("fuzz")
        .greeting(false)
        .reconnect_backoff(Duration::from_millis(20))
        .build()
        .map_err(|e| e.to_string())?
        .session();
    let call = FakeCall::new("CAfuzz");
    let handle: CallHandle = call.clone();
    tokio::time::timeout(WAIT, session.start(handle))
        .await
        .map_err(|_| "Gemini session did not start".to_owned())?
        .map_err(|e| format!("Gemini session failed to start: {e}"))?;
    let mut tally = Tally::default();
    let frames: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| !String::from_utf8_lossy(f).contains("goAway"))
        .collect();
    let mut result = Ok(());
    for (b, chunk) in frames.chunks(batch.max(1)).enumerate() {
        for f in chunk {
            server.send_binary(f.to_vec());
        }
        tally.inputs += chunk.len() as u64;
        let marker = format!("sentinel-{b}");
        server.send_binary(
            json!({"serverContent": {"outputTranscription": {"text": marker}, "turnComplete": true}})
                .to_string()
                .into_bytes(),
        );
        let seen = call
            .until(|c| {
                c.events.lock().unwrap().iter().any(|e| {
                    matches!(e, SessionEvent::Transcript { role: Role::Assistant, text } if text.contains(&marker))
                })
            })
            .await;
        if !seen {
            result = Err(format!(
                "Gemini: the receive loop died in batch {b} (after {} frames)",
                tally.inputs
            ));
            break;
        }
        tally.sentinels += 1;
        call.events.lock().unwrap().clear();
        call.audio.lock().unwrap().clear();
    }
    session.stop().await;
    result.map(|()| tally)
}

// ----- Deepgram -----------------------------------------------------------------------------------

/// Real Deepgram messages (tests/provider_deepgram.rs).
#[cfg(feature = "deepgram")]
pub fn deepgram_seeds() -> Vec<Vec<u8>> {
    let results = |t: &str, f: bool, s: bool| {
        json!({"type":"Results","channel_index":[0,1],"duration":0.5,"start":0.0,
            "is_final":f,"speech_final":s,
            "channel":{"alternatives":[{"transcript":t,"confidence":0.98,"words":[]}]},
            "metadata":{"request_id":"r1"}})
    };
    bytes_of(&[
        results("안녕", false, false),
        results("안녕하세요", true, false),
        results("주문 확인", true, true),
        results("", true, true),
        json!({"type":"Metadata","request_id":"r1"}),
        json!({"type":"SpeechStarted","channel":[0],"timestamp":1.2}),
        json!({"type":"UtteranceEnd","channel":[0,1],"last_word_end":3.1}),
    ])
}

/// Feeds `frames` (text) to `DeepgramStt::transcribe`; each batch ends with a final `Results`
/// whose transcript must come out as a `Final`.
#[cfg(feature = "deepgram")]
pub async fn deepgram(frames: &[Vec<u8>], batch: usize) -> Result<Tally, String> {
    use clawops::providers::deepgram::DeepgramStt;
    use clawops::providers::pipeline::{SpeechEvent, Stt};
    let server = WsServer::start(None).await;
    let stt = DeepgramStt::builder()
        .api_key("dg-fuzz")
        .base_url(format!("ws://{}", server.addr))
        .keep_alive(None)
        .build();
    let events = tokio::time::timeout(WAIT, stt.transcribe(futures::stream::pending().boxed()))
        .await
        .map_err(|_| "Deepgram did not connect".to_owned())?
        .map_err(|e| format!("Deepgram failed to connect: {e}"))?;
    let mut events = drain(events);
    let mut tally = Tally::default();
    for (b, chunk) in frames.chunks(batch.max(1)).enumerate() {
        for f in chunk {
            server.send_text(text(f));
        }
        tally.inputs += chunk.len() as u64;
        let marker = format!("sentinel-{b}");
        server.send_text(
            json!({"type":"Results","is_final":true,"speech_final":true,
                "channel":{"alternatives":[{"transcript":marker}]}})
            .to_string(),
        );
        let found = tokio::time::timeout(WAIT, async {
            loop {
                match events.recv().await {
                    Some(Ok(SpeechEvent::Final(t))) if t.contains(&marker) => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("stream error: {e}")),
                    None => return Err("stream ended".to_owned()),
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err("no final".to_owned()));
        found.map_err(|e| format!("Deepgram: {e} in batch {b} (after {} frames)", tally.inputs))?;
        tally.sentinels += 1;
    }
    Ok(tally)
}

// ----- ElevenLabs ---------------------------------------------------------------------------------

/// Real ElevenLabs `stream-input` messages (tests/provider_elevenlabs.rs).
#[cfg(feature = "elevenlabs")]
pub fn elevenlabs_seeds() -> Vec<Vec<u8>> {
    let pcm = B64.encode([1u8, 2, 3, 4].repeat(60));
    bytes_of(&[
        json!({"audio": pcm, "isFinal": null, "normalizedAlignment": {"chars": ["안"], "charStartTimesMs": [0], "charsDurationsMs": [100]}}),
        json!({"audio": null, "isFinal": false}),
        json!({"audio": pcm}),
        json!({"audio": "", "isFinal": true}),
        json!({"error": "quota_exceeded", "message": "x"}),
    ])
}

/// Feeds `frames` (text) to `ElevenLabsTts::synthesize`; each batch ends with audio whose exact
/// bytes must come out of the stream.
#[cfg(feature = "elevenlabs")]
pub async fn elevenlabs(frames: &[Vec<u8>], batch: usize) -> Result<Tally, String> {
    use clawops::providers::elevenlabs::ElevenLabsTts;
    use clawops::providers::pipeline::Tts;
    let server = WsServer::start(None).await;
    let tts = ElevenLabsTts::builder()
        .api_key("el-fuzz")
        .base_url(format!("ws://{}", server.addr))
        .build();
    let audio = tokio::time::timeout(WAIT, tts.synthesize(futures::stream::pending().boxed()))
        .await
        .map_err(|_| "ElevenLabs did not connect".to_owned())?
        .map_err(|e| format!("ElevenLabs failed to connect: {e}"))?;
    let mut audio = drain(audio);
    let mut tally = Tally::default();
    let want = pattern();
    for (b, chunk) in frames.chunks(batch.max(1)).enumerate() {
        for f in chunk {
            server.send_text(text(f));
        }
        tally.inputs += chunk.len() as u64;
        server.send_text(json!({"audio": B64.encode(&want), "isFinal": false}).to_string());
        let found = tokio::time::timeout(WAIT, async {
            loop {
                match audio.recv().await {
                    Some(Ok(pcm)) if pcm.as_ref() == want.as_slice() => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("stream error: {e}")),
                    None => return Err("stream ended".to_owned()),
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err("no sentinel audio".to_owned()));
        found.map_err(|e| {
            format!(
                "ElevenLabs: {e} in batch {b} (after {} frames)",
                tally.inputs
            )
        })?;
        tally.sentinels += 1;
    }
    Ok(tally)
}

// ----- LLM SSE streams ----------------------------------------------------------------------------

/// The three SSE wire protocols of `clawops::providers::llm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sse {
    /// OpenAI chat completions (and the compatible presets).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini `streamGenerateContent?alt=sse`.
    Gemini,
}

impl Sse {
    /// Report name.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "sse.openai_compatible",
            Self::Anthropic => "sse.anthropic",
            Self::Gemini => "sse.gemini",
        }
    }

    /// Real streams (tests/provider_llm.rs), each a JSON array of `[event name or null, data]`
    /// (data is JSON, or a string written raw like `[DONE]`).
    pub fn seeds(self) -> Vec<Vec<u8>> {
        let streams: Vec<Value> = match self {
            Self::OpenAi => {
                let chunk = |delta: Value, finish: Option<&str>| {
                    json!([null, {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",
                        "choices":[{"index":0,"delta":delta,"finish_reason":finish}]}])
                };
                vec![
                    json!([
                        chunk(json!({"role":"assistant","content":""}), None),
                        chunk(json!({"content":"확인"}), None),
                        chunk(json!({"tool_calls":[{"index":0,"id":"call_x","type":"function","function":{"name":"lookup","arguments":""}}]}), None),
                        chunk(json!({"tool_calls":[{"index":0,"function":{"arguments":"{\"order_id\":"}}]}), None),
                        chunk(json!({"tool_calls":[{"index":0,"function":{"arguments":"\"1\"}"}}]}), None),
                        chunk(json!({}), Some("tool_calls")),
                        [null, {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}],
                        [null, "[DONE]"]
                    ]),
                    json!([
                        chunk(json!({"content":"배송 "}), None),
                        chunk(json!({"content":"완료입니다."}), None),
                        chunk(json!({}), Some("stop")),
                        [null, "[DONE]"]
                    ]),
                    json!([[null, {"error":{"message":"overloaded","type":"server_error"}}]]),
                ]
            }
            Self::Anthropic => vec![
                json!([
                    ["message_start", {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-6","stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}}}],
                    ["content_block_start", {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}],
                    ["ping", {"type":"ping"}],
                    ["content_block_delta", {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"확인해 "}}],
                    ["content_block_stop", {"type":"content_block_stop","index":0}],
                    ["content_block_start", {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01A","name":"lookup","input":{}}}],
                    ["content_block_delta", {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"order_id\": "}}],
                    ["content_block_delta", {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"1\"}"}}],
                    ["content_block_stop", {"type":"content_block_stop","index":1}],
                    ["message_delta", {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}}],
                    ["message_stop", {"type":"message_stop"}]
                ]),
                json!([
                    ["content_block_start", {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}],
                    ["content_block_delta", {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"배송 완료입니다."}}],
                    ["content_block_stop", {"type":"content_block_stop","index":0}],
                    ["message_stop", {"type":"message_stop"}]
                ]),
                json!([["error", {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}]]),
            ],
            Self::Gemini => vec![
                json!([
                    [null, {"candidates":[{"content":{"parts":[{"text":"확인해 볼게요."}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash"}],
                    [null, {"candidates":[{"content":{"parts":[{"functionCall":{"name":"lookup","args":{"order_id":"1"}}}],"role":"model"},"finishReason":"STOP","index":0}],
                        "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15}}]
                ]),
                json!([
                    [null, {"usageMetadata":{"promptTokenCount":1}}],
                    [null, {"candidates":[{"content":{"parts":[{"text":"배송 "},{"text":"완료입니다."}],"role":"model"},"index":0}]}],
                    [null, {"candidates":[{"finishReason":"STOP","index":0}]}]
                ]),
            ],
        };
        bytes_of(&streams)
    }

    /// A valid stream whose text is exactly `text`.
    fn sentinel(self, text: &str) -> Vec<u8> {
        let events = match self {
            Self::OpenAi => json!([
                [null, {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":text},"finish_reason":null}]}],
                [null, {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}],
                [null, "[DONE]"]
            ]),
            Self::Anthropic => json!([
                ["content_block_start", {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}],
                ["content_block_delta", {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}}],
                ["content_block_stop", {"type":"content_block_stop","index":0}],
                ["message_stop", {"type":"message_stop"}]
            ]),
            Self::Gemini => json!([
                [null, {"candidates":[{"content":{"parts":[{"text":text}],"role":"model"},"index":0}]}],
                [null, {"candidates":[{"finishReason":"STOP","index":0}]}]
            ]),
        };
        sse_body(events.to_string().as_bytes())
    }
}

/// Writes a (mutated) stream document as an SSE body: a JSON array of `[name, data]` pairs
/// becomes one event each; anything else (broken JSON, other shapes) is sent as raw `data:`.
pub fn sse_body(doc: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let event = |out: &mut Vec<u8>, name: Option<&str>, data: &[u8]| {
        if let Some(n) = name {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(n.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\n\n");
    };
    match serde_json::from_slice::<Value>(doc) {
        Ok(Value::Array(items)) => {
            for item in items {
                match &item {
                    Value::Array(pair) if pair.len() == 2 => {
                        let data = match &pair[1] {
                            Value::String(s) => s.clone().into_bytes(),
                            other => other.to_string().into_bytes(),
                        };
                        event(&mut out, pair[0].as_str(), &data);
                    }
                    other => event(&mut out, None, other.to_string().as_bytes()),
                }
            }
        }
        _ => event(&mut out, None, doc),
    }
    out
}

/// The SSE body of input `i`: mostly the mutated event list; every 4th input is a valid
/// stream written out and then mutated as raw bytes (SSE framing: truncation, stray bytes).
pub fn sse_input(kind: Sse, i: usize, input: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    if i % 4 == 3 {
        let seeds = kind.seeds();
        let body = sse_body(&seeds[rng.usize(..seeds.len())]);
        let ops: Vec<Op> = (0..rng.usize(1..4))
            .map(|_| match rng.u8(0..3) {
                0 => Op::Truncate(rng.u16(..)),
                1 => Op::FlipByte(rng.u32(..), rng.u8(1..)),
                _ => Op::Insert(rng.u32(..), rng.u8(..)),
            })
            .collect();
        apply(&body, &ops)
    } else {
        sse_body(input)
    }
}

/// A plain HTTP/1.1 server answering each request with the next queued SSE body
/// (`Connection: close`, exact `Content-Length`).
struct SseServer {
    base_url: String,
    queue: Arc<Mutex<VecDeque<Vec<u8>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl SseServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let queue: Arc<Mutex<VecDeque<Vec<u8>>>> = Arc::default();
        let q = Arc::clone(&queue);
        let accept = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let q = Arc::clone(&q);
                tokio::spawn(async move {
                    // Read the request head and its body (Content-Length).
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let head_end = loop {
                        let Ok(n) = tcp.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = q.lock().unwrap().pop_front().unwrap_or_default();
                    let mut resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    resp.extend_from_slice(&body);
                    let _ = tcp.write_all(&resp).await;
                    let _ = tcp.shutdown().await;
                });
            }
        });
        Self {
            base_url,
            queue,
            accept,
        }
    }
}

impl Drop for SseServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Runs `Llm::generate` of `kind` once per input (each input one HTTP response), checking the
/// stream ends (a value or a typed `Err` item; never a hang); after every `batch` a valid
/// stream must give exactly its text.
#[cfg(any(
    feature = "openai-compatible",
    feature = "anthropic",
    feature = "gemini"
))]
pub async fn sse(kind: Sse, docs: &[Vec<u8>], batch: usize, seed: u64) -> Result<Tally, String> {
    use clawops::providers::pipeline::{ChatMessage, Llm, LlmEvent};
    let server = SseServer::start().await;
    let llm: Box<dyn Llm> = match kind {
        #[cfg(feature = "openai-compatible")]
        Sse::OpenAi => Box::new(
            clawops::providers::llm::OpenAiCompatibleLlm::builder(
                format!("{}/v1", server.base_url),
                "gpt-fuzz",
                "sk-fuzz",
            )
            .build(),
        ),
        #[cfg(feature = "anthropic")]
        Sse::Anthropic => Box::new(
            clawops::providers::llm::AnthropicLlm::builder()
                .api_key("sk-ant-fuzz")
                .base_url(&server.base_url)
                .build(),
        ),
        #[cfg(feature = "gemini")]
        Sse::Gemini => Box::new(
            clawops::providers::llm::GeminiLlm::builder()
                .api_key("g-fuzz")
                .base_url(&server.base_url)
                .build(),
        ),
        #[allow(unreachable_patterns)]
        other => return Err(format!("{other:?}: feature off")),
    };
    let messages = [ChatMessage::user("hi")];
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally = Tally::default();
    let run = |body: Vec<u8>| {
        server.queue.lock().unwrap().push_back(body);
        let llm = &llm;
        let messages = &messages;
        async move {
            tokio::time::timeout(WAIT, async {
                let mut stream = llm.generate(messages, &[]).await?;
                let mut text = String::new();
                while let Some(item) = stream.next().await {
                    if let LlmEvent::Text(t) = item? {
                        text.push_str(&t);
                    }
                }
                Ok::<_, clawops::providers::pipeline::ProviderError>(text)
            })
            .await
        }
    };
    for (b, chunk) in docs.chunks(batch.max(1)).enumerate() {
        for (j, doc) in chunk.iter().enumerate() {
            let body = sse_input(kind, b * batch + j, doc, &mut rng);
            match run(body.clone()).await {
                Ok(Ok(_)) => tally.values += 1,
                Ok(Err(_)) => tally.errors += 1,
                Err(_) => {
                    return Err(format!(
                        "{}: stream did not end within {WAIT:?}; body: {}",
                        kind.name(),
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
            tally.inputs += 1;
        }
        let marker = format!("sentinel-{b} 확인.");
        match run(kind.sentinel(&marker)).await {
            Ok(Ok(t)) if t == marker => tally.sentinels += 1,
            other => {
                return Err(format!(
                    "{}: sentinel after batch {b} gave {other:?}",
                    kind.name()
                ));
            }
        }
    }
    Ok(tally)
}

// ----- helpers --------------------------------------------------------------------------------------

/// Collects a stream into a channel from an owned task (aborted when the receiver's owner
/// drops the returned handle's guard at the end of the driver).
fn drain<T: Send + 'static>(
    mut s: futures::stream::BoxStream<'static, T>,
) -> mpsc::UnboundedReceiver<T> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = s.next().await {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    rx
}

/// A call that records what a realtime session did to it.
#[derive(Default)]
pub struct FakeCall {
    id: String,
    /// Audio sent to the caller.
    pub audio: Mutex<Vec<bytes::Bytes>>,
    /// Session events.
    pub events: Mutex<Vec<clawops::agent::SessionEvent>>,
}

impl FakeCall {
    /// A fake call with id `id`.
    pub fn new(id: &str) -> Arc<Self> {
        Arc::new(Self {
            id: id.into(),
            ..Default::default()
        })
    }

    /// Polls `f` for up to 10 s.
    pub async fn until(&self, f: impl Fn(&Self) -> bool) -> bool {
        for _ in 0..1000 {
            if f(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

#[async_trait::async_trait]
impl clawops::agent::CallControl for FakeCall {
    fn call_id(&self) -> &str {
        &self.id
    }
    fn send_audio(&self, ulaw: bytes::Bytes) {
        self.audio.lock().unwrap().push(ulaw);
    }
    fn clear_audio(&self) {}
    async fn hangup(&self) {}
    fn emit(&self, event: clawops::agent::SessionEvent) {
        self.events.lock().unwrap().push(event);
    }
    fn record_turn(&self) {}
    fn record_tool_call(&self) {}
    fn record_tool_error(&self, _tool: &str, _message: &str) {}
    async fn collect_dtmf(
        &self,
        _options: clawops::agent::CollectOptions,
    ) -> Result<clawops::agent::DtmfInput, clawops::agent::AgentError> {
        Ok(clawops::agent::DtmfInput::new("1"))
    }
    async fn send_dtmf(
        &self,
        _digits: clawops::agent::DtmfSequence,
    ) -> Result<(), clawops::agent::AgentError> {
        Ok(())
    }
    fn start_transfer(
        &self,
        _options: clawops::agent::TransferOptions,
    ) -> Result<(), clawops::agent::AgentError> {
        Ok(())
    }
}
