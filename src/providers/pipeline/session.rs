//! [`PipelineSession`]: one call's STT → LLM → TTS conversation.

use crate::sync::lock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use clawops_api::events::{CallTelemetryData, TelemetryModelInfo};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{ChatMessage, Llm, LlmEvent, ProviderError, SpeechEvent, Stt, ToolCall, ToolSpec, Tts};
use crate::agent::{
    AgentError, CallHandle, DtmfInput, InFlightTools, Role, Session, SessionEvent, SessionFactory,
    SessionTools, ToolOutput,
};
use crate::audio::{Resampler, ULAW_SAMPLE_RATE, ulaw_decode, ulaw_encode};

/// The user turn that triggers the greeting.
pub const GREETING_TEXT: &str = "[통화 시작]";
/// Delay between session start (or prewarm) and the greeting request.
pub const GREETING_DELAY: Duration = Duration::from_millis(500);
/// How long a final transcript waits for another one before it is answered.
pub const TURN_DEBOUNCE: Duration = Duration::from_millis(500);
/// STT input rate.
const STT_RATE: u32 = 16_000;
/// One 20 ms PCM16 frame at 16 kHz.
const STT_FRAME: usize = 640;
/// Caller frames queued for the STT before new ones are dropped (10 s).
const STT_QUEUE: usize = 500;
/// How long `stop()` waits for the tasks.
const STOP_LIMIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct Config {
    system_prompt: String,
    language: String,
    greeting: bool,
    greeting_delay: Duration,
    debounce: Duration,
    max_tool_rounds: u32,
}

/// Builds a [`Pipeline`].
#[must_use]
pub struct PipelineBuilder {
    stt: Arc<dyn Stt>,
    llm: Arc<dyn Llm>,
    tts: Arc<dyn Tts>,
    config: Config,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// The system prompt (first history message; sent even when empty).
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.config.system_prompt = prompt.into();
        self
    }
    /// Language reported in telemetry (default `ko`; configure the STT separately).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.config.language = language.into();
        self
    }
    /// Whether the agent speaks first (`[통화 시작]` user turn after 0.5 s; default on).
    pub fn greeting(mut self, on: bool) -> Self {
        self.config.greeting = on;
        self
    }
    /// Delay before the greeting request (default [`GREETING_DELAY`]).
    pub fn greeting_delay(mut self, delay: Duration) -> Self {
        self.config.greeting_delay = delay;
        self
    }
    /// Debounce of final transcripts (default [`TURN_DEBOUNCE`]).
    pub fn turn_debounce(mut self, delay: Duration) -> Self {
        self.config.debounce = delay;
        self
    }
    /// Model requests after tool results within one answer before the answer is ended
    /// (default 8; the Python SDK has no bound).
    pub fn max_tool_rounds(mut self, rounds: u32) -> Self {
        self.config.max_tool_rounds = rounds;
        self
    }
    /// The factory.
    pub fn build(self) -> Pipeline {
        Pipeline {
            stt: self.stt,
            llm: self.llm,
            tts: self.tts,
            config: Arc::new(self.config),
        }
    }
}

/// A [`SessionFactory`] of [`PipelineSession`]s sharing one set of providers (each session
/// opens its own connections).
#[derive(Clone)]
pub struct Pipeline {
    stt: Arc<dyn Stt>,
    llm: Arc<dyn Llm>,
    tts: Arc<dyn Tts>,
    config: Arc<Config>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.config)
            .field("stt", &self.stt.info())
            .field("llm", &self.llm.info())
            .field("tts", &self.tts.info())
            .finish()
    }
}

impl Pipeline {
    /// Starts a builder from the three providers.
    pub fn builder(stt: impl Stt, llm: impl Llm, tts: impl Tts) -> PipelineBuilder {
        PipelineBuilder {
            stt: Arc::new(stt),
            llm: Arc::new(llm),
            tts: Arc::new(tts),
            config: Config {
                system_prompt: String::new(),
                language: "ko".into(),
                greeting: true,
                greeting_delay: GREETING_DELAY,
                debounce: TURN_DEBOUNCE,
                max_tool_rounds: 8,
            },
        }
    }

    /// A new session for one call.
    pub fn session(&self) -> PipelineSession {
        PipelineSession::new(self)
    }
}

impl SessionFactory for Pipeline {
    fn create(&self) -> Result<Box<dyn Session>, AgentError> {
        Ok(Box::new(self.session()))
    }
}

