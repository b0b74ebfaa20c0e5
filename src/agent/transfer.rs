//! Call transfer: options → `call.transfer` command, and result correlation.
//!
//! [`TransferOptions`] holds every option of agent-protocol §5.1 and builds the generated
//! [`CallTransfer`] payload after validating it (a bad `caller_id_mode` is rejected **before**
//! sending: the server silently ignores unknown values, incident 26).
//!
//! [`TransferRegistry`] correlates results with requests (§5.3–§5.4, incidents 16–18):
//!
//! - every request gets a fresh `requestId` (UUID4, 32 lowercase hex);
//! - a `call.transfer.completed`/`.failed` resolves the request with the same top-level
//!   `requestId`; a `requestId` that matches nothing is ignored (never wakes another request);
//! - without a `requestId` (old servers) it falls back to the call id, **only** while exactly one
//!   request of that call waits;
//! - `started`/`connected` are progress only; duplicates and late results are absorbed;
//! - `call.ended` releases the call's waiters after a 2 s grace, a 7200 s backstop bounds every
//!   wait, and [`TransferRegistry::close`] releases everything: no waiter lives forever, and a
//!   dropped waiter removes its entry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use clawops_api::events::{
    CallTransfer, ControlEvent, TransferContext, TransferRequest, TransferRequestAfter,
    TransferRequestCallerIdMode, TransferRequestDestinationType, TransferRequestHoldMedia,
    TransferRequestMode, TransferResult,
};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::AgentError;

/// Grace after `call.ended` during which a transfer result is still accepted (§5.4).
pub const TRANSFER_LATE_ARRIVAL_GRACE: Duration = Duration::from_secs(2);
/// Defensive bound on a transfer result wait, independent of the bridge length (§5.3).
pub const TRANSFER_RESULT_MAX_WAIT: Duration = Duration::from_secs(7200);
/// Default ring time for the transfer target, in seconds.
pub const DEFAULT_TRANSFER_TIMEOUT_SECS: u32 = 30;

/// Options of one transfer (agent-protocol §5.1). Defaults: PSTN, blind, terminate, ringback,
/// 30 s ring time.
///
/// ```
/// use clawops::agent::TransferOptions;
///
/// let cmd = TransferOptions::new("01012345678")
///     .warm("환불 문의 고객입니다.")
///     .return_after()
///     .caller_id_mode("original")
///     .to_command("CA1", "5f0c9d2e7b6a4c1e9f3a2b1c0d9e8f7a")?;
/// assert_eq!(cmd.transfer.whisper.as_deref(), Some("환불 문의 고객입니다."));
///
/// let bad = TransferOptions::new("01012345678").caller_id_mode("orignal");
/// assert!(bad.to_command("CA1", "x").is_err());
/// # Ok::<(), clawops::agent::AgentError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TransferOptions {
    /// Destination: a phone number (PSTN) or a SIP URI (`sip:user@host`).
    pub to: String,
    /// `pstn` (default) or `sip`.
    pub destination_type: TransferRequestDestinationType,
    /// `blind` (default) or `warm`.
    pub mode: TransferRequestMode,
    /// `terminate` (default) or `return`.
    pub after_transfer: TransferRequestAfter,
    /// What the caller hears meanwhile: `ringback` (default), `moh`, `silence`.
    pub hold_media: TransferRequestHoldMedia,
    /// Text spoken to the target on answer (warm only).
    pub whisper: Option<String>,
    /// Structured data delivered to the target side by webhook.
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
    /// Exact caller id shown to the target (must be owned by the account or be the caller).
    pub caller_id: Option<String>,
    /// Caller id preference, `account` or `original`; validated when the command is built.
    pub caller_id_mode: Option<String>,
    /// Seconds to wait for the target to answer (default 30).
    pub timeout_secs: u32,
    /// Text played to the caller when the transfer does not connect; empty means none.
    pub failure_message: Option<String>,
    /// Voice for `failure_message`, e.g. `cartesia:<voice-id>`.
    pub failure_voice: Option<String>,
}

