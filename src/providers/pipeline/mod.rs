//! The STT → LLM → TTS pipeline session and the three provider traits it composes.
//!
//! A [`PipelineSession`] turns caller audio into text with an [`Stt`], answers with an
//! [`Llm`] (token stream, tool calls in chat-completions form) and speaks the answer with a
//! [`Tts`]. Everything streams: the first sentence of an answer is being spoken while the
//! model is still writing the second. Build one per call through [`Pipeline`] (a
//! [`SessionFactory`](crate::agent::SessionFactory)).
//!
//! # Providers shipped with the crate
//!
//! | Kind | Type | Cargo feature | Key variable |
//! |---|---|---|---|
//! | STT | [`DeepgramStt`](crate::providers::deepgram::DeepgramStt) (streaming WebSocket) | `deepgram` | `DEEPGRAM_API_KEY` |
//! | TTS | [`ElevenLabsTts`](crate::providers::elevenlabs::ElevenLabsTts) (`stream-input` WebSocket) | `elevenlabs` | `ELEVENLABS_API_KEY` |
//! | LLM | [`OpenAiCompatibleLlm`](crate::providers::llm::OpenAiCompatibleLlm) with presets for OpenAI, Groq, Together, Fireworks, DeepSeek, xAI, Mistral, Perplexity, Ollama | `openai-compatible` | per preset |
//! | LLM | [`AnthropicLlm`](crate::providers::llm::AnthropicLlm) (Messages streaming) | `anthropic` | `ANTHROPIC_API_KEY` |
//! | LLM | [`GeminiLlm`](crate::providers::llm::GeminiLlm) (`streamGenerateContent?alt=sse`) | `gemini` | `GOOGLE_API_KEY` |
//!
//! Every provider feature turns on `pipeline` (this module). Module layout: `providers::pipeline`
//! (traits, message types, session), `providers::deepgram`, `providers::elevenlabs`,
//! `providers::llm` (one file per LLM wire protocol).
//!
//! # Conversation rules
//!
//! * **Audio in**: μ-law 8 kHz → PCM16 → 16 kHz, re-cut into 20 ms (640-byte) PCM16 LE frames
//!   for the STT.
//! * **Audio out**: each TTS chunk (PCM16 LE at [`Tts::sample_rate`]) → 8 kHz → μ-law, handed
//!   to the call **as is** — never framed into 160-byte frames and never padded with silence
//!   (incident 0.46.1: padding each chunk put 0–19 ms holes into speech; the server frames).
//! * **Sentences**: tokens accumulate until the text ends with `.`, `!`, `?`, `。`, `！` or `？`
//!   (plus optional whitespace); each sentence goes to the TTS at once. The TTS connection is
//!   opened at the first sentence of a response (a tool-call-only response opens none).
//! * **Greeting**: 0.5 s after the session starts (at prewarm on outbound calls), the user
//!   turn `[통화 시작]` is added and answered (can be switched off).
//! * **Turns**: a `final` transcript is added as a user turn and answered after a 0.5 s
//!   debounce (a second final within it is answered together), or at once when it interrupts
//!   an answer that was already speaking.
//! * **Barge-in**: [`SpeechEvent::SpeechStarted`] or the first [`SpeechEvent::Interim`] while
//!   the agent's audio of the current/last answer has been sent: the call's queued audio is
//!   cleared (`clear`), the running answer (LLM stream, TTS stream, hold audio) is cancelled
//!   and its in-flight tools are cancelled.
//! * **History after a barge-in**: the interrupted assistant text is **dropped** (as in the
//!   Python SDK): the history only ever contains complete turns. A tool batch is committed to
//!   the history atomically — the assistant `tool_calls` message together with every `tool`
//!   result — so a barge-in during tools leaves neither a dangling `tool_calls` message (which
//!   chat APIs reject) nor results without their call. A tool batch that completed before the
//!   barge-in stays (the tools did run).
//! * **Tool loop**: chat `tool` messages, then the model is asked again (bounded by
//!   [`PipelineBuilder::max_tool_rounds`]). Builtins (`hang_up`, `collect_dtmf`, `send_dtmf`,
//!   `transfer_call`) run through [`SessionTools::dispatch`](crate::agent::SessionTools::dispatch);
//!   `hang_up` ends the answer without another model request. Arguments that are not valid
//!   JSON are answered with an `Error: …` tool result (the Python SDK aborted and left a
//!   dangling `tool_calls` message). Hold audio loops while a batch runs, except for batches
//!   with `collect_dtmf`.
//! * **DTMF**: confirmed digits become the user turn `[DTMF 입력: <digits>]` and are answered
//!   at once; unlike the Python SDK the answer is an ordinary (interruptible) response.
//! * **History** is per call (one session per call), starting with the system message.
//!
//! # Custom providers
//!
//! Implement [`Stt`], [`Llm`] and/or [`Tts`] and hand them to [`Pipeline::builder`]; see
//! `examples/custom_pipeline.rs` for a complete offline example. Contract:
//!
//! * [`Stt::transcribe`] receives PCM16 LE 16 kHz mono frames and yields [`SpeechEvent`]s; emit
//!   [`SpeechEvent::SpeechStarted`] or an early [`SpeechEvent::Interim`] as soon as the caller
//!   starts talking (it drives barge-in) and a non-empty [`SpeechEvent::Final`] per utterance.
//! * [`Llm::generate`] receives the chat history and the tools ([`ToolSpec`], see
//!   [`ToolSpec::chat`]) and yields [`LlmEvent::Text`] tokens, then at most one
//!   [`LlmEvent::ToolCalls`] with unique ids.
//! * [`Tts::synthesize`] receives one string per sentence and yields raw PCM16 LE (no WAV
//!   header) at [`Tts::sample_rate`].
//! * Streams may end early: the session drops them on barge-in, so release connections in
//!   `Drop` (the shipped providers close their sockets that way).
//!
//! ```no_run
//! # #[cfg(all(feature = "deepgram", feature = "elevenlabs", feature = "openai-compatible"))]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use clawops::agent::Agent;
//! use clawops::providers::deepgram::DeepgramStt;
//! use clawops::providers::elevenlabs::ElevenLabsTts;
//! use clawops::providers::llm::OpenAiCompatibleLlm;
//! use clawops::providers::pipeline::Pipeline;
//!
//! let pipeline = Pipeline::builder(
//!     DeepgramStt::builder().build(),
//!     OpenAiCompatibleLlm::openai().build(),
//!     ElevenLabsTts::builder().build(),
//! )
//! .system_prompt("친절한 상담원입니다.")
//! .build();
//! Agent::builder("07012341234").session_factory(pipeline).build()?.serve().await?;
//! # Ok(()) }
//! ```

