//! Configuration of a Gemini Live session: builder, credentials, endpoint, tool behaviour.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::error::GeminiError;
use super::session::GeminiLiveSession;
use crate::agent::{AgentError, Session, SessionFactory};

/// Default model (the Python SDK 0.70 default).
pub const DEFAULT_MODEL: &str = "gemini-3.1-flash-live-preview";
/// Default voice.
pub const DEFAULT_VOICE: &str = "Kore";
/// Default Gemini API host.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// The Gemini API version, pinned (the peer inherited it from its library; providers.md §15.9).
pub const DEFAULT_API_VERSION: &str = "v1beta";
/// The Vertex AI API version, pinned.
pub const DEFAULT_VERTEX_API_VERSION: &str = "v1beta1";
/// The text turn that makes the model greet first.
pub const GREETING_TEXT: &str = "인사해 주세요.";

/// How the server runs a function while the model waits (`behavior` on a declaration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ToolBehavior {
    /// The model waits for the result (server default on 3.1 models).
    Blocking,
    /// The model keeps talking; the result is delivered later (the only mode of
    /// `extended-thinking` models).
    NonBlocking,
}

impl ToolBehavior {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blocking => "BLOCKING",
            Self::NonBlocking => "NON_BLOCKING",
        }
    }
}

/// When the model uses a NON_BLOCKING function's result (`scheduling` on a response).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ToolScheduling {
    /// Add the result to the context without a reaction.
    Silent,
    /// React once the model is idle (server default).
    WhenIdle,
    /// Interrupt the model and react at once.
    Interrupt,
}

impl ToolScheduling {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Silent => "SILENT",
            Self::WhenIdle => "WHEN_IDLE",
            Self::Interrupt => "INTERRUPT",
        }
    }
}

/// Produces a fresh OAuth access token for Vertex AI (called for every connection attempt, so
/// tokens may expire between reconnects).
pub type TokenProvider =
    Arc<dyn Fn() -> BoxFuture<'static, Result<String, String>> + Send + Sync + 'static>;

/// A token source that always gives `token`.
pub(crate) fn fixed_token(token: String) -> TokenProvider {
    Arc::new(move || {
        let token = token.clone();
        Box::pin(async move { Ok(token) })
    })
}

/// The token source when none is configured: Application Default Credentials with the
/// `vertex-adc` feature, else none.
pub(crate) fn default_token_source() -> Option<TokenProvider> {
    #[cfg(feature = "vertex-adc")]
    {
        Some(super::adc::adc_token_provider())
    }
    #[cfg(not(feature = "vertex-adc"))]
    {
        None
    }
}

