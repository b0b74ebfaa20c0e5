//! `/messages`: send (SMS/LMS/MMS and Kakao), list, get.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use clawops_api::types::{
    BlockedChannel, CreateMessageRequest, Direction, Message, MessageList, MessageStatus,
    MessageType,
};

use super::{ApiResult, Params, body, json, paginate};
use crate::error::ApiError;
use crate::state::Shared;
use crate::util::{new_id, now_rfc3339};

fn err(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Some(code), message)
}

pub(crate) async fn create(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ApiResult {
    let (_, req): (_, CreateMessageRequest) = body(&bytes, None)?;
    let kind = match (&req.type_, &req.kakao, &req.brand) {
        (Some(t), _, _) => t.clone(),
        (None, Some(_), _) => MessageType::Ata,
        (None, None, Some(_)) => MessageType::Bms,
        (None, None, None) if !req.media_url.is_empty() => MessageType::Mms,
        (None, None, None) if req.body.as_deref().is_some_and(|b| b.len() > 90) => MessageType::Lms,
        _ => MessageType::Sms,
    };
    if req.kakao.is_some() && req.brand.is_some() {
        return Err(err("kakao_type_conflict", "Kakao and Brand are exclusive"));
    }
    if kind == MessageType::Ata && req.kakao.is_none() {
        return Err(err("kakao_required", "Type ata needs Kakao"));
    }
    if kind == MessageType::Bms && req.brand.is_none() {
        return Err(err("kakao_brand_required", "Type bms needs Brand"));
    }
    if req.kakao.is_some() && kind != MessageType::Ata {
        return Err(err("kakao_type_conflict", "Kakao needs Type ata"));
    }
    if matches!(kind, MessageType::Sms | MessageType::Lms | MessageType::Mms)
        && req.body.as_deref().unwrap_or_default().is_empty()
    {
        return Err(err("invalid_input", "Body is required"));
    }
    if req.body.as_deref().is_some_and(|b| b.len() > 2000) {
        return Err(err("body_too_long", "Body is too long"));
    }
    if kind == MessageType::Sms && !req.media_url.is_empty() {
        return Err(err("sms_no_media", "SMS cannot carry media"));
    }
    let mut store = shared.store();
    if !store.numbers.contains_key(&req.from)
        && !store.sender_numbers.iter().any(|s| s.number == req.from)
    {
        return Err(err(
            "from_not_registered",
            "From is not a sender number of this account",
        ));
    }
    if let Some(k) = &req.kakao
        && !store
            .kakao_templates
            .iter()
            .any(|t| t.id == k.template_id && t.channel_id == k.channel_id)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Some("kakao_template_not_found"),
            "template not found",
        ));
    }
    if store
        .blocked
        .iter()
        .any(|b| b.active && b.recipient == req.to && b.channel == BlockedChannel::Message)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("recipient_blocked"),
            "recipient is blocked",
        ));
    }
    let media = (!req.media_url.is_empty()).then(|| req.media_url.clone());
    let message = Message {
        account_id: shared.config.account_id.clone(),
        body: req.body.clone(),
        date_created: now_rfc3339(),
        date_updated: None,
        direction: Direction::Outbound,
        from: req.from.clone(),
        num_media: Some(req.media_url.len() as i64),
        media_url: media,
        message_id: new_id("MG"),
        status: MessageStatus::Queued,
        subject: req.subject.clone(),
        to: req.to.clone(),
        type_: kind,
    };
    store.messages.push(message.clone());
    Ok(json(StatusCode::CREATED, &message))
}

pub(crate) async fn list(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let (page, size) = params.paging()?;
    let kind = params.get("type").map(MessageType::from);
    let status = params.get("status").map(MessageStatus::from);
    let number = params.get("number");
    let store = shared.store();
    let matching: Vec<Message> = store
        .messages
        .iter()
        .rev()
        .filter(|m| kind.as_ref().is_none_or(|k| &m.type_ == k))
        .filter(|m| status.as_ref().is_none_or(|s| &m.status == s))
        .filter(|m| number.is_none_or(|n| m.from == n || m.to == n))
        .cloned()
        .collect();
    let (data, meta) = paginate(&matching, page, size);
    Ok(json(StatusCode::OK, &MessageList { data, meta }))
}

pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    Path((_, message_id)): Path<(String, String)>,
) -> ApiResult {
    let store = shared.store();
    let m = store
        .messages
        .iter()
        .find(|m| m.message_id == message_id)
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok(json(StatusCode::OK, m))
}
