//! Per-request options: timeout, connect timeout, retries, retry mode and extra headers.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::retry::RetryMode;

/// Options for one request (or every request made through one resource handle).
///
/// Attach them with `with_options` on any resource handle; auto-paging carries them to every
/// page. Options that change the connection itself (extra headers, connect timeout) use a
/// dedicated HTTP client built once per `RequestOptions` value: build the options once and
/// reuse them (they are cheap to clone) rather than rebuilding them per call.
///
/// ```
/// use std::time::Duration;
/// use clawops::{RequestOptions, RetryMode};
///
/// let opts = RequestOptions::new()
///     .timeout(Duration::from_secs(10))
///     .max_retries(0)
///     .retry_mode(RetryMode::Safe)
///     .header("X-Trace", "abc");
/// assert_eq!(opts.get_timeout(), Some(Duration::from_secs(10)));
/// ```
#[derive(Clone, Default)]
pub struct RequestOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) retry_mode: Option<RetryMode>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) derived: Arc<OnceLock<Result<clawops_api::Client, String>>>,
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may carry credentials: print names only.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("RequestOptions")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_mode", &self.retry_mode)
            .field("headers", &names)
            .finish()
    }
}

impl RequestOptions {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total time allowed for each attempt (request and response body).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Time allowed to establish a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self.derived = Arc::default();
        self
    }

    /// Maximum number of retries (0 disables retries).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Which failures may be retried; see [`crate::retry`]. Widening a POST to
    /// [`RetryMode::Safe`] risks duplicates (a second call, a second message).
    pub fn retry_mode(mut self, mode: RetryMode) -> Self {
        self.retry_mode = Some(mode);
        self
    }

    /// Adds (or replaces) a request header, e.g. a tracing header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self.derived = Arc::default();
        self
    }

    /// The per-request timeout, if set.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub(crate) fn needs_own_client(&self) -> bool {
        self.connect_timeout.is_some() || !self.headers.is_empty()
    }
}