/// Counters of one pipeline session (see [`PipelineSession::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineStats {
    /// Answers that finished (not interrupted).
    pub turns: u32,
    /// Barge-ins (speech while the agent's audio had been sent).
    pub barge_ins: u32,
    /// Tool calls the model made.
    pub tool_calls: u32,
    /// Model requests made.
    pub llm_requests: u32,
    /// μ-law audio chunks handed to the call (or the prewarm buffer).
    pub audio_chunks: u64,
}

#[derive(Default)]
struct History {
    messages: Vec<ChatMessage>,
    /// Bumped whenever a running answer must no longer change the history.
    generation: u64,
}

#[derive(Default)]
struct Sink {
    call: Option<CallHandle>,
    buffer: Vec<Bytes>,
}

struct Upsampler {
    resampler: Option<Resampler>,
    pending: Vec<u8>,
}

struct Inner {
    stt: Arc<dyn Stt>,
    llm: Arc<dyn Llm>,
    tts: Arc<dyn Tts>,
    config: Arc<Config>,
    tools: Mutex<SessionTools>,
    /// The call for events and builtins (the stand-in during prewarm).
    control: Mutex<Option<CallHandle>>,
    /// Where assistant audio goes (buffered until attach).
    sink: Mutex<Sink>,
    history: Mutex<History>,
    stt_tx: Mutex<Option<mpsc::Sender<Bytes>>>,
    upsampler: Mutex<Upsampler>,
    response: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    debounce: Mutex<Option<JoinHandle<()>>>,
    /// Audio chunks sent in the current/last answer (reset at the start of each answer and on
    /// barge-in, not at its end).
    audio_sent: AtomicU64,
    in_flight: InFlightTools,
    tasks: TaskTracker,
    cancel: CancellationToken,
    started: AtomicBool,
    stopped: AtomicBool,
    turns: AtomicU32,
    barge_ins: AtomicU32,
    tool_calls: AtomicU32,
    llm_requests: AtomicU32,
    audio_chunks: AtomicU64,
}

/// One call's pipeline conversation. Create it through [`Pipeline`] (one per call); see the
/// [module docs](super) for the behaviour.
pub struct PipelineSession {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PipelineSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineSession")
            .field("config", &self.inner.config)
            .field("started", &self.inner.started.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for PipelineSession {
    fn drop(&mut self) {
        self.inner.cancel.cancel();
    }
}

impl PipelineSession {
    fn new(p: &Pipeline) -> Self {
        let history = History {
            messages: vec![ChatMessage::system(p.config.system_prompt.clone())],
            generation: 0,
        };
        Self {
            inner: Arc::new(Inner {
                stt: Arc::clone(&p.stt),
                llm: Arc::clone(&p.llm),
                tts: Arc::clone(&p.tts),
                config: Arc::clone(&p.config),
                tools: Mutex::new(SessionTools::default()),
                control: Mutex::new(None),
                sink: Mutex::new(Sink::default()),
                history: Mutex::new(history),
                stt_tx: Mutex::new(None),
                upsampler: Mutex::new(Upsampler {
                    resampler: Resampler::new(ULAW_SAMPLE_RATE, STT_RATE).ok(),
                    pending: Vec::with_capacity(STT_FRAME * 2),
                }),
                response: tokio::sync::Mutex::new(None),
                debounce: Mutex::new(None),
                audio_sent: AtomicU64::new(0),
                in_flight: InFlightTools::new(),
                tasks: TaskTracker::new(),
                cancel: CancellationToken::new(),
                started: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                turns: AtomicU32::new(0),
                barge_ins: AtomicU32::new(0),
                tool_calls: AtomicU32::new(0),
                llm_requests: AtomicU32::new(0),
                audio_chunks: AtomicU64::new(0),
            }),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PipelineStats {
        let i = &self.inner;
        PipelineStats {
            turns: i.turns.load(Ordering::Relaxed),
            barge_ins: i.barge_ins.load(Ordering::Relaxed),
            tool_calls: i.tool_calls.load(Ordering::Relaxed),
            llm_requests: i.llm_requests.load(Ordering::Relaxed),
            audio_chunks: i.audio_chunks.load(Ordering::Relaxed),
        }
    }

    /// A copy of the conversation history (system message first).
    pub fn history(&self) -> Vec<ChatMessage> {
        lock(&self.inner.history).messages.clone()
    }

    /// Bytes of assistant audio waiting for [`Session::attach`] (prewarm).
    pub fn buffered_bytes(&self) -> usize {
        lock(&self.inner.sink).buffer.iter().map(Bytes::len).sum()
    }
}

/// Whether `text` ends a sentence: `.`, `!`, `?`, `。`, `！`, `？` plus optional whitespace.
fn ends_sentence(text: &str) -> bool {
    matches!(
        text.trim_end().chars().last(),
        Some('.' | '!' | '?' | '。' | '！' | '？')
    )
}

/// Drops the hold-audio loop when the tool batch ends or the answer is cancelled.
struct HoldGuard(CancellationToken);

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Inner {
    /// Spawns a task owned by this session: tracked, and ended by `stop()` / drop.
    fn spawn<F>(&self, fut: F) -> JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = fut => {}
            }
        })
    }

