//! Kakao: business channels, alimtalk templates, channel categories, brand templates and
//! brand images.

use clawops_api::types::{
    self, KakaoBrandImage, KakaoBrandTemplate, KakaoChannel, KakaoChannelCategoryList,
    KakaoChannelListStatus, KakaoTemplate, KakaoTokenRequest,
};

use super::{list_request, resource};
use crate::client::op;
use crate::error::Result;
use crate::pagination::ListRequest;

pub use crate::multipart::BrandImageUpload;

resource! {
    /// Kakao resources; from [`ClawOps::kakao`](crate::ClawOps::kakao).
    ///
    /// ```no_run
    /// use clawops::resources::{BrandImageUpload, ListKakaoChannels};
    /// use clawops::types::BrandBubbleType;
    ///
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// let kakao = client.kakao();
    /// let token = kakao.channels().request_token("@example", "010-1234-5678").await?;
    /// let categories = kakao.channel_categories().await?;
    /// let channel = kakao
    ///     .channels()
    ///     .connect(&token.search_id, "010-1234-5678", &categories.data[0].code, "394812")
    ///     .await?;
    /// let templates = kakao.templates().list(&channel.id, Some(100)).await?;
    /// let image = kakao
    ///     .brand_images()
    ///     .upload(BrandImageUpload::new(BrandBubbleType::Wide, "banner.png", vec![0u8; 16]))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    Kakao
}

resource! {
    /// Kakao business channels.
    KakaoChannels
}
resource! {
    /// Alimtalk templates.
    KakaoTemplates
}
resource! {
    /// Brand-message templates.
    KakaoBrandTemplates
}
resource! {
    /// Brand-message images.
    KakaoBrandImages
}

impl Kakao {
    /// Business channels.
    pub fn channels(&self) -> KakaoChannels {
        KakaoChannels::new(self.ctx.clone())
    }
    /// Alimtalk templates.
    pub fn templates(&self) -> KakaoTemplates {
        KakaoTemplates::new(self.ctx.clone())
    }
    /// Brand-message templates.
    pub fn brand_templates(&self) -> KakaoBrandTemplates {
        KakaoBrandTemplates::new(self.ctx.clone())
    }
    /// Brand-message images.
    pub fn brand_images(&self) -> KakaoBrandImages {
        KakaoBrandImages::new(self.ctx.clone())
    }

    /// The channel categories (for `category_code` when connecting a channel).
    pub async fn channel_categories(&self) -> Result<KakaoChannelCategoryList> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "list_kakao_channel_categories",
                    "GET",
                    "/kakao/channel-categories"
                ),
                |api| {
                    let account = account.to_owned();
                    async move {
                        api.list_kakao_channel_categories()
                            .account_id(account)
                            .send()
                            .await
                    }
                },
            )
            .await
    }
}

/// Filters of [`KakaoChannels::list`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ListKakaoChannels {
    status: Option<KakaoChannelListStatus>,
    page: Option<i64>,
    page_size: Option<i64>,
}

impl ListKakaoChannels {
    /// No filters (server default `all`).
    pub fn new() -> Self {
        Self::default()
    }
    /// `connected`, `needs_attention` or `all`.
    pub fn status(mut self, status: KakaoChannelListStatus) -> Self {
        self.status = Some(status);
        self
    }
    /// 0-based page to start from.
    pub fn page(mut self, page: i64) -> Self {
        self.page = Some(page);
        self
    }
    /// Items per page (1–100).
    pub fn page_size(mut self, size: i64) -> Self {
        self.page_size = Some(size);
        self
    }
}

impl KakaoChannels {
    /// Linked channels as stored (no Kakao round trip).
    pub fn list(&self, params: ListKakaoChannels) -> ListRequest<KakaoChannel> {
        let page = params.page;
        list_request(
            self.ctx.clone(),
            op!("list_kakao_channels", "GET", "/kakao/channels"),
            params,
            page,
            |api, account, p: ListKakaoChannels, page| async move {
                let mut b = api.list_kakao_channels().account_id(account);
                if let Some(s) = p.status {
                    b = b.status(s);
                }
                if let Some(page) = page {
                    b = b.page(page);
                }
                if let Some(size) = p.page_size {
                    b = b.page_size(size);
                }
                b.send().await
            },
        )
    }

