//! Status → error kind mapping, message, code, raw body and request id; decode errors.

mod rest_common;

use clawops::resources::ListCalls;
use clawops::{ClawOpsErrorCode, Error, ErrorKind};
use futures::TryStreamExt;
use rest_common::*;
use serde_json::json;
use wiremock::ResponseTemplate;

#[tokio::test]
async fn each_status_maps_to_its_kind_with_message_code_and_request_id() {
    let cases = [
        (400, ErrorKind::BadRequest, "VALIDATION"),
        (401, ErrorKind::Authentication, "invalid_key"),
        (
            403,
            ErrorKind::PermissionDenied,
            "api_key_sender_numbers_restricted",
        ),
        (404, ErrorKind::NotFound, "not_found"),
        (409, ErrorKind::Conflict, "sender_number_already_registered"),
        (410, ErrorKind::Gone, "ai_mode_removed"),
        (422, ErrorKind::UnprocessableEntity, "recipient_blocked"),
        (429, ErrorKind::RateLimited, "KAKAO_RATE_LIMITED"),
        (500, ErrorKind::Server, "boom"),
        (502, ErrorKind::Server, "bad_gateway"),
        (418, ErrorKind::OtherStatus, "teapot"),
    ];
    for (code, kind, err_code) in cases {
        let body = json!({"error": "이미 등록된 발신번호입니다.", "code": err_code});
        let s = server_with(
            ResponseTemplate::new(code)
                .set_body_json(body.clone())
                .insert_header("x-request-id", "req_42"),
        )
        .await;
        let c = client(&s);
        let err = c
            .sender_numbers()
            .with_options(clawops::RequestOptions::new().max_retries(0))
            .create("070-5236-1008")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "status {code}");
        let api = err.as_api().expect("status error");
        assert_eq!(api.status, code);
        assert_eq!(api.message, "이미 등록된 발신번호입니다.");
        assert_eq!(api.code.as_ref().map(|c| c.as_str()), Some(err_code));
        assert_eq!(api.request_id.as_deref(), Some("req_42"));
        assert_eq!(api.body.as_ref(), Some(&body));
        assert_eq!(api.operation.method, "POST");
        assert_eq!(
            api.operation.path,
            "/v1/accounts/{accountId}/sender-numbers"
        );
        assert!(err.to_string().contains(&code.to_string()));
    }
}

#[tokio::test]
async fn known_codes_are_typed_and_missing_error_falls_back() {
    let s = server(
        409,
        json!({"error": "dup", "code": "sender_number_already_registered"}),
    )
    .await;
    let err = client(&s).sender_numbers().create("x").await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&ClawOpsErrorCode::SenderNumberAlreadyRegistered)
    );

    let s = server(404, json!({})).await;
    let err = client(&s).calls().get("CA1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.as_api().unwrap().message, "HTTP 404");
    assert_eq!(err.code(), None);
}

#[tokio::test]
async fn a_non_json_error_body_keeps_its_status_and_text() {
    // The generated client's hooks re-wrap a body that is not the spec's `ErrorBody` (a proxy's
    // HTML page, an empty 503) so the status survives: it is a status error, not a decode error.
    let s = server_with(ResponseTemplate::new(413).set_body_string("<html>too large</html>")).await;
    let err = client(&s).calls().get("CA1").await.unwrap_err();
    let api = err.as_api().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(
        (api.status, api.message.as_str()),
        (413, "<html>too large</html>")
    );
    assert_eq!(api.operation.id, "get_call");
    assert_eq!(api.code, None);

    let s = server_with(ResponseTemplate::new(503)).await;
    let err = client(&s).calls().get("CA1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.as_api().unwrap().message, "HTTP 503");

    // An `error` that is not a string (the Python SDK passes any JSON through) keeps its text.
    let s = server(
        400,
        json!({"error": {"detail": "bad"}, "code": "invalid_input"}),
    )
    .await;
    let err = client(&s).calls().get("CA1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    assert_eq!(
        err.as_api().unwrap().message,
        r#"{"error":{"detail":"bad"},"code":"invalid_input"}"#
    );
}

#[tokio::test]
async fn a_malformed_success_body_is_a_decode_error() {
    let s = server(200, json!({"callId": 5})).await;
    let err = client(&s).calls().get("CA1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn a_malformed_item_on_page_two_is_a_typed_decode_error() {
    let s = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![call_json(), json!({"callId": "CA_bad", "status": "queued"})],
            4,
            1,
            2,
        )))
        .mount(&s)
        .await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![call_json(), call_json()],
            4,
            0,
            2,
        )))
        .mount(&s)
        .await;
    let mut stream = client(&s)
        .calls()
        .list(ListCalls::new().page_size(2))
        .auto_paging();
    assert!(stream.try_next().await.unwrap().is_some());
    assert!(stream.try_next().await.unwrap().is_some());
    let err = stream.try_next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    match &err {
        Error::Decode {
            operation, body, ..
        } => {
            assert_eq!(operation.id, "list_calls");
            assert!(String::from_utf8_lossy(body).contains("CA_bad"));
        }
        other => panic!("{other:?}"),
    }
    // The stream ends after the error.
    assert!(stream.try_next().await.unwrap().is_none());
}

#[test]
fn debug_output_never_shows_the_key() {
    let c = clawops::ClawOps::builder()
        .api_key("sk_live_secret")
        .account_id("AC1")
        .build()
        .unwrap();
    let dbg = format!("{c:?} {:?} {:?}", c.calls(), c.account("AC2").messages());
    assert!(!dbg.contains("sk_live_secret"));
    let opts = clawops::RequestOptions::new().header("Authorization", "Bearer sk_other");
    assert!(!format!("{opts:?}").contains("sk_other"));
}
