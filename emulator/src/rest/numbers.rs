//! `/numbers`: pool allocation, list, partial update, release.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clawops_api::types::{
    CreateNumberRequest, PhoneNumber, PhoneNumberList, ProvisionedPhoneNumber,
    SmsSenderRegistration, UpdateNumberRequest,
};

use super::{ApiResult, body, json};
use crate::control::CLOSE_OWNERSHIP_LOST;
use crate::error::ApiError;
use crate::state::{ControlOut, Shared};
use crate::store::pool_number;
use crate::util::now_rfc3339;

pub(crate) async fn create(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ApiResult {
    let (_, req): (_, CreateNumberRequest) = body(&bytes, Some("{}"))?;
    let mut store = shared.store();
    let number = loop {
        let candidate = format!("0705000{:04}", store.pool_next);
        store.pool_next += 1;
        if !store.numbers.contains_key(&candidate) {
            break candidate;
        }
    };
    let mut n = pool_number(number.clone());
    n.webhook_url = req.webhook_url;
    n.webhook_method = req.webhook_method.or(n.webhook_method);
    if !req.webhook_headers.is_empty() {
        n.webhook_headers = Some(req.webhook_headers);
    }
    n.status_callback = req.status_callback;
    n.status_callback_events = req.status_callback_events;
    store.numbers.insert(number.clone(), n.clone());
    let sender_id = format!("sn_{number}");
    let sender: Option<clawops_api::types::SenderNumber> =
        serde_json::from_value(serde_json::json!({
            "id": sender_id, "number": number, "type": "070", "status": "approved",
            "verificationMethod": "own_provisioned", "createdAt": now_rfc3339(),
        }))
        .ok();
    store.sender_numbers.extend(sender);
    let provisioned = ProvisionedPhoneNumber {
        agent_id: n.agent_id,
        call_context_url: n.call_context_url,
        call_flow_id: n.call_flow_id,
        created_at: n.created_at,
        dictionary_id: n.dictionary_id,
        forward_to: n.forward_to,
        number: n.number,
        number_type: n.number_type,
        routing_type: n.routing_type,
        sip_credential_id: n.sip_credential_id,
        sip_endpoint_id: n.sip_endpoint_id,
        sms_sender: Some(SmsSenderRegistration {
            reason: None,
            registered: true,
            sender_number_id: Some(sender_id),
        }),
        source: n.source,
        status_callback: n.status_callback,
        status_callback_events: n.status_callback_events,
        webhook_headers: n.webhook_headers,
        webhook_method: n.webhook_method,
        webhook_url: n.webhook_url,
    };
    Ok(json(StatusCode::CREATED, &provisioned))
}

pub(crate) async fn list(State(shared): State<Arc<Shared>>) -> ApiResult {
    let data: Vec<PhoneNumber> = shared.store().numbers.values().cloned().collect();
    Ok(json(StatusCode::OK, &PhoneNumberList { data }))
}

pub(crate) async fn update(
    State(shared): State<Arc<Shared>>,
    Path((_, number)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let (_, req): (_, UpdateNumberRequest) = body(&bytes, Some("{}"))?;
    let mut store = shared.store();
    let n = store
        .numbers
        .get_mut(&number)
        .ok_or_else(|| ApiError::not_found("number"))?;
    macro_rules! set {
        ($($field:ident),*) => { $( if req.$field.is_some() { n.$field = req.$field.clone(); } )* };
    }
    set!(
        agent_id,
        call_context_url,
        call_flow_id,
        dictionary_id,
        forward_to,
        routing_type
    );
    set!(
        sip_credential_id,
        sip_endpoint_id,
        status_callback,
        status_callback_events,
        webhook_method,
        webhook_url
    );
    if !req.webhook_headers.is_empty() {
        n.webhook_headers = Some(req.webhook_headers.clone());
    }
    let updated = n.clone();
    Ok(json(StatusCode::OK, &updated))
}

pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((_, number)): Path<(String, String)>,
) -> ApiResult {
    let removed = shared.store().numbers.remove(&number);
    if removed.is_none() {
        return Err(ApiError::not_found("number"));
    }
    // The number no longer belongs to the account: its agent loses the slot for good.
    shared.send_control_raw(
        &number,
        ControlOut::Close(CLOSE_OWNERSHIP_LOST, "ownership lost".into()),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}
