//! Status callbacks: signed `application/x-www-form-urlencoded` posts to `StatusCallback` URLs.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::call::LiveCall;
use crate::state::Shared;

/// The `X-Signature` of a callback: Base64(HMAC-SHA256(key, url + sorted key/value pairs)).
pub fn signature(key: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut data = String::from(url);
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// A call's callback queue; posts are sent in order by one task per call, which ends (after
/// the queued posts) when the call's task drops this value.
#[derive(Clone, Default)]
pub(crate) struct Callbacks {
    tx: Option<mpsc::UnboundedSender<Vec<(String, String)>>>,
    events: Vec<String>,
}

impl Callbacks {
    /// Starts the sender task for `url`, subscribed to the space-separated `events`
    /// (default `initiated ringing answered completed`).
    pub(crate) fn start(shared: &Arc<Shared>, url: Option<String>, events: Option<&str>) -> Self {
        let Some(url) = url.filter(|u| !u.is_empty()) else {
            return Self::default();
        };
        let events = events
            .unwrap_or("initiated ringing answered completed")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<(String, String)>>();
        let shared2 = shared.clone();
        shared.tasks.spawn(async move {
            while let Some(params) = rx.recv().await {
                let sig = signature(&shared2.config.signing_key, &url, &params);
                let body = serde_urlencoded::to_string(&params).unwrap_or_default();
                let sent = shared2
                    .http
                    .post(&url)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("X-Signature", sig)
                    .body(body)
                    .timeout(std::time::Duration::from_secs(5))
                    .send();
                tokio::select! {
                    r = sent => if let Err(error) = r {
                        tracing::debug!(%error, "status callback delivery failed");
                    },
                    () = shared2.cancel.cancelled() => break,
                }
            }
        });
        Self {
            tx: Some(tx),
            events,
        }
    }

    /// Queues the callback for `event` if subscribed.
    pub(crate) fn event(&self, event: &str, call: &LiveCall, duration: Option<i64>) {
        let Some(tx) = &self.tx else { return };
        if !self.events.iter().any(|e| e == event) {
            return;
        }
        let view = call.view();
        let status = if event == "completed" {
            view.ended_status
                .clone()
                .unwrap_or_else(|| "completed".into())
        } else {
            view.status.clone()
        };
        let mut params = vec![
            ("CallId".to_owned(), call.id.clone()),
            ("CallStatus".to_owned(), status),
            ("From".to_owned(), call.from.clone()),
            ("To".to_owned(), call.to.clone()),
            ("Direction".to_owned(), view.direction.clone()),
            ("StatusCallbackEvent".to_owned(), event.to_owned()),
        ];
        if let Some(d) = duration {
            params.push(("Duration".to_owned(), d.to_string()));
        }
        drop(view);
        let _ = tx.send(params);
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn matches_the_reference_vectors() {
        let params = p(&[("CallId", "CA123"), ("CallStatus", "completed")]);
        assert_eq!(
            signature("test_key", "https://my-app.com/webhook", &params),
            "J3dZchH2utI+voZ5StWa4YrMirKJhtPAr9QEPsTUIeU="
        );
        assert_eq!(
            signature("sk_sign", "https://my-app.com/webhook", &params),
            "VsITwcHkzMYmMrgIr1Vdh7RidfMHBEuYuN3QGhDqgmQ="
        );
        assert_eq!(
            signature("test_key", "https://my-app.com/webhook", &[]),
            "d0WyN5XsnORsCvzz2RHdEVMfXBrSHkvOx1Mp+m8pSs8="
        );
        let v4 = p(&[
            ("To", "01012345678"),
            ("From", "07052358010"),
            ("CallStatus", "completed"),
            ("AnsweredBy", "human"),
            ("callId", "CA0123456789abcdef0123456789abcdef"),
            ("Duration", "91"),
        ]);
        assert_eq!(
            signature("whsec_example", "https://my-app.com/status?tenant=7", &v4),
            "BV0rS04sjdoLKh8AMDU+D7eE0orRJibizU7N32Z3g1o="
        );
        let v5 = p(&[
            ("Body", "안녕하세요"),
            ("MessageId", "MG1"),
            ("From", "07052358010"),
        ]);
        assert_eq!(
            signature("키-key", "https://my-app.com/sms", &v5),
            "mMUF1LTlBttnvOIXCBsiKzlj1UtMIOKa5Z1BcrBEpq0="
        );
    }
}
