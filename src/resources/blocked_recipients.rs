//! The do-not-contact list.

use clawops_api::types::{self, BlockedChannel, BlockedRecipient, BlockedRecipientListStatus};

use super::{body, list_request, resource};
use crate::client::op;
use crate::error::Result;
use crate::pagination::ListRequest;

resource! {
    /// Blocked recipients; from [`ClawOps::blocked_recipients`](crate::ClawOps::blocked_recipients).
    ///
    /// ```no_run
    /// use clawops::resources::ListBlockedRecipients;
    /// use clawops::types::{self, BlockedChannel};
    ///
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// let entry = client
    ///     .blocked_recipients()
    ///     .create(types::CreateBlockedRecipientRequest::builder()
    ///         .recipient("010-1234-5678")
    ///         .channel(BlockedChannel::Call))
    ///     .await?;
    /// client.blocked_recipients().update(&entry.id, Some("2차 확인")).await?;
    /// client.blocked_recipients().release(&entry.id, Some("고객 재동의")).await?;
    /// let page = client
    ///     .blocked_recipients()
    ///     .list(ListBlockedRecipients::new().channel(BlockedChannel::Email))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    BlockedRecipients
}

/// Filters of [`BlockedRecipients::list`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ListBlockedRecipients {
    channel: Option<BlockedChannel>,
    recipient: Option<String>,
    status: Option<BlockedRecipientListStatus>,
    page: Option<i64>,
    page_size: Option<i64>,
}

impl ListBlockedRecipients {
    /// No filters (server default: active entries only).
    pub fn new() -> Self {
        Self::default()
    }
    /// Only this channel.
    pub fn channel(mut self, channel: BlockedChannel) -> Self {
        self.channel = Some(channel);
        self
    }
    /// Only this recipient (normalised server-side).
    pub fn recipient(mut self, recipient: impl Into<String>) -> Self {
        self.recipient = Some(recipient.into());
        self
    }
    /// `active`, `released` or `all`.
    pub fn status(mut self, status: BlockedRecipientListStatus) -> Self {
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

impl BlockedRecipients {
    /// Blocks a recipient on one channel (idempotent: an active entry is returned as is).
    pub async fn create<B>(&self, params: B) -> Result<BlockedRecipient>
    where
        B: TryInto<types::CreateBlockedRecipientRequest>,
        B::Error: std::fmt::Display,
    {
        let body: types::CreateBlockedRecipientRequest = body(params)?;
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("create_blocked_recipient", "POST", "/blocked-recipients"),
                |api| {
                    let (account, body) = (account.to_owned(), body.clone());
                    async move {
                        api.create_blocked_recipient()
                            .account_id(account)
                            .body(body)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Lists entries; `.await` for one page or `.auto_paging()` for all.
    pub fn list(&self, params: ListBlockedRecipients) -> ListRequest<BlockedRecipient> {
        let page = params.page;
        list_request(
            self.ctx.clone(),
            op!("list_blocked_recipients", "GET", "/blocked-recipients"),
            params,
            page,
            |api, account, p: ListBlockedRecipients, page| async move {
                let mut b = api.list_blocked_recipients().account_id(account);
                if let Some(c) = p.channel {
                    b = b.channel(c);
                }
                if let Some(r) = p.recipient {
                    b = b.recipient(r);
                }
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

    /// One entry (released entries too).
    pub async fn get(&self, block_id: &str) -> Result<BlockedRecipient> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "get_blocked_recipient",
                    "GET",
                    "/blocked-recipients/{blockId}"
                ),
                |api| {
                    let (account, id) = (account.to_owned(), block_id.to_owned());
                    async move {
                        api.get_blocked_recipient()
                            .account_id(account)
                            .block_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Sets the memo (`None` clears it; `{"note": null}` is sent).
    pub async fn update(&self, block_id: &str, note: Option<&str>) -> Result<BlockedRecipient> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "update_blocked_recipient",
                    "PATCH",
                    "/blocked-recipients/{blockId}"
                ),
                |api| {
                    let (account, id) = (account.to_owned(), block_id.to_owned());
                    let body = types::UpdateBlockedRecipientRequest {
                        note: note.map(str::to_owned),
                    };
                    async move {
                        api.update_blocked_recipient()
                            .account_id(account)
                            .block_id(id)
                            .body(body)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Releases the block, keeping the entry as history.
    pub async fn release(&self, block_id: &str, note: Option<&str>) -> Result<BlockedRecipient> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "release_blocked_recipient",
                    "DELETE",
                    "/blocked-recipients/{blockId}"
                ),
                |api| {
                    let (account, id) = (account.to_owned(), block_id.to_owned());
                    let body = types::ReleaseBlockedRecipientRequest {
                        note: note.map(str::to_owned),
                    };
                    async move {
                        api.release_blocked_recipient()
                            .account_id(account)
                            .block_id(id)
                            .body(body)
                            .send()
                            .await
                    }
                },
            )
            .await
    }
}