    fn control(&self) -> Option<CallHandle> {
        lock(&self.control).clone()
    }

    fn emit(&self, event: SessionEvent) {
        if let Some(call) = self.control() {
            call.emit(event);
        }
    }

    fn deliver(&self, ulaw: Vec<u8>) {
        if ulaw.is_empty() {
            return;
        }
        let bytes = Bytes::from(ulaw);
        {
            let mut sink = lock(&self.sink);
            match sink.call.clone() {
                Some(call) => call.send_audio(bytes),
                None => sink.buffer.push(bytes),
            }
        }
        self.audio_sent.fetch_add(1, Ordering::SeqCst);
        self.audio_chunks.fetch_add(1, Ordering::Relaxed);
    }

    fn clear_call_audio(&self) {
        let call = {
            let mut sink = lock(&self.sink);
            sink.buffer.clear();
            sink.call.clone()
        };
        if let Some(call) = call {
            call.clear_audio();
        }
    }

    fn cancel_debounce(&self) {
        if let Some(h) = lock(&self.debounce).take() {
            h.abort();
        }
    }

    /// Appends `message` and invalidates any running answer's pending history writes.
    fn push_user(&self, text: String) {
        let mut h = lock(&self.history);
        h.generation += 1;
        h.messages.push(ChatMessage::user(text));
    }

    /// Cancels the running answer (if any) and waits for it; its history writes are void.
    async fn cancel_response(&self) -> bool {
        let mut slot = self.response.lock().await;
        lock(&self.history).generation += 1;
        match slot.take() {
            Some(handle) => {
                let running = !handle.is_finished();
                handle.abort();
                let _ = handle.await;
                running
            }
            None => false,
        }
    }

