//! [`EchoSession`]: a session that plays the caller's audio back (demos, benchmarks, tests).

use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::session::{CallHandle, Session};
use super::{AgentError, DtmfInput};

/// Echoes every caller frame straight back, and hangs up when the caller confirms a passive
/// DTMF input that ends with or equals the finish key (`#`, by default delivered alone).
///
/// ```
/// use clawops::agent::{Agent, EchoSession};
///
/// let agent = Agent::builder("07012341234")
///     .api_key("sk_test")
///     .account_id("AC1")
///     .session_factory(EchoSession::default)
///     .build()?;
/// # Ok::<(), clawops::agent::AgentError>(())
/// ```
#[derive(Default)]
pub struct EchoSession {
    call: Mutex<Option<CallHandle>>,
    hangup_on_hash: bool,
}

impl std::fmt::Debug for EchoSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoSession").finish_non_exhaustive()
    }
}

impl EchoSession {
    /// An echo session that hangs up when the caller presses `#`.
    pub fn hanging_up_on_hash() -> Self {
        Self {
            call: Mutex::new(None),
            hangup_on_hash: true,
        }
    }

    fn call(&self) -> Option<CallHandle> {
        crate::sync::lock(&self.call).clone()
    }
}

#[async_trait]
impl Session for EchoSession {
    async fn attach(&self, call: CallHandle) -> Result<(), AgentError> {
        *crate::sync::lock(&self.call) = Some(call);
        Ok(())
    }

    async fn feed_audio(&self, ulaw: Bytes, _timestamp_ms: u64) {
        if let Some(call) = self.call() {
            call.send_audio(ulaw);
        }
    }

    async fn feed_dtmf(&self, digits: DtmfInput) {
        // A lone finish key arrives as "#".
        if self.hangup_on_hash
            && digits.as_str() == "#"
            && let Some(call) = self.call()
        {
            call.hangup().await;
        }
    }

    async fn stop(&self) {
        crate::sync::lock(&self.call).take();
    }
}
