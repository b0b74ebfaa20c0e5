//! The error type of the OpenAI Realtime session.

use crate::agent::AgentError;

/// What can go wrong configuring or running an OpenAI Realtime session.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RealtimeError {
    /// No API key in the builder nor in `OPENAI_API_KEY`.
    #[error("OpenAI API key is required: set OPENAI_API_KEY or call .api_key()")]
    MissingApiKey,
    /// The base URL cannot be turned into a WebSocket URL.
    #[error("invalid OpenAI base URL {url:?}: {message}")]
    InvalidBaseUrl {
        /// The URL as given (never carries credentials).
        url: String,
        /// Why it was rejected.
        message: String,
    },
    /// The WebSocket handshake failed (HTTP status when the server answered one).
    #[error("connecting to the Realtime API failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Connect {
        /// HTTP status of a refused upgrade.
        status: Option<u16>,
        /// The transport's message.
        message: String,
    },
    /// The server sent a fatal `error` event (e.g. a bad key or an unknown model).
    #[error("Realtime API error {code}: {message}")]
    Server {
        /// `error.type`.
        kind: String,
        /// `error.code` (`""` when absent).
        code: String,
        /// `error.message`.
        message: String,
    },
    /// The server did not confirm the session in time.
    #[error("the Realtime API did not answer session.update within {0:?}")]
    Timeout(std::time::Duration),
    /// The connection closed before the session was configured.
    #[error("the Realtime connection closed: {0}")]
    Closed(String),
}

impl From<RealtimeError> for AgentError {
    fn from(e: RealtimeError) -> Self {
        AgentError::Session(e.to_string())
    }
}
