//! Auto-paging: lazy, exact request count, filters/options/headers carried, malformed meta.

mod rest_common;

use clawops::RequestOptions;
use clawops::resources::ListCalls;
use clawops::types::CallStatus;
use futures::{StreamExt, TryStreamExt};
use rest_common::*;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Serves `total` calls at the requested page and page size.
struct Calls {
    total: i64,
}

impl Respond for Calls {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q = |k: &str| {
            req.url
                .query_pairs()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.parse::<i64>().ok())
        };
        let page = q("page").unwrap_or(0);
        let size = q("pageSize").unwrap_or(20);
        let start = page * size;
        let end = (start + size).min(self.total);
        let items: Vec<Value> = (start..end.max(start))
            .map(|i| {
                let mut c = call_json();
                c["callId"] = json!(format!("CA{i}"));
                c
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(page_json(items, self.total, page, size))
    }
}

fn page_json(items: Vec<Value>, total: i64, page: i64, size: i64) -> Value {
    rest_common::page(items, total, page, size)
}

#[tokio::test]
async fn walks_250_items_at_100_per_page_in_exactly_3_requests_with_filters_and_headers() {
    let s = MockServer::start().await;
    Mock::given(any())
        .respond_with(Calls { total: 250 })
        .mount(&s)
        .await;
    let stream = client(&s)
        .calls()
        .with_options(RequestOptions::new().header("X-Trace", "t-9"))
        .list(
            ListCalls::new()
                .status(CallStatus::Completed)
                .from("07052358010")
                .from("07052358011")
                .page_size(100),
        )
        .auto_paging();
    let calls: Vec<_> = stream.try_collect().await.unwrap();
    assert_eq!(calls.len(), 250);
    assert_eq!(calls[0].call_id, "CA0");
    assert_eq!(calls[249].call_id, "CA249");
    let reqs = requests(&s).await;
    assert_eq!(reqs.len(), 3);
    let queries: Vec<&str> = reqs.iter().map(|r| r.url.query().unwrap()).collect();
    assert_eq!(
        queries,
        [
            "from=07052358010&from=07052358011&pageSize=100&status=completed",
            "from=07052358010&from=07052358011&page=1&pageSize=100&status=completed",
            "from=07052358010&from=07052358011&page=2&pageSize=100&status=completed",
        ]
    );
    for r in &reqs {
        assert_eq!(r.headers.get("x-trace").unwrap(), "t-9");
        check(r, "GET", &p("/calls"), r.url.query(), None);
    }
}

#[tokio::test]
async fn auto_paging_is_lazy_and_pages_step_by_step() {
    let s = MockServer::start().await;
    Mock::given(any())
        .respond_with(Calls { total: 5 })
        .mount(&s)
        .await;
    let c = client(&s);
    let mut stream = c.calls().list(ListCalls::new().page_size(2)).auto_paging();
    assert!(
        requests(&s).await.is_empty(),
        "nothing fetched before polling"
    );
    stream.next().await.unwrap().unwrap();
    assert_eq!(requests(&s).await.len(), 1);
    drop(stream);

    let first = c.calls().list(ListCalls::new().page_size(2)).await.unwrap();
    assert!(first.has_next_page());
    let second = first.next_page().await.unwrap().unwrap();
    assert_eq!(second.page, 1);
    let third = second.next_page().await.unwrap().unwrap();
    assert!(!third.has_next_page());
    assert!(third.next_page().await.unwrap().is_none());
    let rest: Vec<_> = first.auto_paging().try_collect().await.unwrap();
    assert_eq!(rest.len(), 5);
}

#[tokio::test]
async fn page_size_zero_stops_instead_of_looping() {
    let s = server(200, page_json(vec![call_json()], 1000, 0, 0)).await;
    let items: Vec<_> = client(&s)
        .calls()
        .list(ListCalls::new())
        .auto_paging()
        .collect()
        .await;
    assert_eq!(items.len(), 1);
    assert!(items[0].is_ok());
    assert_eq!(requests(&s).await.len(), 1);
}

#[tokio::test]
async fn a_page_that_does_not_advance_ends_with_an_error() {
    // The server ignores `page` and always answers page 0 of a large list.
    let s = server(200, page_json(vec![call_json(), call_json()], 1000, 0, 2)).await;
    let items: Vec<_> = client(&s)
        .calls()
        .list(ListCalls::new())
        .auto_paging()
        .collect()
        .await;
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[1].is_ok());
    let err = items[2].as_ref().unwrap_err();
    assert_eq!(err.kind(), clawops::ErrorKind::Decode);
    assert_eq!(requests(&s).await.len(), 2);
}
