//! [`GeminiLiveSession`]: the per-call session over one (resumable) Live API WebSocket.

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
use futures::future::{AbortHandle, Abortable};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::{Auth, Config, GREETING_TEXT};
use super::error::GeminiError;
use super::wire::{self, Declarations};
use crate::agent::{
    AgentError, CallHandle, DtmfInput, Role, Session, SessionEvent, SessionTools, ToolOutput,
};
use crate::audio::{Framer, Resampler, ulaw_decode, ulaw_encode};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long closing a socket (and `stop()`) may take.
const STOP_LIMIT: Duration = Duration::from_secs(2);
/// Output sample rate assumed when the audio mime type names none.
const DEFAULT_OUTPUT_RATE: u32 = 24_000;

/// Counters the session keeps about its call (see [`GeminiLiveSession::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GeminiStats {
    /// `turnComplete` messages (finished model turns).
    pub turns: u32,
    /// `interrupted` messages (barge-ins).
    pub interruptions: u32,
    /// Function calls the model made.
    pub tool_calls: u32,
    /// Connections adopted after the first (reconnects that succeeded).
    pub reconnects: u32,
    /// Reconnect attempts that carried a resumption handle and succeeded.
    pub resumed: u32,
}

/// One function call of a `toolCall` message.
#[derive(Clone, Debug)]
struct FunctionCall {
    id: Option<String>,
    name: String,
    args: String,
}

/// The live connection: its writer queue and the token that closes it.
struct Conn {
    epoch: u64,
    tx: mpsc::UnboundedSender<Message>,
    token: CancellationToken,
    writer: JoinHandle<()>,
}

/// Where assistant audio goes: the real call, or a buffer until attach (prewarm).
#[derive(Default)]
struct AudioSink {
    call: Option<CallHandle>,
    buffer: Vec<Bytes>,
}

/// 24 kHz PCM16 → 8 kHz μ-law, re-framed into 20 ms frames.
#[derive(Default)]
struct Output {
    resampler: Option<Resampler>,
    framer: Framer,
}

#[derive(Default)]
struct Transcripts {
    user: String,
    assistant: String,
}

struct Inner {
    config: Arc<Config>,
    tools: Mutex<SessionTools>,
    declarations: Mutex<Declarations>,
    conn: Mutex<Option<Conn>>,
    epoch: AtomicU64,
    handle: Mutex<Option<String>>,
    reconnecting: AtomicBool,
    lost: Mutex<Option<String>>,
    sink: Mutex<AudioSink>,
    control: Mutex<Option<CallHandle>>,
    input: Mutex<Option<Resampler>>,
    output: Mutex<Output>,
    transcripts: Mutex<Transcripts>,
    running: Mutex<HashMap<String, AbortHandle>>,
    tool_seq: AtomicU64,
    tasks: TaskTracker,
    cancel: CancellationToken,
    attached: AtomicBool,
    stopped: AtomicBool,
    turns: AtomicU32,
    interruptions: AtomicU32,
    tool_calls: AtomicU32,
    reconnects: AtomicU32,
    resumed: AtomicU32,
}

