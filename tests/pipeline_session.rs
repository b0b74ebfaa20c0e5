//! `PipelineSession` with in-process STT/LLM/TTS doubles and a mock call: greeting, turns,
//! tool loop, barge-in and history, DTMF, prewarm, audio conversion (incident 0.46.1).
#![cfg(feature = "pipeline")]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use clawops::agent::testing::MockCall;
use clawops::agent::{
    BuiltinTools, CallHandle, DtmfInput, Role, Session, SessionEvent, SessionTools, ToolRegistry,
};
use clawops::audio::{ulaw_decode, ulaw_encode};
use clawops::providers::pipeline::{
    AudioStream, ChatMessage, Llm, LlmEvent, LlmStream, Pipeline, PipelineSession, ProviderError,
    ProviderInfo, SpeechEvent, SpeechEvents, Stt, TextStream, ToolCall, ToolSpec, Tts, TtsAudio,
};
use futures::StreamExt;
use tokio::sync::{Notify, mpsc};

// ----- doubles -----------------------------------------------------------------------------

/// STT: events come from the test; frames it receives are recorded.
struct FakeStt {
    events: Mutex<Option<mpsc::UnboundedReceiver<SpeechEvent>>>,
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
    audio_ended: Arc<AtomicBool>,
}

#[async_trait]
impl Stt for FakeStt {
    async fn transcribe(&self, mut audio: AudioStream) -> Result<SpeechEvents, ProviderError> {
        let frames = self.frames.clone();
        let ended = self.audio_ended.clone();
        tokio::spawn(async move {
            while let Some(f) = audio.next().await {
                frames.lock().unwrap().push(f.to_vec());
            }
            ended.store(true, Ordering::SeqCst);
        });
        let rx = self
            .events
            .lock()
            .unwrap()
            .take()
            .expect("one transcribe per session");
        Ok(futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        )
        .boxed())
    }
    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new("fake-stt", "s1"))
    }
}

/// LLM: scripted replies; each request's messages and tool names are recorded.
struct FakeLlm {
    replies: Mutex<VecDeque<Vec<LlmEvent>>>,
    requests: mpsc::UnboundedSender<(Vec<ChatMessage>, Vec<String>)>,
}

#[async_trait]
impl Llm for FakeLlm {
    async fn generate(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<LlmStream, ProviderError> {
        let _ = self.requests.send((
            messages.to_vec(),
            tools.iter().map(|t| t.name.clone()).collect(),
        ));
        let reply = self.replies.lock().unwrap().pop_front().unwrap_or_default();
        Ok(futures::stream::iter(reply.into_iter().map(Ok)).boxed())
    }
    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new("fake-llm", "m1"))
    }
}

/// TTS: per synthesis, the audio chunks to yield for each sentence; optionally stalls after
/// its first chunk (an answer that is still speaking). Records sentences and drops.
#[derive(Default)]
struct TtsScript {
    /// Audio per sentence of synthesis #n (the last entry repeats).
    audio: Vec<Vec<Bytes>>,
    /// Synthesis numbers that stall after their first chunk.
    stall: Vec<usize>,
}

struct FakeTts {
    script: TtsScript,
    calls: AtomicUsize,
    sentences: Arc<Mutex<Vec<String>>>,
    dropped: Arc<AtomicUsize>,
    stalled: Arc<Notify>,
}

struct DropFlag(Arc<AtomicUsize>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Tts for FakeTts {
    async fn synthesize(&self, text: TextStream) -> Result<TtsAudio, ProviderError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let audio = self
            .script
            .audio
            .get(n)
            .or(self.script.audio.last())
            .cloned()
            .unwrap_or_default();
        let stall = self.script.stall.contains(&n);
        let sentences = self.sentences.clone();
        let flag = DropFlag(self.dropped.clone());
        let stalled = self.stalled.clone();
        let out = text
            .flat_map(move |s| {
                sentences.lock().unwrap().push(s);
                futures::stream::iter(audio.clone())
            })
            .enumerate()
            .then(move |(i, chunk)| {
                let stalled = stalled.clone();
                async move {
                    if stall && i == 1 {
                        stalled.notify_one();
                        futures::future::pending::<()>().await;
                    }
                    Ok(chunk)
                }
            })
            .map(move |c| {
                let _ = &flag;
                c
            });
        Ok(out.boxed())
    }
    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new("fake-tts", "t1"))
    }
    fn voice(&self) -> Option<String> {
        Some("v1".into())
    }
}

