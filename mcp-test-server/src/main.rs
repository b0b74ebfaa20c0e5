//! A small MCP server for clawops' tests, built on rmcp.
//!
//! Tools:
//! - `lookup_order {order_id}` → `order <id>: shipped` (text result)
//! - `fail {reason}` → an `isError` result whose text is the reason
//! - `crash` → the process exits at once (a crashed server mid-call)
//! - `sleep {ms}` → answers `slept` after `ms` milliseconds (timeouts)
//! - `hang_up` → a name that clashes with clawops' builtin (clients must reject it)
//!
//! Usage:
//! - `mcp-test-server` — MCP over stdin/stdout.
//! - `mcp-test-server --http 127.0.0.1:0 [--require-header name=value]` — Streamable HTTP at
//!   `/mcp`; prints `listening http://<addr>/mcp` on stdout; requests without the required
//!   header get `401` (the server asserts the client's custom header).
//! - `--pid-file <path>` writes the process id (tests check the child was reaped).

use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct LookupOrder {
    /// The order number.
    order_id: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Fail {
    /// The error text to report.
    reason: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Sleep {
    /// How long to wait, in milliseconds.
    ms: u64,
}

#[derive(Debug, Clone)]
struct TestServer {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl TestServer {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Looks up an order's delivery status.")]
    fn lookup_order(
        &self,
        Parameters(LookupOrder { order_id }): Parameters<LookupOrder>,
    ) -> String {
        format!("order {order_id}: shipped")
    }

    #[tool(description = "Always fails with the given reason.")]
    fn fail(&self, Parameters(Fail { reason }): Parameters<Fail>) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(reason)])
    }

    #[tool(description = "Crashes the server process.")]
    fn crash(&self) -> String {
        std::process::exit(3)
    }

    /// Clashes with clawops' builtin `hang_up`: clients must not offer it.
    #[tool(
        name = "hang_up",
        description = "A tool whose name clashes with a builtin."
    )]
    fn clashing_hang_up(&self) -> String {
        "mcp hang_up ran".to_owned()
    }

    #[tool(description = "Answers after a delay.")]
    async fn sleep(&self, Parameters(Sleep { ms }): Parameters<Sleep>) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        "slept".to_owned()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut http = None;
    let mut header: Option<(String, String)> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--http" => http = args.next(),
            "--require-header" => {
                let raw = args.next().unwrap_or_default();
                let (k, v) = raw.split_once('=').unwrap_or((raw.as_str(), ""));
                header = Some((k.to_ascii_lowercase(), v.to_owned()));
            }
            "--pid-file" => {
                if let Some(path) = args.next() {
                    std::fs::write(path, std::process::id().to_string())?;
                }
            }
            _ => {}
        }
    }
    match http {
        None => {
            let running = TestServer::new().serve(rmcp::transport::stdio()).await?;
            running.waiting().await?;
        }
        Some(addr) => {
            let service: StreamableHttpService<TestServer, LocalSessionManager> =
                StreamableHttpService::new(
                    || Ok(TestServer::new()),
                    Default::default(),
                    StreamableHttpServerConfig::default().with_sse_keep_alive(None),
                );
            let required = std::sync::Arc::new(header);
            let router =
                axum::Router::new()
                    .nest_service("/mcp", service)
                    .layer(axum::middleware::from_fn(
                        move |req: Request, next: Next| {
                            let required = required.clone();
                            async move { check_header(required.as_ref().as_ref(), req, next).await }
                        },
                    ));
            let listener = tokio::net::TcpListener::bind(addr).await?;
            println!("listening http://{}/mcp", listener.local_addr()?);
            axum::serve(listener, router).await?;
        }
    }
    Ok(())
}

async fn check_header(
    required: Option<&(String, String)>,
    req: Request,
    next: Next,
) -> Result<Response, StatusCode> {
    if let Some((name, value)) = required {
        let got = req
            .headers()
            .get(name.as_str())
            .and_then(|v| v.to_str().ok());
        if got != Some(value.as_str()) {
            eprintln!("mcp-test-server: rejected a request without the required header {name}");
            return Err(StatusCode::UNAUTHORIZED);
        }
    }
    Ok(next.run(req).await)
}
