//! The voice agent: answer a phone number with AI.
//!
//! The agent is built in two layers.
//!
//! **Building blocks** (no sockets; each one is a small, separately tested state machine):
//!
//! | Module | What it owns |
//! |---|---|
//! | [`transfer`] | [`TransferOptions`] → the generated `call.transfer` command, and the [`TransferRegistry`] that matches results by `requestId` (call-id fallback only with exactly one pending, 2 s grace after `call.ended`, 7200 s backstop, no leaks) |
//! | [`dtmf`] | per-call passive keypad routing ([`CallDtmf`]: 2 s debounce, finish key, max digits, serialised deliveries), `collect_dtmf` with the 0.70 timing rules, and [`DtmfSequence`] for outbound tones with `w`/`W` pauses |
//! | [`tools`] | the [`ToolRegistry`] of user tools (schemars schemas, errors and panics returned to the model as text) and [`InFlightTools`] for barge-in cancellation |
//! | [`builtins`] | `hang_up`, `collect_dtmf`, `send_dtmf`, `transfer_call` with the exact wire schemas, and [`SessionTools::dispatch`] |
//! | [`session`] | the [`Session`] trait a provider implements, the [`CallControl`] interface it talks to, the [`SessionFactory`] (one session per call) and the prewarm stand-in [`BufferingCall`] |
//! | [`recorder`] | `{call}_in.wav` / `{call}_out.wav` / `{call}_mix.wav` aligned by media timestamps, with a sanitised call id |
//! | [`testing`] | a scripted session and a recording mock call for tests |
//! | [`crate::audio`] | μ-law, gain, resampling, framing, hold audio |
//!
//! **Connection layer** (control and media WebSockets, [`Agent`], [`Call`]): it owns one task
//! set per call and wires the blocks together. Per call it creates a session from the factory,
//! injects [`SessionTools`] before prewarm/start, feeds inbound media frames (after rx gain) to
//! the recorder and [`Session::feed_audio`], routes every inbound key through
//! [`CallDtmf::on_digit`] (sending `clear` when a collector takes it), runs
//! [`CallDtmf::run_debounce`] and drains [`DtmfDeliveries`] into [`Session::feed_dtmf`] from a
//! single task, implements [`CallControl`] for the session (outbound audio is tx-gained,
//! recorded and sent raw — never padded), and forwards `call.transfer.*` and `call.ended`
//! control events to the [`TransferRegistry`]. When the call ends it calls [`CallDtmf::end`],
//! [`Session::stop`] and [`Recorder::finish`].

pub mod builtins;
pub mod dtmf;
mod error;
pub mod ops;
pub mod recorder;
pub mod session;
pub mod testing;
pub mod tools;
pub mod transfer;
// Connection layer (agentloop): control/media sockets, the Call handle, events, Agent.
#[allow(clippy::module_inception)]
mod agent;
mod call;
mod control;
mod echo;
mod events;
mod mcp;
mod media;
mod runner;

pub use agent::{
    Agent, AgentBuilder, CallOptions, DrainReport, INCOMING_HOOK_DEADLINE, IncomingCall,
    PREWARM_TIMEOUT,
};
pub use echo::EchoSession;
pub use runner::{CallRunner, SESSION_START_TIMEOUT};

pub use call::{Call, CallMetrics, EndReason, TERMINAL_FRAME_GRACE};
pub use control::{
    CLOSE_OWNERSHIP_LOST, CLOSE_REPLACED, CONTROL_HEARTBEAT, INITIAL_RECONNECT_DELAY,
    MAX_RECONNECT_DELAY, control_url,
};
pub use events::{CallEvent, EventHandler, Role};
pub use media::{HANGUP_MARK_TIMEOUT, MEDIA_HEARTBEAT, redact_url};

pub use builtins::{BuiltinTool, BuiltinTools};
pub use dtmf::{
    CallDtmf, CollectOptions, DigitRoute, DtmfDeliveries, DtmfInput, DtmfSequence, DtmfSettings,
    DtmfStep, PassiveBuffer,
};
pub use error::AgentError;
pub use recorder::{Recorder, RecordingFiles};
pub use session::{
    BufferingCall, CallControl, CallHandle, Session, SessionEvent, SessionFactory, SessionTools,
};
pub use tools::{InFlightTools, IntoToolOutput, ToolOutput, ToolRegistry, ToolSpec};
pub use transfer::{
    Resolution, TransferOptions, TransferOutcome, TransferRegistry, TransferResultKind,
    TransferWaiter,
};
