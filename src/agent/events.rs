//! User-facing call events and their async handlers.
//!
//! Handlers are async closures registered on the [`AgentBuilder`](super::AgentBuilder). Each call
//! has one event queue drained by its own task, so a call's events reach handlers **in order**
//! (start … dtmf/transcripts … end, or failed), while a slow handler never blocks audio, the
//! control connection or any other call. A panicking handler is caught and logged.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use clawops_api::types::CallStatus;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::call::Call;

/// Who spoke a transcript line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The caller (recognised speech).
    User,
    /// The AI agent.
    Assistant,
}

impl Role {
    /// `user` or `assistant`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One event of a call, as delivered to handlers.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// The call was answered and its media session is being set up (before any audio).
    Start,
    /// The call is over (media closed, session stopped, terminal frame awaited ≤ 2 s).
    End,
    /// The call ended without being connected (or the server reported a failure): the reason
    /// equals [`Call::ended_status`]. An outbound call gets either `Start` + `End` or `Failed`.
    Failed(CallStatus),
    /// The caller pressed a key. `Debug` never shows the digit.
    Dtmf(String),
    /// A final transcript line.
    Transcript(Role, String),
    /// An in-progress transcript: the cumulative text of the current utterance (replace, don't
    /// append).
    TranscriptDelta(Role, String),
    /// The AI model connection was lost for good; the agent hangs up (never a silent call).
    SessionLost(String),
}

impl std::fmt::Debug for CallEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Start => f.write_str("Start"),
            Self::End => f.write_str("End"),
            Self::Failed(s) => write!(f, "Failed({s})"),
            Self::Dtmf(_) => f.write_str("Dtmf(<redacted>)"),
            Self::Transcript(r, t) => write!(f, "Transcript({}, {} chars)", r.as_str(), t.len()),
            Self::TranscriptDelta(r, t) => {
                write!(f, "TranscriptDelta({}, {} chars)", r.as_str(), t.len())
            }
            Self::SessionLost(_) => f.write_str("SessionLost"),
        }
    }
}

impl CallEvent {
    /// The event's name (`call_start`, `call_end`, `call_failed`, `dtmf`, `transcript`,
    /// `transcript_delta`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Start => "call_start",
            Self::End => "call_end",
            Self::Failed(_) => "call_failed",
            Self::Dtmf(_) => "dtmf",
            Self::Transcript(..) => "transcript",
            Self::TranscriptDelta(..) => "transcript_delta",
            Self::SessionLost(_) => "session_lost",
        }
    }
}

/// An async handler of every call event.
pub type EventHandler = Arc<dyn Fn(Call, CallEvent) -> BoxFuture<'static, ()> + Send + Sync>;

/// The handlers registered on an agent, copied onto every call.
#[derive(Clone, Default)]
pub(crate) struct Handlers {
    all: Vec<EventHandler>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers")
            .field("count", &self.all.len())
            .finish()
    }
}

impl Handlers {
    pub(crate) fn push(&mut self, handler: EventHandler) {
        self.all.push(handler);
    }

    /// Runs every handler for one event, in registration order, isolating panics.
    pub(crate) async fn run(&self, call: &Call, event: &CallEvent) {
        for handler in &self.all {
            let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| {
                handler(call.clone(), event.clone())
            })) {
                Ok(fut) => fut,
                Err(_) => {
                    tracing::error!(call_id = %call.call_id(), event = event.name(), "event handler panicked");
                    continue;
                }
            };
            if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
                tracing::error!(call_id = %call.call_id(), event = event.name(), "event handler panicked");
            }
        }
    }
}

/// Adapts a handler of one event kind: `payload` picks the kind and takes out what the handler
/// receives; other events are ignored.
pub(crate) fn for_payload<T, F, Fut>(payload: fn(CallEvent) -> Option<T>, f: F) -> EventHandler
where
    T: Send + 'static,
    F: Fn(Call, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |call, event| match payload(event) {
        Some(value) => f(call, value).boxed(),
        None => async {}.boxed(),
    })
}

/// The per-call ordered event queue and the task that drains it.
pub(crate) fn spawn_event_queue(
    call: Call,
    handlers: Handlers,
    tasks: &tokio_util::task::TaskTracker,
) -> mpsc::UnboundedSender<CallEvent> {
    let (tx, mut rx) = mpsc::unbounded_channel::<CallEvent>();
    tasks.spawn(async move {
        while let Some(event) = rx.recv().await {
            handlers.run(&call, &event).await;
            if matches!(event, CallEvent::End | CallEvent::Failed(_)) {
                break;
            }
        }
        drop(call);
    });
    tx
}
