//! The [`ClawOps`] REST client, its per-account view [`Account`], and the request loop
//! (per-request options, retries, error mapping) every resource method goes through.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use clawops_api::ResponseValue;
use clawops_api::types::ErrorBody;
use reqwest::header::HeaderMap;

use crate::config::{ClientBuilder, build_http, merge_headers};
use crate::error::{ApiError, Cause, Error, ErrorKind, Operation, Result};
use crate::request_options::RequestOptions;
use crate::resources::{
    AssignmentLinks, BlockedRecipients, Calls, Kakao, Messages, Numbers, Recordings, SenderNumbers,
    SipCredentials, SipEndpoints, WebhookLogs,
};
use crate::retry::{Backoff, RetryMode, parse_retry_after};

/// The generated client's error type.
pub(crate) type GenError = clawops_api::Error<ErrorBody>;

/// The ClawOps REST client.
///
/// Cheap to clone (one `Arc`) and safe to share across tasks; clones share the connection pool.
/// Resource handles (`calls()`, `messages()`, …) act on the default account;
/// [`account`](Self::account) gives the same handles for another account.
///
/// ```no_run
/// # async fn run() -> clawops::Result<()> {
/// let client = clawops::ClawOps::from_env()?;
/// let call = client.calls().get("CA0123456789abcdef0123456789abcdef").await?;
/// println!("{} is {}", call.call_id, call.status);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClawOps {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) api: clawops_api::Client,
    pub(crate) http: reqwest::Client,
    pub(crate) http_factory: Arc<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>,
    pub(crate) headers: HeaderMap,
    pub(crate) base_url: String,
    pub(crate) account_id: Arc<str>,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) backoff: Backoff,
}

impl fmt::Debug for ClawOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClawOps")
            .field("base_url", &self.inner.base_url)
            .field("account_id", &self.inner.account_id)
            .field("api_key", &"<redacted>")
            .field("timeout", &self.inner.timeout)
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("max_retries", &self.inner.max_retries)
            .finish()
    }
}

impl ClawOps {
    /// A builder; see [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured only from `CLAWOPS_API_KEY`, `CLAWOPS_ACCOUNT_ID` and
    /// `CLAWOPS_BASE_URL`.
    pub fn from_env() -> Result<Self> {
        ClientBuilder::default().build()
    }

    /// The default account id.
    pub fn account_id(&self) -> &str {
        &self.inner.account_id
    }

    /// The validated base URL (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The generated low-level client (no retries, no error mapping), for anything this layer
    /// does not cover.
    pub fn raw(&self) -> &clawops_api::Client {
        &self.inner.api
    }

    /// The same resources for another account, sharing this client's connection pool, key,
    /// retries and timeouts.
    ///
    /// ```
    /// # let client = clawops::ClawOps::builder().api_key("k").account_id("AC1").build()?;
    /// let other = client.account("AC_other");
    /// assert_eq!(other.account_id(), "AC_other");
    /// # Ok::<(), clawops::Error>(())
    /// ```
    pub fn account(&self, account_id: impl Into<String>) -> Account {
        Account {
            client: self.clone(),
            account_id: account_id.into().into(),
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            client: self.clone(),
            account: self.inner.account_id.clone(),
            opts: None,
        }
    }
}

/// The REST resources bound to one account; from [`ClawOps::account`].
#[derive(Clone, Debug)]
pub struct Account {
    client: ClawOps,
    account_id: Arc<str>,
}

impl Account {
    /// This view's account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            client: self.client.clone(),
            account: self.account_id.clone(),
            opts: None,
        }
    }
}

