//! The long fuzz run (issue 12): every in-process parser of `tests/fuzz_common/mod.rs` with
//! random hostile mutations of valid inputs; prints inputs/s, values, typed errors, broken rules
//! and panics per parser. Target: 10 million inputs, 0 panics, 0 broken rules.
//!
//! ```sh
//! cargo bench --bench fuzz                       # 10 000 000 inputs over all parsers
//! cargo bench --bench fuzz -- 500000             # another total
//! FUZZ_SECONDS=600 FUZZ_SEED=7 cargo bench --bench fuzz   # stop after 10 min; fixed seed
//! ```
//!
//! Exits 1 when any input panicked or broke a rule (the first such input of each parser is
//! written to `target/fuzz-failures/`).
//!
//! With the provider features on (`cargo bench --bench fuzz --all-features`) a second phase
//! fuzzes the provider parsers that are only reachable through a socket (Gemini Live, Deepgram,
//! ElevenLabs, the LLM SSE streams; `tests/fuzz_net/mod.rs`): fake servers on loopback, a
//! sentinel after every 100 inputs, rounds of `FUZZ_ROUND` inputs (default 10 000) until the
//! parser's share of the total (or of `FUZZ_SECONDS`) is used. Panics anywhere (also in a
//! provider's reader task) are counted by the panic hook; a dead or wedged provider counts as
//! broken and ends that parser's run. MCP results are fuzzed by `tests/fuzz_providers.rs` only
//! (they need the emulator and an agent).

#[path = "../tests/fuzz_common/mod.rs"]
mod fuzz_common;
#[path = "../tests/fuzz_net/mod.rs"]
mod fuzz_net;

use std::sync::atomic::{AtomicU64, Ordering};

use std::time::{Duration, Instant};

use fuzz_common::{Op, Outcome, Verdict, apply, run, targets};

#[derive(Default)]
struct Tally {
    inputs: u64,
    values: u64,
    errors: u64,
    broken: u64,
    panics: u64,
    elapsed: Duration,
    first_failure: Option<String>,
}

fn main() {
    let total: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(10_000_000);
    let seconds: Option<u64> = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    // Panics are counted (socket phase: also inside provider tasks), not printed.
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, Ordering::Relaxed);
    }));

    let targets = targets();
    let sockets = socket_targets();
    let parsers = (targets.len() + sockets.len()) as u64;
    let per_target = total.div_ceil(parsers);
    let budget_each = seconds.map(|s| Duration::from_secs(s) / parsers as u32);
    println!(
        "fuzz: {} parsers ({} through sockets), {per_target} inputs each (total {total}), seed {seed}{}",
        parsers,
        sockets.len(),
        budget_each
            .map(|b| format!(", ≤ {:.1} s each", b.as_secs_f64()))
            .unwrap_or_default()
    );
    let failures_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut all = Tally::default();
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>7} {:>7} {:>12}",
        "parser", "inputs", "values", "errors", "broken", "panics", "inputs/s"
    );
    for target in &targets {
        let mut t = Tally::default();
        let begin = Instant::now();
        let mut ops = Vec::with_capacity(4);
        while t.inputs < per_target {
            if let Some(b) = budget_each
                && t.inputs % 1024 == 0
                && begin.elapsed() >= b
            {
                break;
            }
            ops.clear();
            for _ in 0..rng.usize(1..5) {
                ops.push(Op::random(&mut rng));
            }
            let seed_input = &target.seeds[rng.usize(..target.seeds.len())];
            let input = apply(seed_input, &ops);
            t.inputs += 1;
            match run(target, &input) {
                Outcome::Ok(Verdict::Value) => t.values += 1,
                Outcome::Ok(Verdict::Error) => t.errors += 1,
                other => {
                    let why = match other {
                        Outcome::Panic(why) => {
                            t.panics += 1;
                            format!("panic: {why}")
                        }
                        Outcome::Broken(why) => {
                            t.broken += 1;
                            why
                        }
                        Outcome::Ok(_) => unreachable!(),
                    };
                    if t.first_failure.is_none() {
                        t.first_failure = Some(why);
                        let _ = std::fs::create_dir_all(&failures_dir);
                        let _ = std::fs::write(
                            failures_dir.join(format!("{}.bin", target.name)),
                            &input,
                        );
                    }
                }
            }
        }
        t.elapsed = begin.elapsed();
        println!(
            "{:<44} {:>10} {:>10} {:>10} {:>7} {:>7} {:>12.0}",
            target.name,
            t.inputs,
            t.values,
            t.errors,
            t.broken,
            t.panics,
            t.inputs as f64 / t.elapsed.as_secs_f64().max(1e-9)
        );
        if let Some(why) = &t.first_failure {
            println!(
                "    first failure: {}",
                why.chars().take(300).collect::<String>()
            );
        }
        all.inputs += t.inputs;
        all.values += t.values;
        all.errors += t.errors;
        all.broken += t.broken;
        all.panics += t.panics;
    }
    if !sockets.is_empty() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        for (name, seeds, drive) in &sockets {
            let begin = Instant::now();
            let panics_before = PANICS.load(Ordering::Relaxed);
            let mut t = Tally::default();
            let round: u64 = std::env::var("FUZZ_ROUND")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(10_000);
            while t.inputs < per_target && budget_each.is_none_or(|b| begin.elapsed() < b) {
                let n = round.min(per_target - t.inputs) as usize;
                let round_seed = rng.u64(..);
                let inputs = fuzz_net::inputs(seeds, n, round_seed);
                match rt.block_on(drive(inputs, round_seed)) {
                    Ok(r) => {
                        t.inputs += r.inputs;
                        t.values += r.values;
                        t.errors += r.errors;
                    }
                    Err(why) => {
                        t.inputs += n as u64;
                        t.broken += 1;
                        t.first_failure = Some(format!("round seed {round_seed}: {why}"));
                        break;
                    }
                }
            }
            t.panics = PANICS.load(Ordering::Relaxed) - panics_before;
            t.elapsed = begin.elapsed();
            println!(
                "{:<44} {:>10} {:>10} {:>10} {:>7} {:>7} {:>12.0}",
                name,
                t.inputs,
                t.values,
                t.errors,
                t.broken,
                t.panics,
                t.inputs as f64 / t.elapsed.as_secs_f64().max(1e-9)
            );
            if let Some(why) = &t.first_failure {
                println!(
                    "    first failure: {}",
                    why.chars().take(300).collect::<String>()
                );
            }
            all.inputs += t.inputs;
            all.values += t.values;
            all.errors += t.errors;
            all.broken += t.broken;
            all.panics += t.panics;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>7} {:>7} {:>12.0}",
        "TOTAL",
        all.inputs,
        all.values,
        all.errors,
        all.broken,
        all.panics,
        all.inputs as f64 / secs
    );
    println!("fuzz: {:.1} s, seed {seed}", secs);
    if all.broken + all.panics > 0 {
        std::process::exit(1);
    }
}

