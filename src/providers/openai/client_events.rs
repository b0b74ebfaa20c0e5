//! The client events this session sends, as wire JSON (GA Realtime protocol).
//!
//! Every frame is one JSON object without `event_id`; the shapes are checked against the
//! `openai` package's published models by `.ci/validate-realtime-events.py`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::config::Config;
use crate::agent::ToolSpec;

/// The first `session.update`: formats, voice, transcription, turn detection, tools.
pub(crate) fn session_update(config: &Config, tools: &[ToolSpec]) -> Value {
    let mut transcription = json!({
        "model": config.transcription_model,
        "language": config.language,
    });
    if let (Some(prompt), Some(o)) = (&config.transcription_prompt, transcription.as_object_mut()) {
        o.insert("prompt".into(), json!(prompt));
    }
    json!({
        "type": "session.update",
        "session": {
            "type": "realtime",
            "output_modalities": ["audio"],
            "instructions": config.instructions,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "noise_reduction": {"type": "near_field"},
                    "transcription": transcription,
                    "turn_detection": config.turn_detection.to_value(),
                },
                "output": {"format": {"type": "audio/pcmu"}, "voice": config.voice},
            },
            "tools": tools_value(tools),
            "tracing": "auto",
        }
    })
}

/// The tool resync `session.update` (only the tool list changes).
pub(crate) fn tools_update(tools: &[ToolSpec]) -> Value {
    json!({"type": "session.update", "session": {"type": "realtime", "tools": tools_value(tools)}})
}

fn tools_value(tools: &[ToolSpec]) -> Value {
    Value::Array(tools.iter().map(ToolSpec::realtime).collect())
}

/// `response.create` without a `response` object.
pub(crate) fn response_create() -> Value {
    json!({"type": "response.create"})
}

/// One chunk of caller audio (μ-law, passed through).
pub(crate) fn audio_append(ulaw: &[u8]) -> Value {
    json!({"type": "input_audio_buffer.append", "audio": B64.encode(ulaw)})
}

/// A user text turn (passive DTMF).
pub(crate) fn user_text(text: &str) -> Value {
    json!({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }})
}

/// The answer to one function call.
pub(crate) fn function_call_output(call_id: &str, output: &str) -> Value {
    json!({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call_id, "output": output,
    }})
}

/// Cuts the assistant item at what the caller heard.
pub(crate) fn truncate(item_id: &str, audio_end_ms: u64) -> Value {
    json!({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": audio_end_ms})
}
