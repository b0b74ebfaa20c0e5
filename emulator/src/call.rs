//! The life of one call: offer, accept/reject, media session, transfers, end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops_api::events::{
    CallEnded, CallIncoming, CallOutboundReady, CallRinging, CallTransferCompleted,
    CallTransferConnected, CallTransferFailed, CallTransferStarted, ControlEvent, DtmfTrack,
    InboundDtmfKey, MediaCommand, MediaConnected, MediaDtmf, MediaEncoding, MediaEvent,
    MediaFormat, MediaMark, MediaMarkInfo, MediaStart, MediaStop, MediaStreamStart,
    MediaStreamStop, MediaTrack, TransferFailureReason, TransferRequest, TransferRequestAfter,
    TransferResult, TransferResultStatus,
};
use clawops_api::types::{CallStatus, Direction};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::audio::{CallerAudio, FRAME_BYTES, Recording};
use crate::callbacks::Callbacks;
use crate::state::{ControlOut, Shared};
use crate::util::now_rfc3339;

/// Who or what ended a call's media leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HangupBy {
    /// `POST /calls/{id}` with `Status: completed`.
    Rest,
    /// `POST /_emulator/calls/{id}/hangup`.
    Caller,
}

impl HangupBy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Caller => "caller",
        }
    }
}

/// Inputs to a call's task.
pub(crate) enum CallInput {
    Accept,
    Reject(String),
    Media(Box<WebSocket>),
    TransferDone { terminate: bool },
    SessionFailed,
    Hangup(HangupBy),
}

/// What the simulated far end does once connected.
#[derive(Clone, Debug)]
pub(crate) struct FarEnd {
    pub audio: CallerAudio,
    pub seconds: f64,
    pub dtmf: String,
    pub hangup_after_audio: bool,
    pub max_seconds: f64,
}

/// The control API's view of a call (`GET /_emulator/calls/{callId}`).
#[derive(Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallView {
    pub call_id: String,
    pub direction: String,
    pub from: String,
    pub to: String,
    pub status: String,
    pub ended_status: Option<String>,
    pub duration: Option<i64>,
    pub accepted: bool,
    pub rejected: Option<String>,
    pub media_connected: bool,
    pub caller_audio_bytes: u64,
    pub caller_dtmf: Vec<String>,
    pub audio_bytes: u64,
    pub audio_frames: u64,
    pub marks: Vec<String>,
    pub marks_echoed: Vec<String>,
    pub clears: u32,
    pub dtmf: Vec<String>,
    pub transfers: Vec<serde_json::Value>,
    pub hangup: bool,
    pub ended_by: Option<String>,
    pub telemetry: Option<serde_json::Value>,
    pub metrics: Option<serde_json::Value>,
    pub session_failed: Option<serde_json::Value>,
    pub frames: Vec<serde_json::Value>,
    pub malformed_frames: Vec<String>,
    pub recording: bool,
    /// For `audio: "stamped"`: microseconds from sending each caller frame to receiving the
    /// agent frame that carries its stamp back (an echo), in arrival order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub echo_delays_us: Vec<u64>,
}

/// A call the emulator is running (or ran).
pub(crate) struct LiveCall {
    pub id: String,
    pub from: String,
    pub to: String,
    /// The number whose agent handles the call (callee for inbound, caller for outbound).
    pub agent_number: String,
    pub tx: mpsc::UnboundedSender<CallInput>,
    view: Mutex<CallView>,
    control: Mutex<Option<mpsc::UnboundedSender<ControlOut>>>,
    ended: watch::Sender<bool>,
}

impl LiveCall {
    pub(crate) fn new(
        id: String,
        direction: Direction,
        from: String,
        to: String,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<CallInput>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let agent_number = if direction == Direction::Inbound {
            to.clone()
        } else {
            from.clone()
        };
        let view = CallView {
            call_id: id.clone(),
            direction: direction.as_str().to_owned(),
            from: from.clone(),
            to: to.clone(),
            status: "queued".into(),
            ..CallView::default()
        };
        let call = Self {
            id,
            from,
            to,
            agent_number,
            tx,
            view: Mutex::new(view),
            control: Mutex::new(None),
            ended: watch::channel(false).0,
        };
        (Arc::new(call), rx)
    }

    pub(crate) fn view(&self) -> MutexGuard<'_, CallView> {
        self.view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn is_ended(&self) -> bool {
        *self.ended.borrow()
    }

    /// Waits until the call has ended.
    pub(crate) async fn wait_ended(&self) {
        let mut rx = self.ended.subscribe();
        let _ = rx.wait_for(|e| *e).await;
    }

