//! [`Agent`]: answer a phone number with AI. One line to serve.
//!
//! The agent keeps the control connection for its number, creates a **fresh session per call**
//! through the session factory (no state is ever shared between calls), answers calls, places
//! outbound calls through the REST client, and owns every task it spawns: `disconnect()` and the
//! end of `serve()` leave nothing running.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use clawops_api::events::{
    AgentCapability, AgentHello, CallAccept, CallReject, CallRejectReason, ControlCommand,
    ControlEvent, SdkInfo,
};
use clawops_api::types::{CallStatus, Direction, MachineDetection};
use tokio::sync::{Notify, oneshot, watch};
use tokio_util::task::TaskTracker;

use super::call::Call;
use super::control::{
    CONTROL_HEARTBEAT, ControlFrame, ControlLink, ControlSettings, ControlState,
    INITIAL_RECONNECT_DELAY, MAX_RECONNECT_DELAY, TakeOver, spawn_control,
};
use super::dtmf::DtmfSettings;
use super::events::{CallEvent, EventHandler, Handlers, Role, for_payload};
use super::media::{MediaSettings, truncate};
use super::ops::shutdown::Escalation;
use super::ops::{
    AgentMetrics, DRAIN_POLL_INTERVAL, HealthServer, HealthState, ReadyFile, ServeOptions, Signals,
    TakeOverKind,
};
use super::runner::{Bind, CallContext, NewCall, drive_call, new_call, session_failed};
use super::session::{BufferingCall, Session, SessionFactory, SessionTools};
use super::transfer::TransferRegistry;
use super::{AgentError, BuiltinTools, ToolRegistry};
use crate::audio::{Gain, HoldAudio};
use crate::resources::CreateCall;

/// How long `on_incoming` may take to decide before the call is accepted anyway (fail-open).
pub const INCOMING_HOOK_DEADLINE: Duration = Duration::from_secs(5);
/// Prewarm time limit.
pub const PREWARM_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the first `connect()` waits for the control connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type IncomingHook =
    Arc<dyn Fn(IncomingCall) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;
type TakeOverCallback = Arc<dyn Fn(&TakeOver) + Send + Sync>;

/// An incoming call offer, given to the `on_incoming` screening hook before it is answered.
#[derive(Clone)]
pub struct IncomingCall {
    call_id: String,
    from: String,
    to: String,
    caller_id_restricted: bool,
    forwarded_from: Option<String>,
    decision: Arc<Mutex<Option<CallRejectReason>>>,
    decided: Arc<Notify>,
}

impl std::fmt::Debug for IncomingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingCall")
            .field("call_id", &self.call_id)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl IncomingCall {
    /// The call id.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }
    /// Caller number (may be empty).
    pub fn from_number(&self) -> &str {
        &self.from
    }
    /// The agent's number.
    pub fn to_number(&self) -> &str {
        &self.to
    }
    /// The caller withheld caller id.
    pub fn caller_id_restricted(&self) -> bool {
        self.caller_id_restricted
    }
    /// Forwarded call: the number originally dialled.
    pub fn forwarded_from(&self) -> Option<&str> {
        self.forwarded_from.as_deref()
    }
    /// Rejects the call (`Rejected` → SIP 403, `Busy` → SIP 486). Decided at once; a second
    /// call keeps the first decision; after the 5 s deadline it is a no-op.
    pub fn reject(&self, reason: CallRejectReason) {
        let mut d = crate::sync::lock(&self.decision);
        if d.is_none() {
            *d = Some(reason);
        }
        drop(d);
        self.decided.notify_one();
    }
    /// Whether `reject` was called.
    pub fn rejected(&self) -> bool {
        crate::sync::lock(&self.decision).is_some()
    }
}

/// Options of [`Agent::call`].
#[derive(Clone, Debug)]
#[non_exhaustive]
#[must_use]
pub struct CallOptions {
    /// Ring timeout in seconds (default 60).
    pub timeout_secs: i32,
    /// Answering-machine detection (overrides the agent default).
    pub machine_detection: Option<MachineDetection>,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            timeout_secs: 60,
            machine_detection: None,
        }
    }
}

impl CallOptions {
    /// Defaults: 60 s ring timeout, the agent's machine detection.
    pub fn new() -> Self {
        Self::default()
    }
    /// Ring timeout in seconds.
    pub fn timeout_secs(mut self, secs: i32) -> Self {
        self.timeout_secs = secs;
        self
    }
    /// Answering-machine detection for this call.
    pub fn machine_detection(mut self, mode: MachineDetection) -> Self {
        self.machine_detection = Some(mode);
        self
    }
}

/// How a drain (or a `serve()` shutdown) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Calls that ended by themselves during the shutdown (handover and drain).
    pub completed: usize,
    /// Calls in progress that were cut (timeout, deadline, or a third signal).
    pub cut: usize,
    /// The server handed the slot to a successor (`agent.retired` or close 4409/4403) before
    /// or during the shutdown.
    pub handed_over: bool,
    /// `serve()` received a shutdown signal. By default `serve()` waits for one after a
    /// takeover, so this is `true`; `handed_over && !signalled` only with
    /// `ServeOptions::wait_for_signal_after_takeover(false)`: a successor took the number before
    /// the orchestrator stopped this process, and exiting now under Kubernetes would restart
    /// the container into the successor's slot.
    pub signalled: bool,
}

/// Builds an [`Agent`]; see [`Agent::builder`].
#[must_use]
pub struct AgentBuilder {
    number: String,
    api_key: Option<String>,
    account_id: Option<String>,
    base_url: Option<String>,
    factory: Option<Arc<dyn SessionFactory>>,
    recording: bool,
    recording_dir: PathBuf,
    builtins: BuiltinTools,
    tools: ToolRegistry,
    dtmf: DtmfSettings,
    hold_audio: Option<HoldAudio>,
    rx_gain: f32,
    tx_gain: f32,
    prewarm: bool,
    machine_detection: Option<MachineDetection>,
    handlers: Handlers,
    on_incoming: Option<IncomingHook>,
    on_taken_over: Option<TakeOverCallback>,
    health_port: Option<u16>,
    ready_file: Option<ReadyFile>,
    heartbeat: Duration,
    media_heartbeat: Duration,
    backoff: (Duration, Duration),
    mcp: super::mcp::McpServers,
}

