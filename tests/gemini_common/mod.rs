//! A fake Gemini Live (`BidiGenerateContent`) server on 127.0.0.1 and a fake call, for the
//! Gemini session tests.
//!
//! The server records every client frame exactly as received, the request URI and the
//! `Authorization` header, and lets the test answer `setup`, push any server message (sent as
//! **binary** frames, like Google's server) or close/drop the socket.

#![allow(dead_code, clippy::result_large_err)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use clawops::agent::{
    AgentError, BuiltinTools, CallControl, CollectOptions, DtmfInput, DtmfSequence, SessionEvent,
    SessionTools, ToolRegistry, TransferOptions,
};
use futures::{SinkExt, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The Live API path under the API-key endpoint.
pub const LIVE_PATH: &str =
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

/// What one connection saw.
#[derive(Debug)]
pub enum Seen {
    /// A text frame (parsed).
    Frame(Value),
    /// The client's close frame.
    Close,
    /// The TCP stream ended without a close frame, or the server closed.
    Ended,
}

enum Push {
    Json(Value),
    Close(u16, String),
}

/// One accepted connection.
pub struct Conn {
    /// `Authorization` header ("" when absent).
    pub authorization: String,
    /// Request path and query.
    pub uri: String,
    seen: mpsc::UnboundedReceiver<Seen>,
    push: mpsc::UnboundedSender<Push>,
}

impl Conn {
    /// The next client frame (panics after 5 s).
    pub async fn frame(&mut self) -> Value {
        match tokio::time::timeout(Duration::from_secs(5), self.seen.recv()).await {
            Ok(Some(Seen::Frame(v))) => v,
            other => panic!("expected a client frame, got {other:?}"),
        }
    }

    /// The next client frame that is not caller audio.
    pub async fn control_frame(&mut self) -> Value {
        loop {
            let f = self.frame().await;
            if f.pointer("/realtimeInput/audio").is_none() {
                return f;
            }
        }
    }

    /// The next client frame if one arrives within `d`.
    pub async fn frame_within(&mut self, d: Duration) -> Option<Value> {
        match tokio::time::timeout(d, self.seen.recv()).await {
            Ok(Some(Seen::Frame(v))) => Some(v),
            Ok(other) => panic!("expected a client frame, got {other:?}"),
            Err(_) => None,
        }
    }

    /// The next caller-audio frame, decoded to PCM16 samples.
    pub async fn audio_frame(&mut self) -> Vec<i16> {
        loop {
            let f = self.frame().await;
            if let Some(a) = f.pointer("/realtimeInput/audio") {
                assert_eq!(a["mimeType"], "audio/pcm;rate=16000");
                let bytes = B64.decode(a["data"].as_str().unwrap()).unwrap();
                return bytes
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
            }
        }
    }

    /// Reads the `setup` frame and answers `setupComplete`; returns the frame.
    pub async fn setup(&mut self) -> Value {
        let f = self.frame().await;
        assert!(f.get("setup").is_some(), "first frame must be setup: {f}");
        self.send(json!({"setupComplete": {}}));
        f
    }

    /// Sends a server message (as a binary frame).
    pub fn send(&self, v: Value) {
        let _ = self.push.send(Push::Json(v));
    }

    /// Closes the socket from the server side with a close frame.
    pub fn close_from_server(&self, code: u16, reason: &str) {
        let _ = self.push.send(Push::Close(code, reason.to_owned()));
    }

    /// Waits for the client's close frame (skipping frames); panics after 5 s.
    pub async fn expect_close(&mut self) {
        assert!(
            self.closed_within(Duration::from_secs(5)).await,
            "expected the client to close the socket"
        );
    }

    /// Whether the client closes (close frame or TCP end) within `d` (frames are skipped).
    pub async fn closed_within(&mut self, d: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(Seen::Close | Seen::Ended)) | Ok(None) => return true,
                Ok(Some(Seen::Frame(_))) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Asserts that no further client frame (other than caller audio) arrives within `d`.
    pub async fn expect_quiet(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Err(_) => return,
                Ok(Some(Seen::Frame(f))) if f.pointer("/realtimeInput/audio").is_some() => {}
                Ok(s) => panic!("unexpected {s:?}"),
            }
        }
    }
}

/// The fake server.
pub struct FakeGemini {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    conns: mpsc::UnboundedReceiver<Conn>,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicU32>,
}

impl FakeGemini {
    /// Starts on an ephemeral loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (conn_tx, conns) = mpsc::unbounded_channel();
        let accepted = Arc::new(AtomicU32::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let conn_tx = conn_tx.clone();
                tokio::spawn(serve(tcp, conn_tx));
            }
        });
        Self {
            base_url: format!("http://{addr}"),
            conns,
            accepted,
        }
    }

    /// The next accepted connection (panics after 10 s).
    pub async fn conn(&mut self) -> Conn {
        tokio::time::timeout(Duration::from_secs(10), self.conns.recv())
            .await
            .expect("no connection")
            .expect("server gone")
    }

    /// Whether another connection arrives within `d`.
    pub async fn conn_within(&mut self, d: Duration) -> Option<Conn> {
        tokio::time::timeout(d, self.conns.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn serve(tcp: tokio::net::TcpStream, conn_tx: mpsc::UnboundedSender<Conn>) {
    let head = Arc::new(Mutex::new((String::new(), String::new())));
    let h = head.clone();
    let cb = move |req: &Request, resp: Response| {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        *h.lock().unwrap() = (auth, req.uri().to_string());
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, cb).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (push, mut push_rx) = mpsc::unbounded_channel::<Push>();
    let (authorization, uri) = head.lock().unwrap().clone();
    let _ = conn_tx.send(Conn {
        authorization,
        uri,
        seen,
        push,
    });
    loop {
        tokio::select! {
            out = push_rx.recv() => match out {
                Some(Push::Json(v)) => {
                    if sink.send(Message::binary(v.to_string().into_bytes())).await.is_err() { break }
                }
                Some(Push::Close(code, reason)) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }))).await;
                    let _ = seen_tx.send(Seen::Ended);
                    break;
                }
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("client frame is JSON");
                    let _ = seen_tx.send(Seen::Frame(v));
                }
                Some(Ok(Message::Close(_))) => {
                    let _ = seen_tx.send(Seen::Close);
                    let _ = sink.close().await;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => { let _ = seen_tx.send(Seen::Ended); break }
            },
        }
    }
}

