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
//! - CPU time per call-second, split by side: the SDK (agent or runner) and the load source
//!   (emulator or minimal media server) run on **separate runtimes on separately named threads**
//!   (`clawops-sdk`, `bench-platform`), and each thread's on-CPU time is read from
//!   `/proc/self/task/*/schedstat` (nanoseconds). The `SDK` column is the SDK's own share; `total`
//!   is the whole process.
//!
//! **Floor mode (`AGENT_BENCH_MODE=runner`)**: the standalone [`CallRunner`] against a minimal
//! in-process media server (no control connection, no emulator bookkeeping), to separate the
//! media path's own cost.
//!
//! `cargo bench --bench agent` (set `AGENT_BENCH_MAX_CALLS` / `AGENT_BENCH_SECONDS` to bound it,
//! `AGENT_BENCH_CALLS=200` to run exactly one round of that many calls, and
//! `AGENT_BENCH_SDK_RUNTIME=current` to run the SDK on a current-thread runtime instead of the
//! default multi-thread one; the load source always runs on one current-thread runtime).

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

/// The SDK side's threads (agent or runner) and the load source's threads.
const SDK_THREADS: &str = "clawops-sdk";
const PLATFORM_THREADS: &str = "bench-platform";

/// On-CPU time of this process's threads, in ns: (SDK threads, load-source threads, all).
/// Read from `/proc/self/task/*/schedstat` (Linux); zero elsewhere.
fn cpu_ns() -> (u64, u64, u64) {
    let (mut sdk, mut platform, mut all) = (0, 0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0, 0);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let Ok(stat) = std::fs::read_to_string(path.join("schedstat")) else {
            continue;
        };
        let ns: u64 = stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let comm = comm.trim_end();
        if comm.starts_with(SDK_THREADS) {
            sdk += ns;
        } else if comm.starts_with(PLATFORM_THREADS) {
            platform += ns;
        }
        all += ns;
    }
    (sdk, platform, all)
}

/// A runtime on its own named thread(s), alive until dropped.
struct Side {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Side {
    fn new(name: &'static str, multi_thread: bool) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let rt = if multi_thread {
                    tokio::runtime::Builder::new_multi_thread()
                        .thread_name(name)
                        .enable_all()
                        .build()
                } else {
                    tokio::runtime::Builder::new_current_thread()
                        .thread_name(name)
                        .enable_all()
                        .build()
                }
                .expect("runtime builds");
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                tx.send((rt.handle().clone(), stop)).expect("main waits");
                rt.block_on(async {
                    let _ = stopped.await;
                });
            })
            .expect("thread spawns");
        let (handle, stop) = rx.recv().expect("runtime starts");
        Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Runs `fut` on this side and waits for it from the calling (non-runtime) thread.
    fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        futures::executor::block_on(self.handle.spawn(fut)).expect("bench task panicked")
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Round {
    calls: usize,
    p50_us: u64,
    p99_us: u64,
    lost: usize,
    /// CPU ms per call-second: SDK threads, load-source threads, whole process.
    sdk_ms: f64,
    platform_ms: f64,
    total_ms: f64,
}

impl Round {
    fn new(calls: usize, seconds: f64, mut delays: Vec<u64>, lost: usize, cpu: [u64; 3]) -> Self {
        delays.sort_unstable();
        let pct = |p: f64| {
            delays
                .get(((delays.len() as f64 - 1.0) * p) as usize)
                .copied()
                .unwrap_or(u64::MAX)
        };
        let per = |ns: u64| ns as f64 / 1e6 / (calls as f64 * seconds);
        Round {
            calls,
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            lost,
            sdk_ms: per(cpu[0]),
            platform_ms: per(cpu[1]),
            total_ms: per(cpu[2]),
        }
    }
}

fn cpu_since(start: (u64, u64, u64)) -> [u64; 3] {
    let now = cpu_ns();
    [
        now.0.saturating_sub(start.0),
        now.1.saturating_sub(start.1),
        now.2.saturating_sub(start.2),
    ]
}