impl std::fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentBuilder")
            .field("number", &self.number)
            .field("account_id", &self.account_id)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl AgentBuilder {
    /// Account API key (default: `CLAWOPS_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    /// Account id (default: `CLAWOPS_ACCOUNT_ID`).
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = Some(id.into());
        self
    }
    /// Base URL (default: `CLAWOPS_BASE_URL`, else `https://api.claw-ops.com`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// The session factory: called once per call for a fresh, unshared session.
    pub fn session_factory(mut self, factory: impl SessionFactory) -> Self {
        self.factory = Some(Arc::new(factory));
        self
    }
    /// Record calls (`{call}_in.wav`, `{call}_out.wav`, `{call}_mix.wav`) under `dir`.
    pub fn recording(mut self, on: bool, dir: impl Into<PathBuf>) -> Self {
        self.recording = on;
        self.recording_dir = dir.into();
        self
    }
    /// Which builtin tools the model gets (default: all four).
    pub fn builtin_tools(mut self, tools: BuiltinTools) -> Self {
        self.builtins = tools;
        self
    }
    /// User tools.
    pub fn tools(mut self, tools: ToolRegistry) -> Self {
        self.tools = tools;
        self
    }
    /// Adds an MCP server whose tools every call gets (connected per call before the AI
    /// session starts, closed at call end; see [`crate::mcp`]).
    #[cfg(feature = "mcp")]
    pub fn mcp_server(mut self, server: crate::mcp::McpServer) -> Self {
        self.mcp.servers.push(server);
        self
    }
    /// Adds several MCP servers (in order; see [`AgentBuilder::mcp_server`]).
    #[cfg(feature = "mcp")]
    pub fn mcp_servers(mut self, servers: impl IntoIterator<Item = crate::mcp::McpServer>) -> Self {
        self.mcp.servers.extend(servers);
        self
    }
    /// Passive DTMF settings (debounce 2000 ms, finish key `#`, no max digits by default).
    pub fn passive_dtmf(mut self, settings: DtmfSettings) -> Self {
        self.dtmf = settings;
        self
    }
    /// Audio looped while user tools run.
    pub fn hold_audio(mut self, audio: HoldAudio) -> Self {
        self.hold_audio = Some(audio);
        self
    }
    /// Caller-audio gain (finite, ≥ 0; checked by `build`).
    pub fn rx_gain(mut self, gain: f32) -> Self {
        self.rx_gain = gain;
        self
    }
    /// Agent-audio gain (finite, ≥ 0; checked by `build`).
    pub fn tx_gain(mut self, gain: f32) -> Self {
        self.tx_gain = gain;
        self
    }
    /// Prewarm outbound sessions during ringing (default on).
    pub fn prewarm(mut self, on: bool) -> Self {
        self.prewarm = on;
        self
    }
    /// Default answering-machine detection for outbound calls.
    pub fn machine_detection(mut self, mode: MachineDetection) -> Self {
        self.machine_detection = Some(mode);
        self
    }
    /// Adds an async handler of every call event (in order per call).
    pub fn on_event<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Call, CallEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: EventHandler = Arc::new(move |c, e| Box::pin(f(c, e)));
        self.handlers.push(handler);
        self
    }
    /// Handler of `call_start`.
    pub fn on_call_start<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers.push(for_payload(
            |e| matches!(e, CallEvent::Start).then_some(()),
            move |c, ()| f(c),
        ));
        self
    }
    /// Handler of `call_end`.
    pub fn on_call_end<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers.push(for_payload(
            |e| matches!(e, CallEvent::End).then_some(()),
            move |c, ()| f(c),
        ));
        self
    }
    /// Handler of `call_failed` (with the reason, equal to `ended_status`).
    pub fn on_call_failed<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Call, CallStatus) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers.push(for_payload(
            |e| match e {
                CallEvent::Failed(reason) => Some(reason),
                _ => None,
            },
            f,
        ));
        self
    }
    /// Handler of every key the caller presses.
    pub fn on_dtmf<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Call, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers.push(for_payload(
            |e| match e {
                CallEvent::Dtmf(digits) => Some(digits),
                _ => None,
            },
            f,
        ));
        self
    }
    /// Handler of final transcript lines.
    pub fn on_transcript<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Call, Role, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers.push(for_payload(
            |e| match e {
                CallEvent::Transcript(role, text) => Some((role, text)),
                _ => None,
            },
            move |c, (role, text)| f(c, role, text),
        ));
        self
    }
    /// Handler of in-progress transcripts (cumulative text).
    pub fn on_transcript_delta<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Call, Role, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers.push(for_payload(
            |e| match e {
                CallEvent::TranscriptDelta(role, text) => Some((role, text)),
                _ => None,
            },
            move |c, (role, text)| f(c, role, text),
        ));
        self
    }
    /// Screening hook run before a call is answered; call [`IncomingCall::reject`] to decline.
    /// Returning without rejecting, panicking, or taking longer than 5 s accepts the call.
    pub fn on_incoming<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(IncomingCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_incoming = Some(Arc::new(move |c| Box::pin(f(c))));
        self
    }
    /// Called once when another process takes the number over (close 4409/4403 or
    /// `agent.retired`), with the close code and reason read from the CLOSE frame (4409 and
    /// the event's reason for `agent.retired`). [`on_takeover`](Self::on_takeover) gets the
    /// typed notice instead.
    pub fn on_taken_over(mut self, f: impl Fn(u16, String) + Send + Sync + 'static) -> Self {
        self.on_taken_over = Some(Arc::new(move |t: &TakeOver| f(t.code, t.reason.clone())));
        self
    }
    /// Called once with the typed [`TakeOver`] notice when another process takes the number
    /// over. The agent never reconnects after it; `serve()` drains by itself.
    pub fn on_takeover(mut self, f: impl Fn(&TakeOver) + Send + Sync + 'static) -> Self {
        self.on_taken_over = Some(Arc::new(f));
        self
    }
    /// Opens a health port (`0.0.0.0:port`, 0 = any free port, see
    /// [`Agent::health_addr`]) before the first connect: any path answers `200 ready` while
    /// the agent is connected and owns its slot, `503 not ready` otherwise, and `/metrics`
    /// answers the Prometheus text page. Default: `CLAWOPS_HEALTH_PORT` if set, else none.
    pub fn health_port(mut self, port: u16) -> Self {
        self.health_port = Some(port);
        self
    }
    /// The readiness marker (default: [`ReadyFile::from_env`], i.e. `CLAWOPS_READY_FILE`, else
    /// `clawops-ready` in the temp directory). A stale marker is removed when the agent is
    /// built and again at connect.
    pub fn ready_file(mut self, marker: ReadyFile) -> Self {
        self.ready_file = Some(marker);
        self
    }
    /// Control and media WebSocket ping interval (default 30 s; the pong deadline is half).
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval;
        self.media_heartbeat = interval;
        self
    }
    /// Reconnect backoff (default 1 s doubling to 30 s).
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max.max(initial));
        self
    }

    /// Validates the options and builds the agent (nothing connects yet). A stale readiness
    /// marker is removed first.
    pub fn build(self) -> Result<Agent, AgentError> {
        let ready_file = self.ready_file.clone().unwrap_or_else(ReadyFile::from_env);
        ready_file.clear_stale();
        let health_port = match self.health_port {
            Some(p) => Some(p),
            None => match std::env::var(super::ops::HEALTH_PORT_ENV) {
                Ok(v) if !v.trim().is_empty() => Some(v.trim().parse().map_err(|_| {
                    AgentError::invalid("health_port", "CLAWOPS_HEALTH_PORT must be a port number")
                })?),
                _ => None,
            },
        };
        let factory = self.factory.ok_or_else(|| {
            AgentError::invalid("session_factory", "a session factory is required")
        })?;
        let rx_gain = Gain::new(self.rx_gain)?;
        let tx_gain = Gain::new(self.tx_gain)?;
        if self.number.is_empty() {
            return Err(AgentError::invalid(
                "number",
                "the agent's number is required",
            ));
        }
        let mut rest = crate::ClawOps::builder();
        if let Some(k) = &self.api_key {
            rest = rest.api_key(k.clone());
        }
        if let Some(a) = &self.account_id {
            rest = rest.account_id(a.clone());
        }
        if let Some(b) = &self.base_url {
            rest = rest.base_url(b.clone());
        }
        let api_key = self
            .api_key
            .or_else(|| std::env::var("CLAWOPS_API_KEY").ok())
            .ok_or_else(|| AgentError::invalid("api_key", "set it or CLAWOPS_API_KEY"))?;
        let rest = rest
            .api_key(api_key.clone())
            .build()
            .map_err(|e| AgentError::invalid("credentials", e.to_string()))?;
        let account_id = rest.account_id().to_owned();
        let base_url = rest.base_url().to_owned();
        let builtin_names = self
            .builtins
            .iter()
            .filter_map(|b| b.name().parse().ok())
            .collect();
        let mcp = self.mcp.into_plan(SessionTools {
            registry: self.tools.clone(),
            builtins: self.builtins,
            hold_audio: self.hold_audio.clone(),
        });
        let (stop_tx, _) = watch::channel(false);
        let tasks = TaskTracker::new();
        Ok(Agent {
            inner: Arc::new(Inner {
                number: self.number,
                api_key,
                account_id: account_id.clone(),
                base_url,
                rest: rest.clone(),
                factory,
                tools: SessionTools {
                    registry: self.tools.clone(),
                    builtins: self.builtins,
                    hold_audio: self.hold_audio,
                },
                prewarm: self.prewarm,
                machine_detection: self.machine_detection,
                on_incoming: self.on_incoming,
                on_taken_over: self.on_taken_over,
                health_port,
                ready_file,
                ready_now: Mutex::new(false),
                metrics: Arc::new(AgentMetrics::new()),
                health: Mutex::new(None),
                heartbeat: self.heartbeat,
                backoff: self.backoff,
                ctx: Mutex::new(CallContext {
                    account_id,
                    control: None,
                    transfers: TransferRegistry::new(),
                    media: MediaSettings {
                        heartbeat: self.media_heartbeat,
                        ..MediaSettings::default()
                    },
                    dtmf: self.dtmf,
                    rx_gain,
                    tx_gain,
                    handlers: self.handlers,
                    tasks: tasks.clone(),
                    recording: self.recording.then(|| self.recording_dir.clone()),
                    builtin_names,
                    tool_count: self.tools.len(),
                    mcp,
                    rest: Some(rest.clone()),
                }),
                calls: Mutex::new(HashMap::new()),
                early: Mutex::new(HashMap::new()),
                originating: AtomicUsize::new(0),
                control: Mutex::new(None),
                tasks,
                taken_over: AtomicBool::new(false),
                takeover_reported: AtomicBool::new(false),
                take_over: Mutex::new(None),
                retired: AtomicBool::new(false),
                released: AtomicBool::new(false),
                draining: AtomicBool::new(false),
                shutting_down: AtomicBool::new(false),
                ended_calls: AtomicU64::new(0),
                stop: stop_tx,
            }),
        })
    }
}

