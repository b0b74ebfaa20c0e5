//! Shared emulator state: REST store, live calls, agent control slots, scripts and faults.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clawops_api::events::ControlEvent;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::LiveCall;
use crate::config::Config;
use crate::store::Store;

/// Something to do on an agent's control socket.
#[derive(Debug)]
pub(crate) enum ControlOut {
    /// A text frame, sent verbatim.
    Text(String),
    /// A close frame with code and reason.
    Close(u16, String),
    /// Drop the TCP connection without a close frame.
    Drop,
}

/// One connected agent (the holder of a number's control slot).
pub(crate) struct AgentSlot {
    pub conn_id: u64,
    pub tx: mpsc::UnboundedSender<ControlOut>,
    pub hello: Option<serde_json::Value>,
}

/// Behaviour of a dialled number (outbound calls and transfer targets).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct DestinationScript {
    /// `answer` (default), `no-answer`, `busy`, `rejected` or `failed`.
    pub outcome: String,
    /// Seconds of ringing before the outcome (default 0.05).
    pub ring_seconds: f64,
    /// What the callee says once answered (`tone`, `silence`, `speech` or a WAV path).
    pub audio: String,
    /// Seconds of callee audio.
    pub seconds: f64,
    /// Digits the callee presses.
    pub dtmf: String,
    /// Hang up once the audio is over and the agent's playback has drained.
    pub hangup_after_audio: bool,
    /// Longest time (wall seconds) the callee stays on the line.
    pub max_seconds: f64,
    /// For transfers to this number: seconds reported as the transfer leg's duration.
    pub transfer_duration: i64,
}

impl Default for DestinationScript {
    fn default() -> Self {
        Self {
            outcome: "answer".into(),
            ring_seconds: 0.05,
            audio: "speech".into(),
            seconds: 2.0,
            dtmf: String::new(),
            hangup_after_audio: false,
            max_seconds: 60.0,
            transfer_duration: 5,
        }
    }
}

/// Injected faults; each counter or flag is consumed as documented in the README.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Faults {
    /// Answer the next `restErrorCount` REST requests with this status.
    pub rest_error_status: u16,
    /// How many REST requests still get `restErrorStatus`.
    pub rest_error_count: u32,
    /// `Retry-After` seconds sent with a 429.
    pub retry_after: Option<u64>,
    /// Refuse control-socket upgrades (HTTP 503) until this many seconds from when it was set.
    pub refuse_control_seconds: f64,
    /// Delay before each transfer result frame, milliseconds.
    pub transfer_delay_ms: u64,
    /// Send every terminal transfer result twice.
    pub transfer_duplicate: bool,
    /// Send the terminal transfer result before `started`/`connected`.
    pub transfer_reorder: bool,
    /// Delay before `call.ended`, milliseconds.
    pub ended_delay_ms: u64,
    /// Send `call.ended` twice.
    pub ended_duplicate: bool,
    /// For a transfer that ends the AI leg: send `call.ended` before the transfer result.
    pub ended_before_transfer_result: bool,
    /// Right after `start`, send each media socket a burst of malformed frames (invalid JSON,
    /// unknown events, wrong types, invalid base64, deep nesting, a binary frame); the call then
    /// goes on normally.
    pub media_malformed_frames: bool,
    /// A silent peer: this many milliseconds after `start`, the media socket stops sending and
    /// stops reading (so pings go unanswered), like a peer that vanished without a FIN. 0 = off.
    pub media_silent_after_ms: u64,
}

/// State shared by every handler and task.
pub(crate) struct Shared {
    pub config: Config,
    pub base_url: String,
    pub ws_base: String,
    store: Mutex<Store>,
    calls: Mutex<HashMap<String, Arc<LiveCall>>>,
    media_tokens: Mutex<HashMap<String, (String, Instant)>>,
    agents: Mutex<HashMap<String, AgentSlot>>,
    pub agents_changed: watch::Sender<u64>,
    pub faults: Mutex<Faults>,
    pub refuse_control_until: Mutex<Option<Instant>>,
    pub scripts: Mutex<HashMap<String, DestinationScript>>,
    pub tasks: TaskTracker,
    pub cancel: CancellationToken,
    pub http: reqwest::Client,
    next_conn: AtomicU64,
    pub open_sockets: AtomicU64,
    /// Every open control connection and the takeover style per number (`control.rs`).
    pub control_conns: crate::control::Connections,
}

