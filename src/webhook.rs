//! Verifying the requests ClawOps sends to your webhook and status-callback URLs.
//!
//! ClawOps signs each request with `X-Signature`: the standard Base64 of
//! HMAC-SHA256(signing key, URL followed by every form parameter as `key` + `value`, sorted by
//! key in byte order, with no separators). [`verify`] checks a signature in constant time;
//! [`verify_form`] checks a raw `application/x-www-form-urlencoded` body plus its headers and
//! parses it into a typed [`StatusCallbackEvent`]. With the `axum` feature,
//! [`axum::VerifiedStatusCallback`] does both as an extractor that answers 401 on a bad
//! signature.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! let params = BTreeMap::from([("CallId", "CA123"), ("CallStatus", "completed")]);
//! clawops::webhook::verify(
//!     "https://my-app.com/webhook",
//!     params,
//!     "J3dZchH2utI+voZ5StWa4YrMirKJhtPAr9QEPsTUIeU=",
//!     "test_key",
//! )?;
//! # Ok::<(), clawops::Error>(())
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use sha2::Sha256;

pub use clawops_api::types::StatusCallbackEvent;

use crate::error::{Error, Result};

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Signature";

fn mac<K, V>(url: &str, params: &BTreeMap<K, V>, signing_key: &str) -> Hmac<Sha256>
where
    K: AsRef<str> + Ord,
    V: AsRef<str>,
{
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(signing_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(url.as_bytes());
    for (k, v) in params {
        mac.update(k.as_ref().as_bytes());
        mac.update(v.as_ref().as_bytes());
    }
    mac
}

/// The `X-Signature` value ClawOps would send for `url` and `params`.
///
/// ```
/// use std::collections::BTreeMap;
///
/// let sig = clawops::webhook::sign("https://my-app.com/webhook", &BTreeMap::<&str, &str>::new(), "test_key");
/// assert_eq!(sig, "d0WyN5XsnORsCvzz2RHdEVMfXBrSHkvOx1Mp+m8pSs8=");
/// ```
pub fn sign<K, V>(url: &str, params: &BTreeMap<K, V>, signing_key: &str) -> String
where
    K: AsRef<str> + Ord,
    V: AsRef<str>,
{
    base64::engine::general_purpose::STANDARD
        .encode(mac(url, params, signing_key).finalize().into_bytes())
}

/// Checks `signature` (the `X-Signature` header) against `url` and the form `params`, in
/// constant time. `url` must be the URL exactly as ClawOps called it (scheme, host, path and
/// query), which behind a proxy is the public URL, not the one your server sees.
pub fn verify<K, V>(
    url: &str,
    params: BTreeMap<K, V>,
    signature: &str,
    signing_key: &str,
) -> Result<()>
where
    K: AsRef<str> + Ord,
    V: AsRef<str>,
{
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Error::WebhookVerification("the signature is not valid base64".into()))?;
    mac(url, &params, signing_key)
        .verify_slice(&expected)
        .map_err(|_| Error::WebhookVerification("the signature does not match".into()))
}

/// Parses an `application/x-www-form-urlencoded` body into parameters. A repeated key is an
/// error (the signature scheme cannot represent it).
pub fn parse_form(body: &[u8]) -> Result<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if params
            .insert(k.clone().into_owned(), v.into_owned())
            .is_some()
        {
            return Err(Error::WebhookVerification(format!(
                "repeated form key {k:?}"
            )));
        }
    }
    Ok(params)
}

/// Verifies a raw status-callback request (its `X-Signature` header and form body) and parses
/// it into a [`StatusCallbackEvent`]. Unknown parameters are ignored by the typed event; use
/// [`parse_form`] to read them.
///
/// ```
/// use reqwest::header::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-signature", "J3dZchH2utI+voZ5StWa4YrMirKJhtPAr9QEPsTUIeU=".parse().unwrap());
/// let event = clawops::webhook::verify_form(
///     "https://my-app.com/webhook",
///     &headers,
///     b"CallId=CA123&CallStatus=completed",
///     "test_key",
/// )?;
/// assert_eq!(event.call_id.as_deref(), Some("CA123"));
/// # Ok::<(), clawops::Error>(())
/// ```
pub fn verify_form(
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
    signing_key: &str,
) -> Result<StatusCallbackEvent> {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| Error::WebhookVerification("missing X-Signature header".into()))?
        .to_str()
        .map_err(|_| Error::WebhookVerification("X-Signature is not ASCII".into()))?;
    let params = parse_form(body)?;
    verify(url, params_ref(&params), signature, signing_key)?;
    let value = serde_json::Value::Object(
        params
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
    );
    serde_json::from_value(value)
        .map_err(|e| Error::WebhookVerification(format!("not a status-callback event: {e}")))
}

fn params_ref(params: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}
