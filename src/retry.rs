//! Retry policy: retries that never double-dial.
//!
//! Every request gets up to `max_retries` extra attempts (default 2), with exponential backoff
//! and full jitter: before retry *n* (1-based) the client sleeps a uniformly random time in
//! `[0, min(max_backoff, initial_backoff × 2^(n-1))]` (defaults 0.5 s and 8 s). When the
//! response carries `Retry-After` (seconds or an HTTP date) the client sleeps exactly that long
//! instead, unless it exceeds `max_retry_after` (default 60 s): then it does not retry and
//! returns the error at once, so the caller can decide.
//!
//! What is retried depends on whether repeating the request is harmless:
//!
//! | Failure | [`RetryMode::Safe`] (GET, PUT, DELETE) | [`RetryMode::NoDuplicate`] (POST, PATCH) |
//! |---|---|---|
//! | connect error (nothing was sent) | retried | retried |
//! | other transport error, timeout | retried | **not retried** |
//! | 408, 500, 502, 504, other 5xx | retried | **not retried** |
//! | 429, 503 (server refused without acting) | retried | retried |
//! | 409 | never | never |
//! | any other status, decode errors | never | never |
//!
//! POST creates something billable (a call, a message, a number, a Kakao code): after a read
//! timeout or a 500 the server may already have acted, and a second POST can dial a person
//! twice. That is the incident of the Python SDK (which retries `POST /calls` on 500 and read
//! timeouts) this policy exists to prevent. The server knows no idempotency header, so none is
//! sent. A caller that knows a request is harmless to repeat can widen the policy for one
//! request with [`RequestOptions::retry_mode`](crate::RequestOptions::retry_mode).

use std::time::{Duration, SystemTime};

use crate::error::{Error, ErrorKind};

/// Which failures may be retried for a request; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryMode {
    /// Repeating the request is harmless: retry transport errors, timeouts, 408, 429 and 5xx.
    Safe,
    /// The request may create something: retry only when it provably did not reach the server
    /// (connect error) or the server refused it without acting (429, 503).
    NoDuplicate,
    /// Never retry.
    Never,
}

impl RetryMode {
    /// The default mode for an HTTP method.
    pub fn for_method(method: &str) -> Self {
        match method {
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" => Self::Safe,
            _ => Self::NoDuplicate,
        }
    }

    /// Whether `error` may be retried under this mode.
    pub fn allows(self, error: &Error) -> bool {
        match self {
            RetryMode::Never => false,
            RetryMode::Safe => match error {
                Error::Connection { .. } | Error::Timeout { .. } => true,
                Error::Api(e) => matches!(e.status, 408 | 429) || e.kind == ErrorKind::Server,
                _ => false,
            },
            RetryMode::NoDuplicate => match error {
                Error::Connection { connect, .. } => *connect,
                Error::Api(e) => matches!(e.status, 429 | 503),
                _ => false,
            },
        }
    }
}

/// Backoff settings of the retry policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// Upper bound of the first retry's sleep (default 0.5 s).
    pub initial: Duration,
    /// Cap of the exponential bound (default 8 s).
    pub max: Duration,
    /// Longest `Retry-After` the client honours by sleeping (default 60 s); a longer one ends
    /// the retries and returns the error.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Backoff with the given bounds.
    pub fn new(initial: Duration, max: Duration, max_retry_after: Duration) -> Self {
        Self {
            initial,
            max,
            max_retry_after,
        }
    }

    /// How long to wait before retry number `retry` (1-based), or `None` when the server's
    /// `Retry-After` asks for longer than [`max_retry_after`](Self::max_retry_after).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(wait) = retry_after {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let exp = retry.saturating_sub(1).min(30);
        let bound = self.initial.saturating_mul(1u32 << exp).min(self.max);
        let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        Some(Duration::from_nanos(fastrand::u64(0..=nanos)))
    }
}

/// Parses a `Retry-After` header: delay seconds or an HTTP date (a date in the past is 0).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = parse_retry_after(&future).unwrap();
        assert!(d <= Duration::from_secs(30) && d >= Duration::from_secs(28));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn full_jitter_is_bounded_and_retry_after_capped() {
        let b = Backoff::default();
        for retry in 1..8 {
            let bound = Duration::from_millis(500)
                .saturating_mul(1 << (retry - 1))
                .min(Duration::from_secs(8));
            assert!(b.delay(retry, None).unwrap() <= bound);
        }
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(b.delay(1, Some(Duration::from_secs(61))), None);
    }
}
