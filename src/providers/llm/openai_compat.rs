//! OpenAI chat completions (streaming) and the OpenAI-compatible presets.

use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::providers::pipeline::sse::{self, SseEvent, SseParser};
use crate::providers::pipeline::{
    ChatMessage, Llm, LlmEvent, LlmStream, ProviderError, ProviderInfo, ToolCall, ToolSpec,
    env_key, redacted,
};

const PROVIDER: &str = "openai_compatible";

/// A hosted (or local) service that speaks OpenAI chat completions, with the Python SDK's
/// defaults.
///
/// ```
/// use clawops::providers::llm::Preset;
/// assert_eq!(Preset::Groq.base_url(), "https://api.groq.com/openai/v1");
/// assert_eq!(Preset::Groq.api_key_env(), Some("GROQ_API_KEY"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// OpenAI (`OPENAI_BASE_URL` overrides the base URL).
    OpenAi,
    /// Groq.
    Groq,
    /// Together AI.
    Together,
    /// Fireworks AI.
    Fireworks,
    /// DeepSeek.
    DeepSeek,
    /// xAI.
    Xai,
    /// Mistral.
    Mistral,
    /// Perplexity.
    Perplexity,
    /// Ollama (local; `OLLAMA_BASE_URL` overrides the base URL; the key is the literal `ollama`).
    Ollama,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 9] = [
        Preset::OpenAi,
        Preset::Groq,
        Preset::Together,
        Preset::Fireworks,
        Preset::DeepSeek,
        Preset::Xai,
        Preset::Mistral,
        Preset::Perplexity,
        Preset::Ollama,
    ];

    /// Telemetry provider name.
    pub fn provider(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Groq => "groq",
            Self::Together => "together",
            Self::Fireworks => "fireworks",
            Self::DeepSeek => "deepseek",
            Self::Xai => "xai",
            Self::Mistral => "mistral",
            Self::Perplexity => "perplexity",
            Self::Ollama => "ollama",
        }
    }

    /// Default base URL (before environment overrides).
    pub fn base_url(self) -> &'static str {
        match self {
            Self::OpenAi => "https://api.openai.com/v1",
            Self::Groq => "https://api.groq.com/openai/v1",
            Self::Together => "https://api.together.xyz/v1",
            Self::Fireworks => "https://api.fireworks.ai/inference/v1",
            Self::DeepSeek => "https://api.deepseek.com",
            Self::Xai => "https://api.x.ai/v1",
            Self::Mistral => "https://api.mistral.ai/v1",
            Self::Perplexity => "https://api.perplexity.ai",
            Self::Ollama => "http://localhost:11434/v1",
        }
    }

    /// Environment variable that overrides the base URL, if any.
    pub fn base_url_env(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("OPENAI_BASE_URL"),
            Self::Ollama => Some("OLLAMA_BASE_URL"),
            _ => None,
        }
    }

    /// Default model.
    pub fn default_model(self) -> &'static str {
        match self {
            Self::OpenAi => "gpt-4o-mini",
            Self::Groq => "meta-llama/llama-4-scout-17b-16e-instruct",
            Self::Together => "meta-llama/Llama-4-Scout-17B-16E-Instruct",
            Self::Fireworks => "accounts/fireworks/models/llama4-scout-instruct-basic",
            Self::DeepSeek => "deepseek-chat",
            Self::Xai => "grok-4-1-fast",
            Self::Mistral => "mistral-small-latest",
            Self::Perplexity => "sonar",
            Self::Ollama => "llama3.2",
        }
    }

    /// Environment variable holding the API key (`None` for Ollama).
    pub fn api_key_env(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("OPENAI_API_KEY"),
            Self::Groq => Some("GROQ_API_KEY"),
            Self::Together => Some("TOGETHER_API_KEY"),
            Self::Fireworks => Some("FIREWORKS_API_KEY"),
            Self::DeepSeek => Some("DEEPSEEK_API_KEY"),
            Self::Xai => Some("XAI_API_KEY"),
            Self::Mistral => Some("MISTRAL_API_KEY"),
            Self::Perplexity => Some("PERPLEXITY_API_KEY"),
            Self::Ollama => None,
        }
    }

    /// A builder with this preset's base URL, model and key (from the environment).
    pub fn builder(self) -> OpenAiCompatibleBuilder {
        let base_url = self
            .base_url_env()
            .and_then(|v| std::env::var(v).ok())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.base_url().to_owned());
        let api_key = match self.api_key_env() {
            Some(var) => env_key(var),
            None => "ollama".to_owned(),
        };
        OpenAiCompatibleBuilder {
            provider: self.provider(),
            base_url,
            model: self.default_model().to_owned(),
            api_key,
            temperature: Some(0.8),
            max_tokens: Some(4096),
        }
    }
}

