//! Gemini `generateContent` streaming (`:streamGenerateContent?alt=sse`) as a pipeline LLM.
//!
//! This is the *text* model of the pipeline; the realtime Gemini Live session lives in
//! `providers::gemini`.

use std::collections::HashMap;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::EMPTY_HISTORY_TEXT;
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

/// Builds a [`GeminiLlm`].
#[derive(Clone)]
#[must_use]
pub struct GeminiLlmBuilder {
    api_key: String,
    base_url: String,
    api_version: String,
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
            .finish_non_exhaustive()
    }
}

impl GeminiLlmBuilder {
    /// The API key (default: `GOOGLE_API_KEY`, then `GEMINI_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }
    /// The base URL (default [`GEMINI_BASE_URL`]).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    /// The API version segment (default [`GEMINI_API_VERSION`]).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
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
    pub fn build(self) -> GeminiLlm {
        GeminiLlm {
            config: self,
            client: reqwest::Client::new(),
        }
    }
}

/// Gemini through `streamGenerateContent` with an API key (`x-goog-api-key`). Vertex AI
/// (OAuth) is not supported by this provider.
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
    /// A builder with the environment's key.
    pub fn builder() -> GeminiLlmBuilder {
        let mut api_key = env_key("GOOGLE_API_KEY");
        if api_key.is_empty() {
            api_key = env_key("GEMINI_API_KEY");
        }
        GeminiLlmBuilder {
            api_key,
            base_url: GEMINI_BASE_URL.to_owned(),
            api_version: GEMINI_API_VERSION.to_owned(),
            model: GEMINI_DEFAULT_MODEL.to_owned(),
            temperature: Some(0.8),
            max_output_tokens: 4096,
        }
    }

    /// The request URL.
    pub fn url(&self) -> String {
        format!(
            "{}/{}/models/{}:streamGenerateContent?alt=sse",
            self.config.base_url.trim_end_matches('/'),
            self.config.api_version,
            self.config.model
        )
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
        let key =
            HeaderValue::from_str(&self.config.api_key).map_err(|_| ProviderError::Config {
                provider: PROVIDER,
                message: "API key is not a valid header value".into(),
            })?;
        headers.insert("x-goog-api-key", key);
        let body = self.request_body(messages, tools);
        let events = sse::post(&self.client, PROVIDER, &self.url(), headers, &body).await?;
        Ok(sse::llm_stream(events, Parser::default()))
    }

    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new(PROVIDER, &self.config.model))
    }
}
