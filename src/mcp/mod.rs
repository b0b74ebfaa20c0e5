//! MCP (Model Context Protocol) servers as tools of a call (cargo feature `mcp`, on
//! [rmcp](https://docs.rs/rmcp), the official Rust MCP SDK).
//!
//! Configure servers on the agent with
//! [`AgentBuilder::mcp_server`](crate::agent::AgentBuilder::mcp_server), or on a standalone
//! call with [`CallRunner::mcp_server`](crate::agent::CallRunner::mcp_server):
//!
//! - [`McpServer::stdio`]: spawn `command args…` and speak MCP over its stdin/stdout. The child
//!   gets only `HOME`, `LOGNAME`, `PATH`, `SHELL`, `TERM`, `USER` from the agent's environment
//!   plus the configured `env` (the peer's behaviour); its stderr is the agent's stderr.
//! - [`McpServer::http`]: MCP **Streamable HTTP** with the configured headers on every request
//!   (the reference's HTTP path is broken, providers.md §8.6; this one is tested on loopback).
//!
//! ## Lifecycle: per call, not pooled
//!
//! Every call opens its own connection to every configured server **before the AI session
//! starts** (connects run concurrently; tools are merged in server order, then listing order),
//! and closes them when the call ends — also when the session fails to start. Per call, as
//! the peer does, because MCP servers keep per-session state (stdio servers are one process
//! per client), a crashed or wedged server then only affects the call that used it, and
//! nothing outlives its call. The cost is one process spawn / `initialize` round trip per
//! call; measure before pooling.
//!
//! ## Tools
//!
//! Names are used as-is (no server prefix). A name that equals a user tool, a tool of an
//! earlier server, or a **builtin** (`hang_up`, `collect_dtmf`, `send_dtmf`, `transfer_call`:
//! agent-protocol §13.1 "reject clashes at registration"), or that providers would refuse
//! (not 1-64 of `A-Z a-z 0-9 _ -`), is rejected with `Tool name conflict: <name>` in the log
//! and not offered; the call goes on with the other tools. The schema is the server's
//! `inputSchema` verbatim (`{"type":"object","properties":{}}` when empty), the description
//! the server's or `""`.
//!
//! ## Failures never kill a call
//!
//! A server that cannot be reached within [`McpServer::connect_timeout`] (default
//! [`DEFAULT_CONNECT_TIMEOUT`]) is skipped (logged; its tools are absent). A tool call is
//! forwarded with [`McpServer::call_timeout`] (default [`DEFAULT_CALL_TIMEOUT`]); an
//! `isError` result, a crashed server, a transport error or a timeout reaches the model as
//! `MCP Error: <text>` ([`ToolOutput::McpError`]) so it
//! can say so, and counts as a tool error in the call metrics. Results are the `text` of every
//! text content item joined with `\n` (other content is dropped).
//!
//! ## Tracing
//!
//! `mcp.connect` (child of `call`: `mcp.server`, `mcp.server.type`, `mcp.server.command` or
//! `mcp.server.url` without userinfo/query, `mcp.tools.count`, `error`) and `mcp.call_tool`
//! (child of `tool.call`: `mcp.tool.name`, `mcp.tool.is_error`). Arguments, results, `env`,
//! `args` and header values are never recorded or logged by this crate (error texts from the
//! transport are scrubbed of them). Note that rmcp itself logs whole JSON-RPC messages (tool
//! arguments and results) at `TRACE` under the `rmcp` target: keep `rmcp` at `debug` or
//! above in production filters (e.g. `RUST_LOG=info,rmcp=info`).
//!
//! ```no_run
//! use std::time::Duration;
//! use clawops::agent::{Agent, EchoSession};
//! use clawops::mcp::McpServer;
//!
//! # fn demo() -> Result<(), clawops::agent::AgentError> {
//! let agent = Agent::builder("07012341234")
//!     .session_factory(EchoSession::default)
//!     .mcp_server(McpServer::stdio("my-mcp-server", ["--read-only"], [("LOG", "warn")]))
//!     .mcp_server(
//!         McpServer::http("https://mcp.example.com/mcp", [("x-api-key", "secret")])
//!             .call_timeout(Duration::from_secs(10)),
//!     )
//!     .build()?;
//! # let _ = agent; Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::{Peer, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::agent::{AgentError, ToolOutput, ToolRegistry, ToolSpec};

