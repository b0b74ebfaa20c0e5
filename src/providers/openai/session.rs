//! [`OpenAIRealtime`]: the per-call session over one Realtime WebSocket.

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use clawops_api::events::{CallTelemetryData, TelemetryModelInfo};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::client_events as wire;
use super::config::{Config, OpenAIRealtimeBuilder};
use super::error::RealtimeError;
use crate::agent::{
    AgentError, CallHandle, DtmfInput, InFlightTools, Role, Session, SessionEvent, SessionTools,
};

/// μ-law 8 kHz: 8 bytes per millisecond.
const BYTES_PER_MS: u64 = 8;
/// One 20 ms frame.
const FRAME: usize = 160;
/// How long a playback mark may wait for its echo.
const MARK_LIMIT: Duration = Duration::from_secs(120);
/// How long `stop()` waits for the socket close and the tasks.
const STOP_LIMIT: Duration = Duration::from_secs(2);
/// Error codes after which the session cannot continue.
const FATAL_CODES: &[&str] = &[
    "invalid_api_key",
    "insufficient_quota",
    "model_not_found",
    "invalid_model",
    "session_expired",
    "unsupported_model",
];

/// Counters the session keeps about its call (see [`OpenAIRealtime::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RealtimeStats {
    /// Completed assistant responses (turns).
    pub turns: u32,
    /// Barge-ins: the caller started speaking while assistant audio was still unheard.
    pub barge_ins: u32,
    /// `conversation.item.truncate` frames sent.
    pub truncations: u32,
    /// Function calls the model made.
    pub tool_calls: u32,
    /// From [`Session::attach`] to the first assistant audio handed to the call (zero when a
    /// prewarmed greeting was waiting).
    pub time_to_first_audio: Option<Duration>,
}

#[derive(Debug, Clone)]
enum Ready {
    Pending,
    Ok,
    Failed(RealtimeError),
}

/// Where assistant audio goes: the real call, or a buffer until attach (prewarm, §9.3).
#[derive(Default)]
struct AudioSink {
    call: Option<CallHandle>,
    buffer: Vec<Bytes>,
    buffered_since: Option<Instant>,
}

/// What the caller has heard of the current assistant item (barge-in truncation).
#[derive(Default, Debug)]
struct Playback {
    generation: u64,
    item_id: Option<String>,
    /// Assistant audio of the item handed to the call, ms.
    sent_ms: u64,
    /// Audio of the item confirmed played by mark echoes, ms.
    played_ms: u64,
    /// Bytes of the last delta short of a full 20 ms frame.
    remainder: Vec<u8>,
}

struct Inner {
    config: Arc<Config>,
    tools: Mutex<SessionTools>,
    sent_tool_names: Mutex<Vec<String>>,
    out: Mutex<Option<mpsc::UnboundedSender<Message>>>,
    sink: Mutex<AudioSink>,
    control: Mutex<Option<CallHandle>>,
    playback: Mutex<Playback>,
    transcripts: Mutex<HashMap<String, String>>,
    in_flight: InFlightTools,
    tasks: TaskTracker,
    cancel: CancellationToken,
    ready: watch::Sender<Ready>,
    attached_at: Mutex<Option<Instant>>,
    attached: AtomicBool,
    stopped: AtomicBool,
    mark_seq: AtomicU64,
    turns: AtomicU32,
    barge_ins: AtomicU32,
    truncations: AtomicU32,
    tool_calls: AtomicU32,
    first_audio: Mutex<Option<Duration>>,
}

