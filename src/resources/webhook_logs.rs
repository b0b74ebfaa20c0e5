//! Webhook delivery logs.

use clawops_api::types::WebhookLog;

use super::{list_request, resource};
use crate::client::op;
use crate::pagination::ListRequest;

resource! {
    /// Webhook delivery logs; from [`ClawOps::webhook_logs`](crate::ClawOps::webhook_logs).
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    ///
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// let mut logs = client.webhook_logs().list("wh_1", None).auto_paging();
    /// while let Some(log) = logs.try_next().await? {
    ///     println!("{} {} attempt {}", log.event, log.status, log.attempt);
    /// }
    /// # Ok(()) }
    /// ```
    WebhookLogs
}

impl WebhookLogs {
    /// Delivery logs of one webhook, `page_size` items per page (server default 20).
    pub fn list(&self, webhook_id: &str, page_size: Option<i64>) -> ListRequest<WebhookLog> {
        list_request(
            self.ctx.clone(),
            op!("list_webhook_logs", "GET", "/webhooks/{webhookId}/logs"),
            (webhook_id.to_owned(), page_size),
            None,
            |api, account, (id, size): (String, Option<i64>), page| async move {
                let mut b = api.list_webhook_logs().account_id(account).webhook_id(id);
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
