//! Every REST method against a local server: exact method, path, query, headers and body, and
//! a realistic response decoded from the facts sheets.

mod rest_common;

use clawops::resources::{
    BrandImageUpload, CreateCall, ListAssignmentLinks, ListBlockedRecipients, ListCalls,
    ListKakaoChannels, ListMessages, ListSip, SendMessage,
};
use clawops::types::{
    self, AssignmentLinkStatus, BlockedChannel, BlockedRecipientListStatus, BrandBubbleType,
    CallStatus, KakaoBrandImageSlot, KakaoChannelListStatus, MachineDetection, MessageStatus,
    MessageType, RoutingType, SipCredentialStatus, SipEndpointStatus, TextMessageType,
    WebhookMethod,
};
use rest_common::*;
use serde_json::json;

// ---- calls ---------------------------------------------------------------------------------

#[tokio::test]
async fn calls_create_voiceml_with_callback_and_amd() {
    let s = server(201, call_json()).await;
    let call = client(&s)
        .calls()
        .create(
            CreateCall::new("01012345678", "07052358010")
                .url("https://my-app.com/twiml")
                .status_callback("https://my-app.com/status", ["initiated", "completed"])
                .ring_timeout(30)
                .machine_detection(MachineDetection::Enable),
        )
        .await
        .unwrap();
    assert_eq!(call.call_id, "CA0123456789abcdef0123456789abcdef");
    assert_eq!(call.status, CallStatus::Queued);
    check(
        &only(&s).await,
        "POST",
        &p("/calls"),
        None,
        Some(
            json!({"To":"01012345678","From":"07052358010","Url":"https://my-app.com/twiml",
            "StatusCallback":"https://my-app.com/status","StatusCallbackEvent":"initiated completed",
            "Timeout":30,"MachineDetection":"Enable"}),
        ),
    );
}

#[tokio::test]
async fn calls_create_managed_agent_with_context() {
    let s = server(201, call_json()).await;
    client(&s)
        .calls()
        .create(
            CreateCall::new("01012345678", "07052358010")
                .agent("cmagent123")
                .call_context("예약 확인만 하고 끊어라", [("orderId", "A-1234")]),
        )
        .await
        .unwrap();
    check(
        &only(&s).await,
        "POST",
        &p("/calls"),
        None,
        Some(
            json!({"To":"01012345678","From":"07052358010","AgentId":"cmagent123",
            "CallContext":{"Instruction":"예약 확인만 하고 끊어라","Variables":{"orderId":"A-1234"}}}),
        ),
    );
}

#[tokio::test]
async fn calls_create_call_flow_and_agent_sdk_modes() {
    let s = server(201, call_json()).await;
    let c = client(&s);
    c.calls()
        .create(
            CreateCall::new("01012345678", "07052358010")
                .call_flow("cmryw3ycm000001s6on0kp9a8")
                .variable("name", "홍길동")
                .variable("orderId", "A-1234"),
        )
        .await
        .unwrap();
    c.calls()
        .create(CreateCall::new("01012345678", "07052358010"))
        .await
        .unwrap();
    let reqs = requests(&s).await;
    check(
        &reqs[0],
        "POST",
        &p("/calls"),
        None,
        Some(
            json!({"To":"01012345678","From":"07052358010","CallFlowId":"cmryw3ycm000001s6on0kp9a8",
            "Variables":{"name":"홍길동","orderId":"A-1234"}}),
        ),
    );
    check(
        &reqs[1],
        "POST",
        &p("/calls"),
        None,
        Some(json!({"To":"01012345678","From":"07052358010"})),
    );
}

#[tokio::test]
async fn calls_create_rejects_exclusive_modes_before_sending() {
    let s = server(201, call_json()).await;
    let c = client(&s);
    let cases = [
        CreateCall::new("010", "070").url("https://x").agent("a"),
        CreateCall::new("010", "070").agent("a").call_flow("f"),
        CreateCall::new("010", "070")
            .url("https://x")
            .call_flow("f"),
        CreateCall::new("010", "070")
            .url("https://x")
            .variable("a", 1),
        CreateCall::new("010", "070").variable("a", true),
        CreateCall::new("010", "070")
            .call_flow("f")
            .call_context("i", [("a", "b")]),
    ];
    for params in cases {
        let err = c.calls().create(params).await.unwrap_err();
        assert_eq!(err.kind(), clawops::ErrorKind::InvalidRequest, "{err}");
    }
    assert!(requests(&s).await.is_empty());
}

