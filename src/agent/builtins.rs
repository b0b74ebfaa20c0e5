//! Builtin tools (`hang_up`, `collect_dtmf`, `send_dtmf`, `transfer_call`) and tool dispatch.
//!
//! Names, descriptions and parameter schemas are the exact wire facts of agent-protocol §7.3
//! (the Korean texts included). Behaviour and result texts follow the same section, with the
//! 0.70 fixes: `collect_dtmf` when busy answers a "wait" text, not an error (incident 30);
//! `transfer_call` validates every argument **before** replying `transfer_initiated` (§13.1);
//! only enabled builtins are dispatched, and user tools cannot take builtin names.

use std::time::Duration;

use serde_json::{Map, Value};

use super::dtmf::{COLLECT_BUSY_TEXT, COLLECT_TIMEOUT_TEXT};
use super::session::{CallControl, NOT_CONNECTED_TEXT, SessionTools};
use super::tools::{ToolOutput, ToolSpec, parse_args};
use super::{AgentError, CollectOptions, DtmfSequence, TransferOptions};

/// Result text of a started transfer (`json.dumps` spacing of the peer).
pub const TRANSFER_INITIATED_TEXT: &str = r#"{"status": "transfer_initiated"}"#;
/// Result text of `send_dtmf`.
pub const SEND_DTMF_OK_TEXT: &str = "sent";

const HANG_UP_SCHEMA: &str = r#"{"name":"hang_up","description":"End the phone call. Use when the conversation is finished or the caller says goodbye.","parameters":{"type":"object","properties":{}}}"#;
const COLLECT_DTMF_SCHEMA: &str = r##"{"name":"collect_dtmf","description":"사용자로부터 DTMF(전화 키패드) 입력을 수집합니다. 반드시 사용자에게 무엇을 입력해야 하는지 안내한 후 호출하세요.","parameters":{"type":"object","properties":{"max_digits":{"type":"integer","description":"수집할 최대 자릿수"},"finish_on_key":{"type":"string","description":"입력 종료 키 (기본: #)"},"timeout":{"type":"integer","description":"입력 대기 시간(초, 기본: 5)"}},"required":["max_digits"]}}"##;
const SEND_DTMF_SCHEMA: &str = r##"{"name":"send_dtmf","description":"DTMF 신호를 전송합니다. ARS 메뉴 탐색이나 내선번호 입력 시 사용합니다.","parameters":{"type":"object","properties":{"digits":{"type":"string","description":"전송할 번호 (0-9, *, #). 'w'는 500ms 대기, 'W'는 1000ms 대기. 예: '1', '1234#', '1w2'"}},"required":["digits"]}}"##;
const TRANSFER_CALL_SCHEMA: &str = r#"{"name":"transfer_call","description":"Transfer the current call to another phone number or SIP endpoint. Use for blind transfer (direct handoff) or warm transfer (with whisper message to the target).","parameters":{"type":"object","properties":{"to":{"type":"string","description":"Transfer destination. A phone number when destination_type is 'pstn', or a SIP URI (e.g. 'sip:user@host') when destination_type is 'sip'."},"destination_type":{"type":"string","enum":["pstn","sip"],"description":"pstn: dial a phone number via carrier (default). sip: connect directly to a SIP endpoint (no carrier/PSTN)."},"mode":{"type":"string","enum":["blind","warm"],"description":"blind: direct transfer (default), warm: play whisper to target first"},"after_transfer":{"type":"string","enum":["terminate","return"],"description":"terminate: end AI session (default), return: AI resumes after transfer ends"},"whisper":{"type":"string","description":"Message to speak to transfer target before connecting customer (warm mode only)"},"caller_id_mode":{"type":"string","enum":["account","original"],"description":"What the transfer target sees as the caller. account: the account's own number (default). original: prefer the inbound caller's number, falling back to the account number when it cannot be inherited. Prefer this over caller_id."},"caller_id":{"type":"string","description":"Exact caller ID for the transfer leg. Must be a number the account owns, or the original inbound caller. Anything else fails the transfer outright — use caller_id_mode unless a specific number is required."},"timeout":{"type":"integer","description":"Seconds to wait for transfer target to answer (default 30)"}},"required":["to"]}}"#;

/// One builtin tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BuiltinTool {
    /// `hang_up`: end the call (mark handshake); no result is sent back.
    HangUp,
    /// `collect_dtmf`: collect keypad input (§6.3).
    CollectDtmf,
    /// `send_dtmf`: send tones with `w`/`W` pauses (§6.4).
    SendDtmf,
    /// `transfer_call`: fire-and-forget transfer (§5.5).
    TransferCall,
}

