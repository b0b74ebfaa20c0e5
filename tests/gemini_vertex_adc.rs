//! Gemini Live on Vertex AI with Application Default Credentials (feature `vertex-adc`):
//! a service-account key file named by `GOOGLE_APPLICATION_CREDENTIALS` whose `token_uri`
//! points at a fake OAuth token endpoint on loopback. The key is a throwaway RSA key made for
//! this test (tests/fixtures/throwaway-test-rsa-key.pem); it signs the JWT grant.
#![cfg(feature = "vertex-adc")]

mod gemini_common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use clawops::agent::{CallHandle, SessionFactory};
use clawops::providers::gemini::GeminiRealtime;
use gemini_common::{FakeCall, FakeGemini, tools};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn vertex_without_a_token_source_uses_application_default_credentials() {
    let oauth = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "ya29.adc-token", "expires_in": 3600, "token_type": "Bearer"}),
        ))
        .mount(&oauth)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("service-account.json");
    let key = json!({
        "type": "service_account",
        "project_id": "adc-proj",
        "private_key_id": "k1",
        "private_key": include_str!("fixtures/throwaway-test-rsa-key.pem"),
        "client_email": "agent@adc-proj.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": format!("{}/token", oauth.uri()),
    });
    std::fs::write(&key_file, key.to_string()).unwrap();
    // The only test of this binary: nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &key_file) };

    let mut fake = FakeGemini::start().await;
    let factory: GeminiRealtime = GeminiRealtime::builder()
        .vertex("adc-proj", "us-central1")
        .base_url(&fake.base_url)
        .greeting(false)
        .build()
        .unwrap();
    // Two calls: each connection carries the ADC token; the token is fetched once.
    for id in ["CA1", "CA2"] {
        let s = factory.create().unwrap();
        s.set_tools(tools());
        let call = FakeCall::new(id);
        let handle: CallHandle = call.clone();
        let server = async {
            let mut conn = fake.conn().await;
            let setup = conn.setup().await;
            (conn, setup)
        };
        let (res, (mut conn, setup)) = tokio::join!(s.start(handle), server);
        res.unwrap();
        assert_eq!(conn.authorization, "Bearer ya29.adc-token");
        assert_eq!(
            conn.uri,
            "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
        );
        assert_eq!(
            setup["setup"]["model"],
            "projects/adc-proj/locations/us-central1/publishers/google/models/gemini-3.1-flash-live-preview"
        );
        s.stop().await;
        conn.expect_close().await;
    }

    // One JWT-bearer grant, signed for the cloud-platform scope by the key file's account.
    let requests = oauth.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "the token is cached");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    assert_eq!(form[0].0, "grant_type");
    assert_eq!(form[0].1, "urn:ietf:params:oauth:grant-type:jwt-bearer");
    assert_eq!(form[1].0, "assertion");
    // The JWT's payload (base64url; padding tolerated).
    let payload = form[1].1.split('.').nth(1).unwrap().trim_end_matches('=');
    let claims: Value = serde_json::from_slice(&B64URL.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["iss"], "agent@adc-proj.iam.gserviceaccount.com");
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    assert_eq!(claims["aud"], format!("{}/token", oauth.uri()));
}