#[tokio::test]
async fn calls_list_with_repeated_array_filters() {
    let s = server(200, page(vec![call_json()], 1, 0, 10)).await;
    let page = client(&s)
        .calls()
        .list(
            ListCalls::new()
                .status(CallStatus::InProgress)
                .from("07052358010")
                .from("07052358011")
                .number("01012345678")
                .page_size(10),
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!((page.total, page.page, page.page_size), (1, 0, 10));
    assert!(!page.has_next_page());
    check(
        &only(&s).await,
        "GET",
        &p("/calls"),
        Some("from=07052358010&from=07052358011&number=01012345678&pageSize=10&status=in-progress"),
        None,
    );
}

#[tokio::test]
async fn calls_get_with_transfers() {
    let body = json!({"callId": "CA00000000000000000000000000000001", "status": "completed", "to": "01000000000", "from": "07012345678", "direction": "outbound", "duration": 62, "accountId": "AC123", "dateCreated": "2026-10-13T07:20:13Z", "transferTo": "0212345678", "transferStatus": "completed", "transferDuration": 2, "transferHangupCauseQ850": null, "transferSipResponseCode": null, "transferReasonText": null,
        "transfers": [{"sequence": 1, "to": "0212345678", "mode": "warm", "destinationType": "pstn", "status": "completed", "duration": 2, "billable": true, "billableDuration": 2, "hangupCauseQ850": null, "sipResponseCode": null, "reasonText": null, "startedAt": "2026-10-13T07:21:05.760Z", "answeredAt": "2026-10-13T07:21:11.312Z", "connectedAt": "2026-10-13T07:21:19.403Z", "endedAt": "2026-10-13T07:21:20.989Z", "timeout": 30}]});
    let s = server(200, body).await;
    let call = client(&s)
        .calls()
        .get("CA00000000000000000000000000000001")
        .await
        .unwrap();
    let legs = call.transfers.unwrap();
    assert_eq!(legs[0].timeout, Some(30));
    assert_eq!(call.duration, Some(62));
    check(
        &only(&s).await,
        "GET",
        &p("/calls/CA00000000000000000000000000000001"),
        None,
        None,
    );
}

#[tokio::test]
async fn calls_end_transcript_request_and_summary() {
    let s = server(200, json!({"callId": "CA1", "status": "completed"})).await;
    let r = client(&s).calls().end("CA1").await.unwrap();
    assert_eq!(r.call_id, "CA1");
    check(
        &only(&s).await,
        "POST",
        &p("/calls/CA1"),
        None,
        Some(json!({"Status":"completed"})),
    );

    let s = server(
        200,
        json!({"status": "completed", "callId": "CAd6", "segmentCount": 2, "segments": [
        {"speaker": "speaker_0", "start": 0.0, "end": 1.2, "text": "안녕하세요."},
        {"speaker": "AGENT", "start": 1.5, "end": 2.8, "text": "네."}]}),
    )
    .await;
    let t = client(&s).calls().transcript("CAd6").await.unwrap();
    assert_eq!(t.segments.unwrap()[0].speaker.as_str(), "speaker_0");
    check(
        &only(&s).await,
        "GET",
        &p("/calls/CAd6/transcript"),
        None,
        None,
    );

    let s = server(202, json!({"status": "pending", "callId": "CAd6"})).await;
    let a = client(&s).calls().request_transcript("CAd6").await.unwrap();
    assert_eq!(a.call_id, "CAd6");
    check(
        &only(&s).await,
        "POST",
        &p("/calls/CAd6/transcript"),
        None,
        None,
    );

    let s = server(200, json!({"status": "completed", "callId": "CAd6", "resultJson": {"coreSummary": "x"}, "provider": "openai", "model": "m", "promptVersion": "1", "schemaVersion": "1", "updatedAt": "2026-01-01T00:00:00Z"})).await;
    let sum = client(&s).calls().summary("CAd6").await.unwrap();
    assert_eq!(sum.result_json.unwrap()["coreSummary"], "x");
    check(
        &only(&s).await,
        "GET",
        &p("/calls/CAd6/summary"),
        None,
        None,
    );
}

// ---- messages ------------------------------------------------------------------------------

#[tokio::test]
async fn messages_send_text_alimtalk_and_brand() {
    let s = server(201, message_json()).await;
    let c = client(&s);
    let m = c
        .messages()
        .send(
            SendMessage::text("010", "070", "사진")
                .kind(MessageType::Mms)
                .subject("제목")
                .media_url("https://example.com/image.jpg"),
        )
        .await
        .unwrap();
    assert_eq!(m.type_, MessageType::Sms);
    c.messages()
        .send(
            SendMessage::alimtalk("010", "070", "c1", "t1").fallback_text(
                TextMessageType::Lms,
                "알림",
                "주문이 접수되었습니다.",
            ),
        )
        .await
        .unwrap();
    c.messages()
        .send(
            SendMessage::brand_template("010", "070", "c1", "t1")
                .kind(MessageType::Bms)
                .variable("a", "b"),
        )
        .await
        .unwrap();
    c.messages()
        .send(SendMessage::alimtalk("010", "070", "c1", "t1").fallback_disabled())
        .await
        .unwrap();
    let reqs = requests(&s).await;
    let path = p("/messages");
    check(
        &reqs[0],
        "POST",
        &path,
        None,
        Some(
            json!({"To":"010","From":"070","Body":"사진","Type":"mms","Subject":"제목","MediaUrl":["https://example.com/image.jpg"]}),
        ),
    );
    check(
        &reqs[1],
        "POST",
        &path,
        None,
        Some(
            json!({"To":"010","From":"070","Kakao":{"ChannelId":"c1","TemplateId":"t1"},"Fallback":{"Type":"lms","Subject":"알림","Body":"주문이 접수되었습니다."}}),
        ),
    );
    check(
        &reqs[2],
        "POST",
        &path,
        None,
        Some(
            json!({"To":"010","From":"070","Type":"bms","Brand":{"ChannelId":"c1","TemplateId":"t1","Variables":{"a":"b"}}}),
        ),
    );
    check(
        &reqs[3],
        "POST",
        &path,
        None,
        Some(
            json!({"To":"010","From":"070","Kakao":{"ChannelId":"c1","TemplateId":"t1"},"Fallback":{"Disabled":true}}),
        ),
    );
}

#[tokio::test]
async fn messages_invalid_combinations_are_rejected_locally() {
    let s = server(201, message_json()).await;
    let c = client(&s);
    for params in [
        SendMessage::alimtalk("010", "070", "c1", "t1").subject("x"),
        SendMessage::alimtalk("010", "070", "c1", "t1").kind(MessageType::Sms),
        SendMessage::brand_template("010", "070", "c1", "t1").fallback_disabled(),
        SendMessage::brand_free("010", "070", "c1", json!({"chatBubbleType": "TEXT"}))
            .variable("a", "b"),
        SendMessage::brand_free("010", "070", "c1", json!({})),
        SendMessage::text("010", "070", "x").fallback_disabled(),
        SendMessage::text("010", "070", "x").kind(MessageType::Ata),
    ] {
        let err = c.messages().send(params).await.unwrap_err();
        assert_eq!(err.kind(), clawops::ErrorKind::InvalidRequest, "{err}");
    }
    assert!(requests(&s).await.is_empty());
}

#[tokio::test]
async fn messages_list_and_get() {
    let s = server(200, page(vec![message_json()], 1, 0, 10)).await;
    let page = client(&s)
        .messages()
        .list(
            ListMessages::new()
                .kind(MessageType::Bms)
                .status(MessageStatus::Sent)
                .number("010-1234-5678")
                .page(0)
                .page_size(10),
        )
        .await
        .unwrap();
    assert_eq!(
        page.items[0].message_id,
        "MG0123456789abcdef0123456789abcdef"
    );
    check(
        &only(&s).await,
        "GET",
        &p("/messages"),
        Some("number=010-1234-5678&page=0&pageSize=10&status=sent&type=bms"),
        None,
    );

    let s = server(200, json!({"messageId": "MGata", "status": "pending_review", "type": "ata", "to": "010", "from": "070", "body": "x", "direction": "outbound", "accountId": "AC", "dateCreated": "2025-06-01T12:00:00Z", "dateUpdated": null})).await;
    let m = client(&s).messages().get("MGata").await.unwrap();
    assert_eq!(m.status.as_str(), "pending_review");
    check(&only(&s).await, "GET", &p("/messages/MGata"), None, None);
}

// ---- numbers -------------------------------------------------------------------------------

#[tokio::test]
async fn numbers_create_reports_sms_sender_registration() {
    let s = server(201, json!({"number": "07052753973", "source": "pool", "routingType": "webhook", "smsSender": {"registered": false, "reason": "sender_number_limit_reached"}})).await;
    let n = client(&s)
        .numbers()
        .create(
            types::CreateNumberRequest::builder()
                .webhook_url(Some("https://my-app.com/voice".to_owned()))
                .webhook_method(Some(WebhookMethod::Post))
                .webhook_headers(
                    [("X-Webhook-Token".to_owned(), "abc123".to_owned())]
                        .into_iter()
                        .collect::<std::collections::BTreeMap<_, _>>(),
                )
                .status_callback(Some("https://my-app.com/call-status".to_owned()))
                .status_callback_events(Some(
                    "initiated ringing answered completed transfer".to_owned(),
                )),
        )
        .await
        .unwrap();
    let sms = n.sms_sender.unwrap();
    assert!(!sms.registered);
    assert_eq!(sms.reason.unwrap().as_str(), "sender_number_limit_reached");
    check(
        &only(&s).await,
        "POST",
        &p("/numbers"),
        None,
        Some(
            json!({"webhookUrl":"https://my-app.com/voice","webhookMethod":"POST","webhookHeaders":{"X-Webhook-Token":"abc123"},"statusCallback":"https://my-app.com/call-status","statusCallbackEvents":"initiated ringing answered completed transfer"}),
        ),
    );
}

#[tokio::test]
async fn numbers_create_with_no_options_sends_no_body() {
    // As the official SDK: an optional body left empty is not sent as `{}`.
    let s = server(
        201,
        json!({"number": "07052753973", "source": "pool", "routingType": "webhook"}),
    )
    .await;
    let n = client(&s)
        .numbers()
        .create(types::CreateNumberRequest::builder())
        .await
        .unwrap();
    assert_eq!(n.number, "07052753973");
    check(&only(&s).await, "POST", &p("/numbers"), None, None);
}

#[tokio::test]
async fn numbers_list_update_delete() {
    let s = server(
        200,
        json!({"data": [
        {"number": "07012340001", "routingType": "agent", "agentId": "AG7c2f9b1e4a6d"},
        {"number": "07012340005", "routingType": "some-future-routing"}]}),
    )
    .await;
    let list = client(&s).numbers().list().await.unwrap();
    assert_eq!(
        list[1].routing_type.as_ref().unwrap().as_str(),
        "some-future-routing"
    );
    check(&only(&s).await, "GET", &p("/numbers"), None, None);

    let s = server(
        200,
        json!({"number": "07012340001", "routingType": "agent", "agentId": "AG7c2f9b1e4a6d"}),
    )
    .await;
    let n = client(&s)
        .numbers()
        .update(
            "07012340001",
            types::UpdateNumberRequest::builder()
                .routing_type(Some(RoutingType::Agent))
                .agent_id(Some("AG7c2f9b1e4a6d".to_owned()))
                .call_context_url(Some("https://my-app.com/call-context".to_owned())),
        )
        .await
        .unwrap();
    assert_eq!(n.routing_type, Some(RoutingType::Agent));
    check(
        &only(&s).await,
        "PUT",
        &p("/numbers/07012340001"),
        None,
        Some(
            json!({"routingType":"agent","agentId":"AG7c2f9b1e4a6d","callContextUrl":"https://my-app.com/call-context"}),
        ),
    );

    let s = server_with(wiremock::ResponseTemplate::new(204)).await;
    client(&s).numbers().delete("07012340001").await.unwrap();
    check(
        &only(&s).await,
        "DELETE",
        &p("/numbers/07012340001"),
        None,
        None,
    );
}

// ---- recordings ----------------------------------------------------------------------------

#[tokio::test]
async fn recordings_download_buffered_streamed_and_delete() {
    let wav: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let s = server_with(
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "audio/wav")
            .insert_header(
                "content-disposition",
                r#"attachment; filename="CA1.wav"; filename*=UTF-8''%ED%86%B5%ED%99%94.wav"#,
            )
            .set_body_bytes(wav.clone()),
    )
    .await;
    let c = client(&s);
    let rec = c.recordings().download("CA1").await.unwrap();
    assert_eq!(rec.data.as_ref(), wav.as_slice());
    assert_eq!(rec.content_type, "audio/wav");
    assert_eq!(rec.file_name.as_deref(), Some("통화.wav"));

    let mut out = Vec::new();
    let info = c.recordings().download_to("CA1", &mut out).await.unwrap();
    assert_eq!(out, wav);
    assert_eq!(info.len, wav.len() as u64);
    assert!(info.data.is_empty());
    for r in requests(&s).await {
        check(&r, "GET", &p("/recordings/CA1"), None, None);
    }

    let s = server_with(wiremock::ResponseTemplate::new(204)).await;
    client(&s).recordings().delete("CAabc123").await.unwrap();
    check(
        &only(&s).await,
        "DELETE",
        &p("/recordings/CAabc123"),
        None,
        None,
    );
}

