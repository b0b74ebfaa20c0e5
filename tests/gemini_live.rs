//! `GeminiLiveSession` against a fake Live API server on 127.0.0.1: exact client frames.

#![cfg(feature = "gemini")]

mod gemini_common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use clawops::agent::{
    BufferingCall, CallHandle, DtmfInput, Role, Session, SessionEvent, SessionFactory,
};
use clawops::audio::{Framer, Resampler, ulaw_decode, ulaw_encode};
use clawops::providers::gemini::{
    GeminiLiveSession, GeminiRealtime, GeminiRealtimeBuilder, ToolBehavior, ToolScheduling,
};
use gemini_common::{
    Conn, FakeCall, FakeGemini, LIVE_PATH, audio_msg, expected_declarations, tools,
};
use serde_json::{Value, json};

const PROMPT: &str = "친절한 상담원입니다. 고객의 질문에 답변해주세요.";
const KEY: &str = "AIza-test-key";

fn builder(fake: &FakeGemini) -> GeminiRealtimeBuilder {
    GeminiRealtime::builder()
        .api_key(KEY)
        .base_url(&fake.base_url)
        .system_prompt(PROMPT)
        .tool_behavior_for("save_note", ToolBehavior::NonBlocking)
        .reconnect_backoff(Duration::from_millis(20))
        .tool_drain(Duration::from_millis(100))
}

/// Starts `s` for `call` with the test tools; answers setup; returns the connection and the
/// setup frame (the greeting frame is still unread).
async fn started(
    fake: &mut FakeGemini,
    s: &GeminiLiveSession,
    call: &Arc<FakeCall>,
) -> (Conn, Value) {
    s.set_tools(tools());
    let handle: CallHandle = call.clone();
    let server = async {
        let mut conn = fake.conn().await;
        let setup = conn.setup().await;
        (conn, setup)
    };
    let (res, (conn, setup)) = tokio::join!(s.start(handle), server);
    res.unwrap();
    (conn, setup)
}

/// Started, with the greeting frame consumed.
async fn talking(fake: &mut FakeGemini, s: &GeminiLiveSession, call: &Arc<FakeCall>) -> Conn {
    let (mut conn, _) = started(fake, s, call).await;
    assert_eq!(
        conn.frame().await,
        json!({"realtimeInput": {"text": "인사해 주세요."}})
    );
    conn
}

/// What the session should send to the call for `chunks` of 24 kHz PCM ended by one flush.
fn expected_out(chunks: &[Vec<i16>]) -> (Vec<u8>, Vec<usize>) {
    let mut r = Resampler::new(24_000, 8_000).unwrap();
    let mut framer = Framer::new();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(framer.push(&ulaw_encode(&r.process(c))));
    }
    out.extend(framer.push(&ulaw_encode(&r.flush())));
    out.extend(framer.finish());
    (
        out.iter().flat_map(|b| b.to_vec()).collect(),
        out.iter().map(Bytes::len).collect(),
    )
}

#[tokio::test]
async fn setup_frame_is_exact_with_tools_behavior_and_key_query_param() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake)
        .voice("Puck")
        .speech_language_code("ko-KR")
        .thinking_config(json!({"thinking_budget": 0}))
        .input_audio_transcription(
            json!({"language_codes": ["ko-KR"], "custom_vocabulary": ["클로옵스"]}),
        )
        .realtime_input_config(json!({"activity_handling": "NO_INTERRUPTION"}))
        .context_window_compression(json!({"sliding_window": {}}))
        .proactive_audio(true)
        .session()
        .unwrap();
    assert!(!format!("{s:?}").contains(KEY), "no key in Debug");
    let call = FakeCall::new("CA1");
    let (mut conn, setup) = started(&mut fake, &s, &call).await;
    assert_eq!(conn.uri, format!("{LIVE_PATH}?key={KEY}"));
    assert_eq!(conn.authorization, "");
    assert_eq!(
        setup,
        json!({"setup": {
            "model": "models/gemini-3.1-flash-live-preview",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}, "languageCode": "ko-KR"},
                "thinkingConfig": {"thinking_budget": 0}
            },
            "systemInstruction": {"parts": [{"text": PROMPT}]},
            "tools": [{"functionDeclarations": expected_declarations()}],
            "realtimeInputConfig": {"activity_handling": "NO_INTERRUPTION"},
            "proactivity": {"proactive_audio": true},
            "contextWindowCompression": {"sliding_window": {}},
            "sessionResumption": {},
            "inputAudioTranscription": {"language_codes": ["ko-KR"], "custom_vocabulary": ["클로옵스"]},
            "outputAudioTranscription": {}
        }})
    );
    assert_eq!(
        conn.frame().await,
        json!({"realtimeInput": {"text": "인사해 주세요."}})
    );
    s.stop().await;
    conn.expect_close().await;
    s.stop().await; // idempotent
}

