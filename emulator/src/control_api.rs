//! The emulator control API under `/_emulator/…`: plain HTTP + JSON, no auth.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use clawops_api::events::{AgentActive, AgentRetired, AgentRetiredReason, ControlEvent};
use clawops_api::types::Direction;
use serde::Deserialize;
use serde_json::json;

use crate::audio::CallerAudio;
use crate::call::{CallInput, FarEnd, HangupBy, LiveCall};
use crate::callbacks::Callbacks;
use crate::error::ApiError;
use crate::rest::json;
use crate::state::{ControlOut, DestinationScript, Faults, Shared};
use crate::util::new_id;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/health", get(health))
        .route("/_emulator/inbound-calls", post(inbound_call))
        .route("/_emulator/calls", get(list_calls))
        .route("/_emulator/calls/{call_id}", get(get_call))
        .route("/_emulator/calls/{call_id}/wait", get(wait_call))
        .route("/_emulator/calls/{call_id}/hangup", post(hangup_call))
        .route(
            "/_emulator/destinations/{number}",
            put(put_destination).delete(delete_destination),
        )
        .route(
            "/_emulator/faults",
            get(get_faults).put(put_faults).delete(reset_faults),
        )
        .route("/_emulator/agents", get(list_agents))
        .route("/_emulator/agents/{number}/drop", post(agent_drop))
        .route("/_emulator/agents/{number}/close", post(agent_close))
        .route("/_emulator/agents/{number}/retire", post(agent_retire))
        .route("/_emulator/agents/{number}/activate", post(agent_activate))
        .route("/_emulator/agents/{number}/send", post(agent_send))
        .route(
            "/_emulator/agents/{number}/takeover",
            put(agent_takeover_style),
        )
        .route("/_emulator/agents/{number}/revoke", post(agent_revoke))
        .route("/_emulator/gateway/roll", post(gateway_roll))
}

type R = Result<Response, ApiError>;

fn parse<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

