//! Bounded fuzz run of the provider parsers added after the first harness (issue 12): Gemini
//! Live server frames, Deepgram STT frames, ElevenLabs TTS frames, the SSE streams of the three
//! LLM wire protocols (OpenAI-compatible, Anthropic, Gemini text) and MCP tool results. None has
//! a public parse function, so each is fed through its public surface by a fake provider server
//! on loopback (`tests/fuzz_net/mod.rs`; MCP: a fake Streamable HTTP MCP server behind a real
//! agent call on the emulator). After every batch of 100 a sentinel must still be answered
//! (the provider works), so a panic, a dead reader task or a hang fails the test.
//!
//! `PROPTEST_CASES` / 4 inputs per parser (default 500, as `tests/fuzz_sockets.rs`);
//! `FUZZ_SEED` fixes the mutations (printed on failure). The long run is `cargo bench --bench
//! fuzz --all-features`.
#![cfg(any(
    feature = "gemini",
    feature = "deepgram",
    feature = "elevenlabs",
    feature = "openai-compatible",
    feature = "anthropic",
    feature = "mcp"
))]

mod fuzz_common;
mod fuzz_net;

#[cfg(feature = "mcp")]
mod agent_common;
#[cfg(feature = "mcp")]
mod mcp_common;

const BATCH: usize = 100;

fn cases() -> usize {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map(|c| c / 4)
        .unwrap_or(500)
        .max(20)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

/// Runs a driver and reports the seed with any failure.
async fn check<F: std::future::Future<Output = Result<fuzz_net::Tally, String>>>(
    name: &str,
    seed: u64,
    n: usize,
    run: F,
) {
    match run.await {
        Ok(t) => {
            eprintln!("{name}: {t:?} (FUZZ_SEED={seed})");
            assert_eq!(t.inputs as usize, n, "{name}: every input delivered");
            assert_eq!(t.sentinels as usize, n.div_ceil(BATCH), "{name}: sentinels");
        }
        Err(e) => panic!("{name} (FUZZ_SEED={seed}): {e}"),
    }
}

#[cfg(feature = "gemini")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_gemini_live_server_frames() {
    let (seed, seeds) = (seed(), fuzz_net::gemini_seeds());
    let frames: Vec<Vec<u8>> = fuzz_net::inputs(&seeds, cases(), seed)
        .into_iter()
        .filter(|f| !String::from_utf8_lossy(f).contains("goAway"))
        .collect();
    let n = frames.len();
    check("gemini.live", seed, n, fuzz_net::gemini(&frames, BATCH)).await;
}

#[cfg(feature = "deepgram")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_deepgram_stt_frames() {
    let (seed, seeds) = (seed(), fuzz_net::deepgram_seeds());
    let frames = fuzz_net::inputs(&seeds, cases(), seed);
    let n = frames.len();
    check("deepgram.stt", seed, n, fuzz_net::deepgram(&frames, BATCH)).await;
}

#[cfg(feature = "elevenlabs")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_elevenlabs_tts_frames() {
    let (seed, seeds) = (seed(), fuzz_net::elevenlabs_seeds());
    let frames = fuzz_net::inputs(&seeds, cases(), seed);
    let n = frames.len();
    check(
        "elevenlabs.tts",
        seed,
        n,
        fuzz_net::elevenlabs(&frames, BATCH),
    )
    .await;
}

#[cfg(any(
    feature = "openai-compatible",
    feature = "anthropic",
    feature = "gemini"
))]
async fn fuzz_sse(kind: fuzz_net::Sse) {
    let seed = seed();
    let docs = fuzz_net::inputs(&kind.seeds(), cases(), seed);
    let n = docs.len();
    check(
        kind.name(),
        seed,
        n,
        fuzz_net::sse(kind, &docs, BATCH, seed),
    )
    .await;
}

#[cfg(feature = "openai-compatible")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_openai_compatible_sse_stream() {
    fuzz_sse(fuzz_net::Sse::OpenAi).await;
}

#[cfg(feature = "anthropic")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_anthropic_sse_stream() {
    fuzz_sse(fuzz_net::Sse::Anthropic).await;
}

#[cfg(feature = "gemini")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_gemini_text_sse_stream() {
    fuzz_sse(fuzz_net::Sse::Gemini).await;
}

// ----- MCP tool results -------------------------------------------------------------------------

#[cfg(feature = "mcp")]
mod mcp {
    use std::sync::Arc;
    use std::time::Duration;

    use super::agent_common::{EventLog, NUMBER, agent_builder, emulator, eventually, inbound};
    use super::mcp_common::{ModelSession, Probe, Step};
    use super::{BATCH, cases, fuzz_net, seed};
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use clawops::mcp::McpServer;
    use serde_json::{Value, json};

    /// Real `tools/call` results (shapes of tests/mcp.rs and the MCP spec).
    fn seeds() -> Vec<Vec<u8>> {
        [
            json!({"content":[{"type":"text","text":"order A-1: shipped"}]}),
            json!({"content":[{"type":"text","text":"quota exceeded"}],"isError":true}),
            json!({"content":[{"type":"text","text":"첫째"},{"type":"image","data":"iVBORw0KGgo=","mimeType":"image/png"},{"type":"text","text":"둘째"}]}),
            json!({"content":[{"type":"resource","resource":{"uri":"file:///a.txt","mimeType":"text/plain","text":"a"}},{"type":"audio","data":"UklGRg==","mimeType":"audio/wav"}]}),
            json!({"content":[{"type":"resource_link","uri":"file:///b","name":"b"}],"structuredContent":{"order":"A-1","status":"shipped"},"_meta":{"x":1}}),
            json!({"content":[]}),
        ]
        .iter()
        .map(|v| v.to_string().into_bytes())
        .collect()
    }

