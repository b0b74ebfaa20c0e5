//! Shared helpers of the REST tests: a wiremock server on 127.0.0.1 and exact request checks.
#![allow(dead_code)]

use std::time::Duration;

use clawops::{Backoff, ClawOps};
use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const ACCOUNT: &str = "AC1a2b3c4d";
pub const KEY: &str = "sk_test_123";

/// A server answering every request with `status` and `body` (JSON).
pub async fn server(status: u16, body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&server)
        .await;
    server
}

/// A server answering with `template`.
pub async fn server_with(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

/// A client for `server` with tiny backoff so retry tests are quick.
pub fn client(server: &MockServer) -> ClawOps {
    ClawOps::builder()
        .api_key(KEY)
        .account_id(ACCOUNT)
        .base_url(server.uri())
        .backoff(Backoff::new(
            Duration::from_millis(1),
            Duration::from_millis(5),
            Duration::from_secs(2),
        ))
        .build()
        .expect("client")
}

pub async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording on")
}

/// The only request the server got.
pub async fn only(server: &MockServer) -> Request {
    let mut reqs = requests(server).await;
    assert_eq!(reqs.len(), 1, "expected exactly one request");
    reqs.remove(0)
}

/// Asserts method, path, exact query string, the standard headers and the JSON body
/// (`None` = no body expected, i.e. empty).
pub fn check(req: &Request, method: &str, path: &str, query: Option<&str>, body: Option<Value>) {
    assert_eq!(req.method.as_str(), method);
    assert_eq!(req.url.path(), path);
    assert_eq!(req.url.query(), query, "query of {method} {path}");
    let h = |n: &str| req.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("authorization").as_deref(), Some("Bearer sk_test_123"));
    assert_eq!(
        h("user-agent").as_deref(),
        Some(concat!("clawops-rust/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(h("accept").as_deref(), Some("application/json"));
    assert_eq!(h("content-type").as_deref(), Some("application/json"));
    assert_eq!(
        h("api-version"),
        None,
        "progenitor's api-version header must not be sent"
    );
    match body {
        Some(expected) => {
            let got: Value = serde_json::from_slice(&req.body).expect("JSON body");
            assert_eq!(got, expected, "body of {method} {path}");
        }
        None => assert!(
            req.body.is_empty(),
            "unexpected body {:?}",
            String::from_utf8_lossy(&req.body)
        ),
    }
}

pub fn p(rest: &str) -> String {
    format!("/v1/accounts/{ACCOUNT}{rest}")
}

pub fn call_json() -> Value {
    serde_json::json!({
        "callId": "CA0123456789abcdef0123456789abcdef",
        "status": "queued",
        "to": "01012345678",
        "from": "07052358010",
        "direction": "outbound",
        "duration": null,
        "accountId": "AC1a2b3c4d",
        "dateCreated": "2025-06-01T12:00:00Z",
        "dateUpdated": null
    })
}

pub fn message_json() -> Value {
    serde_json::json!({
        "messageId": "MG0123456789abcdef0123456789abcdef",
        "status": "queued",
        "type": "sms",
        "to": "01012345678",
        "from": "07052358010",
        "body": "안녕하세요",
        "direction": "outbound",
        "accountId": "AC1a2b3c4d",
        "dateCreated": "2025-06-01T12:00:00Z",
        "dateUpdated": null
    })
}

pub fn blocked_json() -> Value {
    serde_json::json!({"id": "blk_1", "recipient": "01012345678", "channel": "call", "active": true, "source": "api", "sourceRef": null, "note": null, "createdBy": null, "createdAt": "2026-07-31T00:00:00Z", "updatedAt": "2026-07-31T00:00:00Z", "unblockedAt": null, "unblockedSource": null, "unblockedBy": null, "unblockedNote": null})
}

pub fn channel_json() -> Value {
    serde_json::json!({"id": "clx9kak0001", "searchId": "example", "name": "러너스 고객센터", "categoryCode": "00100010001", "status": "connected", "managerPhoneMasked": "010-****-5678", "connectedAt": "2026-08-01T00:00:00Z", "syncedAt": null, "createdAt": "2026-08-01T00:00:00Z", "updatedAt": "2026-08-01T00:00:00Z"})
}

pub fn page(data: Vec<Value>, total: i64, page: i64, page_size: i64) -> Value {
    serde_json::json!({"data": data, "meta": {"total": total, "page": page, "pageSize": page_size}})
}