/// One round of the standalone runner against the minimal media server.
fn round(sdk: &Side, platform: &Side, calls: usize, seconds: f64) -> Round {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let frames = (seconds * 50.0) as usize;
    let cpu0 = cpu_ns();
    let server = platform.handle.spawn(async move {
        let listener = TcpListener::from_std(listener).unwrap();
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
    sdk.run(async move {
        let mut runners = Vec::new();
        for i in 0..calls {
            let url = format!("ws://{addr}/v1/agent/media/CA{i}?token=bench");
            runners.push(tokio::spawn(async move {
                CallRunner::new(format!("CA{i}"), "01000000000", "07000000000")
                    .run(&url, Box::new(EchoSession::default()))
                    .await
            }));
        }
        for r in runners {
            let _ = r.await;
        }
    });
    let outcomes = futures::executor::block_on(server).unwrap();
    let cpu = cpu_since(cpu0);
    let delays: Vec<u64> = outcomes
        .iter()
        .flat_map(|o| o.delays_us.iter().copied())
        .collect();
    let lost = outcomes.iter().map(|o| o.sent - o.received).sum();
    Round::new(calls, seconds, delays, lost, cpu)
}

/// One round against the emulator: `calls` concurrent inbound calls of `seconds` each. The
/// emulator and the control-API client run on the load-source side, the agent on the SDK side.
fn emulator_round(sdk: &Side, platform: &Side, calls: usize, seconds: f64) -> Round {
    let number = "07012340001";
    let (emu_tx, emu_rx) = tokio::sync::oneshot::channel();
    let (emu_stop, emu_stopped) = tokio::sync::oneshot::channel::<()>();
    let emulator = platform.handle.spawn(async move {
        let config = clawops_emulator::Config::default().with_realtime(true);
        let emu = clawops_emulator::Emulator::start_with(config)
            .await
            .expect("emulator starts");
        let _ = emu_tx.send((
            emu.api_key().to_owned(),
            emu.account_id().to_owned(),
            emu.base_url().to_owned(),
        ));
        let _ = emu_stopped.await;
        emu.shutdown().await;
    });
    let (api_key, account_id, base_url) = futures::executor::block_on(emu_rx).expect("emulator");
    let (agent_tx, agent_rx) = tokio::sync::oneshot::channel();
    let (agent_stop, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let agent_url = base_url.clone();
    let agent = sdk.handle.spawn(async move {
        let agent = Agent::builder(number)
            .api_key(api_key)
            .account_id(account_id)
            .base_url(agent_url)
            .session_factory(EchoSession::default)
            .build()
            .expect("agent builds");
        agent.connect().await.expect("agent connects");
        let _ = agent_tx.send(());
        let _ = agent_stopped.await;
        agent.disconnect().await;
    });
    futures::executor::block_on(agent_rx).expect("agent connected");
    // Built before the measurement: a client loads the platform's root certificates.
    let http = platform.run(async { reqwest::Client::new() });
    let cpu0 = cpu_ns();
    let (delays, lost) = platform.run(async move {
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
                .post(format!("{base_url}/_emulator/inbound-calls"))
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
                    "{base_url}/_emulator/calls/{id}/wait?timeoutMs=120000"
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
        (delays, lost)
    });
    let cpu = cpu_since(cpu0);
    let _ = agent_stop.send(());
    let _ = futures::executor::block_on(agent);
    let _ = emu_stop.send(());
    let _ = futures::executor::block_on(emulator);
    Round::new(calls, seconds, delays, lost, cpu)
}

fn main() {
    let env_num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
    let max_calls = env_num("AGENT_BENCH_MAX_CALLS").map_or(800, |v| v as usize);
    let seconds = env_num("AGENT_BENCH_SECONDS").unwrap_or(3.0);
    let only = env_num("AGENT_BENCH_CALLS").map(|v| v as usize);
    let emulator_mode = std::env::var("AGENT_BENCH_MODE").as_deref() != Ok("runner");
    let sdk_multi = std::env::var("AGENT_BENCH_SDK_RUNTIME").as_deref() != Ok("current");
    let sdk = Side::new(SDK_THREADS, sdk_multi);
    let platform = Side::new(PLATFORM_THREADS, false);
    let mode = if emulator_mode {
        "Agent + emulator (control + media WebSockets)"
    } else {
        "CallRunner + minimal media server"
    };
    let flavor = if sdk_multi {
        "multi-thread"
    } else {
        "current-thread"
    };
    println!(
        "agent media path, echo session, real-time pacing (20 ms frames), {seconds} s per round, {mode}"
    );
    println!(
        "SDK on a {flavor} runtime (threads `{SDK_THREADS}`), load source on one current-thread runtime (`{PLATFORM_THREADS}`)"
    );
    println!(
        "{:>6} {:>10} {:>10} {:>6} {:>14} {:>14} {:>14}",
        "calls", "p50 µs", "p99 µs", "lost", "SDK ms/call-s", "load ms/call-s", "total ms/call-s"
    );
    let mut sustained = 0;
    let mut calls = only.unwrap_or(1);
    let max_calls = only.unwrap_or(max_calls);
    let mut single = None;
    while calls <= max_calls {
        let r = if emulator_mode {
            emulator_round(&sdk, &platform, calls, seconds)
        } else {
            round(&sdk, &platform, calls, seconds)
        };
        println!(
            "{:>6} {:>10} {:>10} {:>6} {:>14.3} {:>14.3} {:>14.3}",
            r.calls, r.p50_us, r.p99_us, r.lost, r.sdk_ms, r.platform_ms, r.total_ms
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
    println!(
        "most concurrent calls sustained without frame lateness (p99 < 20 ms, none lost): {sustained} (tested up to {max_calls})"
    );
}
