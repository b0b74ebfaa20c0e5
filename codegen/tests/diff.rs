//! API-evolution report: each kind of change on a small spec pair, with the exact report line
//! and verdict; the Rust-surface layer; versions; and the 0.46.1 → 0.70.0 worked example.

use clawops_codegen::diff::{Impact, Report, Surface, Version, check_versions, compare_surfaces};
use clawops_codegen::spec::Specs;
use serde_json::{Value, json};

/// A small API: one list operation returning `Thing`, one create taking `NewThing`, an open
/// vocabulary the server sends, a closed one the client sends, and two WebSocket events.
fn base() -> Specs {
    let openapi = json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things": {
                "get": {
                    "operationId": "list_things",
                    "summary": "List things.",
                    "parameters": [
                        {"name": "status", "in": "query", "required": false, "schema": {"$ref": "#/components/schemas/Status"}},
                        {"name": "owner", "in": "query", "required": false, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
                },
                "post": {
                    "operationId": "create_thing",
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewThing"}}}},
                    "responses": {"201": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
                }
            }
        },
        "components": {"schemas": {
            "Status": {"type": "string", "enum": ["on", "off"], "x-open-enum": true},
            "Color": {"type": "string", "enum": ["red", "blue"]},
            "Thing": {"type": "object", "required": ["id", "name"], "properties": {
                "id": {"type": "string"}, "name": {"type": "string", "description": "Name."},
                "status": {"$ref": "#/components/schemas/Status"}}},
            "NewThing": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"}, "color": {"$ref": "#/components/schemas/Color"}, "note": {"type": "string"}}}
        }}
    });
    let asyncapi = json!({
        "asyncapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "channels": {"control": {"address": "/c", "messages": {
            "Ping": {"$ref": "#/components/messages/Ping"}, "Hello": {"$ref": "#/components/messages/Hello"}}}},
        "operations": {
            "sendControlEvents": {"action": "send", "x-rust-enum": "ControlEvent", "channel": {"$ref": "#/channels/control"},
                "messages": [{"$ref": "#/channels/control/messages/Ping"}]},
            "receiveControlCommands": {"action": "receive", "x-rust-enum": "ControlCommand", "channel": {"$ref": "#/channels/control"},
                "messages": [{"$ref": "#/channels/control/messages/Hello"}]}
        },
        "components": {
            "messages": {
                "Ping": {"summary": "A ping.", "payload": {"$ref": "#/components/schemas/Ping"}},
                "Hello": {"summary": "Hello.", "payload": {"$ref": "#/components/schemas/Hello"}}
            },
            "schemas": {
                "Ping": {"type": "object", "required": ["event"], "properties": {"event": {"type": "string", "const": "ping"}, "at": {"type": "string"}}},
                "Hello": {"type": "object", "required": ["event"], "properties": {"event": {"type": "string", "const": "hello"}, "name": {"type": "string"}}}
            }
        }
    });
    Specs { openapi, asyncapi }
}

fn report(edit: impl FnOnce(&mut Specs)) -> Report {
    let old = base();
    let mut new = base();
    edit(&mut new);
    Report::new("old", "new", &old, &new, None)
}

/// The report's change lines and its verdict.
fn lines(report: &Report) -> (Vec<String>, Option<Impact>) {
    let text = report.render(&Version::parse("0.3.1").unwrap());
    (
        text.lines()
            .filter(|l| l.starts_with("  - "))
            .map(|l| l[4..].to_owned())
            .collect(),
        report.verdict(),
    )
}

fn schema<'a>(specs: &'a mut Specs, name: &str) -> &'a mut Value {
    &mut specs.openapi["components"]["schemas"][name]
}

#[test]
fn no_change_no_bump() {
    let r = report(|_| {});
    assert_eq!(lines(&r), (vec![], None));
    assert!(
        r.render(&Version::parse("0.3.1").unwrap())
            .ends_with("Verdict: no API change; 0.3.1 needs no bump.\n")
    );
}

