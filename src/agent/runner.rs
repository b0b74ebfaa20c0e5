//! Driving one call's media session, shared by the [`Agent`](super::Agent) and the standalone
//! [`CallRunner`] (a worker that receives a `mediaUrl` from a queue and runs one call without a
//! control connection).
//!
//! The media socket is opened **at once**, concurrently with the AI session's start, so a slow
//! provider connect never eats into the one-time token's 30 s lifetime; caller audio that
//! arrives meanwhile waits in order. Everything the call spawns (the media socket, the DTMF
//! debounce and delivery loops) lives inside this one future and ends with it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clawops_api::events::{
    CallMetrics as CallMetricsFrame, CallSessionFailed, CallTelemetry, ControlCommand,
};
use clawops_api::types::{CallStatus, Direction};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::AgentError;
use super::call::{Call, CallParts, EndReason, TERMINAL_FRAME_GRACE};
use super::control::ControlLink;
use super::dtmf::{CallDtmf, DigitRoute, DtmfDeliveries, DtmfSettings};
use super::events::{CallEvent, EventHandler, Handlers, spawn_event_queue};
use super::media::{
    Feeding, MediaConsumer, MediaDriver, MediaEnd, MediaIn, MediaSettings, media_link,
};
use super::session::{CallHandle, Session, SessionTools};
use super::transfer::TransferRegistry;
use crate::audio::Gain;

/// How long a session may take to start before the call is failed with `call.session_failed`.
pub const SESSION_START_TIMEOUT: Duration = Duration::from_secs(20);

/// What every call of one agent (or runner) shares.
#[derive(Clone)]
pub(crate) struct CallContext {
    pub(crate) account_id: String,
    pub(crate) control: Option<ControlLink>,
    pub(crate) transfers: TransferRegistry,
    pub(crate) media: MediaSettings,
    pub(crate) dtmf: DtmfSettings,
    pub(crate) rx_gain: Gain,
    pub(crate) tx_gain: Gain,
    pub(crate) handlers: Handlers,
    pub(crate) tasks: TaskTracker,
    pub(crate) recording: Option<std::path::PathBuf>,
    pub(crate) builtin_names: Vec<clawops_api::events::BuiltinToolName>,
    pub(crate) tool_count: usize,
    /// MCP servers opened per call before the session starts (issue 9).
    pub(crate) mcp: super::mcp::McpPlan,
    /// The REST client, when the calls belong to an [`Agent`](super::Agent) (cancelling an
    /// unanswered outbound call needs it).
    pub(crate) rest: Option<crate::ClawOps>,
}

/// A call plus the parts only its driver uses.
pub(crate) struct NewCall {
    pub(crate) call: Call,
    pub(crate) driver: MediaDriver,
    pub(crate) deliveries: DtmfDeliveries,
}

#[allow(clippy::too_many_arguments)]
/// Creates a call object with its media link (not connected yet: audio sent before the socket
/// opens waits in order), DTMF router and event queue.
pub(crate) fn new_call(
    ctx: &CallContext,
    call_id: String,
    direction: Direction,
    from: String,
    to: String,
    status: CallStatus,
    caller_id_restricted: bool,
    forwarded_from: Option<String>,
) -> NewCall {
    let (link, driver) = media_link();
    let call_id_for_rec = call_id.clone();
    let (dtmf, deliveries) = CallDtmf::new(call_id.clone(), ctx.dtmf.clone());
    let call = Call::new(CallParts {
        call_id,
        direction,
        from,
        to,
        account_id: ctx.account_id.clone(),
        caller_id_restricted,
        forwarded_from,
        status,
        media: link,
        control: ctx.control.clone(),
        transfers: ctx.transfers.clone(),
        dtmf,
        tx_gain: ctx.tx_gain.clone(),
        recorder: ctx.recording.as_ref().and_then(|dir| {
            match super::recorder::Recorder::create(dir, &call_id_for_rec) {
                Ok(r) => Some(Arc::new(std::sync::Mutex::new(r))),
                Err(error) => {
                    tracing::warn!(%error, "recording disabled for this call");
                    None
                }
            }
        }),
        tasks: ctx.tasks.clone(),
        rest: ctx.rest.clone(),
    });
    let events = spawn_event_queue(call.clone(), ctx.handlers.clone(), &ctx.tasks);
    call.attach_events(events);
    NewCall {
        call,
        driver,
        deliveries,
    }
}

