//! SIMULATION — an OpenAI Realtime (GA protocol) compatible WebSocket at `/v1/realtime`.
//!
//! This is **not** OpenAI and runs no model. It follows a fixed, deterministic script so that real
//! session code (e.g. an OpenAI Realtime session pointed at the emulator with
//! `OPENAI_BASE_URL=http://127.0.0.1:PORT/v1`) can be exercised end to end with no network:
//!
//! 1. `session.created` on connect; `session.update` is answered with `session.updated`.
//! 2. `response.create` → a spoken answer: generated μ-law audio (`response.output_audio.delta`
//!    in 160-byte-multiple chunks), `response.output_audio.done`, the transcript, `response.done`.
//! 3. Caller audio (`input_audio_buffer.append`, `audio/pcmu`) runs through an energy VAD: speech
//!    → `input_audio_buffer.speech_started`; 300 ms of silence after it → `speech_stopped`,
//!    `committed`, a fixed user transcript, then a response that calls the scripted tool
//!    (`response.output_item.done` with a `function_call`) when the session declared one, else a
//!    spoken answer.
//! 4. A `function_call_output` followed by `response.create` → a spoken answer.
//!
//! The tool is the first non-builtin tool of the session (builtins: `hang_up`, `collect_dtmf`,
//! `send_dtmf`, `transfer_call`); its arguments are `{}`.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::audio::{CallerAudio, ulaw_to_linear};
use crate::error::ApiError;
use crate::state::Shared;

const BUILTINS: &[&str] = &["hang_up", "collect_dtmf", "send_dtmf", "transfer_call"];
/// Mean absolute amplitude above which a 20 ms frame counts as speech.
const SPEECH_LEVEL: i64 = 500;
/// Silent frames after speech that end a caller turn (300 ms).
const END_OF_SPEECH_FRAMES: u32 = 15;
/// What the simulated assistant "says" (its audio is a generated pattern).
pub const SIMULATED_REPLY: &str = "[simulated] 네, 확인해 드리겠습니다.";
/// The fixed transcript of a caller turn.
pub const SIMULATED_USER_TRANSCRIPT: &str = "[simulated] caller speech";

pub(crate) async fn connect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let authorised = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7);
    if !authorised {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "missing bearer key (simulated Realtime)",
        )
        .into_response();
    }
    ws.on_upgrade(move |socket| async move {
        let tasks = shared.tasks.clone();
        let cancel = shared.cancel.clone();
        let _ = tasks
            .spawn(async move {
                tokio::select! {
                    () = run(socket) => {}
                    () = cancel.cancelled() => {}
                }
            })
            .await;
    })
}

#[derive(Default)]
struct Sim {
    counter: u64,
    tool: Option<String>,
    speaking: bool,
    silent_frames: u32,
}

