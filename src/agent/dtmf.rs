//! DTMF: passive keypad routing, `collect_dtmf`, and outbound tone sequences.
//!
//! Everything here is per call (incident 19: an agent-wide buffer once merged two callers'
//! keys). The connection layer owns one [`CallDtmf`] per call and:
//!
//! 1. feeds every inbound key to [`CallDtmf::on_digit`] (and sends `clear` when it answers
//!    [`DigitRoute::Collector`]);
//! 2. runs [`CallDtmf::run_debounce`] in the call's task set (the passive debounce timer);
//! 3. drains [`DtmfDeliveries`] in **one** task that awaits `session.feed_dtmf` for each value,
//!    so deliveries of a call are serialised and never cut (incidents 20, 21);
//! 4. calls [`CallDtmf::end`] when the call ends.
//!
//! `collect_dtmf` ([`CallDtmf::collect`]) follows the 0.70 rules: only keys pressed after it
//! opens, pending passive keys flushed to the model at open, counting starts after the prompt
//! played out, inter-digit timeout plus overall `max_wait` (incidents 30, 31, 47, 48).
//!
//! Key values are sensitive (card numbers): no `Debug` output, log line or error here shows
//! them, only their count (incident 29).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use clawops_api::events::{MediaCommand, MediaDtmfOut, OutboundDtmfKey};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::AgentError;

/// Keys valid in DTMF (`0`–`9`, `*`, `#`).
pub const DTMF_KEYS: &str = "0123456789*#";
/// Default passive debounce (0.70: 2 s; 0.5 s split `534` into three answers, incident 45).
pub const DEFAULT_PASSIVE_DEBOUNCE: Duration = Duration::from_millis(2_000);
/// Tool result when `collect_dtmf` is already running (not an `Error:` text, incident 30).
pub const COLLECT_BUSY_TEXT: &str = "(이미 입력을 받는 중입니다. 결과를 기다리세요.)";
/// Tool result when `collect_dtmf` got no key.
pub const COLLECT_TIMEOUT_TEXT: &str = "(타임아웃 - 입력 없음)";
/// Playout wait limit when `max_wait` is `None`.
const PLAYOUT_LIMIT_UNCAPPED: Duration = Duration::from_secs(60);

fn is_dtmf_key(c: char) -> bool {
    DTMF_KEYS.contains(c)
}

/// Confirmed DTMF digits. `Debug` shows only the count.
#[derive(Clone, PartialEq, Eq)]
pub struct DtmfInput(String);

impl DtmfInput {
    /// Wraps digits.
    pub fn new(digits: impl Into<String>) -> Self {
        Self(digits.into())
    }

    /// The digits (sensitive: do not log).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    /// Whether no key was collected.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text injected into the model as a user turn: `[DTMF 입력: 534]` (§6.2).
    ///
    /// ```
    /// assert_eq!(clawops::agent::DtmfInput::new("534").model_text(), "[DTMF 입력: 534]");
    /// ```
    pub fn model_text(&self) -> String {
        format!("[DTMF 입력: {}]", self.0)
    }

    /// Consumes into the digit string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for DtmfInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DtmfInput(<{} digits>)", self.len())
    }
}

/// Passive DTMF settings (agent options `passive_dtmf_*`).
///
/// ```
/// use std::time::Duration;
/// use clawops::agent::DtmfSettings;
///
/// let s = DtmfSettings::default();
/// assert_eq!(s.debounce(), Duration::from_millis(2000));
/// assert_eq!(s.finish_key(), Some('#'));
/// assert!(DtmfSettings::new(Duration::ZERO, Some('x'), None).is_err());
/// assert!(DtmfSettings::new(Duration::ZERO, None, Some(0)).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtmfSettings {
    debounce: Duration,
    finish_key: Option<char>,
    max_digits: Option<usize>,
}

impl Default for DtmfSettings {
    fn default() -> Self {
        Self {
            debounce: DEFAULT_PASSIVE_DEBOUNCE,
            finish_key: Some('#'),
            max_digits: None,
        }
    }
}

