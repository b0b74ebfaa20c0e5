//! The fuzz harness shared by `tests/fuzz_parsers.rs`, `tests/fuzz_sockets.rs` (bounded CI runs,
//! proptest) and `benches/fuzz.rs` (the long run): hostile mutations of valid inputs, and the
//! table of in-process parsers of network input.
//!
//! # Adding a parser
//!
//! A parser that takes bytes gets one entry in [`targets`]:
//!
//! ```ignore
//! out.push(Target::new("deepgram.results", seeds_of(DEEPGRAM_SEEDS), |bytes| {
//!     outcome(clawops::providers::deepgram::parse_frame(bytes)) // Result<_, TypedError>
//! }));
//! ```
//!
//! `check` returns `Ok(Verdict::Value)` or `Ok(Verdict::Error)` when the parser behaved (a value
//! or a typed error), `Err(why)` when a rule was broken (e.g. an unknown value was lost in a round
//! trip); a panic is caught and counted by the runner. Parsers only reachable through a socket
//! (the agent's control and media loops, provider sessions) are fuzzed in
//! `tests/fuzz_sockets.rs`, which feeds the same mutations through a fake server.
#![allow(dead_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use clawops_api::conformance;
use clawops_api::events::{ControlCommand, ControlEvent, MediaCommand, MediaEvent};
use proptest::prelude::*;
use serde_json::Value;

// ----- verdicts and targets ---------------------------------------------------------------------

/// How a parser answered an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It produced a value.
    Value,
    /// It produced a typed error.
    Error,
}

/// `Ok(verdict)` = rule kept; `Err(why)` = rule broken.
pub type CheckResult = Result<Verdict, String>;

/// Maps a parser's `Result` to a verdict.
pub fn outcome<T, E>(r: Result<T, E>) -> CheckResult {
    Ok(if r.is_ok() {
        Verdict::Value
    } else {
        Verdict::Error
    })
}

/// A parser run plus its rule checks.
pub type Check = Box<dyn Fn(&[u8]) -> CheckResult + Send + Sync>;

/// One parser of network input.
pub struct Target {
    /// `area.parser`, shown in reports.
    pub name: String,
    /// Valid inputs the mutations start from.
    pub seeds: Vec<Vec<u8>>,
    /// Runs the parser on one input and checks its rules.
    pub check: Check,
}

impl Target {
    /// A table entry.
    pub fn new(
        name: impl Into<String>,
        seeds: Vec<Vec<u8>>,
        check: impl Fn(&[u8]) -> CheckResult + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            seeds,
            check: Box::new(check),
        }
    }
}

/// What one run of one input gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Rule kept.
    Ok(Verdict),
    /// Rule broken.
    Broken(String),
    /// The parser panicked.
    Panic(String),
}

/// Runs `target` on `input`, catching panics.
pub fn run(target: &Target, input: &[u8]) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| (target.check)(input))) {
        Ok(Ok(v)) => Outcome::Ok(v),
        Ok(Err(why)) => Outcome::Broken(why),
        Err(payload) => Outcome::Panic(
            payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into()),
        ),
    }
}

// ----- the table ----------------------------------------------------------------------------------

