//! AI provider sessions that implement [`Session`](crate::agent::Session).
//!
//! - [`openai`]: the OpenAI Realtime speech-to-speech session (GA protocol), cargo feature
//!   `openai` (on by default).
//! - [`gemini`]: the Gemini Live speech-to-speech session (`GeminiRealtime`), cargo feature
//!   `gemini`.
//! - [`pipeline`]: the STT → LLM → TTS [`PipelineSession`](pipeline::PipelineSession) and its
//!   `Stt` / `Llm` / `Tts` traits, cargo feature `pipeline` (implied by every provider below).
//! - [`deepgram`] (feature `deepgram`), [`elevenlabs`] (feature `elevenlabs`) and [`llm`]
//!   (features `openai-compatible`, `anthropic`, `gemini`): the pipeline's providers.

#[cfg(feature = "openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
pub mod openai;

#[cfg(feature = "gemini")]
#[cfg_attr(docsrs, doc(cfg(feature = "gemini")))]
pub mod gemini;

#[cfg(feature = "pipeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "pipeline")))]
pub mod pipeline;

#[cfg(feature = "deepgram")]
#[cfg_attr(docsrs, doc(cfg(feature = "deepgram")))]
pub mod deepgram;

#[cfg(feature = "elevenlabs")]
#[cfg_attr(docsrs, doc(cfg(feature = "elevenlabs")))]
pub mod elevenlabs;

#[cfg(feature = "pipeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "pipeline")))]
pub mod llm;