impl DtmfSettings {
    /// Validated settings: the finish key must be one of `0-9*#`, `max_digits` at least 1.
    pub fn new(
        debounce: Duration,
        finish_key: Option<char>,
        max_digits: Option<usize>,
    ) -> Result<Self, AgentError> {
        if let Some(k) = finish_key
            && !is_dtmf_key(k)
        {
            return Err(AgentError::invalid(
                "passive_dtmf_finish_key",
                "must be one of 0-9, * or #",
            ));
        }
        if max_digits == Some(0) {
            return Err(AgentError::invalid(
                "passive_dtmf_max_digits",
                "must be at least 1",
            ));
        }
        Ok(Self {
            debounce,
            finish_key,
            max_digits,
        })
    }

    /// Quiet time after the last key before the buffer is delivered.
    pub fn debounce(&self) -> Duration {
        self.debounce
    }

    /// Key that confirms the buffer immediately (excluded from the value).
    pub fn finish_key(&self) -> Option<char> {
        self.finish_key
    }

    /// Buffer length that confirms immediately.
    pub fn max_digits(&self) -> Option<usize> {
        self.max_digits
    }
}

/// The passive path as a pure state machine over an explicit clock.
///
/// ```
/// use std::time::Duration;
/// use clawops::agent::{DtmfSettings, PassiveBuffer};
/// use tokio::time::Instant;
///
/// let mut buf = PassiveBuffer::new(DtmfSettings::default());
/// let t0 = Instant::now();
/// assert!(buf.push("5", t0).is_none());
/// assert!(buf.push("3", t0).is_none());
/// assert_eq!(buf.push("#", t0).unwrap().as_str(), "53");
/// assert!(buf.push("4", t0).is_none());
/// assert!(buf.poll_expired(t0 + Duration::from_millis(1999)).is_none());
/// assert_eq!(buf.poll_expired(t0 + Duration::from_secs(2)).unwrap().as_str(), "4");
/// ```
pub struct PassiveBuffer {
    settings: DtmfSettings,
    digits: String,
    deadline: Option<Instant>,
}

impl std::fmt::Debug for PassiveBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassiveBuffer")
            .field("buffered", &self.digits.chars().count())
            .field("armed", &self.deadline.is_some())
            .finish()
    }
}

impl PassiveBuffer {
    /// An empty buffer.
    pub fn new(settings: DtmfSettings) -> Self {
        Self {
            settings,
            digits: String::new(),
            deadline: None,
        }
    }

    /// A key arrived at `now`; returns a value when it confirms immediately (finish key or
    /// `max_digits`), otherwise (re)arms the debounce deadline.
    pub fn push(&mut self, digit: &str, now: Instant) -> Option<DtmfInput> {
        if digit.is_empty() {
            return None;
        }
        if let Some(finish) = self.settings.finish_key
            && digit.len() == 1
            && digit.starts_with(finish)
        {
            self.deadline = None;
            let value = if self.digits.is_empty() {
                finish.to_string()
            } else {
                std::mem::take(&mut self.digits)
            };
            return Some(DtmfInput(value));
        }
        self.digits.push_str(digit);
        if let Some(max) = self.settings.max_digits
            && self.digits.chars().count() >= max
        {
            self.deadline = None;
            return Some(DtmfInput(std::mem::take(&mut self.digits)));
        }
        self.deadline = Some(now + self.settings.debounce);
        None
    }

    /// The debounce deadline, if keys are waiting.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Confirms the buffer if the debounce deadline passed at `now`.
    pub fn poll_expired(&mut self, now: Instant) -> Option<DtmfInput> {
        match self.deadline {
            Some(d) if now >= d => self.take(),
            _ => None,
        }
    }

    /// Takes whatever is buffered now (used when a collector opens).
    pub fn take(&mut self) -> Option<DtmfInput> {
        self.deadline = None;
        if self.digits.is_empty() {
            None
        } else {
            Some(DtmfInput(std::mem::take(&mut self.digits)))
        }
    }

    /// Drops the buffer and the deadline.
    pub fn clear(&mut self) {
        self.digits.clear();
        self.deadline = None;
    }

    /// Keys currently buffered.
    pub fn buffered(&self) -> usize {
        self.digits.chars().count()
    }
}

