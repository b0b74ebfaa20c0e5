//! Values and events the server may add tomorrow: kept, never fatal.

use clawops_api::events::{CallEnded, ControlEvent, MediaCommand, MediaEvent};
use clawops_api::types::{Call, CallStatus};
use serde_json::{Value, json};

#[test]
fn unknown_call_status_inside_a_rest_model_is_kept() {
    let wire = json!({
        "callId": "CA0123456789abcdef0123456789abcdef", "accountId": "AC123", "status": "on-hold",
        "direction": "sideways", "from": "07012345678", "to": "01000000000",
        "dateCreated": "2026-10-13T07:20:13Z", "brandNewField": {"x": 1},
    });
    let call: Call = serde_json::from_value(wire).unwrap();
    assert_eq!(call.status, CallStatus::Unknown("on-hold".into()));
    assert_eq!(call.direction.as_str(), "sideways");
    let back = serde_json::to_value(&call).unwrap();
    assert_eq!(
        (back["status"].as_str(), back["direction"].as_str()),
        (Some("on-hold"), Some("sideways"))
    );
    assert!(back.get("brandNewField").is_none());
}

#[test]
fn unknown_status_inside_a_control_event_is_kept() {
    let frame =
        r#"{"event":"call.ended","callId":"CA1","status":"vanished-into-space","duration":3}"#;
    let ControlEvent::CallEnded(ended) = ControlEvent::from_json(frame).unwrap() else {
        panic!("not call.ended")
    };
    let CallEnded { status, .. } = &ended;
    assert_eq!(
        status.as_ref().map(CallStatus::as_str),
        Some("vanished-into-space")
    );
    let back: Value =
        serde_json::from_str(&ControlEvent::CallEnded(ended).to_json().unwrap()).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(frame).unwrap());
}

#[test]
fn unknown_event_is_kept_verbatim_in_both_parse_paths() {
    let frame = r#"{"event":"call.teleported","callId":"CA1","where":{"planet":"mars"}}"#;
    let fast = ControlEvent::from_json(frame).unwrap();
    let slow: ControlEvent = serde_json::from_str(frame).unwrap();
    assert_eq!(fast, slow);
    assert_eq!(fast.event(), Some("call.teleported"));
    let ControlEvent::Unknown(raw) = &fast else {
        panic!("expected Unknown")
    };
    assert_eq!(raw["where"]["planet"], "mars");
    assert_eq!(
        serde_json::from_str::<Value>(&fast.to_json().unwrap()).unwrap(),
        serde_json::from_str::<Value>(frame).unwrap()
    );
}

#[test]
fn frames_without_a_string_event_are_unknown_not_errors() {
    for frame in [
        r#"{"callId":"CA1"}"#,
        r#"{"event":5}"#,
        r#"{"event":null}"#,
        "[]",
        "\"text\"",
        "42",
    ] {
        let fast = MediaEvent::from_json(frame).unwrap();
        let slow: MediaEvent = serde_json::from_str(frame).unwrap();
        assert_eq!(fast, slow, "{frame}");
        assert!(matches!(fast, MediaEvent::Unknown(_)), "{frame}");
    }
}

#[test]
fn a_known_event_with_a_malformed_payload_is_an_error_not_unknown() {
    // `call.ended` with callId of the wrong type: schema drift must be visible, not hidden.
    let frame = r#"{"event":"call.ended","callId":12345}"#;
    assert!(ControlEvent::from_json(frame).is_err());
    assert!(serde_json::from_str::<ControlEvent>(frame).is_err());
}

#[test]
fn invalid_json_is_an_error() {
    assert!(MediaCommand::from_json("{\"event\":\"clear\"").is_err());
    assert!(MediaCommand::from_json("").is_err());
}

#[test]
fn unknown_fields_are_ignored() {
    let frame = r#"{"event":"call.ended","callId":"CA1","status":"completed","duration":12,"brandNewField":[1,2,3]}"#;
    let event = ControlEvent::from_json(frame).unwrap();
    assert!(matches!(event, ControlEvent::CallEnded(_)));
}
