//! The error type of the Gemini Live session.

use crate::agent::AgentError;

/// What can go wrong configuring or running a Gemini Live session.
///
/// Messages never carry the API key or an access token (URLs are redacted).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeminiError {
    /// Neither an API key (builder, `GOOGLE_API_KEY`, `GEMINI_API_KEY`) nor Vertex AI settings
    /// with an access token were found.
    #[error(
        "Gemini credentials are required: set GOOGLE_API_KEY (or GEMINI_API_KEY), call .api_key(), or configure Vertex AI with an access token"
    )]
    MissingCredentials,
    /// An option was rejected before anything was sent.
    #[error("invalid Gemini option {field}: {message}")]
    InvalidOption {
        /// The option.
        field: &'static str,
        /// Why it was rejected.
        message: String,
    },
    /// The base URL cannot be turned into a WebSocket URL.
    #[error("invalid Gemini base URL {url:?}: {message}")]
    InvalidBaseUrl {
        /// The URL as given (never carries credentials).
        url: String,
        /// Why it was rejected.
        message: String,
    },
    /// The Vertex AI access token could not be obtained.
    #[error("Vertex AI access token: {0}")]
    Token(String),
    /// The WebSocket handshake failed (HTTP status when the server answered one).
    #[error("connecting to the Gemini Live API failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Connect {
        /// HTTP status of a refused upgrade.
        status: Option<u16>,
        /// The transport's message (credentials redacted).
        message: String,
    },
    /// The server did not answer `setup` with `setupComplete` in time.
    #[error("the Gemini Live API did not complete setup within {0:?}")]
    Timeout(std::time::Duration),
    /// The connection closed (before setup completed, or for good).
    #[error("the Gemini Live connection closed: {0}")]
    Closed(String),
}

impl From<GeminiError> for AgentError {
    fn from(e: GeminiError) -> Self {
        AgentError::Session(e.to_string())
    }
}