impl TransferOptions {
    /// A blind PSTN transfer to `to` with every other option at its default.
    pub fn new(to: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            destination_type: TransferRequestDestinationType::Pstn,
            mode: TransferRequestMode::Blind,
            after_transfer: TransferRequestAfter::Terminate,
            hold_media: TransferRequestHoldMedia::Ringback,
            whisper: None,
            context: None,
            caller_id: None,
            caller_id_mode: None,
            timeout_secs: DEFAULT_TRANSFER_TIMEOUT_SECS,
            failure_message: None,
            failure_voice: None,
        }
    }

    /// Transfer to a SIP URI instead of a phone number.
    pub fn sip(mut self) -> Self {
        self.destination_type = TransferRequestDestinationType::Sip;
        self
    }

    /// Sets the destination type.
    pub fn destination_type(mut self, value: TransferRequestDestinationType) -> Self {
        self.destination_type = value;
        self
    }

    /// Warm transfer: `whisper` is spoken to the target before the caller is connected.
    pub fn warm(mut self, whisper: impl Into<String>) -> Self {
        self.mode = TransferRequestMode::Warm;
        self.whisper = Some(whisper.into());
        self
    }

    /// Sets the mode.
    pub fn mode(mut self, value: TransferRequestMode) -> Self {
        self.mode = value;
        self
    }

    /// The AI resumes after the transfer leg ends (`afterTransfer: return`).
    pub fn return_after(mut self) -> Self {
        self.after_transfer = TransferRequestAfter::Return;
        self
    }

    /// Sets what happens after the transfer.
    pub fn after_transfer(mut self, value: TransferRequestAfter) -> Self {
        self.after_transfer = value;
        self
    }

    /// Sets the hold media the caller hears.
    pub fn hold_media(mut self, value: TransferRequestHoldMedia) -> Self {
        self.hold_media = value;
        self
    }

    /// Sets the whisper text without changing the mode.
    pub fn whisper(mut self, text: impl Into<String>) -> Self {
        self.whisper = Some(text.into());
        self
    }

    /// Sets structured context for the target side.
    pub fn context(mut self, context: serde_json::Map<String, serde_json::Value>) -> Self {
        self.context = Some(context);
        self
    }

    /// Sets the exact caller id shown to the target.
    pub fn caller_id(mut self, number: impl Into<String>) -> Self {
        self.caller_id = Some(number.into());
        self
    }

    /// Sets the caller id preference (`account` or `original`; anything else is rejected when
    /// the command is built).
    pub fn caller_id_mode(mut self, mode: impl Into<String>) -> Self {
        self.caller_id_mode = Some(mode.into());
        self
    }

    /// Sets the ring time for the target, in seconds.
    pub fn timeout_secs(mut self, secs: u32) -> Self {
        self.timeout_secs = secs;
        self
    }

    /// Sets the message played to the caller when the transfer does not connect.
    pub fn failure_message(mut self, text: impl Into<String>) -> Self {
        self.failure_message = Some(text.into());
        self
    }

    /// Sets the voice of the failure message.
    pub fn failure_voice(mut self, voice: impl Into<String>) -> Self {
        self.failure_voice = Some(voice.into());
        self
    }

    /// Checks the options without building a command.
    pub fn validate(&self) -> Result<(), AgentError> {
        self.checked_caller_id_mode().map(|_| ())?;
        if self.to.trim().is_empty() {
            return Err(AgentError::invalid("to", "must not be empty"));
        }
        if self.timeout_secs == 0 {
            return Err(AgentError::invalid("timeout", "must be at least 1 second"));
        }
        Ok(())
    }

    fn checked_caller_id_mode(&self) -> Result<Option<TransferRequestCallerIdMode>, AgentError> {
        match self.caller_id_mode.as_deref() {
            None => Ok(None),
            Some("account") => Ok(Some(TransferRequestCallerIdMode::Account)),
            Some("original") => Ok(Some(TransferRequestCallerIdMode::Original)),
            Some(other) => Err(AgentError::invalid(
                "caller_id_mode",
                format!("must be 'account' or 'original', got '{other}'"),
            )),
        }
    }

    /// Validates and builds the `call.transfer` payload for `call_id` with `request_id`.
    pub fn to_command(&self, call_id: &str, request_id: &str) -> Result<CallTransfer, AgentError> {
        self.validate()?;
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Ok(CallTransfer {
            call_id: call_id.to_owned(),
            transfer: TransferRequest {
                to: self.to.clone(),
                destination_type: self.destination_type,
                mode: self.mode,
                after_transfer: self.after_transfer,
                hold_media: self.hold_media,
                whisper: self.whisper.clone(),
                context: self.context.clone().map(TransferContext),
                caller_id: self.caller_id.clone(),
                caller_id_mode: self.checked_caller_id_mode()?,
                timeout: i64::from(self.timeout_secs),
                failure_message: non_empty(&self.failure_message),
                failure_voice: non_empty(&self.failure_voice),
                request_id: request_id.to_owned(),
            },
        })
    }
}

