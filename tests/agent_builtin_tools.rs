//! Builtin tools: exact names and schemas (snapshot) and dispatch behaviour.

use std::time::Duration;

use clawops::agent::testing::MockCall;
use clawops::agent::{
    AgentError, BuiltinTool, BuiltinTools, CollectOptions, DtmfInput, SessionTools, ToolOutput,
    ToolRegistry,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[test]
fn builtin_tool_schemas_snapshot() {
    let all: Vec<Value> = BuiltinTools::all()
        .specs()
        .iter()
        .map(|s| s.neutral())
        .collect();
    insta::assert_snapshot!(
        "builtin_tool_schemas",
        serde_json::to_string_pretty(&all).unwrap()
    );
}

#[test]
fn builtin_names_order_and_key_facts() {
    let names: Vec<&str> = BuiltinTool::ALL.iter().map(|b| b.name()).collect();
    assert_eq!(
        names,
        ["hang_up", "collect_dtmf", "send_dtmf", "transfer_call"]
    );
    let hang_up = BuiltinTool::HangUp.spec();
    assert_eq!(
        hang_up.neutral(),
        json!({"name":"hang_up","description":"End the phone call. Use when the conversation is finished or the caller says goodbye.","parameters":{"type":"object","properties":{}}})
    );
    let collect = BuiltinTool::CollectDtmf.spec();
    assert_eq!(collect.parameters["required"], json!(["max_digits"]));
    assert_eq!(
        collect.parameters["properties"]["timeout"]["description"],
        "입력 대기 시간(초, 기본: 5)"
    );
    let transfer = BuiltinTool::TransferCall.spec();
    let props = transfer.parameters["properties"].as_object().unwrap();
    let mut keys: Vec<&String> = props.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "after_transfer",
            "caller_id",
            "caller_id_mode",
            "destination_type",
            "mode",
            "timeout",
            "to",
            "whisper"
        ]
    );
    assert!(
        props["caller_id"]["description"]
            .as_str()
            .unwrap()
            .contains("outright \u{2014} use")
    );
    assert_eq!(
        props["caller_id_mode"]["enum"],
        json!(["account", "original"])
    );
}

#[test]
fn selection_and_offer_order() {
    #[derive(Deserialize, JsonSchema)]
    struct Empty {}
    let mut registry = ToolRegistry::new();
    registry
        .register("lookup", |_: Empty| async { Ok::<_, String>("x") })
        .unwrap();
    let tools = SessionTools {
        registry,
        builtins: BuiltinTools::from_names(["transfer_call", "hang_up", "none"]),
        hold_audio: None,
    };
    let names: Vec<String> = tools.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["lookup", "hang_up", "transfer_call"]);
    assert!(BuiltinTools::none().specs().is_empty());
    assert_eq!(BuiltinTools::default(), BuiltinTools::all());
    assert!(SessionTools::batch_needs_no_hold_audio([
        "lookup",
        "collect_dtmf"
    ]));
    assert!(!SessionTools::batch_needs_no_hold_audio([
        "lookup", "hang_up"
    ]));
}

fn all_tools() -> SessionTools {
    SessionTools {
        registry: ToolRegistry::new(),
        builtins: BuiltinTools::all(),
        hold_audio: None,
    }
}

#[tokio::test]
async fn hang_up_sends_nothing_back() {
    let call = MockCall::new("CA1");
    let out = all_tools().dispatch(call.as_ref(), "hang_up", "{}").await;
    assert_eq!(out, ToolOutput::Silent);
    assert_eq!(call.hangups(), 1);
    assert_eq!(call.tool_metrics().0, 1);
}

