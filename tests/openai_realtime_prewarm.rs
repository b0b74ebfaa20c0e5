//! Outbound prewarm end to end: the agent, the ClawOps emulator (phone network) and a fake
//! Realtime server on 127.0.0.1 (the model).

mod openai_realtime_common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops::agent::{Agent, CallOptions};
use clawops::audio::ulaw_to_linear;
use clawops::providers::openai::OpenAIRealtime;
use clawops::types::CallStatus;
use clawops_emulator::{Config, Emulator};
use openai_realtime_common::{Conn, FakeRealtime, headline_tools};
use serde_json::{Value, json};

const FROM: &str = "07012340001";

fn audio_delta(item: &str, bytes: &[u8]) -> Value {
    json!({"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":item,"output_index":0,"content_index":0,"delta":B64.encode(bytes)})
}

fn audio_done(item: &str) -> Value {
    json!({"type":"response.output_audio.done","event_id":"e","response_id":"r","item_id":item,"output_index":0,"content_index":0})
}

async fn script(emulator: &Emulator, number: &str, body: Value) {
    reqwest::Client::new()
        .put(format!(
            "{}/_emulator/destinations/{number}",
            emulator.base_url()
        ))
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

fn agent(emulator: &Emulator, fake: &FakeRealtime) -> Agent {
    Agent::builder(FROM)
        .api_key(emulator.api_key())
        .account_id(emulator.account_id())
        .base_url(emulator.base_url())
        .tools(headline_tools().registry)
        .session_factory(
            OpenAIRealtime::builder()
                .api_key("sk-test")
                .base_url(&fake.base_url)
                .factory()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// The first frame is `session.update` with the tools; the greeting's `response.create` follows.
async fn expect_configured(conn: &mut Conn) {
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
}

/// Waits for the first caller audio (the media socket is open: the call was answered).
async fn until_caller_audio(conn: &mut Conn) {
    loop {
        if conn.frame().await["type"] == "input_audio_buffer.append" {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeting_generated_while_ringing_is_played_first() {
    let emulator = Emulator::start_with(Config::default().with_realtime(true))
        .await
        .unwrap();
    let mut fake = FakeRealtime::start("prewarm_agent").await;
    let to = "01055550001";
    script(&emulator, to, json!({"outcome":"answer","ringSeconds":1.0,"audio":"silence","seconds":2,"hangupAfterAudio":true})).await;
    let agent = agent(&emulator, &fake);
    agent.connect().await.unwrap();
    let call = agent.call(to, CallOptions::new()).await.unwrap();

    // The session connects during the ring: tools are in the FIRST session.update.
    let mut conn = fake.conn().await;
    expect_configured(&mut conn).await;
    // The model produces the greeting while the phone still rings.
    conn.send(audio_delta("greet", &[0x11u8; 1600]));
    conn.send(audio_done("greet"));
    until_caller_audio(&mut conn).await;
    // Audio generated after answer.
    conn.send(audio_delta("after", &[0x22u8; 1600]));
    conn.send(audio_done("after"));

    assert_eq!(call.wait().await, CallStatus::Completed);
    conn.expect_close().await; // the session is closed with the call

    let wav = reqwest::Client::new()
        .get(format!(
            "{}/v1/accounts/{}/recordings/{}",
            emulator.base_url(),
            emulator.account_id(),
            call.call_id()
        ))
        .bearer_auth(emulator.api_key())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).unwrap();
    let agent_side: Vec<i16> = reader
        .into_samples::<i16>()
        .map(Result::unwrap)
        .skip(1)
        .step_by(2)
        .collect();
    let greet = ulaw_to_linear(0x11);
    let after = ulaw_to_linear(0x22);
    let first_greet = agent_side.iter().position(|&s| s == greet);
    let first_after = agent_side.iter().position(|&s| s == after);
    let (Some(g), Some(a)) = (first_greet, first_after) else {
        panic!("both greeting and post-answer audio must reach the media socket")
    };
    assert!(
        g < a,
        "greeting at sample {g} must play before post-answer audio at {a}"
    );
    assert_eq!(
        agent_side[g..g + 1600],
        [greet; 1600],
        "the whole greeting, contiguous"
    );
    agent.disconnect().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_call_closes_its_prewarmed_socket() {
    let emulator = Emulator::start().await.unwrap();
    let mut fake = FakeRealtime::start("prewarm_unanswered").await;
    let to = "01055550002";
    script(
        &emulator,
        to,
        json!({"outcome":"no-answer","ringSeconds":0.5}),
    )
    .await;
    let agent = agent(&emulator, &fake);
    agent.connect().await.unwrap();
    let call = agent.call(to, CallOptions::new()).await.unwrap();
    let mut conn = fake.conn().await;
    expect_configured(&mut conn).await;
    assert_eq!(call.wait().await, CallStatus::NoAnswer);
    conn.expect_close().await;
    agent.disconnect().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_outbound_calls_each_prewarm_their_own_session() {
    let emulator = Emulator::start().await.unwrap();
    let mut fake = FakeRealtime::start("prewarm_concurrent").await;
    for to in ["01055550003", "01055550004"] {
        script(
            &emulator,
            to,
            json!({"outcome":"no-answer","ringSeconds":1.0}),
        )
        .await;
    }
    let agent = agent(&emulator, &fake);
    agent.connect().await.unwrap();
    let a = agent.call("01055550003", CallOptions::new()).await.unwrap();
    let b = agent.call("01055550004", CallOptions::new()).await.unwrap();
    let mut c1 = fake.conn().await;
    let mut c2 = fake.conn().await;
    expect_configured(&mut c1).await;
    expect_configured(&mut c2).await;
    assert_ne!(a.call_id(), b.call_id());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    a.wait().await;
    b.wait().await;
    c1.expect_close().await;
    c2.expect_close().await;
    agent.disconnect().await;
    emulator.shutdown().await;
}
