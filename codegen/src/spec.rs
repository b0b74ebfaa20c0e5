//! Loading `spec/` and linting it for what progenitor and typify cannot take.
//!
//! progenitor and typify panic (rather than return errors) on several spec shapes; the lints
//! here turn each of those into a message naming the operation or schema at fault. They also
//! enforce the project's own rules: every vocabulary the server sends is an open enum.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Context, Error, Result};

/// Both source documents, parsed into JSON values (key order as written).
#[derive(Debug, Clone)]
pub struct Specs {
    /// `spec/openapi.yaml`.
    pub openapi: Value,
    /// `spec/asyncapi.yaml`.
    pub asyncapi: Value,
}

/// HTTP methods an OpenAPI path item may hold.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl Specs {
    /// Reads both documents under `root/spec/`.
    pub fn load(root: &Path) -> Result<Self> {
        Ok(Self {
            openapi: read_yaml(&root.join("spec/openapi.yaml"))?,
            asyncapi: read_yaml(&root.join("spec/asyncapi.yaml"))?,
        })
    }

    /// Runs every lint; the first failures are reported together.
    pub fn lint(&self) -> Result<()> {
        let mut problems = Vec::new();
        lint_openapi(&self.openapi, &mut problems);
        lint_asyncapi(&self.asyncapi, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error(format!(
                "spec lint failed:\n  - {}",
                problems.join("\n  - ")
            )))
        }
    }
}

/// Parses one YAML file into a JSON value.
pub fn read_yaml(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).context(format!("reading {}", path.display()))?;
    yaml_serde::from_str(&text).context(format!("parsing {}", path.display()))
}

/// Follows a local `$ref` (`#/a/b/c`) inside `doc`.
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

/// Follows `$ref`s from `value` until a non-reference object is reached.
pub fn deref<'a>(doc: &'a Value, mut value: &'a Value) -> Result<&'a Value> {
    for _ in 0..32 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                value = resolve(doc, r).ok_or_else(|| Error(format!("unresolved $ref {r}")))?
            }
            None => return Ok(value),
        }
    }
    Err(Error::msg("$ref chain longer than 32"))
}

/// Last segment of a `$ref`: the component's name.
pub fn ref_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// Every operation of an OpenAPI document: (method, path, operation object).
pub fn operations(openapi: &Value) -> Vec<(&str, &str, &Value)> {
    let mut out = Vec::new();
    if let Some(paths) = openapi.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    out.push((method, path.as_str(), op));
                }
            }
        }
    }
    out
}

/// Whether an operation is marked `x-codegen-skip: true` (left to the handwritten layer).
pub fn is_skipped(op: &Value) -> bool {
    op.get("x-codegen-skip").and_then(Value::as_bool) == Some(true)
}

/// Component schemas of a document (OpenAPI and AsyncAPI keep them at the same place).
pub fn schemas(doc: &Value) -> Map<String, Value> {
    doc.pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Whether a schema is an open vocabulary.
pub fn is_open_enum(schema: &Value) -> bool {
    schema.get("x-open-enum").and_then(Value::as_bool) == Some(true)
}

fn lint_openapi(doc: &Value, problems: &mut Vec<String>) {
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with("3.0.") {
        problems.push(format!(
            "openapi: version {version:?}: progenitor accepts 3.0.x only"
        ));
    }
    lint_schema_keywords(
        doc.pointer("/components/schemas"),
        "openapi #/components/schemas",
        problems,
    );
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(doc) {
        let at = format!("openapi {} {path}", method.to_uppercase());
        match op.get("operationId").and_then(Value::as_str) {
            None => problems.push(format!("{at}: no operationId")),
            Some(id) if !ids.insert(id.to_owned()) => {
                problems.push(format!("{at}: duplicate operationId {id}"))
            }
            Some(_) => {}
        }
        let Some(responses) = op.get("responses").and_then(Value::as_object) else {
            problems.push(format!("{at}: no responses"));
            continue;
        };
        if responses.contains_key("default") {
            problems.push(format!(
                "{at}: `default` response (use 4XX/5XX: progenitor panics on default + typed 2xx)"
            ));
        }
        let mut success = BTreeSet::new();
        let mut failure = BTreeSet::new();
        for (code, response) in responses {
            let body = deref(doc, response)
                .ok()
                .and_then(|r| r.get("content"))
                .map(|c| c.to_string())
                .unwrap_or_default();
            if code.starts_with('2') {
                success.insert(body);
            } else {
                failure.insert(response.get("$ref").map(Value::to_string).unwrap_or(body));
            }
        }
        if success.len() > 1 {
            problems.push(format!(
                "{at}: 2xx responses with different bodies (progenitor panics)"
            ));
        }
        if failure.len() > 1 {
            problems.push(format!(
                "{at}: error responses with different bodies (progenitor panics)"
            ));
        }
        if let Some(body) = op.get("requestBody") {
            let content = deref(doc, body)
                .ok()
                .and_then(|b| b.get("content"))
                .and_then(Value::as_object);
            let types: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
            if types.len() != 1 {
                problems.push(format!(
                    "{at}: request body needs exactly one media type, has {}",
                    types.len()
                ));
            }
            if types.iter().any(|t| t.starts_with("multipart/")) && !is_skipped(op) {
                problems.push(format!(
                    "{at}: multipart body without x-codegen-skip (progenitor has no multipart)"
                ));
            }
        }
        // Every enum the server can send must be a named open enum.
        for (code, response) in responses {
            if let Ok(r) = deref(doc, response) {
                let mut seen = BTreeSet::new();
                lint_sent_enums(
                    doc,
                    r,
                    &format!("{at} response {code}"),
                    &mut seen,
                    problems,
                );
            }
        }
    }
    lint_open_enums(doc, "openapi", problems);
    if let Some(callback) = doc.pointer("/components/schemas/StatusCallbackEvent") {
        let mut seen = BTreeSet::new();
        lint_sent_enums(
            doc,
            callback,
            "openapi StatusCallbackEvent",
            &mut seen,
            problems,
        );
    }
}

fn lint_asyncapi(doc: &Value, problems: &mut Vec<String>) {
    lint_schema_keywords(
        doc.pointer("/components/schemas"),
        "asyncapi #/components/schemas",
        problems,
    );
    lint_open_enums(doc, "asyncapi", problems);
    let Some(ops) = doc.get("operations").and_then(Value::as_object) else {
        problems.push("asyncapi: no operations".into());
        return;
    };
    let mut enums = 0;
    for (op_name, op) in ops {
        let Some(_) = op.get("x-rust-enum").and_then(Value::as_str) else {
            continue;
        };
        enums += 1;
        let server_sends = op.get("action").and_then(Value::as_str) == Some("send");
        let mut events = BTreeSet::new();
        for message_ref in op
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let at = format!("asyncapi operation {op_name} message {message_ref}");
            let message = match deref(doc, message_ref) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(format!("{at}: {e}"));
                    continue;
                }
            };
            let Some(payload_ref) = message.pointer("/payload/$ref").and_then(Value::as_str) else {
                problems.push(format!("{at}: payload must be a $ref to a named schema"));
                continue;
            };
            let Some(payload) = resolve(doc, payload_ref) else {
                problems.push(format!("{at}: unresolved payload {payload_ref}"));
                continue;
            };
            match event_name(payload) {
                Some(event) if !events.insert(event.to_owned()) => problems.push(format!(
                    "{at}: event {event:?} appears twice in one direction"
                )),
                Some(_) => {}
                None => problems.push(format!("{at}: payload has no `event` const")),
            }
            if server_sends {
                let mut seen = BTreeSet::new();
                lint_sent_enums(doc, payload, &at, &mut seen, problems);
            }
        }
    }
    if enums == 0 {
        problems.push("asyncapi: no operation carries x-rust-enum".into());
    }
}