// ---- webhook logs, assignment links ---------------------------------------------------------

#[tokio::test]
async fn webhook_logs_list() {
    let log = json!({"id": "wl_1", "webhookId": "wh_1", "event": "message.sent", "requestUrl": "https://x", "requestPayload": {"a": 1}, "responseStatus": 200, "responseBody": "ok", "responseTimeMs": 12, "status": "delivered", "attempt": 1, "maxAttempts": 3, "createdAt": "2026-01-01T00:00:00Z", "completedAt": null});
    let s = server(200, page(vec![log], 1, 0, 50)).await;
    let page = client(&s)
        .webhook_logs()
        .list("wh_1", Some(50))
        .await
        .unwrap();
    assert_eq!(page.items[0].event, "message.sent");
    check(
        &only(&s).await,
        "GET",
        &p("/webhooks/wh_1/logs"),
        Some("pageSize=50"),
        None,
    );
}

#[tokio::test]
async fn assignment_links_all_methods() {
    let s = server(201, json!({"token": "tok123", "url": "https://app.claw-ops.com/assign/tok123", "expiresAt": "2026-05-01T00:00:00Z"})).await;
    let l = client(&s)
        .assignment_links()
        .create(
            types::CreateAssignmentLinkRequest::builder()
                .webhook_url(Some("https://x".to_owned()))
                .webhook_method(Some(WebhookMethod::Get))
                .note(Some("n".to_owned())),
        )
        .await
        .unwrap();
    assert_eq!(l.token, "tok123");
    check(
        &only(&s).await,
        "POST",
        &p("/assignment-links"),
        None,
        Some(json!({"webhookUrl":"https://x","webhookMethod":"GET","note":"n"})),
    );

    let link = json!({"linkId": "lnk_1", "url": "u", "status": "consumed", "createdAt": "2026-04-01T00:00:00Z", "expiresAt": "2026-04-08T00:00:00Z", "consumedAt": "2026-04-02T00:00:00Z", "webhookUrl": null, "webhookMethod": "POST", "note": null, "assignment": {"number": "07012340001", "name": "홍길동", "consumedAt": "2026-04-02T00:00:00Z", "releasedAt": null}});
    let s = server(200, page(vec![link.clone()], 1, 2, 50)).await;
    client(&s)
        .assignment_links()
        .list(
            ListAssignmentLinks::new()
                .status(AssignmentLinkStatus::Consumed)
                .page(2)
                .page_size(50),
        )
        .await
        .unwrap();
    check(
        &only(&s).await,
        "GET",
        &p("/assignment-links"),
        Some("page=2&pageSize=50&status=consumed"),
        None,
    );

    let s = server(200, link).await;
    let got = client(&s).assignment_links().get("lnk_1").await.unwrap();
    assert_eq!(got.assignment.unwrap().name.as_deref(), Some("홍길동"));
    check(
        &only(&s).await,
        "GET",
        &p("/assignment-links/lnk_1"),
        None,
        None,
    );

    let s = server(200, json!({"ok": true})).await;
    client(&s).assignment_links().revoke("lnk_1").await.unwrap();
    check(
        &only(&s).await,
        "DELETE",
        &p("/assignment-links/lnk_1"),
        None,
        None,
    );
}