/// Panics seen by the hook (in-process targets catch theirs; this also sees provider tasks).
static PANICS: AtomicU64 = AtomicU64::new(0);

type Run = std::pin::Pin<Box<dyn std::future::Future<Output = Result<fuzz_net::Tally, String>>>>;
/// Runs one round: the inputs and the round's seed.
type Drive = fn(Vec<Vec<u8>>, u64) -> Run;

#[allow(dead_code)]
const BATCH: usize = 100;

/// Socket-only provider parsers of this build: (name, seeds, driver). Values/errors are only
/// counted for the SSE streams (one HTTP response per input); frame parsers count inputs.
fn socket_targets() -> Vec<(&'static str, Vec<Vec<u8>>, Drive)> {
    #[allow(unused_mut)]
    let mut out: Vec<(&'static str, Vec<Vec<u8>>, Drive)> = Vec::new();
    #[cfg(feature = "gemini")]
    {
        fn drive(f: Vec<Vec<u8>>, _: u64) -> Run {
            Box::pin(async move { fuzz_net::gemini(&f, BATCH).await })
        }
        out.push(("gemini.live (socket)", fuzz_net::gemini_seeds(), drive));
    }
    #[cfg(feature = "deepgram")]
    {
        fn drive(f: Vec<Vec<u8>>, _: u64) -> Run {
            Box::pin(async move { fuzz_net::deepgram(&f, BATCH).await })
        }
        out.push(("deepgram.stt (socket)", fuzz_net::deepgram_seeds(), drive));
    }
    #[cfg(feature = "elevenlabs")]
    {
        fn drive(f: Vec<Vec<u8>>, _: u64) -> Run {
            Box::pin(async move { fuzz_net::elevenlabs(&f, BATCH).await })
        }
        out.push((
            "elevenlabs.tts (socket)",
            fuzz_net::elevenlabs_seeds(),
            drive,
        ));
    }
    #[cfg(feature = "openai-compatible")]
    {
        fn drive(f: Vec<Vec<u8>>, s: u64) -> Run {
            Box::pin(async move { fuzz_net::sse(fuzz_net::Sse::OpenAi, &f, BATCH, s).await })
        }
        out.push((
            "sse.openai_compatible (socket)",
            fuzz_net::Sse::OpenAi.seeds(),
            drive,
        ));
    }
    #[cfg(feature = "anthropic")]
    {
        fn drive(f: Vec<Vec<u8>>, s: u64) -> Run {
            Box::pin(async move { fuzz_net::sse(fuzz_net::Sse::Anthropic, &f, BATCH, s).await })
        }
        out.push((
            "sse.anthropic (socket)",
            fuzz_net::Sse::Anthropic.seeds(),
            drive,
        ));
    }
    #[cfg(feature = "gemini")]
    {
        fn drive(f: Vec<Vec<u8>>, s: u64) -> Run {
            Box::pin(async move { fuzz_net::sse(fuzz_net::Sse::Gemini, &f, BATCH, s).await })
        }
        out.push(("sse.gemini (socket)", fuzz_net::Sse::Gemini.seeds(), drive));
    }
    out
}
