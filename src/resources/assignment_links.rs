//! External number-assignment links.

use clawops_api::types::{
    self, AssignmentLink, AssignmentLinkCreateResponse, AssignmentLinkStatus,
};

use super::{body, list_request, resource};
use crate::client::op;
use crate::error::Result;
use crate::pagination::ListRequest;

resource! {
    /// Assignment links; from [`ClawOps::assignment_links`](crate::ClawOps::assignment_links).
    ///
    /// ```no_run
    /// use clawops::resources::ListAssignmentLinks;
    /// use clawops::types::{self, AssignmentLinkStatus};
    ///
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// let link = client
    ///     .assignment_links()
    ///     .create(types::CreateAssignmentLinkRequest::builder().note(Some("n".to_owned())))
    ///     .await?;
    /// let page = client
    ///     .assignment_links()
    ///     .list(ListAssignmentLinks::new().status(AssignmentLinkStatus::Pending))
    ///     .await?;
    /// client.assignment_links().revoke(&link.token).await?;
    /// # Ok(()) }
    /// ```
    AssignmentLinks
}

/// Filters of [`AssignmentLinks::list`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ListAssignmentLinks {
    status: Option<AssignmentLinkStatus>,
    page: Option<i64>,
    page_size: Option<i64>,
}

impl ListAssignmentLinks {
    /// No filters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only links in this state.
    pub fn status(mut self, status: AssignmentLinkStatus) -> Self {
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

impl AssignmentLinks {
    /// Issues a link (needs the `external_assignment` add-on).
    pub async fn create<B>(&self, params: B) -> Result<AssignmentLinkCreateResponse>
    where
        B: TryInto<types::CreateAssignmentLinkRequest>,
        B::Error: std::fmt::Display,
    {
        let body: types::CreateAssignmentLinkRequest = body(params)?;
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("create_assignment_link", "POST", "/assignment-links"),
                |api| {
                    let (account, body) = (account.to_owned(), body.clone());
                    async move {
                        api.create_assignment_link()
                            .account_id(account)
                            .body(body)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Lists links; `.await` for one page or `.auto_paging()` for all.
    pub fn list(&self, params: ListAssignmentLinks) -> ListRequest<AssignmentLink> {
        let page = params.page;
        list_request(
            self.ctx.clone(),
            op!("list_assignment_links", "GET", "/assignment-links"),
            params,
            page,
            |api, account, p: ListAssignmentLinks, page| async move {
                let mut b = api.list_assignment_links().account_id(account);
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

    /// One link (its id equals the creation token).
    pub async fn get(&self, link_id: &str) -> Result<AssignmentLink> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("get_assignment_link", "GET", "/assignment-links/{linkId}"),
                |api| {
                    let (account, id) = (account.to_owned(), link_id.to_owned());
                    async move {
                        api.get_assignment_link()
                            .account_id(account)
                            .link_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Revokes a pending link (409 `NOT_PENDING` otherwise).
    pub async fn revoke(&self, link_id: &str) -> Result<()> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "revoke_assignment_link",
                    "DELETE",
                    "/assignment-links/{linkId}"
                ),
                |api| {
                    let (account, id) = (account.to_owned(), link_id.to_owned());
                    async move {
                        api.revoke_assignment_link()
                            .account_id(account)
                            .link_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }
}