    /// Sends a control event on the connection that took the call (or the slot holder).
    pub(crate) fn send_control(&self, shared: &Shared, event: &ControlEvent) {
        let pinned = self
            .control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match (pinned, event.to_json()) {
            (Some(tx), Ok(text)) if !tx.is_closed() => {
                let _ = tx.send(ControlOut::Text(text));
            }
            _ => {
                shared.send_control(&self.agent_number, event);
            }
        }
    }

    fn pin_control(&self, shared: &Shared) {
        *self
            .control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            shared.agent_tx(&self.agent_number);
    }

    /// Records a frame the agent sent about this call.
    pub(crate) fn record_frame(&self, frame: serde_json::Value) {
        let mut view = self.view();
        if view.frames.len() < 10_000 {
            view.frames.push(frame);
        }
    }

    fn set_status(&self, shared: &Shared, status: CallStatus) {
        self.view().status = status.as_str().to_owned();
        if let Some(c) = shared.store().call_mut(&self.id) {
            c.status = status;
            c.date_updated = Some(now_rfc3339());
        }
    }
}

/// Starts the task that runs an inbound call.
pub(crate) fn spawn_inbound(
    shared: Arc<Shared>,
    call: Arc<LiveCall>,
    rx: mpsc::UnboundedReceiver<CallInput>,
    far: FarEnd,
    callbacks: Callbacks,
) {
    let tasks = shared.tasks.clone();
    tasks.spawn(async move {
        let cancel = shared.cancel.clone();
        tokio::select! {
            () = run_inbound(&shared, &call, rx, far, &callbacks) => {}
            () = cancel.cancelled() => {}
        }
    });
}

/// Starts the task that runs an outbound call (`agent_mode`: no Url/AgentId/CallFlowId).
pub(crate) fn spawn_outbound(
    shared: Arc<Shared>,
    call: Arc<LiveCall>,
    rx: mpsc::UnboundedReceiver<CallInput>,
    agent_mode: bool,
    ring_timeout: Option<i32>,
    callbacks: Callbacks,
) {
    let tasks = shared.tasks.clone();
    tasks.spawn(async move {
        let cancel = shared.cancel.clone();
        tokio::select! {
            () = run_outbound(&shared, &call, rx, agent_mode, ring_timeout, &callbacks) => {}
            () = cancel.cancelled() => {}
        }
    });
}

async fn wait_input(
    rx: &mut mpsc::UnboundedReceiver<CallInput>,
    limit: Duration,
) -> Option<CallInput> {
    tokio::time::timeout(limit, rx.recv()).await.ok().flatten()
}

async fn run_inbound(
    shared: &Arc<Shared>,
    call: &Arc<LiveCall>,
    mut rx: mpsc::UnboundedReceiver<CallInput>,
    far: FarEnd,
    callbacks: &Callbacks,
) {
    call.set_status(shared, CallStatus::Ringing);
    callbacks.event("initiated", call, None);
    callbacks.event("ringing", call, None);
    // Wait (up to the 11 s offer window) for an agent to hold the number's slot.
    let mut changed = shared.agents_changed.subscribe();
    let offer_deadline = tokio::time::Instant::now() + Duration::from_secs(11);
    while shared.agent_tx(&call.agent_number).is_none() {
        if tokio::time::timeout_at(offer_deadline, changed.changed())
            .await
            .is_err()
        {
            return finish(shared, call, CallStatus::NoAnswer, 0, None, callbacks).await;
        }
    }
    call.pin_control(shared);
    let media_url = shared.issue_media_url(&call.id);
    call.send_control(
        shared,
        &ControlEvent::CallIncoming(CallIncoming {
            call_id: call.id.clone(),
            caller_id_restricted: Some(false),
            forwarded_from: None,
            from: Some(call.from.clone()),
            media_url: Some(media_url),
        }),
    );
    let remaining = offer_deadline.saturating_duration_since(tokio::time::Instant::now());
    // The media socket may overtake `call.accept` (two sockets, no ordering between them).
    let mut early_media = None;
    loop {
        match wait_input(&mut rx, remaining.max(Duration::from_secs(1))).await {
            Some(CallInput::Accept) => break,
            Some(CallInput::Media(ws)) => early_media = Some(ws),
            Some(CallInput::Reject(reason)) => {
                let status = if reason == "busy" {
                    CallStatus::Busy
                } else {
                    CallStatus::Rejected
                };
                call.view().rejected = Some(reason);
                return finish(shared, call, status, 0, None, callbacks).await;
            }
            Some(CallInput::Hangup(_)) => {
                return finish(shared, call, CallStatus::Canceled, 0, None, callbacks).await;
            }
            Some(CallInput::SessionFailed) => {
                return finish(shared, call, CallStatus::Failed, 0, None, callbacks).await;
            }
            Some(_) => {}
            None => return finish(shared, call, CallStatus::NoAnswer, 0, None, callbacks).await,
        }
    }
    call.view().accepted = true;
    call.set_status(shared, CallStatus::InProgress);
    callbacks.event("answered", call, None);
    connect_and_talk(shared, call, &mut rx, early_media, far, callbacks).await;
}

