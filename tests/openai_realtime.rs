//! `OpenAIRealtime` against a fake Realtime server on 127.0.0.1: exact client frames.

mod openai_realtime_common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use clawops::agent::{
    BufferingCall, CallHandle, DtmfInput, Role, Session, SessionEvent, ToolRegistry,
};
use clawops::providers::openai::{OpenAIRealtime, TurnDetection};
use openai_realtime_common::{FakeCall, FakeRealtime, headline_tools};
use serde_json::{Value, json};

const PROMPT: &str = "친절한 상담원입니다. 고객의 질문에 답변해주세요.";

fn session(fake: &FakeRealtime) -> OpenAIRealtime {
    OpenAIRealtime::builder()
        .api_key("sk-test-key")
        .base_url(&fake.base_url)
        .system_prompt(PROMPT)
        .voice("marin")
        .language("ko")
        .build()
        .unwrap()
}

fn expected_tools() -> Value {
    json!([
        {"type":"function","name":"check_order","description":"주문 상태를 확인합니다.",
         "parameters":{"type":"object","properties":{"order_id":{"type":"string","description":"주문 번호"}},"required":["order_id"]}},
        {"type":"function","name":"hang_up","description":"End the phone call. Use when the conversation is finished or the caller says goodbye.",
         "parameters":{"type":"object","properties":{}}},
        {"type":"function","name":"collect_dtmf","description":"사용자로부터 DTMF(전화 키패드) 입력을 수집합니다. 반드시 사용자에게 무엇을 입력해야 하는지 안내한 후 호출하세요.",
         "parameters":{"type":"object","properties":{"max_digits":{"type":"integer","description":"수집할 최대 자릿수"},"finish_on_key":{"type":"string","description":"입력 종료 키 (기본: #)"},"timeout":{"type":"integer","description":"입력 대기 시간(초, 기본: 5)"}},"required":["max_digits"]}},
        {"type":"function","name":"send_dtmf","description":"DTMF 신호를 전송합니다. ARS 메뉴 탐색이나 내선번호 입력 시 사용합니다.",
         "parameters":{"type":"object","properties":{"digits":{"type":"string","description":"전송할 번호 (0-9, *, #). 'w'는 500ms 대기, 'W'는 1000ms 대기. 예: '1', '1234#', '1w2'"}},"required":["digits"]}},
    ])
}

fn audio_delta(item: &str, bytes: &[u8]) -> Value {
    json!({"type":"response.output_audio.delta","event_id":"e","response_id":"resp_1","item_id":item,"output_index":0,"content_index":0,"delta":B64.encode(bytes)})
}

async fn started(
    fake: &mut FakeRealtime,
    s: &OpenAIRealtime,
    call: &Arc<FakeCall>,
) -> openai_realtime_common::Conn {
    s.set_tools(headline_tools());
    let handle: CallHandle = call.clone();
    let (res, conn) = tokio::join!(s.start(handle), fake.conn());
    res.unwrap();
    conn
}

