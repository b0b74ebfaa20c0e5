//! Custom pipeline providers: your own speech-to-text, language model and text-to-speech
//! plugged into the crate's [`PipelineSession`].
//!
//! The three providers here are deliberately tiny and fully offline, so the example runs
//! anywhere (`cargo run --example custom_pipeline --features pipeline`):
//!
//! - [`EnergyStt`]: a voice-activity detector on the 16 kHz PCM frames; it reports
//!   `SpeechStarted` when the caller gets loud (that drives barge-in) and a `Final` with a
//!   placeholder transcript after 300 ms of quiet. A real STT would stream the frames to a
//!   recognition service instead.
//! - [`RuleLlm`]: answers in sentences and calls the `check_order` tool the first time it
//!   hears about an order, then reads the tool result back — the same chat-completions
//!   shapes a hosted model would stream ([`LlmEvent::Text`] tokens, then one
//!   [`LlmEvent::ToolCalls`]).
//! - [`BeepTts`]: "speaks" each sentence as a short tone of PCM16 at 16 kHz (declared through
//!   [`Tts::sample_rate`]; the session converts it to the phone's 8 kHz μ-law).
//!
//! `main` drives one session against [`MockCall`] (a recording stand-in for a phone call)
//! and prints what happened. With a real number, hand the same [`Pipeline`] to
//! `Agent::builder(number).session_factory(pipeline)` — see the end of `main`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use clawops::agent::testing::MockCall;
use clawops::agent::{BuiltinTools, CallHandle, Session, SessionEvent, SessionTools, ToolRegistry};
use clawops::audio::ulaw_encode;
use clawops::providers::pipeline::{
    AudioStream, ChatMessage, Llm, LlmEvent, LlmStream, Pipeline, ProviderError, ProviderInfo,
    SpeechEvent, SpeechEvents, Stt, TextStream, ToolCall, ToolSpec, Tts, TtsAudio,
};
use futures::StreamExt;

/// Speech detection by frame energy (PCM16 LE, 16 kHz, 640-byte frames).
struct EnergyStt {
    /// Mean absolute amplitude above which a frame counts as speech.
    threshold: i32,
}

#[async_trait]
impl Stt for EnergyStt {
    async fn transcribe(&self, audio: AudioStream) -> Result<SpeechEvents, ProviderError> {
        let threshold = self.threshold;
        // State: (speaking, loud frames in this utterance, quiet frames since the last loud one).
        let events = audio
            .scan(
                (false, 0u32, 0u32),
                move |(speaking, loud, quiet), frame| {
                    let samples = frame.len() / 2;
                    let energy = frame
                        .chunks_exact(2)
                        .map(|p| i32::from(i16::from_le_bytes([p[0], p[1]])).abs())
                        .sum::<i32>()
                        / i32::try_from(samples.max(1)).unwrap_or(1);
                    let mut out = Vec::new();
                    if energy > threshold {
                        if !*speaking {
                            *speaking = true;
                            out.push(Ok(SpeechEvent::SpeechStarted));
                        }
                        *loud += 1;
                        *quiet = 0;
                    } else if *speaking {
                        *quiet += 1;
                        if *quiet == 15 {
                            // 300 ms of quiet ends the utterance.
                            out.push(Ok(SpeechEvent::SpeechEnded));
                            let ms = *loud * 20;
                            out.push(Ok(SpeechEvent::Final(format!(
                                "주문 A-1 확인해 주세요 ({ms} ms of speech)"
                            ))));
                            (*speaking, *loud, *quiet) = (false, 0, 0);
                        }
                    }
                    futures::future::ready(Some(futures::stream::iter(out)))
                },
            )
            .flatten();
        Ok(events.boxed())
    }

    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new("energy-vad", "v1"))
    }
}

/// A rule-based "model": greets, calls `check_order` once, then reads the result back.
struct RuleLlm {
    requests: AtomicUsize,
}