    /// Cancels the running answer and starts a new one for the current history.
    async fn respond_now(self: &Arc<Self>) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        let mut slot = self.response.lock().await;
        if let Some(handle) = slot.take() {
            handle.abort();
            let _ = handle.await;
        }
        let generation = {
            let mut h = lock(&self.history);
            h.generation += 1;
            h.generation
        };
        self.audio_sent.store(0, Ordering::SeqCst);
        let me = Arc::clone(self);
        *slot = Some(self.spawn(async move { me.respond(generation).await }));
    }

    /// Barge-in: clear the call, cancel the answer and its tools.
    async fn barge_in(self: &Arc<Self>) {
        if self.audio_sent.swap(0, Ordering::SeqCst) == 0 {
            return;
        }
        self.barge_ins.fetch_add(1, Ordering::Relaxed);
        let cancelled_tools = self.in_flight.cancel_all();
        let was_running = self.cancel_response().await;
        // The answer may have delivered a chunk between the swap and its cancellation.
        self.audio_sent.store(0, Ordering::SeqCst);
        self.clear_call_audio();
        tracing::debug!(was_running, cancelled_tools, "pipeline barge-in");
    }

    async fn on_speech(self: &Arc<Self>, event: SpeechEvent) {
        match event {
            SpeechEvent::SpeechStarted => self.barge_in().await,
            SpeechEvent::Interim(text) => {
                self.barge_in().await;
                if !text.trim().is_empty() {
                    self.emit(SessionEvent::TranscriptDelta {
                        role: Role::User,
                        text,
                    });
                }
            }
            SpeechEvent::Final(text) => self.on_final(text).await,
            _ => {}
        }
    }

    async fn on_final(self: &Arc<Self>, text: String) {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return;
        }
        self.emit(SessionEvent::Transcript {
            role: Role::User,
            text: text.clone(),
        });
        self.push_user(text);
        self.cancel_debounce();
        if self.audio_sent.load(Ordering::SeqCst) > 0 {
            // The caller talked over audio: interrupt and answer at once.
            self.barge_in().await;
            self.respond_now().await;
        } else {
            self.cancel_response().await;
            let me = Arc::clone(self);
            let delay = self.config.debounce;
            let handle = self.spawn(async move {
                tokio::time::sleep(delay).await;
                me.respond_now().await;
            });
            *lock(&self.debounce) = Some(handle);
        }
    }

    /// One answer: model rounds until text without tool calls (or the round limit).
    async fn respond(self: Arc<Self>, generation: u64) {
        let specs: Vec<ToolSpec> = lock(&self.tools).specs();
        let mut rounds = 0u32;
        loop {
            let messages = {
                let h = lock(&self.history);
                if h.generation != generation {
                    return;
                }
                h.messages.clone()
            };
            let (text, calls) = match self.round(&messages, &specs).await {
                Ok(out) => out,
                Err(error) => {
                    tracing::warn!(%error, "pipeline response error");
                    return;
                }
            };
            let spoken = text.trim().to_owned();
            if !spoken.is_empty() {
                self.emit(SessionEvent::Transcript {
                    role: Role::Assistant,
                    text: spoken.clone(),
                });
            }
            if calls.is_empty() {
                let mut h = lock(&self.history);
                if h.generation != generation {
                    return;
                }
                if !spoken.is_empty() {
                    h.messages.push(ChatMessage::assistant(spoken));
                }
                drop(h);
                self.turns.fetch_add(1, Ordering::Relaxed);
                if let Some(call) = self.control() {
                    call.record_turn();
                }
                return;
            }
            let pre_text = (!spoken.is_empty()).then_some(spoken);
            let Some((results, hang_up)) = self.run_tools(&calls).await else {
                return;
            };
            {
                let mut h = lock(&self.history);
                if h.generation != generation {
                    return;
                }
                h.messages
                    .push(ChatMessage::assistant_tool_calls(pre_text, calls));
                for (id, content) in results {
                    h.messages.push(ChatMessage::tool(id, content));
                }
            }
            if hang_up {
                return;
            }
            rounds += 1;
            if rounds > self.config.max_tool_rounds {
                tracing::warn!(rounds, "tool round limit reached; answer ended");
                return;
            }
        }
    }

    /// Runs a tool batch in order. `None` when cancelled; else the results and whether
    /// `hang_up` ran.
    async fn run_tools(
        self: &Arc<Self>,
        calls: &[ToolCall],
    ) -> Option<(Vec<(String, String)>, bool)> {
        let call = self.control()?;
        let tools = lock(&self.tools).clone();
        self.tool_calls.fetch_add(
            u32::try_from(calls.len()).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
        let names: Vec<&str> = calls.iter().map(|c| c.function.name.as_str()).collect();
        let hold = match &tools.hold_audio {
            Some(audio)
                if !audio.is_empty()
                    && call.is_connected()
                    && !SessionTools::batch_needs_no_hold_audio(names.iter().copied()) =>
            {
                let token = self.cancel.child_token();
                let (call, audio, stop) = (Arc::clone(&call), audio.clone(), token.clone());
                self.tasks.spawn(async move {
                    loop {
                        for chunk in audio.chunks() {
                            call.send_audio(chunk.clone());
                            tokio::select! {
                                () = stop.cancelled() => return,
                                () = tokio::time::sleep(Duration::from_millis(20)) => {}
                            }
                        }
                    }
                });
                Some(HoldGuard(token))
            }
            _ => None,
        };
        let mut results = Vec::with_capacity(calls.len());
        let mut hang_up = false;
        for tc in calls {
            let args = if tc.function.arguments.trim().is_empty() {
                "{}"
            } else {
                tc.function.arguments.as_str()
            };
            let out = self
                .in_flight
                .run(tools.dispatch(call.as_ref(), &tc.function.name, args))
                .await?;
            match out {
                ToolOutput::Silent => {
                    hang_up = true;
                    results.push((tc.id.clone(), String::new()));
                }
                other => results.push((tc.id.clone(), other.model_text().unwrap_or_default())),
            }
        }
        if hold.is_some() {
            drop(hold);
            call.clear_audio();
        }
        Some((results, hang_up))
    }

    /// One model request, spoken sentence by sentence while it streams.
    async fn round(
        self: &Arc<Self>,
        messages: &[ChatMessage],
        specs: &[ToolSpec],
    ) -> Result<(String, Vec<ToolCall>), ProviderError> {
        self.llm_requests.fetch_add(1, Ordering::Relaxed);
        let mut llm = self.llm.generate(messages, specs).await?;
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let me = Arc::clone(self);
        let think = async move {
            let mut buffer = String::new();
            let mut spoken = String::new();
            let mut calls = Vec::new();
            let flush = |buffer: &mut String, spoken: &mut String| {
                let sentence = std::mem::take(buffer);
                if !sentence.trim().is_empty() {
                    spoken.push_str(&sentence);
                    me.emit(SessionEvent::TranscriptDelta {
                        role: Role::Assistant,
                        text: spoken.trim().to_owned(),
                    });
                    let _ = tx.send(sentence);
                }
            };
            while let Some(event) = llm.next().await {
                match event? {
                    LlmEvent::Text(token) => {
                        buffer.push_str(&token);
                        if ends_sentence(&buffer) {
                            flush(&mut buffer, &mut spoken);
                        }
                    }
                    LlmEvent::ToolCalls(c) => {
                        calls.extend(c);
                        break;
                    }
                }
            }
            flush(&mut buffer, &mut spoken);
            Ok::<_, ProviderError>((spoken, calls))
        };
        let speak =
            async {
                let Some(first) = rx.recv().await else {
                    return Ok(());
                };
                let rest = futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|s| (s, rx))
                });
                let text = futures::stream::once(async move { first })
                    .chain(rest)
                    .boxed();
                let rate = self.tts.sample_rate();
                let mut audio = self.tts.synthesize(text).await?;
                let mut resampler =
                    Resampler::new(rate, ULAW_SAMPLE_RATE).map_err(|e| ProviderError::Config {
                        provider: "tts",
                        message: e.to_string(),
                    })?;
                let mut carry: Option<u8> = None;
                let mut samples = Vec::new();
                while let Some(chunk) = audio.next().await {
                    let chunk = chunk?;
                    samples.clear();
                    let mut bytes = chunk.iter().copied();
                    if let Some(lo) = carry.take() {
                        match bytes.next() {
                            Some(hi) => samples.push(i16::from_le_bytes([lo, hi])),
                            None => carry = Some(lo),
                        }
                    }
                    let rest: Vec<u8> = bytes.collect();
                    let mut pairs = rest.chunks_exact(2);
                    samples.extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
                    if let [odd] = pairs.remainder() {
                        carry = Some(*odd);
                    }
                    let out = resampler.process(&samples);
                    self.deliver(ulaw_encode(&out));
                }
                self.deliver(ulaw_encode(&resampler.flush()));
                Ok::<_, ProviderError>(())
            };
        let (thought, spoken) = tokio::join!(think, speak);
        spoken?;
        thought
    }

    fn start_stt_loop(self: &Arc<Self>, mut events: super::SpeechEvents) {
        let me = Arc::clone(self);
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            let reason = loop {
                let next = tokio::select! {
                    () = cancel.cancelled() => return,
                    next = events.next() => next,
                };
                match next {
                    Some(Ok(event)) => me.on_speech(event).await,
                    Some(Err(error)) => break error.to_string(),
                    None => break "the speech-to-text stream ended".to_owned(),
                }
            };
            if !me.stopped.load(Ordering::SeqCst) {
                tracing::warn!(%reason, "pipeline speech-to-text lost");
                me.emit(SessionEvent::SessionLost { reason });
            }
        });
    }

    fn schedule_greeting(self: &Arc<Self>) {
        if !self.config.greeting {
            return;
        }
        let me = Arc::clone(self);
        let delay = self.config.greeting_delay;
        self.spawn(async move {
            tokio::time::sleep(delay).await;
            me.push_user(GREETING_TEXT.to_owned());
            me.respond_now().await;
        });
    }

    fn feed(&self, ulaw: &[u8]) {
        let Some(tx) = lock(&self.stt_tx).clone() else {
            return;
        };
        let frames = {
            let mut up = lock(&self.upsampler);
            let pcm = ulaw_decode(ulaw);
            let out = match up.resampler.as_mut() {
                Some(r) => r.process(&pcm),
                None => return,
            };
            for s in out {
                up.pending.extend_from_slice(&s.to_le_bytes());
            }
            let whole = up.pending.len() / STT_FRAME * STT_FRAME;
            let frames: Vec<Bytes> = up.pending[..whole]
                .chunks_exact(STT_FRAME)
                .map(Bytes::copy_from_slice)
                .collect();
            up.pending.drain(..whole);
            frames
        };
        for frame in frames {
            if tx.try_send(frame).is_err() {
                tracing::warn!("speech-to-text is not keeping up; caller audio frame dropped");
            }
        }
    }
}

