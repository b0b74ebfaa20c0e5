//! REST over raw HTTP: every operation of spec/openapi.yaml, real errors, pagination, auth.
//! Every answer is validated against the spec's schemas by `common::Rest`.

mod common;

use clawops_emulator::Emulator;
use common::{Rest, validate};
use serde_json::json;

const FROM: &str = "07012340001";

#[tokio::test]
async fn auth_errors_are_401_and_403_with_error_bodies() {
    let emu = Emulator::start().await.unwrap();
    let rest = Rest::new(&emu);
    let a = rest
        .call_as(
            "sk_wrong",
            &rest.account,
            "GET",
            "/numbers",
            "/numbers",
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (401, json!({"error": "invalid key"}))
    );
    let a = rest
        .call_as(&rest.key, "AC_other", "GET", "/numbers", "/numbers", None)
        .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (403, json!({"error": "accountId mismatch"}))
    );
    // No header at all.
    let r = reqwest::get(format!(
        "{}/v1/accounts/{}/calls",
        emu.base_url(),
        emu.account_id()
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    emu.shutdown().await;
}

#[tokio::test]
async fn call_create_rules() {
    let emu = Emulator::start().await.unwrap();
    let rest = Rest::new(&emu);
    let a = rest
        .call(
            "POST",
            "/calls",
            "/calls",
            Some(json!({"To": "010", "From": FROM, "AI": {"x": 1}})),
        )
        .await;
    assert_eq!(a.status, 410);
    assert_eq!(a.body["code"], "ai_mode_removed");
    let a = rest
        .call(
            "POST",
            "/calls",
            "/calls",
            Some(json!({"To": "010", "From": FROM, "Url": "https://x", "AgentId": "ag"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (400, json!("invalid_input"))
    );
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("mutually exclusive")
    );
    let a = rest
        .call(
            "POST",
            "/calls",
            "/calls",
            Some(json!({"To": "010", "From": FROM, "Variables": {"a": 1}})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(a.body["error"].as_str().unwrap().contains("CallFlowId"));
    let a = rest
        .call(
            "POST",
            "/calls",
            "/calls",
            Some(json!({"To": "010", "From": "07099999999"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (400, json!("from_not_registered"))
    );
    let a = rest
        .call(
            "POST",
            "/calls",
            "/calls",
            Some(json!({"To": "010", "From": FROM, "AgentId": "ag", "CallContext": {"instruction": "x"}})),
        )
        .await;
    assert_eq!(
        a.status, 400,
        "CallContext keys are PascalCase (closed schema)"
    );
    let a = rest
        .call(
            "POST",
            "/calls",
            "/calls",
            Some(json!({"To": "010", "From": FROM, "CallContext": {"Instruction": "x"}})),
        )
        .await;
    assert_eq!(a.status, 400, "CallContext needs AgentId");
    let a = rest
        .call("POST", "/calls", "/calls", Some(json!({"From": FROM})))
        .await;
    assert_eq!(a.status, 400);
    let a = rest
        .call("POST", "/calls", "/calls", Some(json!({"To": "01012345678", "From": FROM, "CallFlowId": "cf1", "Variables": {"n": 1}})))
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(a.body["status"], "queued");
    assert_eq!(a.body["direction"], "outbound");
    assert_eq!(a.body["from"], FROM);
    assert!(a.body["callId"].as_str().unwrap().starts_with("CA"));
    emu.shutdown().await;
}

#[tokio::test]
async fn calls_pagination_filters_get_update_transcript_summary() {
    let emu = Emulator::start().await.unwrap();
    let rest = Rest::new(&emu);
    let mut ids = Vec::new();
    for i in 0..5 {
        let a = rest
            .call("POST", "/calls", "/calls", Some(json!({"To": format!("0101234567{i}"), "From": FROM, "Url": "https://x/voiceml"})))
            .await;
        assert_eq!(a.status, 201);
        ids.push(a.body["callId"].as_str().unwrap().to_owned());
    }
    let a = rest
        .call("GET", "/calls", "/calls?page=1&pageSize=2", None)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body["meta"],
        json!({"total": 5, "page": 1, "pageSize": 2})
    );
    // Newest first: page 1 holds the 3rd and 2nd newest.
    let page: Vec<&str> = a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["callId"].as_str().unwrap())
        .collect();
    assert_eq!(page, vec![ids[2].as_str(), ids[1].as_str()]);
    let a = rest
        .call(
            "GET",
            "/calls",
            "/calls?to=01012345670&to=01012345671",
            None,
        )
        .await;
    assert_eq!(a.body["meta"]["total"], 2);
    let a = rest
        .call("GET", "/calls", "/calls?number=01012345673", None)
        .await;
    assert_eq!(a.body["meta"]["total"], 1);
    for bad in ["pageSize=0", "pageSize=101", "pageSize=abc", "page=-1"] {
        let a = rest
            .call("GET", "/calls", &format!("/calls?{bad}"), None)
            .await;
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.body["code"], "invalid_input");
    }
    let a = rest
        .call(
            "GET",
            "/calls/{callId}",
            &format!("/calls/{}", ids[0]),
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["callId"], ids[0].as_str());
    let a = rest
        .call("GET", "/calls/{callId}", "/calls/CAnope", None)
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (404, json!("not_found"))
    );
    let a = rest
        .call(
            "POST",
            "/calls/{callId}",
            &format!("/calls/{}", ids[0]),
            Some(json!({"Status": "canceled"})),
        )
        .await;
    assert_eq!(a.status, 400);
    let a = rest
        .call(
            "POST",
            "/calls/{callId}",
            &format!("/calls/{}", ids[0]),
            Some(json!({"Status": "completed"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (200, json!({"callId": ids[0], "status": "completed"}))
    );
    let a = rest
        .call(
            "POST",
            "/calls/{callId}",
            "/calls/CAnope",
            Some(json!({"Status": "completed"})),
        )
        .await;
    assert_eq!(a.status, 404);
    let a = rest
        .call(
            "GET",
            "/calls/{callId}/transcript",
            &format!("/calls/{}/transcript", ids[0]),
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (200, json!({"status": "not_requested"}))
    );
    // No recording on a VoiceML call: 400.
    let a = rest
        .call(
            "POST",
            "/calls/{callId}/transcript",
            &format!("/calls/{}/transcript", ids[0]),
            None,
        )
        .await;
    assert_eq!(a.status, 400);
    let a = rest
        .call(
            "GET",
            "/calls/{callId}/summary",
            &format!("/calls/{}/summary", ids[0]),
            None,
        )
        .await;
    assert_eq!(a.body["status"], "not_requested");
    let a = rest
        .call(
            "GET",
            "/calls/{callId}/summary",
            "/calls/CAnope/summary",
            None,
        )
        .await;
    assert_eq!(a.status, 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn numbers_crud() {
    let emu = Emulator::start().await.unwrap();
    let rest = Rest::new(&emu);
    let a = rest.call("GET", "/numbers", "/numbers", None).await;
    assert_eq!(a.body["data"].as_array().unwrap().len(), 2);
    assert!(a.body.get("meta").is_none());
    let a = rest.call("POST", "/numbers", "/numbers", None).await;
    assert_eq!(a.status, 201);
    let number = a.body["number"].as_str().unwrap().to_owned();
    assert_eq!(a.body["routingType"], "webhook");
    assert_eq!(a.body["smsSender"]["registered"], true);
    let a = rest
        .call(
            "POST",
            "/numbers",
            "/numbers",
            Some(json!({"webhookUrl": "https://a/voice", "statusCallbackEvents": "completed"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["webhookUrl"].clone()),
        (201, json!("https://a/voice"))
    );
    let a = rest
        .call(
            "PUT",
            "/numbers/{number}",
            &format!("/numbers/{number}"),
            Some(json!({"routingType": "agent", "agentId": "AG1"})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        (a.body["routingType"].clone(), a.body["agentId"].clone()),
        (json!("agent"), json!("AG1"))
    );
    let a = rest
        .call("PUT", "/numbers/{number}", "/numbers/0700", Some(json!({})))
        .await;
    assert_eq!(a.status, 404);
    let a = rest
        .call(
            "DELETE",
            "/numbers/{number}",
            &format!("/numbers/{number}"),
            None,
        )
        .await;
    assert_eq!(a.status, 204);
    let a = rest
        .call(
            "DELETE",
            "/numbers/{number}",
            &format!("/numbers/{number}"),
            None,
        )
        .await;
    assert_eq!(a.status, 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn messages() {
    let emu = Emulator::start().await.unwrap();
    let rest = Rest::new(&emu);
    let a = rest
        .call(
            "POST",
            "/messages",
            "/messages",
            Some(json!({"To": "01012345678", "From": FROM, "Body": "안녕하세요"})),
        )
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(
        (a.body["type"].clone(), a.body["status"].clone()),
        (json!("sms"), json!("queued"))
    );
    let id = a.body["messageId"].as_str().unwrap().to_owned();
    let a = rest
        .call("POST", "/messages", "/messages", Some(json!({"To": "010", "From": FROM, "Body": "사진", "Type": "mms", "MediaUrl": ["https://e/i.jpg"]})))
        .await;
    assert_eq!((a.status, a.body["numMedia"].clone()), (201, json!(1)));
    let a = rest
        .call(
            "POST",
            "/messages",
            "/messages",
            Some(json!({"To": "010", "From": "07099990000", "Body": "x"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (400, json!("from_not_registered"))
    );
    let a = rest
        .call(
            "POST",
            "/messages",
            "/messages",
            Some(json!({"To": "010", "From": FROM, "Type": "ata", "Body": "x"})),
        )
        .await;
    assert_eq!(a.body["code"], "kakao_required");
    let a = rest
        .call("POST", "/messages", "/messages", Some(json!({"To": "010", "From": FROM, "Kakao": {"ChannelId": "KC_demo", "TemplateId": "TPL_welcome", "Variables": {"name": "홍"}}})))
        .await;
    assert_eq!((a.status, a.body["type"].clone()), (201, json!("ata")));
    let a = rest
        .call("GET", "/messages", "/messages?type=sms&pageSize=10", None)
        .await;
    assert_eq!(
        a.body["meta"],
        json!({"total": 1, "page": 0, "pageSize": 10})
    );
    let a = rest
        .call(
            "GET",
            "/messages/{messageId}",
            &format!("/messages/{id}"),
            None,
        )
        .await;
    assert_eq!(a.body["body"], "안녕하세요");
    let a = rest
        .call("GET", "/messages/{messageId}", "/messages/MGnope", None)
        .await;
    assert_eq!(a.status, 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn assignment_links_blocked_recipients_webhook_logs() {
    let emu = Emulator::start().await.unwrap();
    let rest = Rest::new(&emu);
    let a = rest
        .call(
            "POST",
            "/assignment-links",
            "/assignment-links",
            Some(json!({"webhookUrl": "https://x", "webhookMethod": "GET", "note": "n"})),
        )
        .await;
    assert_eq!(a.status, 201);
    let token = a.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        a.body["url"],
        format!("https://app.claw-ops.com/assign/{token}")
    );
    let a = rest
        .call(
            "GET",
            "/assignment-links",
            "/assignment-links?status=pending",
            None,
        )
        .await;
    assert_eq!(a.body["meta"]["total"], 1);
    let a = rest
        .call(
            "GET",
            "/assignment-links/{linkId}",
            &format!("/assignment-links/{token}"),
            None,
        )
        .await;
    assert_eq!(
        (a.body["status"].clone(), a.body["webhookMethod"].clone()),
        (json!("pending"), json!("GET"))
    );
    let a = rest
        .call(
            "DELETE",
            "/assignment-links/{linkId}",
            &format!("/assignment-links/{token}"),
            None,
        )
        .await;
    assert_eq!(a.status, 204);
    let a = rest
        .call(
            "DELETE",
            "/assignment-links/{linkId}",
            &format!("/assignment-links/{token}"),
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (409, json!("NOT_PENDING"))
    );
    let a = rest
        .call(
            "GET",
            "/assignment-links/{linkId}",
            "/assignment-links/lnk_nope",
            None,
        )
        .await;
    assert_eq!(a.status, 404);

    let a = rest
        .call(
            "POST",
            "/blocked-recipients",
            "/blocked-recipients",
            Some(json!({"recipient": "010-1234-5678", "channel": "call", "note": "거부"})),
        )
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(
        (a.body["recipient"].clone(), a.body["active"].clone()),
        (json!("01012345678"), json!(true))
    );
    let id = a.body["id"].as_str().unwrap().to_owned();
    let a = rest
        .call(
            "POST",
            "/blocked-recipients",
            "/blocked-recipients",
            Some(json!({"recipient": "01012345678", "channel": "call"})),
        )
        .await;
    assert_eq!((a.status, a.body["id"].clone()), (200, json!(id)));
    let a = rest
        .call(
            "POST",
            "/blocked-recipients",
            "/blocked-recipients",
            Some(json!({"recipient": "hello", "channel": "call"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (400, json!("VALIDATION"))
    );
    // A blocked callee cannot be called.
    let a = rest
        .call(
            "POST",
            "/calls",
            "/calls",
            Some(json!({"To": "01012345678", "From": FROM})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (422, json!("recipient_blocked"))
    );
    let a = rest
        .call(
            "PATCH",
            "/blocked-recipients/{blockId}",
            &format!("/blocked-recipients/{id}"),
            Some(json!({"note": "2차"})),
        )
        .await;
    assert_eq!(a.body["note"], "2차");
    let a = rest
        .call(
            "PATCH",
            "/blocked-recipients/{blockId}",
            &format!("/blocked-recipients/{id}"),
            Some(json!({"note": null})),
        )
        .await;
    assert_eq!(a.body["note"], json!(null));
    let a = rest
        .call(
            "GET",
            "/blocked-recipients",
            "/blocked-recipients?channel=call",
            None,
        )
        .await;
    assert_eq!(a.body["meta"]["total"], 1);
    let a = rest
        .call(
            "DELETE",
            "/blocked-recipients/{blockId}",
            &format!("/blocked-recipients/{id}"),
            Some(json!({"note": "재동의"})),
        )
        .await;
    assert_eq!(
        (
            a.body["active"].clone(),
            a.body["unblockedNote"].clone(),
            a.body["unblockedSource"].clone()
        ),
        (json!(false), json!("재동의"), json!("api"))
    );
    let a = rest
        .call(
            "GET",
            "/blocked-recipients",
            "/blocked-recipients?status=released",
            None,
        )
        .await;
    assert_eq!(a.body["meta"]["total"], 1);
    let a = rest
        .call(
            "GET",
            "/blocked-recipients/{blockId}",
            &format!("/blocked-recipients/{id}"),
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    let a = rest
        .call(
            "GET",
            "/blocked-recipients/{blockId}",
            "/blocked-recipients/blk_nope",
            None,
        )
        .await;
    assert_eq!(a.status, 404);

    let a = rest
        .call(
            "GET",
            "/webhooks/{webhookId}/logs",
            "/webhooks/WH1/logs?pageSize=5",
            None,
        )
        .await;
    assert_eq!(
        a.body,
        json!({"data": [], "meta": {"total": 0, "page": 0, "pageSize": 5}})
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn sip_sender_numbers_kakao_recordings() {
    let emu = Emulator::start().await.unwrap();
    let rest = Rest::new(&emu);
    let a = rest
        .call(
            "GET",
            "/sip-credentials",
            "/sip-credentials?status=active",
            None,
        )
        .await;
    let cred = a.body["data"][0]["id"].as_str().unwrap().to_owned();
    let a = rest
        .call(
            "GET",
            "/sip-credentials/{credentialId}",
            &format!("/sip-credentials/{cred}"),
            None,
        )
        .await;
    assert_eq!(a.body["username"], "frontdesk");
    assert_eq!(
        rest.call(
            "GET",
            "/sip-credentials/{credentialId}",
            "/sip-credentials/x",
            None
        )
        .await
        .status,
        404
    );
    let a = rest
        .call("GET", "/sip-endpoints", "/sip-endpoints", None)
        .await;
    let ep = a.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        rest.call(
            "GET",
            "/sip-endpoints/{endpointId}",
            &format!("/sip-endpoints/{ep}"),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        rest.call(
            "GET",
            "/sip-endpoints/{endpointId}",
            "/sip-endpoints/x",
            None
        )
        .await
        .status,
        404
    );

    let a = rest
        .call("GET", "/sender-numbers", "/sender-numbers", None)
        .await;
    assert_eq!(a.body["senderNumbers"].as_array().unwrap().len(), 2);
    let a = rest
        .call(
            "POST",
            "/sender-numbers",
            "/sender-numbers",
            Some(json!({"number": FROM})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (409, json!("sender_number_already_registered"))
    );
    let a = rest
        .call(
            "POST",
            "/sender-numbers",
            "/sender-numbers",
            Some(json!({"number": "01099998888"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (404, json!("sender_number_not_account_number"))
    );
    let a = rest
        .call(
            "DELETE",
            "/sender-numbers/{senderNumberId}",
            &format!("/sender-numbers/sn_{FROM}"),
            None,
        )
        .await;
    assert_eq!(a.status, 204);
    let a = rest
        .call(
            "POST",
            "/sender-numbers",
            "/sender-numbers",
            Some(json!({"number": FROM})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["status"].clone()),
        (201, json!("approved"))
    );
    assert_eq!(
        rest.call(
            "DELETE",
            "/sender-numbers/{senderNumberId}",
            "/sender-numbers/sn_x",
            None
        )
        .await
        .status,
        404
    );

    let a = rest
        .call(
            "GET",
            "/kakao/channel-categories",
            "/kakao/channel-categories",
            None,
        )
        .await;
    assert_eq!(a.body["data"][0]["code"], "001");
    let a = rest.call("POST", "/kakao/channels", "/kakao/channels", Some(json!({"searchId": "@shop", "phoneNumber": "01012345678", "categoryCode": "001", "token": "123456"}))).await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (422, json!("KAKAO_TOKEN_INVALID"))
    );
    let a = rest
        .call(
            "POST",
            "/kakao/channels/token",
            "/kakao/channels/token",
            Some(json!({"searchId": "@shop", "phoneNumber": "01012345678"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["phoneNumberMasked"].clone()),
        (202, json!("010****5678"))
    );
    let a = rest.call("POST", "/kakao/channels", "/kakao/channels", Some(json!({"searchId": "@shop", "phoneNumber": "01012345678", "categoryCode": "001", "token": "123456"}))).await;
    assert_eq!(
        (a.status, a.body["status"].clone()),
        (201, json!("connected"))
    );
    let channel = a.body["id"].as_str().unwrap().to_owned();
    let a = rest.call("POST", "/kakao/channels", "/kakao/channels", Some(json!({"searchId": "@shop", "phoneNumber": "01012345678", "categoryCode": "001", "token": "123456"}))).await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (409, json!("KAKAO_CHANNEL_ALREADY_LINKED"))
    );
    let a = rest
        .call(
            "GET",
            "/kakao/channels",
            "/kakao/channels?status=connected",
            None,
        )
        .await;
    assert_eq!(a.body["meta"]["total"], 2);
    assert_eq!(
        rest.call(
            "GET",
            "/kakao/channels/{channelId}",
            &format!("/kakao/channels/{channel}"),
            None
        )
        .await
        .status,
        200
    );
    let a = rest
        .call(
            "DELETE",
            "/kakao/channels/{channelId}",
            &format!("/kakao/channels/{channel}"),
            None,
        )
        .await;
    assert_eq!((a.status, a.body["id"].clone()), (200, json!(channel)));
    assert_eq!(
        rest.call(
            "GET",
            "/kakao/channels/{channelId}",
            &format!("/kakao/channels/{channel}"),
            None
        )
        .await
        .status,
        404
    );
    let a = rest
        .call("GET", "/kakao/templates", "/kakao/templates", None)
        .await;
    assert_eq!(
        (a.status, a.body["code"].clone()),
        (400, json!("VALIDATION"))
    );
    let a = rest
        .call(
            "GET",
            "/kakao/templates",
            "/kakao/templates?channelId=KC_demo",
            None,
        )
        .await;
    assert_eq!(a.body["data"][0]["id"], "TPL_welcome");
    let a = rest
        .call(
            "GET",
            "/kakao/brand-templates",
            "/kakao/brand-templates?channelId=KC_demo",
            None,
        )
        .await;
    assert_eq!(a.body["meta"]["total"], 1);

    // Multipart brand image upload.
    let form = reqwest::multipart::Form::new()
        .text("bubbleType", "WIDE")
        .part(
            "image",
            reqwest::multipart::Part::bytes(vec![0x89, b'P', b'N', b'G']).file_name("배너.png"),
        );
    let r = rest
        .http
        .post(format!(
            "{}/v1/accounts/{}/kakao/brand-images",
            rest.base, rest.account
        ))
        .bearer_auth(&rest.key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    validate(
        "POST",
        "/v1/accounts/{accountId}/kakao/brand-images",
        201,
        &body,
    );
    let a = rest
        .call("GET", "/kakao/brand-images", "/kakao/brand-images", None)
        .await;
    assert_eq!(a.body["meta"]["total"], 2);
    assert_eq!(a.body["data"][1]["name"], "배너.png");

    let a = rest
        .call("GET", "/recordings/{callId}", "/recordings/CAnope", None)
        .await;
    assert_eq!(a.status, 404);
    let a = rest
        .call("DELETE", "/recordings/{callId}", "/recordings/CAnope", None)
        .await;
    assert_eq!(a.status, 204);
    emu.shutdown().await;
}

#[test]
#[should_panic(expected = "answer does not match the spec")]
fn the_spec_check_rejects_an_invalid_answer() {
    // Guards the guard: a Call without its required keys must fail validation.
    validate(
        "GET",
        "/v1/accounts/{accountId}/calls/{callId}",
        200,
        &json!({"callId": "CA1", "status": 7}),
    );
}

#[test]
#[should_panic(expected = "is not declared by the spec")]
fn the_spec_check_rejects_an_undeclared_success_status() {
    validate(
        "GET",
        "/v1/accounts/{accountId}/calls/{callId}",
        201,
        &json!({}),
    );
}
