//! `/kakao/*`: channels (token, connect, get, disconnect), templates, categories, brand content.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::StatusCode;
use clawops_api::types::{
    BrandBubbleType, ConnectKakaoChannelRequest, KakaoBrandImage, KakaoBrandImageList,
    KakaoBrandImageSlot, KakaoBrandImageUpload, KakaoBrandTemplateList, KakaoChannel,
    KakaoChannelCategoryList, KakaoChannelCategoryMeta, KakaoChannelList, KakaoChannelStatus,
    KakaoTemplateList, KakaoTokenRequest, RequestKakaoChannelTokenRequest,
};

use super::{ApiResult, Params, body, json, paginate};
use crate::error::ApiError;
use crate::state::Shared;
use crate::util::{new_id, now_rfc3339};

/// The verification code the emulator accepts when connecting a channel.
pub const KAKAO_TEST_TOKEN: &str = "123456";

type P2 = Path<(String, String)>;

pub(crate) async fn list_channels(
    State(shared): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let (page, size) = params.paging()?;
    let status = params.get("status").unwrap_or("all");
    let items: Vec<KakaoChannel> = shared
        .store()
        .kakao_channels
        .iter()
        .filter(|c| status == "all" || c.status.as_str() == status)
        .cloned()
        .collect();
    let (data, meta) = paginate(&items, page, size);
    Ok(json(StatusCode::OK, &KakaoChannelList { data, meta }))
}

pub(crate) async fn request_token(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ApiResult {
    let (_, req): (_, RequestKakaoChannelTokenRequest) = body(&bytes, None)?;
    if req.search_id.trim().is_empty() || req.phone_number.len() < 8 {
        return Err(ApiError::validation(
            "searchId and phoneNumber are required",
        ));
    }
    let masked: String = req
        .phone_number
        .chars()
        .enumerate()
        .map(|(i, c)| if (3..7).contains(&i) { '*' } else { c })
        .collect();
    shared.store().kakao_tokens.push(req.search_id.clone());
    Ok(json(
        StatusCode::ACCEPTED,
        &KakaoTokenRequest {
            phone_number_masked: masked,
            requested: true,
            retry_after_seconds: 60,
            search_id: req.search_id,
        },
    ))
}

pub(crate) async fn connect_channel(State(shared): State<Arc<Shared>>, bytes: Bytes) -> ApiResult {
    let (_, req): (_, ConnectKakaoChannelRequest) = body(&bytes, None)?;
    let mut store = shared.store();
    if store
        .kakao_channels
        .iter()
        .any(|c| c.search_id == req.search_id)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            Some("KAKAO_CHANNEL_ALREADY_LINKED"),
            "channel already linked",
        ));
    }
    if !store.kakao_tokens.contains(&req.search_id) || req.token != KAKAO_TEST_TOKEN {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("KAKAO_TOKEN_INVALID"),
            "invalid token",
        ));
    }
    if !store.categories.iter().any(|c| c.code == req.category_code) {
        return Err(ApiError::validation("unknown categoryCode"));
    }
    store.kakao_tokens.retain(|s| s != &req.search_id);
    let now = now_rfc3339();
    let channel = KakaoChannel {
        category_code: req.category_code,
        connected_at: now.clone(),
        created_at: now.clone(),
        id: format!("KC_{}", &new_id("")[..12]),
        manager_phone_masked: None,
        name: req.search_id.trim_start_matches('@').to_owned(),
        search_id: req.search_id,
        status: KakaoChannelStatus::Connected,
        synced_at: Some(now.clone()),
        updated_at: now,
    };
    store.kakao_channels.push(channel.clone());
    Ok(json(StatusCode::CREATED, &channel))
}

pub(crate) async fn get_channel(State(shared): State<Arc<Shared>>, Path((_, id)): P2) -> ApiResult {
    let store = shared.store();
    let c = store
        .kakao_channels
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("channel"))?;
    Ok(json(StatusCode::OK, c))
}

pub(crate) async fn disconnect_channel(
    State(shared): State<Arc<Shared>>,
    Path((_, id)): P2,
) -> ApiResult {
    let mut store = shared.store();
    let pos = store
        .kakao_channels
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("channel"))?;
    let channel = store.kakao_channels.remove(pos);
    Ok(json(StatusCode::OK, &channel))
}

fn channel_param(params: &Params) -> Result<String, ApiError> {
    params
        .get("channelId")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::validation("channelId is required"))
}

pub(crate) async fn list_templates(
    State(shared): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let channel = channel_param(&params)?;
    let (page, size) = params.paging()?;
    let items: Vec<_> = shared
        .store()
        .kakao_templates
        .iter()
        .filter(|t| t.channel_id == channel)
        .cloned()
        .collect();
    let (data, meta) = paginate(&items, page, size);
    Ok(json(StatusCode::OK, &KakaoTemplateList { data, meta }))
}

pub(crate) async fn list_categories(State(shared): State<Arc<Shared>>) -> ApiResult {
    let data = shared.store().categories.clone();
    let meta = KakaoChannelCategoryMeta {
        cached: false,
        fetched_at: now_rfc3339(),
    };
    Ok(json(
        StatusCode::OK,
        &KakaoChannelCategoryList { data, meta },
    ))
}

pub(crate) async fn list_brand_templates(
    State(shared): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let params = Params::parse(q.as_deref())?;
    let channel = channel_param(&params)?;
    let (page, size) = params.paging()?;
    let items: Vec<_> = shared
        .store()
        .brand_templates
        .iter()
        .filter(|t| t.channel_id == channel)
        .cloned()
        .collect();
    let (data, meta) = paginate(&items, page, size);
    Ok(json(StatusCode::OK, &KakaoBrandTemplateList { data, meta }))
}

pub(crate) async fn list_brand_images(
    State(shared): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let (page, size) = Params::parse(q.as_deref())?.paging()?;
    let items = shared.store().brand_images.clone();
    let (data, meta) = paginate(&items, page, size);
    Ok(json(StatusCode::OK, &KakaoBrandImageList { data, meta }))
}

pub(crate) async fn upload_brand_image(
    State(shared): State<Arc<Shared>>,
    mut form: Multipart,
) -> ApiResult {
    let (mut bubble, mut slot, mut name, mut size) = (None, None, None, None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?
    {
        match field.name() {
            Some("bubbleType") => bubble = field.text().await.ok(),
            Some("slot") => slot = field.text().await.ok(),
            Some("image") => {
                name = field.file_name().map(str::to_owned);
                size = field.bytes().await.ok().map(|b| b.len());
            }
            _ => {}
        }
    }
    let bubble = bubble.ok_or_else(|| ApiError::validation("bubbleType is required"))?;
    let size = size.ok_or_else(|| ApiError::validation("image is required"))?;
    if bubble == "TEXT" {
        return Err(ApiError::validation("TEXT bubbles have no image"));
    }
    if size > 5 * 1024 * 1024 {
        return Err(ApiError::validation("image larger than 5 MB"));
    }
    let id = format!("BI_{}", &new_id("")[..12]);
    shared.store().brand_images.push(KakaoBrandImage {
        bubble_type: BrandBubbleType::from(bubble.as_str()),
        created_at: now_rfc3339(),
        id: id.clone(),
        name,
        slot: KakaoBrandImageSlot::from(slot.as_deref().unwrap_or("main")),
    });
    Ok(json(StatusCode::CREATED, &KakaoBrandImageUpload { id }))
}
