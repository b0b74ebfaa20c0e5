//! Glue between the call driver and [`crate::mcp`] that compiles with and without the `mcp`
//! feature (without it, there are never servers and every step is a no-op).

use tracing::Span;

use super::session::{Session, SessionTools};

/// MCP servers configured on an agent builder.
#[derive(Clone, Debug, Default)]
pub(crate) struct McpServers {
    #[cfg(feature = "mcp")]
    pub(crate) servers: Vec<crate::mcp::McpServer>,
}

impl McpServers {
    /// The per-call plan: these servers merged into `base` (the agent's tools).
    pub(crate) fn into_plan(self, base: SessionTools) -> McpPlan {
        #[cfg(feature = "mcp")]
        {
            McpPlan {
                servers: self.servers.into(),
                base,
            }
        }
        #[cfg(not(feature = "mcp"))]
        {
            let _ = base;
            McpPlan::default()
        }
    }
}

/// What every call of an agent does with MCP servers.
#[derive(Clone, Debug, Default)]
pub(crate) struct McpPlan {
    #[cfg(feature = "mcp")]
    servers: std::sync::Arc<[crate::mcp::McpServer]>,
    #[cfg(feature = "mcp")]
    base: SessionTools,
}

impl McpPlan {
    /// Configured servers (the `mcpServerCount` telemetry field).
    pub(crate) fn server_count(&self) -> usize {
        #[cfg(feature = "mcp")]
        {
            self.servers.len()
        }
        #[cfg(not(feature = "mcp"))]
        {
            0
        }
    }

    /// Connects the servers (`mcp.connect` spans under the current span), then opens the
    /// call's `llm.session` span (so it starts after the connects), builds the call's tools
    /// (agent tools + MCP tools, `tool.call` spans parented to `llm.session`) and gives them
    /// to the session **before** it starts or attaches (an attach after prewarm resyncs
    /// them, incident 14). Without servers only the span is opened and the session keeps
    /// the tools it has.
    pub(crate) async fn open(&self, session: &dyn Session) -> (CallMcpState, Span) {
        #[cfg(feature = "mcp")]
        {
            if self.servers.is_empty() {
                return (
                    CallMcpState::default(),
                    crate::telemetry::llm_session_span(),
                );
            }
            let connected = crate::mcp::CallMcp::connect(&self.servers).await;
            let llm_session = crate::telemetry::llm_session_span();
            let mut tools = self.base.clone();
            tools.registry.set_trace_parent(llm_session.clone());
            let connections =
                crate::mcp::CallMcp::register(&self.servers, connected, &mut tools.registry);
            let tool_count = tools.registry.len();
            tracing::debug!(
                servers = connections.len(),
                tools = tool_count,
                "call tools ready"
            );
            session.set_tools(tools);
            let state = CallMcpState {
                connections: Some(connections),
                tool_count: Some(tool_count),
            };
            (state, llm_session)
        }
        #[cfg(not(feature = "mcp"))]
        {
            let _ = session;
            (
                CallMcpState::default(),
                crate::telemetry::llm_session_span(),
            )
        }
    }
}

/// One call's open MCP connections.
#[derive(Debug, Default)]
pub(crate) struct CallMcpState {
    #[cfg(feature = "mcp")]
    connections: Option<crate::mcp::CallMcp>,
    /// User + MCP tool count of this call, when MCP changed it.
    pub(crate) tool_count: Option<usize>,
}

impl CallMcpState {
    /// Closes the connections (bounded; stdio children reaped).
    pub(crate) async fn close(self) {
        #[cfg(feature = "mcp")]
        if let Some(c) = self.connections {
            c.close().await;
        }
    }
}
