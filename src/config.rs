//! Client configuration: [`ClientBuilder`], environment variables and base-URL validation.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::client::{ClawOps, Inner};
use crate::error::{Error, Result};
use crate::retry::Backoff;

/// Default base URL of the ClawOps API.
pub const DEFAULT_BASE_URL: &str = "https://api.claw-ops.com";
/// Default total timeout of one attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of retries.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// The `User-Agent` sent on every request.
pub const USER_AGENT: &str = concat!("clawops-rust/", env!("CARGO_PKG_VERSION"));

type HttpFactory = Arc<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>;

/// Builds a [`ClawOps`] client. Unset values fall back to `CLAWOPS_API_KEY`,
/// `CLAWOPS_ACCOUNT_ID` and `CLAWOPS_BASE_URL` (default `https://api.claw-ops.com`).
///
/// ```
/// use std::time::Duration;
///
/// let client = clawops::ClawOps::builder()
///     .api_key("sk_test")
///     .account_id("AC1a2b3c4d")
///     .base_url("http://127.0.0.1:8080")
///     .timeout(Duration::from_secs(30))
///     .max_retries(1)
///     .default_header("X-Team", "voice")
///     .build()?;
/// assert_eq!(client.account_id(), "AC1a2b3c4d");
/// // The key never shows up in Debug output.
/// assert!(!format!("{client:?}").contains("sk_test"));
/// # Ok::<(), clawops::Error>(())
/// ```
#[must_use]
pub struct ClientBuilder {
    api_key: Option<String>,
    account_id: Option<String>,
    base_url: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    max_retries: u32,
    backoff: Backoff,
    default_headers: Vec<(String, String)>,
    http: Option<HttpFactory>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("account_id", &self.account_id)
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            account_id: None,
            base_url: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            backoff: Backoff::default(),
            default_headers: Vec::new(),
            http: None,
        }
    }
}

impl ClientBuilder {
    /// The API key (`sk_…`); falls back to `CLAWOPS_API_KEY`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The default account (`AC…`); falls back to `CLAWOPS_ACCOUNT_ID`.
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = Some(id.into());
        self
    }

    /// The base URL; falls back to `CLAWOPS_BASE_URL`, then `https://api.claw-ops.com`. Must be
    /// `https`, or plain `http` to a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Total time allowed for each attempt (default 600 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to connect (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Maximum retries per request (default 2; 0 disables). See [`crate::retry`].
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Backoff bounds of the retry policy.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// A header sent on every request (after the built-in ones, so it can replace them).
    pub fn default_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_headers.push((name.into(), value.into()));
        self
    }

    /// Supplies the `reqwest::ClientBuilder` (proxies, TLS roots, DNS, pool settings, …). The
    /// client adds its headers and timeouts on top. A factory rather than a built client,
    /// because authentication headers must be part of the client and per-request options that
    /// change headers need a second client built the same way.
    ///
    /// ```
    /// let client = clawops::ClawOps::builder()
    ///     .api_key("sk_test")
    ///     .account_id("AC1")
    ///     .http_client(|| reqwest::Client::builder().pool_max_idle_per_host(8))
    ///     .build()?;
    /// # Ok::<(), clawops::Error>(())
    /// ```
    pub fn http_client<F>(mut self, factory: F) -> Self
    where
        F: Fn() -> reqwest::ClientBuilder + Send + Sync + 'static,
    {
        self.http = Some(Arc::new(factory));
        self
    }

    /// Builds the client, reading unset values from the environment.
    pub fn build(self) -> Result<ClawOps> {
        self.build_with_env(|name| std::env::var(name).ok())
    }

    pub(crate) fn build_with_env(self, env: impl Fn(&str) -> Option<String>) -> Result<ClawOps> {
        let api_key = self
            .api_key
            .or_else(|| env("CLAWOPS_API_KEY"))
            .ok_or_else(|| {
                Error::Config("no API key: call `api_key(..)` or set CLAWOPS_API_KEY".into())
            })?;
        let account_id = self
            .account_id
            .or_else(|| env("CLAWOPS_ACCOUNT_ID"))
            .ok_or_else(|| {
                Error::Config(
                    "no account id: call `account_id(..)` or set CLAWOPS_ACCOUNT_ID".into(),
                )
            })?;
        let base_url = self
            .base_url
            .or_else(|| env("CLAWOPS_BASE_URL"))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = validate_base_url(&base_url)?;

        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {api_key}"))
            .map_err(|_| Error::Config("the API key contains invalid header characters".into()))?;
        auth.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, auth);
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        merge_headers(&mut headers, &self.default_headers)?;

        let http_factory: HttpFactory = self
            .http
            .unwrap_or_else(|| Arc::new(reqwest::Client::builder));
        let http = build_http(&http_factory, headers.clone(), self.connect_timeout)?;
        let api = clawops_api::Client::new_with_client(&base_url, http.clone());
        Ok(ClawOps {
            inner: Arc::new(Inner {
                api,
                http,
                http_factory,
                headers,
                base_url,
                account_id: account_id.into(),
                timeout: self.timeout,
                connect_timeout: self.connect_timeout,
                max_retries: self.max_retries,
                backoff: self.backoff,
            }),
        })
    }
}

