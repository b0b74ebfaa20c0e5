//! Settings and signal source of the `serve()` shutdown state machine.
//!
//! Signals escalate one step each. SIGTERM #1 starts the **handover**: the process keeps its
//! slot and keeps accepting calls for up to `handover_wait` until the server says a successor
//! took over (`agent.retired`); it never reconnects from then on and marks any reconnect URL
//! `role=retiring`. SIGTERM #2 stops waiting and **drains**: new calls go elsewhere, calls in
//! progress run to their end (no default deadline). SIGTERM #3 **cuts** what is left. SIGINT
//! #1 skips the handover (a developer pressing Ctrl-C must not wait 20 s), so two Ctrl-C cut.
//! One absolute `shutdown_deadline`, counted from the first trigger, is shared by both phases
//! (never added). The handlers stay installed until `serve()` returns.

use std::time::Duration;

/// Default `handover_wait`: short, because with no successor (scale-in) calls accepted during
/// the wait may be cut by the platform's kill.
pub const DEFAULT_HANDOVER_WAIT: Duration = Duration::from_secs(20);
/// How often the drain checks whether the last call ended.
pub const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Options of [`Agent::serve_with`](crate::agent::Agent::serve_with).
///
/// ```
/// use std::time::Duration;
/// use clawops::agent::ops::ServeOptions;
/// let o = ServeOptions::new();
/// assert_eq!(o.handover_wait, Duration::from_secs(20));
/// assert_eq!((o.drain_timeout, o.shutdown_deadline), (None, None));
/// let o = ServeOptions::new().handover_wait(Duration::ZERO).shutdown_deadline(Duration::from_secs(110));
/// assert_eq!(o.shutdown_deadline, Some(Duration::from_secs(110)));
/// assert!(o.wait_for_signal_after_takeover);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct ServeOptions {
    /// How long SIGTERM #1 keeps the slot while waiting for `agent.retired` (default 20 s;
    /// zero skips the handover).
    pub handover_wait: Duration,
    /// Longest drain (default none: calls in progress run to their end; only the platform's
    /// kill or a third signal cuts them).
    pub drain_timeout: Option<Duration>,
    /// One absolute budget from the first trigger for handover and drain together (default
    /// none). Set it a little below the platform's grace period to clean up before SIGKILL.
    pub shutdown_deadline: Option<Duration>,
    /// After a takeover that came before any stop signal, wait for SIGTERM or SIGINT before
    /// returning (default `true`). In a rolling deploy the successor usually takes the number
    /// *before* the orchestrator stops this process; returning then would exit the container,
    /// the orchestrator would restart it, and the restarted process would take the number back
    /// from its successor. Set `false` where an exit is never restarted (a one-off run, tests).
    pub wait_for_signal_after_takeover: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            handover_wait: DEFAULT_HANDOVER_WAIT,
            drain_timeout: None,
            shutdown_deadline: None,
            wait_for_signal_after_takeover: true,
        }
    }
}

impl ServeOptions {
    /// The defaults: 20 s handover, no drain limit, no deadline.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `handover_wait`.
    pub fn handover_wait(mut self, wait: Duration) -> Self {
        self.handover_wait = wait;
        self
    }
    /// Sets `drain_timeout`.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }
    /// Sets `shutdown_deadline`.
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = Some(deadline);
        self
    }
    /// Sets `wait_for_signal_after_takeover`.
    pub fn wait_for_signal_after_takeover(mut self, wait: bool) -> Self {
        self.wait_for_signal_after_takeover = wait;
        self
    }
}

/// A shutdown signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownSignal {
    /// SIGTERM (the orchestrator stopping the container).
    Term,
    /// SIGINT (Ctrl-C).
    Int,
}

/// SIGTERM and SIGINT listeners, installed once and kept until dropped (Tokio keeps the
/// process-level handler installed from then on, so a late SIGTERM never falls back to the
/// default action that would kill the process and its calls).
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the listeners (needs a Tokio runtime with signal support).
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// The next signal.
    pub async fn recv(&mut self) -> ShutdownSignal {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.term.recv() => ShutdownSignal::Term,
                Some(()) = self.int.recv() => ShutdownSignal::Int,
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => ShutdownSignal::Int,
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// The escalation counter of `serve()`.
#[derive(Debug, Default)]
pub(crate) struct Escalation {
    pub(crate) count: u32,
    pub(crate) skip_handover: bool,
    pub(crate) cut: bool,
}

impl Escalation {
    /// One more signal: #1 starts (SIGINT also skips the handover), #2 skips the handover, the
    /// next one cuts.
    pub(crate) fn on_signal(&mut self, signal: ShutdownSignal) {
        self.count += 1;
        if self.count == 1 {
            tracing::info!(?signal, "shutdown signal received: stopping");
            if signal == ShutdownSignal::Int {
                self.skip_handover = true;
            }
        } else if !self.skip_handover {
            tracing::warn!(
                ?signal,
                "second shutdown signal: not waiting for the handover any more"
            );
            self.skip_handover = true;
        } else {
            tracing::warn!(
                ?signal,
                "repeated shutdown signal: cutting the calls in progress"
            );
            self.cut = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_steps() {
        let mut e = Escalation::default();
        e.on_signal(ShutdownSignal::Term);
        assert!(!e.skip_handover && !e.cut);
        e.on_signal(ShutdownSignal::Term);
        assert!(e.skip_handover && !e.cut);
        e.on_signal(ShutdownSignal::Term);
        assert!(e.cut);
        let mut i = Escalation::default();
        i.on_signal(ShutdownSignal::Int);
        assert!(i.skip_handover && !i.cut);
        i.on_signal(ShutdownSignal::Int);
        assert!(i.cut);
    }
}
