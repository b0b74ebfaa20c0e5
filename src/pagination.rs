//! Paginated lists: [`Page`], [`ListRequest`] and lazy auto-paging streams.
//!
//! List endpoints answer `{"data": [...], "meta": {"total", "page", "pageSize"}}` with a 0-based
//! `page`. There is a next page while `(page + 1) × pageSize < total`, computed from the
//! server's meta. Auto-paging replays the original filters, page size and per-request options
//! on every page, and stops with a [`Error::Decode`] instead of looping when the meta is
//! malformed (page size ≤ 0 with items left, or a page index that does not move forward).

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};

use crate::error::{Error, Operation, Result};

pub(crate) type Fetch<T> =
    Arc<dyn Fn(Option<i64>) -> BoxFuture<'static, Result<Page<T>>> + Send + Sync>;

/// One page of a list.
#[non_exhaustive]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Total number of items across all pages (`meta.total`).
    pub total: i64,
    /// 0-based index of this page (`meta.page`).
    pub page: i64,
    /// Page size the server used (`meta.pageSize`).
    pub page_size: i64,
    pub(crate) op: Operation,
    pub(crate) fetch: Fetch<T>,
}

impl<T: fmt::Debug> fmt::Debug for Page<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("items", &self.items)
            .field("total", &self.total)
            .field("page", &self.page)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl<T: Send + 'static> Page<T> {
    /// Whether the server reports more items after this page.
    pub fn has_next_page(&self) -> bool {
        self.page_size > 0
            && self
                .page
                .checked_add(1)
                .and_then(|p| p.checked_mul(self.page_size))
                .is_some_and(|seen| seen < self.total)
    }

    /// Fetches the next page with the same filters and options, or `None` after the last one.
    pub async fn next_page(&self) -> Result<Option<Page<T>>> {
        if !self.has_next_page() {
            return Ok(None);
        }
        let next = (self.fetch)(Some(self.page + 1)).await?;
        check_progress(self.page, &next)?;
        Ok(Some(next))
    }

    /// All items from this page on, fetching later pages lazily as the stream is polled.
    pub fn auto_paging(self) -> BoxStream<'static, Result<T>> {
        let fetch = self.fetch.clone();
        items(pages(fetch, State::Ready(self)))
    }
}

fn check_progress<T>(prev: i64, next: &Page<T>) -> Result<()> {
    if next.page <= prev {
        return Err(Error::Decode {
            operation: next.op,
            message: format!(
                "pagination meta did not advance (page {} after page {prev}); stopping",
                next.page
            ),
            status: None,
            body: Default::default(),
        });
    }
    Ok(())
}

enum State<T> {
    Fetch(Option<i64>, Option<i64>),
    Ready(Page<T>),
    Done,
}

fn pages<T: Send + 'static>(
    fetch: Fetch<T>,
    start: State<T>,
) -> BoxStream<'static, Result<Page<T>>> {
    stream::unfold(start, move |state| {
        let fetch = fetch.clone();
        async move {
            let page = match state {
                State::Done => return None,
                State::Ready(page) => page,
                State::Fetch(index, prev) => match fetch(index).await {
                    Ok(page) => {
                        if let Some(prev) = prev
                            && let Err(e) = check_progress(prev, &page)
                        {
                            return Some((Err(e), State::Done));
                        }
                        page
                    }
                    Err(e) => return Some((Err(e), State::Done)),
                },
            };
            let next = if page.has_next_page() {
                State::Fetch(Some(page.page + 1), Some(page.page))
            } else {
                State::Done
            };
            Some((Ok(page), next))
        }
    })
    .boxed()
}

fn items<T: Send + 'static>(
    pages: BoxStream<'static, Result<Page<T>>>,
) -> BoxStream<'static, Result<T>> {
    pages
        .flat_map(|page| match page {
            Ok(page) => stream::iter(page.items.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(e) => stream::iter(vec![Err(e)]),
        })
        .boxed()
}

/// A list call not sent yet: `.await` it for the first page, or call
/// [`auto_paging`](Self::auto_paging) for a lazy stream of every item.
#[must_use = "a ListRequest does nothing until awaited or streamed"]
pub struct ListRequest<T> {
    pub(crate) fetch: Fetch<T>,
    pub(crate) page: Option<i64>,
}

impl<T> fmt::Debug for ListRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListRequest")
            .field("page", &self.page)
            .finish()
    }
}

impl<T: Send + 'static> ListRequest<T> {
    /// Every item from the requested page on; nothing is fetched until the stream is polled.
    pub fn auto_paging(self) -> BoxStream<'static, Result<T>> {
        items(pages(self.fetch, State::Fetch(self.page, None)))
    }
}

impl<T: Send + 'static> IntoFuture for ListRequest<T> {
    type Output = Result<Page<T>>;
    type IntoFuture = BoxFuture<'static, Result<Page<T>>>;

    fn into_future(self) -> Self::IntoFuture {
        (self.fetch)(self.page)
    }
}
