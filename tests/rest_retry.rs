//! The retry policy, branch by branch, asserted by counting requests on a local server.

mod rest_common;

use std::time::{Duration, Instant};

use clawops::resources::CreateCall;
use clawops::{Backoff, ClawOps, ErrorKind, RequestOptions, RetryMode};
use rest_common::*;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `first` answered `n` times, then `then` forever.
async fn sequence(first: ResponseTemplate, n: u64, then: ResponseTemplate) -> MockServer {
    let s = MockServer::start().await;
    Mock::given(any())
        .respond_with(first)
        .up_to_n_times(n)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(any())
        .respond_with(then)
        .with_priority(2)
        .mount(&s)
        .await;
    s
}

fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(serde_json::json!({"error": format!("e{code}")}))
}

fn ok_call(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(call_json())
}

fn create() -> CreateCall {
    CreateCall::new("01012345678", "07052358010")
}

#[tokio::test]
async fn get_retries_5xx_408_and_429_then_succeeds() {
    for code in [500, 502, 503, 504, 408, 429] {
        let s = sequence(status(code), 2, ok_call(200)).await;
        let call = client(&s).calls().get("CA1").await.unwrap();
        assert_eq!(call.call_id, "CA0123456789abcdef0123456789abcdef");
        assert_eq!(requests(&s).await.len(), 3, "status {code}");
    }
}

#[tokio::test]
async fn a_proxy_html_502_on_get_is_retried() {
    let html =
        ResponseTemplate::new(502).set_body_string("<html><body>502 Bad Gateway</body></html>");
    let s = sequence(html, 1, ok_call(200)).await;
    let call = client(&s).calls().get("CA1").await.unwrap();
    assert_eq!(call.call_id, "CA0123456789abcdef0123456789abcdef");
    assert_eq!(requests(&s).await.len(), 2);
}

