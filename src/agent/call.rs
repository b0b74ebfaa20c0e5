//! The [`Call`] handle: one phone call served by the agent (or a standalone runner).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use clawops_api::events::{CallMetricsEndReason, ControlCommand, TransferRequestAfter};
use clawops_api::types::{CallStatus, Direction};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::AgentError;
use super::control::ControlLink;
use super::dtmf::{CallDtmf, CollectOptions, DtmfInput, DtmfSequence, DtmfStep};
use super::events::{CallEvent, Role};
use super::media::MediaLink;
use super::session::{CallControl, SessionEvent};
use super::transfer::{TransferOptions, TransferOutcome, TransferRegistry, TransferResultKind};
use crate::audio::Gain;

/// How long `call_end` waits for the server's terminal `call.ended` frame after media closed.
pub const TERMINAL_FRAME_GRACE: Duration = Duration::from_secs(2);

/// Why a call ended, from this side's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// The far end (caller or platform) ended the stream first.
    UserHangup,
    /// This side hung up (`hangup()`, the `hang_up` tool, shutdown).
    AgentHangup,
    /// A transfer handed the caller on (`after_transfer` = terminate) and the platform ended
    /// this side's media.
    Transfer,
    /// The media connection failed or the session could not run.
    Error,
}

impl EndReason {
    pub(crate) fn wire(self) -> CallMetricsEndReason {
        match self {
            Self::UserHangup => CallMetricsEndReason::UserHangup,
            // The wire vocabulary has no transfer value: the agent's side chose to end.
            Self::AgentHangup | Self::Transfer => CallMetricsEndReason::AgentHangup,
            Self::Error => CallMetricsEndReason::Error,
        }
    }
}

/// A snapshot of a call's metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallMetrics {
    /// Time from the creation of the call object to the first audio sent.
    pub time_to_first_audio: Option<Duration>,
    /// `clear_audio` calls (barge-ins).
    pub barge_ins: u32,
    /// Tool executions (builtin and user).
    pub tool_calls: u32,
    /// User tool executions that failed.
    pub tool_errors: u32,
    /// Completed conversational turns, as the session reports them.
    pub turns: u32,
    /// Caller audio frames that reached the session late (see
    /// [`LateFrames`](super::ops::LateFrames)).
    pub frames_late: u32,
    /// Why the call ended (`None` while it runs).
    pub end_reason: Option<EndReason>,
    /// Errors recorded for the metrics frame (type, message ≤ 200 chars; at most 20).
    pub errors: Vec<(String, String)>,
}

#[derive(Debug)]
struct State {
    status: CallStatus,
    ended_status: Option<CallStatus>,
    ended_duration: Option<i64>,
    server_status_set: bool,
    metrics: CallMetrics,
    local_hangup: bool,
    /// Transfers with `after_transfer` = terminate sent and not (yet) failed.
    handoffs: u32,
    events: Option<mpsc::UnboundedSender<CallEvent>>,
    started_event: bool,
}

pub(crate) struct CallInner {
    pub(crate) call_id: String,
    pub(crate) direction: Direction,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) account_id: String,
    pub(crate) caller_id_restricted: bool,
    pub(crate) forwarded_from: Option<String>,
    created: Instant,
    state: Mutex<State>,
    ended: watch::Sender<bool>,
    terminal: watch::Sender<bool>,
    pub(crate) media: MediaLink,
    pub(crate) control: Option<ControlLink>,
    pub(crate) transfers: TransferRegistry,
    pub(crate) dtmf: Arc<CallDtmf>,
    pub(crate) tx_gain: Gain,
    first_audio_ms: AtomicU64,
    pub(crate) recorder: Option<Arc<Mutex<super::recorder::Recorder>>>,
    pub(crate) tasks: tokio_util::task::TaskTracker,
    rest: Option<crate::ClawOps>,
}

/// One phone call. Cheap to clone; every clone is the same call.
///
/// Audio is G.711 μ-law at 8 kHz. [`send_audio`](Self::send_audio) never blocks: chunks go to an
/// ordered queue that the call's media task writes out; [`clear_audio`](Self::clear_audio) drops
/// what is still queued (barge-in).
#[derive(Clone)]
pub struct Call {
    pub(crate) inner: Arc<CallInner>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("call_id", &self.inner.call_id)
            .field("direction", &self.inner.direction)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// What a call is built from.
pub(crate) struct CallParts {
    pub(crate) call_id: String,
    pub(crate) direction: Direction,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) account_id: String,
    pub(crate) caller_id_restricted: bool,
    pub(crate) forwarded_from: Option<String>,
    pub(crate) status: CallStatus,
    pub(crate) media: MediaLink,
    pub(crate) control: Option<ControlLink>,
    pub(crate) transfers: TransferRegistry,
    pub(crate) dtmf: Arc<CallDtmf>,
    pub(crate) tx_gain: Gain,
    pub(crate) recorder: Option<Arc<Mutex<super::recorder::Recorder>>>,
    pub(crate) tasks: tokio_util::task::TaskTracker,
    pub(crate) rest: Option<crate::ClawOps>,
}

