//! The control WebSocket: `/v1/accounts/{accountId}/agent/listen?number=…` (bearer auth).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clawops_api::events::ControlCommand;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use crate::call::CallInput;
use crate::error::ApiError;
use crate::rest::check_auth;
use crate::state::{AgentSlot, ControlOut, Shared};

/// Close code sent to the previous slot holder when another agent takes the number.
pub const CLOSE_REPLACED: u16 = 4409;
/// Close code for a number that no longer belongs to the account.
pub const CLOSE_OWNERSHIP_LOST: u16 = 4403;

pub(crate) async fn listen(
    State(shared): State<Arc<Shared>>,
    Path(account_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = check_auth(&shared, &headers, &account_id) {
        return e.into_response();
    }
    let Some(number) = query.get("number").filter(|n| !n.is_empty()).cloned() else {
        return ApiError::bad_request("number query parameter is required").into_response();
    };
    if !shared.store().numbers.contains_key(&number) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            None,
            "number does not belong to this account",
        )
        .into_response();
    }
    let refused = shared
        .refuse_control_until
        .lock()
        .ok()
        .and_then(|g| *g)
        .is_some_and(|until| Instant::now() < until);
    if refused {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "reconnects refused (fault injection)",
        )
        .into_response();
    }
    let retiring = query.get("role").is_some_and(|r| r == "retiring");
    ws.on_upgrade(move |socket| async move {
        let tasks = shared.tasks.clone();
        // The connection runs as a tracked task so shutdown waits for it.
        let _ = tasks.spawn(run(shared, number, socket, retiring)).await;
    })
}

async fn run(shared: Arc<Shared>, number: String, socket: WebSocket, retiring: bool) {
    shared.open_sockets.fetch_add(1, Ordering::Relaxed);
    let conn_id = shared.next_conn_id();
    let (tx, mut rx) = mpsc::unbounded_channel::<ControlOut>();
    let previous = if retiring {
        None
    } else {
        shared.register_agent(
            &number,
            AgentSlot {
                conn_id,
                tx: tx.clone(),
                hello: None,
            },
        )
    };
    if let Some(old) = previous {
        let _ = old
            .tx
            .send(ControlOut::Close(CLOSE_REPLACED, "replaced".into()));
    }
    tracing::info!(number, conn_id, "agent control connection open");
    let (mut sink, mut stream) = socket.split();
    let cancel = shared.cancel.clone();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(ControlOut::Text(text)) => {
                    if sink.send(WsMessage::Text(text.into())).await.is_err() { break; }
                }
                Some(ControlOut::Close(code, reason)) => {
                    let _ = sink.send(WsMessage::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                Some(ControlOut::Drop) | None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(WsMessage::Text(text))) => on_frame(&shared, &number, conn_id, text.as_str()),
                Some(Ok(WsMessage::Close(_))) => {
                    let _ = sink.close().await;
                    break;
                }
                None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            () = cancel.cancelled() => {
                let _ = sink.send(WsMessage::Close(Some(CloseFrame { code: 1001, reason: "emulator shutting down".into() }))).await;
                break;
            }
        }
    }
    shared.unregister_agent(&number, conn_id);
    shared.open_sockets.fetch_sub(1, Ordering::Relaxed);
    tracing::info!(number, conn_id, "agent control connection closed");
}

fn on_frame(shared: &Arc<Shared>, number: &str, conn_id: u64, text: &str) {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(error) => {
            tracing::debug!(%error, number, "malformed control frame from agent");
            return;
        }
    };
    let call_id = value
        .get("callId")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let call = call_id.as_deref().and_then(|id| shared.call(id));
    if let Some(call) = &call {
        call.record_frame(value.clone());
    }
    let command = match ControlCommand::from_value(value) {
        Ok(c) => c,
        Err(error) => {
            tracing::debug!(%error, number, "control frame does not match the spec");
            return;
        }
    };
    match command {
        ControlCommand::AgentHello(hello) => {
            if let Ok(v) = serde_json::to_value(&hello) {
                shared.set_hello(number, conn_id, v);
            }
        }
        ControlCommand::CallAccept(_) => send(call.as_deref(), CallInput::Accept),
        ControlCommand::CallReject(r) => {
            let reason = r.reason.to_string();
            send(call.as_deref(), CallInput::Reject(reason));
        }
        ControlCommand::CallSessionFailed(f) => {
            if let Some(call) = &call {
                call.view().session_failed = serde_json::to_value(&f).ok();
            }
            send(call.as_deref(), CallInput::SessionFailed);
        }
        ControlCommand::CallTelemetry(t) => {
            if let Some(call) = &call {
                call.view().telemetry = serde_json::to_value(&t.telemetry).ok();
            }
        }
        ControlCommand::CallMetrics(m) => {
            if let Some(call) = &call {
                call.view().metrics = serde_json::to_value(&m.metrics).ok();
            }
        }
        ControlCommand::CallTransfer(t) => {
            if let Some(call) = &call {
                if call.is_ended() {
                    tracing::debug!(call_id = %call.id, "transfer for an ended call ignored");
                } else {
                    crate::call::start_transfer(shared, call, t.transfer);
                }
            }
        }
        _ => {}
    }
}

fn send(call: Option<&crate::call::LiveCall>, input: CallInput) {
    if let Some(call) = call {
        let _ = call.tx.send(input);
    }
}
