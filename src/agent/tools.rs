//! User tools: registration, JSON schema, execution.
//!
//! A tool is an async function whose argument type derives `Deserialize + JsonSchema`.
//! [schemars] builds the parameter schema; doc comments become descriptions (the struct's doc
//! comment is the tool description unless one is given). The schema is normalised into the
//! neutral format of agent-protocol §7.1 (`{"name","description","parameters":{"type":"object",
//! "properties":…,"required":[…]}}`), which providers wrap in their own shapes
//! ([`ToolSpec::realtime`], [`ToolSpec::chat`], [`ToolSpec::gemini`]).
//!
//! Execution never fails the caller: every call gets an answer (incident 2). Unknown tools,
//! argument errors, handler errors and panics all become an `Error: …` text for the model.
//! Concurrent and duplicate calls of a tool each execute (the model asked twice); tools that
//! must not overlap (e.g. `collect_dtmf`) guard themselves. [`InFlightTools`] cancels running
//! tools on barge-in so they send no result (incident 1).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), clawops::agent::AgentError> {
//! use clawops::agent::{ToolOutput, ToolRegistry};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// Looks up an order's delivery status.
//! #[derive(Deserialize, JsonSchema)]
//! struct OrderStatus {
//!     /// The order number printed on the receipt.
//!     order_id: String,
//! }
//!
//! let mut tools = ToolRegistry::new();
//! tools.register("order_status", |args: OrderStatus| async move {
//!     Ok::<_, std::convert::Infallible>(format!("order {} ships today", args.order_id))
//! })?;
//!
//! let spec = &tools.specs()[0];
//! assert_eq!(spec.description, "Looks up an order's delivery status.");
//! assert_eq!(spec.parameters["required"], serde_json::json!(["order_id"]));
//!
//! let out = tools.execute("order_status", r#"{"order_id":"A-7"}"#).await;
//! assert_eq!(out, ToolOutput::Text("order A-7 ships today".into()));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{AbortHandle, Abortable, BoxFuture};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::AgentError;
use super::builtins::BuiltinTool;

/// A tool's definition in the neutral format (§7.1).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// What the tool does (shown to the model).
    pub description: String,
    /// JSON schema of the arguments: `{"type":"object","properties":…,"required":[…]}`.
    pub parameters: Value,
}

impl ToolSpec {
    /// Builds a spec.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }

    /// Neutral / Gemini shape: `{"name","description","parameters"}`.
    pub fn neutral(&self) -> Value {
        json!({"name": self.name, "description": self.description, "parameters": self.parameters})
    }

    /// Gemini function declaration (same as [`ToolSpec::neutral`]).
    pub fn gemini(&self) -> Value {
        self.neutral()
    }

    /// OpenAI Realtime shape: `{"type":"function","name","description","parameters"}`.
    pub fn realtime(&self) -> Value {
        json!({"type": "function", "name": self.name, "description": self.description, "parameters": self.parameters})
    }

    /// Chat-completions shape: `{"type":"function","function":{…}}`.
    pub fn chat(&self) -> Value {
        json!({"type": "function", "function": self.neutral()})
    }
}

/// What goes back to the model for one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolOutput {
    /// A normal result.
    Text(String),
    /// The handler returned nothing (`()`): the model gets `ok`, and Gemini Live schedules
    /// the answer of a NON_BLOCKING tool `SILENT` unless a scheduling is configured.
    Empty,
    /// A failure, reported to the model as `Error: <message>`.
    Error(String),
    /// A failure of an MCP tool (an `isError` result, a crashed server, a timeout), reported to
    /// the model as `MCP Error: <message>` (providers.md §8.4).
    McpError(String),
    /// Nothing is sent back and no new response is requested (`hang_up`).
    Silent,
}

impl ToolOutput {
    /// The text for the model, or `None` for [`ToolOutput::Silent`].
    ///
    /// ```
    /// use clawops::agent::ToolOutput;
    /// assert_eq!(ToolOutput::Error("boom".into()).model_text().as_deref(), Some("Error: boom"));
    /// ```
    pub fn model_text(&self) -> Option<String> {
        match self {
            Self::Text(t) => Some(t.clone()),
            Self::Empty => Some("ok".to_owned()),
            Self::Error(e) => Some(format!("Error: {e}")),
            Self::McpError(e) => Some(format!("MCP Error: {e}")),
            Self::Silent => None,
        }
    }

