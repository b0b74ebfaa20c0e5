//! The one hand-written request: the `multipart/form-data` Kakao brand-image upload
//! (`POST /v1/accounts/{accountId}/kakao/brand-images`, skipped by the generator because
//! progenitor has no multipart support). It still goes through the common retry loop, error
//! mapping and per-request options.

use bytes::Bytes;
use clawops_api::types::{BrandBubbleType, KakaoBrandImageSlot, KakaoBrandImageUpload};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::client::{Ctx, Failure, op, status_error, transport_error};
use crate::error::{Error, Result};

/// An image to upload with [`KakaoBrandImages::upload`](crate::resources::KakaoBrandImages::upload).
///
/// ```
/// use clawops::resources::BrandImageUpload;
/// use clawops::types::{BrandBubbleType, KakaoBrandImageSlot};
///
/// let upload = BrandImageUpload::new(BrandBubbleType::WideItemList, "sub.png", b"x".to_vec())
///     .slot(KakaoBrandImageSlot::Sub);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct BrandImageUpload {
    bubble_type: BrandBubbleType,
    slot: Option<KakaoBrandImageSlot>,
    file_name: String,
    data: Bytes,
}

impl BrandImageUpload {
    /// An image for `bubble_type`, sent with `file_name` (its extension sets the part's
    /// content type: png, jpg/jpeg, gif, bmp, webp; anything else is `application/octet-stream`).
    pub fn new(
        bubble_type: BrandBubbleType,
        file_name: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> Self {
        Self {
            bubble_type,
            slot: None,
            file_name: file_name.into(),
            data: data.into(),
        }
    }

    /// `main` (server default) or `sub` (the small item image of `WIDE_ITEM_LIST`).
    pub fn slot(mut self, slot: KakaoBrandImageSlot) -> Self {
        self.slot = Some(slot);
        self
    }
}

fn mime_for(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    }
}

pub(crate) async fn upload(ctx: &Ctx, upload: BrandImageUpload) -> Result<KakaoBrandImageUpload> {
    let operation = op!("upload_kakao_brand_image", "POST", "/kakao/brand-images");
    let http = ctx.http()?;
    let url = format!(
        "{}/v1/accounts/{}/kakao/brand-images",
        ctx.base_url(),
        utf8_percent_encode(ctx.account(), NON_ALPHANUMERIC)
    );
    ctx.run_raw(operation, |_api| {
        let (http, url, upload) = (http.clone(), url.clone(), upload.clone());
        async move {
            let mut form = reqwest::multipart::Form::new()
                .text("bubbleType", upload.bubble_type.as_str().to_owned());
            if let Some(slot) = &upload.slot {
                form = form.text("slot", slot.as_str().to_owned());
            }
            let part = reqwest::multipart::Part::stream(upload.data.clone())
                .file_name(upload.file_name.clone())
                .mime_str(mime_for(&upload.file_name))
                .map_err(|e| Error::InvalidRequest(e.to_string()))?;
            form = form.part("image", part);
            let resp = http
                .post(url)
                .multipart(form)
                .send()
                .await
                .map_err(|e| transport_error(e, operation))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .bytes()
                .await
                .map_err(|e| transport_error(e, operation))?;
            if !(200..300).contains(&status) {
                return Err(Failure::Mapped(status_error(
                    status, &headers, &body, operation,
                )));
            }
            serde_json::from_slice(&body).map_err(|e| {
                Failure::Mapped(Error::Decode {
                    operation,
                    message: e.to_string(),
                    status: Some(status),
                    body,
                })
            })
        }
    })
    .await
}
