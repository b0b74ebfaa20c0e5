//! Uses the ClawOps models with serde and schemars only.

use clawops_api::events::{ControlEvent, MediaCommand};
use clawops_api::types::{Call, CallStatus};

/// Parses a call from its REST JSON.
pub fn parse_call(json: &str) -> serde_json::Result<Call> {
    serde_json::from_str(json)
}

/// The JSON schema of a REST model, as a tool schema would need it.
pub fn call_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Call)).expect("schema")
}

/// Parses a control frame.
pub fn parse_control(frame: &str) -> serde_json::Result<ControlEvent> {
    ControlEvent::from_json(frame)
}

/// Whether a status is one this crate version knows.
pub fn is_known(status: &CallStatus) -> bool {
    !status.is_unknown()
}

/// A `clear` frame for barge-in.
pub fn clear_frame() -> String {
    MediaCommand::from_value(serde_json::json!({"event": "clear"}))
        .and_then(|c| c.to_json())
        .expect("clear frame")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_work_without_the_http_stack() {
        let call = parse_call(
            r#"{"callId":"CA1","accountId":"AC1","status":"in-progress","direction":"inbound",
                "from":"01012345678","to":"07012345678","dateCreated":"2026-10-13T07:20:13Z"}"#,
        )
        .unwrap();
        assert_eq!(call.status, CallStatus::InProgress);
        assert!(is_known(&CallStatus::from("busy")));
        assert!(!is_known(&CallStatus::from("teleported")));
        let schema = call_schema();
        assert!(schema["properties"]["callId"].is_object(), "{schema}");
        assert_eq!(clear_frame(), r#"{"event":"clear"}"#);
        assert!(matches!(parse_control(r#"{"event":"agent.future"}"#).unwrap(), ControlEvent::Unknown(_)));
    }

    #[test]
    fn the_dependency_tree_has_no_http_stack() {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "--manifest-path", manifest])
            .output()
            .expect("cargo tree");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(tree.contains("clawops-api"), "{tree}");
        for banned in ["reqwest", "progenitor-client", "tokio", "hyper"] {
            assert!(!tree.lines().any(|l| l.starts_with(&format!("{banned} "))), "{banned} in:\n{tree}");
        }
    }
}