/// How the session gets bound to the call.
pub(crate) enum Bind {
    /// `start(call)`.
    Start,
    /// A prewarm ran (or failed): attach, falling back to `start`.
    Attach(Option<Arc<super::session::BufferingCall>>),
}

/// Runs the call to its end: `call_start`, session start (concurrently with the media
/// connect), telemetry, media loop, DTMF, then teardown (metrics, session stop, ≤ 2 s wait for
/// the terminal frame, `call_end`). Never panics; always resolves the call's terminal state.
pub(crate) async fn drive_call(
    ctx: &CallContext,
    new: NewCall,
    media_url: String,
    session: Arc<dyn Session>,
    bind: Bind,
) {
    let span = crate::telemetry::call_span(&new.call);
    drive_call_traced(ctx, new, media_url, session, bind)
        .instrument(span)
        .await
}

/// [`drive_call`] inside its `call` span.
async fn drive_call_traced(
    ctx: &CallContext,
    new: NewCall,
    media_url: String,
    session: Arc<dyn Session>,
    bind: Bind,
) {
    let NewCall {
        call,
        driver,
        mut deliveries,
    } = new;
    call.emit_start();
    let handle: CallHandle = Arc::new(call.clone());
    // `llm.session` spans the session's start … stop; MCP servers are connected (and their
    // tools given to the session) before the session starts.
    let (mcp, llm_span) = ctx.mcp.open(session.as_ref()).await;

    // Bind the session before opening the media socket (the server expects
    // `call.session_failed` instead of a media connection when the session cannot start), but
    // bounded so a slow provider cannot use up the one-time token's 30 s lifetime.
    let bound = tokio::time::timeout(SESSION_START_TIMEOUT, async {
        match bind {
            Bind::Start => session.start(handle.clone()).await,
            Bind::Attach(stand_in) => {
                if let Some(stand_in) = &stand_in {
                    stand_in.flush_into(&call);
                }
                match session.attach(handle.clone()).await {
                    Ok(()) => Ok(()),
                    Err(error) => {
                        tracing::warn!(call_id = %call.call_id(), %error, "attach after prewarm failed; starting fresh");
                        session.stop().await;
                        session.start(handle.clone()).await
                    }
                }
            }
        }
    })
    .instrument(llm_span.clone())
    .await
    .unwrap_or_else(|_| Err(AgentError::Session("session start timed out".into())));
    if let Err(error) = bound {
        session_failed(ctx, &call, "SessionStartError", &error.to_string());
        driver.abandon();
        call.set_end_reason(EndReason::Error);
        session.stop().await;
        drop(llm_span);
        mcp.close().await;
        call.set_local_failed();
        finish_recording(&call);
        if ctx.control.is_some() {
            call.wait_terminal(TERMINAL_FRAME_GRACE).await;
        }
        call.mark_ended(Some(CallEvent::End));
        return;
    }
    crate::telemetry::record_llm(&llm_span, session.telemetry().as_ref());
    send_telemetry(ctx, &call, session.as_ref(), mcp.tool_count);

    let (done_tx, mut done_rx) = watch::channel(false);
    // Caller audio and keys are consumed inside the media socket's task, in arrival order (no
    // channel and no extra wake-up per 20 ms frame).
    let consumer = CallConsumer {
        ctx,
        call: &call,
        session: session.as_ref(),
        late: std::sync::Mutex::new(super::ops::LateFrames::new()),
    };
    let media = driver.run(&media_url, ctx.media, &consumer);
    let main = async {
        let end = media.await;
        call.inner.dtmf.end();
        done_tx.send_replace(true);
        end
    };
    let dtmf_work = async {
        tokio::join!(call.inner.dtmf.run_debounce(), async {
            loop {
                tokio::select! {
                    digits = deliveries.recv() => match digits {
                        Some(digits) => session.feed_dtmf(digits).await,
                        None => break,
                    },
                    () = async { let _ = done_rx.wait_for(|d| *d).await; } => break,
                }
            }
        });
    };
    let (end, ()) = tokio::join!(main, dtmf_work);

    let reason = match &end {
        MediaEnd::Stop | MediaEnd::PeerClosed if call.local_hangup() => EndReason::AgentHangup,
        MediaEnd::Stop | MediaEnd::PeerClosed if call.handed_off() => EndReason::Transfer,
        MediaEnd::Stop | MediaEnd::PeerClosed => EndReason::UserHangup,
        MediaEnd::Local => EndReason::AgentHangup,
        MediaEnd::Error(message) => {
            call.record_error("MediaError", message);
            EndReason::Error
        }
    };
    call.set_end_reason(reason);
    if let Some(control) = &ctx.control {
        control.send(&ControlCommand::CallMetrics(CallMetricsFrame {
            call_id: call.call_id().to_owned(),
            metrics: call.metrics_frame(),
        }));
    }
    session.stop().await;
    drop(llm_span);
    mcp.close().await;
    finish_recording(&call);
    if ctx.control.is_some() {
        call.wait_terminal(TERMINAL_FRAME_GRACE).await;
    }
    call.mark_ended(Some(CallEvent::End));
}