/// A fresh transfer correlation id: UUID4 as 32 lowercase hex characters.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Terminal result kind of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferResultKind {
    /// `call.transfer.completed`.
    Completed,
    /// `call.transfer.failed` (a normal result, not an error).
    Failed,
}

/// The outcome handed to the caller of `transfer()`: the server's `transfer` object unchanged.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TransferOutcome {
    /// Which terminal event resolved the request.
    pub kind: TransferResultKind,
    /// The `transfer` object of that event (`{}` when missing).
    pub result: TransferResult,
}

/// How an incoming control event related to pending transfers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// A pending request was resolved by its `requestId`.
    Resolved {
        /// The resolved request.
        request_id: String,
    },
    /// A pending request was resolved by the call-id fallback (no `requestId` in the event).
    ResolvedByCallId {
        /// The resolved request.
        request_id: String,
    },
    /// `started`/`connected`: progress notice, nothing resolved.
    Progress,
    /// A result matching nothing pending (unknown, duplicate or too late): ignored.
    Unmatched,
    /// No `requestId` and several requests pending for the call: ignored, never guessed.
    Ambiguous {
        /// How many requests of that call were pending.
        pending: usize,
    },
    /// Not a transfer event.
    NotTransfer,
}

struct Pending {
    call_id: String,
    tx: oneshot::Sender<Result<TransferOutcome, AgentError>>,
    ended: watch::Sender<Option<Instant>>,
}

#[derive(Default)]
struct Inner {
    pending: HashMap<String, Pending>,
    closed: Option<String>,
}

struct Shared {
    inner: Mutex<Inner>,
    grace: Duration,
    max_wait: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic happened elsewhere while holding it; the map is
        // still consistent (every operation is a single insert/remove).
        crate::sync::lock(&self.inner)
    }
}

/// Correlates `call.transfer` requests with their results. Cheap to clone; one per control
/// connection.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), clawops::agent::AgentError> {
/// use clawops::agent::{Resolution, TransferOptions, TransferRegistry};
/// use clawops::events::ControlEvent;
///
/// let registry = TransferRegistry::new();
/// let (command, waiter) = registry.prepare("CA1", &TransferOptions::new("01012345678"))?;
/// // ... send `ControlCommand::from(command)` on the control socket ...
/// let echo = format!(
///     r#"{{"event":"call.transfer.completed","callId":"CA1","requestId":"{}","transfer":{{"status":"completed","duration":61}}}}"#,
///     command.transfer.request_id
/// );
/// let event = ControlEvent::from_json(&echo).unwrap();
/// assert!(matches!(registry.on_event(&event), Resolution::Resolved { .. }));
/// let outcome = waiter.wait().await?;
/// assert_eq!(outcome.result.duration, Some(61));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TransferRegistry {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TransferRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferRegistry")
            .field("pending", &self.pending_count())
            .finish()
    }
}

