//! The per-call media WebSocket: one connection per answered call, never reconnected.
//!
//! One owned task runs the socket. Outbound audio and marks share one ordered FIFO, so a mark can
//! never overtake audio queued before it ("flush, then mark" holds by construction); `clear` and
//! DTMF tones go through a priority lane. `clear` bumps an epoch so audio queued before it is
//! dropped locally instead of being sent. Partial frames are sent as they are (no tail padding).
//!
//! The URL carries a one-time token: it is never logged (see [`redact_url`]), and no credential
//! header is sent on this socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops_api::events::{
    MediaClear, MediaCommand, MediaDtmfOut, MediaEvent, MediaMarkInfo, MediaMarkOut, MediaOutbound,
    OutboundDtmfKey, OutboundMediaChunk,
};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::AgentError;

/// WebSocket ping interval on the media socket (a peer that vanished without FIN ends the call).
pub const MEDIA_HEARTBEAT: Duration = Duration::from_secs(30);
/// How long the hangup handshake waits for the echo of its mark.
pub const HANGUP_MARK_TIMEOUT: Duration = Duration::from_secs(5);

/// The URL without query and fragment: the only form of a media URL that may be logged.
///
/// ```
/// # use clawops::agent::redact_url;
/// assert_eq!(
///     redact_url("wss://api.claw-ops.com/v1/agent/media/CA1?token=secret&node=n1#x"),
///     "wss://api.claw-ops.com/v1/agent/media/CA1"
/// );
/// ```
pub fn redact_url(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// What the media socket delivers to its call, in arrival order.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum MediaIn {
    /// `start`: the stream began.
    Start,
    /// One frame of caller audio (μ-law) with its media timestamp in ms.
    Audio { payload: Vec<u8>, timestamp_ms: u64 },
    /// The caller pressed a key (never logged).
    Dtmf(String),
}

impl std::fmt::Debug for MediaIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Start => f.write_str("Start"),
            Self::Audio {
                payload,
                timestamp_ms,
            } => write!(f, "Audio({} bytes @ {timestamp_ms} ms)", payload.len()),
            Self::Dtmf(_) => f.write_str("Dtmf(<redacted>)"),
        }
    }
}

/// Why the media socket ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MediaEnd {
    /// The server sent `stop` (the caller or the platform ended the stream).
    Stop,
    /// The server closed the socket (or it dropped) without `stop`.
    PeerClosed,
    /// We closed it (hangup handshake or shutdown).
    Local,
    /// Connect failure, heartbeat timeout or socket error (text is secret-free).
    Error(String),
}

enum Fifo {
    Audio { epoch: u64, payload: Vec<u8> },
    Mark(String),
}

enum Priority {
    Clear,
    Dtmf(String),
    Close,
}

struct LinkShared {
    fifo: mpsc::UnboundedSender<Fifo>,
    priority: mpsc::UnboundedSender<Priority>,
    epoch: AtomicU64,
    queued: AtomicUsize,
    marks: Mutex<HashMap<String, oneshot::Sender<()>>>,
    closed: watch::Sender<bool>,
    close_requested: AtomicBool,
    last_audio: Mutex<Option<Instant>>,
}

/// A cloneable handle to one call's media socket.
#[derive(Clone)]
pub(crate) struct MediaLink {
    shared: Arc<LinkShared>,
}