/// Where an inbound key went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigitRoute {
    /// To the open `collect_dtmf`; the connection layer sends `clear` (interrupt the prompt).
    Collector,
    /// To the passive path (delivered to the model later or now via [`DtmfDeliveries`]).
    Passive,
    /// The call already ended; the key was dropped.
    Ended,
}

/// Options of [`CallDtmf::collect`] (`collect_dtmf`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectOptions {
    /// Stop after this many keys (≥ 1).
    pub max_digits: usize,
    /// Key that ends input (excluded from the result); `None` for none.
    pub finish_on_key: Option<char>,
    /// Inter-digit timeout, restarted by every key, counted after the prompt played out.
    pub timeout: Duration,
    /// Overall cap counted after the prompt played out; digits so far are returned.
    pub max_wait: Option<Duration>,
}

impl Default for CollectOptions {
    fn default() -> Self {
        Self {
            max_digits: 4,
            finish_on_key: Some('#'),
            timeout: Duration::from_secs(5),
            max_wait: Some(Duration::from_secs(30)),
        }
    }
}

impl CollectOptions {
    /// Defaults with `max_digits`.
    pub fn new(max_digits: usize) -> Self {
        Self {
            max_digits,
            ..Self::default()
        }
    }

    /// Sets the finish key.
    pub fn finish_on_key(mut self, key: Option<char>) -> Self {
        self.finish_on_key = key;
        self
    }

    /// Sets the inter-digit timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the overall cap.
    pub fn max_wait(mut self, max_wait: Option<Duration>) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Checks the options.
    pub fn validate(&self) -> Result<(), AgentError> {
        if self.max_digits == 0 {
            return Err(AgentError::invalid("max_digits", "must be at least 1"));
        }
        if let Some(k) = self.finish_on_key
            && !is_dtmf_key(k)
        {
            return Err(AgentError::invalid(
                "finish_on_key",
                "must be one of 0-9, * or #",
            ));
        }
        Ok(())
    }
}

struct State {
    passive: PassiveBuffer,
    collector: Option<mpsc::UnboundedSender<String>>,
    collector_generation: u64,
    ended: bool,
}

/// Per-call DTMF router (see the module docs for how the connection layer drives it).
pub struct CallDtmf {
    call_id: String,
    state: Mutex<State>,
    timer: Notify,
    /// Dropped at [`CallDtmf::end`] so the delivery receiver finishes.
    deliveries: Mutex<Option<mpsc::UnboundedSender<DtmfInput>>>,
}

impl std::fmt::Debug for CallDtmf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("CallDtmf")
            .field("call_id", &self.call_id)
            .field("passive", &state.passive)
            .field("collecting", &state.collector.is_some())
            .field("ended", &state.ended)
            .finish()
    }
}

/// Confirmed passive values of one call, in order. Drain it from a single task.
#[derive(Debug)]
pub struct DtmfDeliveries {
    rx: mpsc::UnboundedReceiver<DtmfInput>,
    owner: Arc<CallDtmf>,
}

impl DtmfDeliveries {
    /// The next value to hand to `session.feed_dtmf`; `None` once the call ended (values still
    /// queued at that point are skipped, incident 21).
    pub async fn recv(&mut self) -> Option<DtmfInput> {
        let value = self.rx.recv().await?;
        if self.owner.lock().ended {
            return None;
        }
        Some(value)
    }
}