#[tokio::test]
async fn minimal_setup_omits_optional_keys_and_3_8_declares_blocking_everywhere() {
    let mut fake = FakeGemini::start().await;
    let s = GeminiRealtime::builder()
        .api_key(KEY)
        .base_url(&fake.base_url)
        .model("gemini-3.8-live")
        .greeting(false)
        .session_resumption(false)
        .session()
        .unwrap();
    let call = FakeCall::new("CA2");
    let (mut conn, setup) = started(&mut fake, &s, &call).await;
    let decls = setup["setup"]["tools"][0]["functionDeclarations"]
        .as_array()
        .unwrap()
        .clone();
    let behaviors: Vec<&str> = decls
        .iter()
        .map(|d| d["behavior"].as_str().unwrap())
        .collect();
    // Incident 0.60: 3.8 runs functions NON_BLOCKING by default; every declaration says BLOCKING.
    assert_eq!(behaviors, ["BLOCKING"; 4]);
    let mut setup = setup;
    setup["setup"].as_object_mut().unwrap().remove("tools");
    assert_eq!(
        setup,
        json!({"setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {"responseModalities": ["AUDIO"], "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}},
            "inputAudioTranscription": {},
            "outputAudioTranscription": {}
        }})
    );
    // No greeting: the next frame is the caller's audio.
    s.feed_audio(Bytes::from(vec![0xFFu8; 160]), 0).await;
    assert!(conn.frame().await.pointer("/realtimeInput/audio").is_some());
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn incident_0_58_extended_thinking_gets_non_blocking_and_thinking_config_verbatim() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake)
        .model("gemini-3.8-live-extended-thinking")
        .thinking_config(json!({"thinking_level": "LOW"}))
        .tool_behavior_for("check_order", ToolBehavior::Blocking)
        .tool_response_scheduling(ToolScheduling::Silent)
        .session()
        .unwrap();
    let call = FakeCall::new("CA3");
    let (mut conn, setup) = started(&mut fake, &s, &call).await;
    assert_eq!(
        setup["setup"]["generationConfig"]["thinkingConfig"],
        json!({"thinking_level": "LOW"})
    );
    let decls = setup["setup"]["tools"][0]["functionDeclarations"]
        .as_array()
        .unwrap();
    assert!(decls.iter().all(|d| d["behavior"] == "NON_BLOCKING"));
    conn.frame().await; // greeting
    // A NON_BLOCKING result never carries `scheduling` on this model (1007 otherwise).
    conn.send(json!({"toolCall": {"functionCalls": [{"id": "fc1", "name": "check_order", "args": {"order_id": "A-1"}}]}}));
    assert_eq!(
        conn.frame().await,
        json!({"toolResponse": {"functionResponses": [{"id": "fc1", "name": "check_order", "response": {"result": "A-1: 배송 완료"}}]}})
    );
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn vertex_uses_bearer_token_and_resource_model_path() {
    let mut fake = FakeGemini::start().await;
    let s = GeminiRealtime::builder()
        .vertex("my-proj", "us-central1")
        .vertex_access_token("ya29.token")
        .base_url(&fake.base_url)
        .greeting(false)
        .session()
        .unwrap();
    let call = FakeCall::new("CA4");
    let (mut conn, setup) = started(&mut fake, &s, &call).await;
    assert_eq!(
        conn.uri,
        "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    );
    assert_eq!(conn.authorization, "Bearer ya29.token");
    assert_eq!(
        setup["setup"]["model"],
        "projects/my-proj/locations/us-central1/publishers/google/models/gemini-3.1-flash-live-preview"
    );
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn audio_in_is_pcm16_16k_and_audio_out_is_ulaw_8k_frames() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake).session().unwrap();
    let call = FakeCall::new("CA5");
    let mut conn = talking(&mut fake, &s, &call).await;

    // In: three 20 ms μ-law frames → exactly what a fresh 8→16 kHz stream produces.
    let frames: Vec<Vec<u8>> = (0..3u8)
        .map(|k| {
            (0..160u32)
                .map(|i| ((i * 7 + u32::from(k) * 31) % 256) as u8)
                .collect()
        })
        .collect();
    let mut up = Resampler::new(8_000, 16_000).unwrap();
    for f in &frames {
        s.feed_audio(Bytes::from(f.clone()), 0).await;
        let expected = up.process(&ulaw_decode(f));
        if expected.is_empty() {
            continue;
        }
        assert_eq!(conn.audio_frame().await, expected);
    }

    // Out: 24 kHz PCM in odd-sized chunks → 8 kHz μ-law, whole 160-byte frames as they come,
    // the raw tail at generationComplete.
    let a: Vec<i16> = (0..1000).map(|i| ((i * 37) % 4000 - 2000) as i16).collect();
    let b: Vec<i16> = (0..2210).map(|i| ((i * 53) % 6000 - 3000) as i16).collect();
    conn.send(audio_msg(&a));
    conn.send(audio_msg(&b));
    conn.send(json!({"serverContent": {"generationComplete": true}}));
    let (bytes, lens) = expected_out(&[a, b]);
    assert_eq!(bytes.len(), 1070, "3210 samples at 24 kHz = 1070 at 8 kHz");
    call.until("all audio", |c| c.audio_bytes().len() == bytes.len())
        .await;
    assert_eq!(call.audio_bytes(), bytes);
    assert_eq!(call.chunk_lens(), lens);
    assert_eq!(*lens.last().unwrap(), 1070 % 160, "tail sent raw, unpadded");
    // turnComplete after generationComplete adds nothing and counts a turn.
    conn.send(json!({"serverContent": {"turnComplete": true}}));
    call.until("turn", |c| c.turns.load(Ordering::SeqCst) == 1)
        .await;
    assert_eq!(call.audio_bytes().len(), 1070);
    assert_eq!(s.stats().turns, 1);
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn transcripts_fragments_become_cumulative_deltas_and_one_final_per_side() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake).session().unwrap();
    let call = FakeCall::new("CA6");
    let mut conn = talking(&mut fake, &s, &call).await;
    conn.send(json!({"serverContent": {"inputTranscription": {"text": "주문"}}}));
    conn.send(json!({"serverContent": {"inputTranscription": {"text": " 확인"}}}));
    conn.send(json!({"serverContent": {"outputTranscription": {"text": "네,"}}}));
    conn.send(json!({"serverContent": {"outputTranscription": {"text": " 확인하겠습니다."}}}));
    conn.send(json!({"serverContent": {"turnComplete": true}}));
    call.until("transcripts", |c| c.events().len() == 6).await;
    let d = |role, t: &str| SessionEvent::TranscriptDelta {
        role,
        text: t.into(),
    };
    let f = |role, t: &str| SessionEvent::Transcript {
        role,
        text: t.into(),
    };
    assert_eq!(
        call.events(),
        vec![
            d(Role::User, "주문"),
            d(Role::User, "주문 확인"),
            f(Role::User, "주문 확인"),
            d(Role::Assistant, "네,"),
            d(Role::Assistant, "네, 확인하겠습니다."),
            f(Role::Assistant, "네, 확인하겠습니다."),
        ]
    );
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn incident_0_61_blocking_calls_drain_then_one_tool_response_with_ids_only_if_given() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake).session().unwrap();
    let call = FakeCall::new("CA7");
    let mut conn = talking(&mut fake, &s, &call).await;
    // Two BLOCKING calls (one without id) and an unknown tool; audio keeps streaming (drain).
    conn.send(json!({"toolCall": {"functionCalls": [
        {"id": "fc1", "name": "check_order", "args": {"order_id": "A-1"}},
        {"name": "check_order", "args": {"order_id": "B-2"}}
    ]}}));
    conn.send(audio_msg(&[0i16; 480]));
    conn.send(json!({"toolCall": {"functionCalls": [{"id": "fc3", "name": "nope", "args": {}}]}}));
    assert_eq!(
        conn.control_frame().await,
        json!({"toolResponse": {"functionResponses": [
            {"id": "fc1", "name": "check_order", "response": {"result": "A-1: 배송 완료"}},
            {"name": "check_order", "response": {"result": "B-2: 배송 완료"}},
            {"id": "fc3", "name": "nope", "response": {"result": "Error: Unknown tool: nope"}}
        ]}})
    );
    assert_eq!(call.tool_calls.load(Ordering::SeqCst), 3);
    // A handler returning () answers "ok" (never "None"); NON_BLOCKING answers alone and,
    // with no scheduling configured, SILENT because the handler returned nothing (0.61).
    conn.send(json!({"toolCall": {"functionCalls": [{"id": "fc4", "name": "save_note", "args": {"text": "x"}}]}}));
    assert_eq!(
        conn.control_frame().await,
        json!({"toolResponse": {"functionResponses": [{"id": "fc4", "name": "save_note", "response": {"result": "ok"}, "scheduling": "SILENT"}]}})
    );
    // hang_up: the call hangs up, nothing is sent back.
    conn.send(
        json!({"toolCall": {"functionCalls": [{"id": "fc5", "name": "hang_up", "args": {}}]}}),
    );
    call.until("hangup", |c| c.hangups.load(Ordering::SeqCst) == 1)
        .await;
    conn.expect_quiet(Duration::from_millis(300)).await;
    assert_eq!(s.stats().tool_calls, 5);
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn blocking_batch_runs_at_turn_complete_without_waiting_for_the_drain() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake)
        .tool_drain(Duration::from_secs(30))
        .session()
        .unwrap();
    let call = FakeCall::new("CA8");
    let mut conn = talking(&mut fake, &s, &call).await;
    conn.send(json!({"toolCall": {"functionCalls": [{"id": "fc1", "name": "check_order", "args": {"order_id": "Z"}}]}}));
    conn.send(json!({"serverContent": {"turnComplete": true}}));
    assert_eq!(
        conn.control_frame().await,
        json!({"toolResponse": {"functionResponses": [{"id": "fc1", "name": "check_order", "response": {"result": "Z: 배송 완료"}}]}})
    );
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn non_blocking_scheduling_and_tool_call_cancellation() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake)
        .tool_behavior_for("slow_lookup", ToolBehavior::NonBlocking)
        .tool_scheduling_for("save_note", ToolScheduling::Silent)
        .tool_response_scheduling(ToolScheduling::WhenIdle)
        .session()
        .unwrap();
    let call = FakeCall::new("CA9");
    let mut conn = talking(&mut fake, &s, &call).await;
    conn.send(json!({"toolCall": {"functionCalls": [{"id": "slow1", "name": "slow_lookup", "args": {}}]}}));
    call.until("slow started", |c| c.tool_calls.load(Ordering::SeqCst) == 1)
        .await;
    conn.send(
        json!({"toolCall": {"functionCalls": [{"name": "save_note", "args": {"text": "memo"}}]}}),
    );
    assert_eq!(
        conn.control_frame().await,
        json!({"toolResponse": {"functionResponses": [{"name": "save_note", "response": {"result": "ok"}, "scheduling": "SILENT"}]}})
    );
    // The server cancels the slow one: it never answers.
    // The server cancels the slow one (it would answer after 700 ms): it never answers.
    conn.send(json!({"toolCallCancellation": {"ids": ["slow1"]}}));
    conn.expect_quiet(Duration::from_millis(1500)).await;
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn barge_in_interrupted_clears_call_drops_partial_frame_and_cancels_tools() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake)
        .tool_behavior_for("slow_lookup", ToolBehavior::NonBlocking)
        .session()
        .unwrap();
    let call = FakeCall::new("CA10");
    let mut conn = talking(&mut fake, &s, &call).await;
    conn.send(json!({"toolCall": {"functionCalls": [{"id": "slow1", "name": "slow_lookup", "args": {}}]}}));
    call.until("slow started", |c| c.tool_calls.load(Ordering::SeqCst) == 1)
        .await;
    // 100 ms of model audio (whole frames go out at once; the rest waits for a flush).
    conn.send(audio_msg(&[1000i16; 2400]));
    conn.send(json!({"serverContent": {"outputTranscription": {"text": "안내해"}}}));
    call.until("audio", |c| !c.audio_bytes().is_empty()).await;
    conn.send(json!({"serverContent": {"interrupted": true}}));
    call.until("clear", |c| c.clears.load(Ordering::SeqCst) == 1)
        .await;
    let before = call.audio_bytes().len();
    // Generation ends after the barge-in: nothing of the old answer is flushed.
    conn.send(json!({"serverContent": {"generationComplete": true, "turnComplete": true}}));
    call.until("turn", |c| c.turns.load(Ordering::SeqCst) == 1)
        .await;
    assert_eq!(
        call.audio_bytes().len(),
        before,
        "no tail after interrupted"
    );
    assert!(call.events().contains(&SessionEvent::Transcript {
        role: Role::Assistant,
        text: "안내해".into()
    }));
    // The cancelled tool (700 ms) never answers, and nothing goes to Gemini for the barge-in.
    conn.expect_quiet(Duration::from_millis(1500)).await;
    assert_eq!(s.stats().interruptions, 1);
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn dtmf_is_a_text_realtime_input() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake).session().unwrap();
    let call = FakeCall::new("CA11");
    let mut conn = talking(&mut fake, &s, &call).await;
    s.feed_dtmf(DtmfInput::new("1234#")).await;
    assert_eq!(
        conn.frame().await,
        json!({"realtimeInput": {"text": "[DTMF 입력: 1234#]"}})
    );
    s.stop().await;
    conn.expect_close().await;
}