/// Builds an [`OpenAiCompatibleLlm`].
#[derive(Clone)]
#[must_use]
pub struct OpenAiCompatibleBuilder {
    provider: &'static str,
    base_url: String,
    model: String,
    api_key: String,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
}

impl std::fmt::Debug for OpenAiCompatibleBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatibleBuilder")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &redacted(&self.api_key))
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatibleBuilder {
    /// The API key (overrides the environment).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }
    /// The model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }
    /// The base URL (`…/v1`; `/chat/completions` is appended). The Python SDK fixes it for
    /// hosted presets; here it can always be changed (proxies, tests).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    /// Sampling temperature (default 0.8; `None` omits it).
    pub fn temperature(mut self, t: Option<f64>) -> Self {
        self.temperature = t;
        self
    }
    /// `max_tokens` (default 4096; `None` omits it, e.g. for reasoning models).
    pub fn max_tokens(mut self, n: Option<u32>) -> Self {
        self.max_tokens = n;
        self
    }
    /// The LLM.
    pub fn build(self) -> OpenAiCompatibleLlm {
        OpenAiCompatibleLlm {
            config: self,
            client: reqwest::Client::new(),
        }
    }
}

/// A chat-completions LLM (`POST <base>/chat/completions`, `stream: true`), for OpenAI and
/// every compatible service.
///
/// Deviation from the Python SDK: accumulated tool calls are reported whatever the
/// `finish_reason` (some compatible servers finish tool calls with `stop`; the SDK dropped
/// them).
#[derive(Clone)]
pub struct OpenAiCompatibleLlm {
    config: OpenAiCompatibleBuilder,
    client: reqwest::Client,
}

impl std::fmt::Debug for OpenAiCompatibleLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatibleLlm")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatibleLlm {
    /// A generic compatible service (provider `openai_compatible`, no key variable).
    pub fn builder(
        base_url: impl Into<String>,
        model: impl Into<String>,
        api_key: impl Into<String>,
    ) -> OpenAiCompatibleBuilder {
        OpenAiCompatibleBuilder {
            provider: PROVIDER,
            base_url: base_url.into(),
            model: model.into(),
            api_key: api_key.into(),
            temperature: Some(0.8),
            max_tokens: Some(4096),
        }
    }
    /// OpenAI (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `gpt-4o-mini`).
    pub fn openai() -> OpenAiCompatibleBuilder {
        Preset::OpenAi.builder()
    }
    /// Groq (`GROQ_API_KEY`).
    pub fn groq() -> OpenAiCompatibleBuilder {
        Preset::Groq.builder()
    }
    /// Together AI (`TOGETHER_API_KEY`).
    pub fn together() -> OpenAiCompatibleBuilder {
        Preset::Together.builder()
    }
    /// Fireworks AI (`FIREWORKS_API_KEY`).
    pub fn fireworks() -> OpenAiCompatibleBuilder {
        Preset::Fireworks.builder()
    }
    /// DeepSeek (`DEEPSEEK_API_KEY`).
    pub fn deepseek() -> OpenAiCompatibleBuilder {
        Preset::DeepSeek.builder()
    }
    /// xAI (`XAI_API_KEY`).
    pub fn xai() -> OpenAiCompatibleBuilder {
        Preset::Xai.builder()
    }
    /// Mistral (`MISTRAL_API_KEY`).
    pub fn mistral() -> OpenAiCompatibleBuilder {
        Preset::Mistral.builder()
    }
    /// Perplexity (`PERPLEXITY_API_KEY`).
    pub fn perplexity() -> OpenAiCompatibleBuilder {
        Preset::Perplexity.builder()
    }
    /// Ollama (`OLLAMA_BASE_URL`, key `ollama`).
    pub fn ollama() -> OpenAiCompatibleBuilder {
        Preset::Ollama.builder()
    }

    /// The request URL.
    pub fn url(&self) -> String {
        format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        )
    }

    /// The request body for `messages` and `tools`.
    pub fn request_body(&self, messages: &[ChatMessage], tools: &[ToolSpec]) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "stream": true,
            "messages": messages,
        });
        if let Some(n) = self.config.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(t) = self.config.temperature {
            body["temperature"] = json!(t);
        }
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools.iter().map(ToolSpec::chat).collect());
        }
        body
    }
}