/// A Gemini Live speech-to-speech session for one call.
///
/// Create one per call through [`GeminiRealtime`](super::GeminiRealtime) (a
/// [`SessionFactory`](crate::agent::SessionFactory)); never share one between calls. See the
/// [module docs](super) for audio, tools, barge-in and resumption.
pub struct GeminiLiveSession {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GeminiLiveSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiLiveSession")
            .field("config", &self.inner.config)
            .field("attached", &self.inner.attached.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for GeminiLiveSession {
    fn drop(&mut self) {
        self.inner.cancel.cancel();
    }
}

impl GeminiLiveSession {
    pub(crate) fn with_config(config: Arc<Config>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                tools: Mutex::new(SessionTools::default()),
                declarations: Mutex::new(Declarations::default()),
                conn: Mutex::new(None),
                epoch: AtomicU64::new(0),
                handle: Mutex::new(None),
                reconnecting: AtomicBool::new(false),
                lost: Mutex::new(None),
                sink: Mutex::new(AudioSink::default()),
                control: Mutex::new(None),
                input: Mutex::new(None),
                output: Mutex::new(Output::default()),
                transcripts: Mutex::new(Transcripts::default()),
                running: Mutex::new(HashMap::new()),
                tool_seq: AtomicU64::new(0),
                tasks: TaskTracker::new(),
                cancel: CancellationToken::new(),
                attached: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                turns: AtomicU32::new(0),
                interruptions: AtomicU32::new(0),
                tool_calls: AtomicU32::new(0),
                reconnects: AtomicU32::new(0),
                resumed: AtomicU32::new(0),
            }),
        }
    }

    /// A snapshot of the session's counters.
    pub fn stats(&self) -> GeminiStats {
        let i = &self.inner;
        GeminiStats {
            turns: i.turns.load(Ordering::Relaxed),
            interruptions: i.interruptions.load(Ordering::Relaxed),
            tool_calls: i.tool_calls.load(Ordering::Relaxed),
            reconnects: i.reconnects.load(Ordering::Relaxed),
            resumed: i.resumed.load(Ordering::Relaxed),
        }
    }

    /// Bytes of assistant audio waiting for [`Session::attach`] (prewarm).
    pub fn buffered_bytes(&self) -> usize {
        lock(&self.inner.sink).buffer.iter().map(Bytes::len).sum()
    }

    /// Whether a resumption handle is stored (only `resumable: true` updates store one).
    pub fn has_resumption_handle(&self) -> bool {
        lock(&self.inner.handle).is_some()
    }

    /// Gemini Live fixes the tool set at connect: tools added after
    /// [`Session::prewarm`] (e.g. MCP tools known only at answer) can never reach the model.
    /// An agent with such tools must not prewarm this session (0.37.1 / 0.70 rule, on every
    /// prewarm trigger). Same as [`Session::tools_frozen_after_prewarm`].
    pub fn cannot_change_tools_after_start(&self) -> bool {
        true
    }
}

impl Inner {
    fn current_epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Queues a frame on the live connection; `false` when there is none (reconnecting).
    fn send(&self, frame: &Value) -> bool {
        match lock(&self.conn).as_ref() {
            Some(c) => c.tx.send(Message::text(frame.to_string())).is_ok(),
            None => false,
        }
    }