/// `serverContent.modelTurn` with one audio part (PCM16 LE samples).
pub fn audio_msg(samples: &[i16]) -> Value {
    let mut bytes = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    json!({"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": B64.encode(bytes)}}]}}})
}

/// A call that records what the session did to it.
#[derive(Default)]
pub struct FakeCall {
    pub id: String,
    pub audio: Mutex<Vec<Bytes>>,
    pub clears: AtomicU32,
    pub events: Mutex<Vec<SessionEvent>>,
    pub tool_calls: AtomicU32,
    pub turns: AtomicU32,
    pub hangups: AtomicU32,
}

impl FakeCall {
    pub fn new(id: &str) -> Arc<Self> {
        Arc::new(Self {
            id: id.into(),
            ..Default::default()
        })
    }

    pub fn audio_bytes(&self) -> Vec<u8> {
        self.audio
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b.to_vec())
            .collect()
    }

    pub fn chunk_lens(&self) -> Vec<usize> {
        self.audio.lock().unwrap().iter().map(Bytes::len).collect()
    }

    pub fn events(&self) -> Vec<SessionEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until `f` holds (polling, 10 s limit).
    pub async fn until(&self, what: &str, f: impl Fn(&Self) -> bool) {
        for _ in 0..1000 {
            if f(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

#[async_trait]
impl CallControl for FakeCall {
    fn call_id(&self) -> &str {
        &self.id
    }
    fn send_audio(&self, ulaw: Bytes) {
        self.audio.lock().unwrap().push(ulaw);
    }
    fn clear_audio(&self) {
        self.clears.fetch_add(1, Ordering::SeqCst);
    }
    async fn hangup(&self) {
        self.hangups.fetch_add(1, Ordering::SeqCst);
    }
    fn emit(&self, event: SessionEvent) {
        self.events.lock().unwrap().push(event);
    }
    fn record_turn(&self) {
        self.turns.fetch_add(1, Ordering::SeqCst);
    }
    fn record_tool_call(&self) {
        self.tool_calls.fetch_add(1, Ordering::SeqCst);
    }
    fn record_tool_error(&self, _tool: &str, _message: &str) {}
    async fn collect_dtmf(&self, _options: CollectOptions) -> Result<DtmfInput, AgentError> {
        Ok(DtmfInput::new("1234"))
    }
    async fn send_dtmf(&self, _digits: DtmfSequence) -> Result<(), AgentError> {
        Ok(())
    }
    fn start_transfer(&self, _options: TransferOptions) -> Result<(), AgentError> {
        Ok(())
    }
}

/// 주문 상태를 확인합니다.
#[derive(Deserialize, JsonSchema)]
pub struct CheckOrder {
    /// 주문 번호
    pub order_id: String,
}

/// Saves a note.
#[derive(Deserialize, JsonSchema)]
pub struct SaveNote {
    /// The note.
    pub text: String,
}

/// 느린 조회.
#[derive(Deserialize, JsonSchema)]
pub struct Slow {}

/// `check_order` (answers "배송 완료"), `save_note` (returns `()`), `slow_lookup` (700 ms), and
/// the builtin `hang_up` only.
pub fn tools() -> SessionTools {
    let mut registry = ToolRegistry::new();
    registry
        .register("check_order", |a: CheckOrder| async move {
            Ok::<_, std::convert::Infallible>(format!("{}: 배송 완료", a.order_id))
        })
        .unwrap();
    registry
        .register("save_note", |_a: SaveNote| async move {
            Ok::<_, std::convert::Infallible>(())
        })
        .unwrap();
    registry
        .register("slow_lookup", |_a: Slow| async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            Ok::<_, std::convert::Infallible>("late")
        })
        .unwrap();
    SessionTools {
        registry,
        builtins: BuiltinTools::from_names(["hang_up"]),
        hold_audio: None,
    }
}

/// The declarations [`tools`] produce on a 3.1 model with `save_note` NON_BLOCKING.
pub fn expected_declarations() -> Value {
    json!([
        {"name":"check_order","description":"주문 상태를 확인합니다.",
         "parameters":{"type":"OBJECT","properties":{"order_id":{"type":"STRING","description":"주문 번호"}},"required":["order_id"]}},
        {"name":"save_note","description":"Saves a note.",
         "parameters":{"type":"OBJECT","properties":{"text":{"type":"STRING","description":"The note."}},"required":["text"]},
         "behavior":"NON_BLOCKING"},
        {"name":"slow_lookup","description":"느린 조회.",
         "parameters":{"type":"OBJECT","properties":{},"required":[]}},
        {"name":"hang_up","description":"End the phone call. Use when the conversation is finished or the caller says goodbye.",
         "parameters":{"type":"OBJECT","properties":{}}},
    ])
}
