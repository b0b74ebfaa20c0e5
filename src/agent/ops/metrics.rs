//! Prometheus metrics of one agent, served as text on the health port at `/metrics`.
//!
//! Built on `prometheus-client` (the Prometheus project's own Rust client): the registry is an
//! object owned by the agent, not a process-global recorder, so a library never installs a
//! global the application may want for itself, and two agents in one process (or two tests)
//! keep separate counts.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

/// Every metric name the page shows (all prefixed `clawops_agent_`).
pub const METRIC_NAMES: &[&str] = &[
    "clawops_agent_ready",
    "clawops_agent_active_calls",
    "clawops_agent_calls_ended_total",
    "clawops_agent_control_reconnects_total",
    "clawops_agent_takeovers_total",
    "clawops_agent_frames_late_total",
    "clawops_agent_tool_calls_total",
    "clawops_agent_tool_errors_total",
    "clawops_agent_time_to_first_audio_seconds",
];

/// A caller audio frame counts as late when it reaches the session more than this far behind
/// the media clock (relative to the earliest frame of the call).
pub const FRAME_LATE_THRESHOLD: Duration = Duration::from_millis(20);

type Labels = Vec<(String, String)>;

/// The agent's metrics.
pub(crate) struct AgentMetrics {
    registry: Registry,
    ready: Gauge,
    active_calls: Gauge,
    calls_ended: Family<Labels, Counter>,
    reconnects: Counter,
    takeovers: Family<Labels, Counter>,
    frames_late: Counter,
    tool_calls: Counter,
    tool_errors: Counter,
    first_audio: Histogram,
    render: Mutex<()>,
}

impl std::fmt::Debug for AgentMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentMetrics").finish_non_exhaustive()
    }
}

