//! Messages: SMS/LMS/MMS, Kakao alimtalk (with fallback) and brand messages.

use std::collections::BTreeMap;

use clawops_api::types::{
    self, BrandSend, KakaoFallback, KakaoSend, Message, MessageStatus, MessageType, TextMessageType,
};

use super::{list_request, resource};
use crate::client::op;
use crate::error::{Error, Result};
use crate::pagination::ListRequest;

resource! {
    /// Messages of one account; from [`ClawOps::messages`](crate::ClawOps::messages).
    ///
    /// ```no_run
    /// use clawops::resources::SendMessage;
    /// use clawops::types::TextMessageType;
    ///
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// let sms = client
    ///     .messages()
    ///     .send(SendMessage::text("01012345678", "07052358010", "안녕하세요"))
    ///     .await?;
    /// let alimtalk = client
    ///     .messages()
    ///     .send(
    ///         SendMessage::alimtalk("01012345678", "07052358010", "clx9kak0001", "clx9tpl0001")
    ///             .variable("고객명", "홍길동")
    ///             .fallback_text(TextMessageType::Lms, "알림", "주문이 접수되었습니다."),
    ///     )
    ///     .await?;
    /// let again = client.messages().get(&sms.message_id).await?;
    /// # Ok(()) }
    /// ```
    Messages
}

#[derive(Clone, Debug)]
enum Mode {
    Text,
    Alimtalk(KakaoSend),
    Brand(BrandSend),
}

/// Parameters of [`Messages::send`]: one of text, alimtalk or brand message. Options that do
/// not belong to the chosen mode are rejected before sending.
///
/// ```
/// use clawops::resources::SendMessage;
///
/// let body = SendMessage::brand_free(
///     "010",
///     "070",
///     "c1",
///     serde_json::json!({"chatBubbleType": "WIDE", "content": "신메뉴", "imageId": "img1"}),
/// )
/// .into_request()?;
/// assert_eq!(
///     serde_json::to_value(&body).unwrap(),
///     serde_json::json!({"To": "010", "From": "070", "Brand": {"ChannelId": "c1",
///         "Free": {"chatBubbleType": "WIDE", "content": "신메뉴", "imageId": "img1"}}})
/// );
/// let err = SendMessage::brand_template("010", "070", "c1", "t1")
///     .fallback_disabled()
///     .into_request()
///     .unwrap_err();
/// assert!(err.to_string().contains("fallback"));
/// # Ok::<(), clawops::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct SendMessage {
    to: String,
    from: String,
    body: Option<String>,
    type_: Option<MessageType>,
    subject: Option<String>,
    media_url: Vec<String>,
    mode: Mode,
    fallback: Option<KakaoFallback>,
    variables: BTreeMap<String, String>,
}

impl SendMessage {
    fn new(to: impl Into<String>, from: impl Into<String>, mode: Mode) -> Self {
        Self {
            to: to.into(),
            from: from.into(),
            body: None,
            type_: None,
            subject: None,
            media_url: Vec::new(),
            mode,
            fallback: None,
            variables: BTreeMap::new(),
        }
    }

    /// A text message (SMS, LMS or MMS; the server picks by length unless [`kind`](Self::kind) is set).
    pub fn text(to: impl Into<String>, from: impl Into<String>, body: impl Into<String>) -> Self {
        let mut m = Self::new(to, from, Mode::Text);
        m.body = Some(body.into());
        m
    }

    /// A Kakao alimtalk from an approved template.
    pub fn alimtalk(
        to: impl Into<String>,
        from: impl Into<String>,
        channel_id: impl Into<String>,
        template_id: impl Into<String>,
    ) -> Self {
        Self::new(
            to,
            from,
            Mode::Alimtalk(KakaoSend {
                channel_id: channel_id.into(),
                template_id: template_id.into(),
                variables: BTreeMap::new(),
            }),
        )
    }

    /// A Kakao brand message from a brand template.
    pub fn brand_template(
        to: impl Into<String>,
        from: impl Into<String>,
        channel_id: impl Into<String>,
        template_id: impl Into<String>,
    ) -> Self {
        Self::new(
            to,
            from,
            Mode::Brand(BrandSend {
                channel_id: channel_id.into(),
                template_id: Some(template_id.into()),
                free: serde_json::Map::new(),
                variables: BTreeMap::new(),
            }),
        )
    }

    /// A free-form Kakao brand message: `bubble` is the chat bubble object (camelCase keys,
    /// passed through untouched). It must be a JSON object.
    pub fn brand_free(
        to: impl Into<String>,
        from: impl Into<String>,
        channel_id: impl Into<String>,
        bubble: serde_json::Value,
    ) -> Self {
        let free = match bubble {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        Self::new(
            to,
            from,
            Mode::Brand(BrandSend {
                channel_id: channel_id.into(),
                template_id: None,
                free,
                variables: BTreeMap::new(),
            }),
        )
    }

    /// The `Type` field (text: `sms`/`lms`/`mms`; alimtalk `ata`; brand `bms`).
    pub fn kind(mut self, kind: MessageType) -> Self {
        self.type_ = Some(kind);
        self
    }

    /// Title (LMS/MMS only).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// An MMS attachment URL (max 3).
    pub fn media_url(mut self, url: impl Into<String>) -> Self {
        self.media_url.push(url.into());
        self
    }

    /// A template variable (alimtalk or brand template).
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.variables.insert(name.into(), value.into());
        self
    }

