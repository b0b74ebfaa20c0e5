//! Configuration of an OpenAI Realtime session: builder, turn detection, endpoint URL.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::error::RealtimeError;
use super::session::OpenAIRealtime;
use crate::agent::{AgentError, Session, SessionFactory};

/// Default model (the Python SDK 0.70 default).
pub const DEFAULT_MODEL: &str = "gpt-realtime-2";
/// Default voice.
pub const DEFAULT_VOICE: &str = "marin";
/// Default base URL, as in the official OpenAI SDKs.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Default input transcription model.
pub const DEFAULT_TRANSCRIPTION_MODEL: &str = "gpt-4o-transcribe";

/// How the server decides that the caller finished (or started) speaking.
///
/// Both built-in modes are sent with `create_response` and `interrupt_response` on: the server
/// answers each turn and cancels its own response when the caller barges in.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TurnDetection {
    /// `semantic_vad`: a model judges when the turn is over. `eagerness` is `low`, `medium`,
    /// `high` or `auto`.
    SemanticVad {
        /// How quickly the model takes the turn.
        eagerness: String,
    },
    /// `server_vad`: energy-based silence detection.
    ServerVad {
        /// Activation threshold 0.0–1.0 (`None`: server default).
        threshold: Option<f64>,
        /// Audio kept before detected speech, ms (`None`: server default).
        prefix_padding_ms: Option<u32>,
        /// Silence that ends a turn, ms (`None`: server default).
        silence_duration_ms: Option<u32>,
    },
    /// Any `turn_detection` object, sent verbatim.
    Custom(Value),
}

impl Default for TurnDetection {
    /// `semantic_vad` with `eagerness: low` (the peer's default since 0.30.1).
    fn default() -> Self {
        Self::SemanticVad {
            eagerness: "low".into(),
        }
    }
}

impl TurnDetection {
    /// Server VAD with server defaults.
    pub fn server_vad() -> Self {
        Self::ServerVad {
            threshold: None,
            prefix_padding_ms: None,
            silence_duration_ms: None,
        }
    }

    /// The wire object.
    ///
    /// ```
    /// use clawops::providers::openai::TurnDetection;
    /// assert_eq!(
    ///     TurnDetection::default().to_value(),
    ///     serde_json::json!({"type": "semantic_vad", "eagerness": "low",
    ///                        "create_response": true, "interrupt_response": true})
    /// );
    /// ```
    pub fn to_value(&self) -> Value {
        match self {
            Self::SemanticVad { eagerness } => json!({
                "type": "semantic_vad", "eagerness": eagerness,
                "create_response": true, "interrupt_response": true,
            }),
            Self::ServerVad {
                threshold,
                prefix_padding_ms,
                silence_duration_ms,
            } => {
                let mut v = json!({"type": "server_vad", "create_response": true, "interrupt_response": true});
                if let Some(o) = v.as_object_mut() {
                    if let Some(t) = threshold {
                        o.insert("threshold".into(), json!(t));
                    }
                    if let Some(p) = prefix_padding_ms {
                        o.insert("prefix_padding_ms".into(), json!(p));
                    }
                    if let Some(s) = silence_duration_ms {
                        o.insert("silence_duration_ms".into(), json!(s));
                    }
                }
                v
            }
            Self::Custom(v) => v.clone(),
        }
    }
}

/// The resolved, immutable configuration shared by every session of a factory.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) api_key: String,
    pub(crate) url: String,
    pub(crate) model: String,
    pub(crate) voice: String,
    pub(crate) language: String,
    pub(crate) instructions: String,
    pub(crate) transcription_model: String,
    pub(crate) transcription_prompt: Option<String>,
    pub(crate) turn_detection: TurnDetection,
    pub(crate) greeting: bool,
    pub(crate) truncate_on_barge_in: bool,
    pub(crate) connect_timeout: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &"<redacted>")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("voice", &self.voice)
            .field("language", &self.language)
            .field("greeting", &self.greeting)
            .finish_non_exhaustive()
    }
}

/// Builds an [`OpenAIRealtime`] session, or a factory that makes one per call.
///
/// ```
/// use clawops::providers::openai::{OpenAIRealtime, TurnDetection};
///
/// let factory = OpenAIRealtime::builder()
///     .api_key("sk-test")
///     .system_prompt("친절한 상담원입니다.")
///     .voice("marin")
///     .language("ko")
///     .turn_detection(TurnDetection::server_vad())
///     .factory()?;
/// # let _ = factory;
/// # Ok::<(), clawops::providers::openai::RealtimeError>(())
/// ```
#[derive(Clone, Default)]
pub struct OpenAIRealtimeBuilder {
    api_key: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
    voice: Option<String>,
    language: Option<String>,
    instructions: Option<String>,
    transcription_model: Option<String>,
    transcription_prompt: Option<String>,
    turn_detection: Option<TurnDetection>,
    greeting: Option<bool>,
    truncate_on_barge_in: Option<bool>,
    connect_timeout: Option<Duration>,
}