impl BuiltinTool {
    /// All builtins in their fixed tool-list order.
    pub const ALL: [BuiltinTool; 4] = [
        Self::HangUp,
        Self::CollectDtmf,
        Self::SendDtmf,
        Self::TransferCall,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::HangUp => "hang_up",
            Self::CollectDtmf => "collect_dtmf",
            Self::SendDtmf => "send_dtmf",
            Self::TransferCall => "transfer_call",
        }
    }

    /// The builtin with that wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The exact neutral schema (§7.3).
    pub fn spec(self) -> ToolSpec {
        let raw = match self {
            Self::HangUp => HANG_UP_SCHEMA,
            Self::CollectDtmf => COLLECT_DTMF_SCHEMA,
            Self::SendDtmf => SEND_DTMF_SCHEMA,
            Self::TransferCall => TRANSFER_CALL_SCHEMA,
        };
        // The constants are fixed, valid JSON (checked by tests); a failure here is impossible
        // in practice and degrades to an empty schema rather than panicking.
        let v: Value = serde_json::from_str(raw).unwrap_or_default();
        ToolSpec::new(
            self.name(),
            v["description"].as_str().unwrap_or_default(),
            v["parameters"].clone(),
        )
    }
}

/// A selection of builtins (default: all four).
///
/// ```
/// use clawops::agent::{BuiltinTool, BuiltinTools};
///
/// let some = BuiltinTools::from_names(["send_dtmf", "hang_up", "all", "nope"]);
/// assert_eq!(some.iter().collect::<Vec<_>>(), vec![BuiltinTool::HangUp, BuiltinTool::SendDtmf]);
/// assert!(BuiltinTools::none().is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BuiltinTools(u8);

impl Default for BuiltinTools {
    fn default() -> Self {
        Self::all()
    }
}

impl std::fmt::Debug for BuiltinTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(BuiltinTool::name))
            .finish()
    }
}

impl BuiltinTools {
    /// All four builtins.
    pub fn all() -> Self {
        Self(0b1111)
    }

    /// No builtin.
    pub fn none() -> Self {
        Self(0)
    }

    /// From wire names; `all`/`none` and unknown names inside a list are ignored (as the peer).
    pub fn from_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = Self::none();
        for n in names {
            match BuiltinTool::from_name(n.as_ref()) {
                Some(b) => set = set.with(b),
                None => tracing::debug!(name = n.as_ref(), "ignored builtin tool name"),
            }
        }
        set
    }

    /// Adds one builtin.
    pub fn with(self, tool: BuiltinTool) -> Self {
        Self(self.0 | tool.bit())
    }

    /// Removes one builtin.
    pub fn without(self, tool: BuiltinTool) -> Self {
        Self(self.0 & !tool.bit())
    }

    /// Whether `tool` is enabled.
    pub fn contains(self, tool: BuiltinTool) -> bool {
        self.0 & tool.bit() != 0
    }

    /// Whether none is enabled.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Enabled builtins in the fixed order.
    pub fn iter(self) -> impl Iterator<Item = BuiltinTool> {
        BuiltinTool::ALL
            .into_iter()
            .filter(move |b| self.contains(*b))
    }

    /// The enabled builtin called `name`, if any.
    pub fn enabled(self, name: &str) -> Option<BuiltinTool> {
        BuiltinTool::from_name(name).filter(|b| self.contains(*b))
    }

    /// Specs of the enabled builtins in order.
    pub fn specs(self) -> Vec<ToolSpec> {
        self.iter().map(BuiltinTool::spec).collect()
    }
}

impl SessionTools {
    /// Everything to offer the model, in order: user tools, then enabled builtins.
    pub fn specs(&self) -> Vec<ToolSpec> {
        let mut specs = self.registry.specs();
        specs.extend(self.builtins.specs());
        specs
    }

    /// Whether any tool in `names` is `collect_dtmf` (no hold audio for such a batch,
    /// incident 49).
    pub fn batch_needs_no_hold_audio<'a>(names: impl IntoIterator<Item = &'a str>) -> bool {
        names
            .into_iter()
            .any(|n| n == BuiltinTool::CollectDtmf.name())
    }

    /// Runs one tool call of the model: an enabled builtin, else a user tool, else an
    /// `Unknown tool` error. Counts the call (and user-tool errors) on `call`.
    pub async fn dispatch(&self, call: &dyn CallControl, name: &str, raw_args: &str) -> ToolOutput {
        call.record_tool_call();
        if let Some(builtin) = self.builtins.enabled(name) {
            return execute_builtin(builtin, call, raw_args).await;
        }
        let out = self.registry.execute(name, raw_args).await;
        if let ToolOutput::Error(message) | ToolOutput::McpError(message) = &out {
            call.record_tool_error(name, message);
        }
        out
    }
}

fn int_arg(args: &Map<String, Value>, key: &str, default: i64) -> Result<i64, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("{key} must be an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| format!("{key} must be an integer")),
        Some(_) => Err(format!("{key} must be an integer")),
    }
}

fn str_arg<'a>(args: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

fn check_known(args: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match args.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("unexpected argument '{k}'")),
        None => Ok(()),
    }
}

fn one_of(key: &str, value: Option<&str>, allowed: [&str; 2]) -> Result<(), String> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(format!(
            "{key} must be '{}' or '{}', got '{v}'",
            allowed[0], allowed[1]
        )),
        _ => Ok(()),
    }
}

