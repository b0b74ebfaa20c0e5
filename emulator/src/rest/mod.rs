//! The REST API of `spec/openapi.yaml` over the in-memory store.

mod calls;
mod kakao;
mod messages;
mod numbers;
mod resources;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clawops_api::types::PaginationMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::Shared;

pub(crate) type ApiResult = Result<Response, ApiError>;

/// Every REST route; `/v1/accounts/{accountId}` is checked by [`guard`].
pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let a = "/v1/accounts/{account_id}";
    Router::new()
        .route(&format!("{a}/calls"), post(calls::create).get(calls::list))
        .route(
            &format!("{a}/calls/{{call_id}}"),
            get(calls::get).post(calls::update),
        )
        .route(
            &format!("{a}/calls/{{call_id}}/transcript"),
            get(calls::get_transcript).post(calls::request_transcript),
        )
        .route(
            &format!("{a}/calls/{{call_id}}/summary"),
            get(calls::get_summary),
        )
        .route(
            &format!("{a}/numbers"),
            post(numbers::create).get(numbers::list),
        )
        .route(
            &format!("{a}/numbers/{{number}}"),
            axum::routing::put(numbers::update).delete(numbers::delete),
        )
        .route(
            &format!("{a}/messages"),
            post(messages::create).get(messages::list),
        )
        .route(&format!("{a}/messages/{{message_id}}"), get(messages::get))
        .route(
            &format!("{a}/recordings/{{call_id}}"),
            get(resources::download_recording).delete(resources::delete_recording),
        )
        .route(
            &format!("{a}/webhooks/{{webhook_id}}/logs"),
            get(resources::webhook_logs),
        )
        .route(
            &format!("{a}/assignment-links"),
            post(resources::create_link).get(resources::list_links),
        )
        .route(
            &format!("{a}/assignment-links/{{link_id}}"),
            get(resources::get_link).delete(resources::revoke_link),
        )
        .route(
            &format!("{a}/blocked-recipients"),
            post(resources::create_block).get(resources::list_blocks),
        )
        .route(
            &format!("{a}/blocked-recipients/{{block_id}}"),
            get(resources::get_block)
                .patch(resources::update_block)
                .delete(resources::release_block),
        )
        .route(
            &format!("{a}/sip-credentials"),
            get(resources::list_sip_credentials),
        )
        .route(
            &format!("{a}/sip-credentials/{{id}}"),
            get(resources::get_sip_credential),
        )
        .route(
            &format!("{a}/sip-endpoints"),
            get(resources::list_sip_endpoints),
        )
        .route(
            &format!("{a}/sip-endpoints/{{id}}"),
            get(resources::get_sip_endpoint),
        )
        .route(
            &format!("{a}/kakao/channels"),
            get(kakao::list_channels).post(kakao::connect_channel),
        )
        .route(
            &format!("{a}/kakao/channels/token"),
            post(kakao::request_token),
        )
        .route(
            &format!("{a}/kakao/channels/{{channel_id}}"),
            get(kakao::get_channel).delete(kakao::disconnect_channel),
        )
        .route(&format!("{a}/kakao/templates"), get(kakao::list_templates))
        .route(
            &format!("{a}/kakao/channel-categories"),
            get(kakao::list_categories),
        )
        .route(
            &format!("{a}/kakao/brand-templates"),
            get(kakao::list_brand_templates),
        )
        .route(
            &format!("{a}/kakao/brand-images"),
            get(kakao::list_brand_images).post(kakao::upload_brand_image),
        )
        .route(
            &format!("{a}/sender-numbers"),
            get(resources::list_senders).post(resources::create_sender),
        )
        .route(
            &format!("{a}/sender-numbers/{{id}}"),
            axum::routing::delete(resources::delete_sender),
        )
        .route_layer(axum::middleware::from_fn_with_state(shared, guard))
}

/// Checks the bearer key and the account of the path.
pub(crate) fn check_auth(
    shared: &Shared,
    headers: &HeaderMap,
    account_id: &str,
) -> Result<(), ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if key != Some(shared.config.api_key.as_str()) {
        return Err(ApiError::unauthorized());
    }
    if account_id != shared.config.account_id {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

/// Auth, then injected REST faults (429 with `Retry-After`, 5xx).
async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let account = request
        .uri()
        .path()
        .strip_prefix("/v1/accounts/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    if let Err(e) = check_auth(&shared, request.headers(), &account) {
        return e.into_response();
    }
    let fault = {
        let mut f = shared.faults();
        if f.rest_error_count > 0 {
            f.rest_error_count -= 1;
            Some((f.rest_error_status, f.retry_after))
        } else {
            None
        }
    };
    if let Some((status, retry_after)) = fault {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut e = ApiError::new(
            status,
            None,
            format!("injected fault: HTTP {}", status.as_u16()),
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            e.retry_after = Some(retry_after.unwrap_or(1));
        }
        return e.into_response();
    }
    next.run(request).await
}

/// A JSON answer with a status.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Query parameters, repeated keys kept (`?from=a&from=b`).
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or_default())
            .map(Self)
            .map_err(|_| ApiError::bad_request("malformed query string"))
    }
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// `page` (≥ 0, default 0) and `pageSize` (1–100, default 20).
    pub(crate) fn paging(&self) -> Result<(i64, i64), ApiError> {
        let int = |key: &str, default: i64| -> Result<i64, ApiError> {
            self.get(key).map_or(Ok(default), |v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("{key} must be an integer")))
            })
        };
        let page = int("page", 0)?;
        let size = int("pageSize", 20)?;
        if page < 0 {
            return Err(ApiError::bad_request("page must be >= 0"));
        }
        if !(1..=100).contains(&size) {
            return Err(ApiError::bad_request("pageSize must be between 1 and 100"));
        }
        Ok((page, size))
    }
}

/// One page of `items` and the envelope's `meta`.
pub(crate) fn paginate<T: Clone>(items: &[T], page: i64, size: i64) -> (Vec<T>, PaginationMeta) {
    let start = usize::try_from(page.saturating_mul(size)).unwrap_or(usize::MAX);
    let data = items
        .iter()
        .skip(start)
        .take(usize::try_from(size).unwrap_or(0))
        .cloned()
        .collect();
    (
        data,
        PaginationMeta {
            page,
            page_size: size,
            total: items.len() as i64,
        },
    )
}

/// Parses a JSON body; `empty` is used for an empty body when given.
pub(crate) fn body<T: DeserializeOwned>(
    bytes: &Bytes,
    empty: Option<&str>,
) -> Result<(serde_json::Value, T), ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        match empty {
            Some(e) => e.as_bytes(),
            None => return Err(ApiError::bad_request("request body is required")),
        }
    } else {
        bytes
    };
    let value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    let typed = serde_json::from_value(value.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?;
    Ok((value, typed))
}

pub(crate) use calls::call_record as calls_record;
pub use kakao::KAKAO_TEST_TOKEN;