impl Default for TransferRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl TransferRegistry {
    /// A registry with the protocol's limits (2 s grace, 7200 s backstop).
    pub fn new() -> Self {
        Self::with_limits(TRANSFER_LATE_ARRIVAL_GRACE, TRANSFER_RESULT_MAX_WAIT)
    }

    /// A registry with custom grace and backstop durations.
    pub fn with_limits(grace: Duration, max_wait: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner::default()),
                grace,
                max_wait,
            }),
        }
    }

    /// Registers a new request for `call_id`; returns its fresh `requestId` and the waiter.
    pub fn register(&self, call_id: &str) -> Result<TransferWaiter, AgentError> {
        let mut inner = self.shared.lock();
        if let Some(reason) = &inner.closed {
            return Err(AgentError::ConnectionClosed(reason.clone()));
        }
        let request_id = loop {
            let id = new_request_id();
            if !inner.pending.contains_key(&id) {
                break id;
            }
        };
        let (tx, rx) = oneshot::channel();
        let (ended, ended_rx) = watch::channel(None);
        inner.pending.insert(
            request_id.clone(),
            Pending {
                call_id: call_id.to_owned(),
                tx,
                ended,
            },
        );
        tracing::debug!(call_id, request_id, "transfer registered");
        Ok(TransferWaiter {
            shared: Arc::clone(&self.shared),
            request_id,
            rx: Some(rx),
            ended_rx,
        })
    }

    /// Validates `options`, registers a request and builds its command.
    pub fn prepare(
        &self,
        call_id: &str,
        options: &TransferOptions,
    ) -> Result<(CallTransfer, TransferWaiter), AgentError> {
        options.validate()?;
        let waiter = self.register(call_id)?;
        let command = options.to_command(call_id, waiter.request_id())?;
        Ok((command, waiter))
    }

    /// Feeds a control event; resolves the matching request if it is a transfer result.
    pub fn on_event(&self, event: &ControlEvent) -> Resolution {
        let (kind, call_id, request_id, transfer) = match event {
            ControlEvent::CallTransferCompleted(e) => (
                TransferResultKind::Completed,
                &e.call_id,
                &e.request_id,
                &e.transfer,
            ),
            ControlEvent::CallTransferFailed(e) => (
                TransferResultKind::Failed,
                &e.call_id,
                &e.request_id,
                &e.transfer,
            ),
            ControlEvent::CallTransferStarted(_) | ControlEvent::CallTransferConnected(_) => {
                return Resolution::Progress;
            }
            _ => return Resolution::NotTransfer,
        };
        let result = transfer.clone().unwrap_or_else(empty_result);
        self.on_result(call_id, request_id.as_deref(), kind, result)
    }

    /// Resolves a request from a terminal result (see the module rules).
    pub fn on_result(
        &self,
        call_id: &str,
        request_id: Option<&str>,
        kind: TransferResultKind,
        result: TransferResult,
    ) -> Resolution {
        let mut inner = self.shared.lock();
        let (key, by_call) = match request_id.filter(|id| !id.is_empty()) {
            Some(id) => {
                if !inner.pending.contains_key(id) {
                    tracing::debug!(call_id, request_id = id, "transfer result matches nothing");
                    return Resolution::Unmatched;
                }
                (id.to_owned(), false)
            }
            None => {
                let mut of_call = inner
                    .pending
                    .iter()
                    .filter(|(_, p)| p.call_id == call_id)
                    .map(|(id, _)| id.clone());
                match (of_call.next(), of_call.next()) {
                    (None, _) => return Resolution::Unmatched,
                    (Some(id), None) => (id, true),
                    (Some(_), Some(_)) => {
                        let pending = 2 + of_call.count();
                        tracing::warn!(
                            call_id,
                            pending,
                            "transfer result without requestId and several pending; ignored"
                        );
                        return Resolution::Ambiguous { pending };
                    }
                }
            }
        };
        let Some(pending) = inner.pending.remove(&key) else {
            return Resolution::Unmatched;
        };
        drop(inner);
        // The waiter may be gone (dropped or timed out): the send error is absorbed.
        let _ = pending.tx.send(Ok(TransferOutcome { kind, result }));
        tracing::debug!(call_id, request_id = key, ?kind, "transfer resolved");
        if by_call {
            Resolution::ResolvedByCallId { request_id: key }
        } else {
            Resolution::Resolved { request_id: key }
        }
    }

    /// `call.ended`: the call's waiters are released after the grace period unless a result
    /// arrives first.
    pub fn on_call_ended(&self, call_id: &str) {
        let deadline = Instant::now() + self.shared.grace;
        let inner = self.shared.lock();
        for pending in inner.pending.values().filter(|p| p.call_id == call_id) {
            let _ = pending.ended.send(Some(deadline));
        }
    }

    /// Closes the registry: every waiter returns [`AgentError::ConnectionClosed`] and new
    /// registrations are refused.
    pub fn close(&self, reason: &str) {
        let drained: Vec<Pending> = {
            let mut inner = self.shared.lock();
            inner.closed = Some(reason.to_owned());
            inner.pending.drain().map(|(_, p)| p).collect()
        };
        for pending in drained {
            let _ = pending
                .tx
                .send(Err(AgentError::ConnectionClosed(reason.to_owned())));
        }
    }

    /// Requests still waiting (all calls).
    pub fn pending_count(&self) -> usize {
        self.shared.lock().pending.len()
    }

    /// Requests still waiting for one call.
    pub fn pending_for_call(&self, call_id: &str) -> usize {
        self.shared
            .lock()
            .pending
            .values()
            .filter(|p| p.call_id == call_id)
            .count()
    }
}