#[tokio::test]
async fn session_update_is_the_exact_first_frame_with_tools_then_greeting() {
    let mut fake = FakeRealtime::start("session_update").await;
    let s = session(&fake);
    let call = FakeCall::new("CA1");
    let mut conn = started(&mut fake, &s, &call).await;
    assert_eq!(conn.authorization, "Bearer sk-test-key");
    assert_eq!(conn.uri, "/v1/realtime?model=gpt-realtime-2");
    let first = conn.frame().await;
    let mut tools = expected_tools().as_array().unwrap().clone();
    // transfer_call is long; check it separately by name and required.
    let got_tools = first["session"]["tools"].as_array().unwrap();
    assert_eq!(got_tools.len(), 5);
    assert_eq!(got_tools[4]["name"], "transfer_call");
    assert_eq!(got_tools[4]["parameters"]["required"], json!(["to"]));
    tools.push(got_tools[4].clone());
    assert_eq!(
        first,
        json!({"type":"session.update","session":{
            "type":"realtime",
            "output_modalities":["audio"],
            "instructions": PROMPT,
            "audio":{
                "input":{
                    "format":{"type":"audio/pcmu"},
                    "noise_reduction":{"type":"near_field"},
                    "transcription":{"model":"gpt-4o-transcribe","language":"ko"},
                    "turn_detection":{"type":"semantic_vad","eagerness":"low","create_response":true,"interrupt_response":true}
                },
                "output":{"format":{"type":"audio/pcmu"},"voice":"marin"}
            },
            "tools": tools,
            "tracing":"auto"
        }})
    );
    assert_eq!(conn.frame().await, json!({"type":"response.create"}));
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn server_vad_transcription_prompt_and_no_greeting() {
    let mut fake = FakeRealtime::start("server_vad").await;
    let s = OpenAIRealtime::builder()
        .api_key("k")
        .base_url(&fake.base_url)
        .model("gpt-realtime-mini")
        .voice("cedar")
        .language("en")
        .transcription_model("whisper-1")
        .transcription_prompt("ClawOps, 클로옵스")
        .turn_detection(TurnDetection::ServerVad {
            threshold: Some(0.6),
            prefix_padding_ms: Some(300),
            silence_duration_ms: Some(500),
        })
        .greeting(false)
        .build()
        .unwrap();
    let call = FakeCall::new("CA2");
    let mut conn = started(&mut fake, &s, &call).await;
    assert_eq!(conn.uri, "/v1/realtime?model=gpt-realtime-mini");
    let first = conn.frame().await;
    assert_eq!(
        first["session"]["audio"]["input"]["turn_detection"],
        json!({"type":"server_vad","threshold":0.6,"prefix_padding_ms":300,"silence_duration_ms":500,"create_response":true,"interrupt_response":true})
    );
    assert_eq!(
        first["session"]["audio"]["input"]["transcription"],
        json!({"model":"whisper-1","language":"en","prompt":"ClawOps, 클로옵스"})
    );
    assert_eq!(first["session"]["audio"]["output"]["voice"], "cedar");
    // No greeting: the next frame is the caller's audio.
    s.feed_audio(Bytes::from(vec![0x7fu8; 160]), 0).await;
    assert_eq!(
        conn.frame().await,
        json!({"type":"input_audio_buffer.append","audio":B64.encode([0x7fu8; 160])})
    );
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn audio_in_and_out_and_transcripts() {
    let mut fake = FakeRealtime::start("audio").await;
    let s = session(&fake);
    let call = FakeCall::new("CA3");
    let mut conn = started(&mut fake, &s, &call).await;
    conn.frame().await; // session.update
    conn.frame().await; // response.create
    let frame: Vec<u8> = (0..160u8).collect();
    s.feed_audio(Bytes::from(frame.clone()), 20).await;
    assert_eq!(
        conn.frame().await,
        json!({"type":"input_audio_buffer.append","audio":B64.encode(&frame)})
    );

    // 400 bytes: two whole frames now, the 80-byte tail at output_audio.done.
    let out: Vec<u8> = (0..400u32).map(|i| (i % 251) as u8).collect();
    conn.send(audio_delta("item_a", &out));
    call.until("two frames", |c| c.audio_bytes().len() == 320)
        .await;
    conn.send(json!({"type":"response.output_audio.done","event_id":"e","response_id":"resp_1","item_id":"item_a","output_index":0,"content_index":0}));
    call.until("tail", |c| c.audio_bytes().len() == 400).await;
    assert_eq!(call.audio_bytes(), out);
    assert_eq!(
        call.audio
            .lock()
            .unwrap()
            .iter()
            .map(|b| b.len())
            .collect::<Vec<_>>(),
        vec![320, 80]
    );

    conn.send(json!({"type":"conversation.item.input_audio_transcription.delta","event_id":"e","item_id":"item_u","content_index":0,"delta":"주문"}));
    conn.send(json!({"type":"conversation.item.input_audio_transcription.delta","event_id":"e","item_id":"item_u","content_index":0,"delta":" 확인"}));
    conn.send(json!({"type":"conversation.item.input_audio_transcription.completed","event_id":"e","item_id":"item_u","content_index":0,"transcript":"주문 확인해 주세요"}));
    conn.send(json!({"type":"response.output_audio_transcript.delta","event_id":"e","response_id":"r","item_id":"item_a","output_index":0,"content_index":0,"delta":"네,"}));
    conn.send(json!({"type":"response.output_audio_transcript.done","event_id":"e","response_id":"r","item_id":"item_a","output_index":0,"content_index":0,"transcript":"네, 확인해 드리겠습니다."}));
    conn.send(json!({"type":"response.done","event_id":"e","response":{"id":"r","object":"realtime.response","status":"completed","output":[]}}));
    call.until("transcripts", |c| c.events().len() == 5).await;
    assert_eq!(
        call.events(),
        vec![
            SessionEvent::TranscriptDelta {
                role: Role::User,
                text: "주문".into()
            },
            SessionEvent::TranscriptDelta {
                role: Role::User,
                text: "주문 확인".into()
            },
            SessionEvent::Transcript {
                role: Role::User,
                text: "주문 확인해 주세요".into()
            },
            SessionEvent::TranscriptDelta {
                role: Role::Assistant,
                text: "네,".into()
            },
            SessionEvent::Transcript {
                role: Role::Assistant,
                text: "네, 확인해 드리겠습니다.".into()
            },
        ]
    );
    // response.done follows the transcripts: wait until it was handled.
    call.until("response.done", |c| {
        c.turns.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    let stats = s.stats();
    assert_eq!(stats.turns, 1);
    // The completed response is a turn of the call, for its metrics and `call.metrics` frame.
    assert_eq!(call.turns.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(stats.time_to_first_audio.is_some());
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn tool_call_is_answered_with_output_and_response_create() {
    let mut fake = FakeRealtime::start("tool_call").await;
    let s = session(&fake);
    let call = FakeCall::new("CA4");
    let mut conn = started(&mut fake, &s, &call).await;
    conn.frame().await;
    conn.frame().await;
    conn.send(json!({"type":"response.output_item.done","event_id":"e","response_id":"r","output_index":0,
        "item":{"id":"item_f","type":"function_call","status":"completed","name":"check_order","call_id":"call_1","arguments":"{\"order_id\":\"A-1\"}"}}));
    assert_eq!(
        conn.frame().await,
        json!({"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"call_1","output":"배송 완료"}})
    );
    assert_eq!(conn.frame().await, json!({"type":"response.create"}));
    // Unknown tool: still answered.
    conn.send(json!({"type":"response.output_item.done","event_id":"e","response_id":"r","output_index":0,
        "item":{"id":"item_g","type":"function_call","status":"completed","name":"nope","call_id":"call_2","arguments":"{}"}}));
    assert_eq!(
        conn.frame().await,
        json!({"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"call_2","output":"Error: Unknown tool: nope"}})
    );
    assert_eq!(conn.frame().await, json!({"type":"response.create"}));
    // hang_up: the call hangs up, nothing is sent back.
    conn.send(json!({"type":"response.output_item.done","event_id":"e","response_id":"r","output_index":0,
        "item":{"id":"item_h","type":"function_call","status":"completed","name":"hang_up","call_id":"call_3","arguments":"{}"}}));
    call.until("hangup", |c| c.hangups.load(Ordering::SeqCst) == 1)
        .await;
    conn.expect_quiet(Duration::from_millis(200)).await;
    assert_eq!(call.tool_calls.load(Ordering::SeqCst), 3);
    assert_eq!(s.stats().tool_calls, 3);
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn dtmf_becomes_a_user_turn() {
    let mut fake = FakeRealtime::start("dtmf").await;
    let s = session(&fake);
    let call = FakeCall::new("CA5");
    let mut conn = started(&mut fake, &s, &call).await;
    conn.frame().await;
    conn.frame().await;
    s.feed_dtmf(DtmfInput::new("1234")).await;
    assert_eq!(
        conn.frame().await,
        json!({"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"[DTMF 입력: 1234]"}]}})
    );
    assert_eq!(conn.frame().await, json!({"type":"response.create"}));
    s.stop().await;
    conn.expect_close().await;
}

/// 느린 조회.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Slow {}

#[tokio::test]
async fn barge_in_clears_cancels_tools_and_truncates_at_heard_audio() {
    let mut fake = FakeRealtime::start("barge_in").await;
    let s = session(&fake);
    let mut tools = headline_tools();
    let mut reg = ToolRegistry::new();
    reg.register("slow_lookup", |_a: Slow| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<_, std::convert::Infallible>("late")
    })
    .unwrap();
    tools.registry = reg;
    s.set_tools(tools);
    let call = FakeCall::new("CA6");
    let handle: CallHandle = call.clone();
    let (res, conn) = tokio::join!(s.start(handle), fake.conn());
    res.unwrap();
    let mut conn = conn;
    conn.frame().await;
    conn.frame().await;

    // 200 ms played (marks echoed), then 300 ms more sent but not yet played.
    conn.send(audio_delta("item_x", &[0x55u8; 1600]));
    call.until("first marks", |c| c.marks.lock().unwrap().len() == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    call.echo_marks.store(false, Ordering::SeqCst);
    conn.send(audio_delta("item_x", &[0x56u8; 2400]));
    call.until("second mark", |c| c.marks.lock().unwrap().len() == 2)
        .await;
    // A tool in flight.
    conn.send(json!({"type":"response.output_item.done","event_id":"e","response_id":"r","output_index":0,
        "item":{"id":"item_t","type":"function_call","status":"completed","name":"slow_lookup","call_id":"call_s","arguments":"{}"}}));
    call.until("tool started", |c| c.tool_calls.load(Ordering::SeqCst) == 1)
        .await;

    conn.send(json!({"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":1000,"item_id":"item_u"}));
    assert_eq!(
        conn.frame().await,
        json!({"type":"conversation.item.truncate","item_id":"item_x","content_index":0,"audio_end_ms":200})
    );
    assert_eq!(call.clears.load(Ordering::SeqCst), 1);
    // The cancelled tool never answers.
    conn.expect_quiet(Duration::from_millis(300)).await;
    let stats = s.stats();
    assert_eq!((stats.barge_ins, stats.truncations), (1, 1));
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn barge_in_without_truncation_when_disabled() {
    let mut fake = FakeRealtime::start("barge_in_off").await;
    let s = OpenAIRealtime::builder()
        .api_key("k")
        .base_url(&fake.base_url)
        .truncate_on_barge_in(false)
        .build()
        .unwrap();
    let call = FakeCall::new("CA7");
    let mut conn = started(&mut fake, &s, &call).await;
    conn.frame().await;
    conn.frame().await;
    call.echo_marks.store(false, Ordering::SeqCst);
    conn.send(audio_delta("item_y", &[0x55u8; 1600]));
    call.until("mark", |c| c.marks.lock().unwrap().len() == 1)
        .await;
    conn.send(json!({"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":0,"item_id":"u"}));
    call.until("clear", |c| c.clears.load(Ordering::SeqCst) == 1)
        .await;
    conn.expect_quiet(Duration::from_millis(200)).await;
    assert_eq!(s.stats().barge_ins, 1);
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn fatal_server_error_fails_start_and_closes() {
    let mut fake = FakeRealtime::start_with("fatal", false).await;
    let s = session(&fake);
    let call = FakeCall::new("CA8");
    let handle: CallHandle = call.clone();
    let server = async {
        let mut conn = fake.conn().await;
        conn.frame().await;
        conn.send(json!({"type":"error","event_id":"e","error":{"type":"invalid_request_error","code":"invalid_api_key","message":"Incorrect API key provided"}}));
        conn
    };
    let (res, mut conn) = tokio::join!(s.start(handle), server);
    let err = res.unwrap_err().to_string();
    assert_eq!(
        err,
        "session: Realtime API error invalid_api_key: Incorrect API key provided"
    );
    conn.expect_close().await;
}

#[tokio::test]
async fn lost_connection_after_attach_reports_session_lost() {
    let mut fake = FakeRealtime::start("lost").await;
    let s = session(&fake);
    let call = FakeCall::new("CA9");
    let conn = started(&mut fake, &s, &call).await;
    conn.close_from_server();
    call.until("session_lost", |c| {
        c.events()
            .iter()
            .any(|e| matches!(e, SessionEvent::SessionLost { .. }))
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn missing_key_is_a_typed_error() {
    // SAFETY of the env: this test only reads; OPENAI_API_KEY is not set in CI.
    if std::env::var("OPENAI_API_KEY").is_ok() {
        return;
    }
    let err = OpenAIRealtime::builder().build().unwrap_err();
    assert!(matches!(
        err,
        clawops::providers::openai::RealtimeError::MissingApiKey
    ));
}

// ---- prewarm -------------------------------------------------------------------------------

#[tokio::test]
async fn prewarm_declares_tools_first_buffers_greeting_and_flushes_it_first_at_attach() {
    let mut fake = FakeRealtime::start("prewarm").await;
    let s = session(&fake);
    s.set_tools(headline_tools());
    let stand_in = BufferingCall::new("CO1");
    let (res, conn) = tokio::join!(s.prewarm(stand_in.clone()), fake.conn());
    res.unwrap();
    let mut conn = conn;
    let first = conn.frame().await;
    assert_eq!(first["type"], "session.update");
    let names: Vec<&str> = first["session"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "check_order",
            "hang_up",
            "collect_dtmf",
            "send_dtmf",
            "transfer_call"
        ]
    );
    assert_eq!(conn.frame().await, json!({"type":"response.create"}));

    // Greeting audio while ringing: buffered in the session, not lost.
    conn.send(audio_delta("greet", &[0x11u8; 800]));
    conn.send(json!({"type":"response.output_audio.done","event_id":"e","response_id":"r","item_id":"greet","output_index":0,"content_index":0}));
    // A builtin during ringing gets the not-connected text.
    conn.send(json!({"type":"response.output_item.done","event_id":"e","response_id":"r","output_index":0,
        "item":{"id":"i","type":"function_call","status":"completed","name":"send_dtmf","call_id":"call_p","arguments":"{\"digits\":\"1\"}"}}));
    assert_eq!(
        conn.frame().await,
        json!({"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"call_p","output":clawops::agent::session::NOT_CONNECTED_TEXT}})
    );
    assert_eq!(conn.frame().await, json!({"type":"response.create"}));
    for _ in 0..100 {
        if s.buffered_bytes() == 800 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.buffered_bytes(), 800);

    // Answer: MCP-like tool added → resync; greeting goes first.
    let mut tools = headline_tools();
    tools
        .registry
        .register("crm_lookup", |_a: Slow| async move {
            Ok::<_, std::convert::Infallible>("ok")
        })
        .unwrap();
    s.set_tools(tools);
    let call = FakeCall::new("CO1");
    s.attach(call.clone()).await.unwrap();
    assert_eq!(
        call.audio_bytes(),
        vec![0x11u8; 800],
        "greeting flushed at attach"
    );
    let resync = conn.frame().await;
    assert_eq!(resync["type"], "session.update");
    let mut keys: Vec<&String> = resync["session"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["tools", "type"]);
    assert_eq!(resync["session"]["tools"][1]["name"], "crm_lookup");
    conn.send(audio_delta("after", &[0x22u8; 160]));
    call.until("post-answer audio", |c| c.audio_bytes().len() == 960)
        .await;
    assert_eq!(&call.audio_bytes()[800..], &[0x22u8; 160]);
    assert_eq!(s.stats().time_to_first_audio, Some(Duration::ZERO));
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn unanswered_call_closes_the_prewarmed_socket() {
    let mut fake = FakeRealtime::start("unanswered").await;
    let s = session(&fake);
    s.set_tools(headline_tools());
    let (res, conn) = tokio::join!(s.prewarm(BufferingCall::new("CO2")), fake.conn());
    res.unwrap();
    let mut conn = conn;
    // Never attached: the agent stops the session.
    s.stop().await;
    s.stop().await; // idempotent
    conn.expect_close().await;
}

#[tokio::test]
async fn concurrent_outbound_calls_prewarm_separate_sessions() {
    let mut fake = FakeRealtime::start("concurrent").await;
    let factory = OpenAIRealtime::builder()
        .api_key("k")
        .base_url(&fake.base_url)
        .factory()
        .unwrap();
    use clawops::agent::SessionFactory;
    let a = factory.create().unwrap();
    let b = factory.create().unwrap();
    a.set_tools(headline_tools());
    b.set_tools(headline_tools());
    // Both prewarm while both phones ring (sequenced so connection 1 is call A's).
    let (ra, mut c1) = tokio::join!(a.prewarm(BufferingCall::new("COA")), fake.conn());
    ra.unwrap();
    let (rb, mut c2) = tokio::join!(b.prewarm(BufferingCall::new("COB")), fake.conn());
    rb.unwrap();
    assert_eq!(fake.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(c1.frame().await["type"], "session.update");
    assert_eq!(c2.frame().await["type"], "session.update");
    let (call_a, call_b) = (FakeCall::new("COA"), FakeCall::new("COB"));
    a.attach(call_a.clone()).await.unwrap();
    b.attach(call_b.clone()).await.unwrap();
    c1.send(audio_delta("x", &[1u8; 160]));
    c2.send(audio_delta("y", &[2u8; 320]));
    call_a
        .until("a audio", |c| c.audio_bytes().len() == 160)
        .await;
    call_b
        .until("b audio", |c| c.audio_bytes().len() == 320)
        .await;
    // Each connection's audio went only to its own call.
    let (aa, bb) = (call_a.audio_bytes(), call_b.audio_bytes());
    assert!(aa.iter().all(|&x| x == aa[0]) && bb.iter().all(|&x| x == bb[0]) && aa[0] != bb[0]);
    a.stop().await;
    // Stopping one leaves the other running.
    assert!(c1.closed_within(Duration::from_secs(3)).await);
    assert!(!c2.closed_within(Duration::from_millis(300)).await);
    c2.send(audio_delta("y", &[2u8; 160]));
    call_b
        .until("b still served", |c| c.audio_bytes().len() == 480)
        .await;
    b.stop().await;
    assert!(c2.closed_within(Duration::from_secs(3)).await);
}