pub(crate) fn merge_headers(headers: &mut HeaderMap, extra: &[(String, String)]) -> Result<()> {
    for (name, value) in extra {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Config(format!("invalid header name {name:?}")))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| Error::Config(format!("invalid value for header {name}")))?;
        if name == header::AUTHORIZATION {
            value.set_sensitive(true);
        }
        headers.insert(name, value);
    }
    Ok(())
}

pub(crate) fn build_http(
    factory: &HttpFactory,
    headers: HeaderMap,
    connect_timeout: Duration,
) -> Result<reqwest::Client> {
    factory()
        .default_headers(headers)
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))
}

/// Checks the scheme rule and strips a trailing `/`.
pub(crate) fn validate_base_url(raw: &str) -> Result<String> {
    let trimmed = raw.trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| Error::Config(format!("invalid base URL {raw:?}: {e}")))?;
    let ok = match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        },
        _ => false,
    };
    if !ok {
        return Err(Error::Config(format!(
            "base URL must use https (plain http is allowed only for localhost, 127.0.0.0/8 \
             and [::1]); got {raw:?}"
        )));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        for ok in [
            "https://api.claw-ops.com/",
            "HTTPS://x.example",
            "http://localhost:8080",
            "http://LOCALHOST:1",
            "http://127.0.0.1:9",
            "http://127.1.2.3",
            "http://[::1]:8080",
        ] {
            assert!(validate_base_url(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            validate_base_url("https://api.claw-ops.com/").unwrap(),
            "https://api.claw-ops.com"
        );
        for bad in [
            "http://api.claw-ops.com",
            "http://0.0.0.0:80",
            "http://128.0.0.1",
            "ftp://localhost",
            "localhost:8080",
            "http://localhost.evil.com",
        ] {
            let err = validate_base_url(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn env_fallback_and_missing_values() {
        let env = |k: &str| match k {
            "CLAWOPS_API_KEY" => Some("sk_env".to_owned()),
            "CLAWOPS_ACCOUNT_ID" => Some("AC_env".to_owned()),
            "CLAWOPS_BASE_URL" => Some("http://127.0.0.1:1/".to_owned()),
            _ => None,
        };
        let c = ClientBuilder::default().build_with_env(env).unwrap();
        assert_eq!(c.account_id(), "AC_env");
        assert_eq!(c.base_url(), "http://127.0.0.1:1");
        let c = ClientBuilder::default()
            .account_id("AC_arg")
            .build_with_env(env)
            .unwrap();
        assert_eq!(c.account_id(), "AC_arg");
        let c = ClientBuilder::default()
            .api_key("k")
            .account_id("AC")
            .build_with_env(|_| None)
            .unwrap();
        assert_eq!(c.base_url(), DEFAULT_BASE_URL);
        let err = ClientBuilder::default()
            .account_id("AC")
            .build_with_env(|_| None)
            .unwrap_err();
        assert!(err.to_string().contains("CLAWOPS_API_KEY"));
        let err = ClientBuilder::default()
            .api_key("k")
            .build_with_env(|_| None)
            .unwrap_err();
        assert!(err.to_string().contains("CLAWOPS_ACCOUNT_ID"));
    }
}
