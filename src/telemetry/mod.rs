//! Tracing: the agent's span tree and (cargo feature `otel`) its OpenTelemetry export.
//!
//! The library logs and traces with [`tracing`] only. Every call runs inside this span tree
//! (names and attributes of providers.md §9.2, plus the attributes its docs promise:
//! `mcp.tools.count`, `tool.duration_ms`):
//!
//! ```text
//! call                      call.id, call.from, call.to, call.direction
//! ├── mcp.connect           mcp.server, mcp.server.type, mcp.server.command | mcp.server.url,
//! │                         mcp.tools.count, error            (one per MCP server, feature `mcp`)
//! └── llm.session           gen_ai.system, gen_ai.request.model, gen_ai.request.voice
//!     └── tool.call         tool.name, tool.source ("local" | "mcp"), tool.duration_ms, error
//!         └── mcp.call_tool mcp.tool.name, mcp.tool.is_error
//! ```
//!
//! `llm.session` is opened by the agent around the session's start … stop, and its `gen_ai.*`
//! attributes come from the session's telemetry. `tool.call` spans are parented explicitly to
//! `llm.session` when MCP servers are configured (the call's registry carries the parent), else
//! to the span current in the task that runs the tool. Builtin tools get no span (as the peer).
//! An outbound prewarm runs before the call is answered, outside the `call` span; the call's
//! `llm.session` span starts at answer.
//!
//! Never recorded in spans or logs: API keys and auth headers, the media token (URLs are logged
//! without query), MCP `env`, `args` and header values, MCP URL userinfo/query, tool arguments
//! and results, transcripts, audio, DTMF digits.
//!
//! With feature `otel`, `otel::layer` turns these spans into OpenTelemetry spans (tracer
//! scope [`TRACER_NAME`]); `examples/otel_agent.rs` exports them over OTLP.

#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;

use clawops_api::events::CallTelemetryData;
use tracing::Span;

use crate::agent::Call;

/// The OpenTelemetry instrumentation scope name of the agent's spans (as the peer).
pub const TRACER_NAME: &str = "clawops.agent";

/// The `call` span of one call (child of the current span).
pub(crate) fn call_span(call: &Call) -> Span {
    tracing::info_span!(
        "call",
        call.id = %call.call_id(),
        call.from = %call.from_number(),
        call.to = %call.to_number(),
        call.direction = ?call.direction(),
    )
}

/// The `llm.session` span (child of the current span); `gen_ai.*` are filled by
/// [`record_llm`].
pub(crate) fn llm_session_span() -> Span {
    tracing::info_span!(
        "llm.session",
        gen_ai.system = tracing::field::Empty,
        gen_ai.request.model = tracing::field::Empty,
        gen_ai.request.voice = tracing::field::Empty,
    )
}

/// Records the session's provider, model and voice on its `llm.session` span.
pub(crate) fn record_llm(span: &Span, telemetry: Option<&CallTelemetryData>) {
    let Some(t) = telemetry else { return };
    if let Some(llm) = &t.llm {
        if let Some(p) = &llm.provider {
            span.record("gen_ai.system", p.as_str());
        }
        if let Some(m) = &llm.model {
            span.record("gen_ai.request.model", m.as_str());
        }
    }
    if let Some(v) = t.voice.as_deref().filter(|v| !v.is_empty()) {
        span.record("gen_ai.request.voice", v);
    }
}
