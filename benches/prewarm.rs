//! Answer → first-audio delay of an [`OpenAIRealtime`] session, with and without prewarm,
//! against a fake Realtime server on 127.0.0.1 with a simulated model latency.
//!
//! ```sh
//! cargo bench --bench prewarm
//! PREWARM_MODEL_LATENCY_MS=800 PREWARM_RING_MS=2000 PREWARM_ITERS=5 cargo bench --bench prewarm
//! ```
//!
//! With prewarm the session connects at originate, the greeting is generated while the phone
//! rings and buffered, and `attach` (at answer, before the media socket opens) hands it to the
//! call at once; without prewarm, `start` at answer pays connect + model latency.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use clawops::agent::{
    AgentError, BufferingCall, CallControl, CallHandle, CollectOptions, DtmfInput, DtmfSequence,
    Session, SessionEvent, TransferOptions,
};
use clawops::providers::openai::OpenAIRealtime;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

fn env_ms(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fake Realtime server: `session.updated` at once, a 1 s greeting `latency` after each
/// `response.create` (in 100 ms deltas).
async fn fake_server(latency: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let (sink, mut stream) = ws.split();
                let sink = Arc::new(tokio::sync::Mutex::new(sink));
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(text) = msg else { break };
                    let v: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("session.update") => {
                            let out = json!({"type": "session.updated", "session": {}});
                            let _ = sink.lock().await.send(Message::text(out.to_string())).await;
                        }
                        Some("response.create") => {
                            let sink = sink.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(latency).await;
                                for _ in 0..10 {
                                    let delta = json!({"type": "response.output_audio.delta", "item_id": "greet", "delta": B64.encode([0x55u8; 800])});
                                    if sink
                                        .lock()
                                        .await
                                        .send(Message::text(delta.to_string()))
                                        .await
                                        .is_err()
                                    {
                                        return;
                                    }
                                }
                            });
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    format!("http://{addr}/v1")
}

/// A call that notes when its first audio arrives.
#[derive(Default)]
struct TimingCall {
    first_audio: Mutex<Option<Instant>>,
    notify: tokio::sync::Notify,
}

#[async_trait]
impl CallControl for TimingCall {
    fn call_id(&self) -> &str {
        "CA_bench"
    }
    fn send_audio(&self, _ulaw: Bytes) {
        let mut first = self.first_audio.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(Instant::now());
            self.notify.notify_one();
        }
    }
    fn clear_audio(&self) {}
    async fn hangup(&self) {}
    fn emit(&self, _event: SessionEvent) {}
    fn record_tool_call(&self) {}
    fn record_tool_error(&self, _tool: &str, _message: &str) {}
    async fn collect_dtmf(&self, _o: CollectOptions) -> Result<DtmfInput, AgentError> {
        Err(AgentError::NotAvailable("bench".into()))
    }
    async fn send_dtmf(&self, _d: DtmfSequence) -> Result<(), AgentError> {
        Ok(())
    }
    fn start_transfer(&self, _o: TransferOptions) -> Result<(), AgentError> {
        Ok(())
    }
}

async fn one(base: &str, prewarm: bool, ring: Duration) -> Duration {
    let session = OpenAIRealtime::builder()
        .api_key("sk-bench")
        .base_url(base)
        .build()
        .expect("session");
    let call = Arc::new(TimingCall::default());
    let handle: CallHandle = call.clone();
    if prewarm {
        // Originate: prewarm while the phone rings.
        session
            .prewarm(BufferingCall::new("CA_bench"))
            .await
            .expect("prewarm");
        tokio::time::sleep(ring).await;
    } else {
        tokio::time::sleep(ring).await;
    }
    let answered = Instant::now();
    if prewarm {
        session.attach(handle).await.expect("attach");
    } else {
        session.start(handle).await.expect("start");
    }
    let notified = call.notify.notified();
    if call
        .first_audio
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_none()
    {
        let _ = tokio::time::timeout(Duration::from_secs(30), notified).await;
    }
    let first = call
        .first_audio
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or_else(Instant::now);
    session.stop().await;
    first.duration_since(answered)
}

fn summary(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<16} answer -> first audio: min {:8.3} ms  median {:8.3} ms  max {:8.3} ms  (n={})",
        ms(v[0]),
        ms(v[v.len() / 2]),
        ms(v[v.len() - 1]),
        v.len()
    );
}

fn main() {
    let latency = Duration::from_millis(env_ms("PREWARM_MODEL_LATENCY_MS", 800));
    let ring = Duration::from_millis(env_ms("PREWARM_RING_MS", 2000));
    let iters = env_ms("PREWARM_ITERS", 5).max(1) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let base = fake_server(latency).await;
        println!(
            "prewarm bench: model latency {} ms, ring {} ms, {iters} calls each",
            latency.as_millis(),
            ring.as_millis()
        );
        let mut with = Vec::new();
        let mut without = Vec::new();
        for _ in 0..iters {
            with.push(one(&base, true, ring).await);
            without.push(one(&base, false, Duration::ZERO).await);
        }
        summary("with prewarm", with);
        summary("without prewarm", without);
    });
}