async fn connect_and_talk(
    shared: &Arc<Shared>,
    call: &Arc<LiveCall>,
    rx: &mut mpsc::UnboundedReceiver<CallInput>,
    early_media: Option<Box<WebSocket>>,
    far: FarEnd,
    callbacks: &Callbacks,
) {
    let ws = if let Some(ws) = early_media {
        ws
    } else {
        loop {
            match wait_input(rx, crate::state::MEDIA_TOKEN_TTL).await {
                Some(CallInput::Media(ws)) => break ws,
                Some(CallInput::Hangup(_)) => {
                    return finish(shared, call, CallStatus::Completed, 0, None, callbacks).await;
                }
                // A transfer issued right at answer can hand the caller on before the media
                // socket connects: the AI leg is over.
                Some(CallInput::TransferDone { terminate: true }) => {
                    call.view().ended_by = Some("transfer".into());
                    return finish(shared, call, CallStatus::Completed, 0, None, callbacks).await;
                }
                Some(CallInput::SessionFailed) | None => {
                    return finish(shared, call, CallStatus::Failed, 0, None, callbacks).await;
                }
                Some(_) => {}
            }
        }
    };
    call.view().media_connected = true;
    let mut recording = Recording::default();
    let outcome = media_session(shared, call, *ws, rx, &far, &mut recording).await;
    let duration = (outcome.media_ms / 1000) as i64;
    finish(
        shared,
        call,
        CallStatus::Completed,
        duration,
        Some(recording),
        callbacks,
    )
    .await;
}

async fn run_outbound(
    shared: &Arc<Shared>,
    call: &Arc<LiveCall>,
    mut rx: mpsc::UnboundedReceiver<CallInput>,
    agent_mode: bool,
    ring_timeout: Option<i32>,
    callbacks: &Callbacks,
) {
    let script = shared.script_for(&call.to);
    call.pin_control(shared);
    callbacks.event("initiated", call, None);
    call.set_status(shared, CallStatus::Ringing);
    callbacks.event("ringing", call, None);
    if agent_mode {
        call.send_control(
            shared,
            &ControlEvent::CallRinging(CallRinging {
                call_id: call.id.clone(),
            }),
        );
    }
    let ring = script.ring_seconds.max(0.0);
    let limit = f64::from(ring_timeout.unwrap_or(60).max(1));
    let wait = Duration::from_secs_f64(ring.min(limit));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(CallInput::Hangup(_))) => {
                return finish(shared, call, CallStatus::Canceled, 0, None, callbacks).await;
            }
            Ok(Some(CallInput::SessionFailed)) => {
                return finish(shared, call, CallStatus::Failed, 0, None, callbacks).await;
            }
            Ok(Some(_)) => {}
        }
    }
    let outcome = if ring > limit {
        "no-answer"
    } else {
        script.outcome.as_str()
    };
    if outcome != "answer" {
        let status = CallStatus::from(outcome);
        return finish(shared, call, status, 0, None, callbacks).await;
    }
    call.set_status(shared, CallStatus::InProgress);
    callbacks.event("answered", call, None);
    let far = FarEnd {
        audio: CallerAudio::parse(&script.audio),
        seconds: script.seconds,
        dtmf: script.dtmf.clone(),
        hangup_after_audio: script.hangup_after_audio,
        max_seconds: script.max_seconds,
    };
    if agent_mode {
        let media_url = shared.issue_media_url(&call.id);
        call.view().accepted = true;
        call.send_control(
            shared,
            &ControlEvent::CallOutboundReady(CallOutboundReady {
                call_id: call.id.clone(),
                media_url: Some(media_url),
            }),
        );
        connect_and_talk(shared, call, &mut rx, None, far, callbacks).await;
    } else {
        if shared.config.realtime {
            tokio::time::sleep(Duration::from_secs_f64(script.seconds.max(0.0))).await;
        }
        finish(
            shared,
            call,
            CallStatus::Completed,
            script.seconds as i64,
            None,
            callbacks,
        )
        .await;
    }
}

