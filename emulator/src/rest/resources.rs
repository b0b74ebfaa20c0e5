//! Recordings, webhook logs, assignment links, blocked recipients, SIP and sender numbers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use clawops_api::types::{
    AssignmentLink, AssignmentLinkCreateResponse, AssignmentLinkList, AssignmentLinkStatus,
    BlockedChannel, BlockedRecipient, BlockedRecipientList, BlockedRecipientSource,
    CreateAssignmentLinkRequest, CreateBlockedRecipientRequest, CreateSenderNumberRequest,
    ReleaseBlockedRecipientRequest, SenderNumber, SenderNumberLimit, SenderNumberList,
    SipCredentialList, SipCredentialStatus, SipEndpointList, SipEndpointStatus,
    UpdateBlockedRecipientRequest, WebhookLog, WebhookLogList, WebhookMethod,
};

use super::{ApiResult, Params, body, json, paginate};
use crate::error::ApiError;
use crate::state::Shared;
use crate::util::{epoch_in, new_id, now_rfc3339, rfc3339};

type P2 = Path<(String, String)>;

pub(crate) async fn download_recording(
    State(shared): State<Arc<Shared>>,
    Path((_, call_id)): P2,
) -> ApiResult {
    let wav = shared
        .store()
        .recordings
        .get(&call_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("recording"))?;
    let disposition = format!("attachment; filename=\"{call_id}.wav\"");
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        wav,
    )
        .into_response())
}

