//! Helpers of the `ops_*` tests: raw HTTP against the health port.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `GET path` to the health port and returns the whole raw response.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    let addr = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    let mut sock = tokio::net::TcpStream::connect(addr)
        .await
        .expect("health port accepts");
    sock.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut out))
        .await
        .expect("answer within 5 s")
        .unwrap();
    String::from_utf8(out).unwrap()
}

pub const READY: &str =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nready";
pub const NOT_READY: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\nnot ready";

/// The value of one sample line (`name{labels} value`) of a Prometheus page.
pub fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