/// An OpenAI Realtime (GA) speech-to-speech session for one call.
///
/// Audio stays G.711 μ-law end to end (`audio/pcmu` in and out): no resampling. Create one
/// per call — through [`OpenAIRealtimeBuilder::factory`] for an agent — never share one
/// between calls. See the [module docs](super) for the barge-in and prewarm behaviour.
pub struct OpenAIRealtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OpenAIRealtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAIRealtime")
            .field("config", &self.inner.config)
            .field("attached", &self.inner.attached.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for OpenAIRealtime {
    fn drop(&mut self) {
        // Tasks end on their own once cancelled; `stop()` is the orderly path.
        self.inner.cancel.cancel();
    }
}

impl OpenAIRealtime {
    /// A builder (API key and base URL default to `OPENAI_API_KEY` / `OPENAI_BASE_URL`).
    pub fn builder() -> OpenAIRealtimeBuilder {
        OpenAIRealtimeBuilder::default()
    }

    pub(crate) fn with_config(config: Arc<Config>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                tools: Mutex::new(SessionTools::default()),
                sent_tool_names: Mutex::new(Vec::new()),
                out: Mutex::new(None),
                sink: Mutex::new(AudioSink::default()),
                control: Mutex::new(None),
                playback: Mutex::new(Playback::default()),
                transcripts: Mutex::new(HashMap::new()),
                in_flight: InFlightTools::new(),
                tasks: TaskTracker::new(),
                cancel: CancellationToken::new(),
                ready: watch::channel(Ready::Pending).0,
                attached_at: Mutex::new(None),
                attached: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                mark_seq: AtomicU64::new(0),
                turns: AtomicU32::new(0),
                barge_ins: AtomicU32::new(0),
                truncations: AtomicU32::new(0),
                tool_calls: AtomicU32::new(0),
                first_audio: Mutex::new(None),
            }),
        }
    }

    /// A snapshot of the session's counters.
    pub fn stats(&self) -> RealtimeStats {
        self.inner.stats()
    }

    /// Bytes of assistant audio waiting for [`Session::attach`] (prewarm).
    pub fn buffered_bytes(&self) -> usize {
        lock(&self.inner.sink).buffer.iter().map(Bytes::len).sum()
    }
}

impl Inner {
    fn stats(&self) -> RealtimeStats {
        RealtimeStats {
            turns: self.turns.load(Ordering::Relaxed),
            barge_ins: self.barge_ins.load(Ordering::Relaxed),
            truncations: self.truncations.load(Ordering::Relaxed),
            tool_calls: self.tool_calls.load(Ordering::Relaxed),
            time_to_first_audio: *lock(&self.first_audio),
        }
    }

    fn send(&self, frame: &Value) -> bool {
        match lock(&self.out).as_ref() {
            Some(tx) => tx.send(Message::text(frame.to_string())).is_ok(),
            None => false,
        }
    }

    fn control(&self) -> Option<CallHandle> {
        lock(&self.control).clone()
    }

    fn emit(&self, event: SessionEvent) {
        if let Some(call) = self.control() {
            call.emit(event);
        }
    }

    /// Hands audio to the call (or the prewarm buffer) and, on a real call, queues a mark so
    /// the played position of `item` is known exactly.
    fn deliver(self: &Arc<Self>, audio: Bytes, generation: u64, item: &str, end_ms: u64) {
        let call = {
            let mut sink = lock(&self.sink);
            match sink.call.clone() {
                Some(call) => {
                    call.send_audio(audio);
                    call
                }
                None => {
                    sink.buffered_since.get_or_insert_with(Instant::now);
                    sink.buffer.push(audio);
                    return;
                }
            }
        };
        {
            let mut first = lock(&self.first_audio);
            if first.is_none() {
                *first = Some(
                    lock(&self.attached_at)
                        .map(|t| t.elapsed())
                        .unwrap_or_default(),
                );
            }
        }
        self.spawn_mark(call, generation, item.to_owned(), end_ms);
    }