#[test]
fn operation_removed() {
    let r = report(|s| {
        s.openapi["paths"]["/things"]
            .as_object_mut()
            .unwrap()
            .remove("post");
    });
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] operation `create_thing` removed (POST /things)".into()],
            Some(Impact::Breaking)
        )
    );
}

#[test]
fn operation_renamed() {
    let r = report(|s| s.openapi["paths"]["/things"]["get"]["operationId"] = json!("find_things"));
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] operation `list_things` renamed to `find_things` (GET /things)".into()],
            Some(Impact::Breaking)
        )
    );
}

#[test]
fn path_or_method_changed() {
    let r = report(|s| {
        let get = s.openapi["paths"]["/things"]
            .as_object_mut()
            .unwrap()
            .remove("get")
            .unwrap();
        s.openapi["paths"]["/v2/things"] = json!({"get": get});
    });
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] operation `list_things` moved from GET /things to GET /v2/things".into()],
            Some(Impact::Breaking)
        )
    );
}

#[test]
fn parameter_removed_and_renamed() {
    let r = report(|s| {
        let params = s.openapi["paths"]["/things"]["get"]["parameters"]
            .as_array_mut()
            .unwrap();
        params[1]["name"] = json!("holder");
        params.remove(0);
    });
    assert_eq!(
        lines(&r),
        (
            vec![
                "[REST] operation `list_things`: query parameter `owner` renamed to `holder`"
                    .into(),
                "[REST] operation `list_things`: query parameter `status` removed".into(),
            ],
            Some(Impact::Breaking)
        )
    );
}

#[test]
fn new_optional_parameter_is_additive_and_required_one_breaking() {
    let r = report(|s| {
        let params = s.openapi["paths"]["/things"]["get"]["parameters"]
            .as_array_mut()
            .unwrap();
        params.push(json!({"name": "page", "in": "query", "schema": {"type": "integer", "format": "int64"}}));
    });
    assert_eq!(lines(&r), (vec!["[REST] operation `list_things`: new optional query parameter `page`: integer(int64)".into()], Some(Impact::Additive)));
    let r = report(|s| {
        let params = s.openapi["paths"]["/things"]["get"]["parameters"]
            .as_array_mut()
            .unwrap();
        params.push(json!({"name": "tenant", "in": "query", "required": true, "schema": {"type": "string"}}));
    });
    assert_eq!(
        lines(&r),
        (
            vec![
                "[REST] operation `list_things`: new required query parameter `tenant`: string"
                    .into()
            ],
            Some(Impact::Breaking)
        )
    );
}

#[test]
fn field_removed_and_renamed() {
    let r = report(|s| {
        let props = schema(s, "Thing")["properties"].as_object_mut().unwrap();
        props.remove("status");
    });
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] schema `Thing`: property `status` removed".into()],
            Some(Impact::Breaking)
        )
    );
    // The 0.53 blocked-recipients case: `number` became `recipient`.
    let r = report(|s| {
        let thing = schema(s, "Thing");
        let name = thing["properties"]
            .as_object_mut()
            .unwrap()
            .remove("name")
            .unwrap();
        thing["properties"]["label"] = name;
        thing["required"] = json!(["id", "label"]);
    });
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] schema `Thing`: property `name` renamed to `label`".into()],
            Some(Impact::Breaking)
        )
    );
}

#[test]
fn type_changed() {
    let r = report(|s| {
        schema(s, "Thing")["properties"]["id"] = json!({"type": "integer", "format": "int64"})
    });
    assert_eq!(
        lines(&r),
        (
            vec![
                "[REST] schema `Thing`: property `id` type changed from string to integer(int64)"
                    .into()
            ],
            Some(Impact::Breaking)
        )
    );
}

#[test]
fn optional_to_required_on_a_request_is_breaking() {
    let r = report(|s| schema(s, "NewThing")["required"] = json!(["name", "note"]));
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] schema `NewThing`: property `note` became required".into()],
            Some(Impact::Breaking)
        )
    );
    // The same on a response only promises more: additive.
    let r = report(|s| schema(s, "Thing")["required"] = json!(["id", "name", "status"]));
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] schema `Thing`: property `status` became required".into()],
            Some(Impact::Additive)
        )
    );
}

