//! The contract between the agent loop and an AI provider session.
//!
//! A provider (OpenAI Realtime, Gemini Live, a pipeline, a test script) implements [`Session`].
//! The agent creates **one session per call** through a [`SessionFactory`] (a shared session
//! mixed up concurrent calls, incident 22), injects tools, then either
//!
//! - inbound: [`Session::start`] with the call, or
//! - outbound with prewarm: [`Session::prewarm`] during ringing while the session talks to a
//!   [`BufferingCall`], then [`Session::attach`] with the real call at answer (the buffered
//!   greeting is flushed to it in order).
//!
//! The session talks back to the call only through [`CallControl`]: send μ-law audio, clear
//! (barge-in), hang up, emit transcripts, record tool metrics, and the builtin operations
//! (`collect_dtmf`, `send_dtmf`, transfer). [`Session::stop`] must be idempotent and touch only
//! this session.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use clawops_api::events::CallTelemetryData;

use super::{
    AgentError, BuiltinTools, CollectOptions, DtmfInput, DtmfSequence, Role, ToolRegistry,
    TransferOptions,
};
use crate::audio::HoldAudio;

/// Something a session reports to the call's user handlers.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// Final text of a turn.
    Transcript {
        /// Who spoke.
        role: Role,
        /// The text.
        text: String,
    },
    /// In-progress text of the current utterance (cumulative: replace, don't append).
    TranscriptDelta {
        /// Who speaks.
        role: Role,
        /// Cumulative text so far.
        text: String,
    },
    /// The model connection is lost for good; the agent hangs up (never a silent call).
    SessionLost {
        /// Why.
        reason: String,
    },
}

/// The call as a session sees it. Implemented by the connection layer's call handle, by the
/// standalone runner, and by [`BufferingCall`] during prewarm.
#[async_trait]
pub trait CallControl: Send + Sync {
    /// The call id.
    fn call_id(&self) -> &str;
    /// `false` while the call is not answered yet (prewarm): builtins then return the
    /// not-ready text instead of acting.
    fn is_connected(&self) -> bool {
        true
    }
    /// Queues μ-law 8 kHz audio for the caller (any length; not padded).
    fn send_audio(&self, ulaw: Bytes);
    /// Barge-in: drops queued audio and tells the server to discard its playback queue.
    fn clear_audio(&self);
    /// Hangs up with the mark handshake.
    async fn hangup(&self);
    /// Reports a transcript or session event to the user's handlers (never blocks).
    fn emit(&self, event: SessionEvent);
    /// Counts one tool execution (builtin, user or MCP).
    fn record_tool_call(&self);
    /// Counts one failed user/MCP tool execution.
    fn record_tool_error(&self, tool: &str, message: &str);
    /// Counts one completed conversational turn (an assistant response that finished).
    fn record_turn(&self) {}
    /// `collect_dtmf` on this call (0.70 rules).
    async fn collect_dtmf(&self, options: CollectOptions) -> Result<DtmfInput, AgentError>;
    /// Sends DTMF tones to the far end, honouring `w`/`W` pauses.
    async fn send_dtmf(&self, digits: DtmfSequence) -> Result<(), AgentError>;
    /// Starts a transfer in the background (validated already); its outcome is logged.
    fn start_transfer(&self, options: TransferOptions) -> Result<(), AgentError>;
    /// Sends a mark behind all queued audio and waits up to `limit` for its echo (everything
    /// before it has played). `false` on timeout, closed media, or when unsupported (default).
    async fn mark(&self, name: &str, limit: std::time::Duration) -> bool {
        let _ = (name, limit);
        false
    }
}

/// A shared handle to a call, as given to sessions.
pub type CallHandle = Arc<dyn CallControl>;

/// The tools a session may offer to its model for one call: user tools and enabled builtins.
#[derive(Clone, Debug, Default)]
pub struct SessionTools {
    /// User (and later MCP) tools, forked per call.
    pub registry: ToolRegistry,
    /// Enabled builtins.
    pub builtins: BuiltinTools,
    /// Hold audio to loop while user tools run (`None` = off).
    pub hold_audio: Option<HoldAudio>,
}

/// What an AI provider implements (agent-protocol §9.1).
///
/// All methods take `&self`: the media loop feeds audio while tool tasks or the teardown path
/// may call other methods, so implementations use interior mutability.
#[async_trait]
pub trait Session: Send + Sync + 'static {
    /// Receives the tools for this call. Called **before** [`Session::prewarm`] / [`Session::start`]
    /// (incident 13), and again at attach if the set changed.
    fn set_tools(&self, tools: SessionTools) {
        let _ = tools;
    }

    /// Whether tools cannot change after prewarm (e.g. Gemini Live); the agent then skips
    /// prewarm when tools are only known at answer.
    fn tools_frozen_after_prewarm(&self) -> bool {
        false
    }

    /// Connects and configures the model without a call; audio produced before
    /// [`Session::attach`] goes to the buffering stand-in passed here. Default: no prewarm.
    async fn prewarm(&self, stand_in: CallHandle) -> Result<(), AgentError> {
        let _ = stand_in;
        Ok(())
    }

    /// Binds the real call after a prewarm.
    async fn attach(&self, call: CallHandle) -> Result<(), AgentError>;

    /// The non-prewarm path (inbound, or fallback): connect and bind at once.
    async fn start(&self, call: CallHandle) -> Result<(), AgentError> {
        self.prewarm(Arc::clone(&call)).await?;
        self.attach(call).await
    }

    /// Caller audio: μ-law 8 kHz after rx gain, with its media timestamp in ms.
    async fn feed_audio(&self, ulaw: Bytes, timestamp_ms: u64);

    /// Confirmed passive DTMF digits; inject [`DtmfInput::model_text`] and trigger a response.
    async fn feed_dtmf(&self, digits: DtmfInput);

    /// Closes provider connections and reaps tasks. Must be idempotent.
    async fn stop(&self);

    /// Data for the `call.telemetry` frame, if the provider has any.
    fn telemetry(&self) -> Option<CallTelemetryData> {
        None
    }
}

