//! Test doubles: a scripted AI session and a recording call.
//!
//! [`ScriptedSession`] plays a fixed script (send audio, clear, call a tool, emit a transcript,
//! hang up) and optionally echoes caller audio; everything it sees is appended to a shared
//! [`SessionLog`] for assertions. [`MockCall`] implements [`CallControl`] and records what a
//! session does to the call. Both are deterministic and spawn only tasks they own.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use clawops::agent::Session;
//! use clawops::agent::testing::{Action, MockCall, ScriptedSession, SessionRecord};
//!
//! let session = ScriptedSession::new()
//!     .echo(true)
//!     .on_start([Action::SendAudio(Bytes::from_static(&[0xFF; 160]))]);
//! let log = session.log();
//! let call = MockCall::new("CA1");
//! session.start(call.clone()).await.unwrap();
//! session.idle().await; // the start script has run
//! session.feed_audio(Bytes::from_static(&[1, 2, 3]), 20).await;
//! session.idle().await;
//! session.stop().await;
//! assert_eq!(call.sent_audio(), vec![vec![0xFF; 160], vec![1, 2, 3]]);
//! assert_eq!(log.records().last(), Some(&SessionRecord::Stopped));
//! # }
//! ```

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::task::JoinSet;

use super::session::{CallControl, CallHandle, Session, SessionEvent, SessionTools};
use super::tools::ToolOutput;
use super::{AgentError, CollectOptions, DtmfInput, DtmfSequence, DtmfStep, TransferOptions};

/// One scripted step.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Action {
    /// `call.send_audio`.
    SendAudio(Bytes),
    /// `call.clear_audio` (barge-in).
    Clear,
    /// Report an event (transcript, …).
    Emit(SessionEvent),
    /// Run a tool through the injected [`SessionTools`], like a model's function call.
    CallTool {
        /// Tool name.
        name: String,
        /// Raw JSON arguments.
        args: String,
    },
    /// `call.hangup`.
    HangUp,
    /// Wait.
    Sleep(Duration),
}

/// What a [`ScriptedSession`] observed, in order.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SessionRecord {
    /// Tools were injected (names in offer order).
    Tools(Vec<String>),
    /// `prewarm` ran.
    Prewarmed,
    /// `attach`/`start` bound this call id.
    Attached(String),
    /// Caller audio.
    Audio {
        /// Bytes received.
        len: usize,
        /// Media timestamp.
        timestamp_ms: u64,
    },
    /// Confirmed passive digits (test double only: real sessions never log digits).
    Dtmf(String),
    /// A tool call and what went back to the model.
    ToolResult {
        /// Tool name.
        name: String,
        /// Its output.
        output: ToolOutput,
    },
    /// `stop` ran (recorded once; later calls are no-ops).
    Stopped,
}

/// Shared, cloneable view of a session's records.
#[derive(Clone, Debug, Default)]
pub struct SessionLog(Arc<Mutex<Vec<SessionRecord>>>);

impl SessionLog {
    fn push(&self, r: SessionRecord) {
        lock(&self.0).push(r);
    }

    /// A snapshot of the records.
    pub fn records(&self) -> Vec<SessionRecord> {
        lock(&self.0).clone()
    }

    /// Total caller audio bytes received.
    pub fn audio_bytes(&self) -> usize {
        lock(&self.0)
            .iter()
            .map(|r| match r {
                SessionRecord::Audio { len, .. } => *len,
                _ => 0,
            })
            .sum()
    }
}

#[derive(Default)]
struct Inner {
    call: Option<CallHandle>,
    tools: SessionTools,
    tasks: JoinSet<()>,
    stopped: bool,
}

/// A deterministic [`Session`] driven by a script.
#[derive(Default)]
pub struct ScriptedSession {
    on_start: Vec<Action>,
    on_dtmf: HashMap<String, Vec<Action>>,
    echo: bool,
    fail_start: Option<String>,
    log: SessionLog,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for ScriptedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedSession")
            .field("echo", &self.echo)
            .finish_non_exhaustive()
    }
}

impl ScriptedSession {
    /// A session that does nothing until scripted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Actions run (in a task owned by the session) once the call is attached.
    pub fn on_start(mut self, actions: impl IntoIterator<Item = Action>) -> Self {
        self.on_start = actions.into_iter().collect();
        self
    }