enum Slot {
    /// Inbound call (screening, starting or running).
    Inbound,
    /// Outbound call waiting for `call.outbound_ready`.
    Outbound(Option<oneshot::Sender<String>>),
}

struct Entry {
    call: Call,
    slot: Slot,
    screening: Option<Arc<AtomicBool>>,
}

struct Inner {
    number: String,
    api_key: String,
    account_id: String,
    base_url: String,
    rest: crate::ClawOps,
    factory: Arc<dyn SessionFactory>,
    tools: SessionTools,
    prewarm: bool,
    machine_detection: Option<MachineDetection>,
    on_incoming: Option<IncomingHook>,
    on_taken_over: Option<TakeOverCallback>,
    health_port: Option<u16>,
    ready_file: ReadyFile,
    /// Readiness as last published (marker file written / removed).
    ready_now: Mutex<bool>,
    metrics: Arc<AgentMetrics>,
    health: Mutex<Option<HealthServer>>,
    heartbeat: Duration,
    backoff: (Duration, Duration),
    ctx: Mutex<CallContext>,
    calls: Mutex<HashMap<String, Entry>>,
    early: Mutex<HashMap<String, Vec<ControlEvent>>>,
    originating: AtomicUsize,
    control: Mutex<Option<ControlLink>>,
    tasks: TaskTracker,
    taken_over: AtomicBool,
    takeover_reported: AtomicBool,
    take_over: Mutex<Option<TakeOver>>,
    retired: AtomicBool,
    released: AtomicBool,
    draining: AtomicBool,
    shutting_down: AtomicBool,
    /// Calls that left the agent (ended), for the drain report.
    ended_calls: AtomicU64,
    stop: watch::Sender<bool>,
}

