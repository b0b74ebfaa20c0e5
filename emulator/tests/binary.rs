//! The `clawops-emulator` binary: one JSON line on start, serves, exits cleanly on SIGTERM/SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn run_and_signal(signal: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clawops-emulator"))
        .args([
            "--port",
            "0",
            "--api-key",
            "sk_test_bin",
            "--account-id",
            "ACbin",
            "--fast",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let info: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(info["api_key"], "sk_test_bin");
    assert_eq!(info["account_id"], "ACbin");
    let base = info["base_url"].as_str().expect("base_url").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_eq!(info.as_object().map(|o| o.len()), Some(3));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{base}/v1/accounts/ACbin/numbers"))
            .bearer_auth("sk_test_bin")
            .send()
            .await
            .expect("REST reachable")
            .status()
    });
    assert_eq!(status, 200);

    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "clean exit on {signal}: {exit:?}");
}

#[test]
#[cfg(unix)]
fn prints_one_json_line_serves_and_exits_on_sigterm() {
    run_and_signal("-TERM");
}

#[test]
#[cfg(unix)]
fn exits_cleanly_on_sigint() {
    run_and_signal("-INT");
}