#[derive(Default)]
struct Acc {
    id: String,
    name: String,
    arguments: String,
}

#[derive(Default)]
struct Parser {
    calls: BTreeMap<u64, Acc>,
}

impl SseParser for Parser {
    fn on_event(&mut self, event: &SseEvent) -> Result<(Vec<LlmEvent>, bool), ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok((Vec::new(), true));
        }
        if data.is_empty() {
            return Ok((Vec::new(), false));
        }
        let v = sse::json(PROVIDER, data)?;
        if let Some(err) = v.get("error") {
            return Err(ProviderError::Protocol {
                provider: PROVIDER,
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| err.to_string(), str::to_owned),
            });
        }
        let Some(choice) = v.pointer("/choices/0") else {
            return Ok((Vec::new(), false));
        };
        let mut out = Vec::new();
        if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str)
            && !text.is_empty()
        {
            out.push(LlmEvent::Text(text.to_owned()));
        }
        if let Some(deltas) = choice
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array)
        {
            for (pos, d) in deltas.iter().enumerate() {
                let index = d.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
                let acc = self.calls.entry(index).or_default();
                if let Some(id) = d.get("id").and_then(Value::as_str)
                    && !id.is_empty()
                {
                    id.clone_into(&mut acc.id);
                }
                if let Some(name) = d.pointer("/function/name").and_then(Value::as_str)
                    && !name.is_empty()
                {
                    name.clone_into(&mut acc.name);
                }
                if let Some(args) = d.pointer("/function/arguments").and_then(Value::as_str) {
                    acc.arguments.push_str(args);
                }
            }
        }
        Ok((out, false))
    }

    fn finish(&mut self) -> Vec<LlmEvent> {
        if self.calls.is_empty() {
            return Vec::new();
        }
        let calls = std::mem::take(&mut self.calls)
            .into_values()
            .map(|a| ToolCall::new(a.id, a.name, a.arguments))
            .collect();
        vec![LlmEvent::ToolCalls(calls)]
    }
}

#[async_trait]
impl Llm for OpenAiCompatibleLlm {
    async fn generate(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<LlmStream, ProviderError> {
        let provider = self.config.provider;
        let mut headers = HeaderMap::new();
        let auth =
            HeaderValue::from_str(&format!("Bearer {}", self.config.api_key)).map_err(|_| {
                ProviderError::Config {
                    provider,
                    message: "API key is not a valid header value".into(),
                }
            })?;
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let body = self.request_body(messages, tools);
        let events = sse::post(&self.client, provider, &self.url(), headers, &body).await?;
        Ok(sse::llm_stream(events, Parser::default()))
    }

    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new(self.config.provider, &self.config.model))
    }
}
