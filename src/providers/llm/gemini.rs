//! Gemini `generateContent` streaming (`:streamGenerateContent?alt=sse`) as a pipeline LLM.
//!
//! This is the *text* model of the pipeline; the realtime Gemini Live session lives in
//! `providers::gemini`.
//!
//! Credentials: an API key (`x-goog-api-key`; builder, `GOOGLE_API_KEY`, `GEMINI_API_KEY`) or
//! Vertex AI ([`vertex`](GeminiLlmBuilder::vertex), or `GOOGLE_GENAI_USE_VERTEXAI=true|1` with
//! `GOOGLE_CLOUD_PROJECT` / `GOOGLE_CLOUD_LOCATION` when no key is set) with
//! `Authorization: Bearer <token>` from a [`TokenProvider`] asked before every request (with the
//! cargo feature `vertex-adc` it defaults to Application Default Credentials).

use std::collections::HashMap;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::EMPTY_HISTORY_TEXT;
use crate::providers::gemini::TokenProvider;
use crate::providers::gemini::config::{default_token_source, fixed_token};
use crate::providers::pipeline::sse::{self, SseEvent, SseParser};
use crate::providers::pipeline::{
    ChatMessage, Llm, LlmEvent, LlmStream, ProviderError, ProviderInfo, ToolCall, ToolSpec,
    env_key, redacted,
};

const PROVIDER: &str = "gemini";
/// Default model.
pub const GEMINI_DEFAULT_MODEL: &str = "gemini-2.5-flash";
/// Default base URL.
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// API version path segment (google-genai 2.13 uses `v1beta`).
pub const GEMINI_API_VERSION: &str = "v1beta";
/// API version path segment on Vertex AI.
pub const GEMINI_VERTEX_API_VERSION: &str = "v1beta1";

/// Builds a [`GeminiLlm`].
#[derive(Clone)]
#[must_use]
pub struct GeminiLlmBuilder {
    api_key: String,
    /// Vertex AI project and location (wins over an empty key).
    vertex: Option<(String, String)>,
    vertex_token: Option<TokenProvider>,
    base_url: Option<String>,
    api_version: Option<String>,
    model: String,
    temperature: Option<f64>,
    max_output_tokens: u32,
}

impl std::fmt::Debug for GeminiLlmBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiLlmBuilder")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &redacted(&self.api_key))
            .field("vertex", &self.vertex)
            .finish_non_exhaustive()
    }
}

impl GeminiLlmBuilder {
    /// The API key (default: `GOOGLE_API_KEY`, then `GEMINI_API_KEY`); replaces Vertex AI.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self.vertex = None;
        self
    }
    /// Uses Vertex AI in `project` / `location` (e.g. `us-central1`); replaces the API key.
    pub fn vertex(mut self, project: impl Into<String>, location: impl Into<String>) -> Self {
        self.vertex = Some((project.into(), location.into()));
        self.api_key.clear();
        self
    }
    /// A fixed Vertex AI OAuth access token (scope `cloud-platform`).
    pub fn vertex_access_token(mut self, token: impl Into<String>) -> Self {
        self.vertex_token = Some(fixed_token(token.into()));
        self
    }
    /// A Vertex AI access-token source, asked before every request.
    pub fn vertex_token_provider(mut self, provider: TokenProvider) -> Self {
        self.vertex_token = Some(provider);
        self
    }
    /// The base URL (default [`GEMINI_BASE_URL`]; on Vertex AI
    /// `https://<location>-aiplatform.googleapis.com`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// The API version segment (default [`GEMINI_API_VERSION`]; on Vertex AI
    /// [`GEMINI_VERTEX_API_VERSION`]).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }
    /// The model (default [`GEMINI_DEFAULT_MODEL`]).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }
    /// Temperature (default 0.8; `None` omits it).
    pub fn temperature(mut self, t: Option<f64>) -> Self {
        self.temperature = t;
        self
    }
    /// `maxOutputTokens` (default 4096).
    pub fn max_output_tokens(mut self, n: u32) -> Self {
        self.max_output_tokens = n;
        self
    }
    /// The LLM.
    pub fn build(mut self) -> GeminiLlm {
        if self.vertex.is_some() && self.vertex_token.is_none() {
            self.vertex_token = default_token_source();
        }
        GeminiLlm {
            config: self,
            client: reqwest::Client::new(),
        }
    }
}

/// Gemini through `streamGenerateContent`, with an API key (`x-goog-api-key`) or on Vertex AI
/// (bearer token); see the [module docs](self).
#[derive(Clone)]
pub struct GeminiLlm {
    config: GeminiLlmBuilder,
    client: reqwest::Client,
}