pub(crate) async fn delete_recording(
    State(shared): State<Arc<Shared>>,
    Path((_, call_id)): P2,
) -> ApiResult {
    let mut store = shared.store();
    store.recordings.remove(&call_id);
    if let Some(c) = store.call_mut(&call_id) {
        c.recording_url = None;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn webhook_logs(
    State(shared): State<Arc<Shared>>,
    Path((_, webhook_id)): P2,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let (page, size) = Params::parse(q.as_deref())?.paging()?;
    let logs: Vec<WebhookLog> = shared
        .store()
        .webhook_logs
        .iter()
        .rev()
        .filter(|l| l.webhook_id == webhook_id)
        .cloned()
        .collect();
    let (data, meta) = paginate(&logs, page, size);
    Ok(json(StatusCode::OK, &WebhookLogList { data, meta }))
}

pub(crate) async fn create_link(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ApiResult {
    let (_, req): (_, CreateAssignmentLinkRequest) = body(&bytes, Some("{}"))?;
    let token = format!("lnk_{}", &new_id("")[..24]);
    let url = format!("https://app.claw-ops.com/assign/{token}");
    let expires_at = rfc3339(epoch_in(7 * 86_400));
    shared.store().links.push(AssignmentLink {
        assignment: None,
        consumed_at: None,
        created_at: now_rfc3339(),
        expires_at: expires_at.clone(),
        link_id: token.clone(),
        note: req.note,
        status: AssignmentLinkStatus::Pending,
        url: url.clone(),
        webhook_method: Some(req.webhook_method.unwrap_or(WebhookMethod::Post)),
        webhook_url: req.webhook_url,
    });
    Ok(json(
        StatusCode::CREATED,
        &AssignmentLinkCreateResponse {
            expires_at,
            token,
            url,
        },
    ))
}

pub(crate) async fn list_links(
    State(shared): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let (page, size) = params.paging()?;
    let status = params.get("status").map(AssignmentLinkStatus::from);
    let links: Vec<AssignmentLink> = shared
        .store()
        .links
        .iter()
        .rev()
        .filter(|l| status.as_ref().is_none_or(|s| &l.status == s))
        .cloned()
        .collect();
    let (data, meta) = paginate(&links, page, size);
    Ok(json(StatusCode::OK, &AssignmentLinkList { data, meta }))
}

pub(crate) async fn get_link(
    State(shared): State<Arc<Shared>>,
    Path((_, link_id)): P2,
) -> ApiResult {
    let store = shared.store();
    let link = store
        .links
        .iter()
        .find(|l| l.link_id == link_id)
        .ok_or_else(|| ApiError::not_found("link"))?;
    Ok(json(StatusCode::OK, link))
}

pub(crate) async fn revoke_link(
    State(shared): State<Arc<Shared>>,
    Path((_, link_id)): P2,
) -> ApiResult {
    let mut store = shared.store();
    let link = store
        .links
        .iter_mut()
        .find(|l| l.link_id == link_id)
        .ok_or_else(|| ApiError::not_found("link"))?;
    if link.status != AssignmentLinkStatus::Pending {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            Some("NOT_PENDING"),
            "only pending links can be revoked",
        ));
    }
    link.status = AssignmentLinkStatus::Revoked;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Domestic digits of a phone number (`010-1234-5678` → `01012345678`), if it looks like one.
fn normalise(number: &str) -> Option<String> {
    let digits: String = number.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    (digits.len() >= 8 && digits.len() <= 13 && digits.chars().all(|c| c.is_ascii_digit()))
        .then_some(digits)
}

pub(crate) async fn create_block(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ApiResult {
    let (_, req): (_, CreateBlockedRecipientRequest) = body(&bytes, None)?;
    let recipient = normalise(&req.recipient)
        .ok_or_else(|| ApiError::validation("recipient is not a phone number"))?;
    if req.channel.is_unknown() {
        return Err(ApiError::validation("unknown channel"));
    }
    let mut store = shared.store();
    if let Some(existing) = store
        .blocked
        .iter()
        .find(|b| b.active && b.recipient == recipient && b.channel == req.channel)
    {
        return Ok(json(StatusCode::OK, existing));
    }
    let now = now_rfc3339();
    let block = BlockedRecipient {
        active: true,
        channel: req.channel,
        created_at: now.clone(),
        created_by: Some("api".into()),
        id: format!("blk_{}", &new_id("")[..16]),
        note: req.note,
        recipient,
        source: req.source.unwrap_or(BlockedRecipientSource::Api),
        source_ref: req.source_ref,
        unblocked_at: None,
        unblocked_by: None,
        unblocked_note: None,
        unblocked_source: None,
        updated_at: now,
    };
    store.blocked.push(block.clone());
    Ok(json(StatusCode::CREATED, &block))
}

pub(crate) async fn list_blocks(
    State(shared): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let (page, size) = params.paging()?;
    let channel = params.get("channel").map(BlockedChannel::from);
    let status = params.get("status").unwrap_or("active");
    if !matches!(status, "active" | "released" | "all") {
        return Err(ApiError::validation(
            "status must be active, released or all",
        ));
    }
    let recipient = params
        .get("recipient")
        .map(|r| normalise(r).unwrap_or_else(|| r.to_owned()));
    let items: Vec<BlockedRecipient> = shared
        .store()
        .blocked
        .iter()
        .rev()
        .filter(|b| channel.as_ref().is_none_or(|c| &b.channel == c))
        .filter(|b| match status {
            "active" => b.active,
            "released" => !b.active,
            _ => true,
        })
        .filter(|b| recipient.as_ref().is_none_or(|r| &b.recipient == r))
        .cloned()
        .collect();
    let (data, meta) = paginate(&items, page, size);
    Ok(json(StatusCode::OK, &BlockedRecipientList { data, meta }))
}

pub(crate) async fn get_block(State(shared): State<Arc<Shared>>, Path((_, id)): P2) -> ApiResult {
    let store = shared.store();
    let b = store
        .blocked
        .iter()
        .find(|b| b.id == id)
        .ok_or_else(|| ApiError::not_found("blocked recipient"))?;
    Ok(json(StatusCode::OK, b))
}

pub(crate) async fn update_block(
    State(shared): State<Arc<Shared>>,
    Path((_, id)): P2,
    bytes: Bytes,
) -> ApiResult {
    let (_, req): (_, UpdateBlockedRecipientRequest) = body(&bytes, Some("{}"))?;
    let mut store = shared.store();
    let b = store
        .blocked
        .iter_mut()
        .find(|b| b.id == id)
        .ok_or_else(|| ApiError::not_found("blocked recipient"))?;
    b.note = req.note;
    b.updated_at = now_rfc3339();
    let b = b.clone();
    Ok(json(StatusCode::OK, &b))
}

pub(crate) async fn release_block(
    State(shared): State<Arc<Shared>>,
    Path((_, id)): P2,
    bytes: Bytes,
) -> ApiResult {
    let (_, req): (_, ReleaseBlockedRecipientRequest) = body(&bytes, Some("{}"))?;
    let mut store = shared.store();
    let b = store
        .blocked
        .iter_mut()
        .find(|b| b.id == id)
        .ok_or_else(|| ApiError::not_found("blocked recipient"))?;
    if b.active {
        let now = now_rfc3339();
        b.active = false;
        b.unblocked_at = Some(now.clone());
        b.unblocked_source = Some(BlockedRecipientSource::Api);
        b.unblocked_note = req.note;
        b.updated_at = now;
    }
    let b = b.clone();
    Ok(json(StatusCode::OK, &b))
}

pub(crate) async fn list_sip_credentials(
    State(shared): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let (page, size) = params.paging()?;
    let status = params.get("status").map(SipCredentialStatus::from);
    let items: Vec<_> = shared
        .store()
        .sip_credentials
        .iter()
        .filter(|c| status.is_none() || c.status == status)
        .cloned()
        .collect();
    let (data, _) = paginate(&items, page, size);
    Ok(json(StatusCode::OK, &SipCredentialList { data }))
}

pub(crate) async fn get_sip_credential(
    State(shared): State<Arc<Shared>>,
    Path((_, id)): P2,
) -> ApiResult {
    let store = shared.store();
    let c = store
        .sip_credentials
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("SIP credential"))?;
    Ok(json(StatusCode::OK, c))
}

pub(crate) async fn list_sip_endpoints(
    State(shared): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let (page, size) = params.paging()?;
    let status = params.get("status").map(SipEndpointStatus::from);
    let items: Vec<_> = shared
        .store()
        .sip_endpoints
        .iter()
        .filter(|e| status.is_none() || e.status == status)
        .cloned()
        .collect();
    let (data, _) = paginate(&items, page, size);
    Ok(json(StatusCode::OK, &SipEndpointList { data }))
}

pub(crate) async fn get_sip_endpoint(
    State(shared): State<Arc<Shared>>,
    Path((_, id)): P2,
) -> ApiResult {
    let store = shared.store();
    let e = store
        .sip_endpoints
        .iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ApiError::not_found("SIP endpoint"))?;
    Ok(json(StatusCode::OK, e))
}

pub(crate) async fn list_senders(State(shared): State<Arc<Shared>>) -> ApiResult {
    let store = shared.store();
    let used = store.sender_numbers.len() as i64;
    let list = SenderNumberList {
        grace: Vec::new(),
        limit: Some(SenderNumberLimit {
            limit: Some(50),
            reached: used >= 50,
            used,
        }),
        sender_numbers: store.sender_numbers.clone(),
    };
    Ok(json(StatusCode::OK, &list))
}

pub(crate) async fn create_sender(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ApiResult {
    let (_, req): (_, CreateSenderNumberRequest) = body(&bytes, None)?;
    let mut store = shared.store();
    if store.sender_numbers.iter().any(|s| s.number == req.number) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            Some("sender_number_already_registered"),
            "already registered",
        ));
    }
    if !store.numbers.contains_key(&req.number) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Some("sender_number_not_account_number"),
            "only numbers of this account can be registered through the API",
        ));
    }
    let sender: SenderNumber = serde_json::from_value(serde_json::json!({
        "id": format!("sn_{}", req.number), "number": req.number, "type": "070", "status": "approved",
        "verificationMethod": "own_provisioned", "createdAt": now_rfc3339(),
    }))
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, None, e.to_string()))?;
    store.sender_numbers.push(sender.clone());
    Ok(json(StatusCode::CREATED, &sender))
}

pub(crate) async fn delete_sender(
    State(shared): State<Arc<Shared>>,
    Path((_, id)): P2,
) -> ApiResult {
    let mut store = shared.store();
    let before = store.sender_numbers.len();
    store.sender_numbers.retain(|s| s.id != id);
    if store.sender_numbers.len() == before {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Some("sender_number_not_found"),
            "sender number not found",
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