struct Rig {
    session: PipelineSession,
    call: Arc<MockCall>,
    stt: mpsc::UnboundedSender<SpeechEvent>,
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
    stt_audio_ended: Arc<AtomicBool>,
    requests: mpsc::UnboundedReceiver<(Vec<ChatMessage>, Vec<String>)>,
    sentences: Arc<Mutex<Vec<String>>>,
    tts_dropped: Arc<AtomicUsize>,
    stalled: Arc<Notify>,
}

impl Rig {
    async fn request(&mut self) -> (Vec<ChatMessage>, Vec<String>) {
        tokio::time::timeout(Duration::from_secs(5), self.requests.recv())
            .await
            .expect("an LLM request")
            .unwrap()
    }
    fn speak(&self, e: SpeechEvent) {
        self.stt.send(e).unwrap();
    }
}

/// 24 kHz PCM16 LE tone, `samples` long.
fn tone(samples: usize, amplitude: f32) -> Bytes {
    let mut out = Vec::with_capacity(samples * 2);
    for i in 0..samples {
        let v =
            (amplitude * (i as f32 * 2.0 * std::f32::consts::PI * 400.0 / 24_000.0).sin()) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    Bytes::from(out)
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct CheckOrder {
    /// 주문 번호
    order_id: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nothing {}

fn tools(slow_started: Arc<Notify>, slow_dropped: Arc<AtomicBool>) -> SessionTools {
    let mut registry = ToolRegistry::new();
    registry
        .register("check_order", |a: CheckOrder| async move {
            Ok::<_, Infallible>(format!("order {} shipped", a.order_id))
        })
        .unwrap();
    registry
        .register("slow_lookup", move |_: Nothing| {
            let started = slow_started.clone();
            let dropped = slow_dropped.clone();
            async move {
                struct Guard(Arc<AtomicBool>);
                impl Drop for Guard {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
                let _g = Guard(dropped);
                started.notify_one();
                futures::future::pending::<()>().await;
                Ok::<_, Infallible>("never")
            }
        })
        .unwrap();
    SessionTools {
        registry,
        builtins: BuiltinTools::all(),
        hold_audio: None,
    }
}

fn rig(
    greeting: bool,
    replies: Vec<Vec<LlmEvent>>,
    tts: TtsScript,
) -> (Rig, Arc<Notify>, Arc<AtomicBool>) {
    let (stt_tx, stt_rx) = mpsc::unbounded_channel();
    let frames = Arc::new(Mutex::new(Vec::new()));
    let stt_audio_ended = Arc::new(AtomicBool::new(false));
    let (req_tx, requests) = mpsc::unbounded_channel();
    let sentences = Arc::new(Mutex::new(Vec::new()));
    let tts_dropped = Arc::new(AtomicUsize::new(0));
    let stalled = Arc::new(Notify::new());
    let pipeline = Pipeline::builder(
        FakeStt {
            events: Mutex::new(Some(stt_rx)),
            frames: frames.clone(),
            audio_ended: stt_audio_ended.clone(),
        },
        FakeLlm {
            replies: Mutex::new(replies.into()),
            requests: req_tx,
        },
        FakeTts {
            script: tts,
            calls: AtomicUsize::new(0),
            sentences: sentences.clone(),
            dropped: tts_dropped.clone(),
            stalled: stalled.clone(),
        },
    )
    .system_prompt("sys")
    .greeting(greeting)
    .greeting_delay(Duration::from_millis(10))
    .turn_debounce(Duration::from_millis(50))
    .build();
    let session = pipeline.session();
    let slow_started = Arc::new(Notify::new());
    let slow_dropped = Arc::new(AtomicBool::new(false));
    session.set_tools(tools(slow_started.clone(), slow_dropped.clone()));
    (
        Rig {
            session,
            call: MockCall::new("CA1"),
            stt: stt_tx,
            frames,
            stt_audio_ended,
            requests,
            sentences,
            tts_dropped,
            stalled,
        },
        slow_started,
        slow_dropped,
    )
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn text(t: &str) -> LlmEvent {
    LlmEvent::Text(t.into())
}

fn assistant_transcripts(call: &MockCall) -> Vec<String> {
    call.events()
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Transcript {
                role: Role::Assistant,
                text,
            } => Some(text),
            _ => None,
        })
        .collect()
}

const BUILTINS: [&str; 4] = ["hang_up", "collect_dtmf", "send_dtmf", "transfer_call"];

fn tool_names() -> Vec<String> {
    let mut v = vec!["check_order".to_owned(), "slow_lookup".to_owned()];
    v.extend(BUILTINS.iter().map(|s| (*s).to_owned()));
    v
}

// ----- tests -------------------------------------------------------------------------------

#[tokio::test]
async fn greeting_turn_streams_sentences_to_tts_and_keeps_history() {
    let (mut r, _, _) = rig(
        true,
        vec![vec![
            text("안녕"),
            text("하세요."),
            text(" 무엇을"),
            text(" 도와드릴까요?"),
        ]],
        TtsScript {
            audio: vec![vec![tone(480, 8000.0)]],
            ..Default::default()
        },
    );
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    let (messages, tools) = r.request().await;
    assert_eq!(
        messages,
        vec![ChatMessage::system("sys"), ChatMessage::user("[통화 시작]")]
    );
    assert_eq!(tools, tool_names());
    eventually("turn", || r.session.stats().turns == 1).await;
    assert_eq!(
        *r.sentences.lock().unwrap(),
        vec!["안녕하세요.".to_owned(), " 무엇을 도와드릴까요?".to_owned()]
    );
    assert_eq!(
        r.session.history(),
        vec![
            ChatMessage::system("sys"),
            ChatMessage::user("[통화 시작]"),
            ChatMessage::assistant("안녕하세요. 무엇을 도와드릴까요?"),
        ]
    );
    assert_eq!(
        assistant_transcripts(&r.call),
        vec!["안녕하세요. 무엇을 도와드릴까요?"]
    );
    assert!(r.call.events().contains(&SessionEvent::TranscriptDelta {
        role: Role::Assistant,
        text: "안녕하세요.".into()
    }));
    // Two sentences of 480 samples at 24 kHz → 2 × 160 μ-law bytes, not silent.
    let sent: Vec<u8> = r.call.sent_audio().concat();
    assert_eq!(sent.len(), 320);
    assert!(ulaw_decode(&sent).iter().any(|s| s.abs() > 2000));
    assert_eq!(r.call.clears(), 0);
    let t = r.session.telemetry().unwrap();
    assert_eq!(t.session_type, "pipeline");
    assert_eq!(t.llm.unwrap().provider.as_deref(), Some("fake-llm"));
    assert_eq!(t.stt.unwrap().model.as_deref(), Some("s1"));
    assert_eq!(t.tts.unwrap().provider.as_deref(), Some("fake-tts"));
    assert_eq!(t.voice.as_deref(), Some("v1"));
    assert!(t.greeting_enabled);
    r.session.stop().await;
    r.session.stop().await;
}

#[tokio::test]
async fn incident_0_46_1_pipeline_tts_audio_sent_unpadded() {
    // 1500 samples at 24 kHz in odd-sized chunks (one splits a sample) → exactly 500 μ-law
    // bytes at 8 kHz: no 160-byte framing, no silence padding of any chunk.
    let pcm = tone(1500, 10000.0);
    let chunks = vec![
        pcm.slice(0..1001),
        pcm.slice(1001..2000),
        pcm.slice(2000..3000),
    ];
    let (mut r, _, _) = rig(
        true,
        vec![vec![text("네.")]],
        TtsScript {
            audio: vec![chunks],
            ..Default::default()
        },
    );
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    r.request().await;
    eventually("turn", || r.session.stats().turns == 1).await;
    let sent = r.call.sent_audio();
    let total: usize = sent.iter().map(Vec::len).sum();
    assert_eq!(
        total,
        500,
        "chunks: {:?}",
        sent.iter().map(Vec::len).collect::<Vec<_>>()
    );
    // The tail is speech, not 0xFF padding.
    let all = sent.concat();
    assert!(all[all.len() - 20..].iter().any(|b| *b != 0xFF));
    r.session.stop().await;
}

#[tokio::test]
async fn caller_audio_reaches_stt_as_640_byte_pcm16_16k_frames() {
    let (r, _, _) = rig(false, vec![], TtsScript::default());
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    let pcm: Vec<i16> = (0..800)
        .map(|i| (8000.0 * (i as f32 * 2.0 * std::f32::consts::PI * 300.0 / 8000.0).sin()) as i16)
        .collect();
    let ulaw = ulaw_encode(&pcm);
    for (i, frame) in ulaw.chunks(160).enumerate() {
        r.session
            .feed_audio(Bytes::copy_from_slice(frame), i as u64 * 20)
            .await;
    }
    eventually("frames", || r.frames.lock().unwrap().len() >= 3).await;
    let frames = r.frames.lock().unwrap().clone();
    assert!(
        frames.iter().all(|f| f.len() == 640),
        "{:?}",
        frames.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let samples: Vec<i16> = frames
        .concat()
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect();
    assert!(samples.iter().any(|s| s.abs() > 4000));
    r.session.stop().await;
}

#[tokio::test]
async fn final_transcript_runs_the_tool_loop_with_chat_tool_messages() {
    let (mut r, _, _) = rig(
        false,
        vec![
            vec![
                text("확인해 볼게요."),
                LlmEvent::ToolCalls(vec![ToolCall::new(
                    "call_1",
                    "check_order",
                    r#"{"order_id":"A-1"}"#,
                )]),
            ],
            vec![text("배송 완료되었습니다.")],
        ],
        TtsScript {
            audio: vec![vec![tone(480, 8000.0)]],
            ..Default::default()
        },
    );
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    r.speak(SpeechEvent::Interim("주문".into()));
    r.speak(SpeechEvent::Final("주문 A-1 확인해 주세요".into()));
    let (first, _) = r.request().await;
    assert_eq!(
        first.last(),
        Some(&ChatMessage::user("주문 A-1 확인해 주세요"))
    );
    let (second, _) = r.request().await;
    assert_eq!(
        second[1..],
        [
            ChatMessage::user("주문 A-1 확인해 주세요"),
            ChatMessage::assistant_tool_calls(
                Some("확인해 볼게요.".into()),
                vec![ToolCall::new(
                    "call_1",
                    "check_order",
                    r#"{"order_id":"A-1"}"#
                )]
            ),
            ChatMessage::tool("call_1", "order A-1 shipped"),
        ]
    );
    eventually("turn", || r.session.stats().turns == 1).await;
    assert_eq!(
        r.session.history().last(),
        Some(&ChatMessage::assistant("배송 완료되었습니다."))
    );
    assert_eq!(
        assistant_transcripts(&r.call),
        vec!["확인해 볼게요.", "배송 완료되었습니다."]
    );
    assert!(r.call.events().contains(&SessionEvent::Transcript {
        role: Role::User,
        text: "주문 A-1 확인해 주세요".into()
    }));
    assert_eq!(r.call.tool_metrics().0, 1);
    assert_eq!(r.session.stats().tool_calls, 1);
    // No audio was playing when the caller spoke: no clear.
    assert_eq!(r.call.clears(), 0);
    r.session.stop().await;
}

#[tokio::test]
async fn barge_in_clears_cancels_the_answer_and_drops_it_from_history() {
    let (mut r, _, _) = rig(
        true,
        vec![
            vec![text("첫 문장입니다."), text(" 두 번째 문장입니다.")],
            vec![text("네.")],
        ],
        TtsScript {
            audio: vec![vec![tone(480, 8000.0), tone(480, 8000.0)]],
            stall: vec![0],
        },
    );
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    r.request().await;
    r.stalled.notified().await; // one chunk spoken, the answer is still going
    assert_eq!(r.call.sent_audio().len(), 1);
    r.speak(SpeechEvent::Interim("잠".into()));
    eventually("barge-in", || r.call.clears() == 1).await;
    eventually("TTS stream dropped", || {
        r.tts_dropped.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(r.session.stats().barge_ins, 1);
    assert_eq!(r.session.stats().turns, 0);
    // The interrupted answer is dropped from the history and never reported as said.
    assert_eq!(
        r.session.history(),
        vec![ChatMessage::system("sys"), ChatMessage::user("[통화 시작]")]
    );
    assert!(assistant_transcripts(&r.call).is_empty());
    // A second interim does not clear again (nothing was sent since).
    r.speak(SpeechEvent::Interim("잠깐".into()));
    r.speak(SpeechEvent::Final("잠깐만요".into()));
    let (messages, _) = r.request().await;
    assert_eq!(
        messages,
        vec![
            ChatMessage::system("sys"),
            ChatMessage::user("[통화 시작]"),
            ChatMessage::user("잠깐만요"),
        ]
    );
    eventually("turn", || r.session.stats().turns == 1).await;
    assert_eq!(r.call.clears(), 1);
    assert_eq!(
        r.session.history().last(),
        Some(&ChatMessage::assistant("네."))
    );
    r.session.stop().await;
}

#[tokio::test]
async fn speech_started_during_a_tool_cancels_it_and_leaves_no_dangling_tool_calls() {
    let (mut r, slow_started, slow_dropped) = rig(
        true,
        vec![
            vec![
                text("잠시만요."),
                LlmEvent::ToolCalls(vec![ToolCall::new("call_s", "slow_lookup", "{}")]),
            ],
            vec![text("네, 말씀하세요.")],
        ],
        TtsScript {
            audio: vec![vec![tone(480, 8000.0)]],
            ..Default::default()
        },
    );
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    r.request().await;
    slow_started.notified().await;
    r.speak(SpeechEvent::SpeechStarted);
    eventually("tool cancelled", || slow_dropped.load(Ordering::SeqCst)).await;
    assert_eq!(r.call.clears(), 1);
    assert_eq!(
        r.session.history(),
        vec![ChatMessage::system("sys"), ChatMessage::user("[통화 시작]")]
    );
    r.speak(SpeechEvent::Final("여보세요".into()));
    let (messages, _) = r.request().await;
    assert_eq!(messages.last(), Some(&ChatMessage::user("여보세요")));
    assert!(
        !messages
            .iter()
            .any(|m| matches!(m, ChatMessage::Tool { .. }))
    );
    r.session.stop().await;
}

#[tokio::test]
async fn hang_up_ends_the_answer_without_another_request() {
    let (mut r, _, _) = rig(
        true,
        vec![vec![
            text("안녕히 계세요."),
            LlmEvent::ToolCalls(vec![ToolCall::new("call_h", "hang_up", "")]),
        ]],
        TtsScript {
            audio: vec![vec![tone(480, 8000.0)]],
            ..Default::default()
        },
    );
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    r.request().await;
    eventually("hangup", || r.call.hangups() == 1).await;
    eventually("history", || r.session.history().len() == 4).await;
    assert_eq!(
        r.session.history()[2..],
        [
            ChatMessage::assistant_tool_calls(
                Some("안녕히 계세요.".into()),
                vec![ToolCall::new("call_h", "hang_up", "")]
            ),
            ChatMessage::tool("call_h", ""),
        ]
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), r.requests.recv())
            .await
            .is_err(),
        "no request after hang_up"
    );
    r.session.stop().await;
}

#[tokio::test]
async fn dtmf_becomes_a_user_turn_and_is_answered() {
    let (mut r, _, _) = rig(
        false,
        vec![vec![text("확인했습니다.")]],
        TtsScript::default(),
    );
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    r.session.feed_dtmf(DtmfInput::new("534")).await;
    let (messages, _) = r.request().await;
    assert_eq!(
        messages,
        vec![
            ChatMessage::system("sys"),
            ChatMessage::user("[DTMF 입력: 534]")
        ]
    );
    eventually("turn", || r.session.stats().turns == 1).await;
    r.session.stop().await;
}

#[tokio::test]
async fn prewarm_buffers_the_greeting_and_attach_flushes_it_in_order() {
    let (mut r, _, _) = rig(
        true,
        vec![vec![text("안녕하세요."), text(" 반갑습니다.")]],
        TtsScript {
            audio: vec![vec![tone(480, 8000.0), tone(240, 4000.0)]],
            ..Default::default()
        },
    );
    let stand_in = MockCall::ringing("CA1");
    let handle: CallHandle = stand_in.clone();
    r.session.prewarm(handle).await.unwrap();
    r.request().await;
    eventually("greeting buffered", || r.session.stats().turns == 1).await;
    assert!(stand_in.sent_audio().is_empty());
    assert!(r.session.buffered_bytes() > 0);
    // Greeting transcript went to the stand-in (the agent drops it before answer).
    assert_eq!(
        assistant_transcripts(&stand_in),
        vec!["안녕하세요. 반갑습니다."]
    );
    let buffered = r.session.buffered_bytes();
    let call: CallHandle = r.call.clone();
    r.session.attach(call).await.unwrap();
    assert_eq!(r.session.buffered_bytes(), 0);
    assert_eq!(r.call.sent_audio().concat().len(), buffered);
    r.session.stop().await;
}

#[tokio::test]
async fn stt_stream_end_reports_session_lost() {
    let (r, _, _) = rig(false, vec![], TtsScript::default());
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    let Rig {
        session, call, stt, ..
    } = r;
    drop(stt);
    eventually("session_lost", || {
        call.events()
            .iter()
            .any(|e| matches!(e, SessionEvent::SessionLost { .. }))
    })
    .await;
    session.stop().await;
}

#[tokio::test]
async fn incident_0_37_1_prewarm_offers_tools_and_builtins_answer_not_connected() {
    let (mut r, _, _) = rig(
        true,
        vec![
            vec![LlmEvent::ToolCalls(vec![ToolCall::new(
                "call_d",
                "send_dtmf",
                r#"{"digits":"1"}"#,
            )])],
            vec![text("연결되면 다시 누를게요.")],
        ],
        TtsScript::default(),
    );
    let stand_in = MockCall::ringing("CA1");
    let handle: CallHandle = stand_in.clone();
    r.session.prewarm(handle).await.unwrap();
    // Tools were injected before prewarm: the greeting request already offers them.
    let (_, tools) = r.request().await;
    assert_eq!(tools, tool_names());
    let (messages, _) = r.request().await;
    assert_eq!(
        messages.last(),
        Some(&ChatMessage::tool(
            "call_d",
            clawops::agent::session::NOT_CONNECTED_TEXT
        ))
    );
    assert!(stand_in.sent_tones().is_empty());
    r.session.stop().await;
}

#[tokio::test]
async fn incident_0_27_0_unattached_prewarmed_session_stop_ends_its_stt_and_tasks() {
    let (r, _, _) = rig(true, vec![vec![text("안녕하세요.")]], TtsScript::default());
    let handle: CallHandle = MockCall::ringing("CA1");
    r.session.prewarm(handle).await.unwrap();
    r.session.stop().await;
    eventually("STT audio stream ended", || {
        r.stt_audio_ended.load(Ordering::SeqCst)
    })
    .await;
    // A stopped session refuses to be attached or started.
    let call: CallHandle = r.call.clone();
    assert!(r.session.attach(call.clone()).await.is_err());
    assert!(r.session.start(call).await.is_err());
    assert!(r.call.sent_audio().is_empty());
}

/// An STT that never hears anything (for sessions that only take DTMF).
struct DeafStt;

#[async_trait]
impl Stt for DeafStt {
    async fn transcribe(&self, _audio: AudioStream) -> Result<SpeechEvents, ProviderError> {
        Ok(futures::stream::pending().boxed())
    }
}

#[tokio::test]
async fn incident_0_44_0_each_call_gets_its_own_session_and_history() {
    let (req_tx, mut requests) = mpsc::unbounded_channel();
    let pipeline = Pipeline::builder(
        DeafStt,
        FakeLlm {
            replies: Mutex::new(vec![vec![text("일.")], vec![text("이.")]].into()),
            requests: req_tx,
        },
        FakeTts {
            script: TtsScript::default(),
            calls: AtomicUsize::new(0),
            sentences: Arc::default(),
            dropped: Arc::default(),
            stalled: Arc::default(),
        },
    )
    .greeting(false)
    .build();
    let factory: &dyn clawops::agent::SessionFactory = &pipeline;
    let (a, b) = (factory.create().unwrap(), factory.create().unwrap());
    let (call_a, call_b) = (MockCall::new("CA-a"), MockCall::new("CA-b"));
    a.start(call_a.clone()).await.unwrap();
    b.start(call_b.clone()).await.unwrap();
    a.feed_dtmf(DtmfInput::new("1")).await;
    let (first, _) = requests.recv().await.unwrap();
    b.feed_dtmf(DtmfInput::new("2")).await;
    let (second, _) = requests.recv().await.unwrap();
    assert_eq!(
        first,
        vec![ChatMessage::system(""), ChatMessage::user("[DTMF 입력: 1]")]
    );
    assert_eq!(
        second,
        vec![ChatMessage::system(""), ChatMessage::user("[DTMF 입력: 2]")]
    );
    eventually("both answered", || {
        assistant_transcripts(&call_a) == ["일."] && assistant_transcripts(&call_b) == ["이."]
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn incident_0_69_transcript_deltas_are_cumulative_and_strictly_ordered() {
    // Incident 0.69 (providers.md §13): interim user text and the text being spoken were
    // dropped. Every interim reaches the app as a `TranscriptDelta`, the assistant's deltas
    // grow sentence by sentence (cumulative), and everything arrives in order, each side's
    // final transcript after its deltas.
    let (mut r, _, _) = rig(
        false,
        vec![vec![
            text("네, 주문"),
            text(" 확인했습니다."),
            text(" 배송 중입니다."),
        ]],
        TtsScript {
            audio: vec![vec![tone(480, 8000.0)]],
            ..Default::default()
        },
    );
    let call: CallHandle = r.call.clone();
    r.session.start(call).await.unwrap();
    r.speak(SpeechEvent::Interim("주문".into()));
    r.speak(SpeechEvent::Interim("주문 확인".into()));
    r.speak(SpeechEvent::Final("주문 확인해 주세요".into()));
    r.request().await;
    eventually("turn", || r.session.stats().turns == 1).await;
    let d = |role, t: &str| SessionEvent::TranscriptDelta {
        role,
        text: t.into(),
    };
    let f = |role, t: &str| SessionEvent::Transcript {
        role,
        text: t.into(),
    };
    let transcripts: Vec<SessionEvent> = r
        .call
        .events()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                SessionEvent::TranscriptDelta { .. } | SessionEvent::Transcript { .. }
            )
        })
        .collect();
    assert_eq!(
        transcripts,
        vec![
            d(Role::User, "주문"),
            d(Role::User, "주문 확인"),
            f(Role::User, "주문 확인해 주세요"),
            d(Role::Assistant, "네, 주문 확인했습니다."),
            d(Role::Assistant, "네, 주문 확인했습니다. 배송 중입니다."),
            f(Role::Assistant, "네, 주문 확인했습니다. 배송 중입니다."),
        ]
    );
    r.session.stop().await;
}
