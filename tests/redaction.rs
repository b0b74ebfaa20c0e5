//! Media tokens, DTMF digits, Kakao verification codes and webhook headers (fields marked
//! `x-sensitive` in the specs) never appear in `Debug` output.

use clawops_api::events::{ControlEvent, MediaCommand, MediaEvent};
use clawops_api::types::ConnectKakaoChannelRequest;

#[test]
fn media_url_token_is_redacted() {
    let frame = r#"{"event":"call.incoming","callId":"CA1","from":"01012345678","to":"07012345678","mediaUrl":"wss://m.example/CA1?token=SECRET-TOKEN-1"}"#;
    let event = ControlEvent::from_json(frame).unwrap();
    let debug = format!("{event:?} {event:#?}");
    assert!(!debug.contains("SECRET-TOKEN-1"), "{debug}");
    assert!(
        debug.contains("media_url: \"<redacted>\"") && debug.contains("CA1"),
        "{debug}"
    );
    // The wire value itself is intact.
    assert!(event.to_json().unwrap().contains("SECRET-TOKEN-1"));

    let ready = ControlEvent::from_json(
        r#"{"event":"call.outbound_ready","callId":"CO1","mediaUrl":"wss://x/?token=SECRET-2"}"#,
    )
    .unwrap();
    assert!(!format!("{ready:?}").contains("SECRET-2"));
}

#[test]
fn dtmf_digits_are_redacted_both_ways() {
    let pressed = MediaEvent::from_json(
        r#"{"event":"dtmf","dtmf":{"digit":"7","track":"inbound_track"},"sequenceNumber":"5"}"#,
    )
    .unwrap();
    let debug = format!("{pressed:?}");
    assert!(debug.contains("digit: \"<redacted>\""), "{debug}");
    assert!(!debug.contains("\"7\""), "{debug}");

    let sent = MediaCommand::from_json(r#"{"event":"dtmf","dtmf":{"digit":"9"}}"#).unwrap();
    let debug = format!("{sent:?}");
    assert!(!debug.contains("\"9\""), "{debug}");
}

#[test]
fn kakao_verification_code_is_redacted() {
    let request: ConnectKakaoChannelRequest = serde_json::from_value(serde_json::json!({
        "searchId": "@shop", "phoneNumber": "010-1234-5678", "categoryCode": "00100010001", "token": "394812"
    }))
    .unwrap();
    let debug = format!("{request:?}");
    assert!(!debug.contains("394812"), "{debug}");
    let builder =
        clawops_api::types::builder::ConnectKakaoChannelRequest::default().token("394812");
    assert!(!format!("{builder:?}").contains("394812"));
}