fn collect_options(args: &Map<String, Value>) -> Result<CollectOptions, String> {
    check_known(args, &["max_digits", "finish_on_key", "timeout"])?;
    let max_digits = int_arg(args, "max_digits", 4)?;
    if max_digits < 1 {
        return Err("max_digits must be at least 1".into());
    }
    let finish = match str_arg(args, "finish_on_key")? {
        None => Some('#'),
        Some("") => None,
        Some(k) => {
            let mut chars = k.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if super::dtmf::DTMF_KEYS.contains(c) => Some(c),
                _ => return Err("finish_on_key must be one of 0-9, * or #".into()),
            }
        }
    };
    let timeout = int_arg(args, "timeout", 5)?;
    if timeout < 1 {
        return Err("timeout must be at least 1 second".into());
    }
    Ok(CollectOptions::new(max_digits as usize)
        .finish_on_key(finish)
        .timeout(Duration::from_secs(timeout as u64)))
}

/// Validates `transfer_call` arguments into options (LiveKit toolset error texts, §7.4).
pub fn transfer_options_from_args(args: &Map<String, Value>) -> Result<TransferOptions, String> {
    check_known(
        args,
        &[
            "to",
            "destination_type",
            "mode",
            "after_transfer",
            "whisper",
            "caller_id_mode",
            "caller_id",
            "timeout",
        ],
    )?;
    let to = str_arg(args, "to")?.unwrap_or_default();
    if to.trim().is_empty() {
        return Err("'to' must not be empty".into());
    }
    let destination = str_arg(args, "destination_type")?;
    one_of("destination_type", destination, ["pstn", "sip"])?;
    let mode = str_arg(args, "mode")?;
    one_of("mode", mode, ["blind", "warm"])?;
    let after = str_arg(args, "after_transfer")?;
    one_of("after_transfer", after, ["terminate", "return"])?;
    let caller_id_mode = str_arg(args, "caller_id_mode")?;
    one_of("caller_id_mode", caller_id_mode, ["account", "original"])?;
    let timeout = int_arg(args, "timeout", 30)?;
    if !(1..=i64::from(u32::MAX)).contains(&timeout) {
        return Err("timeout must be at least 1 second".into());
    }
    let mut opts = TransferOptions::new(to).timeout_secs(timeout as u32);
    if destination == Some("sip") {
        opts = opts.sip();
    }
    if mode == Some("warm") {
        opts.mode = clawops_api::events::TransferRequestMode::Warm;
    }
    if after == Some("return") {
        opts = opts.return_after();
    }
    if let Some(w) = str_arg(args, "whisper")? {
        opts = opts.whisper(w);
    }
    if let Some(m) = caller_id_mode {
        opts = opts.caller_id_mode(m);
    }
    if let Some(c) = str_arg(args, "caller_id")? {
        opts = opts.caller_id(c);
    }
    opts.validate().map_err(|e| e.to_string())?;
    Ok(opts)
}

/// Executes one builtin with the model's raw arguments.
pub async fn execute_builtin(
    tool: BuiltinTool,
    call: &dyn CallControl,
    raw_args: &str,
) -> ToolOutput {
    if !call.is_connected() {
        return ToolOutput::Text(NOT_CONNECTED_TEXT.to_owned());
    }
    let args = match parse_args(raw_args) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return ToolOutput::Error("arguments must be a JSON object".into()),
        Err(e) => return ToolOutput::Error(e),
    };
    match tool {
        BuiltinTool::HangUp => {
            call.hangup().await;
            ToolOutput::Silent
        }
        BuiltinTool::CollectDtmf => {
            let options = match collect_options(&args) {
                Ok(o) => o,
                Err(e) => return ToolOutput::Error(e),
            };
            match call.collect_dtmf(options).await {
                Ok(digits) if digits.is_empty() => ToolOutput::Text(COLLECT_TIMEOUT_TEXT.into()),
                Ok(digits) => ToolOutput::Text(digits.into_string()),
                Err(AgentError::DtmfCollectorBusy) => ToolOutput::Text(COLLECT_BUSY_TEXT.into()),
                Err(e) => ToolOutput::Error(e.to_string()),
            }
        }
        BuiltinTool::SendDtmf => {
            if let Err(e) = check_known(&args, &["digits"]) {
                return ToolOutput::Error(e);
            }
            let digits = match str_arg(&args, "digits") {
                Ok(d) => d.unwrap_or_default(),
                Err(e) => return ToolOutput::Error(e),
            };
            let seq: DtmfSequence = match digits.parse() {
                Ok(s) => s,
                Err(e) => return ToolOutput::Error(e.to_string()),
            };
            match call.send_dtmf(seq).await {
                Ok(()) => ToolOutput::Text(SEND_DTMF_OK_TEXT.into()),
                Err(e) => ToolOutput::Error(e.to_string()),
            }
        }
        BuiltinTool::TransferCall => {
            let options = match transfer_options_from_args(&args) {
                Ok(o) => o,
                Err(e) => return ToolOutput::Error(e),
            };
            match call.start_transfer(options) {
                Ok(()) => ToolOutput::Text(TRANSFER_INITIATED_TEXT.into()),
                Err(e) => ToolOutput::Error(e.to_string()),
            }
        }
    }
}