/// Marks the call ended, stores the recording, sends the callback and `call.ended`.
async fn finish(
    shared: &Arc<Shared>,
    call: &Arc<LiveCall>,
    status: CallStatus,
    duration: i64,
    recording: Option<Recording>,
    callbacks: &Callbacks,
) {
    {
        let mut view = call.view();
        view.status = status.as_str().to_owned();
        view.ended_status = Some(status.as_str().to_owned());
        view.duration = Some(duration);
        view.recording = recording.is_some();
    }
    {
        let mut store = shared.store();
        let account = shared.config.account_id.clone();
        if let Some(rec) = recording {
            store.recordings.insert(call.id.clone(), rec.to_wav());
        }
        let has_recording = store.recordings.contains_key(&call.id);
        if let Some(c) = store.call_mut(&call.id) {
            c.status = status.clone();
            c.duration = Some(duration);
            c.date_updated = Some(now_rfc3339());
            if has_recording {
                c.recording_url = Some(format!("/v1/accounts/{account}/recordings/{}", call.id));
            }
            let (cause, q850, sip, source) = match &status {
                CallStatus::Completed => ("normal_clearing", 16, 200, "caller"),
                CallStatus::Busy => ("user_busy", 17, 486, "callee"),
                CallStatus::NoAnswer => ("no_answer", 19, 480, "carrier"),
                CallStatus::Rejected => ("call_rejected", 21, 403, "callee"),
                CallStatus::Canceled => ("normal_clearing", 16, 487, "caller"),
                _ => ("temporary_failure", 41, 500, "system"),
            };
            c.hangup_cause = Some(cause.into());
            c.hangup_cause_q850 = Some(q850);
            c.sip_response_code = Some(sip);
            c.hangup_source = Some(source.into());
        }
    }
    callbacks.event("completed", call, Some(duration));
    let (delay, duplicate) = {
        let f = shared.faults();
        (f.ended_delay_ms, f.ended_duplicate)
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let ended = ControlEvent::CallEnded(CallEnded {
        call_id: call.id.clone(),
        duration: Some(duration),
        status: Some(status),
    });
    call.send_control(shared, &ended);
    if duplicate {
        call.send_control(shared, &ended);
    }
    call.ended.send_replace(true);
}

/// How a media session ended.
struct MediaOutcome {
    media_ms: u64,
}

enum Played {
    Audio(Vec<u8>),
    Mark(String),
}

struct MediaLeg<'a> {
    call: &'a Arc<LiveCall>,
    seq: u64,
    queue: VecDeque<Played>,
    recording: &'a mut Recording,
    /// With stamped caller audio: when each caller frame was sent.
    stamps: Option<Vec<std::time::Instant>>,
}