impl std::fmt::Debug for OpenAIRealtimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAIRealtimeBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl OpenAIRealtimeBuilder {
    /// API key (default: env `OPENAI_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    /// Base URL, e.g. `https://api.openai.com/v1` (default: env `OPENAI_BASE_URL`, then that).
    /// The socket is `<base>/realtime?model=<model>` with `http(s)` switched to `ws(s)`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// Model (default [`DEFAULT_MODEL`]).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// Output voice (default [`DEFAULT_VOICE`]).
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }
    /// Caller language for input transcription (default `ko`).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }
    /// System prompt (`session.instructions`).
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.instructions = Some(prompt.into());
        self
    }
    /// Input transcription model (default [`DEFAULT_TRANSCRIPTION_MODEL`]).
    pub fn transcription_model(mut self, model: impl Into<String>) -> Self {
        self.transcription_model = Some(model.into());
        self
    }
    /// Prompt for the input transcription (vocabulary hints); empty means none.
    pub fn transcription_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.transcription_prompt = Some(prompt.into());
        self
    }
    /// Turn detection (default: semantic VAD, eagerness low).
    pub fn turn_detection(mut self, td: TurnDetection) -> Self {
        self.turn_detection = Some(td);
        self
    }
    /// Whether the model speaks first (default `true`).
    pub fn greeting(mut self, on: bool) -> Self {
        self.greeting = Some(on);
        self
    }
    /// Whether a barge-in truncates the interrupted assistant item at the audio the caller
    /// actually heard (default `true`; see the module docs).
    pub fn truncate_on_barge_in(mut self, on: bool) -> Self {
        self.truncate_on_barge_in = Some(on);
        self
    }
    /// Limit for connecting and for the server's `session.updated` (default 10 s).
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = Some(limit);
        self
    }

    pub(crate) fn config(self) -> Result<Config, RealtimeError> {
        let api_key = self
            .api_key
            .or_else(|| std::env::var("OPENAI_API_KEY").ok())
            .filter(|k| !k.trim().is_empty())
            .ok_or(RealtimeError::MissingApiKey)?;
        let base = self
            .base_url
            .or_else(|| {
                std::env::var("OPENAI_BASE_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let model = self.model.unwrap_or_else(|| DEFAULT_MODEL.to_owned());
        let url = realtime_url(&base, &model)?;
        Ok(Config {
            api_key,
            url,
            model,
            voice: self.voice.unwrap_or_else(|| DEFAULT_VOICE.to_owned()),
            language: self.language.unwrap_or_else(|| "ko".to_owned()),
            instructions: self.instructions.unwrap_or_default(),
            transcription_model: self
                .transcription_model
                .unwrap_or_else(|| DEFAULT_TRANSCRIPTION_MODEL.to_owned()),
            transcription_prompt: self.transcription_prompt.filter(|p| !p.is_empty()),
            turn_detection: self.turn_detection.unwrap_or_default(),
            greeting: self.greeting.unwrap_or(true),
            truncate_on_barge_in: self.truncate_on_barge_in.unwrap_or(true),
            connect_timeout: self.connect_timeout.unwrap_or(Duration::from_secs(10)),
        })
    }

    /// One session (for one call).
    pub fn build(self) -> Result<OpenAIRealtime, RealtimeError> {
        Ok(OpenAIRealtime::with_config(Arc::new(self.config()?)))
    }

    /// A [`SessionFactory`] that creates a fresh session per call (never shared between calls).
    pub fn factory(self) -> Result<RealtimeFactory, RealtimeError> {
        Ok(RealtimeFactory {
            config: Arc::new(self.config()?),
        })
    }
}

/// Creates one [`OpenAIRealtime`] per call; pass it to
/// [`AgentBuilder::session_factory`](crate::agent::AgentBuilder::session_factory).
#[derive(Clone, Debug)]
pub struct RealtimeFactory {
    config: Arc<Config>,
}

impl RealtimeFactory {
    /// The WebSocket URL sessions connect to (no credentials in it).
    pub fn url(&self) -> &str {
        &self.config.url
    }
}

impl SessionFactory for RealtimeFactory {
    fn create(&self) -> Result<Box<dyn Session>, AgentError> {
        Ok(Box::new(OpenAIRealtime::with_config(Arc::clone(
            &self.config,
        ))))
    }
}

/// `<base>/realtime?model=<model>` with the scheme switched to `ws`/`wss`.
///
/// ```
/// use clawops::providers::openai::realtime_url;
/// assert_eq!(
///     realtime_url("https://api.openai.com/v1", "gpt-realtime-2").unwrap(),
///     "wss://api.openai.com/v1/realtime?model=gpt-realtime-2"
/// );
/// assert_eq!(
///     realtime_url("http://127.0.0.1:8080/v1/", "m").unwrap(),
///     "ws://127.0.0.1:8080/v1/realtime?model=m"
/// );
/// ```
pub fn realtime_url(base: &str, model: &str) -> Result<String, RealtimeError> {
    let invalid = |message: &str| RealtimeError::InvalidBaseUrl {
        url: base.to_owned(),
        message: message.to_owned(),
    };
    let mut url = url::Url::parse(base).map_err(|e| invalid(&e.to_string()))?;
    let scheme = match url.scheme() {
        "https" | "wss" => "wss",
        "http" | "ws" => "ws",
        _ => return Err(invalid("scheme must be http, https, ws or wss")),
    };
    url.set_scheme(scheme)
        .map_err(|()| invalid("cannot switch the scheme"))?;
    let path = format!("{}/realtime", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.query_pairs_mut().clear().append_pair("model", model);
    Ok(url.to_string())
}
