//! The `serve()` shutdown state machine, driven by real signals sent to a child process that
//! runs `examples/echo_agent.rs` against an emulator started in the test; and the readiness
//! marker of a killed process.
#![cfg(unix)]

mod agent_common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_common::*;
use clawops_emulator::Emulator;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Builds (if needed) and returns the `echo_agent` example binary.
fn echo_agent_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "-q", "-p", "clawops", "--example", "echo_agent"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building examples/echo_agent.rs failed");
            // target/debug/deps/ops_shutdown-… → target/debug/examples/echo_agent
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().and_then(Path::parent).unwrap();
            dir.join("examples").join("echo_agent")
        })
        .clone()
}

struct Child {
    child: tokio::process::Child,
    pid: u32,
    out: Arc<Mutex<Vec<String>>>,
}

impl Child {
    fn start(emu: &Emulator, ready_file: &Path) -> Self {
        let mut child = tokio::process::Command::new(echo_agent_binary())
            .env("CLAWOPS_API_KEY", emu.api_key())
            .env("CLAWOPS_ACCOUNT_ID", emu.account_id())
            .env("CLAWOPS_BASE_URL", emu.base_url())
            .env("CLAWOPS_FROM", NUMBER)
            .env("CLAWOPS_READY_FILE", ready_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("echo_agent starts");
        let pid = child.id().unwrap();
        let out: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout = child.stdout.take().unwrap();
        let lines = out.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                lines.lock().unwrap().push(line);
            }
        });
        Self { child, pid, out }
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args(["-s", name, &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name}");
    }

    fn lines(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    fn has_line(&self, prefix: &str) -> bool {
        self.lines().iter().any(|l| l.starts_with(prefix))
    }

    /// Waits for the exit and returns the `drained:` line.
    async fn finish(mut self) -> String {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the agent exits")
            .unwrap();
        assert!(
            status.success(),
            "exit status {status:?}: {:?}",
            self.lines()
        );
        // The reader may still be flushing the last line.
        for _ in 0..100 {
            if let Some(l) = self.lines().iter().find(|l| l.starts_with("drained:")) {
                return l.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no drained line: {:?}", self.lines());
    }
}

fn marker_pid(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    text.strip_prefix("pid=")?.split(' ').next()?.parse().ok()
}

async fn agent_listed(emu: &Emulator) -> bool {
    get(emu, "/_emulator/agents").await["data"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

/// Starts the child and waits until it is connected and has written its marker.
async fn ready_child(emu: &Emulator, marker: &Path) -> Child {
    let child = Child::start(emu, marker);
    for _ in 0..1500 {
        if marker_pid(marker) == Some(child.pid) && agent_listed(emu).await {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the child never became ready: {:?}", child.lines());
}

async fn long_call(emu: &Emulator) -> String {
    let id = inbound(
        emu,
        NUMBER,
        json!({"audio": "tone", "seconds": 0.2, "maxSeconds": 120}),
    )
    .await;
    wait_media(emu, &id).await;
    id
}

async fn hang_up(emu: &Emulator, id: &str) {
    let (status, _) = post(emu, &format!("/_emulator/calls/{id}/hangup"), json!({})).await;
    assert_eq!(status, 204);
}

async fn wait_until<F: AsyncFnMut() -> bool>(secs: u64, what: &str, mut f: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_over_keeps_accepting_then_drains_on_the_second() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ready");
    let child = ready_child(&emu, &marker).await;
    let first = long_call(&emu).await;

    // SIGTERM #1: handover. The slot is kept and new calls are still answered.
    child.signal("TERM");
    let second = long_call(&emu).await;
    let view = get(&emu, &format!("/_emulator/calls/{second}")).await;
    assert_eq!(view["accepted"], true);
    assert!(
        agent_listed(&emu).await,
        "the slot is kept during the handover"
    );
    assert_eq!(
        marker_pid(&marker),
        Some(child.pid),
        "still ready while owning the slot"
    );

    // SIGTERM #2: drain. The slot is released; calls in progress continue.
    child.signal("TERM");
    wait_until(10, "slot released", async || !agent_listed(&emu).await).await;
    wait_until(5, "marker removed", async || !marker.exists()).await;
    for id in [&first, &second] {
        let view = get(&emu, &format!("/_emulator/calls/{id}")).await;
        assert_eq!(
            view["endedStatus"],
            serde_json::Value::Null,
            "{id} still up"
        );
    }
    assert!(!child.has_line("drained:"));
    hang_up(&emu, &first).await;
    hang_up(&emu, &second).await;
    assert_eq!(child.finish().await, "drained: 2 completed, 0 cut");
    for id in [&first, &second] {
        assert_eq!(wait_call(&emu, id).await["endedStatus"], "completed");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_sigterm_cuts_the_calls_in_progress() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ready");
    let child = ready_child(&emu, &marker).await;
    let call = long_call(&emu).await;
    child.signal("TERM");
    // Two signals of one kind that arrive before the process reads the first are one signal
    // (Unix does not queue them): give the first time to be taken.
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.signal("TERM");
    wait_until(10, "slot released", async || !agent_listed(&emu).await).await;
    child.signal("TERM");
    assert_eq!(child.finish().await, "drained: 0 completed, 1 cut");
    let view = wait_call(&emu, &call).await;
    assert_eq!(view["endedBy"], "agent");
    assert!(!marker.exists());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_skips_the_handover_and_a_second_one_cuts() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ready");
    let child = ready_child(&emu, &marker).await;
    let call = long_call(&emu).await;
    // SIGINT #1 goes straight to the drain: the slot is released at once (the 20 s handover
    // would keep it).
    child.signal("INT");
    wait_until(10, "slot released", async || !agent_listed(&emu).await).await;
    assert!(!marker.exists());
    let view = get(&emu, &format!("/_emulator/calls/{call}")).await;
    assert_eq!(
        view["endedStatus"],
        serde_json::Value::Null,
        "still up while draining"
    );
    child.signal("INT");
    assert_eq!(child.finish().await, "drained: 0 completed, 1 cut");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retiring_process_never_reconnects_after_a_drop() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ready");
    let child = ready_child(&emu, &marker).await;
    let call = long_call(&emu).await;
    child.signal("TERM"); // lame duck from here on
    // Give the signal time to be taken; a call is still answered, by the same connection.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe_call = long_call(&emu).await;
    hang_up(&emu, &probe_call).await;
    // The connection drops (1006): a retiring process must not come back.
    let (status, _) = post(&emu, &format!("/_emulator/agents/{NUMBER}/drop"), json!({})).await;
    assert_eq!(status, 204);
    wait_until(10, "dropped", async || !agent_listed(&emu).await).await;
    // Longer than the 1 s first backoff, twice over: no new control connection appeared.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(emu.open_control_sockets(), 0);
    assert!(!agent_listed(&emu).await);
    assert!(!child.has_line("drained:"), "still draining its call");
    hang_up(&emu, &call).await;
    assert_eq!(child.finish().await, "drained: 2 completed, 0 cut");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_over_before_sigterm_it_idles_until_the_signal_instead_of_exiting() {
    // The usual order of a rolling deploy: the successor takes the number, then the old
    // process is stopped. Exiting at the takeover would get the container restarted, and the
    // restarted process would take the number back.
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ready");
    let child = ready_child(&emu, &marker).await;
    let call = long_call(&emu).await;
    let successor = agent_builder(&emu, NUMBER)
        .session_factory(clawops::agent::EchoSession::default)
        .ready_file(clawops::agent::ops::ReadyFile::disabled())
        .build()
        .unwrap();
    successor.connect().await.expect("the successor connects");
    wait_until(5, "marker removed", async || !marker.exists()).await;
    // The call in progress still ends by itself; then the process idles, slot-less.
    hang_up(&emu, &call).await;
    assert_eq!(wait_call(&emu, &call).await["endedStatus"], "completed");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!child.has_line("drained:"), "{:?}", child.lines());
    let agents = get(&emu, "/_emulator/agents").await;
    assert_eq!(
        agents["connections"].as_array().map(Vec::len),
        Some(1),
        "{agents}"
    );
    assert!(successor.is_ready());
    child.signal("TERM");
    assert_eq!(child.finish().await, "drained: 1 completed, 0 cut");
    assert!(successor.is_ready(), "the successor keeps the number");
    successor.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_marker_of_a_killed_process_is_removed_before_connecting() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ready");
    let child = ready_child(&emu, &marker).await;
    let old_pid = child.pid;
    // SIGKILL: no cleanup runs; the marker stays behind (as on a shared emptyDir).
    child.signal("KILL");
    let mut child = child;
    let _ = tokio::time::timeout(Duration::from_secs(10), child.child.wait()).await;
    assert_eq!(
        marker_pid(&marker),
        Some(old_pid),
        "stale marker left behind"
    );
    wait_until(10, "old connection gone", async || {
        !agent_listed(&emu).await
    })
    .await;

    // The next process cannot connect for a while: it must not look ready meanwhile.
    assert_eq!(
        put(
            &emu,
            "/_emulator/faults",
            json!({"refuseControlSeconds": 2.5})
        )
        .await,
        200
    );
    let next = Child::start(&emu, &marker);
    wait_until(10, "stale marker removed", async || !marker.exists()).await;
    assert!(
        !agent_listed(&emu).await,
        "removed before the agent connected"
    );
    // Once connected, the marker is written with the new pid.
    wait_until(15, "new marker", async || {
        marker_pid(&marker) == Some(next.pid)
    })
    .await;
    wait_until(5, "agent listed", async || agent_listed(&emu).await).await;
    next.signal("INT");
    assert_eq!(next.finish().await, "drained: 0 completed, 0 cut");
    assert!(!marker.exists());
    emu.shutdown().await;
}
