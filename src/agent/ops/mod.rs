//! Production operations: slot takeover notices, the `serve()` shutdown settings, the readiness
//! marker file, the health/metrics port and deployment checks.
//!
//! | Piece | What it does |
//! |---|---|
//! | [`TakeOver`] | why this process lost its number's control slot (`4409`, `4403`, `agent.retired`), with the close code and reason read from the CLOSE frame |
//! | [`ServeOptions`] | `handover_wait` (20 s), `drain_timeout` (none), `shutdown_deadline` (none) of [`Agent::serve_with`](super::Agent::serve_with) |
//! | [`ReadyFile`] | the `CLAWOPS_READY_FILE` marker: removed at start-up, written (`pid=… since=…`) only while connected and owning the slot |
//! | health port | `200 ready` / `503 not ready` on any path, Prometheus text on `/metrics` ([`METRIC_NAMES`]) |
//! | container check | a warning when, inside a container, an ancestor is a shell or launcher that does not forward SIGTERM |
//!
//! The deployment guide (`docs/deployment.md`) explains how these fit a Kubernetes rollout.

mod container;
mod health;
mod metrics;
mod readiness;
pub(crate) mod shutdown;

pub(crate) use container::warn_if_signals_blocked;
pub(crate) use health::{HealthServer, HealthState};
pub(crate) use metrics::AgentMetrics;
pub use metrics::{FRAME_LATE_THRESHOLD, LateFrames, METRIC_NAMES};
pub use readiness::{DEFAULT_READY_FILE_NAME, READY_FILE_ENV, ReadyFile};
/// The environment variable that opens the health port when the builder sets none.
pub const HEALTH_PORT_ENV: &str = "CLAWOPS_HEALTH_PORT";

pub use shutdown::{
    DEFAULT_HANDOVER_WAIT, DRAIN_POLL_INTERVAL, ServeOptions, ShutdownSignal, Signals,
};

/// Why this process lost its number's control slot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TakeOver {
    /// How the server said it.
    pub kind: TakeOverKind,
    /// The close code: `4409` (replaced, also used for `agent.retired`) or `4403`.
    pub code: u16,
    /// The close reason (or the `reason` of `agent.retired`), possibly empty.
    pub reason: String,
}

/// How the slot was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TakeOverKind {
    /// Close `4409`: another process took the slot; the connection is gone (hard takeover).
    Replaced,
    /// Close `4403`: the number no longer belongs to the account.
    OwnershipLost,
    /// `agent.retired`: another process took the slot; the connection stays open until the
    /// server closes it, so `call.ended` (with duration) still arrives (soft takeover).
    Retired,
}

impl TakeOverKind {
    /// A short label (`replaced`, `ownership_lost`, `retired`), used as the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replaced => "replaced",
            Self::OwnershipLost => "ownership_lost",
            Self::Retired => "retired",
        }
    }
}

impl TakeOver {
    /// The notice for a terminal close code (`4409` → replaced, anything else → ownership lost).
    ///
    /// ```
    /// use clawops::agent::ops::{TakeOver, TakeOverKind};
    /// let t = TakeOver::closed(4409, "replaced");
    /// assert_eq!((t.kind, t.code, t.reason.as_str()), (TakeOverKind::Replaced, 4409, "replaced"));
    /// assert_eq!(TakeOver::closed(4403, "").kind, TakeOverKind::OwnershipLost);
    /// ```
    pub fn closed(code: u16, reason: impl Into<String>) -> Self {
        let kind = if code == super::CLOSE_REPLACED {
            TakeOverKind::Replaced
        } else {
            TakeOverKind::OwnershipLost
        };
        Self {
            kind,
            code,
            reason: reason.into(),
        }
    }

    /// The notice for `agent.retired` (reported with code `4409`, like the Python SDK).
    pub fn retired(reason: impl Into<String>) -> Self {
        Self {
            kind: TakeOverKind::Retired,
            code: super::CLOSE_REPLACED,
            reason: reason.into(),
        }
    }
}
