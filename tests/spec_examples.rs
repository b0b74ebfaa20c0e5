//! Every `example` in both specs deserializes into its generated type and serializes back to
//! exactly the same JSON.

use std::path::Path;

use clawops_api::conformance;
use clawops_api::events::{ControlCommand, ControlEvent, MediaCommand, MediaEvent};
use clawops_codegen::events::directions;
use clawops_codegen::spec::{Specs, deref, operations, ref_name, schemas};
use serde_json::Value;

fn specs() -> Specs {
    Specs::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// (where, schema name, example) for every example attached to a named schema: on the schema
/// itself, and on request/response media types whose schema is a `$ref`.
fn rest_examples(openapi: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (name, schema) in schemas(openapi) {
        if let Some(example) = schema.get("example") {
            out.push((
                format!("#/components/schemas/{name}"),
                name.clone(),
                example.clone(),
            ));
        }
    }
    for (method, path, op) in operations(openapi) {
        let mut media = Vec::new();
        if let Some(body) = op.get("requestBody") {
            media.push(("request".to_owned(), deref(openapi, body).unwrap()));
        }
        for (code, response) in op
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            media.push((
                format!("response {code}"),
                deref(openapi, response).unwrap(),
            ));
        }
        for (at, holder) in media {
            for (_, content) in holder
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
                    found.extend(deref(openapi, ex).unwrap().get("value").cloned());
                }
                for example in found {
                    out.push((
                        format!("{} {path} {at}", method.to_uppercase()),
                        name.to_owned(),
                        example,
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_rest_example_round_trips() {
    let specs = specs();
    let examples = rest_examples(&specs.openapi);
    assert!(
        examples.len() >= 40,
        "only {} REST examples",
        examples.len()
    );
    let mut failures = Vec::new();
    for (at, name, example) in &examples {
        match conformance::rest_roundtrip(name, example.clone()) {
            None => failures.push(format!("{at}: no generated type for {name}")),
            Some(Err(e)) => failures.push(format!("{at}: {name} does not decode: {e}")),
            Some(Ok(back)) if &back != example => failures.push(format!(
                "{at}: {name} changed in a round trip:\n    spec: {example}\n    back: {back}"
            )),
            Some(Ok(_)) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples failed:\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n")
    );
}

#[test]
fn every_websocket_schema_example_round_trips() {
    let specs = specs();
    let mut failures = Vec::new();
    for (name, schema) in schemas(&specs.asyncapi) {
        let mut found: Vec<Value> = schema.get("example").cloned().into_iter().collect();
        found.extend(
            schema
                .get("examples")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .cloned(),
        );
        for example in found {
            // Payload schemas carry `event`; their structs leave the tag to the message enums.
            let mut expected = example.clone();
            let is_payload = schema.pointer("/properties/event").is_some();
            if is_payload {
                expected.as_object_mut().map(|o| o.remove("event"));
            }
            match conformance::ws_roundtrip(&name, example.clone()) {
                None => failures.push(format!("{name}: no generated type")),
                Some(Err(e)) => failures.push(format!("{name}: does not decode: {e}")),
                Some(Ok(back)) if back != expected => {
                    failures.push(format!("{name}: spec {example} back {back}"))
                }
                Some(Ok(_)) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn known<T>(decoded: &T, unknown: impl Fn(&T) -> bool) -> bool {
    !unknown(decoded)
}

#[test]
fn every_message_example_decodes_to_its_own_variant_and_round_trips() {
    let specs = specs();
    let mut count = 0;
    for direction in directions(&specs.asyncapi).unwrap() {
        for variant in &direction.variants {
            count += 1;
            let example = variant
                .example
                .clone()
                .unwrap_or_else(|| panic!("{} has no example", variant.ident));
            let text = example.to_string();
            let (event, is_known, back) = match direction.enum_name.as_str() {
                "ControlEvent" => {
                    let e = ControlEvent::from_json(&text).unwrap();
                    (
                        e.event().map(str::to_owned),
                        known(&e, |e| matches!(e, ControlEvent::Unknown(_))),
                        e.to_json().unwrap(),
                    )
                }
                "ControlCommand" => {
                    let e = ControlCommand::from_json(&text).unwrap();
                    (
                        e.event().map(str::to_owned),
                        known(&e, |e| matches!(e, ControlCommand::Unknown(_))),
                        e.to_json().unwrap(),
                    )
                }
                "MediaEvent" => {
                    let e = MediaEvent::from_json(&text).unwrap();
                    (
                        e.event().map(str::to_owned),
                        known(&e, |e| matches!(e, MediaEvent::Unknown(_))),
                        e.to_json().unwrap(),
                    )
                }
                "MediaCommand" => {
                    let e = MediaCommand::from_json(&text).unwrap();
                    (
                        e.event().map(str::to_owned),
                        known(&e, |e| matches!(e, MediaCommand::Unknown(_))),
                        e.to_json().unwrap(),
                    )
                }
                other => panic!("unexpected message enum {other}"),
            };
            assert!(is_known, "{}: example decoded as Unknown", variant.ident);
            assert_eq!(
                event.as_deref(),
                Some(variant.event.as_str()),
                "{}",
                variant.ident
            );
            // The `event` tag is written first on the wire.
            assert!(
                back.starts_with(&format!("{{\"event\":\"{}\"", variant.event)),
                "{back}"
            );
            let back: Value = serde_json::from_str(&back).unwrap();
            assert_eq!(back, example, "{} changed in a round trip", variant.ident);
            let slow = conformance::message_roundtrip(&direction.enum_name, example.clone())
                .unwrap()
                .unwrap();
            assert_eq!(
                slow, example,
                "{}: the serde path disagrees with from_json",
                variant.ident
            );
        }
    }
    assert!(count >= 28, "only {count} messages");
}
