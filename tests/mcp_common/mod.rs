//! Helpers of the MCP and tracing tests: the workspace's `mcp-test-server` binary (stdio or
//! Streamable HTTP), and a session that calls tools like a model would and records exactly
//! the text each result would send to the model.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use clawops::agent::{
    AgentError, CallHandle, DtmfInput, Role, Session, SessionEvent, SessionTools,
};
use clawops::api::events::{CallTelemetryData, TelemetryModelInfo};
use tokio::io::AsyncBufReadExt;
use tokio::task::JoinSet;

/// The `mcp-test-server` binary of this workspace, built once per test process (a no-op when
/// it is fresh; `cargo test --workspace` builds it anyway).
pub fn server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test exe");
        // target/<profile>/deps/<test> → target/<profile>/mcp-test-server
        let dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target dir")
            .to_path_buf();
        let bin = dir.join(format!("mcp-test-server{}", std::env::consts::EXE_SUFFIX));
        if !is_fresh(&bin) {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "--quiet", "-p", "mcp-test-server"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building mcp-test-server failed");
        }
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
    .clone()
}

/// Whether `bin` exists and is newer than the server's sources (skips a nested cargo run,
/// which waits for the build lock while other builds run).
fn is_fresh(bin: &std::path::Path) -> bool {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(bin) else {
        return false;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp-test-server");
    ["src/main.rs", "Cargo.toml"]
        .iter()
        .all(|f| modified(&root.join(f)).is_some_and(|m| m <= built))
}

/// `mcp-test-server --http 127.0.0.1:0 --require-header name=value` running until dropped.
pub struct HttpServer {
    pub url: String,
    child: tokio::process::Child,
}

impl HttpServer {
    pub async fn start(header: (&str, &str)) -> Self {
        let mut child = tokio::process::Command::new(server_bin())
            .args([
                "--http",
                "127.0.0.1:0",
                "--require-header",
                &format!("{}={}", header.0, header.1),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        tokio::io::BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("listening line");
        let url = line
            .trim()
            .strip_prefix("listening ")
            .expect("listening line")
            .to_owned();
        Self { url, child }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Whether process `pid` still exists (a zombie counts: it was not reaped).
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// One tool call a [`ModelSession`] makes: (name, raw JSON arguments).
pub type Step = (&'static str, String);

/// What the model would have received: (tool name, exact result text), in order.
pub type Results = Arc<Mutex<Vec<(String, String)>>>;

/// A session that, once bound, calls its tools in order through the injected
/// [`SessionTools`] (as a provider does on a model's function call), records each result's
/// model text, says it as an assistant transcript, then hangs up.
pub struct ModelSession {
    steps: Vec<Step>,
    probe: Probe,
    tools: Mutex<SessionTools>,
    tasks: Mutex<JoinSet<()>>,
}

/// What the sessions of one test observed.
#[derive(Clone, Default)]
pub struct Probe {
    /// (tool, exact model text) in order.
    pub results: Results,
    /// Tool names of every `set_tools`, in offer order.
    pub offered: Arc<Mutex<Vec<Vec<String>>>>,
    /// `set_tools:<n>`, `prewarm`, `attach` in the order they happened.
    pub lifecycle: Arc<Mutex<Vec<String>>>,
}

impl ModelSession {
    pub fn new(steps: Vec<Step>, probe: Probe) -> Self {
        Self {
            steps,
            probe,
            tools: Mutex::new(SessionTools::default()),
            tasks: Mutex::new(JoinSet::new()),
        }
    }
}

#[async_trait]
impl Session for ModelSession {
    fn set_tools(&self, tools: SessionTools) {
        let names: Vec<String> = tools.specs().into_iter().map(|s| s.name).collect();
        self.probe
            .lifecycle
            .lock()
            .unwrap()
            .push(format!("set_tools:{}", names.len()));
        self.probe.offered.lock().unwrap().push(names);
        *self.tools.lock().unwrap() = tools;
    }

    async fn prewarm(&self, _stand_in: CallHandle) -> Result<(), AgentError> {
        self.probe.lifecycle.lock().unwrap().push("prewarm".into());
        Ok(())
    }

    async fn attach(&self, call: CallHandle) -> Result<(), AgentError> {
        self.probe.lifecycle.lock().unwrap().push("attach".into());
        let tools = self.tools.lock().unwrap().clone();
        let steps = self.steps.clone();
        let results = self.probe.results.clone();
        self.tasks.lock().unwrap().spawn(async move {
            for (name, args) in steps {
                let out = tools.dispatch(call.as_ref(), name, &args).await;
                let text = out.model_text().unwrap_or_default();
                results
                    .lock()
                    .unwrap()
                    .push((name.to_owned(), text.clone()));
                call.emit(SessionEvent::Transcript {
                    role: Role::Assistant,
                    text: format!("{name} -> {text}"),
                });
            }
            call.hangup().await;
        });
        Ok(())
    }

    async fn feed_audio(&self, _ulaw: Bytes, _timestamp_ms: u64) {}

    async fn feed_dtmf(&self, _digits: DtmfInput) {}

    fn telemetry(&self) -> Option<CallTelemetryData> {
        Some(CallTelemetryData {
            builtin_tools: Vec::new(),
            greeting_enabled: false,
            language: "ko".into(),
            llm: Some(TelemetryModelInfo {
                model: Some("scripted-model".into()),
                provider: Some("test".into()),
            }),
            mcp_server_count: 0,
            recording_enabled: false,
            session_type: "scripted".into(),
            stt: None,
            tool_count: 0,
            tts: None,
            voice: Some("alloy".into()),
        })
    }

    async fn stop(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}