    /// Queues a frame only if connection `epoch` is still the live one.
    fn send_on(&self, epoch: u64, frame: &Value) -> bool {
        match lock(&self.conn).as_ref() {
            Some(c) if c.epoch == epoch => c.tx.send(Message::text(frame.to_string())).is_ok(),
            _ => false,
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

    fn deliver(&self, frames: Vec<Bytes>) {
        if frames.is_empty() {
            return;
        }
        let mut sink = lock(&self.sink);
        match sink.call.clone() {
            Some(call) => {
                drop(sink);
                for f in frames {
                    call.send_audio(f);
                }
            }
            None => sink.buffer.extend(frames),
        }
    }

    fn reset_output(&self) {
        let mut out = lock(&self.output);
        out.framer.clear();
        if let Some(r) = out.resampler.as_mut() {
            r.reset();
        }
    }

    /// `inlineData` audio: PCM16 LE at `rate` → 8 kHz → μ-law → whole 20 ms frames now.
    fn on_audio(&self, data: &str, rate: u32) {
        let Ok(pcm) = B64.decode(data) else {
            tracing::warn!("undecodable Gemini audio ignored");
            return;
        };
        let samples: Vec<i16> = pcm
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        let frames = {
            let mut out = lock(&self.output);
            if out.resampler.as_ref().map(Resampler::from_rate) != Some(rate) {
                match Resampler::new(rate, 8_000) {
                    Ok(r) => out.resampler = Some(r),
                    Err(e) => {
                        tracing::warn!(rate, error = %e, "unsupported Gemini output rate; audio dropped");
                        return;
                    }
                }
            }
            let down = match out.resampler.as_mut() {
                Some(r) => r.process(&samples),
                None => return,
            };
            out.framer.push(&ulaw_encode(&down))
        };
        self.deliver(frames);
    }

    /// End of generated audio: drain the resampler and send the short tail raw (no padding
    /// mid-speech, incident 0.46.1; the platform pads at the segment end).
    fn flush_output(&self) {
        let frames = {
            let mut out = lock(&self.output);
            let rest = out
                .resampler
                .as_mut()
                .map(Resampler::flush)
                .unwrap_or_default();
            let mut frames = out.framer.push(&ulaw_encode(&rest));
            frames.extend(out.framer.finish());
            frames
        };
        self.deliver(frames);
    }

    fn user_fragment(&self, text: &str) {
        let cumulative = {
            let mut t = lock(&self.transcripts);
            t.user.push_str(text);
            t.user.clone()
        };
        self.emit(SessionEvent::TranscriptDelta {
            role: Role::User,
            text: cumulative,
        });
    }

    fn assistant_fragment(&self, text: &str) {
        self.finish_user_transcript();
        let cumulative = {
            let mut t = lock(&self.transcripts);
            t.assistant.push_str(text);
            t.assistant.clone()
        };
        self.emit(SessionEvent::TranscriptDelta {
            role: Role::Assistant,
            text: cumulative,
        });
    }

    fn finish_user_transcript(&self) {
        let text = std::mem::take(&mut lock(&self.transcripts).user);
        if !text.trim().is_empty() {
            self.emit(SessionEvent::Transcript {
                role: Role::User,
                text: text.trim().to_owned(),
            });
        }
    }

    fn finish_assistant_transcript(&self) {
        let text = std::mem::take(&mut lock(&self.transcripts).assistant);
        if !text.trim().is_empty() {
            self.emit(SessionEvent::Transcript {
                role: Role::Assistant,
                text: text.trim().to_owned(),
            });
        }
    }

    /// `interrupted`: the caller barged in. Clear the call's queued audio, drop the partial
    /// frame, cancel running tools (no response is sent for them).
    fn on_interrupted(&self, pending: &mut Vec<FunctionCall>) {
        self.interruptions.fetch_add(1, Ordering::Relaxed);
        self.reset_output();
        {
            let mut sink = lock(&self.sink);
            if sink.call.is_none() {
                sink.buffer.clear();
            }
        }
        if let Some(call) = self.control() {
            call.clear_audio();
        }
        pending.clear();
        let cancelled = self.cancel_tools(None);
        self.finish_assistant_transcript();
        tracing::debug!(cancelled, "Gemini barge-in");
    }

    /// Cancels running tool tasks: all, or those with the given call ids.
    fn cancel_tools(&self, ids: Option<&[String]>) -> usize {
        let handles: Vec<AbortHandle> = {
            let mut running = lock(&self.running);
            match ids {
                None => running.drain().map(|(_, h)| h).collect(),
                Some(ids) => ids.iter().filter_map(|id| running.remove(id)).collect(),
            }
        };
        for h in &handles {
            h.abort();
        }
        handles.len()
    }

    fn tool_key(&self, call: &FunctionCall) -> String {
        call.id.clone().unwrap_or_else(|| {
            format!(
                "{}@{}",
                call.name,
                self.tool_seq.fetch_add(1, Ordering::Relaxed)
            )
        })
    }

    fn declared(&self, name: &str) -> Option<super::ToolBehavior> {
        lock(&self.declarations)
            .behavior
            .get(name)
            .copied()
            .flatten()
    }

    fn response_for(&self, call: &FunctionCall, text: &str, returned_nothing: bool) -> Value {
        let scheduling =
            self.config
                .scheduling_for(&call.name, self.declared(&call.name), returned_nothing);
        wire::function_response(
            call.id.as_deref(),
            &call.name,
            text,
            scheduling.map(|s| s.as_str()),
        )
    }

    /// A NON_BLOCKING call: runs at once, answers on its own when done.
    fn spawn_non_blocking(self: &Arc<Self>, call: FunctionCall, epoch: u64) {
        let Some(control) = self.control() else {
            return;
        };
        let tools = lock(&self.tools).clone();
        let key = self.tool_key(&call);
        let (abort, reg) = AbortHandle::new_pair();
        lock(&self.running).insert(key.clone(), abort);
        let me = Arc::clone(self);
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            let run = Abortable::new(
                tools.dispatch(control.as_ref(), &call.name, &call.args),
                reg,
            );
            let out = tokio::select! {
                () = cancel.cancelled() => None,
                out = run => out.ok(),
            };
            lock(&me.running).remove(&key);
            let Some(out) = out else {
                tracing::debug!(tool = %call.name, "NON_BLOCKING tool cancelled; no response");
                return;
            };
            if let Some(text) = out.model_text() {
                let response = me.response_for(&call, &text, out == ToolOutput::Empty);
                me.send_on(epoch, &wire::tool_response(vec![response]));
            }
        });
    }