fn empty_result() -> TransferResult {
    TransferResult {
        duration: None,
        reason: None,
        status: None,
        extra: serde_json::Map::new(),
    }
}

/// The pending side of one transfer request. Dropping it removes the request.
pub struct TransferWaiter {
    shared: Arc<Shared>,
    request_id: String,
    rx: Option<oneshot::Receiver<Result<TransferOutcome, AgentError>>>,
    ended_rx: watch::Receiver<Option<Instant>>,
}

impl std::fmt::Debug for TransferWaiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferWaiter")
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl TransferWaiter {
    /// The request's correlation id (goes into `transfer.requestId`).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Waits for the result: the outcome, or an error when the call ended without a result
    /// (after the grace), the registry closed, or the backstop elapsed.
    pub async fn wait(mut self) -> Result<TransferOutcome, AgentError> {
        let Some(mut rx) = self.rx.take() else {
            return Err(AgentError::TransferCancelled {
                request_id: self.request_id.clone(),
            });
        };
        let backstop = tokio::time::sleep(self.shared.max_wait);
        tokio::pin!(backstop);
        let mut ended_rx = self.ended_rx.clone();
        let call_ended = async move {
            loop {
                let deadline = *ended_rx.borrow_and_update();
                if let Some(deadline) = deadline {
                    tokio::time::sleep_until(deadline).await;
                    return;
                }
                if ended_rx.changed().await.is_err() {
                    // The entry is gone; the oneshot tells us why.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::pin!(call_ended);
        tokio::select! {
            biased;
            res = &mut rx => match res {
                Ok(outcome) => outcome,
                Err(_) => Err(AgentError::TransferCancelled { request_id: self.request_id.clone() }),
            },
            () = &mut call_ended => {
                // A result may have landed in the same instant: prefer it.
                match rx.try_recv() {
                    Ok(outcome) => outcome,
                    Err(_) => Err(AgentError::TransferCancelled { request_id: self.request_id.clone() }),
                }
            }
            () = &mut backstop => {
                match rx.try_recv() {
                    Ok(outcome) => outcome,
                    Err(_) => Err(AgentError::TransferTimedOut {
                        request_id: self.request_id.clone(),
                        waited_secs: self.shared.max_wait.as_secs(),
                    }),
                }
            }
        }
        // `self` drops here and removes the entry if it is still registered.
    }
}

impl Drop for TransferWaiter {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.pending.remove(&self.request_id);
    }
}

#[cfg(test)]
mod tests;