/// How long connecting (spawn or HTTP, `initialize`, `tools/list`) may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one forwarded tool call may take by default.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long closing one server may take at call end (the peer's 5 s); stdio children are
/// still killed and reaped in the background after that.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Environment variables a stdio server inherits from the agent (the peer's mcp library set).
const INHERITED_ENV: [&str; 6] = ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

#[derive(Clone)]
enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
}

/// One MCP server configuration (see the [module docs](self)).
#[derive(Clone)]
#[non_exhaustive]
pub struct McpServer {
    transport: Transport,
    connect_timeout: Duration,
    call_timeout: Duration,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets live in env, args and header values: only names are shown.
        let mut d = f.debug_struct("McpServer");
        match &self.transport {
            Transport::Stdio { command, args, env } => d
                .field("command", command)
                .field("args", &args.len())
                .field("env", &env.keys().collect::<Vec<_>>()),
            Transport::Http { headers, .. } => d.field("url", &self.label()).field(
                "headers",
                &headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ),
        };
        d.field("connect_timeout", &self.connect_timeout)
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

impl McpServer {
    /// A server spawned as `command args…` speaking MCP over stdin/stdout, with `env` added to
    /// the small inherited environment.
    ///
    /// ```
    /// let s = clawops::mcp::McpServer::stdio("npx", ["-y", "server"], [("TOKEN", "s3cret")]);
    /// assert_eq!(s.kind(), "stdio");
    /// assert!(!format!("{s:?}").contains("s3cret"));
    /// ```
    pub fn stdio<A, E, K, V>(command: impl Into<String>, args: A, env: E) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        E: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::new(Transport::Stdio {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: env.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        })
    }

    /// A Streamable HTTP server at `url`, with `headers` sent on every request.
    ///
    /// ```
    /// let s = clawops::mcp::McpServer::http("https://u:p@mcp.example.com/mcp?key=k", [("x-api-key", "s3cret")]);
    /// assert_eq!(s.kind(), "http");
    /// assert_eq!(s.label(), "https://mcp.example.com/mcp");
    /// assert!(!format!("{s:?}").contains("s3cret"));
    /// ```
    pub fn http<H, K, V>(url: impl Into<String>, headers: H) -> Self
    where
        H: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::new(Transport::Http {
            url: url.into(),
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        })
    }

    fn new(transport: Transport) -> Self {
        Self {
            transport,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// Limit for connecting (spawn/HTTP, `initialize`, `tools/list`); default 10 s.
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// Limit for one forwarded tool call; default 30 s.
    pub fn call_timeout(mut self, limit: Duration) -> Self {
        self.call_timeout = limit;
        self
    }

    /// `"stdio"` or `"http"` (the `mcp.server.type` span attribute).
    pub fn kind(&self) -> &'static str {
        match self.transport {
            Transport::Stdio { .. } => "stdio",
            Transport::Http { .. } => "http",
        }
    }

    /// What logs and spans show: the command (no args/env), or the URL without userinfo,
    /// query or fragment.
    pub fn label(&self) -> String {
        match &self.transport {
            Transport::Stdio { command, .. } => command.clone(),
            Transport::Http { url, .. } => sanitize_url(url),
        }
    }

    /// Hides this server's secrets (URL query/userinfo, header values, env values and args)
    /// in a text such as an error message.
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let mut secrets: Vec<&str> = Vec::new();
        match &self.transport {
            Transport::Stdio { args, env, .. } => {
                secrets.extend(env.values().map(String::as_str));
                secrets.extend(args.iter().map(String::as_str));
            }
            Transport::Http { url, headers } => {
                if let Ok(parsed) = url::Url::parse(url) {
                    if let Some(q) = parsed.query() {
                        out = out.replace(q, "<redacted>");
                    }
                    if let Some(p) = parsed.password() {
                        out = out.replace(p, "<redacted>");
                    }
                }
                secrets.extend(headers.iter().map(|(_, v)| v.as_str()));
            }
        }
        for s in secrets {
            if s.len() >= 3 {
                out = out.replace(s, "<redacted>");
            }
        }
        out
    }
}

