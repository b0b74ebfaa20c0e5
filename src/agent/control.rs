//! The control WebSocket: one long-lived connection per agent number.
//!
//! One owned task keeps the connection: bearer auth at upgrade, `agent.hello` as the first frame
//! after **every** (re)connection, WebSocket ping every 30 s (a missing pong within 15 s is a
//! drop), reconnect with exponential backoff 1 s → 30 s (reset once connected, no jitter), and
//! close codes `4409` (replaced) / `4403` (ownership lost) that end the connection for good (the
//! code and reason are read from the CLOSE frame itself and handed to the takeover hook). `1001`
//! (gateway draining) and every other drop reconnect — unless the link is a **lame duck** (the
//! process is retiring: `agent.retired` or SIGTERM in `serve()`), which never reconnects for any
//! reason and would mark a reconnect URL `role=retiring`. A malformed frame, an unknown event or a
//! panicking handler is logged and skipped; it never ends the loop.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clawops_api::events::{AgentHello, ControlCommand, ControlEvent};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;

use super::media::{describe_ws_error, truncate};

/// Close code: another process took over this number's slot. Never reconnect.
pub const CLOSE_REPLACED: u16 = 4409;
/// Close code: the number no longer belongs to the account. Never reconnect.
pub const CLOSE_OWNERSHIP_LOST: u16 = 4403;
/// First reconnect delay.
pub const INITIAL_RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);
/// WebSocket ping interval on the control socket.
pub const CONTROL_HEARTBEAT: Duration = Duration::from_secs(30);

/// The control WebSocket URL for `base_url`: `https` → `wss`, `http` → `ws` (scheme matched
/// case-insensitively), any base path kept, the number percent-encoded.
///
/// ```
/// # use clawops::agent::control_url;
/// assert_eq!(
///     control_url("https://api.claw-ops.com/", "AC1", "+821012345678", false),
///     "wss://api.claw-ops.com/v1/accounts/AC1/agent/listen?number=%2B821012345678"
/// );
/// assert_eq!(
///     control_url("http://localhost:3000/x", "AC1", "07012341234", true),
///     "ws://localhost:3000/x/v1/accounts/AC1/agent/listen?number=07012341234&role=retiring"
/// );
/// ```
pub fn control_url(base_url: &str, account_id: &str, number: &str, retiring: bool) -> String {
    let base = base_url.trim_end_matches('/');
    let (scheme, rest) = match base.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("wss") => {
            ("wss", rest)
        }
        Some((_, rest)) => ("ws", rest),
        None => ("wss", base),
    };
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let number = percent_encoding::utf8_percent_encode(number, UNRESERVED).to_string();
    let account = percent_encoding::utf8_percent_encode(account_id, UNRESERVED).to_string();
    let role = if retiring { "&role=retiring" } else { "" };
    format!("{scheme}://{rest}/v1/accounts/{account}/agent/listen?number={number}{role}")
}

/// One frame from the server, as the dispatcher sees it.
#[derive(Debug)]
pub(crate) enum ControlFrame {
    /// A frame that decoded (unknown events arrive as [`ControlEvent::Unknown`]).
    Event(ControlEvent),
    /// A known event whose payload did not decode; `call_id` is taken from the raw JSON.
    Malformed {
        event: Option<String>,
        call_id: Option<String>,
    },
}

/// Connection state, observable through [`ControlLink::state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ControlState {
    /// Not connected (yet or any more); the loop keeps trying.
    Connecting,
    /// Connected; the number counts (re)connections.
    Connected(u64),
    /// Ended for good: closed by us, or taken over (4409/4403).
    Closed,
}

pub(crate) use super::ops::TakeOver;

/// Settings of the control connection.
#[derive(Clone)]
pub(crate) struct ControlSettings {
    pub(crate) base_url: String,
    pub(crate) account_id: String,
    pub(crate) number: String,
    pub(crate) api_key: String,
    pub(crate) hello: AgentHello,
    pub(crate) heartbeat: Duration,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
}

impl std::fmt::Debug for ControlSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlSettings")
            .field("base_url", &self.base_url)
            .field("account_id", &self.account_id)
            .field("number", &self.number)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

type Handler = Arc<dyn Fn(ControlFrame) + Send + Sync>;
type TakeOverHook = Arc<dyn Fn(TakeOver) + Send + Sync>;

struct Shared {
    out: Mutex<Option<mpsc::UnboundedSender<String>>>,
    state: watch::Sender<ControlState>,
    lame_duck: AtomicBool,
    retiring_url: AtomicBool,
    /// The HTTP status (401/403) of the last upgrade refused for its credentials; 0 = none.
    auth_status: AtomicU16,
    cancel: CancellationToken,
}

/// A cloneable handle to the control connection.
#[derive(Clone)]
pub(crate) struct ControlLink {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ControlLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlLink")
            .field("state", &*self.shared.state.borrow())
            .finish()
    }
}

impl ControlLink {
    /// Sends a frame if connected; returns whether it was handed to the socket.
    pub(crate) fn send(&self, command: &ControlCommand) -> bool {
        let Ok(text) = command.to_json() else {
            return false;
        };
        match self.shared.out.lock() {
            Ok(out) => out.as_ref().is_some_and(|tx| tx.send(text).is_ok()),
            Err(_) => false,
        }
    }