    /// Whether this is an error result.
    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error(_) | Self::McpError(_))
    }
}

/// Values a tool handler may return.
pub trait IntoToolOutput {
    /// Converts into the model-facing output.
    fn into_tool_output(self) -> ToolOutput;
}

impl IntoToolOutput for ToolOutput {
    fn into_tool_output(self) -> ToolOutput {
        self
    }
}
impl IntoToolOutput for String {
    fn into_tool_output(self) -> ToolOutput {
        ToolOutput::Text(self)
    }
}
impl IntoToolOutput for &'static str {
    fn into_tool_output(self) -> ToolOutput {
        ToolOutput::Text(self.to_owned())
    }
}
impl IntoToolOutput for Value {
    fn into_tool_output(self) -> ToolOutput {
        match self {
            Value::String(s) => ToolOutput::Text(s),
            other => ToolOutput::Text(other.to_string()),
        }
    }
}
impl IntoToolOutput for () {
    fn into_tool_output(self) -> ToolOutput {
        ToolOutput::Empty
    }
}

pub(crate) type Handler = dyn Fn(Value) -> BoxFuture<'static, ToolOutput> + Send + Sync;

struct RegisteredTool {
    spec: ToolSpec,
    handler: Box<Handler>,
    /// `tool.source` of the `tool.call` span: `"local"` or `"mcp"`.
    source: &'static str,
}

/// Registered user tools, in registration order. Cloning is cheap (a fork per call shares the
/// handlers, not per-call additions).
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Arc<RegisteredTool>>,
    index: HashMap<String, usize>,
    /// Parent of the `tool.call` spans (the call's `llm.session` span), set per call.
    trace_parent: Option<tracing::Span>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tools.iter().map(|t| &t.spec.name))
            .finish()
    }
}

fn validate_name(name: &str) -> Result<(), AgentError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(AgentError::invalid(
            "tool name",
            format!("{name:?} must be 1-64 characters of A-Z, a-z, 0-9, _ or -"),
        ));
    }
    if BuiltinTool::from_name(name).is_some() {
        return Err(AgentError::invalid(
            "tool name",
            format!("Tool name conflict: {name} is a builtin tool"),
        ));
    }
    Ok(())
}

/// The neutral parameter schema of an argument type.
pub fn parameters_schema<A: JsonSchema>() -> (Value, Option<String>) {
    let schema = schemars::generate::SchemaSettings::draft07()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<A>();
    normalise_root(schema.as_value())
}

fn normalise_root(root: &Value) -> (Value, Option<String>) {
    let description = root
        .get("description")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_owned());
    let mut properties = Map::new();
    if let Some(props) = root.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            properties.insert(k.clone(), normalise(v));
        }
    }
    let required = root
        .get("required")
        .cloned()
        .unwrap_or_else(|| Value::Array(Vec::new()));
    (
        json!({"type": "object", "properties": properties, "required": required}),
        description,
    )
}

