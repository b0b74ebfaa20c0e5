//! The spec lint turns shapes progenitor/typify would panic on, and closed vocabularies the
//! server sends, into messages that name the element at fault.

use clawops_codegen::spec::Specs;
use serde_json::{Value, json};

fn openapi(paths: Value, schemas: Value) -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn asyncapi() -> Value {
    json!({
        "asyncapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "operations": {"send": {"action": "send", "x-rust-enum": "ControlEvent", "messages": []}},
    })
}

fn lint(openapi: Value) -> String {
    match (Specs {
        openapi,
        asyncapi: asyncapi(),
    })
    .lint()
    {
        Ok(()) => String::new(),
        Err(e) => e.to_string(),
    }
}

fn get(responses: Value) -> Value {
    json!({"/x": {"get": {"operationId": "get_x", "responses": responses}}})
}

#[test]
fn a_clean_spec_passes() {
    let schemas = json!({"Status": {"type": "string", "enum": ["a"], "x-open-enum": true},
                         "X": {"type": "object", "properties": {"s": {"$ref": "#/components/schemas/Status"}}}});
    let responses = json!({"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/X"}}}}});
    assert_eq!(lint(openapi(get(responses), schemas)), "");
}

#[test]
fn default_response_is_rejected() {
    let out = lint(openapi(
        get(json!({"default": {"description": "e"}})),
        json!({}),
    ));
    assert!(out.contains("GET /x: `default` response"), "{out}");
}

#[test]
fn mixed_success_bodies_are_rejected() {
    let responses = json!({
        "200": {"description": "a", "content": {"application/json": {"schema": {"type": "string"}}}},
        "204": {"description": "b"},
    });
    assert!(
        lint(openapi(get(responses), json!({}))).contains("2xx responses with different bodies")
    );
}

#[test]
fn a_closed_enum_in_a_response_is_rejected() {
    let schemas = json!({"X": {"type": "object", "properties": {"s": {"type": "string", "enum": ["a", "b"]}}}});
    let responses = json!({"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/X"}}}}});
    let out = lint(openapi(get(responses), schemas));
    assert!(out.contains("GET /x response 200 -> X.s: enum sent by the server must be a named schema with x-open-enum"), "{out}");
}

#[test]
fn multipart_needs_codegen_skip() {
    let paths = json!({"/up": {"post": {"operationId": "up", "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}}, "responses": {"201": {"description": "ok"}}}}});
    assert!(
        lint(openapi(paths.clone(), json!({}))).contains("multipart body without x-codegen-skip")
    );
    let mut skipped = paths;
    skipped["/up"]["post"]["x-codegen-skip"] = json!(true);
    assert_eq!(lint(openapi(skipped, json!({}))), "");
}

#[test]
fn schema_defaults_and_closed_objects_are_rejected() {
    let schemas = json!({"X": {"type": "object", "additionalProperties": false, "properties": {"n": {"type": "integer", "default": 3}}}});
    let out = lint(openapi(json!({}), schemas));
    assert!(out.contains("X/properties/n/default"), "{out}");
    assert!(
        out.contains("X/additionalProperties: `additionalProperties: false`"),
        "{out}"
    );
}

#[test]
fn openapi_31_is_rejected() {
    let mut doc = openapi(json!({}), json!({}));
    doc["openapi"] = json!("3.1.0");
    assert!(lint(doc).contains("progenitor accepts 3.0.x only"));
}

#[test]
fn open_enum_variant_collisions_are_errors() {
    use clawops_codegen::open_enum::OpenEnum;
    let clash = OpenEnum::from_schema("S", &json!({"enum": ["in-progress", "in_progress"]}));
    assert!(
        clash
            .variants()
            .unwrap_err()
            .to_string()
            .contains("both become variant InProgress")
    );
    let shadow = OpenEnum::from_schema("S", &json!({"enum": ["human", "unknown"]}));
    assert!(
        shadow
            .variants()
            .unwrap_err()
            .to_string()
            .contains("x-enum-varnames")
    );
    let named = OpenEnum::from_schema(
        "S",
        &json!({"enum": ["human", "unknown"], "x-enum-varnames": ["Human", "Undetermined"]}),
    );
    assert_eq!(
        named.variants().unwrap()[1],
        ("Undetermined".to_owned(), "unknown".to_owned())
    );
}
