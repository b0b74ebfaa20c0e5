//! The one error type of the REST client.
//!
//! Every failure of a REST call surfaces as [`Error`]: HTTP status errors (with the server's
//! message, `code`, raw body and request id), transport failures, timeouts, undecodable
//! responses, bad configuration, requests rejected before sending and webhook signature
//! mismatches. No `reqwest` or `serde_json` error type ever appears in a public signature.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

pub use clawops_api::types::ClawOpsErrorCode;

/// Shorthand for `Result<T, clawops::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which REST operation failed: its generated operation id, HTTP method and path template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Operation {
    /// Operation id from `spec/openapi.yaml`, e.g. `get_call`.
    pub id: &'static str,
    /// HTTP method, e.g. `GET`.
    pub method: &'static str,
    /// Path template, e.g. `/v1/accounts/{accountId}/calls/{callId}`.
    pub path: &'static str,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// The coarse class of an [`Error`], one per HTTP status family plus the non-HTTP failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the request was invalid.
    BadRequest,
    /// 401: missing or invalid API key.
    Authentication,
    /// 403: the key may not act on this account or resource.
    PermissionDenied,
    /// 404: not found.
    NotFound,
    /// 409: conflicts with the current state (never retried).
    Conflict,
    /// 410: gone (e.g. the removed AI Completion mode, `ai_mode_removed`).
    Gone,
    /// 422: well-formed but refused (quota, blocked recipient, …).
    UnprocessableEntity,
    /// 429: rate or concurrency limit.
    RateLimited,
    /// 5xx: server-side failure.
    Server,
    /// Any other non-success status (3xx, 402, 405, 408, 413, …).
    OtherStatus,
    /// The connection could not be made or broke.
    Connection,
    /// The request (or the body download) timed out.
    Timeout,
    /// A response arrived but could not be decoded into the expected model.
    Decode,
    /// The client configuration is invalid.
    Config,
    /// The request was rejected locally before anything was sent.
    InvalidRequest,
    /// A webhook signature did not verify.
    WebhookVerification,
    /// Writing a download to the caller's writer failed.
    Io,
}

impl ErrorKind {
    /// The kind of a non-success HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => Self::BadRequest,
            401 => Self::Authentication,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            409 => Self::Conflict,
            410 => Self::Gone,
            422 => Self::UnprocessableEntity,
            429 => Self::RateLimited,
            500..=599 => Self::Server,
            _ => Self::OtherStatus,
        }
    }
}

/// A non-success HTTP response from the server.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ApiError {
    /// Status family of [`status`](Self::status).
    pub kind: ErrorKind,
    /// HTTP status code.
    pub status: u16,
    /// The server's `error` message, or `HTTP <status>` when the body has none.
    pub message: String,
    /// The server's machine-readable `code`, when present (open vocabulary: unknown codes are
    /// kept as [`ClawOpsErrorCode::Unknown`]).
    pub code: Option<ClawOpsErrorCode>,
    /// The error body: parsed JSON when it was JSON, else the raw text as a JSON string.
    pub body: Option<serde_json::Value>,
    /// The failing operation.
    pub operation: Operation,
    /// The `x-request-id` (or `request-id`) response header, if any.
    pub request_id: Option<String>,
    /// The parsed `Retry-After` header, if any.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.operation, self.status, self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {})", code.as_str())?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

/// A transport-level failure cause, kept as text so no foreign error type leaks.
#[derive(Clone, Debug)]
pub struct Cause(pub(crate) String);

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cause {}

/// Every failure of the REST client and the webhook helpers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a non-success status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The connection could not be made (`connect == true`: the request provably never reached
    /// the server) or broke while the request or response was in flight.
    #[error("connection error on {operation}: {source}")]
    Connection {
        /// The failing operation.
        operation: Operation,
        /// Whether the failure happened while connecting (nothing was sent).
        connect: bool,
        /// What went wrong.
        source: Cause,
    },
    /// The request or the response body did not complete in time.
    #[error("{operation} timed out")]
    Timeout {
        /// The failing operation.
        operation: Operation,
    },
    /// The response could not be decoded into the expected model.
    #[error("could not decode the response of {operation}: {message}")]
    Decode {
        /// The failing operation.
        operation: Operation,
        /// What did not fit.
        message: String,
        /// The HTTP status, when known.
        status: Option<u16>,
        /// The raw response body.
        body: Bytes,
    },
    /// The client configuration is invalid (missing key, non-https base URL, …).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The request was rejected before sending (mutually exclusive options, …).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A webhook signature did not match, or the webhook request was malformed.
    #[error("webhook verification failed: {0}")]
    WebhookVerification(String),
    /// Writing a streamed download failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api(e) => e.kind,
            Error::Connection { .. } => ErrorKind::Connection,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Decode { .. } => ErrorKind::Decode,
            Error::Config(_) => ErrorKind::Config,
            Error::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Error::WebhookVerification(_) => ErrorKind::WebhookVerification,
            Error::Io(_) => ErrorKind::Io,
        }
    }

    /// The HTTP status, for status and decode errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Decode { status, .. } => *status,
            _ => None,
        }
    }

    /// The server's error `code`, if any.
    pub fn code(&self) -> Option<&ClawOpsErrorCode> {
        match self {
            Error::Api(e) => e.code.as_ref(),
            _ => None,
        }
    }

    /// The server's request id, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    /// The status error details, if this is one.
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }
}