    pub(crate) fn state(&self) -> watch::Receiver<ControlState> {
        self.shared.state.subscribe()
    }

    pub(crate) fn is_connected(&self) -> bool {
        matches!(*self.shared.state.borrow(), ControlState::Connected(_))
    }

    /// The status (401/403) if the last upgrade was refused for its credentials (bad
    /// credentials, not a flaky network).
    pub(crate) fn auth_refused(&self) -> Option<u16> {
        match self.shared.auth_status.load(Ordering::Acquire) {
            0 => None,
            status => Some(status),
        }
    }

    /// Whether the connection will never reconnect again.
    pub(crate) fn is_lame_duck(&self) -> bool {
        self.shared.lame_duck.load(Ordering::Acquire)
    }

    /// Whether the connection ended for good (closed by us, taken over, or lame duck dropped).
    pub(crate) fn is_closed(&self) -> bool {
        matches!(*self.shared.state.borrow(), ControlState::Closed)
    }

    /// Lame duck: never reconnect again, for any reason; `retiring_url` also marks any later
    /// connection attempt `role=retiring` (a second line of defence).
    pub(crate) fn set_lame_duck(&self, retiring_url: bool) {
        self.shared.lame_duck.store(true, Ordering::Release);
        if retiring_url {
            self.shared.retiring_url.store(true, Ordering::Release);
        }
    }

    /// Whether both handles are the same connection.
    pub(crate) fn same(&self, other: &ControlLink) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Closes the connection for good.
    pub(crate) fn close(&self) {
        self.shared.cancel.cancel();
    }
}

/// Starts the connection task. `handler` must not block (it dispatches to tasks); a panic in
/// it is caught and logged. `on_takeover` runs once on 4409/4403.
pub(crate) fn spawn_control(
    settings: ControlSettings,
    handler: Handler,
    on_takeover: TakeOverHook,
    tasks: &tokio_util::task::TaskTracker,
) -> ControlLink {
    let (state, _) = watch::channel(ControlState::Connecting);
    let shared = Arc::new(Shared {
        out: Mutex::new(None),
        state,
        lame_duck: AtomicBool::new(false),
        retiring_url: AtomicBool::new(false),
        auth_status: AtomicU16::new(0),
        cancel: CancellationToken::new(),
    });
    let link = ControlLink {
        shared: shared.clone(),
    };
    tasks.spawn(run(settings, shared, handler, on_takeover));
    link
}

enum Ended {
    /// Ordinary drop: reconnect unless lame duck.
    Dropped,
    /// 4409/4403: never reconnect.
    TakenOver(TakeOver),
    /// We closed it.
    Cancelled,
}

async fn run(settings: ControlSettings, shared: Arc<Shared>, handler: Handler, hook: TakeOverHook) {
    let mut delay = settings.initial_backoff;
    let mut generation = 0u64;
    loop {
        if shared.cancel.is_cancelled() {
            break;
        }
        let retiring = shared.retiring_url.load(Ordering::Acquire);
        let url = control_url(
            &settings.base_url,
            &settings.account_id,
            &settings.number,
            retiring,
        );
        let ended = match connect(&url, &settings.api_key, &shared).await {
            Ok(ws) => {
                shared.auth_status.store(0, Ordering::Release);
                delay = settings.initial_backoff;
                generation += 1;
                serve(ws, &settings, &shared, &handler, generation).await
            }
            Err(ConnectError::Cancelled) => Ended::Cancelled,
            // Refused credentials are not a flaky network (§13.1): before this link ever
            // connected, give up at once so `connect()` reports them; after that (a key being
            // rotated while calls run), keep retrying, each refusal logged as an error.
            Err(ConnectError::Unauthorized(status)) if generation == 0 => {
                shared.auth_status.store(status, Ordering::Release);
                shared.state.send_replace(ControlState::Closed);
                return;
            }
            Err(ConnectError::Unauthorized(status)) => {
                shared.auth_status.store(status, Ordering::Release);
                tracing::error!(number = %settings.number, status, "control reconnect refused the credentials; retrying");
                Ended::Dropped
            }
            Err(ConnectError::Failed(error)) => {
                tracing::warn!(number = %settings.number, %error, "control connection failed");
                Ended::Dropped
            }
        };
        if let Ok(mut out) = shared.out.lock() {
            *out = None;
        }
        match ended {
            Ended::Cancelled => break,
            Ended::TakenOver(t) => {
                tracing::warn!(code = t.code, reason = %truncate(&t.reason, 120), "control slot taken over; not reconnecting");
                shared.lame_duck.store(true, Ordering::Release);
                shared.state.send_replace(ControlState::Closed);
                let hook = hook.clone();
                if std::panic::catch_unwind(AssertUnwindSafe(|| hook(t))).is_err() {
                    tracing::error!("on_taken_over hook panicked");
                }
                return;
            }
            Ended::Dropped => {}
        }
        shared.state.send_replace(ControlState::Connecting);
        if shared.lame_duck.load(Ordering::Acquire) {
            tracing::info!("control connection ended in lame-duck mode; not reconnecting");
            break;
        }
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "reconnecting control connection"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.cancel.cancelled() => break,
        }
        delay = (delay * 2).min(settings.max_backoff);
    }
    shared.state.send_replace(ControlState::Closed);
}

