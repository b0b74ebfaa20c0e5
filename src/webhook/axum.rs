//! An axum extractor that verifies the signature of a status callback (feature `axum`).
//!
//! ```
//! use axum::{Router, routing::post};
//! use clawops::webhook::axum::{VerifiedStatusCallback, WebhookVerifier};
//!
//! async fn status(VerifiedStatusCallback(event): VerifiedStatusCallback) -> &'static str {
//!     println!("{:?} is now {:?}", event.call_id, event.call_status);
//!     "ok"
//! }
//!
//! let app: Router = Router::new()
//!     .route("/status", post(status))
//!     .with_state(WebhookVerifier::new("https://my-app.com", "whsec_example"));
//! ```

use std::fmt;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{StatusCallbackEvent, verify_form};

/// The public base URL your webhooks are reached at and the signing key. The URL checked is
/// this base followed by the request's path and query.
#[derive(Clone)]
pub struct WebhookVerifier {
    base_url: Arc<str>,
    signing_key: Arc<str>,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("base_url", &self.base_url)
            .field("signing_key", &"<redacted>")
            .finish()
    }
}

impl WebhookVerifier {
    /// `public_base_url` like `https://my-app.com` (no trailing `/`), and the signing key.
    pub fn new(public_base_url: impl AsRef<str>, signing_key: impl Into<String>) -> Self {
        Self {
            base_url: public_base_url.as_ref().trim_end_matches('/').into(),
            signing_key: signing_key.into().into(),
        }
    }
}

/// A status callback whose `X-Signature` verified; rejects with 401 otherwise.
#[derive(Clone, Debug)]
pub struct VerifiedStatusCallback(pub StatusCallbackEvent);

/// Why a callback was rejected (always 401, without details in the body).
#[derive(Debug)]
pub struct WebhookRejection(crate::Error);

impl WebhookRejection {
    /// The underlying error.
    pub fn error(&self) -> &crate::Error {
        &self.0
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        tracing::warn!(error = %self.0, "rejected webhook request");
        (StatusCode::UNAUTHORIZED, "invalid webhook signature").into_response()
    }
}

impl<S> FromRequest<S> for VerifiedStatusCallback
where
    WebhookVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = WebhookVerifier::from_ref(state);
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            WebhookRejection(crate::Error::WebhookVerification(format!(
                "unreadable body: {e}"
            )))
        })?;
        let url = format!("{}{}", verifier.base_url, path);
        verify_form(&url, &headers, &body, &verifier.signing_key)
            .map(VerifiedStatusCallback)
            .map_err(WebhookRejection)
    }
}
