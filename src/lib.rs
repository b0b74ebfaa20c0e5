//! # clawops
//!
//! The Rust SDK for the ClawOps Voice API (calls, SMS/LMS/MMS and Kakao messages, numbers,
//! recordings, transcripts, webhooks) and its voice AI agent.
//!
//! This crate is the handwritten, ergonomic layer. Everything wire-level is generated from
//! `spec/` into the [`clawops-api`](clawops_api) crate and re-exported here:
//!
//! - [`types`]: REST models and open vocabularies;
//! - [`events`]: control and media WebSocket messages.
//!
//! ```
//! use clawops::events::{CallAccept, ControlCommand};
//!
//! let accept = ControlCommand::from(CallAccept { call_id: "CA1".into() });
//! assert_eq!(accept.to_json().unwrap(), r#"{"event":"call.accept","callId":"CA1"}"#);
//! ```
//!
//! ## REST client
//!
//! [`ClawOps`] is the REST client: build it once (key, account and base URL from arguments or
//! `CLAWOPS_API_KEY` / `CLAWOPS_ACCOUNT_ID` / `CLAWOPS_BASE_URL`), clone it freely, and reach
//! every resource from it; [`ClawOps::account`] gives the same resources for another account.
//!
//! ```no_run
//! use clawops::resources::{CreateCall, ListCalls, SendMessage};
//! use clawops::{ClawOps, ErrorKind, RequestOptions};
//! use futures::TryStreamExt;
//! use std::time::Duration;
//!
//! # async fn run() -> clawops::Result<()> {
//! let client = ClawOps::builder().api_key("sk_…").account_id("AC…").build()?;
//!
//! // Place a call (VoiceML, managed agent, call flow or Agent SDK mode).
//! let call = client
//!     .calls()
//!     .create(CreateCall::new("01012345678", "07052358010").url("https://my-app.com/voiceml"))
//!     .await?;
//!
//! // Send an SMS; errors carry status, server message, `code` and request id.
//! match client.messages().send(SendMessage::text("010…", "070…", "안녕하세요")).await {
//!     Err(e) if e.kind() == ErrorKind::UnprocessableEntity => eprintln!("refused: {e}"),
//!     other => { other?; }
//! }
//!
//! // Every completed call, fetched lazily 100 at a time, with a per-request timeout.
//! let calls: Vec<_> = client
//!     .calls()
//!     .with_options(RequestOptions::new().timeout(Duration::from_secs(10)))
//!     .list(ListCalls::new().status(clawops::types::CallStatus::Completed).page_size(100))
//!     .auto_paging()
//!     .try_collect()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Retries never double-dial: requests that create something (POST) are retried only when
//! they provably did not reach the server or were refused without effect (429, 503); see
//! [`retry`]. Every failure is a [`Error`]; webhook signatures are checked with [`webhook`].
//!
//! ## Voice AI providers
//!
//! The agent's AI sessions live in [`providers`]. Besides the realtime sessions, the
//! `pipeline` feature adds an STT → LLM → TTS session (`providers::pipeline`) whose providers
//! each have their own feature: `deepgram`, `elevenlabs`, `openai-compatible` (OpenAI, Groq,
//! Together, Fireworks, DeepSeek, xAI, Mistral, Perplexity, Ollama), `anthropic` and `gemini`.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use clawops_api as api;
pub use clawops_api::{events, types};

// Voice agent building blocks (issue 6, part 1).
pub mod agent;
pub mod audio;

// AI provider sessions (issue 7).
pub mod providers;

// MCP servers as tools, and tracing with OpenTelemetry (issue 9).
#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
pub mod mcp;
pub mod telemetry;

// REST client (issue 4).
mod client;
mod config;
mod error;
mod multipart;
pub mod pagination;
mod request_options;
pub mod resources;
pub mod retry;
mod sync;
pub mod webhook;

#[doc(hidden)]
pub use client::__error_from_response;
pub use client::{Account, ClawOps};
pub use config::{ClientBuilder, DEFAULT_BASE_URL, USER_AGENT};
pub use error::{ApiError, ClawOpsErrorCode, Error, ErrorKind, Operation, Result};
pub use pagination::{ListRequest, Page};
pub use request_options::RequestOptions;
pub use reqwest;
pub use retry::{Backoff, RetryMode};