enum ConnectError {
    Cancelled,
    /// The upgrade was answered 401/403.
    Unauthorized(u16),
    Failed(String),
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, api_key: &str, shared: &Shared) -> Result<Ws, ConnectError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Failed(describe_ws_error(&e)))?;
    let mut auth = HeaderValue::from_str(&format!("Bearer {api_key}"))
        .map_err(|_| ConnectError::Failed("API key has invalid header characters".into()))?;
    auth.set_sensitive(true);
    request.headers_mut().insert("authorization", auth);
    // tungstenite zero-fills its read buffer on every read: 128 KiB by default, far more than
    // a control frame needs (larger frames are simply read in several pieces).
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(16 * 1024);
    let attempt =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, None);
    tokio::select! {
        result = tokio::time::timeout(Duration::from_secs(15), attempt) => match result {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(error)) => {
                if let tokio_tungstenite::tungstenite::Error::Http(resp) = &error
                    && let status @ (401 | 403) = resp.status().as_u16()
                {
                    tracing::error!(status, "control connection refused: check the API key, account id and number");
                    return Err(ConnectError::Unauthorized(status));
                }
                Err(ConnectError::Failed(describe_ws_error(&error)))
            }
            Err(_) => Err(ConnectError::Failed("connect timed out".into())),
        },
        () = shared.cancel.cancelled() => Err(ConnectError::Cancelled),
    }
}

async fn serve(
    mut ws: Ws,
    settings: &ControlSettings,
    shared: &Shared,
    handler: &Handler,
    generation: u64,
) -> Ended {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    // Hello first, before any other frame can be queued.
    if let Ok(text) = ControlCommand::AgentHello(settings.hello.clone()).to_json()
        && ws.send(Message::Text(text.into())).await.is_err()
    {
        return Ended::Dropped;
    }
    if let Ok(mut out) = shared.out.lock() {
        *out = Some(tx);
    }
    shared
        .state
        .send_replace(ControlState::Connected(generation));
    tracing::info!(number = %settings.number, generation, "control connected");
    let mut ping =
        tokio::time::interval_at(Instant::now() + settings.heartbeat, settings.heartbeat);
    let pong_timer = tokio::time::sleep(settings.heartbeat / 2);
    tokio::pin!(pong_timer);
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            () = shared.cancel.cancelled() => {
                // Flush what is queued (e.g. a final metrics frame), then close normally.
                while let Ok(text) = rx.try_recv() {
                    let _ = ws.send(Message::Text(text.into())).await;
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                return Ended::Cancelled;
            }
            out = rx.recv() => {
                if let Some(text) = out
                    && ws.send(Message::Text(text.into())).await.is_err()
                {
                    return Ended::Dropped;
                }
            }
            incoming = ws.next() => {
                awaiting_pong = false;
                match incoming {
                    Some(Ok(Message::Text(text))) => dispatch(handler, text.as_str()),
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        if code == CLOSE_REPLACED || code == CLOSE_OWNERSHIP_LOST {
                            return Ended::TakenOver(TakeOver::closed(code, reason));
                        }
                        tracing::info!(code, reason = %truncate(&reason, 120), "control connection closed by server");
                        return Ended::Dropped;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::warn!(error = %describe_ws_error(&error), "control socket error");
                        return Ended::Dropped;
                    }
                    None => return Ended::Dropped,
                }
            }
            _ = ping.tick() => {
                if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return Ended::Dropped;
                }
                if !awaiting_pong {
                    awaiting_pong = true;
                    pong_timer.as_mut().reset(Instant::now() + settings.heartbeat / 2);
                }
            }
            () = &mut pong_timer, if awaiting_pong => {
                tracing::warn!("control heartbeat timeout (no pong)");
                return Ended::Dropped;
            }
        }
    }
}

/// Parses one text frame and hands it to the handler; never panics, never logs frame contents.
fn dispatch(handler: &Handler, text: &str) {
    let frame = match ControlEvent::from_json(text) {
        Ok(event) => ControlFrame::Event(event),
        Err(error) => {
            let raw: Option<serde_json::Value> = serde_json::from_str(text).ok();
            let field = |name: &str| {
                raw.as_ref()
                    .and_then(|v| v.get(name))
                    .and_then(|v| v.as_str())
                    .map(|s| truncate(s, 64).to_owned())
            };
            let event = field("event");
            tracing::warn!(
                event = event.as_deref().unwrap_or("<none>"),
                kind = ?error.classify(),
                "malformed control frame skipped"
            );
            ControlFrame::Malformed {
                event,
                call_id: field("callId"),
            }
        }
    };
    if std::panic::catch_unwind(AssertUnwindSafe(|| handler(frame))).is_err() {
        tracing::error!("control event handler panicked; connection continues");
    }
}