impl CallDtmf {
    /// A router for one call and the receiver of its passive deliveries.
    pub fn new(call_id: impl Into<String>, settings: DtmfSettings) -> (Arc<Self>, DtmfDeliveries) {
        let (tx, rx) = mpsc::unbounded_channel();
        let me = Arc::new(Self {
            call_id: call_id.into(),
            state: Mutex::new(State {
                passive: PassiveBuffer::new(settings),
                collector: None,
                collector_generation: 0,
                ended: false,
            }),
            timer: Notify::new(),
            deliveries: Mutex::new(Some(tx)),
        });
        let deliveries = DtmfDeliveries {
            rx,
            owner: Arc::clone(&me),
        };
        (me, deliveries)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    fn deliver(&self, value: DtmfInput) {
        tracing::debug!(call_id = %self.call_id, digits = value.len(), "passive DTMF confirmed");
        let sender = crate::sync::lock(&self.deliveries).clone();
        if let Some(sender) = sender {
            let _ = sender.send(value);
        }
    }

    /// Routes one inbound key: to the open collector, else to the passive path.
    pub fn on_digit(&self, digit: &str) -> DigitRoute {
        let mut state = self.lock();
        if state.ended {
            return DigitRoute::Ended;
        }
        if let Some(collector) = &state.collector
            && collector.send(digit.to_owned()).is_ok()
        {
            return DigitRoute::Collector;
        }
        let confirmed = state.passive.push(digit, Instant::now());
        drop(state);
        match confirmed {
            Some(value) => self.deliver(value),
            None => self.timer.notify_one(),
        }
        DigitRoute::Passive
    }

    /// The passive debounce timer. Run it once per call in the call's task set; it returns when
    /// the call ends.
    pub async fn run_debounce(&self) {
        loop {
            let notified = self.timer.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let deadline = {
                let state = self.lock();
                if state.ended {
                    return;
                }
                state.passive.deadline()
            };
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(deadline) => {
                            let value = self.lock().passive.poll_expired(Instant::now());
                            if let Some(value) = value {
                                self.deliver(value);
                            }
                        }
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Ends the call: pending keys are dropped, queued deliveries skipped, the timer and any
    /// collector stop.
    pub fn end(&self) {
        let mut state = self.lock();
        state.ended = true;
        state.passive.clear();
        state.collector = None;
        drop(state);
        crate::sync::lock(&self.deliveries).take();
        self.timer.notify_one();
    }

    /// Whether a collector is open.
    pub fn is_collecting(&self) -> bool {
        self.lock().collector.is_some()
    }

    /// `collect_dtmf` (0.70 rules). `played_out` resolves when the prompt finished playing
    /// (`true`) or playout detection failed (`false`); pass `std::future::ready(true)` when the
    /// transport cannot detect playout.
    ///
    /// Returns the digits (possibly empty); [`AgentError::DtmfCollectorBusy`] if a collection is
    /// already running on this call.
    pub async fn collect<F>(
        &self,
        options: &CollectOptions,
        played_out: F,
    ) -> Result<DtmfInput, AgentError>
    where
        F: Future<Output = bool>,
    {
        options.validate()?;
        let (mut rx, generation) = {
            let mut state = self.lock();
            if state.ended {
                return Err(AgentError::CallEnded {
                    call_id: self.call_id.clone(),
                });
            }
            if state.collector.is_some() {
                return Err(AgentError::DtmfCollectorBusy);
            }
            let (tx, rx) = mpsc::unbounded_channel();
            state.collector = Some(tx);
            state.collector_generation += 1;
            let flushed = state.passive.take();
            let generation = state.collector_generation;
            drop(state);
            if let Some(value) = flushed {
                self.deliver(value);
            }
            (rx, generation)
        };
        let _guard = CollectorGuard {
            owner: self,
            generation,
        };

        // Phase 1: first key or end of the prompt, whichever comes first.
        let playout_limit = options.max_wait.unwrap_or(PLAYOUT_LIMIT_UNCAPPED);
        let mut first = tokio::select! {
            key = rx.recv() => match key {
                Some(key) => Some(key),
                None => return Ok(DtmfInput(String::new())),
            },
            _ = tokio::time::timeout(playout_limit, played_out) => None,
        };

        // Phase 2: counting starts now.
        let deadline = options.max_wait.map(|w| Instant::now() + w);
        let mut digits = String::new();
        let mut count = 0usize;
        let is_finish = |k: &str| {
            options
                .finish_on_key
                .is_some_and(|f| k.len() == 1 && k.starts_with(f))
        };
        while count < options.max_digits {
            let key = match first.take() {
                Some(key) => key,
                None => {
                    let wait = match deadline {
                        Some(d) => options
                            .timeout
                            .min(d.saturating_duration_since(Instant::now())),
                        None => options.timeout,
                    };
                    if wait.is_zero() {
                        break;
                    }
                    match tokio::time::timeout(wait, rx.recv()).await {
                        Ok(Some(key)) => key,
                        Ok(None) => break,
                        Err(_) => {
                            // Keys already queued still count.
                            while count < options.max_digits {
                                match rx.try_recv() {
                                    Ok(k) if is_finish(&k) => break,
                                    Ok(k) => {
                                        digits.push_str(&k);
                                        count += 1;
                                    }
                                    Err(_) => break,
                                }
                            }
                            break;
                        }
                    }
                }
            };
            if is_finish(&key) {
                break;
            }
            digits.push_str(&key);
            count += 1;
        }
        tracing::debug!(call_id = %self.call_id, digits = count, "collect_dtmf finished");
        Ok(DtmfInput(digits))
    }
}

struct CollectorGuard<'a> {
    owner: &'a CallDtmf,
    generation: u64,
}

impl Drop for CollectorGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.owner.lock();
        if state.collector_generation == self.generation {
            state.collector = None;
        }
    }
}