/// Every in-process parser of network input. Add new parsers here (see the module docs).
pub fn targets() -> Vec<Target> {
    let specs = clawops_codegen::spec::Specs::load(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("spec/ loads");
    let mut out = Vec::new();

    // Control and media frames: the generated message enums, both parse paths.
    let messages = message_examples(&specs.asyncapi);
    let seeds = |name: &str| -> Vec<Vec<u8>> {
        messages
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.to_string().into_bytes())
            .collect()
    };
    out.push(Target::new(
        "ws.ControlEvent",
        seeds("ControlEvent"),
        message_check::<ControlEvent>,
    ));
    out.push(Target::new(
        "ws.ControlCommand",
        seeds("ControlCommand"),
        message_check::<ControlCommand>,
    ));
    out.push(Target::new(
        "ws.MediaEvent",
        seeds("MediaEvent"),
        message_check::<MediaEvent>,
    ));
    out.push(Target::new(
        "ws.MediaCommand",
        seeds("MediaCommand"),
        message_check::<MediaCommand>,
    ));

    // REST responses through every generated model that has an example in the spec.
    let mut rest = rest_examples(&specs.openapi);
    // List envelopes have no example of their own: wrap their items' examples.
    for name in conformance::REST_SCHEMAS {
        let Some(item) = name.strip_suffix("List") else {
            continue;
        };
        if rest.iter().any(|(n, _)| n == name) {
            continue;
        }
        let items: Vec<Value> = rest
            .iter()
            .filter(|(n, _)| n == item)
            .map(|(_, v)| v.clone())
            .collect();
        let meta = serde_json::json!({"total": 41, "page": 1, "pageSize": 20});
        for envelope in [
            serde_json::json!({"data": items.clone(), "meta": meta}),
            serde_json::json!({"data": items.clone()}),
        ] {
            if matches!(
                conformance::rest_roundtrip(name, envelope.clone()),
                Some(Ok(_))
            ) {
                rest.push(((*name).to_owned(), envelope));
            }
        }
    }
    for name in conformance::REST_SCHEMAS {
        let seeds: Vec<Vec<u8>> = rest
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.to_string().into_bytes())
            .collect();
        if seeds.is_empty() {
            continue;
        }
        out.push(Target::new(format!("rest.{name}"), seeds, move |bytes| {
            rest_check(name, bytes)
        }));
    }

    // The REST client's error-body parsing.
    out.push(Target::new(
        "rest.error_body",
        [
            r#"{"error":"수신 거부된 번호입니다","code":"recipient_blocked"}"#,
            r#"{"error":"Not found","code":"not_found"}"#,
            r#"{"error":null,"code":""}"#,
            r#"{"error":{"nested":true},"code":"brand_new_code"}"#,
            "<html><body>502 Bad Gateway</body></html>",
            "",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        error_body_check,
    ));

    // Webhook bodies: form parsing, signature verification, the typed status-callback event.
    out.push(Target::new(
        "webhook.status_callback",
        [
            "CallId=CA0123456789abcdef&CallStatus=completed&From=01012345678&To=07012345678&Direction=inbound&StatusCallbackEvent=completed&Duration=62",
            "CallId=CA1&CallStatus=ringing",
            "CallId=CA1&CallStatus=on-hold&Extra=%ED%95%9C%EA%B8%80&Empty=",
            "",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        webhook_check,
    ));
    out
}

// ----- checks -------------------------------------------------------------------------------------

/// The generated message enums, for [`message_check`].
pub trait Message: Sized + PartialEq + std::fmt::Debug + serde::de::DeserializeOwned {
    /// `from_json` of the generated enum.
    fn parse(text: &str) -> Result<Self, serde_json::Error>;
    /// `to_json` of the generated enum.
    fn write(&self) -> Result<String, serde_json::Error>;
    /// Whether this is the `Unknown` variant.
    fn unknown(&self) -> bool;
}

macro_rules! message_impl {
    ($($ty:ident),*) => {$(
        impl Message for $ty {
            fn parse(text: &str) -> Result<Self, serde_json::Error> {
                $ty::from_json(text)
            }
            fn write(&self) -> Result<String, serde_json::Error> {
                self.to_json()
            }
            fn unknown(&self) -> bool {
                matches!(self, $ty::Unknown(_))
            }
        }
    )*};
}
message_impl!(ControlEvent, ControlCommand, MediaEvent, MediaCommand);

/// The rules of a generated message enum: `from_json` and the serde path agree, a value
/// re-serialises and parses back to itself, and an unknown frame is kept verbatim.
pub fn message_check<M: Message>(bytes: &[u8]) -> CheckResult {
    let slow = serde_json::from_slice::<M>(bytes);
    let Ok(text) = std::str::from_utf8(bytes) else {
        // A WebSocket text frame is UTF-8 by construction; raw bytes can only be an error.
        return Ok(Verdict::Error);
    };
    let fast = M::parse(text);
    // Where both paths give a value it is the same value. (They may differ in what they
    // reject inside fields they skip: `from_json` does not validate ignored fields as deeply.)
    if let (Ok(a), Ok(b)) = (&fast, &slow)
        && a != b
    {
        return Err(format!("parse paths disagree: {a:?} vs {b:?}"));
    }
    let Ok(msg) = fast else {
        return Ok(Verdict::Error);
    };
    let out = msg
        .write()
        .map_err(|e| format!("a parsed frame does not serialise: {e}"))?;
    let again = M::parse(&out).map_err(|e| format!("re-parse failed: {e}: {out}"))?;
    if again != msg {
        let out2 = again
            .write()
            .map_err(|e| format!("a parsed frame does not serialise: {e}"))?;
        let (a, b) = (
            serde_json::from_str::<Value>(&out).unwrap_or_default(),
            serde_json::from_str::<Value>(&out2).unwrap_or_default(),
        );
        if !same_json(&a, &b) {
            return Err(format!("round trip changed the frame: {out} -> {out2}"));
        }
    }
    if msg.unknown() {
        let input: Value =
            serde_json::from_str(text).map_err(|e| format!("unknown but not JSON: {e}"))?;
        let output: Value = serde_json::from_str(&out).unwrap_or_default();
        if !same_json(&input, &output) {
            return Err(format!("unknown frame not kept verbatim: {text} -> {out}"));
        }
    }
    Ok(Verdict::Value)
}

/// JSON equality, numbers compared by value: an integer beyond 64 bits becomes a float, which
/// must then survive a write/parse cycle exactly (serde_json's `float_roundtrip`, enabled by
/// the crate; without it some floats came back one ULP off).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x.to_bits() == y.to_bits(),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

fn rest_check(schema: &str, bytes: &[u8]) -> CheckResult {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(Verdict::Error);
    };
    match conformance::rest_roundtrip(schema, value) {
        None => Err(format!("no generated type for {schema}")),
        Some(Err(_)) => Ok(Verdict::Error),
        Some(Ok(back)) => match conformance::rest_roundtrip(schema, back.clone()) {
            Some(Ok(again)) if same_json(&again, &back) => Ok(Verdict::Value),
            Some(Ok(again)) => Err(format!("{schema} not stable: {back} -> {again}")),
            _ => Err(format!("{schema}: its own output does not decode: {back}")),
        },
    }
}