impl AgentMetrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("clawops_agent");
        let ready = Gauge::default();
        let active_calls = Gauge::default();
        let calls_ended = Family::<Labels, Counter>::default();
        let reconnects = Counter::default();
        let takeovers = Family::<Labels, Counter>::default();
        let frames_late = Counter::default();
        let tool_calls = Counter::default();
        let tool_errors = Counter::default();
        let first_audio = Histogram::new([0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]);
        // Known kinds start at 0, so `increase()` works from the first takeover on.
        for kind in ["replaced", "ownership_lost", "retired"] {
            let _ = takeovers.get_or_create(&vec![("kind".to_owned(), kind.to_owned())]);
        }
        registry.register(
            "ready",
            "1 while connected and owning the number's slot",
            ready.clone(),
        );
        registry.register("active_calls", "Calls in progress", active_calls.clone());
        registry.register(
            "calls_ended",
            "Calls ended, by final status (completed, no-answer, busy, ..., unknown)",
            calls_ended.clone(),
        );
        registry.register(
            "control_reconnects",
            "Control connections re-established after a drop",
            reconnects.clone(),
        );
        registry.register(
            "takeovers",
            "Slot takeovers by kind (replaced, ownership_lost, retired)",
            takeovers.clone(),
        );
        registry.register(
            "frames_late",
            "Caller audio frames that reached the session more than 20 ms behind the media clock (counted when the call ends)",
            frames_late.clone(),
        );
        registry.register(
            "tool_calls",
            "Tool executions (counted when the call ends)",
            tool_calls.clone(),
        );
        registry.register(
            "tool_errors",
            "Tool executions that failed (counted when the call ends)",
            tool_errors.clone(),
        );
        registry.register(
            "time_to_first_audio_seconds",
            "Time from the call object's creation to the first agent audio",
            first_audio.clone(),
        );
        Self {
            registry,
            ready,
            active_calls,
            calls_ended,
            reconnects,
            takeovers,
            frames_late,
            tool_calls,
            tool_errors,
            first_audio,
            render: Mutex::new(()),
        }
    }

    pub(crate) fn reconnected(&self, n: u64) {
        self.reconnects.inc_by(n);
    }

    pub(crate) fn taken_over(&self, kind: &str) {
        self.takeovers
            .get_or_create(&vec![("kind".to_owned(), kind.to_owned())])
            .inc();
    }

    /// A call left the agent: its final status and per-call counters.
    pub(crate) fn call_ended(&self, status: &str, metrics: &crate::agent::CallMetrics) {
        self.calls_ended
            .get_or_create(&vec![("status".to_owned(), status.to_owned())])
            .inc();
        self.tool_calls.inc_by(u64::from(metrics.tool_calls));
        self.tool_errors.inc_by(u64::from(metrics.tool_errors));
        self.frames_late.inc_by(u64::from(metrics.frames_late));
        if let Some(d) = metrics.time_to_first_audio {
            self.first_audio.observe(d.as_secs_f64());
        }
    }

    /// The Prometheus text page, with the live gauges set first.
    pub(crate) fn render(&self, ready: bool, active_calls: usize) -> String {
        let _one_at_a_time = crate::sync::lock(&self.render);
        self.ready.set(i64::from(ready));
        self.active_calls
            .set(i64::try_from(active_calls).unwrap_or(i64::MAX));
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Detects caller audio frames that reach the session late: a frame is late when the wall
/// clock since the call's first frame runs ahead of the media clock (`timestamp` since the
/// first frame) by more than [`FRAME_LATE_THRESHOLD`] beyond the smallest such lag seen so far
/// (so network delay that is constant is not counted, only jitter and local backlog).
#[derive(Debug, Default)]
pub struct LateFrames {
    first: Option<(Instant, u64)>,
    best_lag_ms: Option<i64>,
}

impl LateFrames {
    /// A detector for one call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one frame (media `timestamp` in ms) arriving now; returns whether it is late.
    pub fn on_frame(&mut self, timestamp_ms: u64) -> bool {
        self.on_frame_at(timestamp_ms, Instant::now())
    }

    /// [`on_frame`](Self::on_frame) with an explicit arrival time.
    pub fn on_frame_at(&mut self, timestamp_ms: u64, now: Instant) -> bool {
        let (t0, ts0) = *self.first.get_or_insert((now, timestamp_ms));
        let wall = i64::try_from(now.saturating_duration_since(t0).as_millis()).unwrap_or(i64::MAX);
        let media = i64::try_from(timestamp_ms.saturating_sub(ts0)).unwrap_or(i64::MAX);
        let lag = wall.saturating_sub(media);
        let best = *self.best_lag_ms.get_or_insert(lag);
        if lag < best {
            self.best_lag_ms = Some(lag);
            return false;
        }
        lag - best > FRAME_LATE_THRESHOLD.as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_frames_count_only_jitter_beyond_one_frame() {
        let t0 = Instant::now();
        let mut late = LateFrames::new();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(!late.on_frame_at(1000, at(0)));
        assert!(!late.on_frame_at(1020, at(20)));
        assert!(!late.on_frame_at(1040, at(50))); // 10 ms jitter
        assert!(late.on_frame_at(1060, at(95))); // 35 ms behind
        assert!(!late.on_frame_at(1080, at(80))); // caught up (early burst)
        // Faster than real time (a fast emulator) is never late.
        let mut fast = LateFrames::new();
        for i in 0..100 {
            assert!(!fast.on_frame_at(i * 20, at(i)));
        }
    }

    #[test]
    fn page_has_every_metric() {
        let m = AgentMetrics::new();
        let cm = crate::agent::CallMetrics {
            tool_calls: 2,
            tool_errors: 1,
            time_to_first_audio: Some(Duration::from_millis(300)),
            frames_late: 4,
            ..Default::default()
        };
        m.call_ended("completed", &cm);
        m.reconnected(1);
        m.taken_over("retired");
        let page = m.render(true, 3);
        for name in METRIC_NAMES {
            assert!(page.contains(name), "{name} missing:\n{page}");
        }
        assert!(page.contains("clawops_agent_calls_ended_total{status=\"completed\"} 1"));
        assert!(page.contains("clawops_agent_tool_calls_total 2"));
        assert!(page.contains("clawops_agent_frames_late_total 4"));
        assert!(page.contains("clawops_agent_active_calls 3"));
        assert!(page.contains("clawops_agent_time_to_first_audio_seconds_count 1"));
    }
}