#[tokio::test]
async fn budget_exhaustion_returns_the_last_error() {
    let s = sequence(status(503), 100, ok_call(200)).await;
    let err = client(&s).calls().get("CA1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.status(), Some(503));
    assert_eq!(requests(&s).await.len(), 3, "1 try + max_retries 2");

    let s = sequence(status(500), 100, ok_call(200)).await;
    let c = ClawOps::builder()
        .api_key(KEY)
        .account_id(ACCOUNT)
        .base_url(s.uri())
        .max_retries(4)
        .backoff(Backoff::new(
            Duration::from_millis(1),
            Duration::from_millis(2),
            Duration::from_secs(1),
        ))
        .build()
        .unwrap();
    c.calls().get("CA1").await.unwrap_err();
    assert_eq!(requests(&s).await.len(), 5);
}

#[tokio::test]
async fn post_calls_is_never_retried_on_500_502_504_or_408() {
    for code in [500, 502, 504, 408] {
        let s = sequence(status(code), 100, ok_call(201)).await;
        let err = client(&s).calls().create(create()).await.unwrap_err();
        assert_eq!(err.status(), Some(code));
        assert_eq!(
            requests(&s).await.len(),
            1,
            "POST /calls must not be resent after {code}"
        );
    }
}

#[tokio::test]
async fn post_is_retried_on_429_and_503_only() {
    for code in [429, 503] {
        let s = sequence(status(code), 1, ok_call(201)).await;
        client(&s).calls().create(create()).await.unwrap();
        assert_eq!(requests(&s).await.len(), 2, "status {code}");
    }
}

#[tokio::test]
async fn conflict_is_never_retried() {
    let s = sequence(status(409), 100, ok_call(200)).await;
    let c = client(&s);
    assert_eq!(
        c.calls().get("CA1").await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        c.calls()
            .request_transcript("CA1")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(requests(&s).await.len(), 2);
}

#[tokio::test]
async fn post_is_not_retried_after_a_timeout_but_get_is() {
    let slow = ok_call(201).set_delay(Duration::from_millis(400));
    let s = sequence(slow.clone(), 100, slow).await;
    let opts = RequestOptions::new().timeout(Duration::from_millis(100));
    let c = client(&s);
    let err = c
        .calls()
        .with_options(opts.clone())
        .create(create())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    // Let the server log the in-flight request before counting (a resend, had there been one,
    // left before `create` returned).
    assert_eq!(
        logged_at_least(&s, 1).await,
        1,
        "a timed-out POST /calls must not be resent"
    );

    let err = c.calls().with_options(opts).get("CA1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(logged_at_least(&s, 1 + 3).await, 1 + 3);
}

/// Waits (≤ 5 s) until the server logged `n` requests, lets 100 ms more pass, and returns how
/// many it logged in all.
async fn logged_at_least(s: &MockServer, n: usize) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while requests(s).await.len() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    requests(s).await.len()
}

#[tokio::test]
async fn a_caller_can_widen_or_disable_retries_per_request() {
    let s = sequence(status(500), 2, ok_call(201)).await;
    client(&s)
        .calls()
        .with_options(RequestOptions::new().retry_mode(RetryMode::Safe))
        .create(create())
        .await
        .unwrap();
    assert_eq!(requests(&s).await.len(), 3);

    let s = sequence(status(500), 100, ok_call(200)).await;
    client(&s)
        .calls()
        .with_options(RequestOptions::new().max_retries(0))
        .get("CA1")
        .await
        .unwrap_err();
    assert_eq!(requests(&s).await.len(), 1);

    let s = sequence(status(503), 100, ok_call(200)).await;
    client(&s)
        .calls()
        .with_options(RequestOptions::new().retry_mode(RetryMode::Never))
        .get("CA1")
        .await
        .unwrap_err();
    assert_eq!(requests(&s).await.len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured_and_capped() {
    // Seconds: the client waits at least that long (backoff alone would be ≤ 5 ms).
    let s = sequence(
        status(429).insert_header("retry-after", "1"),
        1,
        ok_call(200),
    )
    .await;
    let t = Instant::now();
    client(&s).calls().get("CA1").await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(requests(&s).await.len(), 2);

    // An HTTP date in the past means "now".
    let s = sequence(
        status(503).insert_header("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
        1,
        ok_call(201),
    )
    .await;
    client(&s).calls().create(create()).await.unwrap();
    assert_eq!(requests(&s).await.len(), 2);

    // Longer than the cap (2 s in the test client): no retry, the error carries the delay.
    let s = sequence(
        status(429).insert_header("retry-after", "60"),
        100,
        ok_call(200),
    )
    .await;
    let err = client(&s).calls().get("CA1").await.unwrap_err();
    assert_eq!(
        err.as_api().unwrap().retry_after,
        Some(Duration::from_secs(60))
    );
    assert_eq!(requests(&s).await.len(), 1);
}

#[tokio::test]
async fn post_is_retried_after_a_connect_error_and_delivered_once() {
    // Reserve a port, close it, and only start the server there a little later.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    drop(std_listener);
    let c = ClawOps::builder()
        .api_key(KEY)
        .account_id(ACCOUNT)
        .base_url(format!("http://{addr}"))
        .max_retries(8)
        .backoff(Backoff::new(
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_secs(1),
        ))
        .build()
        .unwrap();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let listener = std::net::TcpListener::bind(addr).unwrap();
        let s = MockServer::builder().listener(listener).start().await;
        Mock::given(any())
            .respond_with(ok_call(201))
            .mount(&s)
            .await;
        s
    });
    let call = c.calls().create(create()).await.unwrap();
    assert_eq!(call.call_id, "CA0123456789abcdef0123456789abcdef");
    let s = server.await.unwrap();
    assert_eq!(requests(&s).await.len(), 1);

    // Nothing listening at all: a connect error, flagged as such.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    drop(std_listener);
    let c = ClawOps::builder()
        .api_key(KEY)
        .account_id(ACCOUNT)
        .base_url(format!("http://{addr}"))
        .max_retries(1)
        .backoff(Backoff::new(
            Duration::from_millis(1),
            Duration::from_millis(1),
            Duration::from_secs(1),
        ))
        .build()
        .unwrap();
    match c.calls().create(create()).await.unwrap_err() {
        clawops::Error::Connection {
            connect, operation, ..
        } => {
            assert!(connect);
            assert_eq!(operation.id, "create_call");
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}