impl std::fmt::Debug for GeminiLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiLlm")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// JSON Schema → Gemini `Schema`: type names upper-cased (`["string","null"]` becomes
/// `STRING` + `nullable`), everything else kept.
fn gemini_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        match (k.as_str(), v) {
            ("type", Value::String(t)) => {
                out.insert(k.clone(), Value::String(t.to_uppercase()));
            }
            ("type", Value::Array(types)) => {
                let mut names = types.iter().filter_map(Value::as_str);
                let nullable = types.iter().any(|t| t == "null");
                if let Some(t) = names.find(|t| *t != "null") {
                    out.insert(k.clone(), Value::String(t.to_uppercase()));
                }
                if nullable {
                    out.insert("nullable".into(), Value::Bool(true));
                }
            }
            ("properties", Value::Object(props)) => {
                let props = props
                    .iter()
                    .map(|(name, s)| (name.clone(), gemini_schema(s)))
                    .collect();
                out.insert(k.clone(), Value::Object(props));
            }
            ("items", s) => {
                out.insert(k.clone(), gemini_schema(s));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

impl GeminiLlm {
    /// A builder with the environment's credentials: `GOOGLE_API_KEY`, then `GEMINI_API_KEY`;
    /// without a key, Vertex AI when `GOOGLE_GENAI_USE_VERTEXAI` is `true`/`1` and
    /// `GOOGLE_CLOUD_PROJECT` and `GOOGLE_CLOUD_LOCATION` are set.
    pub fn builder() -> GeminiLlmBuilder {
        let mut api_key = env_key("GOOGLE_API_KEY");
        if api_key.is_empty() {
            api_key = env_key("GEMINI_API_KEY");
        }
        let use_vertex = matches!(
            env_key("GOOGLE_GENAI_USE_VERTEXAI")
                .to_ascii_lowercase()
                .as_str(),
            "true" | "1"
        );
        let (project, location) = (
            env_key("GOOGLE_CLOUD_PROJECT"),
            env_key("GOOGLE_CLOUD_LOCATION"),
        );
        let vertex =
            (api_key.is_empty() && use_vertex && !project.is_empty() && !location.is_empty())
                .then_some((project, location));
        GeminiLlmBuilder {
            api_key,
            vertex,
            vertex_token: None,
            base_url: None,
            api_version: None,
            model: GEMINI_DEFAULT_MODEL.to_owned(),
            temperature: Some(0.8),
            max_output_tokens: 4096,
        }
    }

    /// The request URL.
    ///
    /// ```
    /// use clawops::providers::llm::GeminiLlm;
    /// let llm = GeminiLlm::builder().vertex("proj", "us-central1").vertex_access_token("t").build();
    /// assert_eq!(
    ///     llm.url(),
    ///     "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/proj/locations/\
    ///      us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    ///         .replace(' ', "")
    /// );
    /// ```
    pub fn url(&self) -> String {
        let c = &self.config;
        match &c.vertex {
            None => format!(
                "{}/{}/models/{}:streamGenerateContent?alt=sse",
                c.base_url
                    .as_deref()
                    .unwrap_or(GEMINI_BASE_URL)
                    .trim_end_matches('/'),
                c.api_version.as_deref().unwrap_or(GEMINI_API_VERSION),
                c.model
            ),
            Some((project, location)) => {
                let host = format!("https://{location}-aiplatform.googleapis.com");
                format!(
                    "{}/{}/projects/{project}/locations/{location}/publishers/google/models/{}:streamGenerateContent?alt=sse",
                    c.base_url.as_deref().unwrap_or(&host).trim_end_matches('/'),
                    c.api_version
                        .as_deref()
                        .unwrap_or(GEMINI_VERTEX_API_VERSION),
                    c.model
                )
            }
        }
    }

    /// The request body for `messages` and `tools`.
    pub fn request_body(&self, messages: &[ChatMessage], tools: &[ToolSpec]) -> Value {
        let mut system: Option<String> = None;
        let mut names: HashMap<&str, &str> = HashMap::new();
        let mut contents = Vec::new();
        for m in messages {
            match m {
                ChatMessage::System { content } => system = Some(content.clone()),
                ChatMessage::User { content } => {
                    contents.push(json!({"role": "user", "parts": [{"text": content}]}));
                }
                ChatMessage::Assistant {
                    content,
                    tool_calls,
                } => {
                    let mut parts = Vec::new();
                    if let Some(text) = content.as_deref().filter(|t| !t.is_empty()) {
                        parts.push(json!({"text": text}));
                    }
                    for tc in tool_calls {
                        names.insert(&tc.id, &tc.function.name);
                        let args = match serde_json::from_str::<Value>(&tc.function.arguments) {
                            Ok(Value::Object(m)) => Value::Object(m),
                            _ => Value::Object(Map::new()),
                        };
                        parts.push(
                            json!({"functionCall": {"name": tc.function.name, "args": args}}),
                        );
                    }
                    if !parts.is_empty() {
                        contents.push(json!({"role": "model", "parts": parts}));
                    }
                }
                ChatMessage::Tool {
                    tool_call_id,
                    content,
                } => {
                    let name = names
                        .get(tool_call_id.as_str())
                        .copied()
                        .unwrap_or("unknown");
                    contents.push(json!({"role": "user", "parts": [{"functionResponse": {
                        "name": name, "response": {"result": content}}}]}));
                }
            }
        }
        if contents.is_empty() {
            contents.push(json!({"role": "user", "parts": [{"text": EMPTY_HISTORY_TEXT}]}));
        }
        let mut config = json!({"maxOutputTokens": self.config.max_output_tokens});
        if let Some(t) = self.config.temperature {
            config["temperature"] = json!(t);
        }
        let mut body = json!({"contents": contents, "generationConfig": config});
        if let Some(s) = system.filter(|s| !s.is_empty()) {
            body["systemInstruction"] = json!({"role": "user", "parts": [{"text": s}]});
        }
        if !tools.is_empty() {
            let decls: Vec<Value> = tools
                .iter()
                .map(|t| {
                    json!({"name": t.name, "description": t.description,
                        "parameters": gemini_schema(&t.parameters)})
                })
                .collect();
            body["tools"] = json!([{"functionDeclarations": decls}]);
        }
        body
    }
}

#[derive(Default)]
struct Parser {
    calls: Vec<ToolCall>,
}

impl SseParser for Parser {
    fn on_event(&mut self, event: &SseEvent) -> Result<(Vec<LlmEvent>, bool), ProviderError> {
        if event.data.trim().is_empty() {
            return Ok((Vec::new(), false));
        }
        let v = sse::json(PROVIDER, &event.data)?;
        if let Some(err) = v.get("error") {
            return Err(ProviderError::Protocol {
                provider: PROVIDER,
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| err.to_string(), str::to_owned),
            });
        }
        let Some(parts) = v
            .pointer("/candidates/0/content/parts")
            .and_then(Value::as_array)
        else {
            return Ok((Vec::new(), false));
        };
        let mut out = Vec::new();
        for part in parts {
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                if !text.is_empty() && part.get("thought") != Some(&Value::Bool(true)) {
                    out.push(LlmEvent::Text(text.to_owned()));
                }
            } else if let Some(fc) = part.get("functionCall") {
                let name = fc
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let args = fc
                    .get("args")
                    .filter(|a| a.is_object())
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let id = format!("call_{name}_{}", self.calls.len());
                self.calls.push(ToolCall::new(id, name, args.to_string()));
            }
        }
        Ok((out, false))
    }

    fn finish(&mut self) -> Vec<LlmEvent> {
        if self.calls.is_empty() {
            Vec::new()
        } else {
            vec![LlmEvent::ToolCalls(std::mem::take(&mut self.calls))]
        }
    }
}

