//! Small synchronisation helpers shared by the agent and the provider sessions.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering the guard if a panicking holder poisoned it: a user handler or tool
/// that panicked while some state was locked must not take the call (or the agent) down with
/// it, and every piece of state guarded this way stays valid between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