    /// One channel, re-checked at Kakao.
    pub async fn get(&self, channel_id: &str) -> Result<KakaoChannel> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("get_kakao_channel", "GET", "/kakao/channels/{channelId}"),
                |api| {
                    let (account, id) = (account.to_owned(), channel_id.to_owned());
                    async move {
                        api.get_kakao_channel()
                            .account_id(account)
                            .channel_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Step 1 of linking: sends a code to the channel manager's phone.
    pub async fn request_token(
        &self,
        search_id: &str,
        phone_number: &str,
    ) -> Result<KakaoTokenRequest> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "request_kakao_channel_token",
                    "POST",
                    "/kakao/channels/token"
                ),
                |api| {
                    let account = account.to_owned();
                    let body = types::RequestKakaoChannelTokenRequest {
                        phone_number: phone_number.to_owned(),
                        search_id: search_id.to_owned(),
                    };
                    async move {
                        api.request_kakao_channel_token()
                            .account_id(account)
                            .body(body)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Step 2 of linking: completes the link with the code (201 new, 200 already linked). Not
    /// resent after a timeout: confirm with [`get`](Self::get) or [`list`](Self::list).
    pub async fn connect(
        &self,
        search_id: &str,
        phone_number: &str,
        category_code: &str,
        token: &str,
    ) -> Result<KakaoChannel> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("connect_kakao_channel", "POST", "/kakao/channels"),
                |api| {
                    let account = account.to_owned();
                    let body = types::ConnectKakaoChannelRequest {
                        category_code: category_code.to_owned(),
                        phone_number: phone_number.to_owned(),
                        search_id: search_id.to_owned(),
                        token: token.to_owned(),
                    };
                    async move {
                        api.connect_kakao_channel()
                            .account_id(account)
                            .body(body)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Unlinks a channel (irreversible; deletes its alimtalk templates).
    pub async fn disconnect(&self, channel_id: &str) -> Result<KakaoChannel> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "disconnect_kakao_channel",
                    "DELETE",
                    "/kakao/channels/{channelId}"
                ),
                |api| {
                    let (account, id) = (account.to_owned(), channel_id.to_owned());
                    async move {
                        api.disconnect_kakao_channel()
                            .account_id(account)
                            .channel_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }
}

impl KakaoTemplates {
    /// Alimtalk templates of a channel (`channelId` is replayed on every page).
    pub fn list(&self, channel_id: &str, page_size: Option<i64>) -> ListRequest<KakaoTemplate> {
        list_request(
            self.ctx.clone(),
            op!("list_kakao_templates", "GET", "/kakao/templates"),
            (channel_id.to_owned(), page_size),
            None,
            |api, account, (channel, size): (String, Option<i64>), page| async move {
                let mut b = api
                    .list_kakao_templates()
                    .account_id(account)
                    .channel_id(channel);
                if let Some(page) = page {
                    b = b.page(page);
                }
                if let Some(size) = size {
                    b = b.page_size(size);
                }
                b.send().await
            },
        )
    }
}

impl KakaoBrandTemplates {
    /// Brand templates of a channel (`channelId` is replayed on every page).
    pub fn list(
        &self,
        channel_id: &str,
        page_size: Option<i64>,
    ) -> ListRequest<KakaoBrandTemplate> {
        list_request(
            self.ctx.clone(),
            op!(
                "list_kakao_brand_templates",
                "GET",
                "/kakao/brand-templates"
            ),
            (channel_id.to_owned(), page_size),
            None,
            |api, account, (channel, size): (String, Option<i64>), page| async move {
                let mut b = api
                    .list_kakao_brand_templates()
                    .account_id(account)
                    .channel_id(channel);
                if let Some(page) = page {
                    b = b.page(page);
                }
                if let Some(size) = size {
                    b = b.page_size(size);
                }
                b.send().await
            },
        )
    }
}

impl KakaoBrandImages {
    /// Uploaded brand images, newest first.
    pub fn list(&self, page_size: Option<i64>) -> ListRequest<KakaoBrandImage> {
        list_request(
            self.ctx.clone(),
            op!("list_kakao_brand_images", "GET", "/kakao/brand-images"),
            page_size,
            None,
            |api, account, size: Option<i64>, page| async move {
                let mut b = api.list_kakao_brand_images().account_id(account);
                if let Some(page) = page {
                    b = b.page(page);
                }
                if let Some(size) = size {
                    b = b.page_size(size);
                }
                b.send().await
            },
        )
    }

    /// Uploads an image (`multipart/form-data`).
    pub async fn upload(&self, upload: BrandImageUpload) -> Result<types::KakaoBrandImageUpload> {
        crate::multipart::upload(&self.ctx, upload).await
    }
}