async fn health(State(shared): State<Arc<Shared>>) -> R {
    Ok(json(
        StatusCode::OK,
        &json!({
            "ok": true,
            "simulation": true,
            "liveCalls": shared.live_call_count(),
            "agents": shared.agents().len(),
            "tasks": shared.tasks.len(),
        }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InboundCall {
    from: String,
    to: String,
    audio: Option<String>,
    seconds: Option<f64>,
    dtmf: Option<String>,
    hangup_after_audio: Option<bool>,
    max_seconds: Option<f64>,
    status_callback: Option<String>,
    status_callback_events: Option<String>,
}

async fn inbound_call(State(shared): State<Arc<Shared>>, bytes: Bytes) -> R {
    let req: InboundCall = parse(&bytes)?;
    let (callback, events) = {
        let store = shared.store();
        let number = store.numbers.get(&req.to).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                None,
                format!("{} is not a number of the account", req.to),
            )
        })?;
        (
            req.status_callback
                .clone()
                .or_else(|| number.status_callback.clone()),
            req.status_callback_events
                .clone()
                .or_else(|| number.status_callback_events.clone()),
        )
    };
    if let Some(dtmf) = &req.dtmf
        && !dtmf
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    {
        return Err(ApiError::bad_request("dtmf may only contain 0-9, * and #"));
    }
    let audio = CallerAudio::parse(req.audio.as_deref().unwrap_or("speech"));
    if let CallerAudio::Wav(path) = &audio
        && !std::path::Path::new(path).is_file()
    {
        return Err(ApiError::bad_request(format!(
            "audio file {path} not found"
        )));
    }
    let far = FarEnd {
        audio,
        seconds: req.seconds.unwrap_or(3.0),
        dtmf: req.dtmf.unwrap_or_default(),
        hangup_after_audio: req.hangup_after_audio.unwrap_or(false),
        max_seconds: req.max_seconds.unwrap_or(60.0),
    };
    let id = new_id("CA");
    let record = crate::rest::calls_record(
        &shared.config.account_id,
        &id,
        Direction::Inbound,
        &req.from,
        &req.to,
    );
    shared.store().calls.push(record);
    let (call, rx) = LiveCall::new(id.clone(), Direction::Inbound, req.from, req.to);
    shared.insert_call(call.clone());
    let callbacks = Callbacks::start(&shared, callback, events.as_deref());
    crate::call::spawn_inbound(shared.clone(), call, rx, far, callbacks);
    Ok(json(StatusCode::CREATED, &json!({ "callId": id })))
}

async fn list_calls(State(shared): State<Arc<Shared>>) -> R {
    let ids: Vec<String> = shared
        .store()
        .calls
        .iter()
        .map(|c| c.call_id.clone())
        .collect();
    let views: Vec<_> = ids
        .iter()
        .filter_map(|id| shared.call(id))
        .map(|c| {
            let v = c.view();
            json!({"callId": v.call_id, "direction": v.direction, "status": v.status, "endedStatus": v.ended_status})
        })
        .collect();
    Ok(json(StatusCode::OK, &json!({ "data": views })))
}

fn view_of(shared: &Shared, call_id: &str) -> R {
    let call = shared
        .call(call_id)
        .ok_or_else(|| ApiError::not_found("call"))?;
    let view = call.view().clone();
    Ok(json(StatusCode::OK, &view))
}

async fn get_call(State(shared): State<Arc<Shared>>, Path(call_id): Path<String>) -> R {
    view_of(&shared, &call_id)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitQuery {
    timeout_ms: Option<u64>,
}

async fn wait_call(
    State(shared): State<Arc<Shared>>,
    Path(call_id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> R {
    let call = shared
        .call(&call_id)
        .ok_or_else(|| ApiError::not_found("call"))?;
    let limit = Duration::from_millis(q.timeout_ms.unwrap_or(30_000).min(600_000));
    tokio::select! {
        r = tokio::time::timeout(limit, call.wait_ended()) => if r.is_err() {
            return Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, None, "call still running"));
        },
        () = shared.cancel.cancelled() => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, None, "emulator shutting down"));
        }
    }
    view_of(&shared, &call_id)
}

