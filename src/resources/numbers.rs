//! Phone numbers: provision, list, configure routing, release.

use clawops_api::types::{self, PhoneNumber, ProvisionedPhoneNumber};

use super::{body, resource};
use crate::client::op;
use crate::error::Result;

resource! {
    /// Phone numbers of one account; from [`ClawOps::numbers`](crate::ClawOps::numbers).
    ///
    /// ```no_run
    /// use clawops::types::{self, RoutingType};
    ///
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// let number = client.numbers().create(types::CreateNumberRequest::builder()).await?;
    /// if let Some(sms) = &number.sms_sender {
    ///     println!("SMS sender registered: {}", sms.registered);
    /// }
    /// client
    ///     .numbers()
    ///     .update(
    ///         &number.number,
    ///         types::UpdateNumberRequest::builder()
    ///             .routing_type(Some(RoutingType::Agent))
    ///             .agent_id(Some("AG7c2f9b1e4a6d".to_owned())),
    ///     )
    ///     .await?;
    /// for n in client.numbers().list().await? {
    ///     println!("{} {:?}", n.number, n.routing_type);
    /// }
    /// # Ok(()) }
    /// ```
    Numbers
}

impl Numbers {
    /// Provisions a number from the pool. The response says whether it was also registered as
    /// an SMS sender (`sms_sender.registered`) and why not.
    pub async fn create<B>(&self, params: B) -> Result<ProvisionedPhoneNumber>
    where
        B: TryInto<types::CreateNumberRequest>,
        B::Error: std::fmt::Display,
    {
        let body: types::CreateNumberRequest = body(params)?;
        let account = self.ctx.account();
        self.ctx
            .run(op!("create_number", "POST", "/numbers"), |api| {
                let (account, body) = (account.to_owned(), body.clone());
                async move {
                    api.create_number()
                        .account_id(account)
                        .body(body)
                        .send()
                        .await
                }
            })
            .await
    }

    /// Every number of the account (not paginated).
    pub async fn list(&self) -> Result<Vec<PhoneNumber>> {
        let account = self.ctx.account();
        let list = self
            .ctx
            .run(op!("list_numbers", "GET", "/numbers"), |api| {
                let account = account.to_owned();
                async move { api.list_numbers().account_id(account).send().await }
            })
            .await?;
        Ok(list.data)
    }

    /// Changes routing and webhooks of a number (partial update: only given fields change).
    pub async fn update<B>(&self, number: &str, params: B) -> Result<PhoneNumber>
    where
        B: TryInto<types::UpdateNumberRequest>,
        B::Error: std::fmt::Display,
    {
        let body: types::UpdateNumberRequest = body(params)?;
        let account = self.ctx.account();
        self.ctx
            .run(op!("update_number", "PUT", "/numbers/{number}"), |api| {
                let (account, n, body) = (account.to_owned(), number.to_owned(), body.clone());
                async move {
                    api.update_number()
                        .account_id(account)
                        .number(n)
                        .body(body)
                        .send()
                        .await
                }
            })
            .await
    }

    /// Returns a number to the pool (irreversible).
    pub async fn delete(&self, number: &str) -> Result<()> {
        let account = self.ctx.account();
        self.ctx
            .run(op!("delete_number", "DELETE", "/numbers/{number}"), |api| {
                let (account, n) = (account.to_owned(), number.to_owned());
                async move {
                    api.delete_number()
                        .account_id(account)
                        .number(n)
                        .send()
                        .await
                }
            })
            .await
    }
}