    fn spawn_mark(self: &Arc<Self>, call: CallHandle, generation: u64, item: String, end_ms: u64) {
        let seq = self.mark_seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("rt-{seq}");
        let me = Arc::clone(self);
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            let echoed = tokio::select! {
                () = cancel.cancelled() => false,
                ok = call.mark(&name, MARK_LIMIT) => ok,
            };
            if echoed {
                let mut pb = lock(&me.playback);
                if pb.generation == generation && pb.item_id.as_deref() == Some(item.as_str()) {
                    pb.played_ms = pb.played_ms.max(end_ms);
                }
            }
        });
    }

    /// `response.output_audio.delta`: forward whole 20 ms frames now, keep the tail.
    fn on_audio_delta(self: &Arc<Self>, item_id: &str, delta: &str) {
        let Ok(bytes) = B64.decode(delta) else {
            tracing::warn!("undecodable audio delta ignored");
            return;
        };
        let (out, generation, end_ms) = {
            let mut pb = lock(&self.playback);
            if pb.item_id.as_deref() != Some(item_id) {
                pb.item_id = Some(item_id.to_owned());
                pb.sent_ms = 0;
                pb.played_ms = 0;
                pb.remainder.clear();
            }
            let mut data = std::mem::take(&mut pb.remainder);
            data.extend_from_slice(&bytes);
            let whole = data.len() - data.len() % FRAME;
            pb.remainder = data.split_off(whole);
            pb.sent_ms += whole as u64 / BYTES_PER_MS;
            (data, pb.generation, pb.sent_ms)
        };
        if !out.is_empty() {
            self.deliver(Bytes::from(out), generation, item_id, end_ms);
        }
    }

    /// `response.output_audio.done`: send the short tail raw (the mark behind it tells the
    /// server the segment ends there, so it pads; no silence holes mid-speech).
    fn on_audio_done(self: &Arc<Self>) {
        let (tail, generation, item, end_ms) = {
            let mut pb = lock(&self.playback);
            let tail = std::mem::take(&mut pb.remainder);
            pb.sent_ms += tail.len() as u64 / BYTES_PER_MS;
            (tail, pb.generation, pb.item_id.clone(), pb.sent_ms)
        };
        if let (false, Some(item)) = (tail.is_empty(), item) {
            self.deliver(Bytes::from(tail), generation, &item, end_ms);
        }
    }

    /// `input_audio_buffer.speech_started`: clear, cancel tools, truncate at what was heard.
    fn on_speech_started(&self) {
        let heard = {
            let mut pb = lock(&self.playback);
            let snapshot = pb
                .item_id
                .take()
                .map(|item| (item, pb.played_ms, pb.sent_ms));
            pb.generation += 1;
            pb.sent_ms = 0;
            pb.played_ms = 0;
            pb.remainder.clear();
            snapshot
        };
        {
            let mut sink = lock(&self.sink);
            if sink.call.is_none() {
                sink.buffer.clear();
            }
        }
        if let Some(call) = self.control() {
            call.clear_audio();
        }
        let cancelled = self.in_flight.cancel_all();
        if let Some((item, played, sent)) = heard
            && played < sent
        {
            self.barge_ins.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(item_id = %item, played_ms = played, sent_ms = sent, cancelled, "barge-in");
            if self.config.truncate_on_barge_in && self.send(&wire::truncate(&item, played)) {
                self.truncations.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn on_function_call(self: &Arc<Self>, item: &Value) {
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let call_id = item
            .get("call_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let args = item
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or("{}")
            .to_owned();
        let Some(call) = self.control() else { return };
        self.tool_calls.fetch_add(1, Ordering::Relaxed);
        let tools = lock(&self.tools).clone();
        let me = Arc::clone(self);
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            let builtin = tools.builtins.enabled(&name).is_some();
            let hold = match (&tools.hold_audio, builtin, call.is_connected()) {
                (Some(audio), false, true) if !audio.is_empty() => {
                    let stop = cancel.child_token();
                    let (call, audio, token) = (call.clone(), audio.clone(), stop.clone());
                    me.tasks.spawn(async move {
                        loop {
                            for chunk in audio.chunks() {
                                call.send_audio(chunk.clone());
                                tokio::select! {
                                    () = token.cancelled() => return,
                                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                                }
                            }
                        }
                    });
                    Some(stop)
                }
                _ => None,
            };
            let run = me
                .in_flight
                .run(tools.dispatch(call.as_ref(), &name, &args));
            let out = tokio::select! {
                () = cancel.cancelled() => None,
                out = run => out,
            };
            if let Some(stop) = hold {
                stop.cancel();
                call.clear_audio();
            }
            let Some(out) = out else {
                tracing::debug!(tool = %name, "tool cancelled by barge-in; no output sent");
                return;
            };
            if let Some(text) = out.model_text() {
                me.send(&wire::function_call_output(&call_id, &text));
                me.send(&wire::response_create());
            }
        });
    }

    fn on_error(&self, event: &Value) {
        let err = event.get("error").cloned().unwrap_or(Value::Null);
        let field = |k: &str| {
            err.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (kind, code, message) = (field("type"), field("code"), field("message"));
        let fatal = FATAL_CODES.contains(&code.as_str())
            || matches!(kind.as_str(), "authentication_error" | "permission_error");
        if fatal {
            tracing::error!(%kind, %code, %message, "Realtime API error (fatal)");
            self.fail(RealtimeError::Server {
                kind,
                code,
                message,
            });
        } else {
            tracing::warn!(%kind, %code, %message, "Realtime API error");
        }
    }

    /// The model connection cannot continue: fail a pending start, or end the call.
    fn fail(&self, error: RealtimeError) {
        let was_pending = matches!(*self.ready.borrow(), Ready::Pending);
        if was_pending {
            self.ready.send_replace(Ready::Failed(error));
        } else if self.attached.load(Ordering::SeqCst) && !self.stopped.load(Ordering::SeqCst) {
            self.emit(SessionEvent::SessionLost {
                reason: error.to_string(),
            });
        }
    }

    fn on_transcript_delta(&self, role: Role, event: &Value) {
        let item = event
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let delta = event
            .get("delta")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if delta.is_empty() {
            return;
        }
        let text = {
            let mut t = lock(&self.transcripts);
            let entry = t.entry(format!("{}:{item}", role.as_str())).or_default();
            entry.push_str(delta);
            entry.clone()
        };
        self.emit(SessionEvent::TranscriptDelta { role, text });
    }

    fn on_transcript_done(&self, role: Role, event: &Value) {
        let item = event
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        lock(&self.transcripts).remove(&format!("{}:{item}", role.as_str()));
        let text = event
            .get("transcript")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.emit(SessionEvent::Transcript { role, text });
    }

    fn on_server_event(self: &Arc<Self>, text: &str) {
        let Ok(event) = serde_json::from_str::<Value>(text) else {
            tracing::warn!(len = text.len(), "non-JSON Realtime frame ignored");
            return;
        };
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let str_field = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default();
        match kind {
            "session.updated" => {
                if matches!(*self.ready.borrow(), Ready::Pending) {
                    self.ready.send_replace(Ready::Ok);
                }
            }
            "response.output_audio.delta" => {
                self.on_audio_delta(str_field("item_id"), str_field("delta"));
            }
            "response.output_audio.done" => self.on_audio_done(),
            "input_audio_buffer.speech_started" => self.on_speech_started(),
            "response.output_item.done" => {
                if let Some(item) = event.get("item")
                    && item.get("type").and_then(Value::as_str) == Some("function_call")
                {
                    self.on_function_call(item);
                }
            }
            "conversation.item.input_audio_transcription.delta" => {
                self.on_transcript_delta(Role::User, &event);
            }
            "conversation.item.input_audio_transcription.completed" => {
                self.on_transcript_done(Role::User, &event);
            }
            "response.output_audio_transcript.delta" => {
                self.on_transcript_delta(Role::Assistant, &event);
            }
            "response.output_audio_transcript.done" => {
                self.on_transcript_done(Role::Assistant, &event);
            }
            "response.done" => {
                let status = event
                    .pointer("/response/status")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if status == "completed" {
                    self.turns.fetch_add(1, Ordering::Relaxed);
                    if let Some(call) = self.control() {
                        call.record_turn();
                    }
                } else if status == "failed" {
                    let detail = event
                        .pointer("/response/status_details/error/code")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    tracing::warn!(code = detail, "Realtime response failed");
                }
            }
            "error" => self.on_error(&event),
            _ => {}
        }
    }

    async fn connect(self: &Arc<Self>) -> Result<(), RealtimeError> {
        let config = &self.config;
        let connect_err =
            |status: Option<u16>, message: String| RealtimeError::Connect { status, message };
        let mut request = config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| connect_err(None, e.to_string()))?;
        let auth = HeaderValue::from_str(&format!("Bearer {}", config.api_key))
            .map_err(|_| connect_err(None, "API key is not a valid header value".into()))?;
        request.headers_mut().insert("Authorization", auth);
        request.headers_mut().insert(
            "User-Agent",
            HeaderValue::from_static(concat!("clawops-rust/", env!("CARGO_PKG_VERSION"))),
        );
        let connected = tokio::time::timeout(
            config.connect_timeout,
            tokio_tungstenite::connect_async(request),
        )
        .await
        .map_err(|_| RealtimeError::Timeout(config.connect_timeout))?;
        let (socket, _) = connected.map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                connect_err(Some(resp.status().as_u16()), "upgrade refused".into())
            }
            other => connect_err(None, other.to_string()),
        })?;
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        *lock(&self.out) = Some(tx);

        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => break,
                    msg = rx.recv() => match msg {
                        Some(m) => if sink.send(m).await.is_err() { break },
                        None => break,
                    },
                }
            }
            let _ = tokio::time::timeout(STOP_LIMIT, sink.close()).await;
        });

        let me = Arc::clone(self);
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            let reason = loop {
                let next = tokio::select! {
                    () = cancel.cancelled() => return,
                    next = stream.next() => next,
                };
                match next {
                    Some(Ok(Message::Text(text))) => me.on_server_event(text.as_str()),
                    Some(Ok(Message::Close(frame))) => {
                        break format!(
                            "closed by server{}",
                            frame
                                .map(|f| format!(" ({} {})", u16::from(f.code), f.reason))
                                .unwrap_or_default()
                        );
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break e.to_string(),
                    None => break "connection ended".to_owned(),
                }
            };
            if !me.stopped.load(Ordering::SeqCst) {
                tracing::warn!(%reason, "Realtime connection lost");
                me.fail(RealtimeError::Closed(reason));
            }
        });
        Ok(())
    }

    fn tool_specs(&self) -> Vec<crate::agent::ToolSpec> {
        lock(&self.tools).specs()
    }
}