#[async_trait]
impl Session for PipelineSession {
    fn set_tools(&self, tools: SessionTools) {
        *lock(&self.inner.tools) = tools;
    }

    /// Opens the STT stream and schedules the greeting; assistant audio is buffered until
    /// [`Session::attach`].
    async fn prewarm(&self, stand_in: CallHandle) -> Result<(), AgentError> {
        let inner = &self.inner;
        if inner.stopped.load(Ordering::SeqCst) {
            return Err(AgentError::Session("session already stopped".into()));
        }
        if inner.started.swap(true, Ordering::SeqCst) {
            return Err(AgentError::Session("session already started".into()));
        }
        *lock(&inner.control) = Some(stand_in);
        let (tx, rx) = mpsc::channel::<Bytes>(STT_QUEUE);
        let audio =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
                .boxed();
        let events = inner
            .stt
            .transcribe(audio)
            .await
            .map_err(|e| AgentError::Session(e.to_string()))?;
        *lock(&inner.stt_tx) = Some(tx);
        inner.start_stt_loop(events);
        inner.schedule_greeting();
        Ok(())
    }

    /// Binds the call and hands it the buffered audio in order.
    async fn attach(&self, call: CallHandle) -> Result<(), AgentError> {
        let inner = &self.inner;
        if inner.stopped.load(Ordering::SeqCst) {
            return Err(AgentError::Session("session already stopped".into()));
        }
        if !inner.started.load(Ordering::SeqCst) {
            return Err(AgentError::Session("not started (prewarm first)".into()));
        }
        *lock(&inner.control) = Some(Arc::clone(&call));
        let mut sink = lock(&inner.sink);
        for chunk in std::mem::take(&mut sink.buffer) {
            call.send_audio(chunk);
        }
        sink.call = Some(call);
        Ok(())
    }