const STATUSES: [u16; 14] = [
    400, 401, 403, 404, 408, 409, 410, 422, 429, 500, 502, 503, 418, 302,
];

fn error_body_check(bytes: &[u8]) -> CheckResult {
    let status = STATUSES[bytes.len() % STATUSES.len()];
    let headers = reqwest::header::HeaderMap::new();
    let err = clawops::__error_from_response(status, &headers, bytes);
    let _ = err.to_string();
    let Some(api) = err.as_api() else {
        return Err(format!(
            "status {status} did not give an API error: {err:?}"
        ));
    };
    if api.status != status || api.kind != clawops::ErrorKind::from_status(status) {
        return Err(format!("wrong status/kind: {api:?}"));
    }
    if api.message.is_empty() {
        return Err("empty message".into());
    }
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) {
        if let Some(Value::String(code)) = map.get("code")
            && !code.is_empty()
            && api.code.as_ref().map(|c| c.as_str()) != Some(code.as_str())
        {
            return Err(format!("code {code:?} not kept verbatim: {:?}", api.code));
        }
        if let Some(Value::String(message)) = map.get("error")
            && !message.is_empty()
            && &api.message != message
        {
            return Err(format!("message {message:?} not kept: {:?}", api.message));
        }
    }
    Ok(Verdict::Error)
}

const URL: &str = "https://my-app.example/hooks/status?tenant=7";
const KEY: &str = "whsec_fuzz";

fn webhook_check(bytes: &[u8]) -> CheckResult {
    use clawops::webhook::{parse_form, sign, verify_form};
    const SIGNATURE_HEADER: &str = "x-signature";
    use reqwest::header::{HeaderMap, HeaderValue};
    let Ok(params) = parse_form(bytes) else {
        return Ok(Verdict::Error);
    };
    // Correctly signed: verification passes; the typed event is a value or a typed error.
    let mut headers = HeaderMap::new();
    let sig = sign(URL, &params, KEY);
    headers.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&sig).map_err(|e| e.to_string())?,
    );
    let signed = verify_form(URL, &headers, bytes, KEY);
    if let Err(e) = &signed
        && e.to_string().contains("does not match")
    {
        return Err(format!("a correct signature was rejected: {e}"));
    }
    // Signed with another key, or with the body bytes as the signature: always rejected.
    headers.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&sign(URL, &params, "whsec_other")).map_err(|e| e.to_string())?,
    );
    if verify_form(URL, &headers, bytes, KEY).is_ok() {
        return Err("a wrong key was accepted".into());
    }
    if let Ok(v) = HeaderValue::from_bytes(bytes) {
        headers.insert(SIGNATURE_HEADER, v);
        if verify_form(URL, &headers, bytes, KEY).is_ok() {
            return Err("the body as signature was accepted".into());
        }
    }
    outcome(signed)
}