#[async_trait]
impl Session for OpenAIRealtime {
    fn set_tools(&self, tools: SessionTools) {
        *lock(&self.inner.tools) = tools;
    }

    /// Connects, sends the first `session.update` (with every tool known now), starts the
    /// greeting, and waits for `session.updated`. Audio produced until [`Session::attach`]
    /// is buffered in order.
    async fn prewarm(&self, stand_in: CallHandle) -> Result<(), AgentError> {
        let inner = &self.inner;
        if inner.stopped.load(Ordering::SeqCst) {
            return Err(AgentError::Session("session already stopped".into()));
        }
        *lock(&inner.control) = Some(stand_in);
        let specs = inner.tool_specs();
        *lock(&inner.sent_tool_names) = specs.iter().map(|s| s.name.clone()).collect();
        inner.connect().await?;
        inner.send(&wire::session_update(&inner.config, &specs));
        if inner.config.greeting {
            inner.send(&wire::response_create());
        }
        let mut ready = inner.ready.subscribe();
        let limit = inner.config.connect_timeout;
        let result =
            match tokio::time::timeout(limit, ready.wait_for(|r| !matches!(r, Ready::Pending)))
                .await
            {
                Err(_) => Err(RealtimeError::Timeout(limit)),
                Ok(Err(_)) => Err(RealtimeError::Closed("session dropped".into())),
                Ok(Ok(r)) => match &*r {
                    Ready::Failed(e) => Err(e.clone()),
                    _ => Ok(()),
                },
            };
        if let Err(error) = result {
            self.stop().await;
            return Err(error.into());
        }
        Ok(())
    }