impl MediaLeg<'_> {
    fn next_seq(&mut self) -> Option<String> {
        self.seq += 1;
        Some(self.seq.to_string())
    }

    fn frame(event: MediaEvent) -> Option<WsMessage> {
        event.to_json().ok().map(|t| WsMessage::Text(t.into()))
    }

    fn mark_echo(&mut self, name: String) -> Option<WsMessage> {
        self.call.view().marks_echoed.push(name.clone());
        let sequence_number = self.next_seq();
        Self::frame(MediaEvent::MediaMark(MediaMark {
            mark: MediaMarkInfo { name },
            sequence_number,
        }))
    }

    /// Plays up to `budget` bytes of queued agent audio; returns mark echoes that became due.
    fn play(&mut self, mut budget: usize) -> Vec<WsMessage> {
        let mut out = Vec::new();
        while let Some(front) = self.queue.front_mut() {
            match front {
                Played::Mark(_) => {
                    if let Some(Played::Mark(name)) = self.queue.pop_front() {
                        out.extend(self.mark_echo(name));
                    }
                }
                Played::Audio(bytes) => {
                    if budget == 0 {
                        break;
                    }
                    let n = budget.min(bytes.len());
                    let chunk: Vec<u8> = bytes.drain(..n).collect();
                    self.recording.agent(&chunk);
                    budget -= n;
                    if bytes.is_empty() {
                        self.queue.pop_front();
                    }
                }
            }
        }
        out
    }

    fn has_queued_audio(&self) -> bool {
        self.queue.iter().any(|p| matches!(p, Played::Audio(_)))
    }

    /// Handles one text frame from the agent; returns frames to send back.
    fn on_agent_text(&mut self, text: &str, realtime: bool) -> Vec<WsMessage> {
        // The hot path (agent audio every 20 ms): read without copying the payload string.
        if let Some(frame) = FastOutbound::parse(text) {
            self.agent_audio(frame.media.payload);
            return self.after_command(realtime);
        }
        let command = match MediaCommand::from_json(text) {
            Ok(c) => c,
            Err(error) => {
                tracing::debug!(call_id = %self.call.id, %error, "malformed media frame from agent");
                let mut view = self.call.view();
                if view.malformed_frames.len() < 1000 {
                    view.malformed_frames.push(text.chars().take(512).collect());
                }
                return Vec::new();
            }
        };
        match command {
            MediaCommand::MediaOutbound(m) => self.agent_audio(&m.media.payload),
            MediaCommand::MediaMarkOut(m) => {
                self.call.view().marks.push(m.mark.name.clone());
                self.call.record_frame(
                    serde_json::json!({"event": "mark", "mark": {"name": m.mark.name}}),
                );
                self.queue.push_back(Played::Mark(m.mark.name));
            }
            MediaCommand::MediaClear(_) => {
                self.call.view().clears += 1;
                self.call
                    .record_frame(serde_json::json!({"event": "clear"}));
                self.queue.retain(|p| matches!(p, Played::Mark(_)));
            }
            MediaCommand::MediaDtmfOut(d) => {
                // DTMF digits are user data: kept for inspection, never logged.
                self.call.view().dtmf.push(d.dtmf.digit);
                self.call.record_frame(serde_json::json!({"event": "dtmf"}));
            }
            MediaCommand::Unknown(value) => self.call.record_frame(value),
            _ => {}
        }
        self.after_command(realtime)
    }

    /// One chunk of agent audio (base64): timed when stamped, counted, queued for playback.
    fn agent_audio(&mut self, payload: &str) {
        match B64.decode(payload.as_bytes()) {
            Ok(bytes) => {
                let delay = self.stamps.as_ref().and_then(|sent| {
                    let stamp = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
                    let at = sent.get(usize::try_from(stamp).ok()?)?;
                    Some(at.elapsed().as_micros() as u64)
                });
                {
                    let mut view = self.call.view();
                    view.audio_bytes += bytes.len() as u64;
                    view.audio_frames += 1;
                    if let Some(d) = delay
                        && view.echo_delays_us.len() < 1_000_000
                    {
                        view.echo_delays_us.push(d);
                    }
                }
                self.queue.push_back(Played::Audio(bytes));
            }
            Err(_) => self
                .call
                .view()
                .malformed_frames
                .push("media payload is not base64".into()),
        }
    }

    /// Frames due after a command: marks with nothing queued before them are due at once.
    fn after_command(&mut self, realtime: bool) -> Vec<WsMessage> {
        if realtime {
            // Marks with nothing queued before them are due at once.
            if self.has_queued_audio() {
                Vec::new()
            } else {
                self.play(0)
            }
        } else {
            self.play(usize::MAX)
        }
    }
}

