//! The error type of the agent building blocks.

use crate::audio::AudioError;

/// Errors raised by the agent: invalid options, transfer outcomes that are not results,
/// DTMF collection conflicts, recorder and session failures.
///
/// A failed transfer (`{"status":"failed",…}`) is **not** an error: it is a normal result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// An option or argument was rejected before anything was sent.
    #[error("invalid {field}: {message}")]
    InvalidArgument {
        /// The option or argument name.
        field: &'static str,
        /// Why it was rejected.
        message: String,
    },
    /// `collect_dtmf` is already running on this call.
    #[error("a DTMF collection is already running on this call")]
    DtmfCollectorBusy,
    /// The call ended (or its media closed) while an operation was waiting.
    #[error("call {call_id} ended")]
    CallEnded {
        /// The call.
        call_id: String,
    },
    /// The call ended and no transfer result arrived within the grace period.
    #[error("transfer {request_id} cancelled: call ended without a result")]
    TransferCancelled {
        /// The request's correlation id.
        request_id: String,
    },
    /// No transfer result arrived within the defensive backstop (the server broke its contract).
    #[error("transfer {request_id}: no result after {waited_secs} s")]
    TransferTimedOut {
        /// The request's correlation id.
        request_id: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// The control connection is closed, draining or taken over.
    #[error("control connection unavailable: {0}")]
    ConnectionClosed(String),
    /// The server refused the credentials when the control connection opened (HTTP 401/403):
    /// not a flaky network, so nothing is retried. Check the API key, the account id and that
    /// the number belongs to the account.
    #[error(
        "the server refused the credentials (HTTP {status}): check the API key, account id and number"
    )]
    Unauthorized {
        /// The upgrade's HTTP status (401 or 403).
        status: u16,
    },
    /// Another process took this number over (close `4409`/`4403` or `agent.retired`) and this
    /// process released (or lost) its control connection: it must not take the slot back, so
    /// `connect()` and an outbound `call()` refuse. Start a new agent process instead.
    #[error("number taken over by another process (code {}, reason {:?}); this agent will not take the slot back", .0.code, .0.reason)]
    TakenOver(super::ops::TakeOver),
    /// The operation needs a transport this call does not have (e.g. transfer in a runner).
    #[error("not available: {0}")]
    NotAvailable(String),
    /// An AI session failed.
    #[error("session: {0}")]
    Session(String),
    /// A recording file could not be written.
    #[error("recorder: {0}")]
    Recorder(String),
    /// Audio utility error.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// Placing an outbound call (`POST /calls`) failed; carries status, server code, message
    /// and request id of the REST error.
    #[error("originate failed: {0}")]
    Originate(Box<crate::Error>),
}

impl AgentError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            message: message.into(),
        }
    }
}