/// How long a media token stays valid.
pub(crate) const MEDIA_TOKEN_TTL: Duration = Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave these maps half-updated in a harmful way.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(config: Config, base_url: String, cancel: CancellationToken) -> Self {
        let store = Store::seeded(&config.account_id, &config.numbers);
        let ws_base = base_url.replacen("http://", "ws://", 1);
        Self {
            config,
            base_url,
            ws_base,
            store: Mutex::new(store),
            calls: Mutex::default(),
            media_tokens: Mutex::default(),
            agents: Mutex::default(),
            agents_changed: watch::channel(0).0,
            faults: Mutex::default(),
            refuse_control_until: Mutex::default(),
            scripts: Mutex::default(),
            tasks: TaskTracker::new(),
            cancel,
            http: reqwest::Client::new(),
            next_conn: AtomicU64::new(1),
            open_sockets: AtomicU64::new(0),
            control_conns: crate::control::Connections::default(),
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    pub(crate) fn call(&self, id: &str) -> Option<Arc<LiveCall>> {
        lock(&self.calls).get(id).cloned()
    }

    pub(crate) fn insert_call(&self, call: Arc<LiveCall>) {
        lock(&self.calls).insert(call.id.clone(), call);
    }

    pub(crate) fn live_call_count(&self) -> usize {
        lock(&self.calls).values().filter(|c| !c.is_ended()).count()
    }

    pub(crate) fn script_for(&self, number: &str) -> DestinationScript {
        lock(&self.scripts).get(number).cloned().unwrap_or_default()
    }

    /// Issues a one-time media token for a call and returns the media URL.
    pub(crate) fn issue_media_url(&self, call_id: &str) -> String {
        let token = crate::util::new_token();
        lock(&self.media_tokens).insert(token.clone(), (call_id.to_owned(), Instant::now()));
        format!("{}/v1/agent/media/{call_id}?token={token}", self.ws_base)
    }

    /// Consumes a media token; `Some(call id)` when it was valid, unused and fresh.
    pub(crate) fn redeem_media_token(&self, call_id: &str, token: &str) -> Option<String> {
        let (id, issued) = lock(&self.media_tokens).remove(token)?;
        (id == call_id && issued.elapsed() <= MEDIA_TOKEN_TTL).then_some(id)
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers an agent connection as the slot holder for `number`; returns the previous one.
    pub(crate) fn register_agent(&self, number: &str, slot: AgentSlot) -> Option<AgentSlot> {
        let old = lock(&self.agents).insert(number.to_owned(), slot);
        self.agents_changed.send_modify(|v| *v += 1);
        old
    }

    /// Removes the slot if it is still held by `conn_id`.
    pub(crate) fn unregister_agent(&self, number: &str, conn_id: u64) {
        let mut agents = lock(&self.agents);
        if agents.get(number).is_some_and(|s| s.conn_id == conn_id) {
            agents.remove(number);
        }
        drop(agents);
        self.agents_changed.send_modify(|v| *v += 1);
    }

    pub(crate) fn set_hello(&self, number: &str, conn_id: u64, hello: serde_json::Value) {
        if let Some(slot) = lock(&self.agents).get_mut(number)
            && slot.conn_id == conn_id
        {
            slot.hello = Some(hello);
        }
    }

    /// The sender of the agent holding `number`'s slot.
    pub(crate) fn agent_tx(&self, number: &str) -> Option<mpsc::UnboundedSender<ControlOut>> {
        lock(&self.agents).get(number).map(|s| s.tx.clone())
    }

    /// Agents as `(number, conn_id, hello)`.
    pub(crate) fn agents(&self) -> Vec<(String, u64, Option<serde_json::Value>)> {
        lock(&self.agents)
            .iter()
            .map(|(n, s)| (n.clone(), s.conn_id, s.hello.clone()))
            .collect()
    }

    /// Sends a control event to whoever holds `number`'s slot; false when nobody listens.
    pub(crate) fn send_control(&self, number: &str, event: &ControlEvent) -> bool {
        match (self.agent_tx(number), event.to_json()) {
            (Some(tx), Ok(text)) => tx.send(ControlOut::Text(text)).is_ok(),
            _ => false,
        }
    }

    pub(crate) fn send_control_raw(&self, number: &str, out: ControlOut) -> bool {
        self.agent_tx(number).is_some_and(|tx| tx.send(out).is_ok())
    }
}
