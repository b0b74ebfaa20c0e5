//! `DeepgramStt` against a fake Deepgram listen WebSocket on 127.0.0.1.
#![cfg(feature = "deepgram")]

mod provider_common;

use bytes::Bytes;
use clawops::providers::deepgram::DeepgramStt;
use clawops::providers::pipeline::{ProviderError, SpeechEvent, Stt};
use futures::StreamExt;
use provider_common::{FakeWs, WsSeen, drain, next};
use serde_json::json;
use tokio::sync::mpsc;

fn results(transcript: &str, is_final: bool, speech_final: bool) -> serde_json::Value {
    json!({"type":"Results","channel_index":[0,1],"duration":0.5,"start":0.0,
        "is_final":is_final,"speech_final":speech_final,
        "channel":{"alternatives":[{"transcript":transcript,"confidence":0.98,"words":[]}]},
        "metadata":{"request_id":"r1"}})
}

#[tokio::test]
async fn connects_with_exact_query_and_token_auth_streams_binary_frames_and_parses_results() {
    let mut fake = FakeWs::start().await;
    let stt = DeepgramStt::builder()
        .api_key("dg-secret")
        .base_url(&fake.url)
        .build();
    let (audio_tx, audio_rx) = mpsc::channel::<Bytes>(8);
    let audio = futures::stream::unfold(audio_rx, |mut rx| async move {
        rx.recv().await.map(|b| (b, rx))
    })
    .boxed();
    let (events, conn) = tokio::join!(stt.transcribe(audio), fake.conn());
    let mut events = drain(events.unwrap());
    let mut conn = conn;
    assert_eq!(
        conn.uri,
        "/v1/listen?model=nova-3&language=ko&sample_rate=16000&encoding=linear16&channels=1&punctuate=true&interim_results=true&endpointing=300&utterance_end_ms=1000"
    );
    assert_eq!(conn.headers["authorization"], "Token dg-secret");

    // Audio goes out as binary frames, byte for byte.
    let f1: Vec<u8> = (0..640).map(|i| (i % 251) as u8).collect();
    let f2 = vec![7u8; 640];
    audio_tx.send(Bytes::from(f1.clone())).await.unwrap();
    audio_tx.send(Bytes::from(f2.clone())).await.unwrap();
    assert_eq!(conn.next().await, WsSeen::Binary(f1));
    assert_eq!(conn.next().await, WsSeen::Binary(f2));

    // Results: interim, SpeechStarted, finals; Metadata and junk are ignored.
    conn.send(json!({"type":"Metadata","request_id":"r1"}));
    conn.send(results("안녕", false, false));
    assert_eq!(
        next(&mut events).await.unwrap().unwrap(),
        SpeechEvent::Interim("안녕".into())
    );
    conn.send(json!({"type":"SpeechStarted","channel":[0],"timestamp":1.2}));
    assert_eq!(
        next(&mut events).await.unwrap().unwrap(),
        SpeechEvent::SpeechStarted
    );
    conn.send(results("", false, false));
    conn.send(results("안녕하세요", true, true));
    assert_eq!(
        next(&mut events).await.unwrap().unwrap(),
        SpeechEvent::Final("안녕하세요".into())
    );
    conn.send(results("주문 번호는", true, false));
    conn.send(results("에이 원입니다", true, true));
    assert_eq!(
        next(&mut events).await.unwrap().unwrap(),
        SpeechEvent::Final("주문 번호는 에이 원입니다".into())
    );
    conn.push
        .send(provider_common::WsPush::Text("{not json".into()))
        .unwrap();
    conn.send(results("끝", true, false));
    conn.send(json!({"type":"UtteranceEnd","channel":[0,1],"last_word_end":3.1}));
    assert_eq!(
        next(&mut events).await.unwrap().unwrap(),
        SpeechEvent::Final("끝".into())
    );
    assert_eq!(
        next(&mut events).await.unwrap().unwrap(),
        SpeechEvent::SpeechEnded
    );

    // End of audio: one empty binary frame.
    drop(audio_tx);
    assert_eq!(conn.next().await, WsSeen::Binary(Vec::new()));
    // The server closing ends the event stream.
    conn.close();
    assert!(next(&mut events).await.is_none());
}

#[tokio::test]
async fn vad_events_option_adds_the_query_parameter() {
    let mut fake = FakeWs::start().await;
    let stt = DeepgramStt::builder()
        .api_key("k")
        .base_url(&fake.url)
        .model("nova-2")
        .language("en")
        .vad_events(true)
        .build();
    let audio = futures::stream::pending().boxed();
    let (events, conn) = tokio::join!(stt.transcribe(audio), fake.conn());
    let _events = events.unwrap();
    assert_eq!(
        conn.uri,
        "/v1/listen?model=nova-2&language=en&sample_rate=16000&encoding=linear16&channels=1&punctuate=true&interim_results=true&endpointing=300&utterance_end_ms=1000&vad_events=true"
    );
}

#[tokio::test]
async fn refused_upgrade_is_a_connect_error_with_the_status() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 2048];
        let _ = tcp.read(&mut buf).await;
        let _ = tcp
            .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
            .await;
    });
    let stt = DeepgramStt::builder().api_key("bad").base_url(url).build();
    let err = stt
        .transcribe(futures::stream::pending().boxed())
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(
            err,
            ProviderError::Connect {
                provider: "deepgram",
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        !format!("{err} {err:?}").contains("bad"),
        "key leaked: {err:?}"
    );
}
