//! Language models for the [pipeline](crate::providers::pipeline), each behind its own cargo
//! feature. One file per wire protocol:
//!
//! | File | Type | Feature | Wire |
//! |---|---|---|---|
//! | `openai_compat.rs` | [`OpenAiCompatibleLlm`] + [`Preset`]s (OpenAI, Groq, Together, Fireworks, DeepSeek, xAI, Mistral, Perplexity, Ollama) | `openai-compatible` | `POST <base>/chat/completions`, SSE chunks, `data: [DONE]` |
//! | `anthropic.rs` | [`AnthropicLlm`] | `anthropic` | `POST /v1/messages`, SSE `content_block_*` events, `tool_use` blocks |
//! | `gemini.rs` | [`GeminiLlm`] | `gemini` | `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`, `functionCall` parts |
//!
//! All take the pipeline's chat-completions history and tools and stream
//! [`LlmEvent`](crate::providers::pipeline::LlmEvent)s; tool calls arrive once, after the
//! text. Defaults follow the Python SDK: temperature 0.8, 4096 output tokens, keys from the
//! conventional environment variables (an unset key is sent empty and the provider answers
//! 401). SSE parsing never panics: malformed events end the stream with a
//! [`ProviderError`](crate::providers::pipeline::ProviderError).
//!
//! ```no_run
//! # #[cfg(feature = "openai-compatible")]
//! # fn f() {
//! use clawops::providers::llm::OpenAiCompatibleLlm;
//! let llm = OpenAiCompatibleLlm::groq().model("llama-3.3-70b-versatile").build();
//! # let _ = llm; }
//! ```

#[cfg(feature = "anthropic")]
mod anthropic;
#[cfg(feature = "gemini")]
mod gemini;
#[cfg(feature = "openai-compatible")]
mod openai_compat;

#[cfg(feature = "anthropic")]
#[cfg_attr(docsrs, doc(cfg(feature = "anthropic")))]
pub use anthropic::{
    ANTHROPIC_BASE_URL, ANTHROPIC_DEFAULT_MODEL, ANTHROPIC_VERSION, AnthropicBuilder, AnthropicLlm,
};
#[cfg(feature = "gemini")]
#[cfg_attr(docsrs, doc(cfg(feature = "gemini")))]
pub use gemini::{
    GEMINI_API_VERSION, GEMINI_BASE_URL, GEMINI_DEFAULT_MODEL, GeminiLlm, GeminiLlmBuilder,
};
#[cfg(feature = "openai-compatible")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai-compatible")))]
pub use openai_compat::{OpenAiCompatibleBuilder, OpenAiCompatibleLlm, Preset};

/// The user turn Anthropic and Gemini requests carry when the history has no message for the
/// model (both APIs reject an empty conversation).
pub const EMPTY_HISTORY_TEXT: &str = "[통화 시작] 첫 인사를 해주세요.";