// ----- seeds from the specs -------------------------------------------------------------------------

/// (message enum, example) for every message of `spec/asyncapi.yaml`.
pub fn message_examples(asyncapi: &Value) -> Vec<(String, Value)> {
    clawops_codegen::events::directions(asyncapi)
        .expect("asyncapi directions")
        .into_iter()
        .flat_map(|d| {
            let name = d.enum_name.clone();
            d.variants
                .into_iter()
                .filter_map(move |v| v.example.map(|e| (name.clone(), e)))
        })
        .collect()
}

/// (schema, example) for every REST example: on schemas and on `$ref` response media types.
pub fn rest_examples(openapi: &Value) -> Vec<(String, Value)> {
    use clawops_codegen::spec::{deref, operations, ref_name, schemas};
    let mut out = Vec::new();
    for (name, schema) in schemas(openapi) {
        if let Some(example) = schema.get("example") {
            out.push((name.clone(), example.clone()));
        }
    }
    for (_, _, op) in operations(openapi) {
        for (_, response) in op
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let Ok(response) = deref(openapi, response) else {
                continue;
            };
            for (_, content) in response
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let Some(name) = content
                    .pointer("/schema/$ref")
                    .and_then(Value::as_str)
                    .map(ref_name)
                else {
                    continue;
                };
                let mut found: Vec<Value> = content.get("example").cloned().into_iter().collect();
                for (_, ex) in content
                    .get("examples")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if let Ok(ex) = deref(openapi, ex) {
                        found.extend(ex.get("value").cloned());
                    }
                }
                out.extend(found.into_iter().map(|e| (name.to_owned(), e)));
            }
        }
    }
    out
}

// ----- mutations --------------------------------------------------------------------------------

/// A hostile JSON value, written as raw text (so it can be what `serde_json::Value` cannot hold).
#[derive(Clone, Copy, Debug)]
pub enum Hostile {
    Null,
    True,
    Zero,
    NegOne,
    /// 2^64 and more: no integer type holds it.
    HugeInt,
    /// -2^63 - 1.
    HugeNeg,
    /// Overflows f64 (`1e400`).
    HugeFloat,
    /// A fraction where an integer is expected.
    Fraction,
    Exponent,
    EmptyString,
    /// A value no vocabulary knows (open enums must keep it).
    UnknownString,
    /// A long string.
    LongString(u16),
    /// Not base64 (audio payloads).
    BadBase64,
    /// Valid base64 of odd length / μ-law garbage.
    OddBase64,
    /// A lone UTF-16 surrogate escape.
    LoneSurrogate,
    /// Control characters and escapes.
    Controls,
    NonAscii,
    EmptyArray,
    EmptyObject,
    /// `depth` nested arrays (past serde_json's recursion limit of 128 when large).
    DeepArray(u16),
    /// `depth` nested objects.
    DeepObject(u16),
}

impl Hostile {
    /// The raw JSON text.
    pub fn text(self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::True => "true".into(),
            Self::Zero => "0".into(),
            Self::NegOne => "-1".into(),
            Self::HugeInt => "340282366920938463463374607431768211456".into(),
            Self::HugeNeg => "-9223372036854775809".into(),
            Self::HugeFloat => "1e400".into(),
            Self::Fraction => "1.5".into(),
            Self::Exponent => "-2.5E-310".into(),
            Self::EmptyString => "\"\"".into(),
            Self::UnknownString => "\"zz-fuzz-unknown-value\"".into(),
            Self::LongString(n) => format!("\"{}\"", "가".repeat(usize::from(n) % 5000)),
            Self::BadBase64 => "\"@@not*base64!!\"".into(),
            Self::OddBase64 => "\"/w\"".into(),
            Self::LoneSurrogate => "\"\\ud800x\\udfff\"".into(),
            Self::Controls => "\"\\u0000\\n\\t\\\\\\\"\\u001f\"".into(),
            Self::NonAscii => "\"☎️ 010-1234-5678 \\u00e9\"".into(),
            Self::EmptyArray => "[]".into(),
            Self::EmptyObject => "{}".into(),
            Self::DeepArray(d) => {
                let d = usize::from(d) % 3000;
                format!("{}{}", "[".repeat(d), "]".repeat(d))
            }
            Self::DeepObject(d) => {
                let d = usize::from(d) % 3000;
                format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d))
            }
        }
    }

    const COUNT: u8 = 21;

    fn from_index(i: u8, n: u16) -> Self {
        match i % Self::COUNT {
            0 => Self::Null,
            1 => Self::True,
            2 => Self::Zero,
            3 => Self::NegOne,
            4 => Self::HugeInt,
            5 => Self::HugeNeg,
            6 => Self::HugeFloat,
            7 => Self::Fraction,
            8 => Self::Exponent,
            9 => Self::EmptyString,
            10 => Self::UnknownString,
            11 => Self::LongString(n),
            12 => Self::BadBase64,
            13 => Self::OddBase64,
            14 => Self::LoneSurrogate,
            15 => Self::Controls,
            16 => Self::NonAscii,
            17 => Self::EmptyArray,
            18 => Self::EmptyObject,
            19 => Self::DeepArray(n),
            _ => Self::DeepObject(n),
        }
    }
}

