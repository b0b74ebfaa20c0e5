//! Bounded fuzz run of every in-process parser of network input (issue 12): the generated
//! control/media message enums, REST responses through every generated model with a spec
//! example, the REST client's error-body parsing, and webhook bodies with signature verification.
//! Each input is a valid example with 1–4 hostile mutations (wrong types, huge numbers, deep
//! nesting, invalid UTF-8/base64, unknown fields and values, truncation); see
//! `tests/fuzz_common/mod.rs`. Rules: no panic, a value or a typed error, unknown values kept.
//!
//! `PROPTEST_CASES` sets the inputs per parser (default 2000; the REST models share one budget
//! of that size × 8). The long run is `cargo bench --bench fuzz`.

mod fuzz_common;

use std::sync::LazyLock;

use fuzz_common::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

static TARGETS: LazyLock<Vec<Target>> = LazyLock::new(targets);

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Fuzzes every target whose name starts with `prefix`, `cases` inputs each.
fn fuzz(prefix: &str, cases: u32) {
    let selected: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| t.name.starts_with(prefix))
        .collect();
    assert!(!selected.is_empty(), "no target named {prefix}*");
    for target in selected {
        assert!(!target.seeds.is_empty(), "{} has no seeds", target.name);
        // The seeds themselves: the valid examples parse.
        for seed in &target.seeds {
            assert!(
                matches!(run(target, seed), Outcome::Ok(_)),
                "{}: seed {}",
                target.name,
                String::from_utf8_lossy(seed)
            );
        }
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&input_strategy(), |(pick, ops)| {
            let seed = &target.seeds[pick % target.seeds.len()];
            let input = apply(seed, &ops);
            match run(target, &input) {
                Outcome::Ok(_) => Ok(()),
                Outcome::Broken(why) => Err(TestCaseError::fail(format!(
                    "{}: rule broken: {why}\ninput: {}",
                    target.name,
                    String::from_utf8_lossy(&input)
                ))),
                Outcome::Panic(msg) => Err(TestCaseError::fail(format!(
                    "{}: panic: {msg}\ninput: {}",
                    target.name,
                    String::from_utf8_lossy(&input)
                ))),
            }
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}

#[test]
fn fuzz_control_and_media_frames() {
    fuzz("ws.", cases());
}

#[test]
fn fuzz_rest_models() {
    let models = TARGETS
        .iter()
        .filter(|t| t.name.starts_with("rest."))
        .count() as u32;
    fuzz("rest.", (cases() * 8 / models).max(50));
}

#[test]
fn fuzz_rest_error_bodies() {
    fuzz("rest.error_body", cases());
}

#[test]
fn fuzz_webhook_bodies() {
    fuzz("webhook.", cases());
}

#[test]
fn every_parser_of_the_table_is_fuzzed_here() {
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name.as_str()).collect();
    for required in [
        "ws.ControlEvent",
        "ws.ControlCommand",
        "ws.MediaEvent",
        "ws.MediaCommand",
        "rest.Call",
        "rest.CallList",
        "rest.Message",
        "rest.TranscriptStatus",
        "rest.error_body",
        "webhook.status_callback",
    ] {
        assert!(names.contains(&required), "{required} missing: {names:?}");
    }
    assert!(
        names.iter().all(|n| ["ws.", "rest.", "webhook."]
            .iter()
            .any(|p| n.starts_with(p))),
        "a target no test above runs: {names:?}"
    );
}

#[test]
fn the_mutations_are_hostile() {
    let seed = br#"{"event":"media","media":{"payload":"/w==","timestamp":"5"}}"#;
    // Deep nesting past serde_json's recursion limit is a typed error, not a stack overflow.
    let deep = apply(seed, &[Op::WrapDeep(2999)]);
    assert_eq!(deep.len(), seed.len() + 2 * 2999);
    assert!(serde_json::from_slice::<serde_json::Value>(&deep).is_err());
    // Raw text a `Value` cannot hold: a 2^128 integer and 1e400.
    let huge = apply(seed, &[Op::Replace(3, Hostile::HugeInt)]);
    assert!(String::from_utf8_lossy(&huge).contains("340282366920938463463374607431768211456"));
    let added = apply(seed, &[Op::AddField(0, 9, Hostile::UnknownString)]);
    assert!(
        String::from_utf8_lossy(&added).contains(r#""zz_unknown_field":"zz-fuzz-unknown-value""#)
    );
    let invalid = apply(seed, &[Op::Insert(3, 0)]);
    assert!(std::str::from_utf8(&invalid).is_err());
    let truncated = apply(seed, &[Op::Truncate(32767)]);
    assert!(truncated.len() < seed.len() && seed.starts_with(&truncated));
    // An unknown frame is kept verbatim (the rule the checks enforce).
    let unknown = br#"{"event":"media.teleported","x":[1,{"y":null}]}"#;
    assert_eq!(
        run(&TARGETS[2], unknown),
        Outcome::Ok(Verdict::Value),
        "{}",
        TARGETS[2].name
    );
}

/// Inputs the long run (`benches/fuzz.rs`) flagged, kept as regression inputs: integers beyond
/// 64 bits and large floats in unknown frames (kept exactly: `float_roundtrip`).
#[test]
fn findings_of_the_long_run_stay_fixed() {
    for input in [
        "34028236692093846346",
        r#"{"event":3.3028236692093846e+38,"reason":"busy"}"#,
        "340282366620938463463374607431768211456",
        "3.4028236692093846e+19",
    ] {
        for target in TARGETS.iter().filter(|t| t.name.starts_with("ws.")) {
            assert_eq!(
                run(target, input.as_bytes()),
                Outcome::Ok(Verdict::Value),
                "{} on {input}",
                target.name
            );
        }
    }
}