#[async_trait]
impl Llm for GeminiLlm {
    async fn generate(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<LlmStream, ProviderError> {
        let mut headers = HeaderMap::new();
        if self.config.vertex.is_some() {
            let source =
                self.config
                    .vertex_token
                    .as_ref()
                    .ok_or_else(|| ProviderError::Config {
                        provider: PROVIDER,
                        message: "Vertex AI needs an access token: vertex_access_token, \
                              vertex_token_provider, or the vertex-adc feature"
                            .into(),
                    })?;
            let token = source().await.map_err(|message| ProviderError::Config {
                provider: PROVIDER,
                message,
            })?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ProviderError::Config {
                    provider: PROVIDER,
                    message: "access token is not a valid header value".into(),
                }
            })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        } else {
            let mut key =
                HeaderValue::from_str(&self.config.api_key).map_err(|_| ProviderError::Config {
                    provider: PROVIDER,
                    message: "API key is not a valid header value".into(),
                })?;
            key.set_sensitive(true);
            headers.insert("x-goog-api-key", key);
        }
        let body = self.request_body(messages, tools);
        let events = sse::post(&self.client, PROVIDER, &self.url(), headers, &body).await?;
        Ok(sse::llm_stream(events, Parser::default()))
    }

    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new(PROVIDER, &self.config.model))
    }
}