/// How the session authenticates.
#[derive(Clone)]
pub(crate) enum Auth {
    /// Gemini API key, sent as the `key` query parameter.
    ApiKey(String),
    /// Vertex AI: bearer token from the provider.
    Vertex {
        project: String,
        location: String,
        token: TokenProvider,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::Vertex {
                project, location, ..
            } => f
                .debug_struct("Vertex")
                .field("project", project)
                .field("location", location)
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// The resolved, immutable configuration shared by every session of a factory.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) auth: Auth,
    /// WebSocket URL **without** credentials.
    pub(crate) url: String,
    pub(crate) model: String,
    /// `setup.model`: `models/<model>` or the Vertex resource path.
    pub(crate) model_path: String,
    pub(crate) vertex: bool,
    pub(crate) voice: String,
    pub(crate) language: String,
    pub(crate) speech_language_code: Option<String>,
    pub(crate) instructions: String,
    pub(crate) greeting: bool,
    pub(crate) realtime_input_config: Option<Value>,
    pub(crate) input_audio_transcription: Value,
    pub(crate) thinking_config: Option<Value>,
    pub(crate) proactive_audio: Option<bool>,
    pub(crate) tool_behavior: Option<ToolBehavior>,
    pub(crate) tool_behaviors: HashMap<String, ToolBehavior>,
    pub(crate) tool_response_scheduling: Option<ToolScheduling>,
    pub(crate) tool_schedulings: HashMap<String, ToolScheduling>,
    pub(crate) context_window_compression: Option<Value>,
    pub(crate) session_resumption: bool,
    pub(crate) reconnect_max_attempts: u32,
    pub(crate) reconnect_backoff: Duration,
    pub(crate) setup_timeout: Duration,
    pub(crate) tool_drain: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("auth", &self.auth)
            .field("url", &self.url)
            .field("vertex", &self.vertex)
            .field("model", &self.model)
            .field("voice", &self.voice)
            .field("language", &self.language)
            .field("greeting", &self.greeting)
            .field("session_resumption", &self.session_resumption)
            .field("reconnect_max_attempts", &self.reconnect_max_attempts)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Whether the model only accepts NON_BLOCKING functions and rejects `scheduling`.
    pub(crate) fn extended_thinking(&self) -> bool {
        self.model.contains("extended-thinking")
    }

    /// The session's default `behavior`: configured, else the model default (`3.8` models:
    /// BLOCKING, incident 0.60; others: none = server default).
    pub(crate) fn effective_tool_behavior(&self) -> Option<ToolBehavior> {
        if self.tool_behavior.is_some() {
            return self.tool_behavior;
        }
        if self.extended_thinking() {
            Some(ToolBehavior::NonBlocking)
        } else if self.model.contains("3.8") {
            Some(ToolBehavior::Blocking)
        } else {
            None
        }
    }

    /// The `behavior` declared for one tool (providers.md §3.6).
    pub(crate) fn behavior_for(&self, name: &str, builtin: bool) -> Option<ToolBehavior> {
        if self.extended_thinking() {
            if !builtin && self.tool_behaviors.get(name) == Some(&ToolBehavior::Blocking) {
                tracing::warn!(
                    tool = name,
                    model = %self.model,
                    "tool requested BLOCKING but the model accepts NON_BLOCKING only; declaring NON_BLOCKING"
                );
            }
            return Some(ToolBehavior::NonBlocking);
        }
        if builtin {
            return self
                .effective_tool_behavior()
                .map(|_| ToolBehavior::Blocking);
        }
        self.tool_behaviors
            .get(name)
            .copied()
            .or_else(|| self.effective_tool_behavior())
    }

    /// The `scheduling` of a response to `name` (declared with `declared`).
    pub(crate) fn scheduling_for(
        &self,
        name: &str,
        declared: Option<ToolBehavior>,
        returned_nothing: bool,
    ) -> Option<ToolScheduling> {
        if declared != Some(ToolBehavior::NonBlocking) || self.extended_thinking() {
            return None;
        }
        self.tool_schedulings
            .get(name)
            .copied()
            .or(self.tool_response_scheduling)
            .or(returned_nothing.then_some(ToolScheduling::Silent))
    }

    /// The URL to connect to: for an API key with `key=<key>` appended.
    pub(crate) fn connect_url(&self) -> String {
        match &self.auth {
            Auth::ApiKey(key) => match url::Url::parse(&self.url) {
                Ok(mut u) => {
                    u.query_pairs_mut().append_pair("key", key);
                    u.to_string()
                }
                Err(_) => self.url.clone(),
            },
            Auth::Vertex { .. } => self.url.clone(),
        }
    }

    /// Removes credentials from a message that may quote the URL.
    pub(crate) fn redact(&self, message: &str) -> String {
        match &self.auth {
            Auth::ApiKey(key) if !key.is_empty() => {
                let encoded: String =
                    form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>();
                message
                    .replace(&encoded, "<redacted>")
                    .replace(key.as_str(), "<redacted>")
            }
            _ => message.to_owned(),
        }
    }
}

/// Builds a [`GeminiRealtime`] factory (or one [`GeminiLiveSession`]).
///
/// Credentials, in order: [`api_key`](Self::api_key); explicit [`vertex`](Self::vertex)
/// settings; `GOOGLE_GENAI_USE_VERTEXAI=true|1` with `GOOGLE_CLOUD_PROJECT` and
/// `GOOGLE_CLOUD_LOCATION`; `GOOGLE_API_KEY`; `GEMINI_API_KEY`. Vertex AI needs an OAuth
/// access token: [`vertex_access_token`](Self::vertex_access_token) or
/// [`vertex_token_provider`](Self::vertex_token_provider); with the cargo feature `vertex-adc`
/// and neither set, Application Default Credentials (`adc_token_provider`).
///
/// ```
/// use clawops::providers::gemini::{GeminiRealtime, ToolBehavior};
///
/// let factory = GeminiRealtime::builder()
///     .api_key("AIza-test")
///     .system_prompt("친절한 상담원입니다.")
///     .voice("Kore")
///     .language("ko")
///     .tool_behavior_for("save_note", ToolBehavior::NonBlocking)
///     .thinking_config(serde_json::json!({"thinking_budget": 0}))
///     .build()?;
/// assert_eq!(factory.model(), "gemini-3.1-flash-live-preview");
/// assert!(!format!("{factory:?}").contains("AIza-test"));
/// # Ok::<(), clawops::providers::gemini::GeminiError>(())
/// ```
#[derive(Clone, Default)]
pub struct GeminiRealtimeBuilder {
    api_key: Option<String>,
    vertex: Option<(String, String)>,
    vertex_token: Option<TokenProvider>,
    base_url: Option<String>,
    api_version: Option<String>,
    model: Option<String>,
    voice: Option<String>,
    language: Option<String>,
    speech_language_code: Option<String>,
    instructions: Option<String>,
    greeting: Option<bool>,
    realtime_input_config: Option<Value>,
    input_audio_transcription: Option<Value>,
    thinking_config: Option<Value>,
    proactive_audio: Option<bool>,
    tool_behavior: Option<ToolBehavior>,
    tool_behaviors: HashMap<String, ToolBehavior>,
    tool_response_scheduling: Option<ToolScheduling>,
    tool_schedulings: HashMap<String, ToolScheduling>,
    context_window_compression: Option<Value>,
    session_resumption: Option<bool>,
    reconnect_max_attempts: Option<u32>,
    reconnect_backoff: Option<Duration>,
    setup_timeout: Option<Duration>,
    tool_drain: Option<Duration>,
}

impl std::fmt::Debug for GeminiRealtimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiRealtimeBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("vertex", &self.vertex)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true")
}