async fn media_session(
    shared: &Arc<Shared>,
    call: &Arc<LiveCall>,
    ws: WebSocket,
    rx: &mut mpsc::UnboundedReceiver<CallInput>,
    far: &FarEnd,
    recording: &mut Recording,
) -> MediaOutcome {
    let realtime = shared.config.realtime;
    let (mut sink, mut stream) = ws.split();
    let audio = far.audio.render(far.seconds).unwrap_or_else(|error| {
        tracing::warn!(%error, "caller audio unavailable, sending silence");
        vec![crate::audio::ULAW_SILENCE; FRAME_BYTES * 50]
    });
    let frames: Vec<&[u8]> = audio.chunks(FRAME_BYTES).collect();
    let digits: Vec<char> = far.dtmf.chars().collect();
    let dtmf_at: Vec<usize> = (0..digits.len())
        .map(|k| (k + 1) * frames.len() / (digits.len() + 1))
        .collect();
    let mut leg = MediaLeg {
        call,
        seq: 0,
        queue: VecDeque::new(),
        recording,
        stamps: matches!(far.audio, CallerAudio::Stamped).then(Vec::new),
    };
    let stream_id = crate::util::new_id("MZ");
    let mut hello = Vec::new();
    hello.extend(MediaLeg::frame(MediaEvent::MediaConnected(
        MediaConnected {
            protocol: Some("Call".into()),
            version: Some("1.0.0".into()),
        },
    )));
    let sequence_number = leg.next_seq();
    hello.extend(MediaLeg::frame(MediaEvent::MediaStart(MediaStart {
        sequence_number,
        start: MediaStreamStart {
            account_id: Some(shared.config.account_id.clone()),
            call_id: call.id.clone(),
            custom_parameters: Some(clawops_api::events::MediaCustomParameters(
                serde_json::Map::new(),
            )),
            media_format: Some(MediaFormat {
                channels: Some(1),
                encoding: Some(MediaEncoding::AudioXMulaw),
                sample_rate: Some(8000),
            }),
            stream_id,
            tracks: vec![MediaTrack::Inbound],
        },
    })));
    let faults = shared.faults().clone();
    if faults.media_malformed_frames {
        hello.extend(malformed_media_frames());
    }
    let mut agent_gone = false;
    for f in hello {
        if sink.send(f).await.is_err() {
            agent_gone = true;
        }
    }
    let silent_after = Duration::from_millis(faults.media_silent_after_ms);
    let silence = tokio::time::sleep(silent_after);
    tokio::pin!(silence);
    let mut went_silent = false;
    let mut next_frame = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let max = tokio::time::sleep(Duration::from_secs_f64(far.max_seconds.max(0.1)));
    tokio::pin!(max);
    while !agent_gone {
        let caller_done = next_frame >= frames.len();
        if caller_done && far.hangup_after_audio && !leg.has_queued_audio() {
            call.view().ended_by = Some("caller".into());
            break;
        }
        let send_now = !realtime && !caller_done;
        let mut out: Vec<WsMessage> = Vec::new();
        tokio::select! {
            biased;
            msg = stream.next() => match msg {
                Some(Ok(WsMessage::Text(text))) => out = leg.on_agent_text(text.as_str(), realtime),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                    agent_gone = true;
                    let mut view = call.view();
                    view.hangup = true;
                    view.ended_by = Some("agent".into());
                }
                Some(Ok(_)) => {}
            },
            input = rx.recv() => match input {
                Some(CallInput::Hangup(by)) => { call.view().ended_by = Some(by.as_str().into()); break }
                None => break,
                Some(CallInput::TransferDone { terminate: true }) => { call.view().ended_by = Some("transfer".into()); break }
                Some(_) => {}
            },
            () = &mut max => { call.view().ended_by = Some("timeout".into()); break }
            () = &mut silence, if !silent_after.is_zero() => {
                // A vanished peer: no frame out, no read (so no pong) until told to end.
                went_silent = true;
                tokio::select! {
                    input = rx.recv() => if let Some(CallInput::Hangup(by)) = input {
                        call.view().ended_by = Some(by.as_str().into());
                    },
                    () = &mut max => { call.view().ended_by = Some("timeout".into()); }
                }
                break;
            }
            _ = tick.tick(), if realtime => {
                if let Some(frame) = frames.get(next_frame) {
                    out.extend(caller_frame(&mut leg, next_frame, frame, &dtmf_at, &digits));
                    next_frame += 1;
                }
                out.extend(leg.play(FRAME_BYTES));
            },
            () = std::future::ready(()), if send_now => {
                if let Some(frame) = frames.get(next_frame) {
                    out.extend(caller_frame(&mut leg, next_frame, frame, &dtmf_at, &digits));
                    next_frame += 1;
                }
            },
        }
        for f in out {
            if sink.send(f).await.is_err() {
                agent_gone = true;
                break;
            }
        }
    }
    if went_silent {
        // The vanished peer sends nothing more; the socket is simply dropped.
    } else if agent_gone {
        // Complete the agent's close handshake.
        let _ = sink.close().await;
    } else {
        let sequence_number = leg.next_seq();
        let stop = MediaEvent::MediaStop(MediaStop {
            sequence_number,
            stop: Some(MediaStreamStop {
                account_id: Some(shared.config.account_id.clone()),
                call_id: Some(call.id.clone()),
            }),
        });
        if let Some(f) = MediaLeg::frame(stop) {
            let _ = sink.send(f).await;
        }
        let _ = sink
            .send(WsMessage::Close(Some(CloseFrame {
                code: 1000,
                reason: "call ended".into(),
            })))
            .await;
        // Give the agent a moment to answer the close, then drop the socket.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(m)) = stream.next().await {
                if let WsMessage::Text(text) = m {
                    let _ = leg.on_agent_text(text.as_str(), false);
                }
            }
        })
        .await;
    }
    MediaOutcome {
        media_ms: next_frame as u64 * 20,
    }
}

