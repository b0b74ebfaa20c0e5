//! The per-call media WebSocket: `/v1/agent/media/{callId}?token=…` (one-time token, no API key).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::call::CallInput;
use crate::error::ApiError;
use crate::state::Shared;

pub(crate) async fn connect(
    State(shared): State<Arc<Shared>>,
    Path(call_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    let Some(id) = shared.redeem_media_token(&call_id, token) else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            None,
            "invalid, used or expired media token",
        )
        .into_response();
    };
    let Some(call) = shared.call(&id) else {
        return ApiError::not_found("call").into_response();
    };
    // Small buffers: media frames are ~300 bytes, and the 128 KiB default read buffer is
    // zero-filled on every read (the emulator must pace thousands of calls as a load source).
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            if call.tx.send(CallInput::Media(Box::new(socket))).is_err() {
                tracing::debug!(call_id = %call.id, "media socket for a finished call dropped");
            }
        })
}
