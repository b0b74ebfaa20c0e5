//! Agent media-path benchmark (prints figures; no timed assertions).
//!
//! **Main mode (`emulator`, the default)**: a real [`Agent`] with an [`EchoSession`] serves a
//! number of the embedded ClawOps emulator running at real-time pacing. Calls arrive through the
//! emulator's control API, are offered on the control WebSocket, accepted, and stream one
//! 160-byte μ-law frame every 20 ms over their own media WebSocket. The caller audio is the
//! emulator's `stamped` source (frame `n` carries `n`), so the emulator times every echoed frame
//! from caller-out to agent-in (`echoDelaysUs`). The figures are:
//!
//! - the p50/p99 delay between a media frame in and the echoed frame out (loopback and the
//!   emulator's own scheduling included);
//! - the most concurrent calls the process sustains at real-time pacing with p99 echo delay
//!   under one frame (20 ms) and no frame lost;
//! - CPU time per call-second (process total: the emulator runs in the same process, so it is an
//!   upper bound for the SDK).
//!
//! **Floor mode (`AGENT_BENCH_MODE=runner`)**: the standalone [`CallRunner`] against a minimal
//! in-process media server (no control connection, no emulator bookkeeping), to separate the
//! media path's own cost.
//!
//! `cargo bench --bench agent` (set `AGENT_BENCH_MAX_CALLS` / `AGENT_BENCH_SECONDS` to bound it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops::agent::{Agent, CallRunner, EchoSession};
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
                // A small read buffer on the simulated platform too, so the figures are the SDK's.
                let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                    .read_buffer_size(4 * 1024);
                let ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config))
                    .await
                    .unwrap();
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

/// One round against the emulator: `calls` concurrent inbound calls of `seconds` each.
async fn emulator_round(calls: usize, seconds: f64) -> Round {
    let config = clawops_emulator::Config::default().with_realtime(true);
    let emu = clawops_emulator::Emulator::start_with(config)
        .await
        .expect("emulator starts");
    let number = "07012340001";
    let agent = Agent::builder(number)
        .api_key(emu.api_key())
        .account_id(emu.account_id())
        .base_url(emu.base_url())
        .session_factory(EchoSession::default)
        .build()
        .expect("agent builds");
    agent.connect().await.expect("agent connects");
    let http = reqwest::Client::new();
    let cpu0 = cpu_seconds();
    let mut ids = Vec::with_capacity(calls);
    for i in 0..calls {
        let body = serde_json::json!({
            "from": format!("010{i:08}"),
            "to": number,
            "audio": "stamped",
            "seconds": seconds,
            "hangupAfterAudio": true,
            "maxSeconds": seconds + 30.0,
        });
        let resp = http
            .post(format!("{}/_emulator/inbound-calls", emu.base_url()))
            .json(&body)
            .send()
            .await
            .expect("control API");
        let v: serde_json::Value = resp.json().await.expect("JSON");
        ids.push(v["callId"].as_str().unwrap_or_default().to_owned());
    }
    let mut delays = Vec::new();
    let mut lost = 0usize;
    let frames = (seconds * 50.0).round() as usize;
    for id in &ids {
        let v: serde_json::Value = http
            .get(format!(
                "{}/_emulator/calls/{id}/wait?timeoutMs=120000",
                emu.base_url()
            ))
            .send()
            .await
            .expect("control API")
            .json()
            .await
            .expect("JSON");
        let got: Vec<u64> = v["echoDelaysUs"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_u64()).collect())
            .unwrap_or_default();
        lost += frames.saturating_sub(got.len());
        delays.extend(got);
    }
    let cpu = cpu_seconds() - cpu0;
    agent.disconnect().await;
    emu.shutdown().await;
    delays.sort_unstable();
    let pct = |p: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(u64::MAX)
    };
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
    let emulator_mode = std::env::var("AGENT_BENCH_MODE").as_deref() != Ok("runner");
    rt.block_on(async {
        let mode = if emulator_mode {
            "Agent + emulator (control + media WebSockets)"
        } else {
            "CallRunner + minimal media server"
        };
        println!("agent media path, echo session, real-time pacing (20 ms frames), {seconds} s per round, {mode}");
        println!("{:>6} {:>10} {:>10} {:>6} {:>18}", "calls", "p50 µs", "p99 µs", "lost", "CPU ms/call-second");
        let mut sustained = 0;
        let mut calls = 1;
        let mut single = None;
        while calls <= max_calls {
            let r = if emulator_mode {
                emulator_round(calls, seconds).await
            } else {
                round(calls, seconds).await
            };
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