    /// Swaps in the real call: re-sends the tools if their names changed since prewarm (MCP),
    /// then flushes the buffered greeting audio in order.
    async fn attach(&self, call: CallHandle) -> Result<(), AgentError> {
        let inner = &self.inner;
        if lock(&inner.out).is_none() {
            return Err(AgentError::Session("not connected (prewarm first)".into()));
        }
        let specs = inner.tool_specs();
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let changed = {
            let mut sent = lock(&inner.sent_tool_names);
            let changed = *sent != names;
            *sent = names;
            changed
        };
        if changed {
            inner.send(&wire::tools_update(&specs));
        }
        *lock(&inner.attached_at) = Some(Instant::now());
        *lock(&inner.control) = Some(Arc::clone(&call));
        let flushed = {
            let mut sink = lock(&inner.sink);
            let chunks = std::mem::take(&mut sink.buffer);
            let any = !chunks.is_empty();
            for chunk in chunks {
                call.send_audio(chunk);
            }
            sink.call = Some(Arc::clone(&call));
            any
        };
        inner.attached.store(true, Ordering::SeqCst);
        if flushed {
            lock(&inner.first_audio).get_or_insert(Duration::ZERO);
            let (generation, item, end_ms) = {
                let pb = lock(&inner.playback);
                (pb.generation, pb.item_id.clone(), pb.sent_ms)
            };
            if let Some(item) = item {
                inner.spawn_mark(call, generation, item, end_ms);
            }
        }
        Ok(())
    }

    async fn feed_audio(&self, ulaw: Bytes, _timestamp_ms: u64) {
        self.inner.send(&wire::audio_append(&ulaw));
    }

    async fn feed_dtmf(&self, digits: DtmfInput) {
        self.inner.send(&wire::user_text(&digits.model_text()));
        self.inner.send(&wire::response_create());
    }

    /// Closes the socket (close frame, ≤ 2 s) and cancels and reaps every task. Idempotent.
    async fn stop(&self) {
        let inner = &self.inner;
        if inner.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        inner.in_flight.cancel_all();
        inner.cancel.cancel();
        inner.tasks.close();
        if tokio::time::timeout(STOP_LIMIT + Duration::from_millis(500), inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("Realtime session tasks did not finish in time");
        }
        lock(&inner.out).take();
        lock(&inner.sink).call.take();
        lock(&inner.control).take();
    }

    fn telemetry(&self) -> Option<CallTelemetryData> {
        let config = &self.inner.config;
        Some(CallTelemetryData {
            builtin_tools: Vec::new(),
            greeting_enabled: config.greeting,
            language: config.language.clone(),
            llm: Some(TelemetryModelInfo {
                model: Some(config.model.clone()),
                provider: Some("openai".into()),
            }),
            mcp_server_count: 0,
            recording_enabled: false,
            session_type: "openai_realtime".into(),
            stt: None,
            tool_count: 0,
            tts: None,
            voice: Some(config.voice.clone()),
        })
    }
}
