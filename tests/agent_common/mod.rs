//! Shared helpers of the agent integration tests: an emulator, an agent pointed at it, the
//! emulator control API, and a scripted test session.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use clawops::agent::{
    Agent, AgentBuilder, AgentError, CallEvent, CallHandle, DtmfInput, Role, Session, SessionEvent,
    SessionTools, ToolOutput,
};
use clawops_emulator::Emulator;
use serde_json::{Value, json};

pub const NUMBER: &str = "07012340001";
pub const NUMBER2: &str = "07012340002";

/// Starts an emulator (fast mode).
pub async fn emulator() -> Emulator {
    Emulator::start().await.expect("emulator starts")
}

/// An agent builder pointed at `emu` with quick reconnects.
pub fn agent_builder(emu: &Emulator, number: &str) -> AgentBuilder {
    Agent::builder(number)
        .api_key(emu.api_key())
        .account_id(emu.account_id())
        .base_url(emu.base_url())
        .reconnect_backoff(Duration::from_millis(100), Duration::from_millis(400))
}

/// Records every call event as `(call id, event name)` plus the digits of DTMF events.
#[derive(Clone, Default)]
pub struct EventLog(pub Arc<Mutex<Vec<(String, String)>>>);

impl EventLog {
    pub fn attach(&self, builder: AgentBuilder) -> AgentBuilder {
        let log = self.clone();
        builder.on_event(move |call, event| {
            let log = log.clone();
            async move {
                let name = match &event {
                    CallEvent::Dtmf(d) => format!("dtmf:{d}"),
                    CallEvent::Failed(s) => format!("call_failed:{s}"),
                    CallEvent::Transcript(r, t) => format!("transcript:{}:{t}", r.as_str()),
                    other => other.name().to_owned(),
                };
                log.0
                    .lock()
                    .unwrap()
                    .push((call.call_id().to_owned(), name));
            }
        })
    }
    pub fn of(&self, call_id: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == call_id)
            .map(|(_, e)| e.clone())
            .collect()
    }
    pub fn all(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// The calls handed to `call_start`, for driving them from the test body.
#[derive(Clone, Default)]
pub struct Calls(pub Arc<Mutex<Vec<clawops::agent::Call>>>);

impl Calls {
    pub fn attach(&self, builder: AgentBuilder) -> AgentBuilder {
        let calls = self.clone();
        builder.on_call_start(move |call| {
            let calls = calls.clone();
            async move { calls.0.lock().unwrap().push(call) }
        })
    }
    pub fn get(&self, id: &str) -> clawops::agent::Call {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.call_id() == id)
            .cloned()
            .expect("call started")
    }
}

