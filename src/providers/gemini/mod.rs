//! Gemini Live (the Live API's `BidiGenerateContent` WebSocket) as a voice-agent
//! [`Session`](crate::agent::Session), cargo feature `gemini`.
//!
//! [`GeminiRealtime`] is the [`SessionFactory`](crate::agent::SessionFactory); it creates one
//! [`GeminiLiveSession`] per call. There is no Google SDK for Rust: the session speaks the wire
//! protocol directly.
//!
//! # Connection and credentials
//!
//! - **Gemini API key** (builder, `GOOGLE_API_KEY`, then `GEMINI_API_KEY`):
//!   `wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=<key>`.
//!   The version is pinned to `v1beta` ([`api_version`](GeminiRealtimeBuilder::api_version)
//!   overrides). The key only ever appears in that query parameter; it is redacted from every
//!   error, log line and `Debug` output.
//! - **Vertex AI** ([`vertex`](GeminiRealtimeBuilder::vertex), or `GOOGLE_GENAI_USE_VERTEXAI`
//!   with `GOOGLE_CLOUD_PROJECT` / `GOOGLE_CLOUD_LOCATION`): `wss://<location>-aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent`
//!   with `Authorization: Bearer <token>` from
//!   [`vertex_access_token`](GeminiRealtimeBuilder::vertex_access_token) or a
//!   [`TokenProvider`] (asked on every connection attempt; with the cargo feature `vertex-adc`
//!   the default is Application Default Credentials, `adc_token_provider`), model
//!   `projects/<p>/locations/<l>/publishers/google/models/<model>`.
//!
//! The first frame is `setup`: model, `generationConfig` (`responseModalities: ["AUDIO"]`, the
//! prebuilt voice, optional `thinkingConfig` verbatim), the system instruction (omitted when
//! empty), every tool as `functionDeclarations` (user tools with sanitised schemas, then the
//! enabled builtins, each with its `behavior`), optional pass-throughs, `sessionResumption`,
//! and input/output transcription (always on; the input options are passed verbatim). Audio
//! is streamed only after `setupComplete`. The greeting is the text turn [`GREETING_TEXT`].
//!
//! # Audio
//!
//! Caller μ-law 8 kHz → PCM16 → 16 kHz (one `realtimeInput.audio` frame per media frame,
//! `audio/pcm;rate=16000`). Model audio (PCM16 at the rate its mime type names, 24 kHz by
//! default) → 8 kHz → μ-law, cut into 20 ms frames; at `generationComplete` / `turnComplete`
//! the resampler is drained and the short tail is sent **raw** (never padded mid-speech). The
//! resamplers are this crate's streaming [`Resampler`](crate::audio::Resampler), one per
//! direction per call.
//!
//! # Tools
//!
//! `behavior` per declaration: `extended-thinking` models always `NON_BLOCKING`; builtins
//! `BLOCKING` whenever a default is in effect; user tools per tool, else the session default,
//! else the model default (`3.8` models `BLOCKING`, others none). NON_BLOCKING calls run at
//! once and each answers alone (with `scheduling` per tool / session default, never for
//! `extended-thinking`). BLOCKING calls are collected until the server is quiet for the drain
//! window (0.3 s) or the turn completes, then run in order (hold audio unless `collect_dtmf`
//! is in the batch) and are answered with one `toolResponse`. Function-response `id`s are
//! echoed only when the server sent one; results are always `{"result": "<text>"}` (a handler
//! returning `()` gives `"ok"`, never `"None"`); `hang_up` ends a batch with no response.
//! `toolCallCancellation` cancels the named calls.
//!
//! # Barge-in
//!
//! `serverContent.interrupted` clears the call's queued audio (`clear` on the media socket),
//! drops the partial output frame and cancels running tools (they send nothing). Nothing is
//! sent to Gemini: the server already stopped generating.
//!
//! # Transcripts (a deliberate difference from the Python SDK)
//!
//! Gemini sends transcription **fragments**. The peer emitted each fragment as a final
//! transcript; this session emits cumulative `TranscriptDelta`s per side and one `Transcript`
//! per utterance (the user's when the model starts answering, the model's at `turnComplete`
//! or `interrupted`).
//!
//! # Session lifetime (incident 0.62: a call must never be left silent)
//!
//! The server closes a connection after about 10 minutes (announced by `goAway`). Every
//! `setup` asks for resumption; handles from `sessionResumptionUpdate` are stored only when
//! `resumable` is `true`. On `goAway` or any drop of the live connection the session closes
//! the old socket first, then makes up to
//! [`reconnect_max_attempts`](GeminiRealtimeBuilder::reconnect_max_attempts) attempts with the
//! handle (each bounded by the setup timeout; 1 s, 2 s, 4 s backoff; every failed attempt's
//! socket is closed, else Google refuses the next with 1008), then one fresh session without
//! the handle (context lost, call alive), and finally emits
//! [`SessionEvent::SessionLost`](crate::agent::SessionEvent::SessionLost) and hangs up.
//! Caller audio during the gap is dropped; control messages from a replaced connection are
//! ignored.
//!
//! # Prewarm
//!
//! Tools are fixed at connect, so [`Session::tools_frozen_after_prewarm`](crate::agent::Session::tools_frozen_after_prewarm)
//! is `true`: an agent whose tools are only known at answer (MCP) must not prewarm it.
//! Prewarm itself works like OpenAI's: audio is buffered until attach and flushed in order.
//!
//! ```no_run
//! use clawops::agent::{Agent, ToolRegistry};
//! use clawops::providers::gemini::GeminiRealtime;
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
//!         .session_factory(GeminiRealtime::builder()   // GOOGLE_API_KEY from the environment
//!             .system_prompt("친절한 상담원입니다. 고객의 질문에 답변해주세요.")
//!             .voice("Kore")
//!             .context_window_compression(serde_json::json!({"sliding_window": {}}))
//!             .build()?)
//!         .tools(tools)
//!         .build()?
//!         .serve()
//!         .await?;
//!     Ok(())
//! }
//! ```

#[cfg(feature = "vertex-adc")]
mod adc;
pub(crate) mod config;
mod error;
mod session;
mod wire;

#[cfg(feature = "vertex-adc")]
pub use adc::{CLOUD_PLATFORM_SCOPE, adc_token_provider};
pub use config::{
    DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_MODEL, DEFAULT_VERTEX_API_VERSION,
    DEFAULT_VOICE, GREETING_TEXT, GeminiRealtime, GeminiRealtimeBuilder, TokenProvider,
    ToolBehavior, ToolScheduling,
};
pub use error::GeminiError;
pub use session::{GeminiLiveSession, GeminiStats};