#[test]
fn required_to_optional_on_a_response_is_breaking() {
    let r = report(|s| schema(s, "Thing")["required"] = json!(["id"]));
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] schema `Thing`: property `name` became optional".into()],
            Some(Impact::Breaking)
        )
    );
    let r = report(|s| schema(s, "Thing")["properties"]["name"]["nullable"] = json!(true));
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] schema `Thing`: property `name` became optional".into()],
            Some(Impact::Breaking)
        )
    );
    // On a request it asks for less: additive.
    let r = report(|s| schema(s, "NewThing")["required"] = json!([]));
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] schema `NewThing`: property `name` became optional".into()],
            Some(Impact::Additive)
        )
    );
}

#[test]
fn closed_request_enum_narrowed_is_breaking_widened_additive() {
    let r = report(|s| schema(s, "Color")["enum"] = json!(["red"]));
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] vocabulary `Color`: value `blue` removed".into()],
            Some(Impact::Breaking)
        )
    );
    let r = report(|s| schema(s, "Color")["enum"] = json!(["red", "blue", "green"]));
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] vocabulary `Color`: new value `green`".into()],
            Some(Impact::Additive)
        )
    );
}

#[test]
fn new_value_of_an_open_enum_is_additive() {
    let r = report(|s| schema(s, "Status")["enum"] = json!(["on", "off", "standby"]));
    assert_eq!(
        lines(&r),
        (
            vec!["[REST] vocabulary `Status`: new value `standby`".into()],
            Some(Impact::Additive)
        )
    );
}

#[test]
fn new_operation_and_new_optional_field_are_additive() {
    let r = report(|s| {
        s.openapi["paths"]["/things/{id}"] = json!({"get": {"operationId": "get_thing", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}}});
        schema(s, "Thing")["properties"]["weight"] = json!({"type": "number", "format": "double"});
    });
    assert_eq!(
        lines(&r),
        (
            vec![
                "[REST] schema `Thing`: new optional property `weight`: number(double)".into(),
                "[REST] new operation `get_thing`: GET /things/{id}".into(),
            ],
            Some(Impact::Additive)
        )
    );
}

#[test]
fn documentation_only() {
    let r = report(|s| {
        s.openapi["paths"]["/things"]["get"]["summary"] = json!("List all the things.");
        schema(s, "Thing")["properties"]["name"]["description"] = json!("The thing's name.");
    });
    assert_eq!(
        lines(&r),
        (
            vec![
                "[REST] schema `Thing`: description of `name` changed".into(),
                "[REST] operation `list_things`: summary changed".into(),
            ],
            Some(Impact::Documentation)
        )
    );
}

