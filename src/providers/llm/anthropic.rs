//! Anthropic Messages streaming (`POST /v1/messages`, `stream: true`).

use async_trait::async_trait;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::EMPTY_HISTORY_TEXT;
use crate::providers::pipeline::sse::{self, SseEvent, SseParser};
use crate::providers::pipeline::{
    ChatMessage, Llm, LlmEvent, LlmStream, ProviderError, ProviderInfo, ToolCall, ToolSpec,
    env_key, redacted,
};

const PROVIDER: &str = "anthropic";
/// Default model.
pub const ANTHROPIC_DEFAULT_MODEL: &str = "claude-sonnet-4-6";
/// Default base URL (`ANTHROPIC_BASE_URL` overrides it).
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Builds an [`AnthropicLlm`].
#[derive(Clone)]
#[must_use]
pub struct AnthropicBuilder {
    api_key: String,
    base_url: String,
    model: String,
    temperature: Option<f64>,
    max_tokens: u32,
}

impl std::fmt::Debug for AnthropicBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicBuilder")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &redacted(&self.api_key))
            .finish_non_exhaustive()
    }
}

impl AnthropicBuilder {
    /// The API key (default: `ANTHROPIC_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }
    /// The base URL (default: `ANTHROPIC_BASE_URL` or `https://api.anthropic.com`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    /// The model (default [`ANTHROPIC_DEFAULT_MODEL`]).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }
    /// Temperature (default 0.8; `None` omits it — newer models reject it).
    pub fn temperature(mut self, t: Option<f64>) -> Self {
        self.temperature = t;
        self
    }
    /// `max_tokens` (default 4096).
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = n;
        self
    }
    /// The LLM.
    pub fn build(self) -> AnthropicLlm {
        AnthropicLlm {
            config: self,
            client: reqwest::Client::new(),
        }
    }
}

/// Claude through the Messages API, streaming; tool calls come from `tool_use` blocks.
#[derive(Clone)]
pub struct AnthropicLlm {
    config: AnthropicBuilder,
    client: reqwest::Client,
}

impl std::fmt::Debug for AnthropicLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicLlm")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn parse_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(m)) => Value::Object(m),
        _ => Value::Object(Map::new()),
    }
}

impl AnthropicLlm {
    /// A builder with the environment's key and base URL.
    pub fn builder() -> AnthropicBuilder {
        AnthropicBuilder {
            api_key: env_key("ANTHROPIC_API_KEY"),
            base_url: std::env::var("ANTHROPIC_BASE_URL")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| ANTHROPIC_BASE_URL.to_owned()),
            model: ANTHROPIC_DEFAULT_MODEL.to_owned(),
            temperature: Some(0.8),
            max_tokens: 4096,
        }
    }

    /// The request URL.
    pub fn url(&self) -> String {
        format!("{}/v1/messages", self.config.base_url.trim_end_matches('/'))
    }

    /// The request body for `messages` and `tools`.
    pub fn request_body(&self, messages: &[ChatMessage], tools: &[ToolSpec]) -> Value {
        let mut system = String::new();
        let mut out = Vec::new();
        for m in messages {
            match m {
                ChatMessage::System { content } => content.clone_into(&mut system),
                ChatMessage::User { content } => {
                    out.push(json!({"role": "user", "content": content}));
                }
                ChatMessage::Assistant {
                    content,
                    tool_calls,
                } if tool_calls.is_empty() => {
                    out.push(json!({"role": "assistant", "content": content.clone().unwrap_or_default()}));
                }
                ChatMessage::Assistant {
                    content,
                    tool_calls,
                } => {
                    let mut blocks = Vec::new();
                    if let Some(text) = content.as_deref().filter(|t| !t.is_empty()) {
                        blocks.push(json!({"type": "text", "text": text}));
                    }
                    for tc in tool_calls {
                        blocks.push(
                            json!({"type": "tool_use", "id": tc.id, "name": tc.function.name,
                            "input": parse_object(&tc.function.arguments)}),
                        );
                    }
                    out.push(json!({"role": "assistant", "content": blocks}));
                }
                ChatMessage::Tool {
                    tool_call_id,
                    content,
                } => out.push(json!({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": tool_call_id, "content": content}]})),
            }
        }
        if out.is_empty() {
            out.push(json!({"role": "user", "content": EMPTY_HISTORY_TEXT}));
        }
        let mut body = json!({
            "max_tokens": self.config.max_tokens,
            "model": self.config.model,
            "stream": true,
            "messages": out,
        });
        if !system.is_empty() {
            body["system"] = json!(system);
        }
        if let Some(t) = self.config.temperature {
            body["temperature"] = json!(t);
        }
        if !tools.is_empty() {
            body["tools"] = Value::Array(
                tools
                    .iter()
                    .map(|t| {
                        let schema = if t.parameters.is_object() {
                            t.parameters.clone()
                        } else {
                            json!({"type": "object", "properties": {}})
                        };
                        json!({"name": t.name, "description": t.description, "input_schema": schema})
                    })
                    .collect(),
            );
        }
        body
    }
}

#[derive(Default)]
struct Parser {
    calls: Vec<ToolCall>,
    open: Option<usize>,
}

impl SseParser for Parser {
    fn on_event(&mut self, event: &SseEvent) -> Result<(Vec<LlmEvent>, bool), ProviderError> {
        if event.data.trim().is_empty() {
            return Ok((Vec::new(), false));
        }
        let v = sse::json(PROVIDER, &event.data)?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(&event.event);
        let mut out = Vec::new();
        match kind {
            "content_block_start"
                if v.pointer("/content_block/type").and_then(Value::as_str) == Some("tool_use") =>
            {
                let field = |k: &str| {
                    v.pointer(&format!("/content_block/{k}"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                self.calls
                    .push(ToolCall::new(field("id"), field("name"), String::new()));
                self.open = Some(self.calls.len() - 1);
            }
            "content_block_delta" => match v.pointer("/delta/type").and_then(Value::as_str) {
                Some("text_delta") => {
                    if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str)
                        && !t.is_empty()
                    {
                        out.push(LlmEvent::Text(t.to_owned()));
                    }
                }
                Some("input_json_delta") => {
                    if let (Some(i), Some(p)) = (
                        self.open,
                        v.pointer("/delta/partial_json").and_then(Value::as_str),
                    ) && let Some(call) = self.calls.get_mut(i)
                    {
                        call.function.arguments.push_str(p);
                    }
                }
                _ => {}
            },
            "content_block_stop" => self.open = None,
            "message_stop" => return Ok((out, true)),
            "error" => {
                return Err(ProviderError::Protocol {
                    provider: PROVIDER,
                    message: v
                        .pointer("/error/message")
                        .and_then(Value::as_str)
                        .map_or_else(|| v.to_string(), str::to_owned),
                });
            }
            _ => {}
        }
        Ok((out, false))
    }

    fn finish(&mut self) -> Vec<LlmEvent> {
        if self.calls.is_empty() {
            return Vec::new();
        }
        let mut calls = std::mem::take(&mut self.calls);
        for c in &mut calls {
            if c.function.arguments.trim().is_empty() {
                c.function.arguments = "{}".into();
            }
        }
        vec![LlmEvent::ToolCalls(calls)]
    }
}

#[async_trait]
impl Llm for AnthropicLlm {
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
        headers.insert("x-api-key", key);
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let body = self.request_body(messages, tools);
        let events = sse::post(&self.client, PROVIDER, &self.url(), headers, &body).await?;
        Ok(sse::llm_stream(events, Parser::default()))
    }

    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new(PROVIDER, &self.config.model))
    }
}