// ---- blocked recipients ----------------------------------------------------------------------

#[tokio::test]
async fn blocked_recipients_all_methods() {
    let s = server(201, blocked_json()).await;
    let b = client(&s)
        .blocked_recipients()
        .create(
            types::CreateBlockedRecipientRequest::builder()
                .recipient("010-1234-5678")
                .channel(BlockedChannel::Call)
                .note(Some("상담 중 거부".to_owned())),
        )
        .await
        .unwrap();
    assert_eq!(b.recipient, "01012345678");
    check(
        &only(&s).await,
        "POST",
        &p("/blocked-recipients"),
        None,
        Some(json!({"recipient":"010-1234-5678","channel":"call","note":"상담 중 거부"})),
    );

    let s = server(200, page(vec![blocked_json()], 1, 0, 20)).await;
    client(&s)
        .blocked_recipients()
        .list(
            ListBlockedRecipients::new()
                .channel(BlockedChannel::Email)
                .recipient("Kim@Example.com")
                .status(BlockedRecipientListStatus::All),
        )
        .await
        .unwrap();
    check(
        &only(&s).await,
        "GET",
        &p("/blocked-recipients"),
        Some("channel=email&recipient=Kim%40Example.com&status=all"),
        None,
    );

    let s = server(200, blocked_json()).await;
    let c = client(&s);
    c.blocked_recipients().get("blk_1").await.unwrap();
    c.blocked_recipients()
        .update("blk_1", Some("2차 확인"))
        .await
        .unwrap();
    c.blocked_recipients().update("blk_1", None).await.unwrap();
    c.blocked_recipients()
        .release("blk_1", Some("고객 재동의"))
        .await
        .unwrap();
    let r = requests(&s).await;
    let path = p("/blocked-recipients/blk_1");
    check(&r[0], "GET", &path, None, None);
    check(
        &r[1],
        "PATCH",
        &path,
        None,
        Some(json!({"note":"2차 확인"})),
    );
    check(&r[2], "PATCH", &path, None, Some(json!({"note":null})));
    check(
        &r[3],
        "DELETE",
        &path,
        None,
        Some(json!({"note":"고객 재동의"})),
    );
}