#[test]
fn websocket_event_added_and_removed() {
    let r = report(|s| {
        let a = &mut s.asyncapi;
        a["components"]["schemas"]["Bye"] = json!({"type": "object", "required": ["event"], "properties": {"event": {"type": "string", "const": "bye"}}});
        a["components"]["messages"]["Bye"] =
            json!({"summary": "Bye.", "payload": {"$ref": "#/components/schemas/Bye"}});
        a["channels"]["control"]["messages"]["Bye"] = json!({"$ref": "#/components/messages/Bye"});
        a["operations"]["sendControlEvents"]["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"$ref": "#/channels/control/messages/Bye"}));
    });
    assert_eq!(
        lines(&r),
        (
            vec!["[WebSocket] `ControlEvent`: new event `bye` (Bye)".into()],
            Some(Impact::Additive)
        )
    );
    let r = report(|s| s.asyncapi["operations"]["receiveControlCommands"]["messages"] = json!([]));
    assert_eq!(
        lines(&r),
        (
            vec!["[WebSocket] `ControlCommand`: event `hello` removed".into()],
            Some(Impact::Breaking)
        )
    );
}

#[test]
fn websocket_payload_field_changes_follow_the_sender() {
    // A field the server drops from an event it sends: breaking for readers.
    let r = report(|s| {
        s.asyncapi["components"]["schemas"]["Ping"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("at");
    });
    assert_eq!(
        lines(&r),
        (
            vec!["[WebSocket] schema `Ping`: property `at` removed".into()],
            Some(Impact::Breaking)
        )
    );
    // A new required field in a command the agent sends: breaking for writers.
    let r = report(|s| {
        let hello = &mut s.asyncapi["components"]["schemas"]["Hello"];
        hello["properties"]["version"] = json!({"type": "string"});
        hello["required"] = json!(["event", "version"]);
    });
    assert_eq!(
        lines(&r),
        (
            vec!["[WebSocket] schema `Hello`: new required property `version`: string".into()],
            Some(Impact::Breaking)
        )
    );
}

#[test]
fn a_generator_change_without_a_spec_change_is_reported() {
    let old = Surface { types: "struct Thing\n  id: String = \"id\"\n  name: String = \"name\"\nopen enum Status: on | off\n".into(), ..Surface::default() };
    let new = Surface { types: "struct Thing\n  id: i64 = \"id\"\n  name: String = \"name\"\nopen enum Status: on | off | standby\nstruct Extra\n".into(), ..Surface::default() };
    let specs = base();
    let r = Report::new("old", "new", &specs, &specs, Some((&old, &new)));
    assert_eq!(
        lines(&r),
        (
            vec![
                "[Rust] `clawops_api::types::Thing`: `id: String = \"id\"` -> `id: i64 = \"id\"`".into(),
                "[Rust] new `clawops_api::types::Extra`".into(),
                "[Rust] `clawops_api::types::Status` changed: `open enum Status: on | off` -> `open enum Status: on | off | standby`".into(),
            ],
            Some(Impact::Breaking)
        )
    );
    assert_eq!(compare_surfaces(&old, &old), vec![]);
}

#[test]
fn semver_verdicts_follow_cargo_rules() {
    let v = |s: &str| Version::parse(s).unwrap();
    assert_eq!(v("0.3.1").bump(Some(Impact::Breaking)), v("0.4.0"));
    assert_eq!(v("0.3.1").bump(Some(Impact::Additive)), v("0.3.2"));
    assert_eq!(v("0.3.1").bump(Some(Impact::Documentation)), v("0.3.2"));
    assert_eq!(v("1.3.1").bump(Some(Impact::Breaking)), v("2.0.0"));
    assert_eq!(v("1.3.1").bump(Some(Impact::Additive)), v("1.4.0"));
    assert_eq!(v("1.3.1").bump(Some(Impact::Documentation)), v("1.3.2"));
    assert_eq!(v("1.3.1").bump(None), v("1.3.1"));
    assert_eq!(Version::parse("1.2"), None);
    let current = vec![
        ("clawops".to_owned(), v("0.3.2")),
        ("clawops-api".to_owned(), v("0.4.0")),
    ];
    assert_eq!(
        check_versions(&current, &v("0.3.1"), Some(Impact::Additive)),
        Vec::<String>::new()
    );
    assert_eq!(
        check_versions(&current, &v("0.3.1"), Some(Impact::Breaking)),
        vec!["clawops is 0.3.2, but the changes since 0.3.1 require at least 0.4.0".to_owned()]
    );
    let r = report(|s| schema(s, "Color")["enum"] = json!(["red"]));
    assert!(r.render(&v("0.3.1")).ends_with(
        "Verdict: breaking; requires a minor bump: 0.3.1 -> 0.4.0 (a breaking change bumps the minor version while the major version is 0).\n"
    ));
}

#[test]
fn changelog_entry() {
    let r = report(|s| {
        schema(s, "Color")["enum"] = json!(["red"]);
        schema(s, "Status")["enum"] = json!(["on", "off", "standby"]);
    });
    assert_eq!(
        r.changelog("clawops-api", &Version::parse("0.3.1").unwrap()),
        "## clawops-api 0.4.0\n\nAPI changes since 0.3.1 (old → new).\n\n### Breaking\n\n- vocabulary `Color`: value `blue` removed (REST)\n\n### Added\n\n- vocabulary `Status`: new value `standby` (REST)\n"
    );
}