impl GeminiRealtimeBuilder {
    /// Gemini API key (default: env `GOOGLE_API_KEY`, then `GEMINI_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    /// Uses Vertex AI in `project` / `location` (`global` or a region such as `us-central1`).
    pub fn vertex(mut self, project: impl Into<String>, location: impl Into<String>) -> Self {
        self.vertex = Some((project.into(), location.into()));
        self
    }
    /// A fixed Vertex AI OAuth access token (scope `cloud-platform`).
    pub fn vertex_access_token(mut self, token: impl Into<String>) -> Self {
        self.vertex_token = Some(fixed_token(token.into()));
        self
    }
    /// A Vertex AI access-token source, asked once per connection attempt.
    pub fn vertex_token_provider(mut self, provider: TokenProvider) -> Self {
        self.vertex_token = Some(provider);
        self
    }
    /// Host to connect to, e.g. a proxy or a test server (`http(s)` is switched to `ws(s)`;
    /// the Live API path is appended).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// API version in the URL (default [`DEFAULT_API_VERSION`], Vertex
    /// [`DEFAULT_VERTEX_API_VERSION`]).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }
    /// Model (default [`DEFAULT_MODEL`]).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// Prebuilt voice (default [`DEFAULT_VOICE`]).
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }
    /// Conversation language for telemetry (default `ko`). Not sent to the model, like the
    /// Python SDK; see [`speech_language_code`](Self::speech_language_code).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }
    /// `speechConfig.languageCode` (e.g. `ko-KR`), sent only when set.
    pub fn speech_language_code(mut self, code: impl Into<String>) -> Self {
        self.speech_language_code = Some(code.into());
        self
    }
    /// System prompt (`setup.systemInstruction`, omitted when empty).
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.instructions = Some(prompt.into());
        self
    }
    /// Whether the model greets first with the text turn [`GREETING_TEXT`] (default `true`).
    pub fn greeting(mut self, on: bool) -> Self {
        self.greeting = Some(on);
        self
    }
    /// `setup.realtimeInputConfig`, sent verbatim.
    pub fn realtime_input_config(mut self, config: Value) -> Self {
        self.realtime_input_config = Some(config);
        self
    }
    /// `setup.inputAudioTranscription`, sent verbatim (default `{}`; e.g. `language_codes`,
    /// `custom_vocabulary`).
    pub fn input_audio_transcription(mut self, config: Value) -> Self {
        self.input_audio_transcription = Some(config);
        self
    }
    /// `generationConfig.thinkingConfig`, sent verbatim (`extended-thinking` models require
    /// `thinking_level`; `gemini-3.8-live` only accepts `thinking_budget`).
    pub fn thinking_config(mut self, config: Value) -> Self {
        self.thinking_config = Some(config);
        self
    }
    /// `setup.proactivity.proactive_audio`, sent only when set.
    pub fn proactive_audio(mut self, on: bool) -> Self {
        self.proactive_audio = Some(on);
        self
    }
    /// Default `behavior` of every declaration (default: BLOCKING for `3.8` models, none
    /// otherwise; `extended-thinking` models always get NON_BLOCKING).
    pub fn tool_behavior(mut self, behavior: ToolBehavior) -> Self {
        self.tool_behavior = Some(behavior);
        self
    }
    /// `behavior` of one user tool.
    pub fn tool_behavior_for(mut self, tool: impl Into<String>, behavior: ToolBehavior) -> Self {
        self.tool_behaviors.insert(tool.into(), behavior);
        self
    }
    /// Default `scheduling` of NON_BLOCKING results (default: none: `SILENT` when the handler
    /// returned nothing ([`ToolOutput::Empty`](crate::agent::ToolOutput::Empty)), else the
    /// key is omitted and the server default applies).
    pub fn tool_response_scheduling(mut self, scheduling: ToolScheduling) -> Self {
        self.tool_response_scheduling = Some(scheduling);
        self
    }
    /// `scheduling` of one NON_BLOCKING tool's results.
    pub fn tool_scheduling_for(
        mut self,
        tool: impl Into<String>,
        scheduling: ToolScheduling,
    ) -> Self {
        self.tool_schedulings.insert(tool.into(), scheduling);
        self
    }
    /// `setup.contextWindowCompression`, verbatim (e.g. `{"sliding_window": {}}` for calls
    /// over 15 minutes).
    pub fn context_window_compression(mut self, config: Value) -> Self {
        self.context_window_compression = Some(config);
        self
    }
    /// Session resumption handles (default `true`).
    pub fn session_resumption(mut self, on: bool) -> Self {
        self.session_resumption = Some(on);
        self
    }
    /// Reconnect attempts with the resumption handle after `goAway` or a drop (default 3).
    pub fn reconnect_max_attempts(mut self, attempts: u32) -> Self {
        self.reconnect_max_attempts = Some(attempts);
        self
    }
    /// First backoff between reconnect attempts, doubled each time, capped at 4× (default
    /// 1 s: 1 s, 2 s, 4 s).
    pub fn reconnect_backoff(mut self, first: Duration) -> Self {
        self.reconnect_backoff = Some(first);
        self
    }
    /// Limit for one connection attempt: handshake, `setup`, `setupComplete` (default 15 s).
    pub fn setup_timeout(mut self, limit: Duration) -> Self {
        self.setup_timeout = Some(limit);
        self
    }
    /// Inactivity window after a `toolCall` before its BLOCKING batch runs (default 300 ms;
    /// Gemini keeps streaming audio after a tool call).
    pub fn tool_drain(mut self, window: Duration) -> Self {
        self.tool_drain = Some(window);
        self
    }

    pub(crate) fn config(self) -> Result<Config, GeminiError> {
        self.config_with_env(|k| std::env::var(k).ok())
    }

    pub(crate) fn config_with_env(
        self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, GeminiError> {
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let env_vertex = nonempty(env("GOOGLE_GENAI_USE_VERTEXAI")).is_some_and(|v| truthy(&v));
        let auth = if let Some(key) = nonempty(self.api_key.clone()) {
            Auth::ApiKey(key)
        } else if self.vertex.is_some() || env_vertex {
            let (project, location) = match self.vertex.clone() {
                Some(pl) => pl,
                None => (
                    nonempty(env("GOOGLE_CLOUD_PROJECT")).ok_or(GeminiError::InvalidOption {
                        field: "vertex",
                        message: "GOOGLE_CLOUD_PROJECT is not set".into(),
                    })?,
                    nonempty(env("GOOGLE_CLOUD_LOCATION")).ok_or(GeminiError::InvalidOption {
                        field: "vertex",
                        message: "GOOGLE_CLOUD_LOCATION is not set".into(),
                    })?,
                ),
            };
            let token = self
                .vertex_token
                .clone()
                .or_else(default_token_source)
                .ok_or(GeminiError::MissingCredentials)?;
            Auth::Vertex {
                project,
                location,
                token,
            }
        } else if let Some(key) =
            nonempty(env("GOOGLE_API_KEY")).or_else(|| nonempty(env("GEMINI_API_KEY")))
        {
            Auth::ApiKey(key)
        } else {
            return Err(GeminiError::MissingCredentials);
        };
        let model = self.model.unwrap_or_else(|| DEFAULT_MODEL.to_owned());
        let (url, model_path, vertex) = match &auth {
            Auth::ApiKey(_) => {
                let base = self
                    .base_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
                let version = self
                    .api_version
                    .clone()
                    .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
                let url = live_url(
                    &base,
                    &format!(
                        "/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
                    ),
                )?;
                let path = if model.starts_with("models/") {
                    model.clone()
                } else {
                    format!("models/{model}")
                };
                (url, path, false)
            }
            Auth::Vertex {
                project, location, ..
            } => {
                let base = self.base_url.clone().unwrap_or_else(|| {
                    if location == "global" {
                        "https://aiplatform.googleapis.com".to_owned()
                    } else {
                        format!("https://{location}-aiplatform.googleapis.com")
                    }
                });
                let version = self
                    .api_version
                    .clone()
                    .unwrap_or_else(|| DEFAULT_VERTEX_API_VERSION.to_owned());
                let url = live_url(
                    &base,
                    &format!(
                        "/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent"
                    ),
                )?;
                let path = if model.starts_with("projects/") {
                    model.clone()
                } else {
                    format!(
                        "projects/{project}/locations/{location}/publishers/google/models/{model}"
                    )
                };
                (url, path, true)
            }
        };
        let input_audio_transcription = self.input_audio_transcription.unwrap_or_else(|| json!({}));
        if !input_audio_transcription.is_object() {
            return Err(GeminiError::InvalidOption {
                field: "input_audio_transcription",
                message: "must be a JSON object".into(),
            });
        }
        Ok(Config {
            auth,
            url,
            model,
            model_path,
            vertex,
            voice: self.voice.unwrap_or_else(|| DEFAULT_VOICE.to_owned()),
            language: self.language.unwrap_or_else(|| "ko".to_owned()),
            speech_language_code: self.speech_language_code.filter(|c| !c.is_empty()),
            instructions: self.instructions.unwrap_or_default(),
            greeting: self.greeting.unwrap_or(true),
            realtime_input_config: self.realtime_input_config,
            input_audio_transcription,
            thinking_config: self.thinking_config,
            proactive_audio: self.proactive_audio,
            tool_behavior: self.tool_behavior,
            tool_behaviors: self.tool_behaviors,
            tool_response_scheduling: self.tool_response_scheduling,
            tool_schedulings: self.tool_schedulings,
            context_window_compression: self.context_window_compression,
            session_resumption: self.session_resumption.unwrap_or(true),
            reconnect_max_attempts: self.reconnect_max_attempts.unwrap_or(3),
            reconnect_backoff: self.reconnect_backoff.unwrap_or(Duration::from_secs(1)),
            setup_timeout: self.setup_timeout.unwrap_or(Duration::from_secs(15)),
            tool_drain: self.tool_drain.unwrap_or(Duration::from_millis(300)),
        })
    }

    /// The factory: one fresh [`GeminiLiveSession`] per call.
    pub fn build(self) -> Result<GeminiRealtime, GeminiError> {
        Ok(GeminiRealtime {
            config: Arc::new(self.config()?),
        })
    }

    /// One session (for one call), e.g. for a standalone runner or a test.
    pub fn session(self) -> Result<GeminiLiveSession, GeminiError> {
        Ok(GeminiLiveSession::with_config(Arc::new(self.config()?)))
    }
}