/// The wire `event` value a payload schema pins with `const` (or a one-value `enum`).
pub fn event_name(payload: &Value) -> Option<&str> {
    let event = payload.pointer("/properties/event")?;
    event.get("const").and_then(Value::as_str).or_else(|| {
        match event.get("enum").and_then(Value::as_array) {
            Some(values) if values.len() == 1 => values[0].as_str(),
            _ => None,
        }
    })
}

fn lint_open_enums(doc: &Value, which: &str, problems: &mut Vec<String>) {
    for (name, schema) in schemas(doc) {
        if is_open_enum(&schema) {
            let string_enum = schema.get("type").and_then(Value::as_str) == Some("string")
                && schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|v| v.iter().all(Value::is_string));
            if !string_enum {
                problems.push(format!(
                    "{which} schema {name}: x-open-enum needs `type: string` and a string `enum`"
                ));
            }
        }
    }
}

/// Walks a schema the server sends; any `enum` not behind a named open-enum `$ref` is a problem
/// (the `event` discriminator of AsyncAPI payloads excepted).
fn lint_sent_enums(
    doc: &Value,
    schema: &Value,
    at: &str,
    seen: &mut BTreeSet<String>,
    problems: &mut Vec<String>,
) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if !seen.insert(r.to_owned()) {
            return;
        }
        match resolve(doc, r) {
            Some(target) if is_open_enum(target) => {}
            Some(target) => lint_sent_enums(
                doc,
                target,
                &format!("{at} -> {}", ref_name(r)),
                seen,
                problems,
            ),
            None => problems.push(format!("{at}: unresolved $ref {r}")),
        }
        return;
    }
    if schema.get("enum").is_some() {
        problems.push(format!(
            "{at}: enum sent by the server must be a named schema with x-open-enum: true"
        ));
    }
    let Some(object) = schema.as_object() else {
        return;
    };
    for (key, child) in object {
        match key.as_str() {
            "properties" => {
                for (prop, s) in child.as_object().into_iter().flatten() {
                    if prop == "event" && s.get("const").is_some() {
                        continue;
                    }
                    lint_sent_enums(doc, s, &format!("{at}.{prop}"), seen, problems);
                }
            }
            "items" | "additionalProperties" => {
                lint_sent_enums(doc, child, &format!("{at}[]"), seen, problems)
            }
            "content" => {
                for (_, media) in child.as_object().into_iter().flatten() {
                    if let Some(s) = media.get("schema") {
                        lint_sent_enums(doc, s, at, seen, problems);
                    }
                }
            }
            "allOf" | "anyOf" | "oneOf" => {
                for s in child.as_array().into_iter().flatten() {
                    lint_sent_enums(doc, s, at, seen, problems);
                }
            }
            _ => {}
        }
    }
}

/// Keywords that break generation or round-trips anywhere in the component schemas.
fn lint_schema_keywords(schemas: Option<&Value>, at: &str, problems: &mut Vec<String>) {
    fn walk(value: &Value, at: &str, problems: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let here = format!("{at}/{key}");
                    if key == "default" && !at.ends_with("/properties") {
                        problems.push(format!("{here}: `default` makes generated clients send values the caller never set; state it in the description"));
                    }
                    if key == "additionalProperties" && child == &Value::Bool(false) {
                        problems.push(format!(
                            "{here}: `additionalProperties: false` makes unknown fields fatal"
                        ));
                    }
                    if key == "example" || key == "examples" {
                        continue;
                    }
                    walk(child, &here, problems);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, at, problems)),
            _ => {}
        }
    }
    if let Some(s) = schemas {
        walk(s, at, problems);
    }
}