async fn hangup_call(State(shared): State<Arc<Shared>>, Path(call_id): Path<String>) -> R {
    let call = shared
        .call(&call_id)
        .ok_or_else(|| ApiError::not_found("call"))?;
    let _ = call.tx.send(CallInput::Hangup(HangupBy::Caller));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn put_destination(
    State(shared): State<Arc<Shared>>,
    Path(number): Path<String>,
    bytes: Bytes,
) -> R {
    let script: DestinationScript = parse(&bytes)?;
    if !matches!(
        script.outcome.as_str(),
        "answer" | "no-answer" | "busy" | "rejected" | "failed"
    ) {
        return Err(ApiError::bad_request(
            "outcome must be answer, no-answer, busy, rejected or failed",
        ));
    }
    shared
        .scripts
        .lock()
        .map_err(|_| ApiError::bad_request("poisoned"))?
        .insert(number, script.clone());
    Ok(json(StatusCode::OK, &script))
}

async fn delete_destination(State(shared): State<Arc<Shared>>, Path(number): Path<String>) -> R {
    if let Ok(mut s) = shared.scripts.lock() {
        s.remove(&number);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> R {
    let f = shared.faults().clone();
    Ok(json(StatusCode::OK, &f))
}

async fn put_faults(State(shared): State<Arc<Shared>>, bytes: Bytes) -> R {
    let faults: Faults = parse(&bytes)?;
    if faults.rest_error_count > 0 && !(400..=599).contains(&faults.rest_error_status) {
        return Err(ApiError::bad_request("restErrorStatus must be 400-599"));
    }
    if let Ok(mut until) = shared.refuse_control_until.lock() {
        *until = (faults.refuse_control_seconds > 0.0)
            .then(|| Instant::now() + Duration::from_secs_f64(faults.refuse_control_seconds));
    }
    *shared.faults() = faults.clone();
    Ok(json(StatusCode::OK, &faults))
}

async fn reset_faults(State(shared): State<Arc<Shared>>) -> R {
    *shared.faults() = Faults::default();
    if let Ok(mut until) = shared.refuse_control_until.lock() {
        *until = None;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_agents(State(shared): State<Arc<Shared>>) -> R {
    let agents: Vec<_> = shared
        .agents()
        .into_iter()
        .map(
            |(number, conn, hello)| json!({"number": number, "connectionId": conn, "hello": hello}),
        )
        .collect();
    let connections: Vec<_> = shared
        .control_conns
        .list(&shared)
        .into_iter()
        .map(|(id, number, role)| json!({"connectionId": id, "number": number, "role": role}))
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "data": agents, "connections": connections }),
    ))
}

#[derive(Deserialize)]
struct StyleBody {
    style: crate::control::TakeoverStyle,
}

async fn agent_takeover_style(
    State(shared): State<Arc<Shared>>,
    Path(number): Path<String>,
    bytes: Bytes,
) -> R {
    let body: StyleBody = parse(&bytes)?;
    shared.control_conns.set_style(&number, body.style);
    Ok(json(
        StatusCode::OK,
        &json!({"number": number, "style": body.style}),
    ))
}

async fn agent_revoke(State(shared): State<Arc<Shared>>, Path(number): Path<String>) -> R {
    let n = shared.control_conns.send_all(Some(&number), || {
        ControlOut::Close(
            crate::control::CLOSE_OWNERSHIP_LOST,
            "ownership lost".into(),
        )
    });
    if n == 0 {
        return Err(ApiError::not_found("agent connection"));
    }
    Ok(json(StatusCode::OK, &json!({"closed": n})))
}

async fn gateway_roll(State(shared): State<Arc<Shared>>) -> R {
    let n = shared.control_conns.send_all(None, || {
        ControlOut::Close(crate::control::CLOSE_GOING_AWAY, "gateway draining".into())
    });
    Ok(json(StatusCode::OK, &json!({"closed": n})))
}

fn deliver(shared: &Shared, number: &str, out: ControlOut) -> R {
    if shared.send_control_raw(number, out) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("agent connection"))
    }
}

async fn agent_drop(State(shared): State<Arc<Shared>>, Path(number): Path<String>) -> R {
    deliver(&shared, &number, ControlOut::Drop)
}

#[derive(Deserialize)]
struct CloseBody {
    code: Option<u16>,
    reason: Option<String>,
}

async fn agent_close(
    State(shared): State<Arc<Shared>>,
    Path(number): Path<String>,
    bytes: Bytes,
) -> R {
    let body: CloseBody = parse(&bytes)?;
    deliver(
        &shared,
        &number,
        ControlOut::Close(body.code.unwrap_or(1001), body.reason.unwrap_or_default()),
    )
}

async fn agent_retire(
    State(shared): State<Arc<Shared>>,
    Path(number): Path<String>,
    bytes: Bytes,
) -> R {
    let body: CloseBody = parse(&bytes)?;
    let event = ControlEvent::AgentRetired(AgentRetired {
        number: Some(number.clone()),
        reason: Some(AgentRetiredReason::from(
            body.reason.as_deref().unwrap_or("replaced"),
        )),
    });
    let text = event
        .to_json()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    deliver(&shared, &number, ControlOut::Text(text))
}

async fn agent_activate(State(shared): State<Arc<Shared>>, Path(number): Path<String>) -> R {
    let text = ControlEvent::AgentActive(AgentActive {})
        .to_json()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    deliver(&shared, &number, ControlOut::Text(text))
}

#[derive(Deserialize)]
struct SendBody {
    /// Sent verbatim as one text frame (malformed JSON, unknown events, …).
    text: String,
}

async fn agent_send(
    State(shared): State<Arc<Shared>>,
    Path(number): Path<String>,
    bytes: Bytes,
) -> R {
    let body: SendBody = parse(&bytes)?;
    deliver(&shared, &number, ControlOut::Text(body.text))
}