    /// Actions run when exactly `digits` are delivered by the passive DTMF path.
    pub fn on_dtmf(mut self, digits: &str, actions: impl IntoIterator<Item = Action>) -> Self {
        self.on_dtmf
            .insert(digits.to_owned(), actions.into_iter().collect());
        self
    }

    /// Echo every caller frame back with `send_audio`.
    pub fn echo(mut self, on: bool) -> Self {
        self.echo = on;
        self
    }

    /// Make `start`/`prewarm` fail with this message (to exercise `call.session_failed`).
    pub fn fail_start(mut self, message: impl Into<String>) -> Self {
        self.fail_start = Some(message.into());
        self
    }

    /// The session's record log (clone it before handing the session to the agent).
    pub fn log(&self) -> SessionLog {
        self.log.clone()
    }

    /// Waits until every scripted task has finished.
    pub async fn idle(&self) {
        loop {
            let mut tasks = std::mem::take(&mut lock(&self.inner).tasks);
            if tasks.is_empty() {
                return;
            }
            while tasks.join_next().await.is_some() {}
        }
    }

    fn spawn_script(&self, actions: Vec<Action>) {
        let mut inner = lock(&self.inner);
        if inner.stopped || actions.is_empty() {
            return;
        }
        let Some(call) = inner.call.clone() else {
            return;
        };
        let tools = inner.tools.clone();
        let log = self.log.clone();
        inner.tasks.spawn(async move {
            for action in actions {
                run_action(action, &call, &tools, &log).await;
            }
        });
    }
}

async fn run_action(action: Action, call: &CallHandle, tools: &SessionTools, log: &SessionLog) {
    match action {
        Action::SendAudio(b) => call.send_audio(b),
        Action::Clear => call.clear_audio(),
        Action::Emit(e) => call.emit(e),
        Action::CallTool { name, args } => {
            let output = tools.dispatch(call.as_ref(), &name, &args).await;
            log.push(SessionRecord::ToolResult { name, output });
        }
        Action::HangUp => call.hangup().await,
        Action::Sleep(d) => tokio::time::sleep(d).await,
    }
}

#[async_trait]
impl Session for ScriptedSession {
    fn set_tools(&self, tools: SessionTools) {
        self.log.push(SessionRecord::Tools(
            tools.specs().into_iter().map(|s| s.name).collect(),
        ));
        lock(&self.inner).tools = tools;
    }

    async fn prewarm(&self, stand_in: CallHandle) -> Result<(), AgentError> {
        if let Some(m) = &self.fail_start {
            return Err(AgentError::Session(m.clone()));
        }
        let _ = stand_in;
        self.log.push(SessionRecord::Prewarmed);
        Ok(())
    }

    async fn attach(&self, call: CallHandle) -> Result<(), AgentError> {
        self.log
            .push(SessionRecord::Attached(call.call_id().to_owned()));
        lock(&self.inner).call = Some(call);
        self.spawn_script(self.on_start.clone());
        Ok(())
    }

    async fn feed_audio(&self, ulaw: Bytes, timestamp_ms: u64) {
        self.log.push(SessionRecord::Audio {
            len: ulaw.len(),
            timestamp_ms,
        });
        if self.echo {
            let call = lock(&self.inner).call.clone();
            if let Some(call) = call {
                call.send_audio(ulaw);
            }
        }
    }

    async fn feed_dtmf(&self, digits: DtmfInput) {
        self.log
            .push(SessionRecord::Dtmf(digits.as_str().to_owned()));
        if let Some(actions) = self.on_dtmf.get(digits.as_str()) {
            self.spawn_script(actions.clone());
        }
    }

    async fn stop(&self) {
        let mut tasks = {
            let mut inner = lock(&self.inner);
            if inner.stopped {
                return;
            }
            inner.stopped = true;
            inner.call = None;
            std::mem::take(&mut inner.tasks)
        };
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        self.log.push(SessionRecord::Stopped);
    }
}

#[derive(Default)]
struct MockState {
    audio: Vec<Vec<u8>>,
    clears: usize,
    hangups: usize,
    events: Vec<SessionEvent>,
    tool_calls: u64,
    tool_errors: Vec<(String, String)>,
    collect_requests: Vec<CollectOptions>,
    collect_results: Vec<Result<DtmfInput, AgentError>>,
    sent_tones: Vec<String>,
    transfers: Vec<TransferOptions>,
}

