//! REST client benchmark against a local HTTP server on 127.0.0.1.
//!
//! Prints requests/s and p50/p99 latency of `calls().get()`, the throughput of a 10,000-item
//! auto-paged listing (page size 100), and the client's own CPU time per request / per item
//! (CPU time of the client thread; the server runs on other threads). Run with
//! `cargo bench --bench rest`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use clawops::ClawOps;
use clawops::resources::ListCalls;
use futures::TryStreamExt;

const TOTAL: i64 = 10_000;

fn call_json(id: &str) -> serde_json::Value {
    serde_json::json!({
        "callId": id, "status": "completed", "to": "01012345678", "from": "07052358010",
        "direction": "outbound", "duration": 91, "accountId": "AC1a2b3c4d",
        "dateCreated": "2025-06-01T12:00:00Z", "dateUpdated": "2025-06-01T12:01:31Z",
        "hangupCause": "normal_clearing", "hangupCauseQ850": 16, "hangupSource": "callee"
    })
}

async fn get_call(Path((_acct, id)): Path<(String, String)>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        call_json(&id).to_string(),
    )
}

#[derive(serde::Deserialize)]
struct PageQuery {
    page: Option<i64>,
    #[serde(rename = "pageSize")]
    page_size: Option<i64>,
}

async fn list_calls(Query(q): Query<PageQuery>) -> impl IntoResponse {
    let page = q.page.unwrap_or(0);
    let size = q.page_size.unwrap_or(20);
    let start = page * size;
    let end = (start + size).min(TOTAL);
    let data: Vec<_> = (start..end)
        .map(|i| call_json(&format!("CA{i:032}")))
        .collect();
    let body =
        serde_json::json!({"data": data, "meta": {"total": TOTAL, "page": page, "pageSize": size}});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// CPU time consumed by the calling thread (Linux: /proc/thread-self/schedstat, ns).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn per(cpu: Option<Duration>, n: usize) -> String {
    cpu.map(|d| format!("{:.1} µs", d.as_secs_f64() * 1e6 / n as f64))
        .unwrap_or_else(|| "n/a".into())
}

fn main() {
    // Server: its own multi-thread runtime on other threads.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let addr = server_rt.block_on(async {
        let app = Router::new()
            .route("/v1/accounts/{acct}/calls/{id}", get(get_call))
            .route("/v1/accounts/{acct}/calls", get(list_calls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        addr
    });

    // Client: a current-thread runtime on this thread, so thread CPU time = client CPU time.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async {
        let client = ClawOps::builder()
            .api_key("sk_bench")
            .account_id("AC1a2b3c4d")
            .base_url(format!("http://{addr}"))
            .build()
            .expect("client");

        for _ in 0..200 {
            client.calls().get("CA_warm").await.expect("warmup");
        }

        let n = 5_000;
        let mut lat = Vec::with_capacity(n);
        let cpu0 = thread_cpu();
        let t0 = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            client
                .calls()
                .get("CA0123456789abcdef0123456789abcdef")
                .await
                .expect("get");
            lat.push(t.elapsed());
        }
        let wall = t0.elapsed();
        let cpu = thread_cpu().zip(cpu0).map(|(a, b)| a - b);
        lat.sort();
        println!("calls.get (sequential, {n} requests)");
        println!("  requests/s : {:.0}", n as f64 / wall.as_secs_f64());
        println!("  p50        : {:?}", lat[n / 2]);
        println!("  p99        : {:?}", lat[n * 99 / 100]);
        println!("  client CPU : {} per request", per(cpu, n));

        let cpu0 = thread_cpu();
        let t0 = Instant::now();
        let calls: Vec<_> = client
            .calls()
            .list(ListCalls::new().page_size(100))
            .auto_paging()
            .try_collect()
            .await
            .expect("list");
        let wall = t0.elapsed();
        let cpu = thread_cpu().zip(cpu0).map(|(a, b)| a - b);
        assert_eq!(calls.len(), TOTAL as usize);
        println!("auto-paging ({TOTAL} items, page size 100, 100 requests)");
        println!(
            "  wall       : {wall:?} ({:.0} items/s)",
            TOTAL as f64 / wall.as_secs_f64()
        );
        println!("  client CPU : {} per item", per(cpu, TOTAL as usize));
    });
}