/// `base` with the scheme switched to `ws`/`wss` and `path` appended to its path.
fn live_url(base: &str, path: &str) -> Result<String, GeminiError> {
    let invalid = |message: &str| GeminiError::InvalidBaseUrl {
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
    let full = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&full);
    url.set_query(None);
    Ok(url.to_string())
}

/// Gemini Live as a [`SessionFactory`]: creates one [`GeminiLiveSession`] per call; pass it to
/// [`AgentBuilder::session_factory`](crate::agent::AgentBuilder::session_factory).
#[derive(Clone, Debug)]
pub struct GeminiRealtime {
    config: Arc<Config>,
}

impl GeminiRealtime {
    /// A builder (credentials default to the environment, see [`GeminiRealtimeBuilder`]).
    pub fn builder() -> GeminiRealtimeBuilder {
        GeminiRealtimeBuilder::default()
    }

    /// The WebSocket URL sessions connect to, without credentials.
    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// A new session for one call.
    pub fn session(&self) -> GeminiLiveSession {
        GeminiLiveSession::with_config(Arc::clone(&self.config))
    }
}

impl SessionFactory for GeminiRealtime {
    fn create(&self) -> Result<Box<dyn Session>, AgentError> {
        Ok(Box::new(self.session()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn api_key_from_env_in_order_and_url_pinned_to_v1beta() {
        let c = GeminiRealtimeBuilder::default()
            .config_with_env(env(&[("GEMINI_API_KEY", "g2"), ("GOOGLE_API_KEY", "g1")]))
            .unwrap();
        assert!(matches!(&c.auth, Auth::ApiKey(k) if k == "g1"));
        assert_eq!(
            c.url,
            "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
        );
        assert_eq!(c.connect_url(), format!("{}?key=g1", c.url));
        assert_eq!(c.model_path, "models/gemini-3.1-flash-live-preview");
        let c = GeminiRealtimeBuilder::default()
            .config_with_env(env(&[("GEMINI_API_KEY", "g2")]))
            .unwrap();
        assert!(matches!(&c.auth, Auth::ApiKey(k) if k == "g2"));
        assert!(matches!(
            GeminiRealtimeBuilder::default().config_with_env(env(&[])),
            Err(GeminiError::MissingCredentials)
        ));
    }

    #[test]
    fn vertex_from_env_needs_a_token_and_builds_the_resource_path() {
        let vars = [
            ("GOOGLE_GENAI_USE_VERTEXAI", "true"),
            ("GOOGLE_CLOUD_PROJECT", "proj"),
            ("GOOGLE_CLOUD_LOCATION", "us-central1"),
            ("GOOGLE_API_KEY", "ignored"),
        ];
        // No token source: an error, or Application Default Credentials with `vertex-adc`.
        #[cfg(not(feature = "vertex-adc"))]
        assert!(matches!(
            GeminiRealtimeBuilder::default().config_with_env(env(&vars)),
            Err(GeminiError::MissingCredentials)
        ));
        #[cfg(feature = "vertex-adc")]
        assert!(matches!(
            GeminiRealtimeBuilder::default().config_with_env(env(&vars)),
            Ok(Config {
                auth: Auth::Vertex { .. },
                ..
            })
        ));
        let c = GeminiRealtimeBuilder::default()
            .vertex_access_token("ya29.x")
            .config_with_env(env(&vars))
            .unwrap();
        assert!(c.vertex);
        assert_eq!(
            c.url,
            "wss://us-central1-aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
        );
        assert_eq!(
            c.model_path,
            "projects/proj/locations/us-central1/publishers/google/models/gemini-3.1-flash-live-preview"
        );
        assert_eq!(c.connect_url(), c.url);
        let g = GeminiRealtimeBuilder::default()
            .vertex("p", "global")
            .vertex_access_token("t")
            .config_with_env(env(&[]))
            .unwrap();
        assert!(g.url.starts_with("wss://aiplatform.googleapis.com/ws/"));
        assert!(!format!("{g:?}").contains("\"t\""));
    }

    #[test]
    fn behaviour_rules_per_model() {
        let base = || GeminiRealtimeBuilder::default().api_key("k");
        let c31 = base().config().unwrap();
        assert_eq!(c31.behavior_for("x", false), None);
        assert_eq!(c31.behavior_for("hang_up", true), None);
        let c38 = base().model("gemini-3.8-live").config().unwrap();
        assert_eq!(c38.behavior_for("x", false), Some(ToolBehavior::Blocking));
        assert_eq!(
            c38.behavior_for("hang_up", true),
            Some(ToolBehavior::Blocking)
        );
        let ext = base()
            .model("gemini-3.8-live-extended-thinking")
            .tool_behavior_for("x", ToolBehavior::Blocking)
            .tool_response_scheduling(ToolScheduling::Silent)
            .config()
            .unwrap();
        assert_eq!(
            ext.behavior_for("x", false),
            Some(ToolBehavior::NonBlocking)
        );
        assert_eq!(
            ext.behavior_for("hang_up", true),
            Some(ToolBehavior::NonBlocking)
        );
        assert_eq!(
            ext.scheduling_for("x", Some(ToolBehavior::NonBlocking), true),
            None
        );
        let nb = base()
            .tool_behavior(ToolBehavior::NonBlocking)
            .tool_scheduling_for("y", ToolScheduling::Interrupt)
            .tool_response_scheduling(ToolScheduling::WhenIdle)
            .config()
            .unwrap();
        assert_eq!(nb.behavior_for("y", false), Some(ToolBehavior::NonBlocking));
        assert_eq!(
            nb.behavior_for("hang_up", true),
            Some(ToolBehavior::Blocking)
        );
        assert_eq!(
            nb.scheduling_for("y", Some(ToolBehavior::NonBlocking), true),
            Some(ToolScheduling::Interrupt)
        );
        assert_eq!(
            nb.scheduling_for("z", Some(ToolBehavior::NonBlocking), true),
            Some(ToolScheduling::WhenIdle)
        );
        assert_eq!(
            nb.scheduling_for("z", Some(ToolBehavior::Blocking), true),
            None
        );
        // Nothing configured: a handler that returned nothing is answered SILENT (0.61),
        // one that returned a value gets the server default (key omitted).
        let plain = base()
            .tool_behavior(ToolBehavior::NonBlocking)
            .config()
            .unwrap();
        assert_eq!(
            plain.scheduling_for("z", Some(ToolBehavior::NonBlocking), true),
            Some(ToolScheduling::Silent)
        );
        assert_eq!(
            plain.scheduling_for("z", Some(ToolBehavior::NonBlocking), false),
            None
        );
        assert_eq!(
            plain.scheduling_for("z", Some(ToolBehavior::Blocking), true),
            None
        );
    }

    #[test]
    fn redaction_covers_raw_and_encoded_keys() {
        let c = GeminiRealtimeBuilder::default()
            .api_key("AIza/+x")
            .base_url("http://127.0.0.1:9/")
            .config()
            .unwrap();
        let url = c.connect_url();
        assert!(url.contains("key=AIza%2F%2Bx"));
        assert_eq!(
            c.redact(&format!("failed: {url} (AIza/+x)")),
            format!("failed: {}?key=<redacted> (<redacted>)", c.url)
        );
    }
}