/// A [`CallControl`] that records everything done to it.
pub struct MockCall {
    call_id: String,
    connected: bool,
    state: Mutex<MockState>,
}

impl std::fmt::Debug for MockCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockCall")
            .field("call_id", &self.call_id)
            .finish_non_exhaustive()
    }
}

impl MockCall {
    /// An answered call.
    pub fn new(call_id: &str) -> Arc<Self> {
        Arc::new(Self {
            call_id: call_id.to_owned(),
            connected: true,
            state: Mutex::new(MockState::default()),
        })
    }

    /// A call still ringing (builtins answer the not-ready text).
    pub fn ringing(call_id: &str) -> Arc<Self> {
        Arc::new(Self {
            call_id: call_id.to_owned(),
            connected: false,
            state: Mutex::new(MockState::default()),
        })
    }

    /// Queues the result of the next `collect_dtmf` (default: empty input).
    pub fn push_collect_result(&self, result: Result<DtmfInput, AgentError>) {
        lock(&self.state).collect_results.push(result);
    }

    /// Audio chunks sent, in order.
    pub fn sent_audio(&self) -> Vec<Vec<u8>> {
        lock(&self.state).audio.clone()
    }
    /// Number of `clear_audio` calls.
    pub fn clears(&self) -> usize {
        lock(&self.state).clears
    }
    /// Number of `hangup` calls.
    pub fn hangups(&self) -> usize {
        lock(&self.state).hangups
    }
    /// Events emitted.
    pub fn events(&self) -> Vec<SessionEvent> {
        lock(&self.state).events.clone()
    }
    /// (tool calls, tool errors as (tool, message)).
    pub fn tool_metrics(&self) -> (u64, Vec<(String, String)>) {
        let s = lock(&self.state);
        (s.tool_calls, s.tool_errors.clone())
    }
    /// `collect_dtmf` requests received.
    pub fn collect_requests(&self) -> Vec<CollectOptions> {
        lock(&self.state).collect_requests.clone()
    }
    /// Tones sent by `send_dtmf`, one string per call (pauses as `w`/`W`).
    pub fn sent_tones(&self) -> Vec<String> {
        lock(&self.state).sent_tones.clone()
    }
    /// Transfers started.
    pub fn transfers(&self) -> Vec<TransferOptions> {
        lock(&self.state).transfers.clone()
    }
}

#[async_trait]
impl CallControl for MockCall {
    fn call_id(&self) -> &str {
        &self.call_id
    }
    fn is_connected(&self) -> bool {
        self.connected
    }
    fn send_audio(&self, ulaw: Bytes) {
        lock(&self.state).audio.push(ulaw.to_vec());
    }
    fn clear_audio(&self) {
        lock(&self.state).clears += 1;
    }
    async fn hangup(&self) {
        lock(&self.state).hangups += 1;
    }
    fn emit(&self, event: SessionEvent) {
        lock(&self.state).events.push(event);
    }
    fn record_tool_call(&self) {
        lock(&self.state).tool_calls += 1;
    }
    fn record_tool_error(&self, tool: &str, message: &str) {
        lock(&self.state)
            .tool_errors
            .push((tool.to_owned(), message.to_owned()));
    }
    async fn collect_dtmf(&self, options: CollectOptions) -> Result<DtmfInput, AgentError> {
        let mut s = lock(&self.state);
        s.collect_requests.push(options);
        if s.collect_results.is_empty() {
            Ok(DtmfInput::new(""))
        } else {
            s.collect_results.remove(0)
        }
    }
    async fn send_dtmf(&self, digits: DtmfSequence) -> Result<(), AgentError> {
        let text: String = digits
            .steps()
            .iter()
            .map(|s| match s {
                DtmfStep::Tone(c) => *c,
                DtmfStep::Pause(d) if *d >= Duration::from_secs(1) => 'W',
                DtmfStep::Pause(_) => 'w',
            })
            .collect();
        lock(&self.state).sent_tones.push(text);
        Ok(())
    }
    fn start_transfer(&self, options: TransferOptions) -> Result<(), AgentError> {
        options.validate()?;
        lock(&self.state).transfers.push(options);
        Ok(())
    }
}