fn sanitize_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<invalid url>".to_owned(),
    }
}

type Client = RunningService<RoleClient, ()>;

/// Connected servers (in configuration order; `None` for those that failed) whose tools are
/// not registered yet.
pub(crate) struct Connected(Vec<Option<(Client, Vec<Tool>)>>);

/// One open server connection of a call.
struct Connection {
    label: String,
    client: Client,
}

/// The MCP connections of one call: closed (and stdio children reaped) by
/// [`CallMcp::close`]; dropping it cancels them in the background.
#[derive(Default)]
pub(crate) struct CallMcp {
    connections: Vec<Connection>,
}

impl std::fmt::Debug for CallMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.connections.iter().map(|c| &c.label))
            .finish()
    }
}

impl CallMcp {
    /// Connects every server (concurrently, each in its own `mcp.connect` span under the
    /// current span). Servers that fail are skipped (logged).
    pub(crate) async fn connect(servers: &[McpServer]) -> Connected {
        Connected(futures::future::join_all(servers.iter().map(connect_traced)).await)
    }

    /// Registers the connected servers' tools into `registry` in server order, then listing
    /// order; rejected tool names are logged and skipped.
    pub(crate) fn register(
        servers: &[McpServer],
        connected: Connected,
        registry: &mut ToolRegistry,
    ) -> Self {
        let mut connections = Vec::new();
        for (server, result) in servers.iter().zip(connected.0) {
            let Some((client, tools)) = result else {
                continue;
            };
            let peer = client.peer().clone();
            for tool in tools {
                let name = tool.name.to_string();
                if let Err(error) = registry.register_raw(
                    tool_spec(&tool),
                    "mcp",
                    tool_handler(server, peer.clone(), name.clone()),
                ) {
                    let message = match error {
                        AgentError::InvalidArgument { message, .. } => message,
                        other => other.to_string(),
                    };
                    tracing::error!(mcp.server = %server.label(), tool = %name, %message, "MCP tool rejected");
                }
            }
            connections.push(Connection {
                label: server.label(),
                client,
            });
        }
        Self { connections }
    }

    /// Number of open connections.
    pub(crate) fn len(&self) -> usize {
        self.connections.len()
    }

    /// Closes every connection (each bounded by [`CLOSE_TIMEOUT`]): stdio children get EOF,
    /// then SIGTERM, then a kill, and are waited for (no zombies); HTTP sessions get `DELETE`.
    pub(crate) async fn close(self) {
        let closes = self.connections.into_iter().map(|mut c| async move {
            match c.client.close_with_timeout(CLOSE_TIMEOUT).await {
                Ok(Some(_)) => tracing::debug!(mcp.server = %c.label, "MCP server closed"),
                Ok(None) => {
                    tracing::warn!(mcp.server = %c.label, "MCP server did not close in time; it is killed in the background")
                }
                Err(error) => {
                    tracing::warn!(mcp.server = %c.label, %error, "MCP client task failed while closing")
                }
            }
        });
        futures::future::join_all(closes).await;
    }
}

fn tool_spec(tool: &Tool) -> ToolSpec {
    let parameters = if tool.input_schema.is_empty() {
        json!({"type": "object", "properties": {}})
    } else {
        Value::Object((*tool.input_schema).clone())
    };
    ToolSpec::new(
        tool.name.to_string(),
        tool.description.as_deref().unwrap_or_default(),
        parameters,
    )
}

