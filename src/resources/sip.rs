//! SIP credentials and endpoints (read-only).

use clawops_api::types::{SipCredential, SipCredentialStatus, SipEndpoint, SipEndpointStatus};

use super::resource;
use crate::client::op;
use crate::error::Result;

resource! {
    /// Registered SIP devices; from [`ClawOps::sip_credentials`](crate::ClawOps::sip_credentials).
    ///
    /// ```no_run
    /// use clawops::resources::ListSip;
    /// use clawops::types::SipCredentialStatus;
    ///
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// let active = client
    ///     .sip_credentials()
    ///     .list(ListSip::new().status(SipCredentialStatus::Active))
    ///     .await?;
    /// let one = client.sip_credentials().get(&active[0].id).await?;
    /// # Ok(()) }
    /// ```
    SipCredentials
}

resource! {
    /// External PBX trunks; from [`ClawOps::sip_endpoints`](crate::ClawOps::sip_endpoints).
    ///
    /// ```no_run
    /// use clawops::resources::ListSip;
    ///
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// let endpoints = client.sip_endpoints().list(ListSip::new()).await?;
    /// # Ok(()) }
    /// ```
    SipEndpoints
}

/// Filters of the SIP lists (the server returns a plain list for the requested page).
#[derive(Clone, Debug)]
#[must_use]
pub struct ListSip<S> {
    status: Option<S>,
    page: Option<i64>,
    page_size: Option<i64>,
}

impl<S> Default for ListSip<S> {
    fn default() -> Self {
        Self {
            status: None,
            page: None,
            page_size: None,
        }
    }
}

impl<S> ListSip<S> {
    /// No filters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only this status.
    pub fn status(mut self, status: S) -> Self {
        self.status = Some(status);
        self
    }
    /// 0-based page.
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

impl SipCredentials {
    /// SIP credentials (passwords are never returned).
    pub async fn list(&self, params: ListSip<SipCredentialStatus>) -> Result<Vec<SipCredential>> {
        let account = self.ctx.account();
        let list = self
            .ctx
            .run(
                op!("list_sip_credentials", "GET", "/sip-credentials"),
                |api| {
                    let (account, p) = (account.to_owned(), params.clone());
                    async move {
                        let mut b = api.list_sip_credentials().account_id(account);
                        if let Some(s) = p.status {
                            b = b.status(s);
                        }
                        if let Some(page) = p.page {
                            b = b.page(page);
                        }
                        if let Some(size) = p.page_size {
                            b = b.page_size(size);
                        }
                        b.send().await
                    }
                },
            )
            .await?;
        Ok(list.data)
    }

    /// One credential.
    pub async fn get(&self, credential_id: &str) -> Result<SipCredential> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "get_sip_credential",
                    "GET",
                    "/sip-credentials/{credentialId}"
                ),
                |api| {
                    let (account, id) = (account.to_owned(), credential_id.to_owned());
                    async move {
                        api.get_sip_credential()
                            .account_id(account)
                            .credential_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }
}

impl SipEndpoints {
    /// SIP endpoints.
    pub async fn list(&self, params: ListSip<SipEndpointStatus>) -> Result<Vec<SipEndpoint>> {
        let account = self.ctx.account();
        let list = self
            .ctx
            .run(op!("list_sip_endpoints", "GET", "/sip-endpoints"), |api| {
                let (account, p) = (account.to_owned(), params.clone());
                async move {
                    let mut b = api.list_sip_endpoints().account_id(account);
                    if let Some(s) = p.status {
                        b = b.status(s);
                    }
                    if let Some(page) = p.page {
                        b = b.page(page);
                    }
                    if let Some(size) = p.page_size {
                        b = b.page_size(size);
                    }
                    b.send().await
                }
            })
            .await?;
        Ok(list.data)
    }

    /// One endpoint.
    pub async fn get(&self, endpoint_id: &str) -> Result<SipEndpoint> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("get_sip_endpoint", "GET", "/sip-endpoints/{endpointId}"),
                |api| {
                    let (account, id) = (account.to_owned(), endpoint_id.to_owned());
                    async move {
                        api.get_sip_endpoint()
                            .account_id(account)
                            .endpoint_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }
}