/// Creates a fresh session per call.
pub trait SessionFactory: Send + Sync + 'static {
    /// A new, unshared session.
    fn create(&self) -> Result<Box<dyn Session>, AgentError>;
}

impl<F, S> SessionFactory for F
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Session,
{
    fn create(&self) -> Result<Box<dyn Session>, AgentError> {
        Ok(Box::new(self()))
    }
}

/// Text every builtin returns while the call is not answered yet (§7.3, incident 15).
pub const NOT_CONNECTED_TEXT: &str =
    "통화가 아직 연결되지 않았습니다(발신 호출음 단계). 상대가 전화를 받은 뒤에 다시 시도하세요.";

/// The stand-in call during prewarm (§9.3): audio is buffered, `clear` drops it, events are
/// counted and dropped, builtins report "not connected", and the metrics surface is complete
/// (the peer's stub lacked `record_tool_error`).
#[derive(Debug)]
pub struct BufferingCall {
    call_id: String,
    audio: Mutex<Vec<Bytes>>,
    dropped_events: Mutex<BTreeMap<&'static str, u64>>,
    tool_calls: AtomicU64,
    tool_errors: AtomicU64,
    interrupts: AtomicU64,
    attached: AtomicBool,
}

impl BufferingCall {
    /// A stand-in for `call_id`.
    pub fn new(call_id: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            call_id: call_id.into(),
            audio: Mutex::new(Vec::new()),
            dropped_events: Mutex::new(BTreeMap::new()),
            tool_calls: AtomicU64::new(0),
            tool_errors: AtomicU64::new(0),
            interrupts: AtomicU64::new(0),
            attached: AtomicBool::new(false),
        })
    }

    /// Hands the buffered audio to the real call in order and returns the dropped event
    /// counts; later audio sent to the stand-in is forwarded to nobody (dropped).
    pub fn flush_into(&self, call: &dyn CallControl) -> BTreeMap<&'static str, u64> {
        self.attached.store(true, Ordering::SeqCst);
        let chunks = std::mem::take(&mut *crate::sync::lock(&self.audio));
        for chunk in chunks {
            call.send_audio(chunk);
        }
        let dropped = std::mem::take(&mut *crate::sync::lock(&self.dropped_events));
        if !dropped.is_empty() {
            tracing::info!(call_id = %self.call_id, ?dropped, "events emitted before answer were dropped");
        }
        dropped
    }

    /// Bytes currently buffered.
    pub fn buffered_bytes(&self) -> usize {
        crate::sync::lock(&self.audio).iter().map(Bytes::len).sum()
    }

    /// (tool calls, tool errors, interrupts) recorded during prewarm.
    pub fn counters(&self) -> (u64, u64, u64) {
        (
            self.tool_calls.load(Ordering::Relaxed),
            self.tool_errors.load(Ordering::Relaxed),
            self.interrupts.load(Ordering::Relaxed),
        )
    }
}

#[async_trait]
impl CallControl for BufferingCall {
    fn call_id(&self) -> &str {
        &self.call_id
    }
    fn is_connected(&self) -> bool {
        false
    }
    fn send_audio(&self, ulaw: Bytes) {
        if !self.attached.load(Ordering::SeqCst) {
            crate::sync::lock(&self.audio).push(ulaw);
        }
    }
    fn clear_audio(&self) {
        self.interrupts.fetch_add(1, Ordering::Relaxed);
        crate::sync::lock(&self.audio).clear();
    }
    async fn hangup(&self) {
        tracing::warn!(call_id = %self.call_id, "hangup requested before answer; ignored");
    }
    fn emit(&self, event: SessionEvent) {
        let name = match event {
            SessionEvent::Transcript { .. } => "transcript",
            SessionEvent::TranscriptDelta { .. } => "transcript_delta",
            SessionEvent::SessionLost { .. } => "session_lost",
        };
        *crate::sync::lock(&self.dropped_events)
            .entry(name)
            .or_default() += 1;
    }
    fn record_tool_call(&self) {
        self.tool_calls.fetch_add(1, Ordering::Relaxed);
    }
    fn record_tool_error(&self, _tool: &str, _message: &str) {
        self.tool_errors.fetch_add(1, Ordering::Relaxed);
    }
    async fn collect_dtmf(&self, _options: CollectOptions) -> Result<DtmfInput, AgentError> {
        Err(AgentError::NotAvailable(NOT_CONNECTED_TEXT.into()))
    }
    async fn send_dtmf(&self, _digits: DtmfSequence) -> Result<(), AgentError> {
        Err(AgentError::NotAvailable(NOT_CONNECTED_TEXT.into()))
    }
    fn start_transfer(&self, _options: TransferOptions) -> Result<(), AgentError> {
        Err(AgentError::NotAvailable(NOT_CONNECTED_TEXT.into()))
    }
}
