//! The health port: a minimal HTTP/1.1 responder for probes and Prometheus.
//!
//! It reads only the request line (2 s limit), answers and closes. `/metrics` gets the
//! Prometheus text page; every other path gets readiness, byte for byte as the Python SDK
//! answers (`200 ready` / `503 not ready`): a typo in a probe path must not fail a rollout.
//! It is opened before the first connect, so probes see 503 instead of "connection refused"
//! while start-up is slow.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::AgentMetrics;

const READY: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nready";
const NOT_READY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\nnot ready";

/// What the port reports, read at each request.
pub(crate) trait HealthState: Send + Sync + 'static {
    fn ready(&self) -> bool;
    fn active_calls(&self) -> usize;
    fn metrics(&self) -> Option<Arc<AgentMetrics>>;
}

/// A running health port; dropping it does not stop it, [`HealthServer::stop`] does.
#[derive(Debug)]
pub(crate) struct HealthServer {
    pub(crate) addr: SocketAddr,
    cancel: CancellationToken,
}

impl HealthServer {
    /// Binds `0.0.0.0:port` (0 = any free port) and serves in a task of `tasks`.
    pub(crate) async fn start(
        port: u16,
        state: Arc<dyn HealthState>,
        tasks: &tokio_util::task::TaskTracker,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("0.0.0.0", port)).await?;
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                    accepted = listener.accept() => {
                        let Ok((sock, _)) = accepted else { continue };
                        let state = state.clone();
                        conns.spawn(answer(sock, state));
                    }
                }
            }
            conns.shutdown().await;
        });
        tracing::info!(port = addr.port(), "health port open (/healthz, /metrics)");
        Ok(Self { addr, cancel })
    }

    pub(crate) fn stop(&self) {
        self.cancel.cancel();
    }
}

async fn answer(sock: tokio::net::TcpStream, state: Arc<dyn HealthState>) {
    let mut reader = BufReader::new(sock);
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(2), reader.read_line(&mut line)).await;
    if !matches!(read, Ok(Ok(_))) {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path);
    let mut sock = reader.into_inner();
    let response: Vec<u8> = match (path, state.metrics()) {
        ("/metrics", Some(metrics)) => {
            let body = metrics.render(state.ready(), state.active_calls());
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body.as_bytes());
            r
        }
        _ if state.ready() => READY.to_vec(),
        _ => NOT_READY.to_vec(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = sock.write_all(&response).await;
        let _ = sock.shutdown().await;
    })
    .await;
}
