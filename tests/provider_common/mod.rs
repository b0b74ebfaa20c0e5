//! Fake provider servers on 127.0.0.1 for the pipeline provider tests: a WebSocket server
//! (Deepgram, ElevenLabs) that records the handshake and every client frame and sends what
//! the test pushes, and an HTTP server that records each request and answers with scripted
//! server-sent events (OpenAI-compatible, Anthropic, Gemini).

#![allow(dead_code, clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// What the WebSocket server saw from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum WsSeen {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// The client's close frame.
    Close,
    /// The TCP stream ended (or errored).
    Ended,
}

/// What the test makes the server send.
#[derive(Debug, Clone)]
pub enum WsPush {
    /// A text frame.
    Text(String),
    /// A close frame, then the socket is dropped.
    Close,
}

/// One accepted WebSocket connection.
pub struct WsConn {
    /// Path and query of the upgrade request.
    pub uri: String,
    /// Request headers (lower-case names).
    pub headers: HashMap<String, String>,
    /// Client frames, in order.
    pub seen: mpsc::UnboundedReceiver<WsSeen>,
    /// Frames to send.
    pub push: mpsc::UnboundedSender<WsPush>,
}

impl WsConn {
    /// The next client event (panics after 10 s).
    pub async fn next(&mut self) -> WsSeen {
        tokio::time::timeout(Duration::from_secs(10), self.seen.recv())
            .await
            .expect("a client frame within 10 s")
            .unwrap_or(WsSeen::Ended)
    }
    /// The next text frame parsed as JSON (binary frames are skipped).
    pub async fn json(&mut self) -> Value {
        loop {
            match self.next().await {
                WsSeen::Text(t) => return serde_json::from_str(&t).expect("JSON text frame"),
                WsSeen::Binary(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }
    /// Sends a JSON text frame.
    pub fn send(&self, v: Value) {
        let _ = self.push.send(WsPush::Text(v.to_string()));
    }
    /// Closes from the server side.
    pub fn close(&self) {
        let _ = self.push.send(WsPush::Close);
    }
    /// Waits until the client closed or dropped the socket (frames are skipped).
    pub async fn wait_gone(&mut self) {
        loop {
            match self.next().await {
                WsSeen::Close | WsSeen::Ended => return,
                _ => {}
            }
        }
    }
}

/// A WebSocket server; each connection is handed to the test.
pub struct FakeWs {
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    conns: mpsc::UnboundedReceiver<WsConn>,
}

impl FakeWs {
    /// Starts listening.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let (tx, conns) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let captured = Arc::new(Mutex::new((String::new(), HashMap::new())));
                    let cap = captured.clone();
                    let callback = move |req: &Request, resp: Response| {
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                            })
                            .collect();
                        *cap.lock().unwrap() = (req.uri().to_string(), headers);
                        Ok(resp)
                    };
                    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                        return;
                    };
                    let (uri, headers) = captured.lock().unwrap().clone();
                    let (seen_tx, seen) = mpsc::unbounded_channel();
                    let (push, mut push_rx) = mpsc::unbounded_channel::<WsPush>();
                    let _ = tx.send(WsConn {
                        uri,
                        headers,
                        seen,
                        push,
                    });
                    let (mut sink, mut stream) = ws.split();
                    let reader = tokio::spawn(async move {
                        loop {
                            let seen = match stream.next().await {
                                Some(Ok(Message::Text(t))) => WsSeen::Text(t.as_str().to_owned()),
                                Some(Ok(Message::Binary(b))) => WsSeen::Binary(b.to_vec()),
                                Some(Ok(Message::Close(_))) => WsSeen::Close,
                                Some(Ok(_)) => continue,
                                Some(Err(_)) | None => {
                                    let _ = seen_tx.send(WsSeen::Ended);
                                    return;
                                }
                            };
                            let _ = seen_tx.send(seen);
                        }
                    });
                    while let Some(p) = push_rx.recv().await {
                        match p {
                            WsPush::Text(t) => {
                                if sink.send(Message::text(t)).await.is_err() {
                                    break;
                                }
                            }
                            WsPush::Close => {
                                let _ = sink.send(Message::Close(None)).await;
                                break;
                            }
                        }
                    }
                    let _ = reader.await;
                });
            }
        });
        Self { url, conns }
    }

    /// The next connection (panics after 10 s).
    pub async fn conn(&mut self) -> WsConn {
        tokio::time::timeout(Duration::from_secs(10), self.conns.recv())
            .await
            .expect("a connection within 10 s")
            .expect("server running")
    }
}

/// One HTTP request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers (lower-case names).
    pub headers: HashMap<String, String>,
    /// The body parsed as JSON.
    pub body: Value,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body pieces, written in order (each is flushed as its own chunk).
    pub chunks: Vec<String>,
}

impl Reply {
    /// A 200 `text/event-stream` answer with one `data:` event per item.
    pub fn data(events: &[Value]) -> Self {
        let mut chunks: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        chunks.push(String::new());
        Self {
            status: 200,
            chunks,
        }
    }
    /// Adds `data: [DONE]`.
    pub fn done(mut self) -> Self {
        self.chunks.push("data: [DONE]\n\n".into());
        self
    }
    /// A 200 answer with named events (`event:` + `data:`).
    pub fn named(events: &[(&str, Value)]) -> Self {
        Self {
            status: 200,
            chunks: events
                .iter()
                .map(|(n, e)| format!("event: {n}\ndata: {e}\n\n"))
                .collect(),
        }
    }
    /// A raw body.
    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            chunks: vec![body.to_owned()],
        }
    }
}

#[derive(Clone)]
struct HttpState {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    requests: mpsc::UnboundedSender<Recorded>,
}

/// An HTTP server answering every request with the next scripted [`Reply`].
pub struct FakeHttp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    requests: mpsc::UnboundedReceiver<Recorded>,
}

async fn handle(
    axum::extract::State(st): axum::extract::State<HttpState>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let _ = st.requests.send(Recorded {
        method,
        uri,
        headers,
        body,
    });
    let reply = st
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Reply::raw(500, "no scripted reply"));
    let chunks = reply.chunks.clone();
    let stream = futures::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, Infallible>(Bytes::from(c))
    });
    axum::response::Response::builder()
        .status(reply.status)
        .header("content-type", "text/event-stream")
        .body(axum::body::Body::from_stream(stream))
        .unwrap()
}

impl FakeHttp {
    /// Starts listening with `replies` queued.
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let (tx, requests) = mpsc::unbounded_channel();
        let state = HttpState {
            replies: replies.clone(),
            requests: tx,
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url,
            replies,
            requests,
        }
    }

    /// Queues another reply.
    pub fn push(&self, reply: Reply) {
        self.replies.lock().unwrap().push_back(reply);
    }

    /// The next request (panics after 10 s).
    pub async fn request(&mut self) -> Recorded {
        tokio::time::timeout(Duration::from_secs(10), self.requests.recv())
            .await
            .expect("a request within 10 s")
            .expect("server running")
    }

    /// Whether another request arrives within `d`.
    pub async fn quiet_for(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.requests.recv()).await.is_err()
    }
}

/// Collects a stream into a channel from a task, so the test can await items one by one.
pub fn drain<T: Send + 'static>(
    mut s: futures::stream::BoxStream<'static, T>,
) -> mpsc::UnboundedReceiver<T> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = s.next().await {
            if tx.send(item).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next item of `rx` (panics after 10 s; `None` when the stream ended).
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Option<T> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an item within 10 s")
}