macro_rules! accessors {
    ($($(#[$doc:meta])* $name:ident -> $ty:ident;)*) => {
        impl ClawOps {
            $($(#[$doc])* pub fn $name(&self) -> $ty { $ty::new(self.ctx()) })*
        }
        impl Account {
            $($(#[$doc])* pub fn $name(&self) -> $ty { $ty::new(self.ctx()) })*
        }
    };
}

accessors! {
    /// Calls: create, list, get, end, transcripts, summaries.
    calls -> Calls;
    /// SMS/LMS/MMS, alimtalk and brand messages.
    messages -> Messages;
    /// Phone numbers of the account.
    numbers -> Numbers;
    /// Call recordings: download (buffered or streamed) and delete.
    recordings -> Recordings;
    /// Webhook delivery logs.
    webhook_logs -> WebhookLogs;
    /// External number-assignment links.
    assignment_links -> AssignmentLinks;
    /// The do-not-contact list.
    blocked_recipients -> BlockedRecipients;
    /// Registered SIP devices (read-only).
    sip_credentials -> SipCredentials;
    /// External PBX trunks (read-only).
    sip_endpoints -> SipEndpoints;
    /// SMS sender numbers.
    sender_numbers -> SenderNumbers;
    /// Kakao channels, templates, brand templates and brand images.
    kakao -> Kakao;
}

/// What a resource handle carries: client, account and per-request options.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) client: ClawOps,
    pub(crate) account: Arc<str>,
    pub(crate) opts: Option<RequestOptions>,
}

impl Ctx {
    pub(crate) fn with_options(mut self, opts: RequestOptions) -> Self {
        self.opts = Some(opts);
        self
    }

    pub(crate) fn account(&self) -> &str {
        &self.account
    }

    fn inner(&self) -> &Inner {
        &self.client.inner
    }

    /// The generated client to use: the shared one, or one with the options' headers.
    pub(crate) fn api(&self) -> Result<clawops_api::Client> {
        match &self.opts {
            Some(opts) if opts.needs_own_client() => opts
                .derived
                .get_or_init(|| {
                    let inner = self.inner();
                    let mut headers = inner.headers.clone();
                    merge_headers(&mut headers, &opts.headers).map_err(|e| e.to_string())?;
                    let http = build_http(
                        &inner.http_factory,
                        headers,
                        opts.connect_timeout.unwrap_or(inner.connect_timeout),
                    )
                    .map_err(|e| e.to_string())?;
                    Ok(clawops_api::Client::new_with_client(&inner.base_url, http))
                })
                .clone()
                .map_err(Error::InvalidRequest),
            _ => Ok(self.inner().api.clone()),
        }
    }

    /// The raw reqwest client for the handwritten requests (multipart upload).
    pub(crate) fn http(&self) -> Result<reqwest::Client> {
        match &self.opts {
            Some(opts) if opts.needs_own_client() => {
                let api = self.api()?;
                Ok(clawops_api::ClientInfo::client(&api).clone())
            }
            _ => Ok(self.inner().http.clone()),
        }
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.inner().base_url
    }

    fn timeout(&self) -> Duration {
        self.opts
            .as_ref()
            .and_then(|o| o.timeout)
            .unwrap_or(self.inner().timeout)
    }

    /// Runs `attempt` under the timeout and retry policy and maps every failure to [`Error`].
    /// `attempt` is called once per try with a clone of the generated client.
    pub(crate) async fn run<T, F, Fut>(&self, op: Operation, attempt: F) -> Result<T>
    where
        F: Fn(clawops_api::Client) -> Fut,
        Fut: Future<Output = std::result::Result<ResponseValue<T>, GenError>>,
    {
        self.run_raw(op, |api| {
            let fut = attempt(api);
            async move {
                fut.await
                    .map(ResponseValue::into_inner)
                    .map_err(Failure::Gen)
            }
        })
        .await
    }

    /// Like [`run`](Self::run) for attempts that produce their own value and may fail with an
    /// already-mapped error (streaming downloads, multipart).
    pub(crate) async fn run_raw<T, F, Fut>(&self, op: Operation, attempt: F) -> Result<T>
    where
        F: Fn(clawops_api::Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let api = self.api()?;
        let opts = self.opts.as_ref();
        let max_retries = opts
            .and_then(|o| o.max_retries)
            .unwrap_or(self.inner().max_retries);
        let mode = opts
            .and_then(|o| o.retry_mode)
            .unwrap_or_else(|| RetryMode::for_method(op.method));
        let timeout = self.timeout();
        let mut retries = 0u32;
        loop {
            let outcome = match tokio::time::timeout(timeout, attempt(api.clone())).await {
                Ok(r) => r,
                Err(_) => Err(Failure::Mapped(Error::Timeout { operation: op })),
            };
            let err = match outcome {
                Ok(v) => return Ok(v),
                Err(Failure::Gen(e)) => map_error(e, op).await,
                Err(Failure::Mapped(e)) => e,
            };
            if retries >= max_retries || !mode.allows(&err) {
                return Err(err);
            }
            retries += 1;
            let retry_after = err.as_api().and_then(|e| e.retry_after);
            let Some(delay) = self.inner().backoff.delay(retries, retry_after) else {
                return Err(err);
            };
            tracing::debug!(
                operation = op.id,
                retry = retries,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                kind = ?err.kind(),
                status = err.status(),
                "retrying request"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// A failed attempt: either a generated-client error still to be mapped, or a mapped one.
pub(crate) enum Failure {
    Gen(GenError),
    Mapped(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Mapped(e)
    }
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-request-id", "request-id"]
        .iter()
        .find_map(|h| headers.get(*h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

pub(crate) fn transport_error(e: reqwest::Error, op: Operation) -> Error {
    if e.is_timeout() {
        return Error::Timeout { operation: op };
    }
    let connect = e.is_connect();
    // No URL in messages: the operation says what failed.
    let e = e.without_url();
    Error::Connection {
        operation: op,
        connect,
        source: Cause(error_chain(&e)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The [`Error`] a non-2xx response with `status`, `headers` and raw `body` becomes: the entry
/// point of the REST error-body parser for the fuzz harness (`tests/fuzz_parsers.rs`). Not part of
/// the stable API.
#[doc(hidden)]
pub fn __error_from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    status_error(
        status,
        headers,
        body,
        Operation {
            id: "fuzz",
            method: "GET",
            path: "/fuzz",
        },
    )
}

/// Builds a status error from a status, headers and a raw body.
pub(crate) fn status_error(status: u16, headers: &HeaderMap, body: &[u8], op: Operation) -> Error {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let (message, code) = match &json {
        Some(serde_json::Value::Object(map)) => (
            match map.get("error") {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(serde_json::Value::String(_) | serde_json::Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            },
            match map.get("code") {
                Some(serde_json::Value::String(s)) if !s.is_empty() => {
                    Some(clawops_api::types::ClawOpsErrorCode::from(s.as_str()))
                }
                _ => None,
            },
        ),
        _ => (None, None),
    };
    let body = json.or_else(|| {
        (!body.is_empty()).then(|| serde_json::Value::String(String::from_utf8_lossy(body).into()))
    });
    Error::Api(Box::new(ApiError {
        kind: ErrorKind::from_status(status),
        status,
        message: message.unwrap_or_else(|| format!("HTTP {status}")),
        code,
        body,
        operation: op,
        request_id: request_id(headers),
        retry_after: retry_after(headers),
    }))
}

async fn map_error(e: GenError, op: Operation) -> Error {
    match e {
        clawops_api::Error::ErrorResponse(rv) => {
            let status = rv.status().as_u16();
            let headers = rv.headers().clone();
            let body = rv.into_inner();
            let message = body.error.clone().filter(|m| !m.is_empty());
            let raw = serde_json::to_value(&body).ok();
            Error::Api(Box::new(ApiError {
                kind: ErrorKind::from_status(status),
                status,
                message: message.unwrap_or_else(|| format!("HTTP {status}")),
                code: body.code.filter(|c| !c.as_str().is_empty()),
                body: raw,
                operation: op,
                request_id: request_id(&headers),
                retry_after: retry_after(&headers),
            }))
        }
        clawops_api::Error::UnexpectedResponse(resp) => {
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            match resp.bytes().await {
                Ok(body) if (200..300).contains(&status) => Error::Decode {
                    operation: op,
                    message: format!("unexpected success status {status}"),
                    status: Some(status),
                    body,
                },
                Ok(body) => status_error(status, &headers, &body, op),
                Err(e) => transport_error(e, op),
            }
        }
        clawops_api::Error::InvalidResponsePayload(body, err) => Error::Decode {
            operation: op,
            message: err.to_string(),
            status: None,
            body,
        },
        clawops_api::Error::CommunicationError(e)
        | clawops_api::Error::ResponseBodyError(e)
        | clawops_api::Error::InvalidUpgrade(e) => transport_error(e, op),
        clawops_api::Error::InvalidRequest(s) => Error::InvalidRequest(s),
        clawops_api::Error::Custom(s) => Error::InvalidRequest(s),
    }
}

/// Shorthand for an [`Operation`] constant.
macro_rules! op {
    ($id:literal, $method:literal, $path:literal) => {
        $crate::error::Operation {
            id: $id,
            method: $method,
            path: concat!("/v1/accounts/{accountId}", $path),
        }
    };
}
pub(crate) use op;