/// What the call does with each inbound media item (runs inside the media socket's task).
struct CallConsumer<'a> {
    ctx: &'a CallContext,
    call: &'a Call,
    session: &'a dyn Session,
    late: std::sync::Mutex<super::ops::LateFrames>,
}

impl MediaConsumer for CallConsumer<'_> {
    fn consume(&self, item: MediaIn) -> Option<Feeding<'_>> {
        match item {
            MediaIn::Audio {
                mut payload,
                timestamp_ms,
            } => {
                if crate::sync::lock(&self.late).on_frame(timestamp_ms) {
                    self.call.record_late_frame();
                }
                if !self.ctx.rx_gain.is_unity() {
                    self.ctx.rx_gain.apply(&mut payload);
                }
                if let Some(rec) = &self.call.inner.recorder {
                    crate::sync::lock(rec).record_inbound(&payload, timestamp_ms);
                }
                Some(self.session.feed_audio(Bytes::from(payload), timestamp_ms))
            }
            MediaIn::Dtmf(digit) => {
                self.call.emit(CallEvent::Dtmf(digit.clone()));
                if matches!(self.call.inner.dtmf.on_digit(&digit), DigitRoute::Collector) {
                    // Interrupt the prompt, like <Gather>.
                    self.call.clear_audio();
                }
                None
            }
            MediaIn::Start => None,
        }
    }
}

fn finish_recording(call: &Call) {
    if let Some(rec) = &call.inner.recorder {
        let mut rec = crate::sync::lock(rec);
        if let Err(error) = rec.finish() {
            tracing::warn!(call_id = %call.call_id(), %error, "recording incomplete");
        }
    }
}

/// Sends `call.session_failed` (the server then fails the call fast instead of 30 s of silence).
pub(crate) fn session_failed(ctx: &CallContext, call: &Call, reason: &str, message: &str) {
    tracing::warn!(call_id = %call.call_id(), reason, "AI session could not start");
    call.record_error(reason, message);
    if let Some(control) = &ctx.control {
        control.send(&ControlCommand::CallSessionFailed(CallSessionFailed {
            call_id: call.call_id().to_owned(),
            message: message.chars().take(500).collect(),
            reason: reason.to_owned(),
        }));
    }
}

fn send_telemetry(ctx: &CallContext, call: &Call, session: &dyn Session, tools: Option<usize>) {
    let Some(control) = &ctx.control else { return };
    let Some(mut telemetry) = session.telemetry() else {
        return;
    };
    telemetry.recording_enabled = ctx.recording.is_some();
    telemetry.tool_count = tools.unwrap_or(ctx.tool_count) as i64;
    telemetry.mcp_server_count = ctx.mcp.server_count() as i64;
    telemetry.builtin_tools = ctx.builtin_names.clone();
    control.send(&ControlCommand::CallTelemetry(CallTelemetry {
        call_id: call.call_id().to_owned(),
        telemetry,
    }));
}

/// Runs one call from a media URL without a control connection: the building block for fleets
/// of workers behind a queue. There is no accept/reject, no `call.ended` (so no
/// `ended_duration`), no telemetry/metrics frames and no transfer.
///
/// ```no_run
/// # use clawops::agent::{CallRunner, Session};
/// # async fn demo(session: Box<dyn Session>) -> Result<(), clawops::agent::AgentError> {
/// let call = CallRunner::new("CA1", "01012345678", "07012341234")
///     .on_event(|call, event| async move { println!("{} {}", call.call_id(), event.name()) })
///     .run("wss://api.claw-ops.com/v1/agent/media/CA1?token=…", session)
///     .await?;
/// println!("ended: {:?}", call.ended_status());
/// # Ok(()) }
/// ```
#[must_use]
pub struct CallRunner {
    call_id: String,
    from: String,
    to: String,
    account_id: String,
    direction: Direction,
    dtmf: DtmfSettings,
    rx_gain: f32,
    tx_gain: f32,
    handlers: Handlers,
    heartbeat: Duration,
    tools: Option<SessionTools>,
    mcp: super::mcp::McpServers,
}

