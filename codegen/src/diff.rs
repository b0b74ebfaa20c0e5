//! API evolution: what a spec change (or a generator change) means for users of the crate.
//!
//! Two layers are compared. The **spec layer** walks both OpenAPI and AsyncAPI documents and
//! classifies each change by who sends the schema it touches (a field the client sends is a
//! request field, one the server sends a response field): breaking, additive or documentation
//! only. The **Rust layer** compares the generated public surface ([`crate::surface`]), so a
//! generator change that alters the API without any spec change is reported too; it lists only
//! items the spec layer said nothing about, to keep the report free of echoes.
//!
//! The verdict is the version bump the changes require, with Cargo's 0.x rule: while the major
//! version is 0, a breaking change bumps the minor version and anything else the patch version.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::events::directions;
use crate::spec::{Specs, deref, operations, ref_name, schemas};

/// How a change affects users of the generated crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Impact {
    /// Descriptions, summaries and examples only.
    Documentation,
    /// New operations, events, optional fields or vocabulary values; existing code keeps working.
    Additive,
    /// Existing code may stop compiling or stop working.
    Breaking,
}

impl Impact {
    fn heading(self) -> &'static str {
        match self {
            Self::Breaking => "Breaking changes",
            Self::Additive => "Additive changes",
            Self::Documentation => "Documentation-only changes",
        }
    }
}

/// One reported change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// Its impact.
    pub impact: Impact,
    /// `REST`, `WebSocket` or `Rust`.
    pub area: &'static str,
    /// The operation, schema, event or Rust item it concerns.
    pub subject: String,
    /// One line of prose.
    pub text: String,
    /// Another item the change concerns (an event's payload type), if any.
    pub related: Option<String>,
}

fn change(impact: Impact, area: &'static str, subject: &str, text: String) -> Change {
    Change {
        impact,
        area,
        subject: subject.to_owned(),
        text,
        related: None,
    }
}

fn with_related(mut c: Change, related: &str) -> Change {
    c.related = Some(related.to_owned());
    c
}

/// The comparison of two API versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// What was compared from.
    pub from: String,
    /// What was compared to.
    pub to: String,
    /// Every change, grouped by impact when rendered.
    pub changes: Vec<Change>,
}

impl Report {
    /// Compares two spec pairs, and optionally two generated surfaces (`(client.rs, types.rs,
    /// events.rs)` texts) for the Rust layer.
    pub fn new(
        from: &str,
        to: &str,
        old: &Specs,
        new: &Specs,
        surfaces: Option<(&Surface, &Surface)>,
    ) -> Self {
        let mut changes = compare_rest(&old.openapi, &new.openapi);
        changes.extend(compare_websocket(&old.asyncapi, &new.asyncapi));
        if let Some((old_surface, new_surface)) = surfaces {
            let mentioned: BTreeSet<String> = changes
                .iter()
                .flat_map(|c| std::iter::once(c.subject.clone()).chain(c.related.clone()))
                .collect();
            changes.extend(
                compare_surfaces(old_surface, new_surface)
                    .into_iter()
                    .filter(|c| !mentioned.contains(&c.subject)),
            );
        }
        changes.sort();
        changes.dedup();
        Self {
            from: from.to_owned(),
            to: to.to_owned(),
            changes,
        }
    }

    /// The strongest impact, `None` when nothing changed.
    pub fn verdict(&self) -> Option<Impact> {
        self.changes.iter().map(|c| c.impact).max()
    }

