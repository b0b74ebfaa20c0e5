//! The client messages this session sends, as wire JSON (Live API `BidiGenerateContent`).
//!
//! Keys are canonical lowerCamelCase (the Live API parses protobuf JSON; providers.md §3.3).
//! The **contents** of pass-through options are sent exactly as the user wrote them.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::config::{Config, ToolBehavior};
use crate::agent::SessionTools;

/// Function declarations of one connection and the behaviour declared per tool name.
#[derive(Clone, Debug, Default)]
pub(crate) struct Declarations {
    pub(crate) list: Vec<Value>,
    pub(crate) behavior: HashMap<String, Option<ToolBehavior>>,
}

/// Declarations for the call's tools: user tools (sanitised), then enabled builtins.
pub(crate) fn declarations(config: &Config, tools: &SessionTools) -> Declarations {
    let mut out = Declarations::default();
    let user = tools.registry.specs().into_iter().map(|s| (s, false));
    let builtins = tools.builtins.specs().into_iter().map(|s| (s, true));
    for (spec, builtin) in user.chain(builtins) {
        let behavior = config.behavior_for(&spec.name, builtin);
        let mut decl = Map::new();
        decl.insert("name".into(), json!(spec.name));
        decl.insert("description".into(), json!(spec.description));
        decl.insert("parameters".into(), sanitize_schema(&spec.parameters));
        if let Some(b) = behavior {
            decl.insert("behavior".into(), json!(b.as_str()));
        }
        // A builtin wins at execution over a user tool of the same name (providers.md §1.4).
        if builtin || !out.behavior.contains_key(&spec.name) {
            out.behavior.insert(spec.name.clone(), behavior);
        }
        out.list.push(Value::Object(decl));
    }
    out
}

/// The `setup` message (first frame of every connection).
pub(crate) fn setup(config: &Config, decls: &Declarations, handle: Option<&str>) -> Value {
    let mut speech = json!({"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": config.voice}}});
    if let (Some(code), Some(o)) = (&config.speech_language_code, speech.as_object_mut()) {
        o.insert("languageCode".into(), json!(code));
    }
    let mut generation = json!({"responseModalities": ["AUDIO"], "speechConfig": speech});
    if let (Some(t), Some(o)) = (&config.thinking_config, generation.as_object_mut()) {
        o.insert("thinkingConfig".into(), t.clone());
    }
    let mut setup = Map::new();
    setup.insert("model".into(), json!(config.model_path));
    setup.insert("generationConfig".into(), generation);
    if !config.instructions.is_empty() {
        setup.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": config.instructions}]}),
        );
    }
    if !decls.list.is_empty() {
        setup.insert(
            "tools".into(),
            json!([{"functionDeclarations": decls.list}]),
        );
    }
    if let Some(v) = &config.realtime_input_config {
        setup.insert("realtimeInputConfig".into(), v.clone());
    }
    if let Some(on) = config.proactive_audio {
        setup.insert("proactivity".into(), json!({"proactive_audio": on}));
    }
    if let Some(v) = &config.context_window_compression {
        setup.insert("contextWindowCompression".into(), v.clone());
    }
    if config.session_resumption {
        // Sent even without a handle: only then does the server issue handles.
        let resumption = match handle {
            Some(h) => json!({"handle": h}),
            None => json!({}),
        };
        setup.insert("sessionResumption".into(), resumption);
    }
    setup.insert(
        "inputAudioTranscription".into(),
        config.input_audio_transcription.clone(),
    );
    setup.insert("outputAudioTranscription".into(), json!({}));
    json!({"setup": setup})
}

/// One chunk of caller audio, PCM16 LE 16 kHz.
pub(crate) fn audio(pcm16le: &[u8]) -> Value {
    json!({"realtimeInput": {"audio": {"data": B64.encode(pcm16le), "mimeType": "audio/pcm;rate=16000"}}})
}

/// A text realtime input (greeting, DTMF).
pub(crate) fn text(text: &str) -> Value {
    json!({"realtimeInput": {"text": text}})
}

/// One function response; `id` only when the server gave one (incident 0.61).
pub(crate) fn function_response(
    id: Option<&str>,
    name: &str,
    result: &str,
    scheduling: Option<&str>,
) -> Value {
    let mut r = Map::new();
    if let Some(id) = id {
        r.insert("id".into(), json!(id));
    }
    r.insert("name".into(), json!(name));
    r.insert("response".into(), json!({"result": result}));
    if let Some(s) = scheduling {
        r.insert("scheduling".into(), json!(s));
    }
    Value::Object(r)
}

/// A `toolResponse` carrying `responses`.
pub(crate) fn tool_response(responses: Vec<Value>) -> Value {
    json!({"toolResponse": {"functionResponses": responses}})
}

