//! Shared test helpers: a raw REST client that checks every answer against `spec/openapi.yaml`,
//! and raw WebSocket clients for the control and media channels.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use clawops_emulator::Emulator;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The OpenAPI document with its schemas turned into JSON Schema (nullable → anyOf null, open
/// enums opened).
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/openapi.yaml"))
                .expect("spec/openapi.yaml");
        let mut doc: Value = yaml_serde::from_str(&text).expect("valid YAML");
        convert(&mut doc);
        doc
    })
}

fn convert(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                convert(child);
            }
            if map.get("x-open-enum") == Some(&Value::Bool(true)) {
                map.remove("enum");
            }
            if map.remove("nullable") == Some(Value::Bool(true)) {
                let inner = Value::Object(std::mem::take(map));
                map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(convert),
        _ => {}
    }
}

/// Validates `body` as the answer of `method path_template` with `status`. Panics on mismatch.
pub fn validate(method: &str, template: &str, status: u16, body: &Value) {
    let spec = spec();
    let op = &spec["paths"][template][method.to_lowercase()];
    assert!(
        op.is_object(),
        "no operation {method} {template} in the spec"
    );
    let responses = &op["responses"];
    let key = status.to_string();
    let mut response = if responses[&key].is_object() {
        responses[&key].clone()
    } else if status < 300 && responses["2XX"].is_object() {
        responses["2XX"].clone()
    } else {
        assert!(
            status >= 400,
            "{method} {template}: status {status} is not declared by the spec"
        );
        json!({"$ref": "#/components/responses/Error"})
    };
    if let Some(r) = response.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        response = spec["components"]["responses"][name].clone();
    }
    let Some(schema) = response.pointer("/content/application~1json/schema") else {
        assert!(
            body.is_null(),
            "{method} {template} {status}: spec declares no body, got {body}"
        );
        return;
    };
    let mut root = schema.clone();
    root.as_object_mut()
        .expect("schema object")
        .insert("components".into(), spec["components"].clone());
    let validator = jsonschema::validator_for(&root).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: answer does not match the spec: {errors:?}\n{body}"
    );
}

/// A raw REST client bound to an emulator.
pub struct Rest {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub account: String,
}

/// A REST answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Rest {
    pub fn new(emulator: &Emulator) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: emulator.base_url().to_owned(),
            key: emulator.api_key().to_owned(),
            account: emulator.account_id().to_owned(),
        }
    }

    /// Sends `method /v1/accounts/{account}{path}` and validates the answer against the spec
    /// operation `template` (relative to `/v1/accounts/{accountId}`).
    pub async fn call(
        &self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        self.call_as(&self.key, &self.account, method, template, path, body)
            .await
    }

    pub async fn call_as(
        &self,
        key: &str,
        account: &str,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let url = format!("{}/v1/accounts/{account}{path}", self.base);
        let mut req = self
            .http
            .request(Method::from_bytes(method.as_bytes()).expect("method"), url)
            .bearer_auth(key)
            .header("Content-Type", "application/json");
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let is_json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = resp.bytes().await.expect("body");
        let body = if is_json {
            serde_json::from_slice(&bytes).expect("JSON body")
        } else {
            Value::Null
        };
        if is_json || bytes.is_empty() {
            validate(
                method,
                &format!("/v1/accounts/{{accountId}}{template}"),
                status,
                &body,
            );
        }
        Answer {
            status,
            body,
            headers,
        }
    }
}

/// Control API helper: `POST`/`PUT`/`GET` JSON under `/_emulator`.
pub async fn control(
    emulator: &Emulator,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(
        Method::from_bytes(method.as_bytes()).expect("method"),
        format!("{}/_emulator{path}", emulator.base_url()),
    );
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("control API reachable");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON")
        },
    )
}

/// Places an inbound call; returns its id.
pub async fn inbound(emulator: &Emulator, body: Value) -> String {
    let (status, answer) = control(emulator, "POST", "/inbound-calls", Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    answer["callId"].as_str().expect("callId").to_owned()
}

/// Waits until the call ended and returns its control-API view.
pub async fn wait_call(emulator: &Emulator, call_id: &str) -> Value {
    let (status, view) = control(
        emulator,
        "GET",
        &format!("/calls/{call_id}/wait?timeoutMs=20000"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    view
}

/// Opens the control socket for `number` with the emulator's key.
pub async fn connect_agent(emulator: &Emulator, number: &str) -> Ws {
    try_connect_agent(emulator, emulator.api_key(), number)
        .await
        .expect("control socket opens")
}

pub async fn try_connect_agent(
    emulator: &Emulator,
    key: &str,
    number: &str,
) -> Result<Ws, tungstenite::Error> {
    let url = format!(
        "{}/v1/accounts/{}/agent/listen?number={number}",
        emulator.base_url().replacen("http", "ws", 1),
        emulator.account_id()
    );
    let mut req = url.into_client_request()?;
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {key}").parse().expect("header"),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(ws)
}

/// Next text frame as JSON (skips pings), with a timeout.
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frame within 10 s")
            .expect("socket open")
            .expect("frame ok");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
            Message::Close(c) => panic!("socket closed: {c:?}"),
            _ => {}
        }
    }
}

/// Next frame, whatever it is (text or close), with a timeout; `None` when the stream ended.
pub async fn next_msg(ws: &mut Ws) -> Option<Message> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frame within 10 s")
        {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(m)) => return Some(m),
            Some(Err(_)) | None => return None,
        }
    }
}

pub async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// Connects a media socket at `url` (no auth header).
pub async fn connect_media(url: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("media socket opens");
    ws
}

/// Answers the next `call.incoming` on `agent`; returns `(callId, media socket)`.
pub async fn accept_next(agent: &mut Ws) -> (String, Ws) {
    let offer = next_json(agent).await;
    assert_eq!(offer["event"], "call.incoming", "{offer}");
    let call_id = offer["callId"].as_str().expect("callId").to_owned();
    send_json(agent, json!({"event": "call.accept", "callId": call_id})).await;
    let media = connect_media(offer["mediaUrl"].as_str().expect("mediaUrl")).await;
    (call_id, media)
}

/// Reads media frames until `stop`, returning all of them.
pub async fn read_until_stop(media: &mut Ws) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Some(msg) = next_msg(media).await {
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
            let stop = v["event"] == "stop";
            frames.push(v);
            if stop {
                break;
            }
        } else if let Message::Close(_) = msg {
            break;
        }
    }
    frames
}