impl Call {
    pub(crate) fn new(parts: CallParts) -> Self {
        Self {
            inner: Arc::new(CallInner {
                call_id: parts.call_id,
                direction: parts.direction,
                from: parts.from,
                to: parts.to,
                account_id: parts.account_id,
                caller_id_restricted: parts.caller_id_restricted,
                forwarded_from: parts.forwarded_from,
                created: Instant::now(),
                state: Mutex::new(State {
                    status: parts.status,
                    ended_status: None,
                    ended_duration: None,
                    server_status_set: false,
                    metrics: CallMetrics::default(),
                    local_hangup: false,
                    handoffs: 0,
                    events: None,
                    started_event: false,
                }),
                ended: watch::channel(false).0,
                terminal: watch::channel(false).0,
                media: parts.media,
                control: parts.control,
                transfers: parts.transfers,
                dtmf: parts.dtmf,
                tx_gain: parts.tx_gain,
                first_audio_ms: AtomicU64::new(u64::MAX),
                recorder: parts.recorder,
                tasks: parts.tasks,
                rest: parts.rest,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.inner.state)
    }

    /// The call id (`CA…`).
    pub fn call_id(&self) -> &str {
        &self.inner.call_id
    }

    /// Inbound or outbound.
    pub fn direction(&self) -> &Direction {
        &self.inner.direction
    }

    /// Caller number (inbound: the caller, may be empty; outbound: the agent's number).
    pub fn from_number(&self) -> &str {
        &self.inner.from
    }

    /// Callee number (inbound: the agent's number; outbound: the dialled number).
    pub fn to_number(&self) -> &str {
        &self.inner.to
    }

    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.inner.account_id
    }

    /// Inbound: the caller withheld caller id.
    pub fn caller_id_restricted(&self) -> bool {
        self.inner.caller_id_restricted
    }

    /// Inbound forwarded call: the number the caller originally dialled, when known.
    pub fn forwarded_from(&self) -> Option<&str> {
        self.inner.forwarded_from.as_deref()
    }

    /// Live status (`queued`, `ringing`, `in-progress`, then the final status).
    pub fn status(&self) -> CallStatus {
        self.state().status.clone()
    }

    /// Final status once ended: `completed`, `no-answer`, `busy`, `rejected`, `canceled`,
    /// `failed`, or an unknown server value kept as is. Only `completed` means connected.
    pub fn ended_status(&self) -> Option<CallStatus> {
        self.state().ended_status.clone()
    }

    /// Server-confirmed duration in seconds from the terminal `call.ended` frame (never computed
    /// locally; `None` when the server did not send it in time).
    pub fn ended_duration(&self) -> Option<i64> {
        self.state().ended_duration
    }

    /// Local elapsed time since the call object was created (not for billing).
    pub fn duration(&self) -> Duration {
        self.inner.created.elapsed()
    }

    /// A snapshot of the call's metrics.
    pub fn metrics(&self) -> CallMetrics {
        let mut m = self.state().metrics.clone();
        let ms = self.inner.first_audio_ms.load(Ordering::Relaxed);
        m.time_to_first_audio = (ms != u64::MAX).then(|| Duration::from_millis(ms));
        m
    }

    /// Whether the call has ended.
    pub fn is_ended(&self) -> bool {
        *self.inner.ended.borrow()
    }

    /// Sends μ-law audio to the caller (tx gain applied, recorded). Never blocks; any length is
    /// sent as is (a partial tail frame is not padded).
    pub fn send_audio(&self, ulaw: impl Into<Vec<u8>>) {
        let mut ulaw = ulaw.into();
        if ulaw.is_empty() || self.inner.media.is_closed() {
            return;
        }
        if self.inner.first_audio_ms.load(Ordering::Relaxed) == u64::MAX {
            let ms = self.inner.created.elapsed().as_millis() as u64;
            let _ = self.inner.first_audio_ms.compare_exchange(
                u64::MAX,
                ms,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        if !self.inner.tx_gain.is_unity() {
            self.inner.tx_gain.apply(&mut ulaw);
        }
        if let Some(rec) = &self.inner.recorder {
            crate::sync::lock(rec).record_outbound(&ulaw);
        }
        self.inner.media.send_audio(ulaw);
    }

    /// Barge-in: drops queued audio locally and tells the server to discard its playback.
    pub fn clear_audio(&self) {
        self.state().metrics.barge_ins += 1;
        self.inner.media.clear();
    }

    /// Audio chunks queued locally and not yet written to the socket.
    pub fn queued_audio(&self) -> usize {
        self.inner.media.queued()
    }

    /// Sends a mark behind all queued audio and waits (up to `limit`) for the server's echo,
    /// i.e. until everything before it has been played. `false` on timeout or closed media.
    pub async fn mark(&self, name: &str, limit: Duration) -> bool {
        self.inner.media.mark_and_wait(name, limit).await
    }

    /// Hangs up: flushes queued audio, sends a `hangup-<ms>` mark, waits ≤ 5 s for its echo,
    /// then closes the media connection (the hangup signal). Idempotent.
    ///
    /// An outbound call that has not been answered yet has no media to close: it is cancelled
    /// through the REST API (`POST /calls/{id}` with `Status: completed`), and the platform's
    /// `call.ended` (`canceled`) ends it with a `call_failed` event. Should that request fail, the
    /// hangup is kept pending and applied the moment the call is answered.
    pub async fn hangup(&self) {
        let ringing = {
            let mut st = self.state();
            st.local_hangup = true;
            matches!(st.status, CallStatus::Queued | CallStatus::Ringing)
        };
        if self.inner.media.is_closed() {
            return;
        }
        if ringing
            && self.inner.direction == Direction::Outbound
            && let Some(rest) = &self.inner.rest
        {
            let id = &self.inner.call_id;
            match rest.calls().end(id).await {
                Ok(_) => {
                    tracing::debug!(call_id = %id, "unanswered outbound call cancelled");
                    return;
                }
                Err(error) => tracing::warn!(
                    call_id = %id,
                    %error,
                    "cancelling the unanswered call failed; hanging up at answer"
                ),
            }
        }
        self.inner.media.hangup().await;
    }

    /// Waits until the call has ended and returns its final status.
    pub async fn wait(&self) -> CallStatus {
        let mut rx = self.inner.ended.subscribe();
        let _ = rx.wait_for(|e| *e).await;
        self.ended_status().unwrap_or(CallStatus::Completed)
    }

    /// Transfers the call (`call.transfer`) and waits for its result. A failed transfer is a
    /// normal result (`kind == Failed`), not an error. Options are validated before anything is
    /// sent (e.g. `caller_id_mode` must be `account` or `original`).
    pub async fn transfer(&self, options: TransferOptions) -> Result<TransferOutcome, AgentError> {
        let Some(control) = &self.inner.control else {
            return Err(AgentError::NotAvailable(
                "transfer needs the agent's control connection".into(),
            ));
        };
        let (command, waiter) = self.inner.transfers.prepare(self.call_id(), &options)?;
        // A terminating transfer ends this side's media when it starts; count it before the
        // command leaves (the platform may end the media before `send` returns) so the end
        // reason says "transfer", and uncount it if the transfer fails.
        let handoff = options.after_transfer == TransferRequestAfter::Terminate;
        if handoff {
            self.state().handoffs += 1;
        }
        let uncount = || {
            let mut st = self.state();
            st.handoffs = st.handoffs.saturating_sub(1);
        };
        if !control.send(&ControlCommand::CallTransfer(command)) {
            if handoff {
                uncount();
            }
            return Err(AgentError::ConnectionClosed(
                "control connection is not connected".into(),
            ));
        }
        let outcome = waiter.wait().await;
        let failed = !matches!(&outcome, Ok(o) if o.kind == TransferResultKind::Completed);
        if handoff && failed {
            uncount();
        }
        outcome
    }

    /// Collects keypad input (0.70 rules): only keys pressed after it opens count; the
    /// inter-digit timeout and the overall `max_wait` start once the prompt has played out.
    pub async fn collect_dtmf(&self, options: CollectOptions) -> Result<DtmfInput, AgentError> {
        let limit = options.max_wait.unwrap_or(Duration::from_secs(60));
        let media = self.inner.media.clone();
        self.inner
            .dtmf
            .collect(&options, async move { media.wait_played_out(limit).await })
            .await
    }

    /// Whether a `collect_dtmf` is running (hold audio must not play meanwhile).
    pub fn is_collecting_dtmf(&self) -> bool {
        self.inner.dtmf.is_collecting()
    }

    /// Sends DTMF tones: `0-9*#`, with `w` = 0.5 s and `W` = 1 s pauses. The whole string is
    /// validated before the first tone.
    pub async fn send_dtmf(&self, digits: &str) -> Result<(), AgentError> {
        let sequence: DtmfSequence = digits.parse()?;
        self.send_dtmf_sequence(&sequence).await
    }

    async fn send_dtmf_sequence(&self, sequence: &DtmfSequence) -> Result<(), AgentError> {
        for step in sequence.steps() {
            match step {
                DtmfStep::Tone(c) => self.inner.media.send_dtmf(*c)?,
                DtmfStep::Pause(d) => tokio::time::sleep(*d).await,
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        Ok(())
    }

    /// Reports a final transcript line to the `transcript` handlers (for session implementors).
    pub fn emit_transcript(&self, role: Role, text: impl Into<String>) {
        self.emit(CallEvent::Transcript(role, text.into()));
    }

    /// Reports an in-progress transcript (cumulative text) to `transcript_delta` handlers.
    pub fn emit_transcript_delta(&self, role: Role, text: impl Into<String>) {
        self.emit(CallEvent::TranscriptDelta(role, text.into()));
    }

    /// Counts one tool execution for the metrics (`error`: the failure text, if it failed).
    pub fn record_tool_call(&self, error: Option<(&str, &str)>) {
        let mut st = self.state();
        st.metrics.tool_calls += 1;
        if let Some((kind, message)) = error {
            st.metrics.tool_errors += 1;
            push_error(&mut st.metrics, kind, message);
        }
    }

    // ----- crate-internal lifecycle -------------------------------------------------------

    pub(crate) fn record_late_frame(&self) {
        self.state().metrics.frames_late += 1;
    }

    pub(crate) fn attach_events(&self, tx: mpsc::UnboundedSender<CallEvent>) {
        self.state().events = Some(tx);
    }

    pub(crate) fn emit(&self, event: CallEvent) {
        let st = self.state();
        if let Some(tx) = &st.events {
            let _ = tx.send(event);
        }
    }

    /// Emits `Start` once.
    pub(crate) fn emit_start(&self) {
        let mut st = self.state();
        if st.started_event {
            return;
        }
        st.started_event = true;
        if let Some(tx) = &st.events {
            let _ = tx.send(CallEvent::Start);
        }
    }

    pub(crate) fn had_start(&self) -> bool {
        self.state().started_event
    }

    pub(crate) fn set_status(&self, status: CallStatus) {
        let mut st = self.state();
        if st.ended_status.is_none() {
            st.status = status;
        }
    }

    /// The call could not run (session start failed): `failed` unless the server said otherwise.
    pub(crate) fn set_local_failed(&self) {
        let mut st = self.state();
        if st.ended_status.is_none() {
            st.ended_status = Some(CallStatus::Failed);
            st.status = CallStatus::Failed;
        }
    }

    pub(crate) fn local_hangup(&self) -> bool {
        self.state().local_hangup
    }

    /// Whether a terminating transfer is under way or completed.
    pub(crate) fn handed_off(&self) -> bool {
        self.state().handoffs > 0
    }

    pub(crate) fn set_end_reason(&self, reason: EndReason) {
        let mut st = self.state();
        if st.metrics.end_reason.is_none() {
            st.metrics.end_reason = Some(reason);
        }
    }

    pub(crate) fn record_error(&self, kind: &str, message: &str) {
        push_error(&mut self.state().metrics, kind, message);
    }

    /// The server's terminal frame: status (missing → completed) and duration.
    pub(crate) fn on_terminal(&self, status: Option<CallStatus>, duration: Option<i64>) {
        {
            let mut st = self.state();
            let status = match status {
                Some(CallStatus::Unknown(s)) if s.is_empty() => CallStatus::Completed,
                Some(s) => s,
                None => CallStatus::Completed,
            };
            if !st.server_status_set {
                st.server_status_set = true;
                st.status = status.clone();
                st.ended_status = Some(status);
                if duration.is_some() {
                    st.ended_duration = duration;
                }
            }
        }
        self.inner.terminal.send_replace(true);
    }

    /// Wakes terminal waiters without a frame (drain/disconnect gave the connection up).
    pub(crate) fn give_up_terminal(&self) {
        self.inner.terminal.send_replace(true);
    }

    /// Waits up to `limit` for the terminal frame.
    pub(crate) async fn wait_terminal(&self, limit: Duration) {
        let mut rx = self.inner.terminal.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|t| *t)).await;
    }

    /// Marks the call ended (status `completed` unless the server set one); `wait()` returns.
    /// Closes the event queue after `last` (if any) so the event task ends.
    pub(crate) fn mark_ended(&self, last: Option<CallEvent>) {
        {
            let mut st = self.state();
            if st.ended_status.is_none() {
                st.ended_status = Some(CallStatus::Completed);
                st.status = CallStatus::Completed;
            }
            if let Some(tx) = st.events.take()
                && let Some(event) = last
            {
                let _ = tx.send(event);
            }
        }
        self.inner.dtmf.end();
        self.inner.ended.send_replace(true);
    }

    pub(crate) fn metrics_frame(&self) -> clawops_api::events::CallMetricsData {
        let m = self.metrics();
        clawops_api::events::CallMetricsData {
            barge_in_count: i64::from(m.barge_ins),
            end_reason: m.end_reason.unwrap_or(EndReason::AgentHangup).wire(),
            errors: m
                .errors
                .into_iter()
                .map(|(type_, message)| clawops_api::events::CallMetricsError { message, type_ })
                .collect(),
            first_response_ms: m.time_to_first_audio.map(|d| d.as_millis() as i64),
            tool_call_count: i64::from(m.tool_calls),
            tool_error_count: i64::from(m.tool_errors),
            turn_count: i64::from(m.turns),
        }
    }
}

#[async_trait::async_trait]
impl CallControl for Call {
    fn call_id(&self) -> &str {
        &self.inner.call_id
    }
    fn is_connected(&self) -> bool {
        !self.inner.media.is_closed() && !self.is_ended()
    }
    fn send_audio(&self, ulaw: bytes::Bytes) {
        Call::send_audio(self, ulaw.to_vec());
    }
    fn clear_audio(&self) {
        Call::clear_audio(self);
    }
    async fn hangup(&self) {
        Call::hangup(self).await;
    }
    fn emit(&self, event: SessionEvent) {
        match event {
            SessionEvent::Transcript { role, text } => self.emit(CallEvent::Transcript(role, text)),
            SessionEvent::TranscriptDelta { role, text } => {
                self.emit(CallEvent::TranscriptDelta(role, text));
            }
            SessionEvent::SessionLost { reason } => {
                tracing::warn!(call_id = %self.call_id(), reason = %super::media::truncate(&reason, 200), "AI session lost; hanging up");
                self.record_error("SessionLost", &reason);
                self.emit(CallEvent::SessionLost(reason));
                let call = self.clone();
                self.inner.tasks.spawn(async move { call.hangup().await });
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
    fn record_tool_call(&self) {
        self.state().metrics.tool_calls += 1;
    }
    fn record_turn(&self) {
        self.state().metrics.turns += 1;
    }
    fn record_tool_error(&self, tool: &str, message: &str) {
        let mut st = self.state();
        st.metrics.tool_errors += 1;
        push_error(&mut st.metrics, tool, message);
    }
    async fn collect_dtmf(&self, options: CollectOptions) -> Result<DtmfInput, AgentError> {
        Call::collect_dtmf(self, options).await
    }
    async fn send_dtmf(&self, digits: DtmfSequence) -> Result<(), AgentError> {
        self.send_dtmf_sequence(&digits).await
    }
    async fn mark(&self, name: &str, limit: Duration) -> bool {
        Call::mark(self, name, limit).await
    }
    fn start_transfer(&self, options: TransferOptions) -> Result<(), AgentError> {
        options.validate()?;
        if self.inner.control.is_none() {
            return Err(AgentError::NotAvailable(
                "transfer needs the agent's control connection".into(),
            ));
        }
        let call = self.clone();
        self.inner.tasks.spawn(async move {
            match call.transfer(options).await {
                Ok(outcome) => tracing::info!(call_id = %call.call_id(), kind = ?outcome.kind, "transfer finished"),
                Err(error) => tracing::warn!(call_id = %call.call_id(), %error, "transfer failed"),
            }
        });
        Ok(())
    }
}

fn push_error(metrics: &mut CallMetrics, kind: &str, message: &str) {
    if metrics.errors.len() < 20 {
        let message: String = message.chars().take(200).collect();
        metrics
            .errors
            .push((kind.chars().take(80).collect(), message));
    }
}