/// A voice AI agent serving one phone number.
///
/// ```no_run
/// use clawops::agent::{Agent, EchoSession};
///
/// # async fn run() -> Result<(), clawops::agent::AgentError> {
/// let agent = Agent::builder("07012341234")
///     .session_factory(EchoSession::default)
///     .on_call_end(|call| async move {
///         println!("{} ended: {:?}", call.call_id(), call.ended_status());
///     })
///     .build()?;
/// agent.serve().await?; // until SIGINT/SIGTERM, then drains
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("number", &self.inner.number)
            .field("account_id", &self.inner.account_id)
            .field("active_calls", &self.active_calls())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// A builder for an agent serving `number` (the control slot and the originate `From`).
    pub fn builder(number: impl Into<String>) -> AgentBuilder {
        AgentBuilder {
            number: number.into(),
            api_key: None,
            account_id: None,
            base_url: None,
            factory: None,
            recording: false,
            recording_dir: PathBuf::from("./recordings"),
            builtins: BuiltinTools::all(),
            tools: ToolRegistry::new(),
            dtmf: DtmfSettings::default(),
            hold_audio: None,
            rx_gain: 1.0,
            tx_gain: 1.0,
            prewarm: true,
            machine_detection: None,
            handlers: Handlers::default(),
            on_incoming: None,
            on_taken_over: None,
            health_port: None,
            ready_file: None,
            heartbeat: CONTROL_HEARTBEAT,
            media_heartbeat: super::media::MEDIA_HEARTBEAT,
            backoff: (INITIAL_RECONNECT_DELAY, MAX_RECONNECT_DELAY),
            mcp: Default::default(),
        }
    }

    /// The agent's number.
    pub fn number(&self) -> &str {
        &self.inner.number
    }

    /// Calls in progress (registered and not ended).
    pub fn active_calls(&self) -> usize {
        self.inner.calls().len()
    }

    /// Tasks the agent owns right now (control connection, calls, handlers).
    pub fn task_count(&self) -> usize {
        self.inner.tasks.len()
    }

    /// Whether the control connection is up.
    pub fn is_connected(&self) -> bool {
        self.inner
            .control()
            .as_ref()
            .is_some_and(ControlLink::is_connected)
    }

    /// Whether another process took the number over (true once the takeover callback ran).
    pub fn taken_over(&self) -> bool {
        self.inner.takeover_reported.load(Ordering::Acquire)
    }

    /// The takeover notice, once another process took the number over.
    pub fn take_over_notice(&self) -> Option<TakeOver> {
        crate::sync::lock(&self.inner.take_over).clone()
    }

    /// Ready = connected and owning the number's slot (not taken over, not draining). The
    /// readiness marker and the health port report exactly this.
    pub fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// The health port's address once it is open (see [`AgentBuilder::health_port`]).
    pub fn health_addr(&self) -> Option<SocketAddr> {
        crate::sync::lock(&self.inner.health)
            .as_ref()
            .map(|h| h.addr)
    }

    /// Opens the health port if one is configured and not open yet (`serve()` and `connect()`
    /// do this before connecting); returns its address.
    pub async fn open_health_port(&self) -> Result<Option<SocketAddr>, AgentError> {
        let Some(port) = self.inner.health_port else {
            return Ok(None);
        };
        if let Some(addr) = self.health_addr() {
            return Ok(Some(addr));
        }
        let view: Arc<dyn HealthState> = Arc::new(HealthView(Arc::downgrade(&self.inner)));
        let server = HealthServer::start(port, view, &self.inner.tasks)
            .await
            .map_err(|e| AgentError::NotAvailable(format!("health port {port}: {e}")))?;
        let mut slot = crate::sync::lock(&self.inner.health);
        match &*slot {
            Some(open) => {
                server.stop(); // lost a race with another open
                Ok(Some(open.addr))
            }
            None => {
                let addr = server.addr;
                *slot = Some(server);
                Ok(Some(addr))
            }
        }
    }

    /// Opens the control connection (no-op if open) and waits up to 10 s for it. The
    /// connection then reconnects by itself (with backoff; never after a takeover or once the
    /// process retires). Works again after [`disconnect`](Self::disconnect). Once another
    /// process took the number over and this one let go of its connection, it fails with
    /// [`AgentError::TakenOver`] instead of grabbing the slot back.
    pub async fn connect(&self) -> Result<(), AgentError> {
        if let Some(notice) = self.take_over_notice() {
            let open = self
                .inner
                .control()
                .as_ref()
                .is_some_and(|l| !l.is_closed());
            if open && !self.inner.released.load(Ordering::Acquire) {
                return Ok(()); // retired: the connection stays open for calls in progress
            }
            return Err(AgentError::TakenOver(notice));
        }
        let fresh = self.inner.control().is_none();
        if fresh {
            if self.inner.released.swap(false, Ordering::AcqRel) {
                // connect() after disconnect(): start over (the old transfer registry is closed).
                self.inner.tasks.reopen();
                self.inner.ctx().transfers = TransferRegistry::new();
                self.inner.draining.store(false, Ordering::Release);
                self.inner.stop.send_replace(false);
            }
            if !*crate::sync::lock(&self.inner.ready_now) {
                self.inner.ready_file.clear_stale();
            }
            super::ops::warn_if_signals_blocked();
            self.open_health_port().await?;
        }
        let link = {
            let mut control = self.inner.control();
            match &*control {
                Some(link) => link.clone(),
                None => {
                    let link = self.start_control();
                    *control = Some(link.clone());
                    self.inner.ctx().control = Some(link.clone());
                    self.watch_state(&link);
                    link
                }
            }
        };
        let mut state = link.state();
        let wait = async {
            state
                .wait_for(|s| !matches!(s, ControlState::Connecting))
                .await
                .map(|s| *s)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, wait).await {
            Ok(Ok(ControlState::Connected(_))) => {
                self.refresh_ready();
                Ok(())
            }
            Ok(_) if link.auth_refused().is_some() => {
                // The link gave up; a later `connect()` (fixed credentials) starts a fresh one.
                let mut control = self.inner.control();
                if control.as_ref().is_some_and(|l| l.same(&link)) {
                    *control = None;
                    self.inner.ctx().control = None;
                }
                Err(AgentError::Unauthorized {
                    status: link.auth_refused().unwrap_or(401),
                })
            }
            Ok(_) => Err(AgentError::ConnectionClosed(
                "control connection closed".into(),
            )),
            Err(_) => Err(AgentError::ConnectionClosed(
                "control connection not up after 10 s; still retrying".into(),
            )),
        }
    }

    fn start_control(&self) -> ControlLink {
        let weak = Arc::downgrade(&self.inner);
        let handler = Arc::new(move |frame: ControlFrame| {
            if let Some(inner) = weak.upgrade() {
                Agent { inner }.on_frame(frame);
            }
        });
        let weak = Arc::downgrade(&self.inner);
        let hook = Arc::new(move |t: TakeOver| {
            if let Some(inner) = weak.upgrade() {
                Agent { inner }.on_taken_over(t);
            }
        });
        let os = format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH);
        let settings = ControlSettings {
            base_url: self.inner.base_url.clone(),
            account_id: self.inner.account_id.clone(),
            number: self.inner.number.clone(),
            api_key: self.inner.api_key.clone(),
            hello: AgentHello {
                sdk: SdkInfo {
                    capabilities: vec![AgentCapability::Retire],
                    name: "clawops-rust".into(),
                    os,
                    runtime: format!("rust/{}", env!("CARGO_PKG_RUST_VERSION")),
                    version: env!("CARGO_PKG_VERSION").into(),
                },
            },
            heartbeat: self.inner.heartbeat,
            initial_backoff: self.inner.backoff.0,
            max_backoff: self.inner.backoff.1,
        };
        spawn_control(settings, handler, hook, &self.inner.tasks)
    }

    /// Publishes readiness (marker file) when it changed; the health port reads it live.
    fn refresh_ready(&self) {
        let ready = self.inner.is_ready();
        let mut now = crate::sync::lock(&self.inner.ready_now);
        if *now == ready {
            return;
        }
        *now = ready;
        if ready {
            self.inner.ready_file.write();
            tracing::info!(number = %self.inner.number, "ready: connected and owning the slot");
        } else {
            self.inner.ready_file.remove();
            tracing::info!(number = %self.inner.number, "not ready");
        }
    }

    /// Follows the control connection's state: readiness and the reconnect counter.
    fn watch_state(&self, link: &ControlLink) {
        let mut state = link.state();
        let weak = Arc::downgrade(&self.inner);
        self.inner.tasks.spawn(async move {
            let mut last_generation = 0u64;
            loop {
                let now = *state.borrow_and_update();
                let Some(inner) = weak.upgrade() else { return };
                if let ControlState::Connected(generation) = now {
                    if last_generation > 0 && generation > last_generation {
                        inner.metrics.reconnected(generation - last_generation);
                    }
                    last_generation = generation;
                }
                Agent { inner }.refresh_ready();
                if now == ControlState::Closed || state.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Closes the control connection, cuts calls in progress (their media sockets close),
    /// cancels transfer waits, closes the health port, and waits for every task the agent
    /// owns. `connect()` may be called again afterwards (unless the number was taken over).
    pub async fn disconnect(&self) {
        self.inner.released.store(true, Ordering::Release);
        if let Some(link) = self.inner.control().take() {
            link.close();
        }
        self.refresh_ready();
        if let Some(health) = crate::sync::lock(&self.inner.health).take() {
            health.stop();
        }
        self.inner.ctx().transfers.close("agent disconnected");
        let calls: Vec<Call> = self
            .inner
            .calls()
            .values()
            .map(|e| e.call.clone())
            .collect();
        for call in calls {
            call.give_up_terminal();
            call.inner.media.close();
        }
        // Outbound calls not answered yet end here.
        let pending: Vec<(String, Entry)> = self.inner.calls().drain().collect();
        for (_, entry) in pending {
            if !entry.call.had_start() {
                entry.call.mark_ended(None);
            }
            let status = entry.call.ended_status();
            let status = status.as_ref().map_or("cut", |s| s.as_str());
            self.inner.metrics.call_ended(status, &entry.call.metrics());
        }
        self.inner.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.inner.tasks.len(),
                "tasks still running 10 s after disconnect"
            );
        }
        self.inner.stop.send_replace(true);
    }

    /// Drains: stops taking new calls, waits until no call is in progress or `timeout`
    /// expires (`None` = no limit), then disconnects, cutting what is left.
    ///
    /// Unless the server already handed the slot over (`agent.retired`), the slot is released
    /// first (the control connection closes, so new calls go elsewhere; calls ending during
    /// the drain then have no `ended_duration`). After `agent.retired` the connection stays
    /// open, so `call.ended` with its duration still arrives; the server closes it.
    pub async fn drain(&self, timeout: Option<Duration>) -> DrainReport {
        let since = self.inner.ended_calls.load(Ordering::Acquire);
        self.drain_until(timeout, since, std::future::pending())
            .await
    }

    async fn drain_until(
        &self,
        timeout: Option<Duration>,
        ended_before: u64,
        cut: impl Future<Output = ()>,
    ) -> DrainReport {
        self.inner.draining.store(true, Ordering::Release);
        self.refresh_ready();
        let retired = self.inner.retired.load(Ordering::Acquire);
        let handed_over = retired || self.inner.taken_over.load(Ordering::Acquire);
        let open = self
            .inner
            .control()
            .as_ref()
            .is_some_and(|l| !l.is_closed());
        if retired && open {
            tracing::info!(
                "slot already handed over: keeping the connection open so call.ended still arrives"
            );
        } else {
            if let Some(link) = self.inner.control().as_ref() {
                link.set_lame_duck(false);
                link.close();
            }
            // No terminal frame can come on a closed connection: do not wait for one.
            let calls: Vec<Call> = self
                .inner
                .calls()
                .values()
                .map(|e| e.call.clone())
                .collect();
            for call in calls {
                call.give_up_terminal();
            }
        }
        let in_flight = self.active_calls();
        tracing::info!(
            calls = in_flight,
            limit_s = timeout.map(|t| t.as_secs_f64()),
            "draining: waiting for the calls in progress"
        );
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        tokio::pin!(cut);
        while self.active_calls() > 0 {
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(DRAIN_POLL_INTERVAL) => {}
                () = &mut cut => break,
            }
        }
        let cut = self.active_calls();
        let completed = self.inner.ended_calls.load(Ordering::Acquire) - ended_before;
        if cut > 0 {
            tracing::warn!(
                cut,
                completed,
                "cutting calls still in progress (the platform's grace period must exceed any \
                 drain limit for this to disappear)"
            );
        } else {
            tracing::info!(completed, "drained: every call ended by itself");
        }
        self.disconnect().await;
        DrainReport {
            completed: usize::try_from(completed).unwrap_or(usize::MAX),
            cut,
            handed_over,
            signalled: false,
        }
    }

    /// [`serve_with`](Self::serve_with) the defaults: 20 s handover, no drain limit, no
    /// deadline.
    pub async fn serve(&self) -> Result<DrainReport, AgentError> {
        self.serve_with(ServeOptions::default()).await
    }

    /// Opens the health port, connects, serves until a shutdown trigger, then hands over and
    /// drains (see [`ops`](super::ops) for the whole state machine):
    ///
    /// * **SIGTERM #1**: handover. The process stops reconnecting (and marks any reconnect
    ///   `role=retiring`), keeps its slot and **keeps accepting calls** for up to
    ///   `handover_wait` until the server says a successor took over (`agent.retired`).
    /// * then **drain**: calls in progress run to their end (no default limit). After
    ///   `agent.retired` the connection stays open so their `call.ended` still arrives;
    ///   without it the slot is released first.
    /// * **SIGTERM #2** stops waiting for the handover; **#3** cuts the calls in progress.
    ///   **SIGINT #1** skips the handover, so two Ctrl-C cut.
    /// * A takeover (`agent.retired`, close 4409/4403) is a trigger too: straight to drain.
    ///   Drained, the process then idles until SIGTERM or SIGINT, so an orchestrator does not
    ///   restart it into its successor's slot (`wait_for_signal_after_takeover`).
    ///
    /// `shutdown_deadline` is one absolute budget from the trigger, shared by both phases.
    /// The signal handlers stay installed until this returns. The report says how many calls
    /// ended by themselves and how many were cut.
    pub async fn serve_with(&self, options: ServeOptions) -> Result<DrainReport, AgentError> {
        let mut signals = Signals::install()
            .map_err(|e| AgentError::NotAvailable(format!("signal handlers: {e}")))?;
        self.open_health_port().await?;
        if let Err(error) = self.connect().await {
            self.disconnect().await;
            return Err(error);
        }
        let mut escalation = Escalation::default();
        let mut stop = self.inner.stop.subscribe();
        tokio::select! {
            signal = signals.recv() => escalation.on_signal(signal),
            _ = stop.wait_for(|s| *s) => tracing::info!("taken over: draining"),
        }
        self.inner.shutting_down.store(true, Ordering::Release);
        let ended_before = self.inner.ended_calls.load(Ordering::Acquire);
        let deadline = options
            .shutdown_deadline
            .map(|d| tokio::time::Instant::now() + d);
        let remaining =
            || deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));

        // Phase 1: handover (SIGTERM only, not yet handed over, not cut).
        if !options.handover_wait.is_zero()
            && !escalation.skip_handover
            && !escalation.cut
            && !self.inner.taken_over.load(Ordering::Acquire)
        {
            let link = self.inner.control().clone();
            if let Some(link) = &link {
                link.set_lame_duck(true);
            }
            let budget =
                remaining().map_or(options.handover_wait, |r| r.min(options.handover_wait));
            tracing::info!(
                budget_s = budget.as_secs_f64(),
                "handover: keeping the slot and accepting calls until a successor takes over"
            );
            let mut state = link.as_ref().map(ControlLink::state);
            let closed = async {
                if let Some(s) = state.as_mut() {
                    let _ = s.wait_for(|s| *s == ControlState::Closed).await;
                }
            };
            tokio::pin!(closed);
            let timer = tokio::time::sleep(budget);
            tokio::pin!(timer);
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => {
                        tracing::info!("handed over: new calls go to the successor");
                        break;
                    }
                    signal = signals.recv() => {
                        escalation.on_signal(signal);
                        if escalation.skip_handover || escalation.cut {
                            break;
                        }
                    }
                    () = &mut closed => {
                        tracing::info!("control connection ended during the handover: draining");
                        break;
                    }
                    () = &mut timer => {
                        tracing::info!("no handover notice: releasing the slot and draining");
                        break;
                    }
                }
            }
        }

        // Phase 2: drain (or cut).
        if escalation.cut {
            let cut = self.active_calls();
            let completed = self.inner.ended_calls.load(Ordering::Acquire) - ended_before;
            let handed_over = self.inner.taken_over.load(Ordering::Acquire);
            self.disconnect().await;
            return Ok(DrainReport {
                completed: usize::try_from(completed).unwrap_or(usize::MAX),
                cut,
                handed_over,
                signalled: true,
            });
        }
        let limit = match (options.drain_timeout, remaining()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let signalled_before = escalation.count > 0;
        let cut = async {
            loop {
                let signal = signals.recv().await;
                escalation.on_signal(signal);
                if escalation.cut {
                    return;
                }
            }
        };
        let mut report = self.drain_until(limit, ended_before, cut).await;
        report.signalled = signalled_before || escalation.count > 0;
        if report.handed_over && !report.signalled && options.wait_for_signal_after_takeover {
            // An exit now would be restarted by the orchestrator, and the restarted process
            // would take the number back from its successor.
            tracing::info!(
                "handed over before any stop signal: idle until SIGTERM or SIGINT \
                 (ServeOptions::wait_for_signal_after_takeover)"
            );
            signals.recv().await;
            report.signalled = true;
        }
        Ok(report)
    }

    /// Places an outbound call through `POST /calls` (agent-SDK mode) and returns its handle at
    /// once. The call then ends in exactly one of `call_start` + `call_end` (answered) or
    /// `call_failed` (not answered).
    pub async fn call(&self, to: &str, options: CallOptions) -> Result<Call, AgentError> {
        if let Some(notice) = self.take_over_notice() {
            return Err(AgentError::TakenOver(notice));
        }
        self.connect().await?;
        let mut request =
            CreateCall::new(to, self.inner.number.clone()).ring_timeout(options.timeout_secs);
        if let Some(md) = options.machine_detection.or(self.inner.machine_detection) {
            request = request.machine_detection(md);
        }
        self.inner.originating.fetch_add(1, Ordering::AcqRel);
        let created = self.inner.rest.calls().create(request).await;
        let created = match created {
            Ok(c) => c,
            Err(error) => {
                self.inner.originating.fetch_sub(1, Ordering::AcqRel);
                self.flush_early_if_idle();
                return Err(AgentError::Originate(Box::new(error)));
            }
        };
        let session: Arc<dyn Session> = match self.inner.factory.create() {
            Ok(s) => Arc::from(s),
            Err(error) => {
                self.inner.originating.fetch_sub(1, Ordering::AcqRel);
                return Err(error);
            }
        };
        let ctx = self.inner.ctx().clone();
        let new = new_call(
            &ctx,
            created.call_id.clone(),
            Direction::Outbound,
            self.inner.number.clone(),
            to.to_owned(),
            CallStatus::Queued,
            false,
            None,
        );
        let call = new.call.clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        self.inner.calls().insert(
            call.call_id().to_owned(),
            Entry {
                call: call.clone(),
                slot: Slot::Outbound(Some(ready_tx)),
                screening: None,
            },
        );
        self.inner.originating.fetch_sub(1, Ordering::AcqRel);
        let agent = self.clone();
        self.inner.tasks.spawn(async move {
            agent.run_outbound(ctx, new, session, ready_rx).await;
        });
        // Frames that arrived before the originate returned.
        let early = self
            .inner
            .early()
            .remove(call.call_id())
            .unwrap_or_default();
        for event in early {
            self.on_event(event);
        }
        self.flush_early_if_idle();
        Ok(call)
    }

    async fn run_outbound(
        &self,
        ctx: CallContext,
        new: NewCall,
        session: Arc<dyn Session>,
        ready: oneshot::Receiver<String>,
    ) {
        let call = new.call.clone();
        session.set_tools(self.inner.tools.clone());
        // The one prewarm entry point (incident 14, §13.1): a session whose tools are fixed at
        // connect (Gemini Live) can prewarm unless MCP servers will add tools at answer.
        let tools_would_be_missing =
            session.tools_frozen_after_prewarm() && ctx.mcp.server_count() > 0;
        let prewarm = self.inner.prewarm && !tools_would_be_missing;
        let stand_in = prewarm.then(|| BufferingCall::new(call.call_id()));
        let warm = async {
            match &stand_in {
                Some(stand_in) => {
                    let handle: super::session::CallHandle = stand_in.clone();
                    match tokio::time::timeout(PREWARM_TIMEOUT, session.prewarm(handle)).await {
                        Ok(Ok(())) => true,
                        Ok(Err(error)) => {
                            tracing::warn!(call_id = %call.call_id(), %error, "prewarm failed");
                            false
                        }
                        Err(_) => {
                            tracing::warn!(call_id = %call.call_id(), "prewarm timed out");
                            false
                        }
                    }
                }
                None => false,
            }
        };
        let (warmed, url) = tokio::join!(warm, ready);
        match url {
            Ok(url) => {
                let bind = if warmed {
                    Bind::Attach(stand_in)
                } else {
                    if stand_in.is_some() {
                        session.stop().await; // half-open prewarm: stop before fallback
                    }
                    Bind::Start
                };
                drive_call(&ctx, new, url, session, bind).await;
            }
            Err(_) => {
                // Not answered (or the agent disconnected): stop the prewarmed session.
                session.stop().await;
                if !call.is_ended() {
                    call.mark_ended(None);
                }
            }
        }
        self.inner.unregister(call.call_id(), &call);
    }

    fn flush_early_if_idle(&self) {
        if self.inner.originating.load(Ordering::Acquire) > 0 {
            return;
        }
        let early: Vec<(String, Vec<ControlEvent>)> = self.inner.early().drain().collect();
        for (call_id, events) in early {
            for event in events {
                if matches!(event, ControlEvent::CallOutboundReady(_)) {
                    self.unknown_outbound(&call_id);
                }
            }
        }
    }

    fn unknown_outbound(&self, call_id: &str) {
        if let Some(control) = self.inner.control().as_ref() {
            control.send(&ControlCommand::CallSessionFailed(
                clawops_api::events::CallSessionFailed {
                    call_id: call_id.to_owned(),
                    reason: "UnknownOutboundCall".into(),
                    message: "SDK 의 _active_sessions 에 callId 가 없습니다. agent.call() 메서드 대신 REST API 를 직접 호출했거나 발신 후 SDK 프로세스가 재시작된 경우입니다.".into(),
                },
            ));
        }
    }

    // ----- control events -------------------------------------------------------------------

    fn on_frame(&self, frame: ControlFrame) {
        match frame {
            ControlFrame::Event(event) => self.on_event(event),
            ControlFrame::Malformed { event, call_id } => {
                // A call offer we cannot read must not leave the caller in silence.
                if event.as_deref() == Some("call.incoming")
                    && let Some(call_id) = call_id
                    && let Some(control) = self.inner.control().as_ref()
                {
                    control.send(&ControlCommand::CallSessionFailed(
                        clawops_api::events::CallSessionFailed {
                            call_id,
                            reason: "MalformedFrame".into(),
                            message: "call.incoming could not be decoded".into(),
                        },
                    ));
                }
            }
        }
    }

    fn on_event(&self, event: ControlEvent) {
        let transfers = self.inner.ctx().transfers.clone();
        match event {
            ControlEvent::CallIncoming(ev) => self.on_incoming(ev),
            ControlEvent::CallOutboundReady(ev) => {
                let mut calls = self.inner.calls();
                match calls.get_mut(&ev.call_id) {
                    Some(entry) => {
                        entry.call.set_status(CallStatus::InProgress);
                        if let Slot::Outbound(ready) = &mut entry.slot
                            && let Some(tx) = ready.take()
                        {
                            let _ = tx.send(ev.media_url.unwrap_or_default());
                        }
                    }
                    None => {
                        drop(calls);
                        if self.inner.originating.load(Ordering::Acquire) > 0 {
                            self.inner
                                .early()
                                .entry(ev.call_id.clone())
                                .or_default()
                                .push(ControlEvent::CallOutboundReady(ev));
                        } else {
                            self.unknown_outbound(&ev.call_id);
                        }
                    }
                }
            }
            ControlEvent::CallRinging(ev) => {
                if let Some(entry) = self.inner.calls().get(&ev.call_id) {
                    entry.call.set_status(CallStatus::Ringing);
                }
            }
            ControlEvent::CallEnded(ev) => {
                transfers.on_call_ended(&ev.call_id);
                self.on_terminal(&ev.call_id, ev.status, ev.duration);
            }
            ControlEvent::CallFailed(ev) => {
                let reason = ev.reason.clone().or(Some(CallStatus::Failed));
                self.on_terminal(&ev.call_id, reason, None);
            }
            ev @ (ControlEvent::CallTransferStarted(_)
            | ControlEvent::CallTransferConnected(_)
            | ControlEvent::CallTransferCompleted(_)
            | ControlEvent::CallTransferFailed(_)) => {
                let resolution = transfers.on_event(&ev);
                tracing::debug!(?resolution, "transfer event");
            }
            ControlEvent::AgentRetired(ev) => {
                let reason = ev.reason.map(|r| r.to_string()).unwrap_or_default();
                // Soft takeover: never reconnect, but keep this connection open; `call.ended`
                // (with duration) of the calls in progress still arrives on it.
                self.inner.retired.store(true, Ordering::Release);
                if let Some(link) = self.inner.control().as_ref() {
                    link.set_lame_duck(false);
                }
                self.on_taken_over(TakeOver::retired(reason));
            }
            ControlEvent::AgentActive(_) => {
                let retiring = self
                    .inner
                    .control()
                    .as_ref()
                    .is_some_and(ControlLink::is_lame_duck);
                tracing::info!(
                    retiring,
                    "agent.active: the server made this connection the slot owner again"
                );
            }
            ControlEvent::Unknown(value) => {
                let name = value.get("event").and_then(|e| e.as_str()).unwrap_or("");
                tracing::debug!(event = %truncate(name, 40), "unknown control event ignored");
            }
            _ => {}
        }
    }

    fn on_terminal(&self, call_id: &str, status: Option<CallStatus>, duration: Option<i64>) {
        let mut calls = self.inner.calls();
        let Some(entry) = calls.get_mut(call_id) else {
            drop(calls);
            if self.inner.originating.load(Ordering::Acquire) > 0 {
                let ev = ControlEvent::CallEnded(clawops_api::events::CallEnded {
                    call_id: call_id.to_owned(),
                    duration,
                    status,
                });
                self.inner
                    .early()
                    .entry(call_id.to_owned())
                    .or_default()
                    .push(ev);
            }
            return;
        };
        if let Some(flag) = &entry.screening {
            flag.store(true, Ordering::Release);
        }
        let call = entry.call.clone();
        call.on_terminal(status, duration);
        if !call.had_start() {
            // Never answered (or ended during screening): the call ends here.
            let outbound = matches!(entry.slot, Slot::Outbound(_));
            if let Slot::Outbound(ready) = &mut entry.slot {
                ready.take(); // wakes run_outbound, which stops the prewarmed session
            }
            drop(calls);
            let failed = outbound
                .then(|| CallEvent::Failed(call.ended_status().unwrap_or(CallStatus::Failed)));
            call.mark_ended(failed);
            if !outbound {
                self.inner.unregister(call_id, &call);
            }
        }
    }

    fn on_taken_over(&self, notice: TakeOver) {
        if self.inner.taken_over.swap(true, Ordering::AcqRel) {
            return;
        }
        *crate::sync::lock(&self.inner.take_over) = Some(notice.clone());
        self.inner.metrics.taken_over(notice.kind.as_str());
        self.refresh_ready();
        tracing::warn!(
            code = notice.code,
            kind = notice.kind.as_str(),
            reason = %truncate(&notice.reason, 120),
            "number taken over by another process; never reconnecting"
        );
        if notice.kind == TakeOverKind::Retired && !self.inner.shutting_down.load(Ordering::Acquire)
        {
            tracing::warn!(
                "agent.retired without a shutdown signal: is another instance serving this \
                 number? (replicas should be 1)"
            );
        }
        if let Some(cb) = &self.inner.on_taken_over {
            let cb = cb.clone();
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&notice))).is_err() {
                tracing::error!("on_taken_over callback panicked");
            }
        }
        // Public `taken_over()` turns true once the callback ran.
        self.inner.takeover_reported.store(true, Ordering::Release);
        self.inner.stop.send_replace(true);
    }

    fn on_incoming(&self, ev: clawops_api::events::CallIncoming) {
        let ctx = self.inner.ctx().clone();
        let forwarded_from = ev.forwarded_from.clone().filter(|s| !s.is_empty());
        let caller_id_restricted = ev.caller_id_restricted == Some(true);
        let new = new_call(
            &ctx,
            ev.call_id.clone(),
            Direction::Inbound,
            ev.from.clone().unwrap_or_default(),
            self.inner.number.clone(),
            CallStatus::Ringing,
            caller_id_restricted,
            forwarded_from.clone(),
        );
        let call = new.call.clone();
        let screening = self
            .inner
            .on_incoming
            .as_ref()
            .map(|_| Arc::new(AtomicBool::new(false)));
        {
            let mut calls = self.inner.calls();
            if calls.contains_key(&ev.call_id) {
                tracing::debug!(call_id = %ev.call_id, "duplicate call.incoming ignored");
                drop(calls);
                call.mark_ended(None);
                return;
            }
            calls.insert(
                ev.call_id.clone(),
                Entry {
                    call: call.clone(),
                    slot: Slot::Inbound,
                    screening: screening.clone(),
                },
            );
        }
        let agent = self.clone();
        let media_url = ev.media_url.unwrap_or_default();
        self.inner.tasks.spawn(async move {
            if let (Some(hook), Some(ended_flag)) = (agent.inner.on_incoming.clone(), screening) {
                let offer = IncomingCall {
                    call_id: call.call_id().to_owned(),
                    from: call.from_number().to_owned(),
                    to: call.to_number().to_owned(),
                    caller_id_restricted,
                    forwarded_from,
                    decision: Arc::new(Mutex::new(None)),
                    decided: Arc::new(Notify::new()),
                };
                let decision = agent.screen(hook, offer).await;
                if ended_flag.load(Ordering::Acquire) || call.is_ended() {
                    agent.inner.unregister(call.call_id(), &call);
                    return;
                }
                if let Some(reason) = decision {
                    if let Some(control) = agent.inner.control().as_ref() {
                        control.send(&ControlCommand::CallReject(CallReject {
                            call_id: call.call_id().to_owned(),
                            reason,
                        }));
                    }
                    call.set_status(CallStatus::Rejected);
                    call.mark_ended(None);
                    agent.inner.unregister(call.call_id(), &call);
                    return;
                }
            }
            agent.accept_and_run(ctx, new, media_url).await;
            agent.inner.unregister(call.call_id(), &call);
        });
    }

    /// Runs the screening hook in its own task; decides on `reject`, return, panic or 5 s.
    async fn screen(&self, hook: IncomingHook, offer: IncomingCall) -> Option<CallRejectReason> {
        let decided = offer.decided.clone();
        let decision = offer.decision.clone();
        let fut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(offer)));
        let Ok(fut) = fut else {
            tracing::warn!("on_incoming hook panicked; accepting");
            return None;
        };
        let (done_tx, done_rx) = oneshot::channel::<()>();
        self.inner.tasks.spawn(async move {
            use futures::FutureExt;
            if std::panic::AssertUnwindSafe(fut)
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::warn!("on_incoming hook panicked; accepting");
            }
            let _ = done_tx.send(());
        });
        tokio::select! {
            () = decided.notified() => {}
            _ = done_rx => {}
            () = tokio::time::sleep(INCOMING_HOOK_DEADLINE) => {
                tracing::warn!("on_incoming hook undecided after 5 s; accepting");
            }
        }
        // Close the decision: a late reject() is a no-op from here on.
        let mut d = crate::sync::lock(&decision);
        let result = *d;
        if result.is_none() {
            *d = Some(CallRejectReason::Rejected);
        }
        result
    }

    async fn accept_and_run(&self, ctx: CallContext, new: NewCall, media_url: String) {
        let call = new.call.clone();
        let session: Arc<dyn Session> = match self.inner.factory.create() {
            Ok(s) => Arc::from(s),
            Err(error) => {
                session_failed(&ctx, &call, "SessionFactoryError", &error.to_string());
                call.set_local_failed();
                call.mark_ended(None);
                return;
            }
        };
        session.set_tools(self.inner.tools.clone());
        let accepted = self.inner.control().as_ref().is_some_and(|c| {
            c.send(&ControlCommand::CallAccept(CallAccept {
                call_id: call.call_id().to_owned(),
            }))
        });
        if !accepted {
            tracing::warn!(call_id = %call.call_id(), "could not accept: control connection down");
            session.stop().await;
            call.mark_ended(None);
            return;
        }
        drive_call(&ctx, new, media_url, session, Bind::Start).await;
    }
}