/// Strips schemars details providers reject (`title`, `format`, `$schema`, `default`) and turns
/// `Option<T>` (`["T","null"]` / `anyOf [T, null]`) into plain `T`.
fn normalise(v: &Value) -> Value {
    let Some(obj) = v.as_object() else {
        return v.clone();
    };
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = obj.get(key) {
            let non_null: Vec<&Value> = alts
                .iter()
                .filter(|a| a.get("type") != Some(&json!("null")))
                .collect();
            if non_null.len() == 1 && alts.len() == 2 {
                let mut inner = normalise(non_null[0]);
                if let (Some(desc), Some(o)) = (obj.get("description"), inner.as_object_mut()) {
                    o.insert("description".into(), desc.clone());
                }
                return inner;
            }
        }
    }
    let mut out = Map::new();
    for (k, val) in obj {
        match k.as_str() {
            "title" | "format" | "$schema" | "default" | "examples" => {}
            "type" => {
                let t = match val {
                    Value::Array(types) => {
                        let non_null: Vec<&Value> =
                            types.iter().filter(|t| *t != &json!("null")).collect();
                        if non_null.len() == 1 {
                            non_null[0].clone()
                        } else {
                            val.clone()
                        }
                    }
                    other => other.clone(),
                };
                out.insert(k.clone(), t);
            }
            "properties" => {
                let props = val
                    .as_object()
                    .map(|p| {
                        p.iter()
                            .map(|(pk, pv)| (pk.clone(), normalise(pv)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" => {
                out.insert(k.clone(), normalise(val));
            }
            "enum" => {
                let vals: Vec<Value> = val
                    .as_array()
                    .map(|a| a.iter().filter(|v| !v.is_null()).cloned().collect())
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Array(vals));
            }
            _ => {
                out.insert(k.clone(), val.clone());
            }
        }
    }
    Value::Object(out)
}

/// Lenient argument coercion (the peer passes each argument through its annotated type):
/// `"3"` → `3` for integer/number properties, `"true"`/`"false"` for booleans.
fn coerce(args: &mut Value, parameters: &Value) {
    let (Some(args), Some(props)) = (
        args.as_object_mut(),
        parameters.get("properties").and_then(Value::as_object),
    ) else {
        return;
    };
    for (name, prop) in props {
        let Some(Value::String(s)) = args.get(name) else {
            continue;
        };
        let s = s.trim();
        let coerced = match prop.get("type").and_then(Value::as_str) {
            Some("integer") => s.parse::<i64>().ok().map(Value::from),
            Some("number") => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            Some("boolean") => match s {
                "true" | "True" => Some(Value::Bool(true)),
                "false" | "False" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        };
        if let Some(c) = coerced {
            args.insert(name.clone(), c);
        }
    }
}

/// Parses the model's argument string; empty means `{}`.
pub(crate) fn parse_args(raw: &str) -> Result<Value, String> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_str::<Value>(raw).map_err(|e| format!("invalid JSON arguments: {e}"))
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` under `name`; the description is the argument type's doc comment.
    pub fn register<A, F, Fut, R, E>(
        &mut self,
        name: &str,
        handler: F,
    ) -> Result<&mut Self, AgentError>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: IntoToolOutput,
        E: Display,
    {
        self.register_inner(name, None, handler)
    }

    /// Registers with an explicit description.
    pub fn register_with_description<A, F, Fut, R, E>(
        &mut self,
        name: &str,
        description: &str,
        handler: F,
    ) -> Result<&mut Self, AgentError>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: IntoToolOutput,
        E: Display,
    {
        self.register_inner(name, Some(description.trim().to_owned()), handler)
    }

    fn register_inner<A, F, Fut, R, E>(
        &mut self,
        name: &str,
        description: Option<String>,
        handler: F,
    ) -> Result<&mut Self, AgentError>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: IntoToolOutput,
        E: Display,
    {
        validate_name(name)?;
        if self.index.contains_key(name) {
            return Err(AgentError::invalid(
                "tool name",
                format!("Tool name conflict: {name}"),
            ));
        }
        let (parameters, doc) = parameters_schema::<A>();
        let spec = ToolSpec::new(name, description.or(doc).unwrap_or_default(), parameters);
        let coerce_schema = spec.parameters.clone();
        let tool_name = name.to_owned();
        let handler = move |mut args: Value| -> BoxFuture<'static, ToolOutput> {
            coerce(&mut args, &coerce_schema);
            match serde_json::from_value::<A>(args) {
                Err(e) => {
                    let msg = format!("invalid arguments for {tool_name}: {e}");
                    Box::pin(async move { ToolOutput::Error(msg) })
                }
                Ok(a) => {
                    let fut = handler(a);
                    Box::pin(async move {
                        match fut.await {
                            Ok(r) => r.into_tool_output(),
                            Err(e) => ToolOutput::Error(e.to_string()),
                        }
                    })
                }
            }
        };
        self.index.insert(name.to_owned(), self.tools.len());
        self.tools.push(Arc::new(RegisteredTool {
            spec,
            handler: Box::new(handler),
            source: "local",
        }));
        Ok(self)
    }

    /// Adds a tool with a ready schema and raw-JSON handler (MCP tools): same name rules as
    /// [`ToolRegistry::register`] (builtin names and existing names are a conflict).
    #[cfg_attr(not(feature = "mcp"), allow(dead_code))]
    pub(crate) fn register_raw(
        &mut self,
        spec: ToolSpec,
        source: &'static str,
        handler: Box<Handler>,
    ) -> Result<(), AgentError> {
        validate_name(&spec.name)?;
        if self.index.contains_key(&spec.name) {
            return Err(AgentError::invalid(
                "tool name",
                format!("Tool name conflict: {}", spec.name),
            ));
        }
        self.index.insert(spec.name.clone(), self.tools.len());
        self.tools.push(Arc::new(RegisteredTool {
            spec,
            handler,
            source,
        }));
        Ok(())
    }

    /// Makes `span` the parent of this registry's `tool.call` spans (the call's `llm.session`
    /// span), so the span tree holds even when a session runs tools in un-instrumented tasks.
    #[cfg_attr(not(feature = "mcp"), allow(dead_code))]
    pub(crate) fn set_trace_parent(&mut self, span: tracing::Span) {
        self.trace_parent = Some(span);
    }

    /// Specs of all tools, in registration order.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec.clone()).collect()
    }

    /// Tool names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.spec.name.as_str()).collect()
    }

    /// Whether a tool of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Runs one tool call from the model's raw argument JSON. Never panics and never fails:
    /// problems come back as [`ToolOutput::Error`].
    pub async fn execute(&self, name: &str, raw_args: &str) -> ToolOutput {
        match parse_args(raw_args) {
            Ok(args) => self.execute_value(name, args).await,
            Err(e) => ToolOutput::Error(e),
        }
    }

    /// Like [`ToolRegistry::execute`] with parsed arguments.
    pub async fn execute_value(&self, name: &str, args: Value) -> ToolOutput {
        let Some(tool) = self.index.get(name).and_then(|&i| self.tools.get(i)) else {
            tracing::warn!(tool = name, "model called an unknown tool");
            return ToolOutput::Error(format!("Unknown tool: {name}"));
        };
        let tool = Arc::clone(tool);
        // `tool.call` (providers.md §9.2, plus the documented `tool.duration_ms`): never the
        // arguments or the result.
        use tracing::field::Empty;
        let (source, span) = (tool.source, self.trace_parent.as_ref());
        let span = match span {
            Some(parent) => {
                tracing::info_span!(parent: parent, "tool.call", tool.name = name, tool.source = source, tool.duration_ms = Empty, error = Empty)
            }
            None => tracing::info_span!(
                "tool.call",
                tool.name = name,
                tool.source = source,
                tool.duration_ms = Empty,
                error = Empty
            ),
        };
        let started = std::time::Instant::now();
        let result = tracing::Instrument::instrument(
            AssertUnwindSafe(async move { (tool.handler)(args).await }).catch_unwind(),
            span.clone(),
        )
        .await;
        let out = match result {
            Ok(out) => {
                if out.is_error() {
                    span.in_scope(|| tracing::warn!(tool = name, "tool returned an error"));
                }
                out
            }
            Err(_) => {
                span.in_scope(|| tracing::error!(tool = name, "tool panicked"));
                ToolOutput::Error(format!("tool {name} panicked"))
            }
        };
        span.record("tool.duration_ms", started.elapsed().as_millis() as i64);
        span.record("error", out.is_error());
        out
    }
}

/// Tool executions in flight on one call, cancellable on barge-in (incident 1).
#[derive(Debug, Default)]
pub struct InFlightTools {
    next: AtomicU64,
    running: Mutex<HashMap<u64, AbortHandle>>,
}

impl InFlightTools {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `fut`; returns `None` if [`InFlightTools::cancel_all`] cancelled it meanwhile (send
    /// no result then).
    pub async fn run<F, T>(&self, fut: F) -> Option<T>
    where
        F: Future<Output = T>,
    {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (handle, reg) = AbortHandle::new_pair();
        crate::sync::lock(&self.running).insert(id, handle);
        let out = Abortable::new(fut, reg).await.ok();
        crate::sync::lock(&self.running).remove(&id);
        out
    }

    /// Cancels every running execution; returns how many were cancelled.
    pub fn cancel_all(&self) -> usize {
        let handles: Vec<AbortHandle> = crate::sync::lock(&self.running)
            .drain()
            .map(|(_, h)| h)
            .collect();
        for h in &handles {
            h.abort();
        }
        handles.len()
    }

    /// Executions currently running.
    pub fn len(&self) -> usize {
        crate::sync::lock(&self.running).len()
    }

    /// Whether nothing is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