    fn grouped(&self) -> Vec<(Impact, Vec<&Change>)> {
        [Impact::Breaking, Impact::Additive, Impact::Documentation]
            .into_iter()
            .map(|impact| {
                (
                    impact,
                    self.changes
                        .iter()
                        .filter(|c| c.impact == impact)
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, list)| !list.is_empty())
            .collect()
    }

    /// The plain-text report, ending with the verdict for `previous` (the last released version).
    pub fn render(&self, previous: &Version) -> String {
        let mut out = format!("API changes from {} to {}\n", self.from, self.to);
        for (impact, list) in self.grouped() {
            let _ = writeln!(out, "\n{} ({}):", impact.heading(), list.len());
            for c in list {
                let _ = writeln!(out, "  - [{}] {}", c.area, c.text);
            }
        }
        if self.changes.is_empty() {
            out.push_str("\nNo changes.\n");
        }
        let _ = writeln!(out, "\n{}", verdict_line(self.verdict(), previous));
        out
    }

    /// A Markdown changelog entry for the release after `previous`.
    pub fn changelog(&self, crate_names: &str, previous: &Version) -> String {
        let next = previous.bump(self.verdict());
        let mut out = format!(
            "## {crate_names} {next}\n\nAPI changes since {previous} ({} → {}).\n",
            self.from, self.to
        );
        for (impact, list) in self.grouped() {
            let title = match impact {
                Impact::Breaking => "Breaking",
                Impact::Additive => "Added",
                Impact::Documentation => "Documentation",
            };
            let _ = writeln!(out, "\n### {title}\n");
            for c in list {
                let _ = writeln!(out, "- {} ({})", c.text, c.area);
            }
        }
        out
    }
}

/// Checks released crate versions against what the changes since `previous` require; one
/// message per crate that is too low.
pub fn check_versions(
    current: &[(String, Version)],
    previous: &Version,
    verdict: Option<Impact>,
) -> Vec<String> {
    let required = previous.bump(verdict);
    current
        .iter()
        .filter(|(_, v)| *v < required)
        .map(|(name, v)| {
            format!("{name} is {v}, but the changes since {previous} require at least {required}")
        })
        .collect()
}

/// The verdict sentence.
pub fn verdict_line(verdict: Option<Impact>, previous: &Version) -> String {
    let next = previous.bump(verdict);
    let kind = match verdict {
        None => return format!("Verdict: no API change; {previous} needs no bump."),
        Some(Impact::Breaking) => "breaking",
        Some(Impact::Additive) => "additive",
        Some(Impact::Documentation) => "documentation only",
    };
    let rule = match (previous.major, verdict) {
        (0, Some(Impact::Breaking)) => {
            "a breaking change bumps the minor version while the major version is 0"
        }
        (0, _) => "a compatible change bumps the patch version while the major version is 0",
        (_, Some(Impact::Breaking)) => "a breaking change bumps the major version",
        (_, Some(Impact::Additive)) => "an additive change bumps the minor version",
        _ => "a documentation change bumps the patch version",
    };
    format!(
        "Verdict: {kind}; requires {} bump: {previous} -> {next} ({rule}).",
        next.bump_name(previous)
    )
}

/// A `major.minor.patch` version (pre-release and build metadata are not used by this project).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl Version {
    /// Parses `x.y.z`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u64>().ok());
        let v = Self {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(v)
    }

    /// The smallest version allowed after `self` for changes of impact `verdict`.
    pub fn bump(self, verdict: Option<Impact>) -> Self {
        let Self {
            major,
            minor,
            patch,
        } = self;
        match (major, verdict) {
            (_, None) => self,
            (0, Some(Impact::Breaking)) => Self {
                major,
                minor: minor + 1,
                patch: 0,
            },
            (0, Some(_)) => Self {
                major,
                minor,
                patch: patch + 1,
            },
            (_, Some(Impact::Breaking)) => Self {
                major: major + 1,
                minor: 0,
                patch: 0,
            },
            (_, Some(Impact::Additive)) => Self {
                major,
                minor: minor + 1,
                patch: 0,
            },
            (_, Some(Impact::Documentation)) => Self {
                major,
                minor,
                patch: patch + 1,
            },
        }
    }

    fn bump_name(self, previous: &Version) -> &'static str {
        if self.major != previous.major {
            "a major"
        } else if self.minor != previous.minor {
            "a minor"
        } else if self.patch != previous.patch {
            "a patch"
        } else {
            "no"
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

// ----- spec layer: REST ---------------------------------------------------------------------

/// Which side sends each named schema: (client-sent, server-sent).
fn senders(doc: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut client = BTreeSet::new();
    let mut server = BTreeSet::new();
    for (_, _, op) in operations(doc) {
        for p in op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Ok(p) = deref(doc, p) {
                reach(doc, p.get("schema"), &mut client);
            }
        }
        if let Some(body) = op.get("requestBody").and_then(|b| deref(doc, b).ok()) {
            reach(doc, Some(body), &mut client);
        }
        for (_, r) in op
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            reach(doc, deref(doc, r).ok(), &mut server);
        }
    }
    for (name, schema) in schemas(doc) {
        if schema.get("x-webhook").and_then(Value::as_bool) == Some(true)
            || name == "StatusCallbackEvent"
        {
            server.insert(name.clone());
            reach(doc, Some(&schema), &mut server);
        }
    }
    (client, server)
}

