//! Agent media-path benchmark (prints figures; no timed assertions).
//!
//! Each simulated call is a [`CallRunner`] with an [`EchoSession`] connected over loopback to an
//! in-process media server that behaves like the platform at real-time pacing: one 160-byte
//! μ-law frame every 20 ms per call, stamped with its send time, and the echo timed when it comes
//! back. The figures are:
//!
//! - the p50/p99 delay the SDK adds between a media frame in and the echoed frame out (loopback
//!   round trip included, a few tens of µs);
//! - the most concurrent calls the process sustains at real-time pacing with p99 echo delay under
//!   one frame (20 ms) and no frame lost;
//! - CPU time per call-second (process total, the simulated platform side included, so it is an
//!   upper bound for the SDK).
//!
//! `cargo bench --bench agent` (set `AGENT_BENCH_MAX_CALLS` / `AGENT_BENCH_SECONDS` to bound it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops::agent::{CallRunner, EchoSession};
use clawops::events::{
    InboundMediaChunk, MediaCommand, MediaEvent, MediaInbound, MediaStart, MediaStop,
    MediaStreamStart,
};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

const FRAME: usize = 160;

struct Outcome {
    delays_us: Vec<u64>,
    sent: usize,
    received: usize,
}

/// One platform-side call: sends `frames` stamped frames at 20 ms and times the echoes.
async fn platform_call(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    frames: usize,
) -> Outcome {
    let (mut sink, mut stream) = ws.split();
    let start = MediaEvent::MediaStart(MediaStart {
        sequence_number: Some("1".into()),
        start: MediaStreamStart {
            account_id: None,
            call_id: "CA_bench".into(),
            custom_parameters: None,
            media_format: None,
            stream_id: "MZ_bench".into(),
            tracks: Vec::new(),
        },
    });
    let _ = sink
        .send(Message::Text(start.to_json().unwrap().into()))
        .await;
    let epoch = Instant::now();
    let sends: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::with_capacity(frames)));
    let reader_sends = sends.clone();
    let reader = tokio::spawn(async move {
        let mut delays = Vec::with_capacity(frames);
        while let Some(Ok(msg)) = stream.next().await {
            let Message::Text(text) = msg else { continue };
            if let Ok(MediaCommand::MediaOutbound(out)) = MediaCommand::from_json(text.as_str()) {
                let now = epoch.elapsed().as_micros() as u64;
                let Ok(bytes) = B64.decode(out.media.payload.as_bytes()) else {
                    continue;
                };
                if bytes.len() < 8 {
                    continue;
                }
                let seq = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
                if let Some(&sent) = reader_sends.lock().await.get(seq) {
                    delays.push(now.saturating_sub(sent));
                }
                if delays.len() == frames {
                    break;
                }
            }
        }
        delays
    });
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for seq in 0..frames {
        tick.tick().await;
        let mut payload = vec![0xFFu8; FRAME];
        payload[..8].copy_from_slice(&(seq as u64).to_le_bytes());
        let frame = MediaEvent::MediaInbound(MediaInbound {
            media: InboundMediaChunk {
                chunk: None,
                payload: B64.encode(&payload),
                timestamp: Some((seq * 20).to_string()),
                track: None,
            },
            sequence_number: None,
        });
        let text = frame.to_json().unwrap();
        sends.lock().await.push(epoch.elapsed().as_micros() as u64);
        if sink.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
    let delays = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let stop = MediaEvent::MediaStop(MediaStop {
        sequence_number: None,
        stop: None,
    });
    let _ = sink
        .send(Message::Text(stop.to_json().unwrap().into()))
        .await;
    let _ = sink.close().await;
    Outcome {
        received: delays.len(),
        sent: frames,
        delays_us: delays,
    }
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (Linux).
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

struct Round {
    calls: usize,
    p50_us: u64,
    p99_us: u64,
    lost: usize,
    cpu_per_call_second_ms: f64,
}

async fn round(calls: usize, seconds: f64) -> Round {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let frames = (seconds * 50.0) as usize;
    let server = tokio::spawn(async move {
        let mut handles = Vec::new();
        for _ in 0..calls {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            handles.push(tokio::spawn(async move {
                let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                platform_call(ws, frames).await
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    let cpu0 = cpu_seconds();
    let mut runners = Vec::new();
    for i in 0..calls {
        let url = format!("ws://{addr}/v1/agent/media/CA{i}?token=bench");
        runners.push(tokio::spawn(async move {
            CallRunner::new(format!("CA{i}"), "01000000000", "07000000000")
                .run(&url, Box::new(EchoSession::default()))
                .await
        }));
    }
    let outcomes = server.await.unwrap();
    for r in runners {
        let _ = r.await;
    }
    let cpu = cpu_seconds() - cpu0;
    let mut delays: Vec<u64> = outcomes
        .iter()
        .flat_map(|o| o.delays_us.iter().copied())
        .collect();
    delays.sort_unstable();
    let pct = |p: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(u64::MAX)
    };
    let lost = outcomes.iter().map(|o| o.sent - o.received).sum();
    Round {
        calls,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        lost,
        cpu_per_call_second_ms: cpu * 1000.0 / (calls as f64 * seconds),
    }
}

fn main() {
    let max_calls: usize = std::env::var("AGENT_BENCH_MAX_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(800);
    let seconds: f64 = std::env::var("AGENT_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("agent media path, echo session, real-time pacing (20 ms frames), {seconds} s per round");
        println!("{:>6} {:>10} {:>10} {:>6} {:>18}", "calls", "p50 µs", "p99 µs", "lost", "CPU ms/call-second");
        let mut sustained = 0;
        let mut calls = 1;
        let mut single = None;
        while calls <= max_calls {
            let r = round(calls, seconds).await;
            println!(
                "{:>6} {:>10} {:>10} {:>6} {:>18.3}",
                r.calls, r.p50_us, r.p99_us, r.lost, r.cpu_per_call_second_ms
            );
            if calls == 1 {
                single = Some((r.p50_us, r.p99_us));
            }
            if r.lost == 0 && r.p99_us < 20_000 {
                sustained = calls;
            } else {
                break;
            }
            calls = if calls < 50 { 50 } else { calls * 2 };
        }
        if let Some((p50, p99)) = single {
            println!("SDK delay frame-in → echo-out (1 call): p50 {p50} µs, p99 {p99} µs");
        }
        println!("most concurrent calls sustained without frame lateness (p99 < 20 ms, none lost): {sustained} (tested up to {max_calls})");
    });
}