// ---- session lifetime (incident 0.62 / agent-protocol §13 row 44) -------------------------

/// Feeds caller audio until a frame reaches `conn` (audio is dropped while reconnecting, and
/// the resampler's start-up delay swallows the first samples of a stream).
async fn caller_audio_reaches(s: &GeminiLiveSession, conn: &mut Conn) {
    for i in 0..250u64 {
        s.feed_audio(Bytes::from(vec![0x55u8; 160]), i * 20).await;
        if let Some(f) = conn.frame_within(Duration::from_millis(20)).await {
            assert_eq!(
                f["realtimeInput"]["audio"]["mimeType"],
                "audio/pcm;rate=16000"
            );
            return;
        }
    }
    panic!("caller audio never reached the model after the reconnect");
}

#[tokio::test]
async fn incident_44_gemini_connection_end_resumes_session() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake).session().unwrap();
    let call = FakeCall::new("CA12");
    let c1 = talking(&mut fake, &s, &call).await;
    // Not resumable: not stored. Resumable: stored (the last one wins).
    c1.send(json!({"sessionResumptionUpdate": {"newHandle": "h-bad", "resumable": false}}));
    c1.send(json!({"sessionResumptionUpdate": {"newHandle": "h-1", "resumable": true}}));
    c1.send(json!({"sessionResumptionUpdate": {"newHandle": "h-2", "resumable": true}}));
    c1.send(json!({"sessionResumptionUpdate": {"resumable": true}}));
    c1.send(audio_msg(&[800i16; 2400]));
    c1.send(json!({"serverContent": {"generationComplete": true}}));
    call.until("first audio", |c| c.audio_bytes().len() == 800)
        .await;
    assert!(s.has_resumption_handle());

    // Google ends the connection (the ~10 min limit), no goAway.
    c1.close_from_server(1011, "internal error");
    let mut c2 = fake.conn().await;
    let setup = c2.setup().await;
    assert_eq!(
        setup["setup"]["sessionResumption"],
        json!({"handle": "h-2"})
    );
    assert_eq!(
        setup["setup"]["tools"][0]["functionDeclarations"],
        expected_declarations(),
        "same tools on resume"
    );
    // No greeting on resume; caller audio flows again and the model keeps talking.
    caller_audio_reaches(&s, &mut c2).await;
    c2.send(audio_msg(&[-800i16; 2400]));
    c2.send(json!({"serverContent": {"turnComplete": true}}));
    call.until("audio after resume", |c| c.audio_bytes().len() >= 1600)
        .await;
    let after = &call.audio_bytes()[800..];
    let expected = clawops::audio::linear_to_ulaw(-800);
    assert!(
        after.iter().filter(|&&b| b == expected).count() > 700,
        "the resumed answer reaches the call"
    );
    assert_eq!(s.stats().reconnects, 1);
    assert_eq!(s.stats().resumed, 1);
    assert!(
        !call
            .events()
            .iter()
            .any(|e| matches!(e, SessionEvent::SessionLost { .. }))
    );
    assert_eq!(call.hangups.load(Ordering::SeqCst), 0);
    s.stop().await;
    c2.expect_close().await;
}

