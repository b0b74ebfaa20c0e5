//! `ElevenLabsTts` against a fake `stream-input` WebSocket on 127.0.0.1.
#![cfg(feature = "elevenlabs")]

mod provider_common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops::providers::elevenlabs::ElevenLabsTts;
use clawops::providers::pipeline::Tts;
use futures::StreamExt;
use provider_common::{FakeWs, WsSeen, drain, next};
use serde_json::json;
use tokio::sync::mpsc;

#[tokio::test]
async fn request_url_headers_bos_sentences_eos_and_streamed_audio() {
    let mut fake = FakeWs::start().await;
    let tts = ElevenLabsTts::builder()
        .api_key("el-secret")
        .base_url(&fake.url)
        .build();
    assert_eq!(tts.sample_rate(), 24_000);
    let (text_tx, text_rx) = mpsc::unbounded_channel::<String>();
    let text =
        futures::stream::unfold(
            text_rx,
            |mut rx| async move { rx.recv().await.map(|s| (s, rx)) },
        )
        .boxed();
    let (audio, conn) = tokio::join!(tts.synthesize(text), fake.conn());
    let mut audio = drain(audio.unwrap());
    let mut conn = conn;
    assert_eq!(
        conn.uri,
        "/v1/text-to-speech/EXAVITQu4vr4xnSDxMaL/stream-input?model_id=eleven_flash_v2_5&output_format=pcm_24000"
    );
    assert_eq!(conn.headers["xi-api-key"], "el-secret");
    assert_eq!(
        conn.json().await,
        json!({"text":" ","voice_settings":{"stability":0.5,"similarity_boost":0.75},
            "generation_config":{"chunk_length_schedule":[120,160,250,290]},"xi_api_key":"el-secret"})
    );
    text_tx.send("안녕하세요.".into()).unwrap();
    text_tx.send(String::new()).unwrap(); // skipped: an empty text would end the stream
    text_tx.send(" 무엇을 도와드릴까요?".into()).unwrap();
    assert_eq!(conn.json().await, json!({"text":"안녕하세요."}));
    assert_eq!(conn.json().await, json!({"text":" 무엇을 도와드릴까요?"}));

    let pcm1: Vec<u8> = (0..960u32).map(|i| (i % 256) as u8).collect();
    let pcm2 = vec![0x10u8; 480];
    conn.send(json!({"audio": B64.encode(&pcm1), "isFinal": null,
        "normalizedAlignment": {"chars":["안"],"charStartTimesMs":[0],"charsDurationMs":[100]}}));
    conn.send(json!({"audio": null, "isFinal": false}));
    assert_eq!(next(&mut audio).await.unwrap().unwrap().to_vec(), pcm1);

    drop(text_tx);
    assert_eq!(conn.json().await, json!({"text":""}));
    conn.send(json!({"audio": B64.encode(&pcm2)}));
    conn.send(json!({"audio": "", "isFinal": true}));
    assert_eq!(next(&mut audio).await.unwrap().unwrap().to_vec(), pcm2);
    conn.close();
    assert!(next(&mut audio).await.is_none());
}

#[tokio::test]
async fn voice_model_format_and_settings_are_configurable_and_barge_in_drops_the_socket() {
    let mut fake = FakeWs::start().await;
    let tts = ElevenLabsTts::builder()
        .api_key("k2")
        .base_url(&fake.url)
        .voice_id("voice42")
        .model("eleven_multilingual_v2")
        .output_format("pcm_16000")
        .stability(0.3)
        .similarity_boost(0.9)
        .build();
    assert_eq!(tts.sample_rate(), 16_000);
    let (audio, conn) = tokio::join!(
        tts.synthesize(futures::stream::pending().boxed()),
        fake.conn()
    );
    let audio = audio.unwrap();
    let mut conn = conn;
    assert_eq!(
        conn.uri,
        "/v1/text-to-speech/voice42/stream-input?model_id=eleven_multilingual_v2&output_format=pcm_16000"
    );
    assert_eq!(
        conn.json().await["voice_settings"],
        json!({"stability":0.3,"similarity_boost":0.9})
    );
    // The consumer dropping the stream (barge-in) drops the socket.
    drop(audio);
    assert!(matches!(conn.next().await, WsSeen::Ended | WsSeen::Close));
}