/// One step of an outbound DTMF sequence.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DtmfStep {
    /// Send one tone.
    Tone(char),
    /// Wait (`w` = 500 ms, `W` = 1000 ms); nothing is sent.
    Pause(Duration),
}

impl std::fmt::Debug for DtmfStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tone(_) => f.write_str("Tone(<redacted>)"),
            Self::Pause(d) => f.debug_tuple("Pause").field(d).finish(),
        }
    }
}

impl DtmfStep {
    /// The media `dtmf` frame of a tone step (`None` for a pause).
    pub fn to_frame(&self) -> Option<MediaCommand> {
        match self {
            Self::Tone(c) => Some(MediaCommand::from(MediaDtmfOut {
                dtmf: OutboundDtmfKey {
                    digit: c.to_string(),
                },
            })),
            Self::Pause(_) => None,
        }
    }
}

/// A validated outbound DTMF string (`send_dtmf`): `0-9*#` tones, `w`/`W` pauses.
///
/// Unlike the peer, the **whole** string is validated before anything is sent.
///
/// ```
/// use std::time::Duration;
/// use clawops::agent::{DtmfSequence, DtmfStep};
///
/// let seq: DtmfSequence = "1w2W#".parse()?;
/// assert_eq!(seq.steps(), &[
///     DtmfStep::Tone('1'),
///     DtmfStep::Pause(Duration::from_millis(500)),
///     DtmfStep::Tone('2'),
///     DtmfStep::Pause(Duration::from_millis(1000)),
///     DtmfStep::Tone('#'),
/// ]);
/// assert!("12a".parse::<DtmfSequence>().is_err());
/// # Ok::<(), clawops::agent::AgentError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DtmfSequence {
    steps: Vec<DtmfStep>,
}

impl std::fmt::Debug for DtmfSequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DtmfSequence(<{} steps>)", self.steps.len())
    }
}

impl std::str::FromStr for DtmfSequence {
    type Err = AgentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut steps = Vec::with_capacity(s.len());
        for (i, c) in s.chars().enumerate() {
            steps.push(match c {
                'w' => DtmfStep::Pause(Duration::from_millis(500)),
                'W' => DtmfStep::Pause(Duration::from_millis(1_000)),
                c if is_dtmf_key(c) => DtmfStep::Tone(c),
                _ => {
                    return Err(AgentError::invalid(
                        "digits",
                        format!(
                            "character {} is not a DTMF key (0-9, *, #) or pause (w, W)",
                            i + 1
                        ),
                    ));
                }
            });
        }
        Ok(Self { steps })
    }
}

impl DtmfSequence {
    /// The steps in order.
    pub fn steps(&self) -> &[DtmfStep] {
        &self.steps
    }

    /// Number of tones.
    pub fn tone_count(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, DtmfStep::Tone(_)))
            .count()
    }

    /// Plays the sequence: `send` is called for each tone frame, pauses sleep. Stops at the
    /// first send error.
    pub async fn play<S>(&self, mut send: S) -> Result<(), AgentError>
    where
        S: FnMut(MediaCommand) -> Result<(), AgentError>,
    {
        for step in &self.steps {
            match step {
                DtmfStep::Pause(d) => tokio::time::sleep(*d).await,
                DtmfStep::Tone(_) => {
                    if let Some(frame) = step.to_frame() {
                        send(frame)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