#[tokio::test]
async fn a_resumed_connection_that_drops_at_once_is_resumed_again() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake).session().unwrap();
    let call = FakeCall::new("CA12b");
    let c1 = talking(&mut fake, &s, &call).await;
    c1.send(json!({"sessionResumptionUpdate": {"newHandle": "h-a", "resumable": true}}));
    c1.close_from_server(1011, "first");
    let mut c2 = fake.conn().await;
    assert_eq!(
        c2.setup().await["setup"]["sessionResumption"],
        json!({"handle": "h-a"})
    );
    // Dropped right after setupComplete, before anything else happened.
    c2.close_from_server(1011, "second");
    let mut c3 = fake.conn().await;
    assert_eq!(
        c3.setup().await["setup"]["sessionResumption"],
        json!({"handle": "h-a"})
    );
    caller_audio_reaches(&s, &mut c3).await;
    assert_eq!(s.stats().reconnects, 2);
    assert_eq!(call.hangups.load(Ordering::SeqCst), 0);
    s.stop().await;
    c3.expect_close().await;
}

#[tokio::test]
async fn incident_0_62_go_away_closes_the_old_socket_and_resumes_with_the_handle() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake).session().unwrap();
    let call = FakeCall::new("CA13");
    let mut c1 = talking(&mut fake, &s, &call).await;
    c1.send(json!({"sessionResumptionUpdate": {"newHandle": "h-go", "resumable": true}}));
    c1.send(json!({"goAway": {"timeLeft": "10s"}}));
    // The old connection is closed first (else Google answers 1008 to the next one).
    c1.expect_close().await;
    let mut c2 = fake.conn().await;
    let setup = c2.setup().await;
    assert_eq!(
        setup["setup"]["sessionResumption"],
        json!({"handle": "h-go"})
    );
    caller_audio_reaches(&s, &mut c2).await;
    c2.send(audio_msg(&[500i16; 480]));
    c2.send(json!({"serverContent": {"generationComplete": true}}));
    call.until("audio after goAway", |c| c.audio_bytes().len() == 160)
        .await;
    // Tools still work on the new connection.
    c2.send(json!({"toolCall": {"functionCalls": [{"id": "fc9", "name": "check_order", "args": {"order_id": "G"}}]}}));
    assert_eq!(
        c2.control_frame().await,
        json!({"toolResponse": {"functionResponses": [{"id": "fc9", "name": "check_order", "response": {"result": "G: 배송 완료"}}]}})
    );
    assert_eq!(fake.accepted.load(Ordering::SeqCst), 2);
    s.stop().await;
    c2.expect_close().await;
}