#[tokio::test]
async fn collect_dtmf_defaults_results_and_busy_text() {
    let tools = all_tools();
    let call = MockCall::new("CA1");
    call.push_collect_result(Ok(DtmfInput::new("1234")));
    let out = tools
        .dispatch(call.as_ref(), "collect_dtmf", r#"{"max_digits":"6"}"#)
        .await;
    assert_eq!(out, ToolOutput::Text("1234".into()));
    assert_eq!(
        call.collect_requests()[0],
        CollectOptions::new(6)
            .finish_on_key(Some('#'))
            .timeout(Duration::from_secs(5))
            .max_wait(Some(Duration::from_secs(30)))
    );
    // Empty → timeout text.
    let out = tools
        .dispatch(
            call.as_ref(),
            "collect_dtmf",
            r#"{"max_digits":4,"finish_on_key":"*","timeout":3}"#,
        )
        .await;
    assert_eq!(out, ToolOutput::Text("(타임아웃 - 입력 없음)".into()));
    assert_eq!(call.collect_requests()[1].finish_on_key, Some('*'));
    assert_eq!(call.collect_requests()[1].timeout, Duration::from_secs(3));
    // Missing max_digits → default 4.
    tools.dispatch(call.as_ref(), "collect_dtmf", "").await;
    assert_eq!(call.collect_requests()[2].max_digits, 4);
    // Busy → a "wait" text, not an error (incident 30).
    call.push_collect_result(Err(AgentError::DtmfCollectorBusy));
    let out = tools
        .dispatch(call.as_ref(), "collect_dtmf", r#"{"max_digits":4}"#)
        .await;
    assert_eq!(
        out,
        ToolOutput::Text("(이미 입력을 받는 중입니다. 결과를 기다리세요.)".into())
    );
    // Bad arguments.
    let out = tools
        .dispatch(call.as_ref(), "collect_dtmf", r#"{"max_digits":0}"#)
        .await;
    assert_eq!(
        out.model_text().unwrap(),
        "Error: max_digits must be at least 1"
    );
}

#[tokio::test]
async fn send_dtmf_validates_then_sends() {
    let tools = all_tools();
    let call = MockCall::new("CA1");
    let out = tools
        .dispatch(call.as_ref(), "send_dtmf", r#"{"digits":"1w2W#"}"#)
        .await;
    assert_eq!(out, ToolOutput::Text("sent".into()));
    assert_eq!(call.sent_tones(), ["1w2W#"]);
    let out = tools
        .dispatch(call.as_ref(), "send_dtmf", r#"{"digits":"12a"}"#)
        .await;
    assert!(out.is_error());
    assert_eq!(
        call.sent_tones().len(),
        1,
        "nothing sent for an invalid string"
    );
}

#[tokio::test]
async fn latent_transfer_call_validates_before_replying_initiated() {
    let tools = all_tools();
    let call = MockCall::new("CA1");
    let out = tools
        .dispatch(
            call.as_ref(),
            "transfer_call",
            r#"{"to":"01012345678","mode":"warm","whisper":"VIP","after_transfer":"return","caller_id_mode":"original","timeout":"20"}"#,
        )
        .await;
    assert_eq!(
        out,
        ToolOutput::Text(r#"{"status": "transfer_initiated"}"#.into())
    );
    let t = &call.transfers()[0];
    assert_eq!(t.to, "01012345678");
    assert_eq!(t.whisper.as_deref(), Some("VIP"));
    assert_eq!(t.caller_id_mode.as_deref(), Some("original"));
    assert_eq!(t.timeout_secs, 20);
    let cmd = t.to_command("CA1", "r").unwrap();
    assert_eq!(cmd.transfer.mode.to_string(), "warm");
    assert_eq!(cmd.transfer.after_transfer.to_string(), "return");

    for (args, expected) in [
        (r#"{"to":""}"#, "Error: 'to' must not be empty"),
        (
            r#"{"to":"1","destination_type":"isdn"}"#,
            "Error: destination_type must be 'pstn' or 'sip', got 'isdn'",
        ),
        (
            r#"{"to":"1","mode":"hot"}"#,
            "Error: mode must be 'blind' or 'warm', got 'hot'",
        ),
        (
            r#"{"to":"1","after_transfer":"stay"}"#,
            "Error: after_transfer must be 'terminate' or 'return', got 'stay'",
        ),
        (
            r#"{"to":"1","caller_id_mode":"orignal"}"#,
            "Error: caller_id_mode must be 'account' or 'original', got 'orignal'",
        ),
        (
            r#"{"to":"1","hold_media":"moh"}"#,
            "Error: unexpected argument 'hold_media'",
        ),
    ] {
        let out = tools.dispatch(call.as_ref(), "transfer_call", args).await;
        assert_eq!(out.model_text().unwrap(), expected, "{args}");
    }
    assert_eq!(
        call.transfers().len(),
        1,
        "no transfer started for bad arguments"
    );
}

#[tokio::test]
async fn duplicate_transfer_calls_send_two_requests() {
    let tools = all_tools();
    let call = MockCall::new("CA1");
    for _ in 0..2 {
        tools
            .dispatch(call.as_ref(), "transfer_call", r#"{"to":"010"}"#)
            .await;
    }
    assert_eq!(call.transfers().len(), 2);
}

#[tokio::test]
async fn incident_15_builtins_before_answer_return_not_ready_text() {
    let tools = all_tools();
    let call = MockCall::ringing("CA1");
    for name in ["hang_up", "collect_dtmf", "send_dtmf", "transfer_call"] {
        let out = tools.dispatch(call.as_ref(), name, r#"{}"#).await;
        assert_eq!(
            out,
            ToolOutput::Text(
                "통화가 아직 연결되지 않았습니다(발신 호출음 단계). 상대가 전화를 받은 뒤에 다시 시도하세요."
                    .into()
            ),
            "{name}"
        );
    }
    assert_eq!(call.hangups(), 0);
}

#[tokio::test]
async fn latent_disabled_builtin_is_not_dispatched() {
    let tools = SessionTools {
        registry: ToolRegistry::new(),
        builtins: BuiltinTools::all().without(BuiltinTool::HangUp),
        hold_audio: None,
    };
    let call = MockCall::new("CA1");
    let out = tools.dispatch(call.as_ref(), "hang_up", "{}").await;
    assert_eq!(out.model_text().unwrap(), "Error: Unknown tool: hang_up");
    assert_eq!(call.hangups(), 0);
    // A user tool cannot take a builtin name at all.
    #[derive(Deserialize, JsonSchema)]
    struct Empty {}
    let mut r = ToolRegistry::new();
    assert!(
        r.register("hang_up", |_: Empty| async { Ok::<_, String>("x") })
            .is_err()
    );
}

#[tokio::test]
async fn user_tool_errors_are_counted() {
    #[derive(Deserialize, JsonSchema)]
    struct Empty {}
    let mut registry = ToolRegistry::new();
    registry
        .register("broken", |_: Empty| async { Err::<String, _>("nope") })
        .unwrap();
    let tools = SessionTools {
        registry,
        builtins: BuiltinTools::all(),
        hold_audio: None,
    };
    let call = MockCall::new("CA1");
    let out = tools.dispatch(call.as_ref(), "broken", "{}").await;
    assert_eq!(out.model_text().unwrap(), "Error: nope");
    assert_eq!(
        call.tool_metrics(),
        (1, vec![("broken".to_owned(), "nope".to_owned())])
    );
}

#[test]
fn incident_49_no_hold_audio_for_batches_with_collect_dtmf() {
    assert!(SessionTools::batch_needs_no_hold_audio(["collect_dtmf"]));
    assert!(SessionTools::batch_needs_no_hold_audio([
        "lookup",
        "collect_dtmf"
    ]));
    assert!(!SessionTools::batch_needs_no_hold_audio(["lookup"]));
    assert!(!SessionTools::batch_needs_no_hold_audio(std::iter::empty()));
}
