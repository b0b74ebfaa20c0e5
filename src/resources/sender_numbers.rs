//! SMS sender numbers.

use clawops_api::types::{self, SenderNumber, SenderNumberList};

use super::resource;
use crate::client::op;
use crate::error::Result;

resource! {
    /// SMS sender numbers; from [`ClawOps::sender_numbers`](crate::ClawOps::sender_numbers).
    ///
    /// ```no_run
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// let list = client.sender_numbers().list().await?;
    /// if let Some(limit) = &list.limit {
    ///     println!("{} of {:?} lines used", limit.used, limit.limit);
    /// }
    /// let sn = client.sender_numbers().create("070-5236-1008").await?;
    /// client.sender_numbers().delete(&sn.id).await?;
    /// # Ok(()) }
    /// ```
    SenderNumbers
}

impl SenderNumbers {
    /// Registered numbers, grace-period numbers and the line limit.
    pub async fn list(&self) -> Result<SenderNumberList> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("list_sender_numbers", "GET", "/sender-numbers"),
                |api| {
                    let account = account.to_owned();
                    async move { api.list_sender_numbers().account_id(account).send().await }
                },
            )
            .await
    }

    /// Registers a 070/representative number this account provisioned.
    pub async fn create(&self, number: &str) -> Result<SenderNumber> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("create_sender_number", "POST", "/sender-numbers"),
                |api| {
                    let account = account.to_owned();
                    let body = types::CreateSenderNumberRequest {
                        number: number.to_owned(),
                    };
                    async move {
                        api.create_sender_number()
                            .account_id(account)
                            .body(body)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Deletes a sender number by its id (`sn_…`), not the phone number.
    pub async fn delete(&self, sender_number_id: &str) -> Result<()> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "delete_sender_number",
                    "DELETE",
                    "/sender-numbers/{senderNumberId}"
                ),
                |api| {
                    let (account, id) = (account.to_owned(), sender_number_id.to_owned());
                    async move {
                        api.delete_sender_number()
                            .account_id(account)
                            .sender_number_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }
}