impl Sim {
    fn id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_sim{:06}", self.counter)
    }

    fn event(&mut self, mut v: Value) -> Value {
        if let Some(o) = v.as_object_mut() {
            o.insert("event_id".into(), Value::String(self.id("event")));
        }
        v
    }

    /// A full spoken answer.
    fn spoken_response(&mut self) -> Vec<Value> {
        let response_id = self.id("resp");
        let item_id = self.id("item");
        let audio = CallerAudio::Tone.render(0.6).unwrap_or_default();
        let mut out = vec![self.event(json!({"type": "response.created", "response": {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": []}}))];
        for chunk in audio.chunks(1600) {
            let delta = B64.encode(chunk);
            out.push(self.event(json!({"type": "response.output_audio.delta", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0, "delta": delta})));
        }
        out.push(self.event(json!({"type": "response.output_audio.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0})));
        out.push(self.event(json!({"type": "response.output_audio_transcript.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0, "transcript": SIMULATED_REPLY})));
        out.push(self.event(json!({"type": "response.done", "response": {"id": response_id, "object": "realtime.response", "status": "completed"}})));
        out
    }

    /// A response that only calls the scripted tool.
    fn tool_response(&mut self, name: &str) -> Vec<Value> {
        let response_id = self.id("resp");
        let item_id = self.id("item");
        let call_id = self.id("call");
        let item = json!({"id": item_id, "type": "function_call", "status": "completed", "name": name, "call_id": call_id, "arguments": "{}"});
        vec![
            self.event(json!({"type": "response.created", "response": {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": []}})),
            self.event(json!({"type": "response.function_call_arguments.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "call_id": call_id, "name": name, "arguments": "{}"})),
            self.event(json!({"type": "response.output_item.done", "response_id": response_id, "output_index": 0, "item": item})),
            self.event(json!({"type": "response.done", "response": {"id": response_id, "object": "realtime.response", "status": "completed"}})),
        ]
    }

    fn on_client(&mut self, v: &Value) -> Vec<Value> {
        match v.get("type").and_then(Value::as_str).unwrap_or_default() {
            "session.update" => {
                if let Some(tools) = v.pointer("/session/tools").and_then(Value::as_array) {
                    self.tool = tools
                        .iter()
                        .filter_map(|t| t.get("name").and_then(Value::as_str))
                        .find(|n| !BUILTINS.contains(n))
                        .map(str::to_owned);
                }
                let session = v.get("session").cloned().unwrap_or(Value::Null);
                vec![self.event(json!({"type": "session.updated", "session": session}))]
            }
            "response.create" => self.spoken_response(),
            "conversation.item.create" => {
                let item = v.get("item").cloned().unwrap_or(Value::Null);
                vec![self.event(json!({"type": "conversation.item.added", "item": item}))]
            }
            "input_audio_buffer.append" => {
                let bytes = v
                    .get("audio")
                    .and_then(Value::as_str)
                    .and_then(|a| B64.decode(a).ok())
                    .unwrap_or_default();
                self.on_audio(&bytes)
            }
            "" => vec![self.event(json!({"type": "error", "error": {"type": "invalid_request_error", "code": "missing_type", "message": "[simulated] event without type"}}))],
            _ => Vec::new(),
        }
    }

    fn on_audio(&mut self, ulaw: &[u8]) -> Vec<Value> {
        if ulaw.is_empty() {
            return Vec::new();
        }
        let level = ulaw
            .iter()
            .map(|b| i64::from(ulaw_to_linear(*b)).abs())
            .sum::<i64>()
            / ulaw.len() as i64;
        let mut out = Vec::new();
        if level >= SPEECH_LEVEL {
            self.silent_frames = 0;
            if !self.speaking {
                self.speaking = true;
                let item_id = self.id("item");
                out.push(self.event(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": item_id})));
            }
        } else if self.speaking {
            self.silent_frames += 1;
            if self.silent_frames >= END_OF_SPEECH_FRAMES {
                self.speaking = false;
                self.silent_frames = 0;
                let item_id = self.id("item");
                out.push(self.event(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 0, "item_id": item_id})));
                out.push(
                    self.event(json!({"type": "input_audio_buffer.committed", "item_id": item_id})),
                );
                out.push(self.event(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id, "content_index": 0, "transcript": SIMULATED_USER_TRANSCRIPT})));
                match self.tool.clone() {
                    Some(name) => out.extend(self.tool_response(&name)),
                    None => out.extend(self.spoken_response()),
                }
            }
        }
        out
    }
}

async fn run(socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let mut sim = Sim::default();
    let session_id = sim.id("sess");
    let created = sim.event(json!({"type": "session.created", "session": {"id": session_id, "type": "realtime", "object": "realtime.session", "model": "simulated-realtime"}}));
    if sink
        .send(WsMessage::Text(created.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(msg)) = stream.next().await {
        let WsMessage::Text(text) = msg else {
            if matches!(msg, WsMessage::Close(_)) {
                // Answer the close handshake.
                let _ = sink.close().await;
                break;
            }
            continue;
        };
        let out = match serde_json::from_str::<Value>(text.as_str()) {
            Ok(v) => sim.on_client(&v),
            Err(_) => vec![sim.event(json!({"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_json", "message": "[simulated] frame is not JSON"}}))],
        };
        for v in out {
            if sink
                .send(WsMessage::Text(v.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}