    /// Alimtalk only: the text sent if the alimtalk fails.
    pub fn fallback_text(
        mut self,
        kind: TextMessageType,
        subject: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        self.fallback = Some(KakaoFallback {
            body: Some(body.into()),
            disabled: None,
            subject: Some(subject.into()).filter(|s: &String| !s.is_empty()),
            type_: Some(kind),
        });
        self
    }

    /// Alimtalk only: no fallback at all.
    pub fn fallback_disabled(mut self) -> Self {
        self.fallback = Some(KakaoFallback {
            body: None,
            disabled: Some(true),
            subject: None,
            type_: None,
        });
        self
    }

    /// Validates and returns the wire body.
    pub fn into_request(self) -> Result<types::CreateMessageRequest> {
        let bad = |m: &str| Err(Error::InvalidRequest(m.to_owned()));
        let (kakao, brand) = match self.mode {
            Mode::Text => {
                if self.fallback.is_some() {
                    return bad("a fallback is only valid for alimtalk");
                }
                if !self.variables.is_empty() {
                    return bad(
                        "template variables are only valid for alimtalk and brand templates",
                    );
                }
                if matches!(self.type_, Some(MessageType::Ata | MessageType::Bms)) {
                    return bad("`ata`/`bms` types need an alimtalk or brand message");
                }
                if self.media_url.len() > 3 {
                    return bad("at most 3 media URLs");
                }
                (None, None)
            }
            Mode::Alimtalk(mut k) => {
                if self.subject.is_some() || !self.media_url.is_empty() {
                    return bad("subject and media are not allowed with alimtalk");
                }
                if self.type_.as_ref().is_some_and(|t| *t != MessageType::Ata) {
                    return bad("alimtalk only allows type `ata`");
                }
                k.variables = self.variables;
                (Some(k), None)
            }
            Mode::Brand(mut b) => {
                if self.subject.is_some() || !self.media_url.is_empty() {
                    return bad("subject and media are not allowed with brand messages");
                }
                if self.fallback.is_some() {
                    return bad("brand messages have no fallback");
                }
                if self.type_.as_ref().is_some_and(|t| *t != MessageType::Bms) {
                    return bad("brand messages only allow type `bms`");
                }
                let has_template = b.template_id.as_deref().is_some_and(|t| !t.is_empty());
                if has_template != b.free.is_empty() {
                    return bad(
                        "a brand message needs exactly one of a template id or a free-form bubble",
                    );
                }
                if !has_template && !self.variables.is_empty() {
                    return bad("variables are not allowed with a free-form brand message");
                }
                b.variables = self.variables;
                (None, Some(b))
            }
        };
        Ok(types::CreateMessageRequest {
            body: self.body,
            brand,
            fallback: self.fallback,
            from: self.from,
            kakao,
            media_url: self.media_url,
            subject: self.subject,
            to: self.to,
            type_: self.type_,
        })
    }
}

/// Filters of [`Messages::list`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ListMessages {
    type_: Option<MessageType>,
    status: Option<MessageStatus>,
    number: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

impl ListMessages {
    /// No filters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only this message type.
    pub fn kind(mut self, kind: MessageType) -> Self {
        self.type_ = Some(kind);
        self
    }
    /// Only this status (`queued`, `sent`, `failed`, `received`).
    pub fn status(mut self, status: MessageStatus) -> Self {
        self.status = Some(status);
        self
    }
    /// Number on either side.
    pub fn number(mut self, number: impl Into<String>) -> Self {
        self.number = Some(number.into());
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

impl Messages {
    /// Sends a message (`POST /messages`); never retried after it may have reached the server.
    pub async fn send(&self, params: SendMessage) -> Result<Message> {
        let body = params.into_request()?;
        let account = self.ctx.account();
        self.ctx
            .run(op!("create_message", "POST", "/messages"), |api| {
                let (account, body) = (account.to_owned(), body.clone());
                async move {
                    api.create_message()
                        .account_id(account)
                        .body(body)
                        .send()
                        .await
                }
            })
            .await
    }

    /// Lists messages; `.await` for one page or `.auto_paging()` for all.
    pub fn list(&self, params: ListMessages) -> ListRequest<Message> {
        let page = params.page;
        list_request(
            self.ctx.clone(),
            op!("list_messages", "GET", "/messages"),
            params,
            page,
            |api, account, p: ListMessages, page| async move {
                let mut b = api.list_messages().account_id(account);
                if let Some(t) = p.type_ {
                    b = b.type_(t);
                }
                if let Some(s) = p.status {
                    b = b.status(s);
                }
                if let Some(n) = p.number {
                    b = b.number(n);
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

    /// One message.
    pub async fn get(&self, message_id: &str) -> Result<Message> {
        let account = self.ctx.account();
        self.ctx
            .run(op!("get_message", "GET", "/messages/{messageId}"), |api| {
                let (account, id) = (account.to_owned(), message_id.to_owned());
                async move {
                    api.get_message()
                        .account_id(account)
                        .message_id(id)
                        .send()
                        .await
                }
            })
            .await
    }
}
