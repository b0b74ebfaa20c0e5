//! REST incidents of the Python peer (`changes-0.47-to-0.70.md` §9), one test per row that no
//! other suite already proves; `docs/incidents.md` maps every row. Each test runs the real client
//! against a local HTTP server answering what the ClawOps server sends.

mod rest_common;

use clawops::resources::{ListBlockedRecipients, ListMessages};
use clawops::types::{
    BlockedChannel, BlockedRecipientSource, MessageStatus, MessageType, TranscriptSpeaker,
    TranscriptStage, TransferStatus,
};
use futures::TryStreamExt;
use rest_common::*;
use serde_json::{Value, json};

fn p(path: &str) -> String {
    format!("/v1/accounts/{ACCOUNT}{path}")
}

fn message(id: &str, kind: &str, status: &str) -> Value {
    json!({"messageId": id, "accountId": ACCOUNT, "type": kind, "status": status,
           "direction": "outbound", "from": "07012345678", "to": "01012345678",
           "body": "주문이 접수되었습니다", "dateCreated": "2026-09-01T09:00:00Z"})
}

fn blocked(id: &str, channel: &str, source: &str) -> Value {
    json!({"id": id, "recipient": "someone@example.com", "channel": channel, "source": source,
           "active": true, "createdAt": "2026-09-01T09:00:00Z", "updatedAt": "2026-09-01T09:00:00Z"})
}

#[tokio::test]
async fn incident_c9_1_alimtalk_type_and_unknown_message_values_are_kept() {
    // One alimtalk (`ata`) and one message of a type and status the SDK has never heard of, in
    // the same page as a plain SMS: the whole page decodes and the raw strings survive.
    let s = server(
        200,
        json!({"data": [message("MG1", "sms", "sent"), message("MG2", "ata", "sent"),
                        message("MG3", "rcs", "pending_review")],
               "meta": {"total": 3, "page": 0, "pageSize": 20}}),
    )
    .await;
    let all: Vec<_> = client(&s)
        .messages()
        .list(ListMessages::new())
        .auto_paging()
        .try_collect()
        .await
        .expect("a page with alimtalk and unknown values decodes");
    let kinds: Vec<(&str, &str)> = all
        .iter()
        .map(|m| (m.type_.as_str(), m.status.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("sms", "sent"), ("ata", "sent"), ("rcs", "pending_review")]
    );
    assert_eq!(all[1].type_, MessageType::Ata);
    assert_eq!(all[2].type_, MessageType::Unknown("rcs".into()));
    assert_eq!(
        all[2].status,
        MessageStatus::Unknown("pending_review".into())
    );
    // Serialising keeps the unknown strings verbatim.
    let back = serde_json::to_value(&all[2]).unwrap();
    assert_eq!(
        (back["type"].as_str(), back["status"].as_str()),
        (Some("rcs"), Some("pending_review"))
    );

    let s = server(200, message("MG2", "ata", "sent")).await;
    let m = client(&s).messages().get("MG2").await.unwrap();
    assert_eq!(m.type_, MessageType::Ata);
    check(&only(&s).await, "GET", &p("/messages/MG2"), None, None);
}

#[tokio::test]
async fn incident_c9_3_message_list_status_offers_only_the_four_server_values() {
    // The filter's known values are exactly what the server's query validation accepts.
    assert_eq!(
        MessageStatus::KNOWN_VALUES,
        ["queued", "sent", "failed", "received"]
    );
    let s = server(
        200,
        json!({"data": [], "meta": {"total": 0, "page": 0, "pageSize": 20}}),
    )
    .await;
    for (status, wire) in [
        (MessageStatus::Queued, "queued"),
        (MessageStatus::Sent, "sent"),
        (MessageStatus::Failed, "failed"),
        (MessageStatus::Received, "received"),
    ] {
        let page = client(&s)
            .messages()
            .list(ListMessages::new().status(status))
            .await
            .unwrap();
        assert!(page.items.is_empty());
        let reqs = requests(&s).await;
        let last = reqs.last().unwrap();
        check(
            last,
            "GET",
            &p("/messages"),
            Some(&format!("status={wire}")),
            None,
        );
    }
}

#[tokio::test]
async fn incident_c9_5_transcript_speaker_is_open() {
    let s = server(
        200,
        json!({"status": "completed", "callId": "CA1", "segmentCount": 3, "segments": [
            {"speaker": "CUSTOMER", "start": 0.0, "end": 1.0, "text": "여보세요"},
            {"speaker": "speaker_3", "start": 1.0, "end": 2.0, "text": "네"},
            {"speaker": "narrator", "start": 2.0, "end": 3.0, "text": "..."}]}),
    )
    .await;
    let t = client(&s).calls().transcript("CA1").await.unwrap();
    let speakers: Vec<&str> = t
        .segments
        .as_deref()
        .unwrap()
        .iter()
        .map(|seg| seg.speaker.as_str())
        .collect();
    assert_eq!(speakers, ["CUSTOMER", "speaker_3", "narrator"]);
    assert_eq!(
        t.segments.as_ref().unwrap()[2].speaker,
        TranscriptSpeaker::from("narrator")
    );
    check(
        &only(&s).await,
        "GET",
        &p("/calls/CA1/transcript"),
        None,
        None,
    );
}

