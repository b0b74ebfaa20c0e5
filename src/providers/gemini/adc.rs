//! Application Default Credentials for Vertex AI (cargo feature `vertex-adc`, via
//! [gcp_auth](https://docs.rs/gcp_auth)).
//!
//! With the feature on, a Vertex AI session without an explicit token source finds its
//! credentials the way Google's own SDKs do: `GOOGLE_APPLICATION_CREDENTIALS` (a service-account
//! key file), the gcloud application-default file, the metadata server on Google Cloud, then
//! the `gcloud` CLI. The lookup runs once, on the first connection; tokens are cached by
//! gcp_auth until they expire and refreshed on a later connection attempt.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::TokenProvider;

/// The OAuth scope Vertex AI needs.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A [`TokenProvider`] backed by Application Default Credentials (scope
/// [`CLOUD_PLATFORM_SCOPE`]). The builder uses it by itself for Vertex AI when no token source
/// was given; pass it explicitly to share one credential cache between factories.
///
/// ```no_run
/// use clawops::providers::gemini::{GeminiRealtime, adc_token_provider};
///
/// let factory = GeminiRealtime::builder()
///     .vertex("my-project", "us-central1")
///     .vertex_token_provider(adc_token_provider())
///     .build()?;
/// # Ok::<(), clawops::providers::gemini::GeminiError>(())
/// ```
pub fn adc_token_provider() -> TokenProvider {
    let source: Arc<OnceCell<Arc<dyn gcp_auth::TokenProvider>>> = Arc::default();
    Arc::new(move || {
        let source = Arc::clone(&source);
        Box::pin(async move {
            let provider = source
                .get_or_try_init(gcp_auth::provider)
                .await
                .map_err(|e| format!("Application Default Credentials: {e}"))?;
            let token = provider
                .token(&[CLOUD_PLATFORM_SCOPE])
                .await
                .map_err(|e| format!("Vertex AI token: {e}"))?;
            Ok(token.as_str().to_owned())
        })
    })
}