/// Field names added to objects: wire names the parsers look at, and strangers.
const FIELD_NAMES: [&str; 12] = [
    "event",
    "type",
    "callId",
    "status",
    "payload",
    "media",
    "transfer",
    "requestId",
    "data",
    "zz_unknown_field",
    "",
    "\u{1F600}",
];

/// Byte sequences inserted raw: invalid UTF-8, truncated multi-byte characters, JSON syntax.
const GARBAGE: [&[u8]; 10] = [
    b"\xff",
    b"\xc3\x28",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\x00",
    b"{",
    b"]",
    b"\"",
    b",,",
    b"\\u",
];

/// One mutation step.
#[derive(Clone, Debug)]
pub enum Op {
    /// Keep the first `n/65535` of the input.
    Truncate(u16),
    /// XOR one byte.
    FlipByte(u32, u8),
    /// Insert a [`GARBAGE`] sequence.
    Insert(u32, u8),
    /// Replace the n-th JSON node (pre-order) with a hostile value.
    Replace(u32, Hostile),
    /// Add a field to the n-th JSON object.
    AddField(u32, u8, Hostile),
    /// Remove a field of the n-th JSON object.
    RemoveField(u32, u8),
    /// Nest the whole document this deep in arrays.
    WrapDeep(u16),
    /// The document twice.
    Duplicate,
}

impl Op {
    /// A random step (for the long run).
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        match rng.u8(0..16) {
            0 => Self::Truncate(rng.u16(..)),
            1 | 2 => Self::FlipByte(rng.u32(..), rng.u8(1..)),
            3 => Self::Insert(rng.u32(..), rng.u8(..)),
            4..=8 => Self::Replace(rng.u32(..), Hostile::from_index(rng.u8(..), rng.u16(..))),
            9..=11 => Self::AddField(
                rng.u32(..),
                rng.u8(..),
                Hostile::from_index(rng.u8(..), rng.u16(..)),
            ),
            12 | 13 => Self::RemoveField(rng.u32(..), rng.u8(..)),
            14 => Self::WrapDeep(rng.u16(..)),
            _ => Self::Duplicate,
        }
    }
}

/// Proptest strategy of one step (shrinks towards fewer, simpler steps).
pub fn op_strategy() -> impl Strategy<Value = Op> {
    let hostile = (any::<u8>(), any::<u16>()).prop_map(|(i, n)| Hostile::from_index(i, n));
    prop_oneof![
        1 => any::<u16>().prop_map(Op::Truncate),
        2 => (any::<u32>(), 1u8..).prop_map(|(p, x)| Op::FlipByte(p, x)),
        1 => (any::<u32>(), any::<u8>()).prop_map(|(p, g)| Op::Insert(p, g)),
        5 => (any::<u32>(), hostile.clone()).prop_map(|(p, h)| Op::Replace(p, h)),
        3 => (any::<u32>(), any::<u8>(), hostile).prop_map(|(p, f, h)| Op::AddField(p, f, h)),
        2 => (any::<u32>(), any::<u8>()).prop_map(|(p, f)| Op::RemoveField(p, f)),
        1 => any::<u16>().prop_map(Op::WrapDeep),
        1 => Just(Op::Duplicate),
    ]
}