    /// A BLOCKING batch: hold audio (unless `collect_dtmf` is in it), calls in order, one
    /// `toolResponse` with every result. `hang_up` ends the batch with no response.
    fn run_batch(self: &Arc<Self>, calls: Vec<FunctionCall>, epoch: u64) {
        if calls.is_empty() {
            return;
        }
        let Some(control) = self.control() else {
            return;
        };
        let tools = lock(&self.tools).clone();
        let (abort, reg) = AbortHandle::new_pair();
        let keys: Vec<String> = calls.iter().map(|c| self.tool_key(c)).collect();
        {
            let mut running = lock(&self.running);
            for k in &keys {
                running.insert(k.clone(), abort.clone());
            }
        }
        let me = Arc::clone(self);
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            let no_hold =
                SessionTools::batch_needs_no_hold_audio(calls.iter().map(|c| c.name.as_str()));
            let hold = match (&tools.hold_audio, no_hold, control.is_connected()) {
                (Some(audio), false, true) if !audio.is_empty() => {
                    let stop = cancel.child_token();
                    let (call, audio, token) = (control.clone(), audio.clone(), stop.clone());
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
            let work = async {
                let mut responses = Vec::with_capacity(calls.len());
                for call in &calls {
                    let out = tools
                        .dispatch(control.as_ref(), &call.name, &call.args)
                        .await;
                    match out {
                        ToolOutput::Silent => return None,
                        other => {
                            if let Some(text) = other.model_text() {
                                let empty = other == ToolOutput::Empty;
                                responses.push(me.response_for(call, &text, empty));
                            }
                        }
                    }
                }
                Some(responses)
            };
            let out = tokio::select! {
                () = cancel.cancelled() => None,
                out = Abortable::new(work, reg) => out.ok(),
            };
            {
                let mut running = lock(&me.running);
                for k in &keys {
                    running.remove(k);
                }
            }
            if let Some(stop) = hold {
                stop.cancel();
                control.clear_audio();
            }
            match out {
                None => tracing::debug!("tool batch cancelled; no response"),
                Some(None) => tracing::debug!("hang_up ended the tool batch; no response"),
                Some(Some(responses)) if !responses.is_empty() => {
                    if !me.send_on(epoch, &wire::tool_response(responses)) {
                        tracing::debug!("tool batch answered after a reconnect; dropped");
                    }
                }
                Some(Some(_)) => {}
            }
        });
    }

