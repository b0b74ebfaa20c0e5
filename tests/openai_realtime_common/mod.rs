//! A fake OpenAI Realtime server on 127.0.0.1 and a fake call, for the session tests.
//!
//! The server records every client frame exactly as received (and appends it to a JSONL file
//! under the target dir for `.ci/validate-realtime-events.py`), answers `session.update` with
//! `session.updated`, and lets the test push any server event.

#![allow(dead_code, clippy::result_large_err)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use clawops::agent::{
    AgentError, BuiltinTools, CallControl, CollectOptions, DtmfInput, DtmfSequence, SessionEvent,
    SessionTools, ToolRegistry, TransferOptions,
};
use futures::{SinkExt, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// What one connection saw.
#[derive(Debug)]
pub enum Seen {
    /// A text frame (parsed).
    Frame(Value),
    /// The client's close frame.
    Close,
    /// The TCP stream ended.
    Ended,
}

/// One accepted connection.
pub struct Conn {
    /// `Authorization` header.
    pub authorization: String,
    /// Request path and query.
    pub uri: String,
    /// Frames and close, in order.
    pub seen: mpsc::UnboundedReceiver<Seen>,
    /// Server events to send.
    pub push: mpsc::UnboundedSender<Value>,
}

impl Conn {
    /// The next client frame (panics after 5 s).
    pub async fn frame(&mut self) -> Value {
        match tokio::time::timeout(Duration::from_secs(5), self.seen.recv()).await {
            Ok(Some(Seen::Frame(v))) => v,
            other => panic!("expected a client frame, got {other:?}"),
        }
    }

    /// The next client frame whose type is not `input_audio_buffer.append`.
    pub async fn control_frame(&mut self) -> Value {
        loop {
            let f = self.frame().await;
            if f["type"] != "input_audio_buffer.append" {
                return f;
            }
        }
    }

    /// Sends a server event.
    pub fn send(&self, v: Value) {
        self.push.send(v).expect("server connection gone");
    }

    /// Waits for the client's close frame (skipping frames); panics after 5 s.
    pub async fn expect_close(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(Seen::Close)) => return,
                Ok(Some(Seen::Frame(_))) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Closes the socket from the server side.
    pub fn close_from_server(&self) {
        let _ = self.push.send(serde_json::json!({"__close": true}));
    }

    /// Whether a close frame arrives within `d` (frames are skipped).
    pub async fn closed_within(&mut self, d: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(Seen::Close)) => return true,
                Ok(Some(Seen::Frame(_))) => continue,
                _ => return false,
            }
        }
    }

    /// Asserts that no further frame arrives within `d`.
    pub async fn expect_quiet(&mut self, d: Duration) {
        if let Ok(Some(s)) = tokio::time::timeout(d, self.seen.recv()).await {
            panic!("unexpected {s:?}");
        }
    }
}

/// The fake server.
pub struct FakeRealtime {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    conns: mpsc::UnboundedReceiver<Conn>,
    /// Number of connections accepted so far.
    pub accepted: Arc<AtomicU32>,
}

fn jsonl_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("realtime-client-events");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{name}.jsonl"))
}

impl FakeRealtime {
    /// Starts on an ephemeral loopback port. `name` names the JSONL file of client frames.
    /// `answer_update`: reply `session.updated` to every `session.update`.
    pub async fn start(name: &str) -> Self {
        Self::start_with(name, true).await
    }

    /// Like [`FakeRealtime::start`], optionally without `session.updated` answers.
    pub async fn start_with(name: &str, answer_update: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let path = jsonl_path(name);
        let _ = std::fs::remove_file(&path);
        let log = Arc::new(Mutex::new(path));
        let (conn_tx, conns) = mpsc::unbounded_channel();
        let accepted = Arc::new(AtomicU32::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let conn_tx = conn_tx.clone();
                let log = log.clone();
                tokio::spawn(async move {
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
                    let (push, mut push_rx) = mpsc::unbounded_channel::<Value>();
                    let (authorization, uri) = head.lock().unwrap().clone();
                    let _ = conn_tx.send(Conn {
                        authorization,
                        uri,
                        seen,
                        push: push.clone(),
                    });
                    let _ = push.send(serde_json::json!({"type": "session.created", "event_id": "event_0", "session": {"id": "sess_1", "type": "realtime"}}));
                    loop {
                        tokio::select! {
                            out = push_rx.recv() => match out {
                                Some(v) if v.get("__close").is_some() => {
                                    // The server drops the session (e.g. its 60 min limit).
                                    let _ = sink.send(Message::Close(None)).await;
                                    let _ = seen_tx.send(Seen::Ended);
                                    break;
                                }
                                Some(v) => { if sink.send(Message::text(v.to_string())).await.is_err() { break } }
                                None => break,
                            },
                            msg = stream.next() => match msg {
                                Some(Ok(Message::Text(t))) => {
                                    let v: Value = serde_json::from_str(t.as_str()).expect("client frame is JSON");
                                    {
                                        use std::io::Write;
                                        let p = log.lock().unwrap().clone();
                                        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p).unwrap();
                                        writeln!(f, "{}", t.as_str()).unwrap();
                                    }
                                    if answer_update && v["type"] == "session.update" {
                                        let _ = push.send(serde_json::json!({"type": "session.updated", "event_id": "event_u", "session": v["session"].clone()}));
                                    }
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
                });
            }
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            conns,
            accepted,
        }
    }

    /// The next accepted connection (panics after 5 s).
    pub async fn conn(&mut self) -> Conn {
        tokio::time::timeout(Duration::from_secs(5), self.conns.recv())
            .await
            .expect("no connection")
            .expect("server gone")
    }
}

/// A call that records what the session did to it.
#[derive(Default)]
pub struct FakeCall {
    pub id: String,
    pub audio: Mutex<Vec<Bytes>>,
    pub clears: AtomicU32,
    pub events: Mutex<Vec<SessionEvent>>,
    pub marks: Mutex<VecDeque<String>>,
    pub tool_calls: AtomicU32,
    pub turns: AtomicU32,
    pub hangups: AtomicU32,
    /// While true, marks echo at once (the audio played); else they wait for a `clear`.
    pub echo_marks: AtomicBool,
    pub cleared: Notify,
}

impl FakeCall {
    pub fn new(id: &str) -> Arc<Self> {
        Arc::new(Self {
            id: id.into(),
            echo_marks: AtomicBool::new(true),
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

    pub fn events(&self) -> Vec<SessionEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until `f` holds (polling, 5 s limit).
    pub async fn until(&self, what: &str, f: impl Fn(&Self) -> bool) {
        for _ in 0..500 {
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
        // Like the server: pending marks echo at once on clear.
        self.cleared.notify_waiters();
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
    async fn mark(&self, name: &str, _limit: Duration) -> bool {
        self.marks.lock().unwrap().push_back(name.to_owned());
        if self.echo_marks.load(Ordering::SeqCst) {
            return true;
        }
        self.cleared.notified().await;
        true
    }
}

/// 주문 상태를 확인합니다.
#[derive(Deserialize, JsonSchema)]
pub struct CheckOrder {
    /// 주문 번호
    pub order_id: String,
}

/// The headline tool set: `check_order` + all builtins.
pub fn headline_tools() -> SessionTools {
    let mut registry = ToolRegistry::new();
    registry
        .register("check_order", |_a: CheckOrder| async move {
            Ok::<_, std::convert::Infallible>("배송 완료")
        })
        .unwrap();
    SessionTools {
        registry,
        builtins: BuiltinTools::all(),
        hold_audio: None,
    }
}