/// What the health port reads: the agent, weakly (the port never keeps it alive).
struct HealthView(std::sync::Weak<Inner>);

impl HealthState for HealthView {
    fn ready(&self) -> bool {
        self.0.upgrade().is_some_and(|i| i.is_ready())
    }
    fn active_calls(&self) -> usize {
        self.0.upgrade().map_or(0, |i| i.calls().len())
    }
    fn metrics(&self) -> Option<Arc<AgentMetrics>> {
        self.0.upgrade().map(|i| i.metrics.clone())
    }
}

impl Inner {
    fn is_ready(&self) -> bool {
        !self.released.load(Ordering::Acquire)
            && !self.draining.load(Ordering::Acquire)
            && !self.taken_over.load(Ordering::Acquire)
            && self
                .control()
                .as_ref()
                .is_some_and(ControlLink::is_connected)
    }
    fn calls(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        crate::sync::lock(&self.calls)
    }
    fn early(&self) -> MutexGuard<'_, HashMap<String, Vec<ControlEvent>>> {
        crate::sync::lock(&self.early)
    }
    fn control(&self) -> MutexGuard<'_, Option<ControlLink>> {
        crate::sync::lock(&self.control)
    }
    fn ctx(&self) -> MutexGuard<'_, CallContext> {
        crate::sync::lock(&self.ctx)
    }
    /// Removes `call_id` only if it still maps to this very call.
    fn unregister(&self, call_id: &str, call: &Call) {
        let mut calls = self.calls();
        if calls
            .get(call_id)
            .is_some_and(|e| Arc::ptr_eq(&e.call.inner, &call.inner))
        {
            calls.remove(call_id);
            drop(calls);
            self.ended_calls.fetch_add(1, Ordering::AcqRel);
            let status = call.ended_status();
            let status = status.as_ref().map_or("unknown", |s| s.as_str());
            self.metrics.call_ended(status, &call.metrics());
        }
    }
}