impl std::fmt::Debug for MediaLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaLink")
            .field("queued", &self.queued())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl MediaLink {
    /// Queues one chunk of μ-law audio (any length; never padded).
    pub(crate) fn send_audio(&self, payload: Vec<u8>) {
        if payload.is_empty() || self.is_closed() {
            return;
        }
        if let Ok(mut last) = self.shared.last_audio.lock() {
            *last = Some(Instant::now());
        }
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        if self
            .shared
            .fifo
            .send(Fifo::Audio { epoch, payload })
            .is_err()
        {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Drops all locally queued audio and sends `clear` (barge-in).
    pub(crate) fn clear(&self) {
        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
        let _ = self.shared.priority.send(Priority::Clear);
    }

    /// Sends one DTMF tone now (not behind queued audio). `digit` must be `0-9*#`.
    pub(crate) fn send_dtmf(&self, digit: char) -> Result<(), AgentError> {
        if !matches!(digit, '0'..='9' | '*' | '#') {
            return Err(AgentError::InvalidArgument {
                field: "digits",
                message: "DTMF digits must be 0-9, * or # (w/W pause)".into(),
            });
        }
        if self.is_closed() {
            return Err(AgentError::ConnectionClosed(
                "media connection lost during DTMF".into(),
            ));
        }
        let _ = self.shared.priority.send(Priority::Dtmf(digit.to_string()));
        Ok(())
    }

    /// Queues a mark behind all audio queued so far and returns a future that resolves to `true`
    /// when the server echoes it (`false` if the socket closed first). The waiter is registered
    /// before the mark is sent, so an immediate echo is never missed.
    pub(crate) fn mark(&self, name: &str) -> impl Future<Output = bool> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let registered = match self.shared.marks.lock() {
            Ok(mut marks) if !self.is_closed() => {
                marks.insert(name.to_owned(), tx);
                true
            }
            _ => false,
        };
        if registered
            && self.shared.fifo.send(Fifo::Mark(name.to_owned())).is_err()
            && let Ok(mut marks) = self.shared.marks.lock()
        {
            marks.remove(name);
        }
        async move { registered && rx.await.is_ok() }
    }

    /// Sends a mark and waits for its echo up to `limit`; a missing echo is not an error. The
    /// waiter is always removed.
    pub(crate) async fn mark_and_wait(&self, name: &str, limit: Duration) -> bool {
        let echoed = self.mark(name);
        let result = tokio::time::timeout(limit, echoed).await.unwrap_or(false);
        if let Ok(mut marks) = self.shared.marks.lock() {
            marks.remove(name);
        }
        result
    }

    /// The hangup handshake: everything queued is sent, then a `hangup-<ms>` mark; wait for its
    /// echo up to [`HANGUP_MARK_TIMEOUT`]; then close the socket (the hangup signal).
    pub(crate) async fn hangup(&self) {
        if self.is_closed() {
            return;
        }
        let name = format!("hangup-{}", unix_ms());
        let _ = self.mark_and_wait(&name, HANGUP_MARK_TIMEOUT).await;
        self.close();
    }

    /// Closes the socket without the handshake (shutdown).
    pub(crate) fn close(&self) {
        self.shared.close_requested.store(true, Ordering::Release);
        let _ = self.shared.priority.send(Priority::Close);
    }

    /// Audio chunks still waiting in the local queue.
    pub(crate) fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Whether the socket has ended.
    pub(crate) fn is_closed(&self) -> bool {
        *self.shared.closed.borrow()
    }

    /// When `send_audio` was last called.
    pub(crate) fn last_audio(&self) -> Option<Instant> {
        self.shared.last_audio.lock().ok().and_then(|l| *l)
    }

    /// Waits until the local queue is empty or the socket closed (polls every 5 ms).
    pub(crate) async fn flush(&self) {
        while self.queued() > 0 && !self.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the prompt has played out: no `send_audio` for 0.3 s, then a `playout-…` mark
    /// echoed, all before `deadline`. `true` only if echoed while connected.
    pub(crate) async fn wait_played_out(&self, limit: Duration) -> bool {
        const QUIET: Duration = Duration::from_millis(300);
        let deadline = Instant::now() + limit;
        loop {
            self.flush().await;
            if self.is_closed() {
                return false;
            }
            let since = self.last_audio().map(|t| t.elapsed()).unwrap_or(QUIET);
            if since >= QUIET || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep_until((Instant::now() + (QUIET - since)).min(deadline)).await;
        }
        let name = format!(
            "playout-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let left = deadline.saturating_duration_since(Instant::now());
        self.mark_and_wait(&name, left).await && !self.is_closed()
    }
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Settings of one media connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MediaSettings {
    pub(crate) heartbeat: Duration,
    pub(crate) connect_timeout: Duration,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            heartbeat: MEDIA_HEARTBEAT,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Creates the link and its not-yet-connected driver.
pub(crate) fn media_link() -> (MediaLink, MediaDriver) {
    let (fifo_tx, fifo_rx) = mpsc::unbounded_channel();
    let (prio_tx, prio_rx) = mpsc::unbounded_channel();
    let (closed, _) = watch::channel(false);
    let shared = Arc::new(LinkShared {
        fifo: fifo_tx,
        priority: prio_tx,
        epoch: AtomicU64::new(0),
        queued: AtomicUsize::new(0),
        marks: Mutex::new(HashMap::new()),
        closed,
        close_requested: AtomicBool::new(false),
        last_audio: Mutex::new(None),
    });
    (
        MediaLink {
            shared: shared.clone(),
        },
        MediaDriver {
            shared,
            fifo: fifo_rx,
            priority: prio_rx,
        },
    )
}

/// The receiving half: connects and runs the socket until it ends.
pub(crate) struct MediaDriver {
    shared: Arc<LinkShared>,
    fifo: mpsc::UnboundedReceiver<Fifo>,
    priority: mpsc::UnboundedReceiver<Priority>,
}

impl MediaDriver {
    /// Never connects: marks the link closed and wakes every waiter.
    pub(crate) fn abandon(self) {
        self.shared.closed.send_replace(true);
        if let Ok(mut marks) = self.shared.marks.lock() {
            marks.clear();
        }
        self.shared.queued.store(0, Ordering::Release);
    }

    /// Connects to `url` and runs until `stop`, close, error or a local close. Inbound events go
    /// to `events`. Whatever happens, the link is marked closed and every mark waiter is woken.
    pub(crate) async fn run(
        mut self,
        url: &str,
        settings: MediaSettings,
        events: mpsc::UnboundedSender<MediaIn>,
    ) -> MediaEnd {
        let end = self.run_inner(url, settings, events).await;
        self.shared.closed.send_replace(true);
        if let Ok(mut marks) = self.shared.marks.lock() {
            marks.clear();
        }
        self.fifo.close();
        while self.fifo.try_recv().is_ok() {}
        self.shared.queued.store(0, Ordering::Release);
        end
    }

    async fn run_inner(
        &mut self,
        url: &str,
        settings: MediaSettings,
        events: mpsc::UnboundedSender<MediaIn>,
    ) -> MediaEnd {
        let shown = redact_url(url);
        warn_plaintext(url);
        if self.shared.close_requested.load(Ordering::Acquire) {
            return MediaEnd::Local;
        }
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            url,
            Some(media_ws_config()),
            true,
            None,
        );
        let mut ws = match tokio::time::timeout(settings.connect_timeout, connect).await {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(error)) => {
                let error = describe_ws_error(&error);
                tracing::warn!(url = shown, %error, "media connection failed");
                return MediaEnd::Error(error);
            }
            Err(_) => {
                tracing::warn!(url = shown, "media connection timed out");
                return MediaEnd::Error("media connect timed out".into());
            }
        };
        tracing::debug!(url = shown, "media connected");
        let mut ping =
            tokio::time::interval_at(Instant::now() + settings.heartbeat, settings.heartbeat);
        let pong_deadline = settings.heartbeat / 2;
        let pong_timer = tokio::time::sleep(pong_deadline);
        tokio::pin!(pong_timer);
        let mut awaiting_pong = false;
        let mut fifo_open = true;
        loop {
            tokio::select! {
                biased;
                prio = self.priority.recv() => match prio {
                    Some(Priority::Clear) => {
                        if send(&mut ws, MediaCommand::MediaClear(MediaClear {})).await.is_err() {
                            return MediaEnd::PeerClosed;
                        }
                    }
                    Some(Priority::Dtmf(digit)) => {
                        let cmd = MediaCommand::MediaDtmfOut(MediaDtmfOut { dtmf: OutboundDtmfKey { digit } });
                        if send(&mut ws, cmd).await.is_err() {
                            return MediaEnd::PeerClosed;
                        }
                    }
                    Some(Priority::Close) | None => {
                        let _ = ws.close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() })).await;
                        // Drain until the server answers the close (bounded).
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(_)) = ws.next().await {}
                        }).await;
                        return MediaEnd::Local;
                    }
                },
                incoming = ws.next() => {
                    // Any frame (pong included) proves the peer is alive.
                    awaiting_pong = false;
                    match incoming {
                        Some(Ok(Message::Text(text))) => {
                            if let Some(end) = self.on_text(text.as_str(), &events) {
                                let _ = ws.close(None).await;
                                return end;
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => return MediaEnd::PeerClosed,
                        Some(Ok(_)) => {}
                        Some(Err(error)) => {
                            let error = describe_ws_error(&error);
                            tracing::debug!(url = shown, %error, "media socket error");
                            return MediaEnd::PeerClosed;
                        }
                    }
                }
                item = self.fifo.recv(), if fifo_open => match item {
                    Some(Fifo::Audio { epoch, payload }) => {
                        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                        if epoch < self.shared.epoch.load(Ordering::Acquire) {
                            continue; // cleared (barge-in) before it was sent
                        }
                        let cmd = MediaCommand::MediaOutbound(MediaOutbound {
                            media: OutboundMediaChunk { payload: B64.encode(&payload) },
                        });
                        if send(&mut ws, cmd).await.is_err() {
                            return MediaEnd::PeerClosed;
                        }
                    }
                    Some(Fifo::Mark(name)) => {
                        let cmd = MediaCommand::MediaMarkOut(MediaMarkOut { mark: MediaMarkInfo { name } });
                        if send(&mut ws, cmd).await.is_err() {
                            return MediaEnd::PeerClosed;
                        }
                    }
                    None => fifo_open = false,
                },
                _ = ping.tick() => {
                    if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                        return MediaEnd::PeerClosed;
                    }
                    if !awaiting_pong {
                        awaiting_pong = true;
                        pong_timer.as_mut().reset(Instant::now() + pong_deadline);
                    }
                }
                () = &mut pong_timer, if awaiting_pong => {
                    tracing::warn!(url = shown, "media heartbeat timeout: peer vanished");
                    return MediaEnd::Error("media heartbeat timeout".into());
                }
            }
        }
    }

    /// Handles one text frame; `Some` ends the connection.
    fn on_text(&self, text: &str, events: &mpsc::UnboundedSender<MediaIn>) -> Option<MediaEnd> {
        let event = match MediaEvent::from_json(text) {
            Ok(event) => event,
            Err(error) => {
                // Serde messages can echo values (DTMF digits): log only the category.
                tracing::warn!(kind = ?error.classify(), "malformed media frame skipped");
                return None;
            }
        };
        match event {
            MediaEvent::MediaConnected(_) => {}
            MediaEvent::MediaStart(_) => {
                let _ = events.send(MediaIn::Start);
            }
            MediaEvent::MediaInbound(frame) => match B64.decode(frame.media.payload.as_bytes()) {
                Ok(payload) => {
                    let timestamp_ms = frame
                        .media
                        .timestamp
                        .as_deref()
                        .and_then(|t| t.trim().parse::<u64>().ok())
                        .unwrap_or(0);
                    let _ = events.send(MediaIn::Audio {
                        payload,
                        timestamp_ms,
                    });
                }
                Err(_) => tracing::warn!("media frame with invalid base64 payload skipped"),
            },
            MediaEvent::MediaMark(mark) => {
                if let Ok(mut marks) = self.shared.marks.lock()
                    && let Some(waiter) = marks.remove(&mark.mark.name)
                {
                    let _ = waiter.send(());
                }
            }
            MediaEvent::MediaDtmf(dtmf) => {
                let _ = events.send(MediaIn::Dtmf(dtmf.dtmf.digit));
            }
            MediaEvent::MediaStop(_) => return Some(MediaEnd::Stop),
            MediaEvent::Unknown(value) => {
                let name = value.get("event").and_then(|e| e.as_str()).unwrap_or("");
                tracing::debug!(event = %truncate(name, 40), "unknown media event ignored");
            }
            _ => {}
        }
        None
    }
}