fn reach(doc: &Value, value: Option<&Value>, out: &mut BTreeSet<String>) {
    match value {
        Some(Value::Object(map)) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                let name = ref_name(r).to_owned();
                if r.starts_with("#/components/schemas/") && out.insert(name) {
                    reach(doc, crate::spec::resolve(doc, r), out);
                }
                if !r.starts_with("#/components/schemas/") {
                    reach(doc, crate::spec::resolve(doc, r), out);
                }
                return;
            }
            for (k, v) in map {
                if k != "example" && k != "examples" {
                    reach(doc, Some(v), out);
                }
            }
        }
        Some(Value::Array(items)) => items.iter().for_each(|v| reach(doc, Some(v), out)),
        _ => {}
    }
}

/// A schema's shape as short text: `Call`, `string`, `integer(int64)`, `[string]`, `map<string>`.
fn shape(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return ref_name(r).to_owned();
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let list: Vec<String> = values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect();
        return format!("enum({})", list.join("|"));
    }
    if let Some(all) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 1)
    {
        return shape(&all[0]);
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join("|"),
        _ => "any".to_owned(),
    };
    match ty.as_str() {
        "array" => format!(
            "[{}]",
            schema.get("items").map_or_else(|| "any".to_owned(), shape)
        ),
        "object" => match schema.get("additionalProperties") {
            Some(v @ Value::Object(_)) if schema.get("properties").is_none() => {
                format!("map<{}>", shape(v))
            }
            _ if schema.get("properties").is_some() => "object{..}".to_owned(),
            _ => "object".to_owned(),
        },
        _ => match schema.get("format").and_then(Value::as_str) {
            Some(f) => format!("{ty}({f})"),
            None => ty,
        },
    }
}

fn text_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

struct Op<'a> {
    method: String,
    path: String,
    value: &'a Value,
}

fn ops_by_id(doc: &Value) -> BTreeMap<String, Op<'_>> {
    operations(doc)
        .into_iter()
        .filter_map(|(method, path, op)| {
            let id = op.get("operationId")?.as_str()?.to_owned();
            Some((
                id,
                Op {
                    method: method.to_uppercase(),
                    path: path.to_owned(),
                    value: op,
                },
            ))
        })
        .collect()
}

/// (location, name) → (required, shape, description) of an operation's parameters, path-item
/// parameters included.
fn params(
    doc: &Value,
    path: &str,
    op: &Value,
) -> BTreeMap<(String, String), (bool, String, String)> {
    let item_params = doc.pointer(&format!(
        "/paths/{}/parameters",
        path.replace('~', "~0").replace('/', "~1")
    ));
    let mut out = BTreeMap::new();
    for p in item_params
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            op.get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
    {
        let Ok(p) = deref(doc, p) else { continue };
        let key = (text_of(p, "in"), text_of(p, "name"));
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        out.insert(
            key,
            (
                required,
                p.get("schema").map_or_else(|| "any".to_owned(), shape),
                text_of(p, "description"),
            ),
        );
    }
    out
}

fn success_shape(doc: &Value, op: &Value) -> String {
    let mut shapes = BTreeSet::new();
    for (code, r) in op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if code.starts_with('2') {
            let body = deref(doc, r)
                .ok()
                .and_then(|r| r.get("content"))
                .and_then(Value::as_object);
            match body
                .and_then(|c| c.values().next())
                .and_then(|m| m.get("schema"))
            {
                Some(s) => shapes.insert(shape(s)),
                None => shapes.insert("(no body)".to_owned()),
            };
        }
    }
    shapes.into_iter().collect::<Vec<_>>().join(", ")
}