impl std::fmt::Debug for CallRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRunner")
            .field("call_id", &self.call_id)
            .finish_non_exhaustive()
    }
}

impl CallRunner {
    /// A runner for one inbound call.
    pub fn new(call_id: impl Into<String>, from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            call_id: call_id.into(),
            from: from.into(),
            to: to.into(),
            account_id: String::new(),
            direction: Direction::Inbound,
            dtmf: DtmfSettings::default(),
            rx_gain: 1.0,
            tx_gain: 1.0,
            handlers: Handlers::default(),
            heartbeat: super::media::MEDIA_HEARTBEAT,
            tools: None,
            mcp: super::mcp::McpServers::default(),
        }
    }

    /// The call's tools (your registry, the builtins, hold audio), given to the session before
    /// it starts. Without this the session keeps the tools it was built with; with MCP servers
    /// their tools are added to these.
    pub fn tools(mut self, tools: SessionTools) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Adds an MCP server whose tools this call may use (feature `mcp`): connected before the
    /// session starts, closed when the call ends, as on an [`Agent`](super::Agent).
    #[cfg(feature = "mcp")]
    pub fn mcp_server(mut self, server: crate::mcp::McpServer) -> Self {
        self.mcp.servers.push(server);
        self
    }

    /// The account id reported by [`Call::account_id`].
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = id.into();
        self
    }

    /// Marks the call outbound.
    pub fn outbound(mut self) -> Self {
        self.direction = Direction::Outbound;
        self
    }

    /// Passive DTMF settings.
    pub fn passive_dtmf(mut self, settings: DtmfSettings) -> Self {
        self.dtmf = settings;
        self
    }

    /// Caller-audio gain (finite, ≥ 0).
    pub fn rx_gain(mut self, gain: f32) -> Self {
        self.rx_gain = gain;
        self
    }

    /// Agent-audio gain (finite, ≥ 0).
    pub fn tx_gain(mut self, gain: f32) -> Self {
        self.tx_gain = gain;
        self
    }

    /// Media heartbeat interval (default 30 s).
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval;
        self
    }

    /// Adds an async handler of every call event.
    pub fn on_event<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Call, CallEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: EventHandler = Arc::new(move |c, e| Box::pin(f(c, e)));
        self.handlers.push(handler);
        self
    }

    /// Connects to `media_url` and runs the call to its end; returns the ended call.
    pub async fn run(self, media_url: &str, session: Box<dyn Session>) -> Result<Call, AgentError> {
        let tasks = TaskTracker::new();
        let given = self.tools.is_some();
        let tools = self.tools.unwrap_or_default();
        let builtin_names = tools
            .builtins
            .iter()
            .filter_map(|b| b.name().parse().ok())
            .collect();
        let tool_count = tools.registry.len();
        let mcp = self.mcp.into_plan(tools.clone());
        if mcp.server_count() == 0 && given {
            session.set_tools(tools);
        }
        let ctx = CallContext {
            account_id: self.account_id,
            control: None,
            transfers: TransferRegistry::new(),
            media: MediaSettings {
                heartbeat: self.heartbeat,
                ..MediaSettings::default()
            },
            dtmf: self.dtmf,
            rx_gain: Gain::new(self.rx_gain)?,
            tx_gain: Gain::new(self.tx_gain)?,
            handlers: self.handlers,
            tasks: tasks.clone(),
            recording: None,
            builtin_names,
            tool_count,
            mcp,
            rest: None,
        };
        let status = match self.direction {
            Direction::Outbound => CallStatus::InProgress,
            _ => CallStatus::Ringing,
        };
        let new = new_call(
            &ctx,
            self.call_id,
            self.direction,
            self.from,
            self.to,
            status,
            false,
            None,
        );
        let call = new.call.clone();
        drive_call(
            &ctx,
            new,
            media_url.to_owned(),
            Arc::from(session),
            Bind::Start,
        )
        .await;
        tasks.close();
        tasks.wait().await;
        Ok(call)
    }
}
