//! `/calls`: create (agent SDK mode and the other modes), list, get, end, transcript, summary.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use clawops_api::types::{
    BlockedChannel, Call, CallControlResponse, CallControlStatus, CallList, CallStatus,
    CreateCallRequest, Direction, SummaryState, SummaryStatus, TranscriptRequestAccepted,
    TranscriptSegment, TranscriptSpeaker, TranscriptState, TranscriptStatus, UpdateCallRequest,
};

use super::{ApiResult, Params, body, json, paginate};
use crate::call::{CallInput, HangupBy, LiveCall};
use crate::callbacks::Callbacks;
use crate::error::ApiError;
use crate::state::Shared;
use crate::util::{new_id, now_rfc3339};

/// A new call record as the REST API shows it.
pub(crate) fn call_record(
    account_id: &str,
    id: &str,
    direction: Direction,
    from: &str,
    to: &str,
) -> Call {
    Call {
        account_id: account_id.to_owned(),
        answered_by: None,
        call_id: id.to_owned(),
        caller_id_restricted: Some(false),
        date_created: now_rfc3339(),
        date_updated: None,
        direction,
        duration: None,
        from: from.to_owned(),
        hangup_cause: None,
        hangup_cause_q850: None,
        hangup_source: None,
        recording_url: None,
        sip_response_code: None,
        status: CallStatus::Queued,
        to: to.to_owned(),
        transfer_duration: None,
        transfer_hangup_cause_q850: None,
        transfer_reason_text: None,
        transfer_sip_response_code: None,
        transfer_status: None,
        transfer_to: None,
        transfers: None,
    }
}

pub(crate) async fn create(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ApiResult {
    let raw: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    if raw.get("AI").is_some() {
        return Err(ApiError::new(
            StatusCode::GONE,
            Some("ai_mode_removed"),
            "The AI field was removed; use AgentId, CallFlowId or the Agent SDK",
        ));
    }
    let (_, req): (_, CreateCallRequest) = body(&bytes, None)?;
    // The server's CallContext schema is closed (additionalProperties: false).
    if let Some(ctx) = raw.get("CallContext").and_then(|c| c.as_object())
        && let Some(key) = ctx
            .keys()
            .find(|k| !matches!(k.as_str(), "Instruction" | "Variables"))
    {
        return Err(ApiError::bad_request(format!(
            "CallContext does not accept {key}"
        )));
    }
    let modes = [
        req.url.is_some(),
        req.agent_id.is_some(),
        req.call_flow_id.is_some(),
    ];
    if modes.iter().filter(|m| **m).count() > 1 {
        return Err(ApiError::bad_request(
            "Url, AgentId and CallFlowId are mutually exclusive",
        ));
    }
    if !req.variables.is_empty() && req.call_flow_id.is_none() {
        return Err(ApiError::bad_request(
            "Variables is only valid together with CallFlowId",
        ));
    }
    if req.call_context.is_some() && req.agent_id.is_none() {
        return Err(ApiError::bad_request(
            "CallContext is only valid together with AgentId",
        ));
    }
    if req.to.trim().is_empty() {
        return Err(ApiError::bad_request("To is required"));
    }
    let account = shared.config.account_id.clone();
    let id = new_id("CA");
    let record = call_record(&account, &id, Direction::Outbound, &req.from, &req.to);
    {
        let mut store = shared.store();
        if !store.numbers.contains_key(&req.from) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Some("from_not_registered"),
                format!("From {} is not a number of this account", req.from),
            ));
        }
        let blocked = store
            .blocked
            .iter()
            .any(|b| b.active && b.recipient == req.to && b.channel == BlockedChannel::Call);
        if blocked {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("recipient_blocked"),
                "the recipient is blocked for calls",
            ));
        }
        store.calls.push(record.clone());
    }
    let (call, rx) = LiveCall::new(id, Direction::Outbound, req.from.clone(), req.to.clone());
    shared.insert_call(call.clone());
    let callbacks = Callbacks::start(
        &shared,
        req.status_callback.clone(),
        req.status_callback_event.as_deref(),
    );
    let agent_mode = !modes.iter().any(|m| *m);
    crate::call::spawn_outbound(shared.clone(), call, rx, agent_mode, req.timeout, callbacks);
    Ok(json(StatusCode::CREATED, &record))
}

pub(crate) async fn list(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let (page, size) = params.paging()?;
    let status = params.get("status").map(CallStatus::from);
    let (froms, tos, numbers) = (params.all("from"), params.all("to"), params.all("number"));
    let store = shared.store();
    let matching: Vec<Call> = store
        .calls
        .iter()
        .rev()
        .filter(|c| status.as_ref().is_none_or(|s| &c.status == s))
        .filter(|c| froms.is_empty() || froms.contains(&c.from.as_str()))
        .filter(|c| tos.is_empty() || tos.contains(&c.to.as_str()))
        .filter(|c| numbers.is_empty() || numbers.iter().any(|n| *n == c.from || *n == c.to))
        .map(|c| Call {
            transfers: None,
            ..c.clone()
        })
        .collect();
    let (data, meta) = paginate(&matching, page, size);
    Ok(json(StatusCode::OK, &CallList { data, meta }))
}