// ---- SIP -------------------------------------------------------------------------------------

#[tokio::test]
async fn sip_credentials_and_endpoints() {
    let s = server(200, json!({"data": [{"id": "cred_1", "username": "u", "status": "active", "allowedNumbers": ["070"]}]})).await;
    let list = client(&s)
        .sip_credentials()
        .list(
            ListSip::new()
                .status(SipCredentialStatus::Active)
                .page(0)
                .page_size(100),
        )
        .await
        .unwrap();
    assert_eq!(list[0].id, "cred_1");
    check(
        &only(&s).await,
        "GET",
        &p("/sip-credentials"),
        Some("page=0&pageSize=100&status=active"),
        None,
    );

    let s = server(200, json!({"id": "cred/1", "status": "disabled"})).await;
    client(&s).sip_credentials().get("cred/1").await.unwrap();
    // Path parameters are percent-encoded (the Python SDK splits `cred/1` into two segments).
    check(
        &only(&s).await,
        "GET",
        &p("/sip-credentials/cred%2F1"),
        None,
        None,
    );

    let s = server(200, json!({"data": [{"id": "ep_1", "maxConcurrent": 10, "status": "active", "routes": [{"host": "pbx"}]}]})).await;
    let eps = client(&s)
        .sip_endpoints()
        .list(ListSip::new().status(SipEndpointStatus::Disabled))
        .await
        .unwrap();
    assert_eq!(eps[0].max_concurrent, Some(10));
    check(
        &only(&s).await,
        "GET",
        &p("/sip-endpoints"),
        Some("status=disabled"),
        None,
    );

    let s = server(200, json!({"id": "ep_1"})).await;
    client(&s).sip_endpoints().get("ep_1").await.unwrap();
    check(
        &only(&s).await,
        "GET",
        &p("/sip-endpoints/ep_1"),
        None,
        None,
    );
}