/// Proptest strategy of a whole mutated input: a seed index and 1–4 steps.
pub fn input_strategy() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (any::<usize>(), prop::collection::vec(op_strategy(), 1..5))
}

const MARKER: &str = "\u{0}fz-marker\u{0}";

/// Applies `ops` to `seed` in order.
pub fn apply(seed: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut doc = seed.to_vec();
    for op in ops {
        doc = apply_one(doc, op);
    }
    doc
}

fn apply_one(mut doc: Vec<u8>, op: &Op) -> Vec<u8> {
    match op {
        Op::Truncate(n) => {
            let keep = doc.len() * usize::from(*n) / 65535;
            doc.truncate(keep);
            doc
        }
        Op::FlipByte(pos, x) => {
            if !doc.is_empty() {
                let i = *pos as usize % doc.len();
                doc[i] ^= x;
            }
            doc
        }
        Op::Insert(pos, g) => {
            let g = GARBAGE[usize::from(*g) % GARBAGE.len()];
            let i = *pos as usize % (doc.len() + 1);
            doc.splice(i..i, g.iter().copied());
            doc
        }
        Op::WrapDeep(d) => {
            let d = usize::from(*d) % 3000;
            let mut out = Vec::with_capacity(doc.len() + 2 * d);
            out.extend(std::iter::repeat_n(b'[', d));
            out.extend_from_slice(&doc);
            out.extend(std::iter::repeat_n(b']', d));
            out
        }
        Op::Duplicate => {
            let copy = doc.clone();
            doc.extend_from_slice(&copy);
            doc
        }
        Op::Replace(pick, hostile) => json_edit(doc, |v| {
            let n = count_nodes(v);
            let mut k = *pick as usize % n;
            if let Some(node) = nth_node(v, &mut k) {
                *node = Value::String(MARKER.into());
            }
            Some(hostile.text())
        }),
        Op::AddField(pick, field, hostile) => json_edit(doc, |v| {
            let n = count_objects(v);
            if n == 0 {
                return None;
            }
            let mut k = *pick as usize % n;
            let obj = nth_object(v, &mut k)?;
            let name = FIELD_NAMES[usize::from(*field) % FIELD_NAMES.len()];
            obj.insert(name.to_owned(), Value::String(MARKER.into()));
            Some(hostile.text())
        }),
        Op::RemoveField(pick, field) => json_edit(doc, |v| {
            let n = count_objects(v);
            if n == 0 {
                return None;
            }
            let mut k = *pick as usize % n;
            let obj = nth_object(v, &mut k)?;
            if !obj.is_empty() {
                let key = obj.keys().nth(usize::from(*field) % obj.len())?.clone();
                obj.remove(&key);
            }
            Some(String::new())
        }),
    }
}

/// Parses `doc` as JSON, lets `edit` change it (placing [`MARKER`] where raw text goes), and
/// writes it back with the marker replaced by the returned raw text. Non-JSON stays unchanged.
fn json_edit(doc: Vec<u8>, edit: impl FnOnce(&mut Value) -> Option<String>) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(&doc) else {
        return doc;
    };
    let Some(raw) = edit(&mut value) else {
        return doc;
    };
    let Ok(text) = serde_json::to_string(&value) else {
        return doc;
    };
    let marker = serde_json::to_string(MARKER).unwrap_or_default();
    text.replacen(&marker, &raw, 1).into_bytes()
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn nth_node<'a>(v: &'a mut Value, k: &mut usize) -> Option<&'a mut Value> {
    if *k == 0 {
        return Some(v);
    }
    *k -= 1;
    match v {
        Value::Array(a) => a.iter_mut().find_map(|c| nth_node(c, k)),
        Value::Object(o) => o.values_mut().find_map(|c| nth_node(c, k)),
        _ => None,
    }
}

fn count_objects(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.iter().map(count_objects).sum(),
        Value::Object(o) => 1 + o.values().map(count_objects).sum::<usize>(),
        _ => 0,
    }
}

fn nth_object<'a>(
    v: &'a mut Value,
    k: &mut usize,
) -> Option<&'a mut serde_json::Map<String, Value>> {
    match v {
        Value::Array(a) => a.iter_mut().find_map(|c| nth_object(c, k)),
        Value::Object(o) => {
            if *k == 0 {
                return Some(o);
            }
            *k -= 1;
            o.values_mut().find_map(|c| nth_object(c, k))
        }
        _ => None,
    }
}