fn find(shared: &Shared, call_id: &str) -> Result<Call, ApiError> {
    shared
        .store()
        .calls
        .iter()
        .find(|c| c.call_id == call_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("call"))
}

pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    Path((_, call_id)): Path<(String, String)>,
) -> ApiResult {
    let mut call = find(&shared, &call_id)?;
    call.transfers.get_or_insert_with(Vec::new);
    Ok(json(StatusCode::OK, &call))
}

pub(crate) async fn update(
    State(shared): State<Arc<Shared>>,
    Path((_, call_id)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let (_, req): (_, UpdateCallRequest) = body(&bytes, None)?;
    if req.status != CallControlStatus::Completed {
        return Err(ApiError::bad_request("Status must be completed"));
    }
    find(&shared, &call_id)?;
    if let Some(live) = shared.call(&call_id) {
        let _ = live.tx.send(CallInput::Hangup(HangupBy::Rest));
    }
    Ok(json(
        StatusCode::OK,
        &CallControlResponse {
            call_id,
            status: CallControlStatus::Completed,
        },
    ))
}

pub(crate) async fn get_transcript(
    State(shared): State<Arc<Shared>>,
    Path((_, call_id)): Path<(String, String)>,
) -> ApiResult {
    find(&shared, &call_id)?;
    let transcript =
        shared
            .store()
            .transcripts
            .get(&call_id)
            .cloned()
            .unwrap_or(TranscriptStatus {
                call_id: None,
                error: None,
                segment_count: None,
                segments: None,
                stage: None,
                started_at: None,
                status: TranscriptState::NotRequested,
            });
    Ok(json(StatusCode::OK, &transcript))
}

pub(crate) async fn request_transcript(
    State(shared): State<Arc<Shared>>,
    Path((_, call_id)): Path<(String, String)>,
) -> ApiResult {
    find(&shared, &call_id)?;
    let mut store = shared.store();
    if store.transcripts.contains_key(&call_id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            None,
            "transcript already requested for this call",
        ));
    }
    if !store.recordings.contains_key(&call_id) {
        return Err(ApiError::bad_request("the call has no recording"));
    }
    // The emulator "transcribes" at once: the transcript is complete on the next GET.
    let segments = vec![
        TranscriptSegment {
            speaker: TranscriptSpeaker::Agent,
            start: 0.0,
            end: 1.2,
            text: "안녕하세요, ClawOps 에뮬레이터입니다.".into(),
        },
        TranscriptSegment {
            speaker: TranscriptSpeaker::Customer,
            start: 1.5,
            end: 2.8,
            text: "네, 안녕하세요.".into(),
        },
    ];
    store.transcripts.insert(
        call_id.clone(),
        TranscriptStatus {
            call_id: Some(call_id.clone()),
            error: None,
            segment_count: Some(segments.len() as i64),
            segments: Some(segments),
            stage: None,
            started_at: Some(now_rfc3339()),
            status: TranscriptState::Completed,
        },
    );
    let mut result = serde_json::Map::new();
    result.insert("coreSummary".into(), "에뮬레이터 통화 요약".into());
    result.insert("decisions".into(), serde_json::Value::Array(Vec::new()));
    store.summaries.insert(
        call_id.clone(),
        SummaryStatus {
            call_id: Some(call_id.clone()),
            failed_reason: None,
            model: Some("emulator".into()),
            prompt_version: Some("1".into()),
            provider: Some("clawops-emulator".into()),
            result_json: Some(result),
            schema_version: Some("1".into()),
            status: SummaryState::Completed,
            updated_at: Some(now_rfc3339()),
        },
    );
    Ok(json(
        StatusCode::ACCEPTED,
        &TranscriptRequestAccepted {
            call_id,
            status: TranscriptState::Pending,
        },
    ))
}

pub(crate) async fn get_summary(
    State(shared): State<Arc<Shared>>,
    Path((_, call_id)): Path<(String, String)>,
) -> ApiResult {
    find(&shared, &call_id)?;
    let summary = shared
        .store()
        .summaries
        .get(&call_id)
        .cloned()
        .unwrap_or(SummaryStatus {
            call_id: Some(call_id),
            failed_reason: None,
            model: None,
            prompt_version: None,
            provider: None,
            result_json: None,
            schema_version: None,
            status: SummaryState::NotRequested,
            updated_at: None,
        });
    Ok(json(StatusCode::OK, &summary))
}