#[tokio::test]
async fn incident_0_62_failed_attempts_are_closed_then_a_fresh_session_keeps_the_call() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake)
        .reconnect_max_attempts(2)
        .setup_timeout(Duration::from_secs(1))
        .session()
        .unwrap();
    let call = FakeCall::new("CA14");
    let mut c1 = talking(&mut fake, &s, &call).await;
    c1.send(json!({"sessionResumptionUpdate": {"newHandle": "h-x", "resumable": true}}));
    c1.send(json!({"goAway": {"timeLeft": "1s"}}));
    c1.expect_close().await;
    // Two attempts with the handle; the server never completes setup. Each is closed.
    for _ in 0..2 {
        let mut attempt = fake.conn().await;
        let setup = attempt.frame().await;
        assert_eq!(
            setup["setup"]["sessionResumption"],
            json!({"handle": "h-x"})
        );
        attempt.expect_close().await;
    }
    // Then one fresh session without the handle: context lost, call alive.
    let mut fresh = fake.conn().await;
    let setup = fresh.setup().await;
    assert_eq!(setup["setup"]["sessionResumption"], json!({}));
    caller_audio_reaches(&s, &mut fresh).await;
    assert_eq!(call.hangups.load(Ordering::SeqCst), 0);
    s.stop().await;
    fresh.expect_close().await;
}

