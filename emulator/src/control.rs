//! The control WebSocket: `/v1/accounts/{accountId}/agent/listen?number=…` (bearer auth).
//!
//! One slot per number. When a second connection arrives for a number, the previous holder is
//! taken over in the number's [`TakeoverStyle`]: **hard** (default) closes it with `4409
//! replaced`; **soft** (the holder declared the `retire` capability) sends it `agent.retired`
//! and keeps it open until every call offered on it has ended (so its `call.ended` frames still
//! arrive there), then closes it with `1000`. New calls always go to the slot holder. A
//! connection with `role=retiring` never takes the slot.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clawops_api::events::{AgentRetired, AgentRetiredReason, ControlCommand, ControlEvent};
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
/// Close code of a gateway roll: the slot is free, agents reconnect.
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// How a number's slot moves to a new connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TakeoverStyle {
    /// Close the previous holder with `4409 replaced`.
    #[default]
    Hard,
    /// Send the previous holder `agent.retired` and close it (`1000`) once its calls ended;
    /// holders that did not declare the `retire` capability are closed with `4409`.
    Soft,
}

struct Conn {
    number: String,
    tx: mpsc::UnboundedSender<ControlOut>,
    /// Connected with `role=retiring`.
    role_retiring: bool,
    /// Taken over softly: closes once its calls ended.
    retired: bool,
}

/// Every open control connection and the takeover style of each number.
#[derive(Default)]
pub(crate) struct Connections {
    styles: Mutex<HashMap<String, TakeoverStyle>>,
    open: Mutex<HashMap<u64, Conn>>,
}

impl Connections {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn style(&self, number: &str) -> TakeoverStyle {
        self.styles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(number)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn set_style(&self, number: &str, style: TakeoverStyle) {
        self.styles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(number.to_owned(), style);
    }

    fn is_retired(&self, conn_id: u64) -> bool {
        self.open().get(&conn_id).is_some_and(|c| c.retired)
    }

    /// Sends `out` to every open connection of `number` (`None`: of every number); returns how
    /// many got it.
    pub(crate) fn send_all(&self, number: Option<&str>, out: impl Fn() -> ControlOut) -> usize {
        self.open()
            .values()
            .filter(|c| number.is_none_or(|n| c.number == n))
            .filter(|c| c.tx.send(out()).is_ok())
            .count()
    }

    /// `(connection id, number, role)` of every open connection, role `holder`, `retired`
    /// (soft takeover, closing once its calls end) or `retiring` (`role=retiring`).
    pub(crate) fn list(&self, shared: &Shared) -> Vec<(u64, String, &'static str)> {
        let holders: HashSet<u64> = shared.agents().into_iter().map(|(_, c, _)| c).collect();
        let mut v: Vec<_> = self
            .open()
            .iter()
            .map(|(id, c)| {
                let role = if c.retired {
                    "retired"
                } else if c.role_retiring {
                    "retiring"
                } else if holders.contains(id) {
                    "holder"
                } else {
                    "replaced"
                };
                (*id, c.number.clone(), role)
            })
            .collect();
        v.sort_by_key(|(id, _, _)| *id);
        v
    }
}

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
    shared.control_conns.open().insert(
        conn_id,
        Conn {
            number: number.clone(),
            tx: tx.clone(),
            role_retiring: retiring,
            retired: false,
        },
    );
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
        take_over(&shared, &number, old);
    }
    tracing::info!(number, conn_id, retiring, "agent control connection open");
    let (mut sink, mut stream) = socket.split();
    let cancel = shared.cancel.clone();
    // Calls offered on this connection: a softly retired connection closes once they ended.
    let mut mine: HashSet<String> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(ControlOut::Text(text)) => {
                    if let Some(id) = offered_call(&text) {
                        mine.insert(id);
                    }
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
            _ = tick.tick(), if shared.control_conns.is_retired(conn_id) => {
                // Send what is queued first (call.ended frames, a racing offer), then close
                // once every call offered here has ended.
                let mut closed = false;
                while let Ok(out) = rx.try_recv() {
                    match out {
                        ControlOut::Text(text) => {
                            if let Some(id) = offered_call(&text) {
                                mine.insert(id);
                            }
                            let _ = sink.send(WsMessage::Text(text.into())).await;
                        }
                        ControlOut::Close(code, reason) => {
                            let _ = sink.send(WsMessage::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                            closed = true;
                            break;
                        }
                        ControlOut::Drop => {
                            closed = true;
                            break;
                        }
                    }
                }
                if closed {
                    break;
                }
                if mine.iter().all(|id| shared.call(id).is_none_or(|c| c.is_ended())) {
                    tracing::info!(number, conn_id, "retired connection: its calls ended, closing");
                    let _ = sink.send(WsMessage::Close(Some(CloseFrame { code: 1000, reason: "retired".into() }))).await;
                    break;
                }
            }
        }
    }
    shared.control_conns.open().remove(&conn_id);
    shared.unregister_agent(&number, conn_id);
    shared.open_sockets.fetch_sub(1, Ordering::Relaxed);
    tracing::info!(number, conn_id, "agent control connection closed");
}

/// Takes the slot from `old` in the number's style.
fn take_over(shared: &Shared, number: &str, old: AgentSlot) {
    let declares_retire = old
        .hello
        .as_ref()
        .and_then(|h| h.pointer("/sdk/capabilities"))
        .and_then(|c| c.as_array())
        .is_some_and(|c| c.iter().any(|v| v == "retire"));
    if shared.control_conns.style(number) == TakeoverStyle::Soft && declares_retire {
        let event = ControlEvent::AgentRetired(AgentRetired {
            number: Some(number.to_owned()),
            reason: Some(AgentRetiredReason::from("replaced")),
        });
        if let Ok(text) = event.to_json() {
            if let Some(c) = shared.control_conns.open().get_mut(&old.conn_id) {
                c.retired = true;
            }
            let _ = old.tx.send(ControlOut::Text(text));
            tracing::info!(
                number,
                conn_id = old.conn_id,
                "soft takeover: agent.retired sent"
            );
            return;
        }
    }
    let _ = old
        .tx
        .send(ControlOut::Close(CLOSE_REPLACED, "replaced".into()));
}

/// The call id of a frame that offers a call to the agent (`call.incoming`,
/// `call.outbound_ready`, `call.ringing`).
fn offered_call(text: &str) -> Option<String> {
    if !text.contains("\"call.incoming\"")
        && !text.contains("\"call.outbound_ready\"")
        && !text.contains("\"call.ringing\"")
    {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let event = v.get("event")?.as_str()?;
    matches!(
        event,
        "call.incoming" | "call.outbound_ready" | "call.ringing"
    )
    .then(|| v.get("callId")?.as_str().map(str::to_owned))
    .flatten()
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