fn body_shape(doc: &Value, op: &Value) -> Option<String> {
    let body = deref(doc, op.get("requestBody")?).ok()?;
    let (media, content) = body.get("content")?.as_object()?.iter().next()?;
    Some(format!(
        "{} ({media})",
        content
            .get("schema")
            .map_or_else(|| "any".to_owned(), shape)
    ))
}

/// Spec-level comparison of two OpenAPI documents.
pub fn compare_rest(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let (old_ops, new_ops) = (ops_by_id(old), ops_by_id(new));
    let mut renamed_to = BTreeSet::new();
    for (id, op) in &old_ops {
        match new_ops.get(id) {
            Some(now) => compare_operation(old, new, id, op, now, &mut out),
            None => {
                let twin = new_ops.iter().find(|(nid, n)| {
                    n.method == op.method && n.path == op.path && !old_ops.contains_key(*nid)
                });
                match twin {
                    Some((nid, _)) => {
                        renamed_to.insert(nid.clone());
                        out.push(change(
                            Impact::Breaking,
                            "REST",
                            id,
                            format!(
                                "operation `{id}` renamed to `{nid}` ({} {})",
                                op.method, op.path
                            ),
                        ));
                    }
                    None => out.push(change(
                        Impact::Breaking,
                        "REST",
                        id,
                        format!("operation `{id}` removed ({} {})", op.method, op.path),
                    )),
                }
            }
        }
    }
    for (id, op) in new_ops
        .iter()
        .filter(|(id, _)| !old_ops.contains_key(*id) && !renamed_to.contains(*id))
    {
        out.push(change(
            Impact::Additive,
            "REST",
            id,
            format!("new operation `{id}`: {} {}", op.method, op.path),
        ));
    }
    let (old_client, old_server) = senders(old);
    let (new_client, new_server) = senders(new);
    let client: BTreeSet<String> = old_client.union(&new_client).cloned().collect();
    let server: BTreeSet<String> = old_server.union(&new_server).cloned().collect();
    compare_schemas(
        "REST",
        &schemas(old),
        &schemas(new),
        &client,
        &server,
        &mut out,
    );
    out
}

fn compare_operation(
    old: &Value,
    new: &Value,
    id: &str,
    before: &Op<'_>,
    after: &Op<'_>,
    out: &mut Vec<Change>,
) {
    let subject = id;
    if (before.method.as_str(), before.path.as_str())
        != (after.method.as_str(), after.path.as_str())
    {
        out.push(change(
            Impact::Breaking,
            "REST",
            subject,
            format!(
                "operation `{id}` moved from {} {} to {} {}",
                before.method, before.path, after.method, after.path
            ),
        ));
    }
    let (p0, p1) = (
        params(old, &before.path, before.value),
        params(new, &after.path, after.value),
    );
    let removed: Vec<_> = p0
        .keys()
        .filter(|k| !p1.contains_key(*k))
        .cloned()
        .collect();
    let mut added: Vec<_> = p1
        .keys()
        .filter(|k| !p0.contains_key(*k))
        .cloned()
        .collect();
    for key in removed {
        let (_, shape0, _) = &p0[&key];
        let twin = added
            .iter()
            .position(|k| k.0 == key.0 && &p1[k].1 == shape0);
        match twin {
            Some(i) => {
                let to = added.remove(i);
                out.push(change(
                    Impact::Breaking,
                    "REST",
                    subject,
                    format!(
                        "operation `{id}`: {} parameter `{}` renamed to `{}`",
                        key.0, key.1, to.1
                    ),
                ));
            }
            None => out.push(change(
                Impact::Breaking,
                "REST",
                subject,
                format!("operation `{id}`: {} parameter `{}` removed", key.0, key.1),
            )),
        }
    }
    for key in added {
        let (required, shape1, _) = &p1[&key];
        let (impact, kind) = if *required {
            (Impact::Breaking, "required")
        } else {
            (Impact::Additive, "optional")
        };
        out.push(change(
            impact,
            "REST",
            subject,
            format!(
                "operation `{id}`: new {kind} {} parameter `{}`: {shape1}",
                key.0, key.1
            ),
        ));
    }
    for (key, (r0, s0, d0)) in &p0 {
        let Some((r1, s1, d1)) = p1.get(key) else {
            continue;
        };
        if s0 != s1 {
            out.push(change(
                Impact::Breaking,
                "REST",
                subject,
                format!(
                    "operation `{id}`: {} parameter `{}` type changed from {s0} to {s1}",
                    key.0, key.1
                ),
            ));
        }
        match (r0, r1) {
            (false, true) => out.push(change(
                Impact::Breaking,
                "REST",
                subject,
                format!(
                    "operation `{id}`: {} parameter `{}` became required",
                    key.0, key.1
                ),
            )),
            (true, false) => out.push(change(
                Impact::Additive,
                "REST",
                subject,
                format!(
                    "operation `{id}`: {} parameter `{}` became optional",
                    key.0, key.1
                ),
            )),
            _ => {}
        }
        if d0 != d1 {
            out.push(change(
                Impact::Documentation,
                "REST",
                subject,
                format!(
                    "operation `{id}`: description of parameter `{}` changed",
                    key.1
                ),
            ));
        }
    }
    let (b0, b1) = (body_shape(old, before.value), body_shape(new, after.value));
    if b0 != b1 {
        let describe = |b: &Option<String>| b.clone().unwrap_or_else(|| "none".to_owned());
        out.push(change(
            Impact::Breaking,
            "REST",
            subject,
            format!(
                "operation `{id}`: request body changed from {} to {}",
                describe(&b0),
                describe(&b1)
            ),
        ));
    }
    let (r0, r1) = (
        success_shape(old, before.value),
        success_shape(new, after.value),
    );
    if r0 != r1 {
        out.push(change(
            Impact::Breaking,
            "REST",
            subject,
            format!("operation `{id}`: response changed from {r0} to {r1}"),
        ));
    }
    for key in ["summary", "description"] {
        if text_of(before.value, key) != text_of(after.value, key) {
            out.push(change(
                Impact::Documentation,
                "REST",
                subject,
                format!("operation `{id}`: {key} changed"),
            ));
        }
    }
}