// ---- sender numbers ----------------------------------------------------------------------------

#[tokio::test]
async fn sender_numbers_all_methods() {
    let s = server(200, json!({"senderNumbers": [{"id": "sn_1", "number": "07052361008", "type": "070", "verificationMethod": "own_provisioned", "status": "approved", "createdAt": "2026-10-20T07:02:11.000Z"}], "grace": [{"number": "07052753809", "expiresAt": "2026-11-03T14:59:59.000Z"}], "limit": {"used": 0, "limit": null, "reached": false}})).await;
    let list = client(&s).sender_numbers().list().await.unwrap();
    assert_eq!(list.limit.unwrap().limit, None);
    check(&only(&s).await, "GET", &p("/sender-numbers"), None, None);

    let s = server(201, json!({"id": "sn_1", "number": "07052361008", "type": "future", "verificationMethod": "own_provisioned", "status": "approved", "createdAt": "2026-10-20T07:02:11.000Z"})).await;
    let sn = client(&s)
        .sender_numbers()
        .create("070-5236-1008")
        .await
        .unwrap();
    assert_eq!(sn.type_.as_str(), "future");
    check(
        &only(&s).await,
        "POST",
        &p("/sender-numbers"),
        None,
        Some(json!({"number":"070-5236-1008"})),
    );

    let s = server_with(wiremock::ResponseTemplate::new(204)).await;
    client(&s).sender_numbers().delete("sn_1").await.unwrap();
    check(
        &only(&s).await,
        "DELETE",
        &p("/sender-numbers/sn_1"),
        None,
        None,
    );
}

