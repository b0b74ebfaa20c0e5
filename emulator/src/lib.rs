//! A local, spec-true ClawOps server for tests, demos and users' own CI.
//!
//! The emulator speaks the REST API of `spec/openapi.yaml` over in-memory state, the agent control
//! WebSocket (`/v1/accounts/{accountId}/agent/listen?number=…`) and per-call media WebSockets of
//! `spec/asyncapi.yaml`, places simulated calls, and exposes a plain-HTTP control API under
//! `/_emulator/…` (see the crate README) to drive calls and inject faults. Every model and frame is
//! a `clawops_api` type, so both ends speak the one spec.
//!
//! ```no_run
//! # async fn demo() -> Result<(), clawops_emulator::Error> {
//! let emulator = clawops_emulator::Emulator::start().await?;
//! println!("{} {}", emulator.base_url(), emulator.account_id());
//! // … point a ClawOps client at emulator.base_url() with emulator.api_key() …
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod audio;
mod call;
mod callbacks;
mod config;
mod control;
mod control_api;
mod error;
mod media;
mod realtime;
mod rest;
mod state;
mod store;
mod util;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use audio::{CallerAudio, linear_to_ulaw, ulaw_to_linear};
pub use callbacks::signature;
pub use config::Config;
pub use control::{CLOSE_GOING_AWAY, CLOSE_OWNERSHIP_LOST, CLOSE_REPLACED, TakeoverStyle};
pub use error::Error;
pub use realtime::{SIMULATED_REPLY, SIMULATED_USER_TRANSCRIPT};
pub use rest::KAKAO_TEST_TOKEN;
pub use state::{DestinationScript, Faults};

use state::Shared;

/// A running emulator. Dropping it without [`Emulator::shutdown`] stops it in the background.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator with [`Config::default`] (fast mode) on an ephemeral loopback port.
    pub async fn start() -> Result<Self, Error> {
        Self::start_with(Config::default()).await
    }

    /// Starts an emulator with `config`.
    pub async fn start_with(config: Config) -> Result<Self, Error> {
        let requested = format!("{}:{}", config.host, config.port);
        let listener = tokio::net::TcpListener::bind(&requested)
            .await
            .map_err(|source| Error::Bind {
                addr: requested.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: requested,
            source,
        })?;
        let base_url = format!("http://{addr}");
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared::new(config, base_url, cancel.clone()));
        let app = Router::new()
            .merge(rest::router(shared.clone()))
            .route(
                "/v1/accounts/{account_id}/agent/listen",
                any(control::listen),
            )
            .route("/v1/agent/media/{call_id}", any(media::connect))
            .route("/v1/realtime", any(realtime::connect))
            .merge(control_api::router())
            .with_state(shared.clone());
        let shutdown = cancel.clone();
        let server = tokio::spawn(async move {
            let serve =
                axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
            if let Err(error) = serve.await {
                tracing::error!(%error, "emulator server stopped");
            }
        });
        tracing::info!(base_url = %shared.base_url, "ClawOps emulator listening");
        Ok(Self {
            shared,
            addr,
            server: Some(server),
        })
    }

    /// REST base URL, e.g. `http://127.0.0.1:41234` (the `/v1` prefix is part of each path).
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The socket address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API key the emulator accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.config.api_key
    }

    /// The emulated account id.
    pub fn account_id(&self) -> &str {
        &self.shared.config.account_id
    }

    /// The key status callbacks are signed with.
    pub fn signing_key(&self) -> &str {
        &self.shared.config.signing_key
    }

    /// Number of emulator tasks still running (calls, sockets, transfers, callbacks).
    pub fn task_count(&self) -> usize {
        self.shared.tasks.len()
    }

    /// Number of open agent control connections.
    pub fn open_control_sockets(&self) -> u64 {
        self.shared
            .open_sockets
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Calls not yet ended.
    pub fn live_calls(&self) -> usize {
        self.shared.live_call_count()
    }

    /// Stops accepting connections, ends every call and socket, and waits for all tasks.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
    }
}