/// The burst sent by the `mediaMalformedFrames` fault: every shape of bad input a media peer
/// could produce, none of which may end or disturb the call.
fn malformed_media_frames() -> Vec<WsMessage> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let texts = [
        "not json at all".to_string(),
        "{\"event\":\"media\"}".to_string(),
        "{\"event\":\"media\",\"media\":{\"payload\":12},\"sequenceNumber\":\"1\"}".to_string(),
        "{\"event\":\"media\",\"media\":{\"payload\":\"!!not base64!!\"},\"sequenceNumber\":\"1\"}"
            .to_string(),
        "{\"event\":\"dtmf\",\"dtmf\":{\"digit\":null}}".to_string(),
        "{\"event\":\"mark\",\"mark\":{}}".to_string(),
        "{\"event\":\"media.future\",\"x\":1}".to_string(),
        "{\"event\":42}".to_string(),
        "[]".to_string(),
        "{\"sequenceNumber\":\"99999999999999999999999999\"}".to_string(),
        deep,
    ];
    let mut out: Vec<WsMessage> = texts
        .into_iter()
        .map(|t| WsMessage::Text(t.into()))
        .collect();
    out.push(WsMessage::Binary(vec![0xff, 0x00, 0xfe, 0x80].into()));
    out
}

fn caller_frame(
    leg: &mut MediaLeg<'_>,
    index: usize,
    frame: &[u8],
    dtmf_at: &[usize],
    digits: &[char],
) -> Vec<WsMessage> {
    leg.recording.caller(frame);
    leg.call.view().caller_audio_bytes += frame.len() as u64;
    if let Some(stamps) = leg.stamps.as_mut() {
        stamps.push(std::time::Instant::now());
    }
    leg.seq += 1;
    let mut out = vec![WsMessage::Text(
        caller_media_json(index, frame, leg.seq).into(),
    )];
    for (k, at) in dtmf_at.iter().enumerate() {
        if *at == index + 1 || (*at == 0 && index == 0) {
            let digit = digits[k].to_string();
            leg.call.view().caller_dtmf.push(digit.clone());
            let sequence_number = leg.next_seq();
            out.extend(MediaLeg::frame(MediaEvent::MediaDtmf(MediaDtmf {
                dtmf: InboundDtmfKey {
                    digit,
                    track: Some(DtmfTrack::InboundTrack),
                },
                sequence_number,
            })));
        }
    }
    out
}

/// The caller-audio `media` event for frame `index`, byte for byte what `MediaEvent::to_json`
/// writes for it (see the test), built directly: digits and base64 need no JSON escaping.
fn caller_media_json(index: usize, frame: &[u8], seq: u64) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(128 + frame.len().div_ceil(3) * 4);
    let _ = write!(
        text,
        r#"{{"event":"media","media":{{"chunk":"{}","payload":""#,
        index + 1
    );
    B64.encode_string(frame, &mut text);
    let _ = write!(
        text,
        r#"","timestamp":"{}","track":"inbound"}},"sequenceNumber":"{seq}"}}"#,
        index * 20
    );
    text
}

/// An agent `media` command read with borrowed strings. Fields and types mirror the generated
/// `MediaOutbound` / `OutboundMediaChunk` (plus the `event` tag): whenever this parses, the
/// generic `MediaCommand::from_json` reads the same payload; anything else takes the generic path.
#[derive(serde::Deserialize)]
struct FastOutbound<'a> {
    event: &'a str,
    #[serde(borrow)]
    media: FastOutboundChunk<'a>,
}

#[derive(serde::Deserialize)]
struct FastOutboundChunk<'a> {
    payload: &'a str,
}

impl<'a> FastOutbound<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str::<Self>(text)
            .ok()
            .filter(|frame| frame.event == "media")
    }
}

/// Records a transfer request and runs its scripted result in its own task.
pub(crate) fn start_transfer(shared: &Arc<Shared>, call: &Arc<LiveCall>, req: TransferRequest) {
    if let Ok(value) = serde_json::to_value(&req) {
        call.view().transfers.push(value);
    }
    let shared2 = shared.clone();
    let call = call.clone();
    shared.tasks.spawn(async move {
        let cancel = shared2.cancel.clone();
        tokio::select! {
            () = run_transfer(&shared2, &call, req) => {}
            () = cancel.cancelled() => {}
        }
    });
}