// ---- kakao ---------------------------------------------------------------------------------------

#[tokio::test]
async fn kakao_channels_all_methods() {
    let s = server(200, page(vec![channel_json()], 1, 1, 5)).await;
    let page = client(&s)
        .kakao()
        .channels()
        .list(
            ListKakaoChannels::new()
                .status(KakaoChannelListStatus::NeedsAttention)
                .page(1)
                .page_size(5),
        )
        .await
        .unwrap();
    assert_eq!(page.items[0].id, "clx9kak0001");
    check(
        &only(&s).await,
        "GET",
        &p("/kakao/channels"),
        Some("page=1&pageSize=5&status=needs_attention"),
        None,
    );

    let s = server(200, channel_json()).await;
    let c = client(&s);
    c.kakao().channels().get("clx9kak0001").await.unwrap();
    let ch = c
        .kakao()
        .channels()
        .connect("example", "010-1234-5678", "00100010001", "394812")
        .await
        .unwrap();
    assert_eq!(ch.name, "러너스 고객센터");
    c.kakao()
        .channels()
        .disconnect("clx9kak0001")
        .await
        .unwrap();
    let r = requests(&s).await;
    check(&r[0], "GET", &p("/kakao/channels/clx9kak0001"), None, None);
    check(
        &r[1],
        "POST",
        &p("/kakao/channels"),
        None,
        Some(
            json!({"searchId":"example","phoneNumber":"010-1234-5678","categoryCode":"00100010001","token":"394812"}),
        ),
    );
    check(
        &r[2],
        "DELETE",
        &p("/kakao/channels/clx9kak0001"),
        None,
        None,
    );

    let s = server(202, json!({"requested": true, "searchId": "example", "phoneNumberMasked": "010-****-5678", "retryAfterSeconds": 60})).await;
    let t = client(&s)
        .kakao()
        .channels()
        .request_token("@example", "010-1234-5678")
        .await
        .unwrap();
    assert_eq!(t.retry_after_seconds, 60);
    check(
        &only(&s).await,
        "POST",
        &p("/kakao/channels/token"),
        None,
        Some(json!({"searchId":"@example","phoneNumber":"010-1234-5678"})),
    );
}

#[tokio::test]
async fn kakao_templates_categories_brand_templates_and_images() {
    let tpl = json!({"id": "clx9tpl0001", "channelId": "clx9kak0001", "name": "주문 접수 안내", "content": "#{고객명}님", "status": "REVIEWING", "dormant": false, "sendable": false, "assignType": "CHANNEL", "messageType": "BA", "emphasizeType": "NONE", "variables": ["#{고객명}"], "createdAt": "2026-08-01T00:00:00Z", "updatedAt": "2026-08-01T00:00:00Z"});
    let s = server(200, page(vec![tpl], 1, 0, 100)).await;
    let t = client(&s)
        .kakao()
        .templates()
        .list("clx9kak0001", Some(100))
        .await
        .unwrap();
    assert!(!t.items[0].sendable);
    check(
        &only(&s).await,
        "GET",
        &p("/kakao/templates"),
        Some("channelId=clx9kak0001&pageSize=100"),
        None,
    );

    let s = server(200, json!({"data": [{"code": "00100010001", "name": "고객센터"}], "meta": {"fetchedAt": "2026-08-01T00:00:00Z", "cached": true}})).await;
    let cats = client(&s).kakao().channel_categories().await.unwrap();
    assert!(cats.meta.cached);
    check(
        &only(&s).await,
        "GET",
        &p("/kakao/channel-categories"),
        None,
        None,
    );

    let bt = json!({"id": "clx9bms0001", "channelId": "clx9kak0001", "name": "9월", "chatBubbleType": "아직-없는-유형", "content": null, "header": "가을", "variables": [], "createdAt": "2026-09-01T00:00:00Z", "updatedAt": "2026-09-01T00:00:00Z"});
    let s = server(200, page(vec![bt], 1, 0, 20)).await;
    let b = client(&s)
        .kakao()
        .brand_templates()
        .list("clx9kak0001", None)
        .await
        .unwrap();
    assert_eq!(b.items[0].chat_bubble_type.as_str(), "아직-없는-유형");
    check(
        &only(&s).await,
        "GET",
        &p("/kakao/brand-templates"),
        Some("channelId=clx9kak0001"),
        None,
    );

    let s = server(200, page(vec![json!({"id": "cmtn8o4vb000a", "bubbleType": "WIDE", "slot": "main", "name": "banner.png", "createdAt": "2026-09-06T09:07:07.150Z"})], 1, 0, 20)).await;
    let imgs = client(&s)
        .kakao()
        .brand_images()
        .list(Some(20))
        .await
        .unwrap();
    assert_eq!(imgs.items[0].slot, KakaoBrandImageSlot::Main);
    check(
        &only(&s).await,
        "GET",
        &p("/kakao/brand-images"),
        Some("pageSize=20"),
        None,
    );
}