/// Waits until the emulator reports the call's media connected.
pub async fn wait_media(emu: &Emulator, call_id: &str) {
    for _ in 0..500 {
        let v = get(emu, &format!("/_emulator/calls/{call_id}")).await;
        if v["mediaConnected"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("media never connected");
}

// ----- emulator control API ---------------------------------------------------------------------

pub async fn post(emu: &Emulator, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", emu.base_url()))
        .json(&body)
        .send()
        .await
        .expect("control API reachable");
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn put(emu: &Emulator, path: &str, body: Value) -> u16 {
    reqwest::Client::new()
        .put(format!("{}{path}", emu.base_url()))
        .json(&body)
        .send()
        .await
        .expect("control API reachable")
        .status()
        .as_u16()
}

pub async fn get(emu: &Emulator, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", emu.base_url()))
        .send()
        .await
        .expect("control API reachable")
        .json()
        .await
        .expect("JSON")
}

/// Places an inbound call to `to`; returns its call id.
pub async fn inbound(emu: &Emulator, to: &str, extra: Value) -> String {
    let mut body = json!({"from": "01055556666", "to": to, "audio": "tone", "seconds": 0.4});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let (status, resp) = post(emu, "/_emulator/inbound-calls", body).await;
    assert_eq!(status, 201, "inbound call: {resp}");
    resp["callId"].as_str().expect("callId").to_owned()
}

/// Waits (≤ 20 s) for the emulator's call to end; returns its view.
pub async fn wait_call(emu: &Emulator, call_id: &str) -> Value {
    get(
        emu,
        &format!("/_emulator/calls/{call_id}/wait?timeoutMs=20000"),
    )
    .await
}

/// Polls until `f` holds (≤ `secs`), panicking with `what` otherwise.
pub async fn eventually<F: FnMut() -> bool>(secs: u64, what: &str, mut f: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ----- scripted session ---------------------------------------------------------------------------

/// What a [`ScriptedSession`] does.
#[derive(Clone, Default)]
pub struct Script {
    /// Audio sent as soon as the session is bound.
    pub greeting: Vec<u8>,
    /// Send mark `greeting-end` after the greeting and record whether it was echoed.
    pub mark_greeting: bool,
    /// Echo caller audio back.
    pub echo: bool,
    /// After this many caller frames: run the tool (if any), clear (barge-in), hang up.
    pub act_after_frames: Option<usize>,
    /// The tool to run: (name, JSON args).
    pub tool: Option<(String, String)>,
    pub barge_in: bool,
    pub hangup: bool,
    /// Fail `start` with this message.
    pub fail_start: Option<String>,
    /// Emit a transcript line when bound.
    pub transcript: Option<String>,
}

/// What the sessions observed; shared by all sessions of one test.
#[derive(Default)]
pub struct Probe {
    pub sessions: usize,
    pub started: usize,
    pub stopped: usize,
    pub frames_in: Vec<(String, usize)>,
    pub audio_in: Vec<(String, Vec<u8>)>,
    pub mark_echoed: Vec<(String, bool)>,
    pub tool_results: Vec<(String, String)>,
    pub dtmf: Vec<(String, String)>,
    pub live: usize,
}

pub type Probes = Arc<Mutex<Probe>>;

/// A deterministic test session driven by a [`Script`].
pub struct ScriptedSession {
    script: Script,
    probe: Probes,
    call: Mutex<Option<CallHandle>>,
    tools: Mutex<Option<SessionTools>>,
    frames: Mutex<usize>,
    stopped: Mutex<bool>,
}

impl ScriptedSession {
    pub fn new(script: Script, probe: Probes) -> Self {
        {
            let mut p = probe.lock().unwrap();
            p.sessions += 1;
            p.live += 1;
        }
        Self {
            script,
            probe,
            call: Mutex::new(None),
            tools: Mutex::new(None),
            frames: Mutex::new(0),
            stopped: Mutex::new(false),
        }
    }

    /// A factory closure for the agent builder.
    pub fn factory(
        script: Script,
        probe: Probes,
    ) -> impl Fn() -> ScriptedSession + Send + Sync + 'static {
        move || ScriptedSession::new(script.clone(), probe.clone())
    }

    fn call(&self) -> Option<CallHandle> {
        self.call.lock().unwrap().clone()
    }
}

impl Drop for ScriptedSession {
    fn drop(&mut self) {
        self.probe.lock().unwrap().live -= 1;
    }
}

#[async_trait]
impl Session for ScriptedSession {
    fn set_tools(&self, tools: SessionTools) {
        *self.tools.lock().unwrap() = Some(tools);
    }

    async fn attach(&self, call: CallHandle) -> Result<(), AgentError> {
        if let Some(message) = &self.script.fail_start {
            return Err(AgentError::Session(message.clone()));
        }
        *self.call.lock().unwrap() = Some(call.clone());
        self.probe.lock().unwrap().started += 1;
        if let Some(text) = &self.script.transcript {
            call.emit(SessionEvent::Transcript {
                role: Role::Assistant,
                text: text.clone(),
            });
        }
        if !self.script.greeting.is_empty() {
            call.send_audio(Bytes::from(self.script.greeting.clone()));
        }
        Ok(())
    }

    async fn feed_audio(&self, ulaw: Bytes, _timestamp_ms: u64) {
        let Some(call) = self.call() else { return };
        let n = {
            let mut f = self.frames.lock().unwrap();
            *f += 1;
            *f
        };
        {
            let mut p = self.probe.lock().unwrap();
            let id = call.call_id().to_owned();
            match p.audio_in.iter_mut().find(|(c, _)| *c == id) {
                Some((_, bytes)) => bytes.extend_from_slice(&ulaw),
                None => p.audio_in.push((id, ulaw.to_vec())),
            }
        }
        if self.script.echo {
            call.send_audio(ulaw);
        }
        if n == 1 && self.script.mark_greeting {
            // Runs off the media loop: the mark round trip is awaited in its own task.
            let probe = self.probe.clone();
            let call2 = call.clone();
            tokio::spawn(async move {
                let call = call2;
                let echoed = mark(&call, "greeting-end").await;
                probe
                    .lock()
                    .unwrap()
                    .mark_echoed
                    .push((call.call_id().to_owned(), echoed));
            });
        }
        if Some(n) == self.script.act_after_frames {
            let script = self.script.clone();
            let tools = self.tools.lock().unwrap().clone();
            let probe = self.probe.clone();
            tokio::spawn(async move {
                // Let the greeting's mark round trip finish first.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let (Some((name, args)), Some(tools)) = (&script.tool, &tools) {
                    call.record_tool_call();
                    let out = tools.registry.execute(name, args).await;
                    if let ToolOutput::Error(e) = &out {
                        call.record_tool_error(name, e);
                    }
                    let text = out.model_text().unwrap_or_default();
                    probe
                        .lock()
                        .unwrap()
                        .tool_results
                        .push((call.call_id().to_owned(), text));
                }
                if script.barge_in {
                    call.clear_audio();
                }
                if script.hangup {
                    call.hangup().await;
                }
            });
        }
    }

    async fn feed_dtmf(&self, digits: DtmfInput) {
        let id = self
            .call()
            .map(|c| c.call_id().to_owned())
            .unwrap_or_default();
        self.probe
            .lock()
            .unwrap()
            .dtmf
            .push((id, digits.as_str().to_owned()));
    }

    async fn stop(&self) {
        let mut stopped = self.stopped.lock().unwrap();
        if !*stopped {
            *stopped = true;
            self.probe.lock().unwrap().stopped += 1;
        }
        self.call.lock().unwrap().take();
    }
}

async fn mark(call: &CallHandle, name: &str) -> bool {
    call.mark(name, Duration::from_secs(5)).await
}