async fn run_transfer(shared: &Arc<Shared>, call: &Arc<LiveCall>, req: TransferRequest) {
    let script = shared.script_for(&req.to);
    let faults = shared.faults().clone();
    let ok = script.outcome == "answer";
    let terminate = ok && req.after_transfer == TransferRequestAfter::Terminate;
    let rid = Some(req.request_id.clone());
    let id = call.id.clone();
    let result_of = |status: TransferResultStatus| TransferResult {
        duration: None,
        reason: None,
        status: Some(status),
        extra: Default::default(),
    };
    let started = ControlEvent::CallTransferStarted(CallTransferStarted {
        call_id: id.clone(),
        request_id: rid.clone(),
        transfer: Some(result_of(TransferResultStatus::Started)),
    });
    let connected = ControlEvent::CallTransferConnected(CallTransferConnected {
        call_id: id.clone(),
        request_id: rid.clone(),
        transfer: None,
    });
    let result = if ok {
        ControlEvent::CallTransferCompleted(CallTransferCompleted {
            call_id: id.clone(),
            request_id: rid.clone(),
            transfer: Some(TransferResult {
                duration: Some(script.transfer_duration),
                ..result_of(TransferResultStatus::Completed)
            }),
        })
    } else {
        ControlEvent::CallTransferFailed(CallTransferFailed {
            call_id: id.clone(),
            request_id: rid.clone(),
            transfer: Some(TransferResult {
                reason: Some(TransferFailureReason::from(script.outcome.as_str())),
                ..result_of(TransferResultStatus::Failed)
            }),
        })
    };
    let mut order: Vec<(bool, ControlEvent)> = vec![(false, started)];
    if ok {
        order.push((false, connected));
    }
    if faults.transfer_reorder {
        order.insert(0, (true, result));
    } else {
        order.push((true, result));
    }
    let ended_first = faults.ended_before_transfer_result && terminate;
    for (is_result, event) in order {
        if faults.transfer_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.transfer_delay_ms)).await;
        }
        if is_result && ended_first {
            let _ = call.tx.send(CallInput::TransferDone { terminate });
            let _ = tokio::time::timeout(Duration::from_secs(10), call.wait_ended()).await;
        }
        call.send_control(shared, &event);
        if is_result && faults.transfer_duplicate {
            call.send_control(shared, &event);
        }
    }
    if !ended_first {
        let _ = call.tx.send(CallInput::TransferDone { terminate });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawops_api::events::{InboundMediaChunk, MediaInbound};

    #[test]
    fn caller_media_json_matches_generated_serializer() {
        for (index, len, seq) in [
            (0usize, 160usize, 2u64),
            (7, 160, 9),
            (1234, 159, 99_999),
            (3, 0, 1),
        ] {
            let frame: Vec<u8> = (0..len).map(|i| (i * 13 % 256) as u8).collect();
            let generic = MediaEvent::MediaInbound(MediaInbound {
                media: InboundMediaChunk {
                    chunk: Some((index + 1).to_string()),
                    payload: B64.encode(&frame),
                    timestamp: Some((index * 20).to_string()),
                    track: Some(MediaTrack::Inbound),
                },
                sequence_number: Some(seq.to_string()),
            })
            .to_json()
            .unwrap();
            assert_eq!(caller_media_json(index, &frame, seq), generic);
        }
    }

    #[test]
    fn fast_outbound_agrees_with_generated_parser() {
        let frames = [
            r#"{"event":"media","media":{"payload":"AAEC"}}"#,
            r#" {"media":{"payload":"//8=","x":1},"event":"media","y":[null]} "#,
            r#"{"event":"media","media":["AA=="]}"#,
            r#"{"event":"media","media":{"payload":"A\u0041=="}}"#,
            r#"{"event":"media","event":"media","media":{"payload":"AA=="}}"#,
            r#"{"event":"media","media":{"payload":12}}"#,
            r#"{"event":"media"}"#,
            r#"["media",{"payload":"AA=="}]"#,
            r#"{"event":"mark","media":{"payload":"AA=="}}"#,
            r#"{"event":"media","media":{"payload":"AA=="}} x"#,
            "not json",
        ];
        for text in frames {
            if let Some(fast) = FastOutbound::parse(text) {
                let generic = MediaCommand::from_json(text);
                let Ok(MediaCommand::MediaOutbound(m)) = generic else {
                    panic!("fast path accepted {text} but generic gave {generic:?}");
                };
                assert_eq!(fast.media.payload, m.media.payload);
            }
        }
        assert!(FastOutbound::parse(frames[0]).is_some());
        assert!(FastOutbound::parse(frames[1]).is_some());
        assert!(FastOutbound::parse(frames[2]).is_some());
    }
}
