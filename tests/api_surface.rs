//! Snapshots of the generated API surface: every REST operation with its parameters, body and
//! response; every generated type with its fields and wire names; the wire JSON of one example per
//! WebSocket message. A spec or generator change shows up here as a reviewable diff.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clawops_codegen::{events, spec::Specs, surface};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn generated(file: &str) -> String {
    std::fs::read_to_string(root().join("generated/src").join(file)).expect("generated file")
}

#[test]
fn rest_operations() {
    insta::assert_snapshot!(surface::operations(&generated("client.rs")).unwrap());
}

#[test]
fn rest_models() {
    insta::assert_snapshot!(surface::types(&generated("types.rs")).unwrap());
}

#[test]
fn websocket_models() {
    insta::assert_snapshot!(surface::types(&generated("events.rs")).unwrap());
}

#[test]
fn websocket_message_wire_json() {
    let specs = Specs::load(&root()).unwrap();
    let mut out = String::new();
    for direction in events::directions(&specs.asyncapi).unwrap() {
        for variant in &direction.variants {
            let example = variant
                .example
                .clone()
                .unwrap_or_else(|| panic!("{} has no example", variant.ident));
            let wire = clawops_api::conformance::message_text_roundtrip(
                &direction.enum_name,
                &example.to_string(),
            )
            .expect("message enum")
            .unwrap_or_else(|e| panic!("{} example: {e}", variant.ident));
            let _ = writeln!(
                out,
                "{} {} ({})",
                direction.enum_name, variant.event, variant.ident
            );
            let _ = writeln!(out, "{wire}\n");
        }
    }
    insta::assert_snapshot!(out);
}