    /// One server message. BLOCKING calls are collected in `pending` (the reader runs them
    /// after the drain window or at `turnComplete`).
    fn on_message(self: &Arc<Self>, msg: &Value, epoch: u64, pending: &mut Vec<FunctionCall>) {
        let stale = epoch != self.current_epoch();
        if let Some(sc) = msg.get("serverContent") {
            if let Some(t) = sc
                .pointer("/inputTranscription/text")
                .and_then(Value::as_str)
                && !t.is_empty()
            {
                self.user_fragment(t);
            }
            if let Some(parts) = sc.pointer("/modelTurn/parts").and_then(Value::as_array) {
                for part in parts {
                    let Some(inline) = part.get("inlineData") else {
                        continue;
                    };
                    let mime = inline
                        .get("mimeType")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if !mime.contains("audio") {
                        continue;
                    }
                    self.finish_user_transcript();
                    let rate = mime
                        .split(';')
                        .filter_map(|p| p.trim().strip_prefix("rate="))
                        .find_map(|r| r.parse::<u32>().ok())
                        .unwrap_or(DEFAULT_OUTPUT_RATE);
                    if let Some(data) = inline.get("data").and_then(Value::as_str) {
                        self.on_audio(data, rate);
                    }
                }
            }
            if let Some(t) = sc
                .pointer("/outputTranscription/text")
                .and_then(Value::as_str)
                && !t.is_empty()
            {
                self.assistant_fragment(t);
            }
            let flag = |k: &str| sc.get(k).and_then(Value::as_bool) == Some(true);
            if flag("generationComplete") {
                self.flush_output();
            }
            if flag("turnComplete") {
                self.flush_output();
                self.finish_user_transcript();
                self.finish_assistant_transcript();
                self.turns.fetch_add(1, Ordering::Relaxed);
                if let Some(call) = self.control() {
                    call.record_turn();
                }
                if !stale {
                    self.run_batch(std::mem::take(pending), epoch);
                }
            }
            if flag("interrupted") {
                self.on_interrupted(pending);
            }
        }
        if stale {
            return;
        }
        if let Some(update) = msg.get("sessionResumptionUpdate") {
            let resumable = update.get("resumable").and_then(Value::as_bool) == Some(true);
            let new_handle = update
                .get("newHandle")
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty());
            if let (true, Some(h)) = (resumable, new_handle) {
                *lock(&self.handle) = Some(h.to_owned());
                tracing::debug!("Gemini resumption handle updated");
            }
        }
        if let Some(go_away) = msg.get("goAway") {
            let time_left = go_away
                .get("timeLeft")
                .and_then(Value::as_str)
                .unwrap_or_default();
            tracing::info!(time_left, "Gemini goAway; reconnecting");
            self.trigger_reconnect("goAway".into());
        }
        if let Some(calls) = msg
            .pointer("/toolCall/functionCalls")
            .and_then(Value::as_array)
        {
            self.finish_user_transcript();
            for fc in calls {
                let call = FunctionCall {
                    id: fc
                        .get("id")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    name: fc
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    args: fc
                        .get("args")
                        .filter(|a| a.is_object())
                        .map(Value::to_string)
                        .unwrap_or_else(|| "{}".to_owned()),
                };
                self.tool_calls.fetch_add(1, Ordering::Relaxed);
                if self.declared(&call.name) == Some(super::ToolBehavior::NonBlocking) {
                    self.spawn_non_blocking(call, epoch);
                } else {
                    pending.push(call);
                }
            }
        }
        if let Some(ids) = msg
            .pointer("/toolCallCancellation/ids")
            .and_then(Value::as_array)
        {
            let ids: Vec<String> = ids
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            pending.clear();
            let n = self.cancel_tools(Some(&ids));
            tracing::info!(
                count = ids.len(),
                cancelled = n,
                "Gemini tool calls cancelled"
            );
        }
    }

    /// Connects, sends `setup` and waits for `setupComplete`, all within the setup timeout.
    /// A failed attempt's socket is always closed (else the server refuses the next attempt
    /// with 1008, incident 0.62).
    async fn attempt(&self, handle: Option<&str>) -> Result<Ws, GeminiError> {
        let config = &self.config;
        let limit = config.setup_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let connect_err = |status: Option<u16>, message: String| GeminiError::Connect {
            status,
            message: config.redact(&message),
        };
        let mut request = config
            .connect_url()
            .into_client_request()
            .map_err(|e| connect_err(None, e.to_string()))?;
        if let Auth::Vertex { token, .. } = &config.auth {
            let token = tokio::time::timeout_at(deadline, token())
                .await
                .map_err(|_| GeminiError::Timeout(limit))?
                .map_err(GeminiError::Token)?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| GeminiError::Token("not a valid header value".into()))?;
            value.set_sensitive(true);
            request.headers_mut().insert("Authorization", value);
        }
        request.headers_mut().insert(
            "User-Agent",
            HeaderValue::from_static(concat!("clawops-rust/", env!("CARGO_PKG_VERSION"))),
        );
        let (mut ws, _) =
            tokio::time::timeout_at(deadline, tokio_tungstenite::connect_async(request))
                .await
                .map_err(|_| GeminiError::Timeout(limit))?
                .map_err(|e| match e {
                    tokio_tungstenite::tungstenite::Error::Http(resp) => {
                        connect_err(Some(resp.status().as_u16()), "upgrade refused".into())
                    }
                    other => connect_err(None, other.to_string()),
                })?;
        let decls = lock(&self.declarations).clone();
        let setup = wire::setup(config, &decls, handle);
        let handshake = async {
            ws.send(Message::text(setup.to_string()))
                .await
                .map_err(|e| GeminiError::Closed(config.redact(&e.to_string())))?;
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        if is_setup_complete(t.as_bytes()) {
                            return Ok(());
                        }
                    }
                    Some(Ok(Message::Binary(b))) => {
                        if is_setup_complete(&b) {
                            return Ok(());
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Err(GeminiError::Closed(close_reason(frame.as_ref())));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(GeminiError::Closed(config.redact(&e.to_string()))),
                    None => return Err(GeminiError::Closed("connection ended".into())),
                }
            }
        };
        let result = match tokio::time::timeout_at(deadline, handshake).await {
            Ok(r) => r,
            Err(_) => Err(GeminiError::Timeout(limit)),
        };
        match result {
            Ok(()) => Ok(ws),
            Err(e) => {
                let _ = tokio::time::timeout(STOP_LIMIT, ws.close(None)).await;
                Err(e)
            }
        }
    }

    /// Makes `ws` the live connection: a writer task and a reader task, both owned.
    fn adopt(self: &Arc<Self>, ws: Ws) {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.reset_output();
        let (mut sink, stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        let token = self.cancel.child_token();
        let t = token.clone();
        let writer = self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    () = t.cancelled() => break,
                    msg = rx.recv() => match msg {
                        Some(m) => if sink.send(m).await.is_err() { break },
                        None => break,
                    },
                }
            }
            let _ = tokio::time::timeout(STOP_LIMIT, sink.close()).await;
        });
        *lock(&self.conn) = Some(Conn {
            epoch,
            tx,
            token: token.clone(),
            writer,
        });
        let me = Arc::clone(self);
        self.tasks
            .spawn(async move { me.read_loop(stream, epoch, token).await });
    }

    async fn read_loop(
        self: Arc<Self>,
        mut stream: futures::stream::SplitStream<Ws>,
        epoch: u64,
        token: CancellationToken,
    ) {
        let mut pending: Vec<FunctionCall> = Vec::new();
        let drain = self.config.tool_drain;
        let reason = loop {
            let next = tokio::select! {
                () = token.cancelled() => return,
                next = async {
                    if pending.is_empty() {
                        Some(stream.next().await)
                    } else {
                        tokio::time::timeout(drain, stream.next()).await.ok()
                    }
                } => next,
            };
            let Some(next) = next else {
                // The drain window passed quietly: run the BLOCKING batch.
                if epoch == self.current_epoch() {
                    self.run_batch(std::mem::take(&mut pending), epoch);
                } else {
                    pending.clear();
                }
                continue;
            };
            let bytes = match next {
                Some(Ok(Message::Text(t))) => Bytes::copy_from_slice(t.as_bytes()),
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Close(frame))) => break close_reason(frame.as_ref()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => break self.config.redact(&e.to_string()),
                None => break "connection ended".to_owned(),
            };
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(msg) => self.on_message(&msg, epoch, &mut pending),
                Err(_) => tracing::warn!(len = bytes.len(), "non-JSON Gemini frame ignored"),
            }
        };
        if !self.stopped.load(Ordering::SeqCst) && epoch == self.current_epoch() {
            tracing::warn!(%reason, "Gemini Live connection ended; reconnecting");
            self.trigger_reconnect(reason);
        }
    }

    /// Starts one reconnect in the background (a second trigger while one runs is a no-op).
    fn trigger_reconnect(self: &Arc<Self>, reason: String) {
        if self.stopped.load(Ordering::SeqCst) || self.reconnecting.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = Arc::clone(self);
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            let ws = tokio::select! {
                () = cancel.cancelled() => None,
                ws = me.reconnect(reason) => ws,
            };
            // Cleared before the new connection goes live, so that its own drop (even an
            // immediate one) starts the next reconnect instead of being swallowed.
            me.reconnecting.store(false, Ordering::SeqCst);
            if let Some(ws) = ws
                && !me.stopped.load(Ordering::SeqCst)
            {
                me.adopt(ws);
            }
        });
    }

    /// Close the old connection first, then up to N attempts with the handle (backoff), then
    /// one fresh session, then `session_lost` + hang-up (never a silent call, incident 0.62).
    /// Returns the new connection for the caller to adopt.
    async fn reconnect(self: &Arc<Self>, reason: String) -> Option<Ws> {
        let old = lock(&self.conn).take();
        if let Some(old) = old {
            old.token.cancel();
            let _ = tokio::time::timeout(STOP_LIMIT + Duration::from_millis(500), old.writer).await;
        }
        let attempts = self.config.reconnect_max_attempts;
        for n in 1..=attempts {
            let handle = lock(&self.handle).clone();
            match self.attempt(handle.as_deref()).await {
                Ok(ws) => {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    if handle.is_some() {
                        self.resumed.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::info!(
                        attempt = n,
                        resumed = handle.is_some(),
                        "Gemini Live reconnected"
                    );
                    return Some(ws);
                }
                Err(e) => {
                    tracing::warn!(attempt = n, error = %e, "Gemini Live reconnect attempt failed")
                }
            }
            if n < attempts {
                let factor = 1u32 << (n - 1).min(2);
                tokio::time::sleep(self.config.reconnect_backoff * factor).await;
            }
        }
        let had_handle = lock(&self.handle).take().is_some();
        if had_handle {
            tracing::warn!("Gemini Live resume failed; starting a fresh session without context");
            match self.attempt(None).await {
                Ok(ws) => {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    return Some(ws);
                }
                Err(e) => tracing::warn!(error = %e, "fresh Gemini Live session failed"),
            }
        }
        let why = format!(
            "{reason}; reconnect failed after {attempts} attempts{}",
            if had_handle { " (+fresh)" } else { "" }
        );
        self.session_lost(why).await;
        None
    }

    async fn session_lost(&self, reason: String) {
        tracing::error!(%reason, "Gemini Live session lost");
        *lock(&self.lost) = Some(reason.clone());
        if self.stopped.load(Ordering::SeqCst) || !self.attached.load(Ordering::SeqCst) {
            return;
        }
        if let Some(call) = self.control() {
            call.emit(SessionEvent::SessionLost { reason });
            call.hangup().await;
        }
    }
}