#[tokio::test]
async fn incident_0_62_when_every_reconnect_fails_the_call_gets_session_lost_and_hangs_up() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake)
        .reconnect_max_attempts(2)
        .setup_timeout(Duration::from_secs(1))
        .session()
        .unwrap();
    let call = FakeCall::new("CA15");
    let c1 = talking(&mut fake, &s, &call).await;
    // Same socket, in order: the update is read before the close.
    c1.send(json!({"sessionResumptionUpdate": {"newHandle": "h-y", "resumable": true}}));
    c1.close_from_server(1001, "going away");
    // 2 attempts with the handle + 1 fresh, all refused by silence; every socket closed.
    let mut handles = Vec::new();
    for _ in 0..3 {
        let mut attempt = fake.conn().await;
        let setup = attempt.frame().await;
        handles.push(setup["setup"]["sessionResumption"].clone());
        attempt.expect_close().await;
    }
    assert_eq!(
        handles,
        [
            json!({"handle": "h-y"}),
            json!({"handle": "h-y"}),
            json!({})
        ]
    );
    call.until("hangup", |c| c.hangups.load(Ordering::SeqCst) == 1)
        .await;
    let lost: Vec<_> = call
        .events()
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::SessionLost { reason } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(lost.len(), 1);
    assert!(
        lost[0].contains("reconnect failed after 2 attempts (+fresh)"),
        "{}",
        lost[0]
    );
    assert!(fake.conn_within(Duration::from_millis(300)).await.is_none());
    s.stop().await;
}

