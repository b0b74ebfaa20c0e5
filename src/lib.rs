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

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use clawops_api as api;
pub use clawops_api::{events, types};
