//! REST resources. Each handle is cheap (a client clone and an account id), carries optional
//! [`RequestOptions`](crate::RequestOptions) (`with_options`) and maps one-to-one onto the
//! generated operations.

use std::future::Future;
use std::sync::Arc;

use clawops_api::ResponseValue;
use clawops_api::types;
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::client::{Ctx, GenError};
use crate::error::Operation;
use crate::pagination::{ListRequest, Page};

mod assignment_links;
mod blocked_recipients;
mod calls;
mod kakao;
mod messages;
mod numbers;
mod recordings;
mod sender_numbers;
mod sip;
mod webhook_logs;

pub use assignment_links::{AssignmentLinks, ListAssignmentLinks};
pub use blocked_recipients::{BlockedRecipients, ListBlockedRecipients};
pub use calls::{CallMode, Calls, CreateCall, ListCalls};
pub use kakao::{
    BrandImageUpload, Kakao, KakaoBrandImages, KakaoBrandTemplates, KakaoChannels, KakaoTemplates,
    ListKakaoChannels,
};
pub use messages::{ListMessages, Messages, SendMessage};
pub use numbers::Numbers;
pub use recordings::{RecordingDownload, Recordings};
pub use sender_numbers::SenderNumbers;
pub use sip::{ListSip, SipCredentials, SipEndpoints};
pub use webhook_logs::WebhookLogs;

/// A generated paginated envelope.
pub(crate) trait Listing {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, types::PaginationMeta);
}

macro_rules! listing {
    ($($list:ident => $item:ident),* $(,)?) => {$(
        impl Listing for types::$list {
            type Item = types::$item;
            fn into_parts(self) -> (Vec<types::$item>, types::PaginationMeta) {
                (self.data, self.meta)
            }
        }
    )*};
}

listing! {
    CallList => Call,
    MessageList => Message,
    WebhookLogList => WebhookLog,
    AssignmentLinkList => AssignmentLink,
    BlockedRecipientList => BlockedRecipient,
    KakaoChannelList => KakaoChannel,
    KakaoTemplateList => KakaoTemplate,
    KakaoBrandTemplateList => KakaoBrandTemplate,
    KakaoBrandImageList => KakaoBrandImage,
}

/// Builds a [`ListRequest`] whose every page runs `call(api, account, params, page)` through
/// the retry loop with the handle's options.
pub(crate) fn list_request<L, P, F, Fut>(
    ctx: Ctx,
    op: Operation,
    params: P,
    page: Option<i64>,
    call: F,
) -> ListRequest<L::Item>
where
    L: Listing + Send + 'static,
    L::Item: Send + 'static,
    P: Clone + Send + Sync + 'static,
    F: Fn(clawops_api::Client, String, P, Option<i64>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ResponseValue<L>, GenError>> + Send + 'static,
{
    let lister = Arc::new(Lister {
        ctx,
        op,
        params,
        call,
        _list: std::marker::PhantomData::<fn() -> L>,
    });
    ListRequest {
        fetch: Arc::new(move |page| lister.clone().fetch(page)),
        page,
    }
}

struct Lister<L, P, F> {
    ctx: Ctx,
    op: Operation,
    params: P,
    call: F,
    _list: std::marker::PhantomData<fn() -> L>,
}

impl<L, P, F, Fut> Lister<L, P, F>
where
    L: Listing + Send + 'static,
    L::Item: Send + 'static,
    P: Clone + Send + Sync + 'static,
    F: Fn(clawops_api::Client, String, P, Option<i64>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ResponseValue<L>, GenError>> + Send + 'static,
{
    fn fetch(
        self: Arc<Self>,
        page: Option<i64>,
    ) -> BoxFuture<'static, crate::Result<Page<L::Item>>> {
        async move {
            let list: L = self
                .ctx
                .run(self.op, |api| {
                    (self.call)(
                        api,
                        self.ctx.account().to_owned(),
                        self.params.clone(),
                        page,
                    )
                })
                .await?;
            let (items, meta) = list.into_parts();
            let me = self.clone();
            Ok(Page {
                items,
                total: meta.total,
                page: meta.page,
                page_size: meta.page_size,
                op: self.op,
                fetch: Arc::new(move |p| me.clone().fetch(p)),
            })
        }
        .boxed()
    }
}

/// Boilerplate of a resource handle.
macro_rules! resource {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            pub(crate) ctx: $crate::client::Ctx,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("account_id", &self.ctx.account())
                    .finish()
            }
        }

        impl $name {
            pub(crate) fn new(ctx: $crate::client::Ctx) -> Self {
                Self { ctx }
            }

            /// The same handle with per-request options applied to every call made through it
            /// (including every page of an auto-paged list).
            pub fn with_options(self, opts: $crate::RequestOptions) -> Self {
                Self { ctx: self.ctx.with_options(opts) }
            }
        }
    };
}
pub(crate) use resource;

/// Converts a request body given as the generated struct or its builder.
pub(crate) fn body<B, T>(params: B) -> crate::Result<T>
where
    B: TryInto<T>,
    B::Error: std::fmt::Display,
{
    params
        .try_into()
        .map_err(|e| crate::Error::InvalidRequest(e.to_string()))
}
