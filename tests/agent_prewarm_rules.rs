//! The one prewarm entry point and its checks (incident 14 and §13.1 "`call.ringing` prewarm
//! ignores the tools-frozen + MCP check"): a session whose tools are fixed at connect prewarms
//! an outbound call unless MCP servers will add tools at answer.

mod agent_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_common::*;
use async_trait::async_trait;
use bytes::Bytes;
use clawops::agent::{AgentBuilder, AgentError, CallHandle, CallOptions, DtmfInput, Session};
use clawops::types::CallStatus;
use serde_json::json;

/// Counts how the agent bound it; tools are frozen at connect, like Gemini Live.
#[derive(Clone, Default)]
struct Frozen {
    prewarms: Arc<AtomicUsize>,
    starts: Arc<AtomicUsize>,
}

struct FrozenSession(Frozen);

#[async_trait]
impl Session for FrozenSession {
    fn tools_frozen_after_prewarm(&self) -> bool {
        true
    }
    async fn prewarm(&self, _stand_in: CallHandle) -> Result<(), AgentError> {
        self.0.prewarms.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn attach(&self, _call: CallHandle) -> Result<(), AgentError> {
        Ok(())
    }
    async fn start(&self, _call: CallHandle) -> Result<(), AgentError> {
        self.0.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn feed_audio(&self, _ulaw: Bytes, _timestamp_ms: u64) {}
    async fn feed_dtmf(&self, _digits: DtmfInput) {}
    async fn stop(&self) {}
}

async fn place(
    emu: &clawops_emulator::Emulator,
    to: &str,
    builder: AgentBuilder,
    counts: &Frozen,
) -> (usize, usize) {
    assert_eq!(
        put(
            emu,
            &format!("/_emulator/destinations/{to}"),
            json!({"outcome": "answer", "seconds": 0.2, "hangupAfterAudio": true})
        )
        .await,
        200
    );
    let c = counts.clone();
    let agent = builder
        .session_factory(move || FrozenSession(c.clone()))
        .build()
        .expect("agent builds");
    let call = agent
        .call(to, CallOptions::new())
        .await
        .expect("originated");
    let status = tokio::time::timeout(std::time::Duration::from_secs(15), call.wait())
        .await
        .expect("call ends");
    assert_eq!(status, CallStatus::Completed);
    agent.disconnect().await;
    (
        counts.prewarms.load(Ordering::SeqCst),
        counts.starts.load(Ordering::SeqCst),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_tools_session_prewarms_when_no_mcp_server_is_configured() {
    let emu = emulator().await;
    let counts = Frozen::default();
    let (prewarms, starts) = place(&emu, "01060006000", agent_builder(&emu, NUMBER), &counts).await;
    assert_eq!(
        (prewarms, starts),
        (1, 0),
        "prewarmed at ringing, attached at answer"
    );
    emu.shutdown().await;
}

#[cfg(feature = "mcp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_14_frozen_tools_session_skips_prewarm_when_mcp_servers_are_configured() {
    let emu = emulator().await;
    let counts = Frozen::default();
    // The server never starts (no such program): the call still goes on, but the decision to
    // prewarm is taken before, from the configuration alone.
    let builder = agent_builder(&emu, NUMBER).mcp_server(clawops::mcp::McpServer::stdio(
        "/nonexistent/mcp-server",
        Vec::<String>::new(),
        Vec::<(String, String)>::new(),
    ));
    let (prewarms, starts) = place(&emu, "01060006001", builder, &counts).await;
    assert_eq!(
        (prewarms, starts),
        (0, 1),
        "no prewarm: tools are only complete at answer, so the session starts then"
    );
    emu.shutdown().await;
}