    /// A fake Streamable HTTP MCP server (JSON responses, no session id): `initialize`,
    /// `tools/list` with one tool, and `tools/call` answering `{"i": k}` with raw result `k` and
    /// `{"s": b}` with the sentinel text `sentinel-b`.
    async fn fake_server(results: Arc<Vec<Vec<u8>>>) -> (String, tokio::task::JoinHandle<()>) {
        async fn post(
            axum::extract::State(results): axum::extract::State<Arc<Vec<Vec<u8>>>>,
            _headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            let Ok(req) = serde_json::from_slice::<Value>(&body) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            let Some(id) = req.get("id") else {
                return StatusCode::ACCEPTED.into_response(); // a notification
            };
            let id = id.to_string();
            let result: Vec<u8> = match req["method"].as_str().unwrap_or_default() {
                "initialize" => json!({
                    "protocolVersion": req["params"]["protocolVersion"].clone(),
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "fuzz-mcp", "version": "1.0.0"}
                })
                .to_string()
                .into_bytes(),
                "tools/list" => {
                    json!({"tools": [{"name": "fuzz_tool", "description": "fuzzed results",
                    "inputSchema": {"type": "object"}}]})
                    .to_string()
                    .into_bytes()
                }
                "tools/call" => {
                    let args = &req["params"]["arguments"];
                    if let Some(b) = args["s"].as_u64() {
                        json!({"content":[{"type":"text","text":format!("sentinel-{b}")}]})
                            .to_string()
                            .into_bytes()
                    } else {
                        let k = args["i"].as_u64().unwrap_or(0) as usize;
                        results.get(k).cloned().unwrap_or_default()
                    }
                }
                _ => b"{}".to_vec(),
            };
            let mut out = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"#).into_bytes();
            out.extend_from_slice(&result);
            out.push(b'}');
            ([("content-type", "application/json")], out).into_response()
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route(
                "/mcp",
                axum::routing::post(post)
                    .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
                    .delete(|| async { StatusCode::OK }),
            )
            .with_state(results);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, task)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fuzz_mcp_tool_results() {
        let seed = seed();
        let results = Arc::new(fuzz_net::inputs(&seeds(), cases(), seed));
        let n = results.len();
        let (url, server) = fake_server(Arc::clone(&results)).await;
        // One call: every fuzzed result, and after each batch a sentinel call whose exact
        // text must reach the model (the MCP connection still works).
        let mut steps: Vec<Step> = Vec::new();
        let mut sentinels = Vec::new();
        for (b, start) in (0..n).step_by(BATCH).enumerate() {
            for i in start..(start + BATCH).min(n) {
                steps.push(("fuzz_tool", json!({"i": i}).to_string()));
            }
            sentinels.push((steps.len(), format!("sentinel-{b}")));
            steps.push(("fuzz_tool", json!({"s": b}).to_string()));
        }
        let total = steps.len();
        let emu = emulator().await;
        let probe = Probe::default();
        let log = EventLog::default();
        let p = probe.clone();
        let agent = log
            .attach(agent_builder(&emu, NUMBER))
            .session_factory(move || ModelSession::new(steps.clone(), p.clone()))
            .mcp_server(
                McpServer::http(url, [("x-fuzz", "1")]).call_timeout(Duration::from_secs(5)),
            )
            .build()
            .expect("agent builds");
        agent.connect().await.expect("agent connects");
        let id = inbound(&emu, NUMBER, json!({"seconds": 120, "maxSeconds": 180})).await;
        eventually(170, "call_end", || {
            log.of(&id).iter().any(|e| e == "call_end")
        })
        .await;
        agent.disconnect().await;
        let got = probe.results.lock().unwrap().clone();
        assert_eq!(
            got.len(),
            total,
            "FUZZ_SEED={seed}: every tool call answered"
        );
        for (k, text) in &sentinels {
            assert_eq!(
                got[*k],
                ("fuzz_tool".to_owned(), text.clone()),
                "FUZZ_SEED={seed}: sentinel at step {k}"
            );
        }
        let errors = got.iter().filter(|(_, t)| t.starts_with("MCP ")).count();
        eprintln!(
            "mcp.tool_result: {n} inputs, {} texts, {errors} MCP errors (FUZZ_SEED={seed})",
            total - errors
        );
        if std::env::var_os("FUZZ_VERBOSE").is_some() {
            let mut kinds: Vec<String> = got
                .iter()
                .map(|(_, t)| t.chars().take(400).collect())
                .collect();
            kinds.sort();
            kinds.dedup();
            eprintln!("{}", kinds.join("\n"));
        }
        let timeouts = got.iter().filter(|(_, t)| t.contains("timed out")).count();
        assert_eq!(
            timeouts, 0,
            "FUZZ_SEED={seed}: results that never came back"
        );
        server.abort();
        assert_eq!(agent.task_count(), 0);
        emu.shutdown().await;
    }
}