    async fn feed_audio(&self, ulaw: Bytes, _timestamp_ms: u64) {
        self.inner.feed(&ulaw);
    }

    async fn feed_dtmf(&self, digits: DtmfInput) {
        let inner = &self.inner;
        inner.push_user(digits.model_text());
        inner.cancel_debounce();
        inner.respond_now().await;
    }

    /// Ends the STT stream, cancels the answer, tools and timers, and reaps the tasks.
    async fn stop(&self) {
        let inner = &self.inner;
        if inner.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        lock(&inner.stt_tx).take();
        inner.cancel_debounce();
        inner.in_flight.cancel_all();
        if let Some(h) = inner.response.lock().await.take() {
            h.abort();
        }
        inner.cancel.cancel();
        inner.tasks.close();
        if tokio::time::timeout(STOP_LIMIT, inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("pipeline session tasks did not finish in time");
        }
        lock(&inner.sink).call.take();
        lock(&inner.control).take();
    }

    fn telemetry(&self) -> Option<CallTelemetryData> {
        let inner = &self.inner;
        let info = |i: Option<super::ProviderInfo>| {
            i.map(|i| TelemetryModelInfo {
                model: Some(i.model),
                provider: Some(i.provider),
            })
        };
        Some(CallTelemetryData {
            builtin_tools: Vec::new(),
            greeting_enabled: inner.config.greeting,
            language: inner.config.language.clone(),
            llm: info(inner.llm.info()),
            mcp_server_count: 0,
            recording_enabled: false,
            session_type: "pipeline".into(),
            stt: info(inner.stt.info()),
            tool_count: 0,
            tts: info(inner.tts.info()),
            voice: inner.tts.voice(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ends_sentence;

    #[test]
    fn sentence_ends_follow_the_reference_set() {
        for s in ["네.", "정말요!", "왜요? ", "好。", "好！", "好？\n"] {
            assert!(ends_sentence(s), "{s:?}");
        }
        for s in ["네", "1,", "", "a.b c"] {
            assert!(!ends_sentence(s), "{s:?}");
        }
    }
}