#[async_trait]
impl Llm for RuleLlm {
    async fn generate(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<LlmStream, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let events: Vec<LlmEvent> = match messages.last() {
            // After a tool result: read it back.
            Some(ChatMessage::Tool { content, .. }) => {
                vec![LlmEvent::Text(format!(
                    "조회 결과: {content}. 더 필요하신 것이 있나요?"
                ))]
            }
            Some(ChatMessage::User { content }) if content == "[통화 시작]" => vec![
                LlmEvent::Text("안녕하세요. ".into()),
                LlmEvent::Text("무엇을 도와드릴까요?".into()),
            ],
            Some(ChatMessage::User { content })
                if content.contains("주문") && tools.iter().any(|t| t.name == "check_order") =>
            {
                vec![
                    LlmEvent::Text("확인해 볼게요.".into()),
                    // Tool calls come once, after the text; ids must be unique.
                    LlmEvent::ToolCalls(vec![ToolCall::new(
                        format!("call_{}", messages.len()),
                        "check_order",
                        r#"{"order_id":"A-1"}"#,
                    )]),
                ]
            }
            _ => vec![LlmEvent::Text("잘 알겠습니다.".into())],
        };
        Ok(futures::stream::iter(events.into_iter().map(Ok)).boxed())
    }

    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new("rules", "v1"))
    }
}

/// One 440 Hz beep per sentence, 10 ms per character, PCM16 LE at 16 kHz.
struct BeepTts;

#[async_trait]
impl Tts for BeepTts {
    async fn synthesize(&self, text: TextStream) -> Result<TtsAudio, ProviderError> {
        let audio = text
            .filter(|s| futures::future::ready(!s.trim().is_empty()))
            .map(|sentence| {
                let samples = sentence.chars().count() * 160;
                let mut pcm = Vec::with_capacity(samples * 2);
                for i in 0..samples {
                    let t = i as f32 / 16_000.0;
                    let v = (6000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16;
                    pcm.extend_from_slice(&v.to_le_bytes());
                }
                Ok(Bytes::from(pcm))
            });
        Ok(audio.boxed())
    }

    fn sample_rate(&self) -> u32 {
        16_000
    }

    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new("beep", "v1"))
    }

    fn voice(&self) -> Option<String> {
        Some("440hz".into())
    }
}

/// The order lookup the model may call.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct CheckOrder {
    /// Order number.
    order_id: String,
}

/// 20 ms μ-law frames: `loud_ms` of a 300 Hz tone, then `quiet_ms` of silence.
fn caller_audio(loud_ms: usize, quiet_ms: usize) -> Vec<Bytes> {
    let pcm: Vec<i16> = (0..(loud_ms + quiet_ms) * 8)
        .map(|i| {
            if i < loud_ms * 8 {
                (8000.0 * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 8000.0).sin()) as i16
            } else {
                0
            }
        })
        .collect();
    ulaw_encode(&pcm)
        .chunks(160)
        .map(Bytes::copy_from_slice)
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pipeline = Pipeline::builder(
        EnergyStt { threshold: 500 },
        RuleLlm {
            requests: AtomicUsize::new(0),
        },
        BeepTts,
    )
    .system_prompt("친절한 상담원입니다.")
    .build();

    let mut registry = ToolRegistry::new();
    registry.register("check_order", |a: CheckOrder| async move {
        Ok::<_, std::convert::Infallible>(format!("주문 {}은 배송 완료", a.order_id))
    })?;

    // What the agent does per call: a fresh session, tools first, then start.
    let session = pipeline.session();
    session.set_tools(SessionTools {
        registry,
        builtins: BuiltinTools::all(),
        hold_audio: None,
    });
    let call = MockCall::new("CA-example");
    let handle: CallHandle = Arc::clone(&call) as CallHandle;
    session.start(handle).await?;

    // Let the greeting play, then the caller talks for 600 ms (20 ms frames, real time).
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (i, frame) in caller_audio(600, 700).into_iter().enumerate() {
        session.feed_audio(frame, i as u64 * 20).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    session.stop().await;

    println!("transcripts:");
    for event in call.events() {
        if let SessionEvent::Transcript { role, text } = event {
            println!("  {:>9}: {text}", role.as_str());
        }
    }
    let bytes: usize = call.sent_audio().iter().map(Vec::len).sum();
    println!(
        "audio to the caller: {bytes} bytes of 8 kHz μ-law ({} ms); clears (barge-ins): {}",
        bytes / 8,
        call.clears()
    );
    println!("history:");
    for m in session.history() {
        println!("  {}", serde_json::to_string(&m)?);
    }
    println!("stats: {:?}", session.stats());

    // With a real ClawOps number (needs CLAWOPS_API_KEY etc.):
    //
    //     clawops::agent::Agent::builder("07012341234")
    //         .session_factory(pipeline)
    //         .tools(registry)
    //         .build()?
    //         .serve()
    //         .await?;
    Ok(())
}