mod session;
#[cfg(any(
    feature = "openai-compatible",
    feature = "anthropic",
    feature = "gemini"
))]
pub(crate) mod sse;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

pub use crate::agent::ToolSpec;
pub use session::{
    GREETING_DELAY, GREETING_TEXT, Pipeline, PipelineBuilder, PipelineSession, PipelineStats,
    TURN_DEBOUNCE,
};

/// Something the speech-to-text provider recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpeechEvent {
    /// The caller started speaking (VAD); drives barge-in.
    SpeechStarted,
    /// A partial transcript of the current utterance (may be empty); the first one of an
    /// utterance drives barge-in.
    Interim(String),
    /// A completed utterance.
    Final(String),
    /// The caller stopped speaking (VAD / utterance end); informational.
    SpeechEnded,
}

/// Telemetry identity of a provider (`call.telemetry` `llm` / `stt` / `tts`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderInfo {
    /// Provider name, e.g. `deepgram`, `openai`, `groq`.
    pub provider: String,
    /// Model name.
    pub model: String,
}

impl ProviderInfo {
    /// Builds an info.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
        }
    }
}

/// What can go wrong talking to a pipeline provider.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The connection could not be opened (HTTP status of a refused WebSocket upgrade).
    #[error("connecting to {provider} failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Connect {
        /// Provider name.
        provider: &'static str,
        /// HTTP status when the server answered one.
        status: Option<u16>,
        /// The transport's message.
        message: String,
    },
    /// The provider answered an HTTP error.
    #[error("{provider} answered HTTP {status}: {body}")]
    Http {
        /// Provider name.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// The start of the response body (at most 512 bytes).
        body: String,
    },
    /// The provider sent something that breaks its protocol, or an error event.
    #[error("{provider}: {message}")]
    Protocol {
        /// Provider name.
        provider: &'static str,
        /// What was wrong.
        message: String,
    },
    /// Invalid configuration (e.g. a key that is not a valid header value).
    #[error("{provider} configuration: {message}")]
    Config {
        /// Provider name.
        provider: &'static str,
        /// What was wrong.
        message: String,
    },
}

/// A function call requested by the model (chat-completions form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// Unique id; the result is matched to it.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

impl ToolCall {
    /// A call of `name` with `arguments` (a JSON **string**).
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            kind: function_type(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

/// The function part of a [`ToolCall`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCall {
    /// Tool name.
    pub name: String,
    /// Arguments as JSON text.
    pub arguments: String,
}

/// One message of the conversation, serialised exactly as chat completions expects it.
///
/// ```
/// use clawops::providers::pipeline::{ChatMessage, ToolCall};
/// let m = ChatMessage::assistant_tool_calls(None, vec![ToolCall::new("c1", "lookup", "{}")]);
/// assert_eq!(
///     serde_json::to_string(&m).unwrap(),
///     r#"{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"lookup","arguments":"{}"}}]}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ChatMessage {
    /// The system prompt.
    System {
        /// Text.
        content: String,
    },
    /// A caller turn (speech, greeting trigger or DTMF text).
    User {
        /// Text.
        content: String,
    },
    /// A model turn: text and/or tool calls.
    Assistant {
        /// Text (`null` when the turn only calls tools).
        content: Option<String>,
        /// Tool calls (omitted when empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call.
    Tool {
        /// The [`ToolCall::id`] answered.
        tool_call_id: String,
        /// The result text.
        content: String,
    },
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::System {
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::User {
            content: content.into(),
        }
    }
    /// An assistant text message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::Assistant {
            content: Some(content.into()),
            tool_calls: Vec::new(),
        }
    }
    /// An assistant message with tool calls.
    pub fn assistant_tool_calls(content: Option<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self::Assistant {
            content,
            tool_calls,
        }
    }
    /// A tool result.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self::Tool {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
        }
    }
}