async fn connect_traced(server: &McpServer) -> Option<(Client, Vec<Tool>)> {
    let label = server.label();
    let span = tracing::info_span!(
        "mcp.connect",
        mcp.server = %label,
        mcp.server.type = server.kind(),
        mcp.server.command = tracing::field::Empty,
        mcp.server.url = tracing::field::Empty,
        mcp.tools.count = tracing::field::Empty,
        error = tracing::field::Empty,
    );
    match server.transport {
        Transport::Stdio { .. } => span.record("mcp.server.command", label.as_str()),
        Transport::Http { .. } => span.record("mcp.server.url", label.as_str()),
    };
    let work = async {
        match tokio::time::timeout(server.connect_timeout, connect(server)).await {
            Ok(Ok((client, tools))) => {
                tracing::Span::current().record("mcp.tools.count", tools.len() as i64);
                tracing::Span::current().record("error", false);
                tracing::info!(mcp.server = %label, tools = tools.len(), "MCP server connected");
                Some((client, tools))
            }
            Ok(Err(error)) => {
                tracing::Span::current().record("error", true);
                tracing::warn!(mcp.server = %label, error = %server.redact(&error), "MCP server connection failed; its tools are unavailable for this call");
                None
            }
            Err(_) => {
                tracing::Span::current().record("error", true);
                tracing::warn!(mcp.server = %label, timeout_ms = server.connect_timeout.as_millis() as u64, "MCP server connection timed out; its tools are unavailable for this call");
                None
            }
        }
    };
    work.instrument(span).await
}

async fn connect(server: &McpServer) -> Result<(Client, Vec<Tool>), String> {
    let client = match &server.transport {
        Transport::Stdio { command, args, env } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).env_clear().kill_on_drop(true);
            for key in INHERITED_ENV {
                if let Some(v) = std::env::var_os(key) {
                    cmd.env(key, v);
                }
            }
            cmd.envs(env);
            let (transport, _) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::inherit())
                .spawn()
                .map_err(|e| format!("could not start {command}: {e}"))?;
            ().serve(transport).await.map_err(|e| e.to_string())?
        }
        Transport::Http { url, headers } => {
            let mut custom = HashMap::new();
            for (k, v) in headers {
                let name = http::HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| format!("invalid header name {k:?}"))?;
                let mut value = http::HeaderValue::from_str(v)
                    .map_err(|_| format!("invalid value for header {k:?}"))?;
                value.set_sensitive(true);
                custom.insert(name, value);
            }
            let transport = StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom),
            );
            ().serve(transport).await.map_err(|e| e.to_string())?
        }
    };
    match client.list_all_tools().await {
        Ok(tools) => Ok((client, tools)),
        Err(error) => {
            let mut client = client;
            let _ = client.close_with_timeout(CLOSE_TIMEOUT).await;
            Err(format!("tools/list failed: {error}"))
        }
    }
}

fn tool_handler(
    server: &McpServer,
    peer: Peer<RoleClient>,
    name: String,
) -> Box<crate::agent::tools::Handler> {
    let server = Arc::new(server.clone());
    Box::new(move |args: Value| {
        call_tool(Arc::clone(&server), peer.clone(), name.clone(), args).boxed()
    })
}

/// Forwards one tool call inside an `mcp.call_tool` span; every failure becomes
/// [`ToolOutput::McpError`].
async fn call_tool(
    server: Arc<McpServer>,
    peer: Peer<RoleClient>,
    name: String,
    args: Value,
) -> ToolOutput {
    let span = tracing::info_span!(
        "mcp.call_tool",
        mcp.tool.name = %name,
        mcp.tool.is_error = tracing::field::Empty,
    );
    let work = async {
        let arguments: Map<String, Value> = match args {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => return ToolOutput::McpError("arguments must be a JSON object".into()),
        };
        let params = CallToolRequestParams::new(name.clone()).with_arguments(arguments);
        match tokio::time::timeout(server.call_timeout, peer.call_tool(params)).await {
            Err(_) => {
                tracing::warn!(mcp.server = %server.label(), tool = %name, "MCP tool call timed out");
                ToolOutput::McpError(format!(
                    "tool {name} timed out after {} ms",
                    server.call_timeout.as_millis()
                ))
            }
            Ok(Err(error)) => {
                let message = server.redact(&error.to_string());
                tracing::warn!(mcp.server = %server.label(), tool = %name, error = %message, "MCP tool call failed");
                ToolOutput::McpError(format!("MCP server {} failed: {message}", server.label()))
            }
            Ok(Ok(result)) => {
                let text = result_text(&result);
                if result.is_error == Some(true) {
                    tracing::Span::current().record("mcp.tool.is_error", true);
                    ToolOutput::McpError(text)
                } else {
                    ToolOutput::Text(text)
                }
            }
        }
    };
    work.instrument(span).await
}

/// The `text` of every text content item, joined with `\n` (§8.4).
fn result_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}