fn is_setup_complete(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .is_some_and(|v| v.get("setupComplete").is_some())
}

fn close_reason(frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(f) => format!("closed by server ({} {})", u16::from(f.code), f.reason),
        None => "closed by server".to_owned(),
    }
}

#[async_trait]
impl Session for GeminiLiveSession {
    fn set_tools(&self, tools: SessionTools) {
        *lock(&self.inner.tools) = tools;
    }

    /// Always `true`: the Live API fixes tools at connect ([`GeminiLiveSession::cannot_change_tools_after_start`]).
    fn tools_frozen_after_prewarm(&self) -> bool {
        self.cannot_change_tools_after_start()
    }

    /// Connects, sends `setup` with every tool known now, waits for `setupComplete`, then
    /// sends the greeting text. Audio produced until [`Session::attach`] is buffered in order.
    async fn prewarm(&self, stand_in: CallHandle) -> Result<(), AgentError> {
        let inner = &self.inner;
        if inner.stopped.load(Ordering::SeqCst) {
            return Err(AgentError::Session("session already stopped".into()));
        }
        *lock(&inner.control) = Some(stand_in);
        let decls = wire::declarations(&inner.config, &lock(&inner.tools));
        *lock(&inner.declarations) = decls;
        lock(&inner.handle).take();
        let ws = inner.attempt(None).await?;
        if inner.stopped.load(Ordering::SeqCst) {
            let mut ws = ws;
            let _ = tokio::time::timeout(STOP_LIMIT, ws.close(None)).await;
            return Err(AgentError::Session(
                "session stopped while connecting".into(),
            ));
        }
        inner.adopt(ws);
        if inner.config.greeting {
            inner.send(&wire::text(GREETING_TEXT));
        }
        Ok(())
    }

