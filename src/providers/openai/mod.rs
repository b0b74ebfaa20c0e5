//! OpenAI Realtime (GA protocol) as a voice-agent [`Session`](crate::agent::Session).
//!
//! One WebSocket per call to `<base>/realtime?model=<model>` (`OPENAI_BASE_URL`, default
//! `https://api.openai.com/v1`, scheme switched to `wss`/`ws`), `Authorization: Bearer
//! <OPENAI_API_KEY>`. The first frame is a `session.update` with μ-law (`audio/pcmu`) input and
//! output — phone audio passes through untouched — the voice, input transcription (model,
//! language, optional prompt), turn detection (semantic or server VAD) and **every tool of the
//! call** (user tools, then enabled builtins; incident 0.37.1). The greeting (`response.create`)
//! follows at once.
//!
//! # Conversation
//!
//! Caller frames become `input_audio_buffer.append`; assistant audio deltas go to the call as
//! they arrive, in whole 20 ms frames (a short tail is carried to the next delta and sent raw
//! at the end of the response, so no silence padding lands mid-speech). Transcripts of both
//! sides surface as `transcript_delta` (cumulative) and `transcript` events. Each function
//! call runs in its own task (hold audio around user tools if configured) and is answered with
//! `function_call_output` + `response.create`; `hang_up` is answered with nothing.
//!
//! # Barge-in and truncation (a deliberate difference from the Python SDK)
//!
//! On `input_audio_buffer.speech_started` the session clears the call's queued audio, cancels
//! in-flight tool tasks (no output is sent for them), and — unless
//! [`truncate_on_barge_in(false)`](OpenAIRealtimeBuilder::truncate_on_barge_in) — sends
//! `conversation.item.truncate` with `audio_end_ms` = the audio the caller **actually heard**.
//! That position comes from media `mark` echoes: every chunk handed to the call is followed by
//! a mark, and the server echoes a mark only once everything before it has played. The
//! position is therefore exact to the chunk, never a wall-clock estimate. The Python SDK
//! stopped truncating because its wall-clock estimate cut context the caller had heard; with
//! exact positions, truncation keeps the model from believing it said what the caller never
//! heard. `response.cancel` is never sent: `interrupt_response` makes the server cancel.
//!
//! # Prewarm
//!
//! [`Session::prewarm`](crate::agent::Session::prewarm) connects, configures (tools included)
//! and starts the greeting while the phone rings; audio is buffered in memory and handed to
//! the call, in order, inside [`Session::attach`](crate::agent::Session::attach), before the
//! media socket opens, so the greeting leaves with the first media write. Tools added later
//! (MCP) re-send `session.update`. A session that is never attached is closed by `stop()`.
//!
//! # Errors
//!
//! Server `error` events are logged with type and code; fatal ones (bad key, unknown model,
//! quota, expired session) fail a starting session — the agent then sends
//! `call.session_failed` — or, once the call runs, end it with `session_lost` (never a silent
//! call). A dropped socket is treated the same way.
//!
//! The README headline (this exact code is compiled as a doctest):
//!
//! ```no_run
//! use clawops::agent::{Agent, ToolRegistry};
//! use clawops::providers::openai::OpenAIRealtime;
//!
//! /// 주문 상태를 확인합니다.
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct CheckOrder { order_id: String }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut tools = ToolRegistry::new();
//!     tools.register("check_order", |_: CheckOrder| async { Ok::<_, std::convert::Infallible>("배송 완료") })?;
//!     Agent::builder("07012341234")
//!         .session_factory(OpenAIRealtime::builder()
//!             .system_prompt("친절한 상담원입니다. 고객의 질문에 답변해주세요.")
//!             .voice("marin")
//!             .language("ko")
//!             .factory()?)
//!         .tools(tools)
//!         .on_call_start(|call| async move { println!("통화 시작: {} -> {}", call.from_number(), call.to_number()) })
//!         .build()?
//!         .serve()
//!         .await?;
//!     Ok(())
//! }
//! ```

mod client_events;
mod config;
mod error;
mod session;

pub use config::{
    DEFAULT_BASE_URL, DEFAULT_MODEL, DEFAULT_TRANSCRIPTION_MODEL, DEFAULT_VOICE,
    OpenAIRealtimeBuilder, RealtimeFactory, TurnDetection, realtime_url,
};
pub use error::RealtimeError;
pub use session::{OpenAIRealtime, RealtimeStats};