/// Converts a JSON Schema into the Live API's `Schema` subset (providers.md §3.6): `$ref`
/// inlined, `oneOf`/`anyOf`/`allOf` reduced to one variant, only `type` (upper-cased),
/// `description`, `enum`, `required`, `properties`, `items` kept, depth capped at 15.
pub(crate) fn sanitize_schema(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .cloned()
        .unwrap_or(Value::Null);
    sanitize(schema, &defs, 0)
}

fn empty_object() -> Value {
    json!({"type": "OBJECT", "properties": {}})
}

fn resolve<'a>(reference: &str, defs: &'a Value) -> Option<&'a Value> {
    let name = reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))?;
    defs.get(name).filter(|v| v.is_object())
}

fn sanitize(schema: &Value, defs: &Value, depth: usize) -> Value {
    if depth > 15 {
        return empty_object();
    }
    let Some(obj) = schema.as_object() else {
        return empty_object();
    };
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        return match resolve(reference, defs) {
            Some(target) => sanitize(target, defs, depth + 1),
            None => empty_object(),
        };
    }
    for combo in ["oneOf", "anyOf", "allOf"] {
        if let Some(variants) = obj.get(combo).and_then(Value::as_array)
            && let Some(first) = variants.first()
        {
            for v in variants {
                let s = sanitize(v, defs, depth + 1);
                let has_props = s
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| !p.is_empty());
                if s.get("type").and_then(Value::as_str) == Some("OBJECT") && has_props {
                    return s;
                }
            }
            return sanitize(first, defs, depth + 1);
        }
    }
    let mut out = Map::new();
    let ty = match obj.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => Some(
            ts.iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("string")
                .to_owned(),
        ),
        _ => None,
    };
    if let Some(t) = ty {
        out.insert("type".into(), json!(t.to_ascii_uppercase()));
    }
    for key in ["description", "enum", "required"] {
        if let Some(v) = obj.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let mut p = Map::new();
        for (k, v) in props {
            if v.is_object() {
                p.insert(k.clone(), sanitize(v, defs, depth + 1));
            }
        }
        out.insert("properties".into(), Value::Object(p));
    }
    if let Some(items) = obj.get("items").filter(|i| i.is_object()) {
        out.insert("items".into(), sanitize(items, defs, depth + 1));
    }
    if !out.contains_key("type") && out.contains_key("properties") {
        out.insert("type".into(), json!("OBJECT"));
    }
    if out.get("type").and_then(Value::as_str) == Some("OBJECT") && !out.contains_key("properties")
    {
        out.insert("properties".into(), json!({}));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizer_inlines_refs_reduces_unions_and_drops_unknown_keywords() {
        let schema = json!({
            "type": "object",
            "title": "X",
            "additionalProperties": false,
            "$defs": {"Addr": {"type": "object", "properties": {"city": {"type": "string", "default": "Seoul"}}, "required": ["city"]}},
            "properties": {
                "addr": {"$ref": "#/$defs/Addr"},
                "missing": {"$ref": "#/$defs/Nope"},
                "qty": {"type": ["integer", "null"], "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                "pick": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"a": {"type": "boolean"}}}]},
                "kind": {"type": "string", "enum": ["a", "b"], "description": "d"}
            },
            "required": ["addr"]
        });
        assert_eq!(
            sanitize_schema(&schema),
            json!({
                "type": "OBJECT",
                "required": ["addr"],
                "properties": {
                    "addr": {"type": "OBJECT", "required": ["city"], "properties": {"city": {"type": "STRING"}}},
                    "missing": {"type": "OBJECT", "properties": {}},
                    "qty": {"type": "INTEGER"},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
                    "pick": {"type": "OBJECT", "properties": {"a": {"type": "BOOLEAN"}}},
                    "kind": {"type": "STRING", "description": "d", "enum": ["a", "b"]}
                }
            })
        );
    }

    #[test]
    fn self_recursive_schema_is_cut_at_depth_15() {
        let schema = json!({"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"});
        let s = sanitize_schema(&schema);
        let mut cur = &s;
        let mut depth = 0;
        while let Some(next) = cur.pointer("/properties/next") {
            cur = next;
            depth += 1;
        }
        assert!(depth > 3 && depth < 16, "depth {depth}");
        assert_eq!(cur, &json!({"type": "OBJECT", "properties": {}}));
    }

    #[test]
    fn function_response_echoes_ids_only_when_given() {
        assert_eq!(
            function_response(None, "f", "ok", None),
            json!({"name": "f", "response": {"result": "ok"}})
        );
        assert_eq!(
            function_response(Some("c1"), "f", "x", Some("SILENT")),
            json!({"id": "c1", "name": "f", "response": {"result": "x"}, "scheduling": "SILENT"})
        );
    }
}
