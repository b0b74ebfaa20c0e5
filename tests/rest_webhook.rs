//! Webhook signature verification with the facts sheet's test vectors, typed status-callback
//! parsing and the axum extractor.

use std::collections::BTreeMap;

use clawops::ErrorKind;
use clawops::reqwest::header::HeaderMap;
use clawops::types::{AnsweredBy, CallStatus};
use clawops::webhook::{self, sign, verify, verify_form};

fn vector4() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("To", "01012345678"),
        ("From", "07052358010"),
        ("CallStatus", "completed"),
        ("AnsweredBy", "human"),
        ("callId", "CA0123456789abcdef0123456789abcdef"),
        ("Duration", "91"),
    ])
}

#[test]
fn facts_sheet_vectors() {
    let url = "https://my-app.com/webhook";
    let v1 = BTreeMap::from([("CallId", "CA123"), ("CallStatus", "completed")]);
    let cases: Vec<(&str, BTreeMap<&str, &str>, &str, &str)> = vec![
        (
            url,
            v1.clone(),
            "test_key",
            "J3dZchH2utI+voZ5StWa4YrMirKJhtPAr9QEPsTUIeU=",
        ),
        (
            url,
            v1,
            "sk_sign",
            "VsITwcHkzMYmMrgIr1Vdh7RidfMHBEuYuN3QGhDqgmQ=",
        ),
        (
            url,
            BTreeMap::new(),
            "test_key",
            "d0WyN5XsnORsCvzz2RHdEVMfXBrSHkvOx1Mp+m8pSs8=",
        ),
        (
            "https://my-app.com/status?tenant=7",
            vector4(),
            "whsec_example",
            "BV0rS04sjdoLKh8AMDU+D7eE0orRJibizU7N32Z3g1o=",
        ),
        (
            "https://my-app.com/sms",
            BTreeMap::from([
                ("Body", "안녕하세요"),
                ("MessageId", "MG1"),
                ("From", "07052358010"),
            ]),
            "키-key",
            "mMUF1LTlBttnvOIXCBsiKzlj1UtMIOKa5Z1BcrBEpq0=",
        ),
    ];
    for (url, params, key, sig) in cases {
        assert_eq!(sign(url, &params, key), sig);
        verify(url, params.clone(), sig, key).unwrap();
        let err = verify(url, params.clone(), sig, "wrong").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WebhookVerification);
        let err = verify(&format!("{url}/x"), params, sig, key).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WebhookVerification);
    }
    // Not base64, and non-ASCII: a verification error, never a panic.
    assert!(verify(url, BTreeMap::<&str, &str>::new(), "%%%", "k").is_err());
    assert!(verify(url, BTreeMap::<&str, &str>::new(), "서명", "k").is_err());
}

fn headers(sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("X-Signature", sig.parse().unwrap());
    h
}

#[test]
fn verify_form_parses_a_typed_status_callback() {
    let body = b"To=01012345678&From=07052358010&CallStatus=completed&AnsweredBy=human\
&callId=CA0123456789abcdef0123456789abcdef&Duration=91";
    let ev = verify_form(
        "https://my-app.com/status?tenant=7",
        &headers("BV0rS04sjdoLKh8AMDU+D7eE0orRJibizU7N32Z3g1o="),
        body,
        "whsec_example",
    )
    .unwrap();
    assert_eq!(ev.call_status, Some(CallStatus::Completed));
    assert_eq!(ev.answered_by, Some(AnsweredBy::Human));

    let ev = verify_form(
        "https://my-app.com/webhook",
        &headers("J3dZchH2utI+voZ5StWa4YrMirKJhtPAr9QEPsTUIeU="),
        b"CallId=CA123&CallStatus=completed",
        "test_key",
    )
    .unwrap();
    assert_eq!(ev.call_id.as_deref(), Some("CA123"));

    // Percent-encoded UTF-8 values are decoded before signing.
    let params = BTreeMap::from([
        ("Body", "안녕하세요"),
        ("MessageId", "MG1"),
        ("From", "07052358010"),
    ]);
    let sig = sign("https://my-app.com/sms", &params, "키-key");
    let body = "Body=%EC%95%88%EB%85%95%ED%95%98%EC%84%B8%EC%9A%94&MessageId=MG1&From=07052358010";
    verify_form(
        "https://my-app.com/sms",
        &headers(&sig),
        body.as_bytes(),
        "키-key",
    )
    .unwrap();

    // Missing header, tampered body, repeated key.
    let e = verify_form(
        "https://my-app.com/webhook",
        &HeaderMap::new(),
        b"CallId=CA123",
        "test_key",
    );
    assert_eq!(e.unwrap_err().kind(), ErrorKind::WebhookVerification);
    let e = verify_form(
        "https://my-app.com/webhook",
        &headers("J3dZchH2utI+voZ5StWa4YrMirKJhtPAr9QEPsTUIeU="),
        b"CallId=CA124&CallStatus=completed",
        "test_key",
    );
    assert_eq!(e.unwrap_err().kind(), ErrorKind::WebhookVerification);
    let e = webhook::parse_form(b"a=1&a=2");
    assert_eq!(e.unwrap_err().kind(), ErrorKind::WebhookVerification);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_extractor_accepts_good_and_rejects_bad_signatures_with_401() {
    use axum::Router;
    use axum::routing::post;
    use clawops::webhook::axum::{VerifiedStatusCallback, WebhookVerifier};

    async fn handler(VerifiedStatusCallback(ev): VerifiedStatusCallback) -> String {
        format!(
            "{}:{}",
            ev.call_id.unwrap_or_default(),
            ev.call_status.map(|s| s.to_string()).unwrap_or_default()
        )
    }
    let app = Router::new()
        .route("/webhook", post(handler))
        .with_state(WebhookVerifier::new("https://my-app.com", "test_key"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let http = clawops::reqwest::Client::new();
    let send = |sig: &'static str, body: &'static str| {
        http.post(format!("http://{addr}/webhook"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Signature", sig)
            .body(body)
            .send()
    };
    let ok = send(
        "J3dZchH2utI+voZ5StWa4YrMirKJhtPAr9QEPsTUIeU=",
        "CallId=CA123&CallStatus=completed",
    )
    .await
    .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "CA123:completed");
    let bad = send(
        "J3dZchH2utI+voZ5StWa4YrMirKJhtPAr9QEPsTUIeU=",
        "CallId=CA999&CallStatus=completed",
    )
    .await
    .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    server.abort();
}