#[tokio::test]
async fn kakao_brand_image_upload_is_multipart() {
    let s = server(201, json!({"id": "cmtn8o4vb000a"})).await;
    let up = client(&s)
        .kakao()
        .brand_images()
        .upload(
            BrandImageUpload::new(BrandBubbleType::WideItemList, "sub.png", b"x".to_vec())
                .slot(KakaoBrandImageSlot::Sub),
        )
        .await
        .unwrap();
    assert_eq!(up.id, "cmtn8o4vb000a");
    let req = only(&s).await;
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), p("/kakao/brand-images"));
    assert_eq!(req.url.query(), None);
    let ct = req
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let boundary = ct
        .strip_prefix("multipart/form-data; boundary=")
        .expect("multipart content type");
    assert_eq!(
        req.headers.get("authorization").unwrap(),
        "Bearer sk_test_123"
    );
    assert_eq!(req.headers.get("accept").unwrap(), "application/json");
    let expected = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"bubbleType\"\r\n\r\nWIDE_ITEM_LIST\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"slot\"\r\n\r\nsub\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"sub.png\"\r\nContent-Type: image/png\r\n\r\nx\r\n\
         --{b}--\r\n",
        b = boundary
    );
    assert_eq!(String::from_utf8(req.body.clone()).unwrap(), expected);
}

// ---- other accounts ----------------------------------------------------------------------------

#[tokio::test]
async fn account_scope_reaches_every_resource() {
    let s = server(
        200,
        json!({"data": [], "meta": {"total": 0, "page": 0, "pageSize": 20}}),
    )
    .await;
    let other = client(&s).account("AC_other");
    other.calls().list(ListCalls::new()).await.unwrap();
    other
        .kakao()
        .channels()
        .list(ListKakaoChannels::new())
        .await
        .unwrap();
    other.sip_credentials().list(ListSip::new()).await.unwrap();
    other.sip_endpoints().list(ListSip::new()).await.unwrap();
    other.numbers().list().await.unwrap();
    let paths: Vec<String> = requests(&s)
        .await
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/v1/accounts/AC_other/calls",
            "/v1/accounts/AC_other/kakao/channels",
            "/v1/accounts/AC_other/sip-credentials",
            "/v1/accounts/AC_other/sip-endpoints",
            "/v1/accounts/AC_other/numbers",
        ]
    );
}

#[tokio::test]
async fn default_and_per_request_headers_are_sent() {
    let s = server(200, call_json()).await;
    let c = clawops::ClawOps::builder()
        .api_key(KEY)
        .account_id(ACCOUNT)
        .base_url(s.uri())
        .default_header("X-Team", "voice")
        .build()
        .unwrap();
    c.calls().get("CA1").await.unwrap();
    c.calls()
        .with_options(clawops::RequestOptions::new().header("X-Trace", "t-1"))
        .get("CA1")
        .await
        .unwrap();
    let r = requests(&s).await;
    assert_eq!(r[0].headers.get("x-team").unwrap(), "voice");
    assert!(r[0].headers.get("x-trace").is_none());
    assert_eq!(r[1].headers.get("x-team").unwrap(), "voice");
    assert_eq!(r[1].headers.get("x-trace").unwrap(), "t-1");
    check(&r[1], "GET", &p("/calls/CA1"), None, None);
}