/// Socket settings for the media path. tungstenite's default 128 KiB read buffer is
/// zero-filled on every read: at 1,000 calls that measured +50 % CPU and 8× the memory for
/// 200-byte frames. Media frames are small; 4 KiB buffers hold several of them.
fn media_ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Ws, cmd: MediaCommand) -> Result<(), ()> {
    let text = cmd.to_json().map_err(|_| ())?;
    ws.send(Message::Text(text.into())).await.map_err(|_| ())
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A secret-free description of a WebSocket error (no URL, no frame contents).
pub(crate) fn describe_ws_error(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    match error {
        E::Http(response) => format!("HTTP {} at upgrade", response.status().as_u16()),
        E::Io(io) => format!("io: {}", io.kind()),
        E::Tls(_) => "TLS error".into(),
        E::Url(_) => "invalid URL".into(),
        E::ConnectionClosed | E::AlreadyClosed => "connection closed".into(),
        E::Protocol(p) => format!("protocol: {p}"),
        E::Capacity(c) => format!("capacity: {c}"),
        other => {
            let text = other.to_string();
            if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate") {
                "TLS certificate verification failed".into()
            } else {
                "websocket error".into()
            }
        }
    }
}

fn warn_plaintext(url: &str) {
    let Some(rest) = url.strip_prefix("ws://") else {
        return;
    };
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if !matches!(host, "localhost" | "127.0.0.1" | "::1") {
        tracing::warn!(
            url = redact_url(url),
            "media URL is plaintext ws:// to a non-local host"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_token() {
        assert_eq!(
            redact_url("ws://h/v1/agent/media/CA1?token=abc"),
            "ws://h/v1/agent/media/CA1"
        );
        assert_eq!(redact_url("ws://h/x#frag"), "ws://h/x");
        assert_eq!(redact_url("ws://h/x"), "ws://h/x");
    }

    #[test]
    fn media_in_debug_hides_digits() {
        assert_eq!(
            format!("{:?}", MediaIn::Dtmf("5".into())),
            "Dtmf(<redacted>)"
        );
    }
}