#[tokio::test]
async fn incident_c9_6_transcript_stage_is_open() {
    for stage in [
        "transcription",
        "recover",
        "ValueError",
        "stage-added-next-year",
    ] {
        let s = server(
            200,
            json!({"status": "failed", "callId": "CA1", "stage": stage, "error": "boom"}),
        )
        .await;
        let t = client(&s).calls().transcript("CA1").await.unwrap();
        assert_eq!(t.stage.as_ref().map(TranscriptStage::as_str), Some(stage));
        assert_eq!(t.status.as_str(), "failed");
        assert_eq!(t.error.as_deref(), Some("boom"));
    }
}

#[tokio::test]
async fn incident_c9_7_message_status_has_no_invented_sending() {
    assert!(!MessageStatus::KNOWN_VALUES.contains(&"sending"));
    // Should the server ever send it, it is kept, not rejected.
    let s = server(200, message("MG9", "sms", "sending")).await;
    let m = client(&s).messages().get("MG9").await.unwrap();
    assert_eq!(m.status, MessageStatus::Unknown("sending".into()));
    assert!(m.status.is_unknown());
}

#[tokio::test]
async fn incident_c9_9_blocked_channel_and_source_are_open() {
    let s = server(
        200,
        json!({"data": [blocked("BR1", "call", "manual"), blocked("BR2", "email", "console"),
                        blocked("BR3", "kakao", "carrier-sync")],
               "meta": {"total": 3, "page": 0, "pageSize": 20}}),
    )
    .await;
    let page = client(&s)
        .blocked_recipients()
        .list(ListBlockedRecipients::new())
        .await
        .expect("one e-mail entry must not break the list");
    let got: Vec<(&str, &str)> = page
        .items
        .iter()
        .map(|b| (b.channel.as_str(), b.source.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("call", "manual"),
            ("email", "console"),
            ("kakao", "carrier-sync")
        ]
    );
    assert_eq!(page.items[1].channel, BlockedChannel::Email);
    assert_eq!(
        page.items[2].source,
        BlockedRecipientSource::from("carrier-sync")
    );
}

#[tokio::test]
async fn incident_c9_10_blocked_recipient_has_no_number_field() {
    // The response field is `recipient`; a stray legacy `number` is ignored, never preferred.
    let mut body = blocked("BR1", "message", "manual");
    body["number"] = json!("01099998888");
    let s = server(200, body).await;
    let b = client(&s).blocked_recipients().get("BR1").await.unwrap();
    assert_eq!(b.recipient, "someone@example.com");
    let back = serde_json::to_value(&b).unwrap();
    assert!(back.get("number").is_none());
    assert_eq!(back["recipient"], "someone@example.com");
    // The list filter is `recipient` on the wire too.
    let s = server(
        200,
        json!({"data": [], "meta": {"total": 0, "page": 0, "pageSize": 20}}),
    )
    .await;
    client(&s)
        .blocked_recipients()
        .list(ListBlockedRecipients::new().recipient("01012345678"))
        .await
        .unwrap();
    check(
        &only(&s).await,
        "GET",
        &p("/blocked-recipients"),
        Some("recipient=01012345678"),
        None,
    );
}

#[tokio::test]
async fn incident_c9_11_odd_transfer_legs_do_not_fail_the_call() {
    let body = json!({
    "callId": "CA1", "accountId": ACCOUNT, "status": "completed", "direction": "inbound",
    "from": "01012345678", "to": "07012345678", "dateCreated": "2026-10-13T07:20:13Z",
    "transfers": [
        {},
        {"sequence": 2, "status": "parked-in-orbit", "mode": "telepathic",
         "destinationType": "satellite", "hangupCauseQ850": null, "sipResponseCode": null,
         "brandNewField": {"x": [1, 2]}},
        {"sequence": 3, "to": "0212345678", "status": "completed", "duration": 12}
    ]});
    let s = server(200, body).await;
    let call = client(&s)
        .calls()
        .get("CA1")
        .await
        .expect("odd legs tolerated");
    let legs = call.transfers.expect("transfers on single GET");
    assert_eq!(legs.len(), 3);
    assert_eq!(legs[0], Default::default());
    assert_eq!(
        legs[1].status.as_ref().map(TransferStatus::as_str),
        Some("parked-in-orbit")
    );
    assert_eq!(
        legs[1].mode.as_ref().map(|m| m.as_str()),
        Some("telepathic")
    );
    assert_eq!(
        legs[1].destination_type.as_ref().map(|d| d.as_str()),
        Some("satellite")
    );
    assert_eq!(legs[2].duration, Some(12));
    assert_eq!(legs[2].status, Some(TransferStatus::Completed));
}
