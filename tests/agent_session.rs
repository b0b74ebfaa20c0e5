//! The session contract: scripted session, buffering stand-in, factory.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clawops::agent::testing::{Action, MockCall, ScriptedSession, SessionRecord};
use clawops::agent::{
    BufferingCall, BuiltinTools, CallControl, Role, Session, SessionEvent, SessionFactory,
    SessionTools, ToolOutput, ToolRegistry,
};

#[tokio::test]
async fn scripted_session_runs_script_tools_and_echo() {
    let session = ScriptedSession::new()
        .echo(true)
        .on_start([
            Action::SendAudio(Bytes::from_static(&[0xAA; 160])),
            Action::Emit(SessionEvent::Transcript {
                role: Role::Assistant,
                text: "안녕하세요".into(),
            }),
            Action::CallTool {
                name: "send_dtmf".into(),
                args: r#"{"digits":"1"}"#.into(),
            },
        ])
        .on_dtmf("#", [Action::HangUp]);
    let log = session.log();
    session.set_tools(SessionTools {
        registry: ToolRegistry::new(),
        builtins: BuiltinTools::all(),
        hold_audio: None,
    });
    let call = MockCall::new("CA1");
    session.start(call.clone()).await.unwrap();
    session.idle().await;
    session.feed_audio(Bytes::from_static(&[1; 160]), 40).await;
    session.feed_dtmf(clawops::agent::DtmfInput::new("#")).await;
    session.idle().await;
    session.stop().await;
    session.stop().await; // idempotent

    assert_eq!(call.sent_audio(), vec![vec![0xAA; 160], vec![1; 160]]);
    assert_eq!(call.hangups(), 1);
    assert_eq!(call.sent_tones(), ["1"]);
    assert_eq!(
        call.events(),
        vec![SessionEvent::Transcript {
            role: Role::Assistant,
            text: "안녕하세요".into()
        }]
    );
    assert_eq!(
        log.records(),
        vec![
            SessionRecord::Tools(vec![
                "hang_up".into(),
                "collect_dtmf".into(),
                "send_dtmf".into(),
                "transfer_call".into()
            ]),
            SessionRecord::Prewarmed,
            SessionRecord::Attached("CA1".into()),
            SessionRecord::ToolResult {
                name: "send_dtmf".into(),
                output: ToolOutput::Text("sent".into())
            },
            SessionRecord::Audio {
                len: 160,
                timestamp_ms: 40
            },
            SessionRecord::Dtmf("#".into()),
            SessionRecord::Stopped,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn incident_7_stop_cancels_and_reaps_scripted_tasks() {
    let session =
        ScriptedSession::new().on_start([Action::Sleep(Duration::from_secs(3600)), Action::HangUp]);
    let call = MockCall::new("CA1");
    session.start(call.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    session.stop().await;
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert_eq!(call.hangups(), 0);
}

#[tokio::test]
async fn incident_22_factory_creates_independent_sessions() {
    let factory = || ScriptedSession::new().echo(true);
    let a = factory.create().unwrap();
    let b = factory.create().unwrap();
    let (ca, cb) = (MockCall::new("CA1"), MockCall::new("CA2"));
    a.start(ca.clone()).await.unwrap();
    b.start(cb.clone()).await.unwrap();
    a.feed_audio(Bytes::from_static(b"aaaa"), 0).await;
    b.feed_audio(Bytes::from_static(b"bbbb"), 0).await;
    a.stop().await;
    // Stopping A does not affect B.
    b.feed_audio(Bytes::from_static(b"bbbb"), 20).await;
    assert_eq!(ca.sent_audio(), vec![b"aaaa".to_vec()]);
    assert_eq!(cb.sent_audio(), vec![b"bbbb".to_vec(), b"bbbb".to_vec()]);
}

#[tokio::test]
async fn session_start_failure_is_an_error() {
    let session = ScriptedSession::new().fail_start("OPENAI_API_KEY missing");
    let err = session.start(MockCall::new("CA1")).await.unwrap_err();
    assert_eq!(err.to_string(), "session: OPENAI_API_KEY missing");
}

#[tokio::test]
async fn buffering_call_buffers_until_attach_then_flushes_in_order() {
    let stand_in = BufferingCall::new("CA1");
    let as_call: Arc<dyn CallControl> = stand_in.clone();
    assert!(!as_call.is_connected());
    as_call.send_audio(Bytes::from_static(b"greeting-1"));
    as_call.clear_audio(); // barge-in before answer drops the greeting
    as_call.send_audio(Bytes::from_static(b"greeting-2"));
    as_call.send_audio(Bytes::from_static(b"greeting-3"));
    as_call.emit(SessionEvent::Transcript {
        role: Role::Assistant,
        text: "hi".into(),
    });
    as_call.record_tool_call();
    as_call.record_tool_error("lookup", "boom"); // full metrics surface on the stub
    assert_eq!(stand_in.buffered_bytes(), 20);
    assert!(as_call.collect_dtmf(Default::default()).await.is_err());

    let real = MockCall::new("CA1");
    let dropped = stand_in.flush_into(real.as_ref());
    assert_eq!(
        real.sent_audio(),
        vec![b"greeting-2".to_vec(), b"greeting-3".to_vec()]
    );
    assert_eq!(dropped.get("transcript"), Some(&1));
    assert_eq!(stand_in.counters(), (1, 1, 1));
    // After attach nothing more is buffered.
    as_call.send_audio(Bytes::from_static(b"late"));
    assert_eq!(stand_in.buffered_bytes(), 0);
}