/// What a language model streams.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LlmEvent {
    /// A text token.
    Text(String),
    /// The tool calls of this response (after any text; at most once).
    ToolCalls(Vec<ToolCall>),
}

/// Caller audio for the STT: PCM16 LE 16 kHz mono, 20 ms (640-byte) frames.
pub type AudioStream = BoxStream<'static, Bytes>;
/// Sentences for the TTS.
pub type TextStream = BoxStream<'static, String>;
/// What [`Stt::transcribe`] yields.
pub type SpeechEvents = BoxStream<'static, Result<SpeechEvent, ProviderError>>;
/// What [`Llm::generate`] yields.
pub type LlmStream = BoxStream<'static, Result<LlmEvent, ProviderError>>;
/// What [`Tts::synthesize`] yields: raw PCM16 LE at [`Tts::sample_rate`].
pub type TtsAudio = BoxStream<'static, Result<Bytes, ProviderError>>;

/// Speech-to-text: one streaming recognition per call.
#[async_trait]
pub trait Stt: Send + Sync + 'static {
    /// Connects and starts recognising `audio` (PCM16 LE 16 kHz mono). The stream ends when
    /// the provider closes; `audio` ends when the call stops.
    async fn transcribe(&self, audio: AudioStream) -> Result<SpeechEvents, ProviderError>;
    /// Provider and model for telemetry.
    fn info(&self) -> Option<ProviderInfo> {
        None
    }
}

/// A streaming language model in chat-completions terms.
#[async_trait]
pub trait Llm: Send + Sync + 'static {
    /// Starts one response to `messages` with `tools` (empty: none offered).
    async fn generate(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<LlmStream, ProviderError>;
    /// Provider and model for telemetry.
    fn info(&self) -> Option<ProviderInfo> {
        None
    }
}

/// Streaming text-to-speech: one synthesis per response.
#[async_trait]
pub trait Tts: Send + Sync + 'static {
    /// Speaks the sentences of `text` as they arrive; yields raw PCM16 LE audio.
    async fn synthesize(&self, text: TextStream) -> Result<TtsAudio, ProviderError>;
    /// Sample rate of the produced audio (default 24 000).
    fn sample_rate(&self) -> u32 {
        24_000
    }
    /// Provider and model for telemetry.
    fn info(&self) -> Option<ProviderInfo> {
        None
    }
    /// Voice id for telemetry.
    fn voice(&self) -> Option<String> {
        None
    }
}

#[async_trait]
impl<T: Stt + ?Sized> Stt for std::sync::Arc<T> {
    async fn transcribe(&self, audio: AudioStream) -> Result<SpeechEvents, ProviderError> {
        (**self).transcribe(audio).await
    }
    fn info(&self) -> Option<ProviderInfo> {
        (**self).info()
    }
}

#[async_trait]
impl<T: Llm + ?Sized> Llm for std::sync::Arc<T> {
    async fn generate(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<LlmStream, ProviderError> {
        (**self).generate(messages, tools).await
    }
    fn info(&self) -> Option<ProviderInfo> {
        (**self).info()
    }
}

#[async_trait]
impl<T: Tts + ?Sized> Tts for std::sync::Arc<T> {
    async fn synthesize(&self, text: TextStream) -> Result<TtsAudio, ProviderError> {
        (**self).synthesize(text).await
    }
    fn sample_rate(&self) -> u32 {
        (**self).sample_rate()
    }
    fn info(&self) -> Option<ProviderInfo> {
        (**self).info()
    }
    fn voice(&self) -> Option<String> {
        (**self).voice()
    }
}

/// Reads an API key from `var` (empty when unset: the provider then answers 401, as in the
/// Python SDK).
#[cfg_attr(
    not(any(
        feature = "deepgram",
        feature = "elevenlabs",
        feature = "openai-compatible",
        feature = "anthropic",
        feature = "gemini"
    )),
    allow(dead_code)
)]
pub(crate) fn env_key(var: &str) -> String {
    std::env::var(var).unwrap_or_default()
}

/// A [`std::fmt::Debug`] stand-in that shows whether a secret is set, never its value.
#[cfg_attr(
    not(any(
        feature = "deepgram",
        feature = "elevenlabs",
        feature = "openai-compatible",
        feature = "anthropic",
        feature = "gemini"
    )),
    allow(dead_code)
)]
pub(crate) fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() {
        "<unset>"
    } else {
        "<redacted>"
    }
}

/// The start of an HTTP error body, bounded.
#[cfg_attr(
    not(any(
        feature = "openai-compatible",
        feature = "anthropic",
        feature = "gemini"
    )),
    allow(dead_code)
)]
pub(crate) fn body_excerpt(body: &str) -> String {
    let mut end = body.len().min(512);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_owned()
}