    /// Swaps in the real call and flushes the buffered greeting audio in order. Tools cannot
    /// change any more (a changed set is logged).
    async fn attach(&self, call: CallHandle) -> Result<(), AgentError> {
        let inner = &self.inner;
        if let Some(reason) = lock(&inner.lost).clone() {
            call.emit(SessionEvent::SessionLost {
                reason: reason.clone(),
            });
            return Err(AgentError::Session(format!(
                "Gemini Live session lost before answer: {reason}"
            )));
        }
        if lock(&inner.conn).is_none() && !inner.reconnecting.load(Ordering::SeqCst) {
            return Err(AgentError::Session("not connected (prewarm first)".into()));
        }
        let now: Vec<String> = lock(&inner.tools)
            .specs()
            .into_iter()
            .map(|s| s.name)
            .collect();
        let declared = lock(&inner.declarations).list.len();
        if now.len() != declared {
            tracing::warn!(
                declared,
                now = now.len(),
                "tools changed after the Gemini Live connection; the model keeps the first set"
            );
        }
        *lock(&inner.control) = Some(Arc::clone(&call));
        {
            let mut sink = lock(&inner.sink);
            for chunk in std::mem::take(&mut sink.buffer) {
                call.send_audio(chunk);
            }
            sink.call = Some(call);
        }
        inner.attached.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// μ-law 8 kHz → PCM16 → 16 kHz → one `realtimeInput.audio` frame. Dropped while
    /// reconnecting.
    async fn feed_audio(&self, ulaw: Bytes, _timestamp_ms: u64) {
        let inner = &self.inner;
        if lock(&inner.conn).is_none() {
            return;
        }
        let pcm16k = {
            let mut input = lock(&inner.input);
            if input.is_none() {
                match Resampler::new(8_000, 16_000) {
                    Ok(r) => *input = Some(r),
                    Err(e) => {
                        tracing::warn!(error = %e, "input resampler unavailable");
                        return;
                    }
                }
            }
            match input.as_mut() {
                Some(r) => r.process(&ulaw_decode(&ulaw)),
                None => return,
            }
        };
        if pcm16k.is_empty() {
            return;
        }
        let mut le = Vec::with_capacity(pcm16k.len() * 2);
        for s in pcm16k {
            le.extend_from_slice(&s.to_le_bytes());
        }
        inner.send(&wire::audio(&le));
    }

    /// Sends `[DTMF 입력: <digits>]` as a text realtime input (the model decides to answer).
    async fn feed_dtmf(&self, digits: DtmfInput) {
        self.inner.send(&wire::text(&digits.model_text()));
    }

    /// Closes the socket (close frame, ≤ 2 s), cancels running tools and reaps every task.
    /// Idempotent.
    async fn stop(&self) {
        let inner = &self.inner;
        if inner.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        inner.cancel_tools(None);
        inner.cancel.cancel();
        inner.tasks.close();
        if tokio::time::timeout(STOP_LIMIT + Duration::from_millis(500), inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("Gemini Live session tasks did not finish in time");
        }
        lock(&inner.conn).take();
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
                provider: Some("gemini".into()),
            }),
            mcp_server_count: 0,
            recording_enabled: false,
            session_type: "gemini_realtime".into(),
            stt: None,
            tool_count: 0,
            tts: None,
            voice: Some(config.voice.clone()),
        })
    }
}