/// Compares named schemas; `client`/`server` say who sends each (a schema sent by both gets the
/// stricter rule).
fn compare_schemas(
    area: &'static str,
    old: &serde_json::Map<String, Value>,
    new: &serde_json::Map<String, Value>,
    client: &BTreeSet<String>,
    server: &BTreeSet<String>,
    out: &mut Vec<Change>,
) {
    for (name, before) in old {
        let Some(after) = new.get(name) else {
            out.push(change(
                Impact::Breaking,
                area,
                name,
                format!("schema `{name}` removed"),
            ));
            continue;
        };
        let (sent_by_client, sent_by_server) = (client.contains(name), server.contains(name));
        compare_schema(
            area,
            name,
            before,
            after,
            sent_by_client,
            sent_by_server,
            out,
        );
    }
    for name in new.keys().filter(|n| !old.contains_key(*n)) {
        out.push(change(
            Impact::Additive,
            area,
            name,
            format!("new schema `{name}`"),
        ));
    }
}

fn is_open(schema: &Value) -> bool {
    crate::spec::is_open_enum(schema)
}

fn required_set(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool) == Some(true)
        || schema
            .get("type")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|x| x == "null"))
}

#[allow(clippy::too_many_arguments)]
fn compare_schema(
    area: &'static str,
    name: &str,
    before: &Value,
    after: &Value,
    by_client: bool,
    by_server: bool,
    out: &mut Vec<Change>,
) {
    let enum_values = |s: &Value| -> Option<Vec<String>> {
        s.get("enum").and_then(Value::as_array).map(|v| {
            v.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect()
        })
    };
    match (enum_values(before), enum_values(after)) {
        (Some(v0), Some(v1)) => {
            if is_open(before) != is_open(after) {
                let now = if is_open(after) { "open" } else { "closed" };
                out.push(change(
                    Impact::Breaking,
                    area,
                    name,
                    format!("vocabulary `{name}` became {now}"),
                ));
            }
            for v in v0.iter().filter(|v| !v1.contains(v)) {
                out.push(change(
                    Impact::Breaking,
                    area,
                    name,
                    format!("vocabulary `{name}`: value `{v}` removed"),
                ));
            }
            for v in v1.iter().filter(|v| !v0.contains(v)) {
                // A new value in a closed enum the server sends breaks exhaustive parsing.
                let impact = if is_open(after) || !by_server {
                    Impact::Additive
                } else {
                    Impact::Breaking
                };
                out.push(change(
                    impact,
                    area,
                    name,
                    format!("vocabulary `{name}`: new value `{v}`"),
                ));
            }
        }
        (None, None) => compare_properties(area, name, before, after, by_client, by_server, out),
        _ => {
            out.push(change(
                Impact::Breaking,
                area,
                name,
                format!(
                    "schema `{name}` changed kind from {} to {}",
                    shape(before),
                    shape(after)
                ),
            ));
            return;
        }
    }
    if shape(before) != shape(after)
        && enum_values(before).is_none()
        && enum_values(after).is_none()
    {
        out.push(change(
            Impact::Breaking,
            area,
            name,
            format!(
                "schema `{name}` type changed from {} to {}",
                shape(before),
                shape(after)
            ),
        ));
    }
    if text_of(before, "description") != text_of(after, "description") {
        out.push(change(
            Impact::Documentation,
            area,
            name,
            format!("schema `{name}`: description changed"),
        ));
    }
    if before.get("example") != after.get("example")
        || before.get("examples") != after.get("examples")
    {
        out.push(change(
            Impact::Documentation,
            area,
            name,
            format!("schema `{name}`: example changed"),
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn compare_properties(
    area: &'static str,
    name: &str,
    before: &Value,
    after: &Value,
    by_client: bool,
    by_server: bool,
    out: &mut Vec<Change>,
) {
    let empty = serde_json::Map::new();
    let p0 = before
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let p1 = after
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let (req0, req1) = (required_set(before), required_set(after));
    // Present on every value: required and never null.
    let always = |req: &BTreeSet<String>, props: &serde_json::Map<String, Value>, p: &str| {
        req.contains(p) && !props.get(p).is_some_and(nullable)
    };
    let removed: Vec<&String> = p0.keys().filter(|k| !p1.contains_key(*k)).collect();
    let mut added: Vec<&String> = p1.keys().filter(|k| !p0.contains_key(*k)).collect();
    for prop in removed {
        let twin = added.iter().position(|k| {
            shape(&p1[*k]) == shape(&p0[prop]) && req1.contains(*k) == req0.contains(prop)
        });
        match twin {
            Some(i) => {
                let to = added.remove(i);
                out.push(change(
                    Impact::Breaking,
                    area,
                    name,
                    format!("schema `{name}`: property `{prop}` renamed to `{to}`"),
                ));
            }
            None => out.push(change(
                Impact::Breaking,
                area,
                name,
                format!("schema `{name}`: property `{prop}` removed"),
            )),
        }
    }
    for prop in added {
        let required = req1.contains(prop);
        let impact = if by_client && required {
            Impact::Breaking
        } else {
            Impact::Additive
        };
        let kind = if required { "required" } else { "optional" };
        out.push(change(
            impact,
            area,
            name,
            format!(
                "schema `{name}`: new {kind} property `{prop}`: {}",
                shape(&p1[prop])
            ),
        ));
    }
    for (prop, s0) in p0 {
        let Some(s1) = p1.get(prop) else { continue };
        if shape(s0) != shape(s1) {
            out.push(change(
                Impact::Breaking,
                area,
                name,
                format!(
                    "schema `{name}`: property `{prop}` type changed from {} to {}",
                    shape(s0),
                    shape(s1)
                ),
            ));
        }
        let (was, is) = (always(&req0, p0, prop), always(&req1, p1, prop));
        if was && !is {
            let impact = if by_server {
                Impact::Breaking
            } else {
                Impact::Additive
            };
            out.push(change(
                impact,
                area,
                name,
                format!("schema `{name}`: property `{prop}` became optional"),
            ));
        }
        if !was && is {
            let impact = if by_client {
                Impact::Breaking
            } else {
                Impact::Additive
            };
            out.push(change(
                impact,
                area,
                name,
                format!("schema `{name}`: property `{prop}` became required"),
            ));
        }
        if text_of(s0, "description") != text_of(s1, "description") {
            out.push(change(
                Impact::Documentation,
                area,
                name,
                format!("schema `{name}`: description of `{prop}` changed"),
            ));
        }
    }
}

// ----- spec layer: WebSocket ----------------------------------------------------------------

/// Spec-level comparison of two AsyncAPI documents: events per message enum, then payloads.
pub fn compare_websocket(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let (d0, d1) = (
        directions(old).unwrap_or_default(),
        directions(new).unwrap_or_default(),
    );
    let mut client = BTreeSet::new();
    let mut server = BTreeSet::new();
    for (doc, list) in [(old, &d0), (new, &d1)] {
        for d in list {
            let sends = doc
                .pointer(&format!("/operations/{}/action", d.operation))
                .and_then(Value::as_str)
                == Some("send");
            let target = if sends { &mut server } else { &mut client };
            for v in &d.variants {
                target.insert(v.payload.clone());
                reach(
                    doc,
                    doc.pointer(&format!("/components/schemas/{}", v.payload)),
                    target,
                );
            }
        }
    }
    // Payload schemas whose arrival or departure an event change already reports.
    let mut payloads_reported = BTreeSet::new();
    for before in &d0 {
        let Some(after) = d1.iter().find(|d| d.enum_name == before.enum_name) else {
            out.push(change(
                Impact::Breaking,
                "WebSocket",
                &before.enum_name,
                format!("message enum `{}` removed", before.enum_name),
            ));
            continue;
        };
        let subject = before.enum_name.as_str();
        for v in &before.variants {
            match after.variants.iter().find(|n| n.event == v.event) {
                None => {
                    payloads_reported.insert(v.payload.clone());
                    out.push(with_related(
                        change(
                            Impact::Breaking,
                            "WebSocket",
                            subject,
                            format!("`{subject}`: event `{}` removed", v.event),
                        ),
                        &v.payload,
                    ))
                }
                Some(n) if n.payload != v.payload || n.ident != v.ident => out.push(change(
                    Impact::Breaking,
                    "WebSocket",
                    subject,
                    format!(
                        "`{subject}`: event `{}` now carries `{}` as `{}` (was `{}` as `{}`)",
                        v.event, n.payload, n.ident, v.payload, v.ident
                    ),
                )),
                Some(n) if n.summary != v.summary => out.push(change(
                    Impact::Documentation,
                    "WebSocket",
                    subject,
                    format!("`{subject}`: summary of event `{}` changed", v.event),
                )),
                Some(_) => {}
            }
        }
        for n in after
            .variants
            .iter()
            .filter(|n| !before.variants.iter().any(|v| v.event == n.event))
        {
            payloads_reported.insert(n.payload.clone());
            out.push(with_related(
                change(
                    Impact::Additive,
                    "WebSocket",
                    subject,
                    format!("`{subject}`: new event `{}` ({})", n.event, n.payload),
                ),
                &n.payload,
            ));
        }
    }
    for after in d1
        .iter()
        .filter(|d| !d0.iter().any(|b| b.enum_name == d.enum_name))
    {
        out.push(change(
            Impact::Additive,
            "WebSocket",
            &after.enum_name,
            format!("new message enum `{}`", after.enum_name),
        ));
    }
    let strip_event = |m: serde_json::Map<String, Value>| -> serde_json::Map<String, Value> {
        m.into_iter()
            .map(|(k, mut v)| {
                if let Some(props) = v.get_mut("properties").and_then(Value::as_object_mut) {
                    props.remove("event");
                }
                if let Some(req) = v.get_mut("required").and_then(Value::as_array_mut) {
                    req.retain(|r| r != "event");
                }
                (k, v)
            })
            .collect()
    };
    compare_schemas(
        "WebSocket",
        &strip_event(schemas(old)),
        &strip_event(schemas(new)),
        &client,
        &server,
        &mut out,
    );
    // An added or removed event already says its payload schema came or went.
    out.retain(|c| {
        let echo = c.text == format!("new schema `{}`", c.subject)
            || c.text == format!("schema `{}` removed", c.subject);
        !(echo && payloads_reported.contains(&c.subject))
    });
    out
}

// ----- Rust layer ---------------------------------------------------------------------------

/// The generated public surface, as rendered by [`crate::surface`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Surface {
    /// Operations (`client.rs`).
    pub operations: String,
    /// REST models (`types.rs`).
    pub types: String,
    /// WebSocket models (`events.rs`).
    pub events: String,
}

impl Surface {
    /// Renders the surface of generated sources.
    pub fn of(client_rs: &str, types_rs: &str, events_rs: &str) -> crate::Result<Self> {
        Ok(Self {
            operations: crate::surface::operations(client_rs)?,
            types: crate::surface::types(types_rs)?,
            events: crate::surface::types(events_rs)?,
        })
    }
}

/// Item name → (header line, member lines) of a surface text.
fn blocks(text: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let mut out: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("  ") {
            if let Some(entry) = current.as_ref().and_then(|key| out.get_mut(key)) {
                entry.1.push(line.trim().to_owned());
            }
        } else if !line.trim().is_empty() {
            let key = item_name(line);
            out.insert(key.clone(), (line.to_owned(), Vec::new()));
            current = Some(key);
        }
    }
    out
}

fn item_name(header: &str) -> String {
    let head = header.split(':').next().unwrap_or(header);
    head.split_whitespace()
        .last()
        .unwrap_or(head)
        .split('(')
        .next()
        .unwrap_or(head)
        .to_owned()
}

fn member_name(line: &str) -> String {
    line.split([':', '=', '('])
        .next()
        .unwrap_or(line)
        .trim()
        .trim_start_matches("param ")
        .trim_start_matches("body ")
        .trim()
        .to_owned()
}

/// Rust-level comparison of two generated surfaces.
pub fn compare_surfaces(old: &Surface, new: &Surface) -> Vec<Change> {
    let mut out = Vec::new();
    for (module, a, b) in [
        ("Client::", &old.operations, &new.operations),
        ("types::", &old.types, &new.types),
        ("events::", &old.events, &new.events),
    ] {
        let (b0, b1) = (blocks(a), blocks(b));
        for (name, (header0, members0)) in &b0 {
            let path = format!("clawops_api::{module}{name}");
            let Some((header1, members1)) = b1.get(name) else {
                out.push(change(
                    Impact::Breaking,
                    "Rust",
                    name,
                    format!("`{path}` removed"),
                ));
                continue;
            };
            if header0 != header1 {
                let impact = open_enum_growth(header0, header1);
                out.push(change(
                    impact,
                    "Rust",
                    name,
                    format!("`{path}` changed: `{header0}` -> `{header1}`"),
                ));
            }
            let m0: BTreeMap<String, &String> =
                members0.iter().map(|m| (member_name(m), m)).collect();
            let m1: BTreeMap<String, &String> =
                members1.iter().map(|m| (member_name(m), m)).collect();
            for (k, line) in &m0 {
                match m1.get(k) {
                    None => out.push(change(
                        Impact::Breaking,
                        "Rust",
                        name,
                        format!("`{path}`: `{line}` removed"),
                    )),
                    Some(now) if now != line => out.push(change(
                        Impact::Breaking,
                        "Rust",
                        name,
                        format!("`{path}`: `{line}` -> `{now}`"),
                    )),
                    Some(_) => {}
                }
            }
            for (k, line) in m1.iter().filter(|(k, _)| !m0.contains_key(*k)) {
                let impact = if line.contains("(required)") {
                    Impact::Breaking
                } else {
                    Impact::Additive
                };
                let _ = k;
                out.push(change(
                    impact,
                    "Rust",
                    name,
                    format!("`{path}`: new `{line}`"),
                ));
            }
        }
        for name in b1.keys().filter(|n| !b0.contains_key(*n)) {
            out.push(change(
                Impact::Additive,
                "Rust",
                name,
                format!("new `clawops_api::{module}{name}`"),
            ));
        }
    }
    out
}

/// `open enum X: a | b` growing to `a | b | c` is additive; anything else breaking.
fn open_enum_growth(before: &str, after: &str) -> Impact {
    let values = |h: &str| -> Option<BTreeSet<String>> {
        let rest = h.strip_prefix("open enum ")?;
        let (_, list) = rest.split_once(": ")?;
        Some(list.split(" | ").map(str::to_owned).collect())
    };
    match (values(before), values(after)) {
        (Some(v0), Some(v1)) if v0.is_subset(&v1) => Impact::Additive,
        _ => Impact::Breaking,
    }
}