#[tokio::test]
async fn refused_connection_fails_start_without_leaking_the_key() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let s = GeminiRealtime::builder()
        .api_key("AIza/secret+key")
        .base_url(format!("http://127.0.0.1:{port}"))
        .session()
        .unwrap();
    let err = s
        .start(FakeCall::new("CA16"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("connecting to the Gemini Live API failed"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
}

// ---- prewarm -------------------------------------------------------------------------------

#[tokio::test]
async fn prewarm_declares_tools_buffers_greeting_and_flushes_it_at_attach() {
    let mut fake = FakeGemini::start().await;
    let factory = builder(&fake).build().unwrap();
    let s = factory.create().unwrap();
    assert!(
        s.tools_frozen_after_prewarm(),
        "Gemini tools are fixed at connect"
    );
    s.set_tools(tools());
    let stand_in = BufferingCall::new("CO1");
    let server = async {
        let mut conn = fake.conn().await;
        let setup = conn.setup().await;
        (conn, setup)
    };
    let (res, (mut conn, setup)) = tokio::join!(s.prewarm(stand_in.clone()), server);
    res.unwrap();
    assert_eq!(
        setup["setup"]["tools"][0]["functionDeclarations"],
        expected_declarations()
    );
    assert_eq!(
        conn.frame().await,
        json!({"realtimeInput": {"text": "인사해 주세요."}})
    );
    // Greeting audio while ringing is buffered; a builtin answers "not connected".
    conn.send(audio_msg(&[300i16; 4800]));
    conn.send(json!({"serverContent": {"outputTranscription": {"text": "안녕하세요"}}}));
    conn.send(json!({"serverContent": {"generationComplete": true}}));
    conn.send(
        json!({"toolCall": {"functionCalls": [{"id": "p1", "name": "hang_up", "args": {}}]}}),
    );
    assert_eq!(
        conn.control_frame().await,
        json!({"toolResponse": {"functionResponses": [{"id": "p1", "name": "hang_up", "response": {"result": clawops::agent::session::NOT_CONNECTED_TEXT}}]}})
    );
    let call = FakeCall::new("CO1");
    s.attach(call.clone()).await.unwrap();
    assert_eq!(
        call.audio_bytes().len(),
        1600,
        "200 ms greeting flushed at attach"
    );
    assert_eq!(call.hangups.load(Ordering::SeqCst), 0);
    conn.send(audio_msg(&[-300i16; 480]));
    conn.send(json!({"serverContent": {"generationComplete": true}}));
    call.until("post-answer audio", |c| c.audio_bytes().len() == 1760)
        .await;
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn unanswered_call_closes_the_prewarmed_socket() {
    let mut fake = FakeGemini::start().await;
    let s = builder(&fake).session().unwrap();
    s.set_tools(tools());
    let server = async {
        let mut conn = fake.conn().await;
        conn.setup().await;
        conn
    };
    let (res, mut conn) = tokio::join!(s.prewarm(BufferingCall::new("CO2")), server);
    res.unwrap();
    s.stop().await;
    s.stop().await;
    conn.expect_close().await;
}

#[tokio::test]
async fn factory_sessions_are_separate_per_call() {
    let mut fake = FakeGemini::start().await;
    let factory = builder(&fake).greeting(false).build().unwrap();
    let a = factory.create().unwrap();
    let b = factory.create().unwrap();
    let (call_a, call_b) = (FakeCall::new("A"), FakeCall::new("B"));
    let server = async {
        let mut c = fake.conn().await;
        c.setup().await;
        c
    };
    let (ra, mut c1) = tokio::join!(a.start(call_a.clone()), server);
    ra.unwrap();
    let server = async {
        let mut c = fake.conn().await;
        c.setup().await;
        c
    };
    let (rb, mut c2) = tokio::join!(b.start(call_b.clone()), server);
    rb.unwrap();
    c1.send(audio_msg(&[1000i16; 480]));
    c2.send(audio_msg(&[-1000i16; 960]));
    c1.send(json!({"serverContent": {"generationComplete": true}}));
    c2.send(json!({"serverContent": {"generationComplete": true}}));
    call_a.until("a", |c| c.audio_bytes().len() == 160).await;
    call_b.until("b", |c| c.audio_bytes().len() == 320).await;
    a.stop().await;
    assert!(c1.closed_within(Duration::from_secs(3)).await);
    assert!(!c2.closed_within(Duration::from_millis(300)).await);
    let t = b.telemetry().unwrap();
    assert_eq!(t.session_type, "gemini_realtime");
    assert_eq!(t.llm.unwrap().provider.as_deref(), Some("gemini"));
    b.stop().await;
    assert!(c2.closed_within(Duration::from_secs(3)).await);
}
