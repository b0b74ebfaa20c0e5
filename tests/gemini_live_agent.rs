//! A call end to end: the agent, the ClawOps emulator (phone network) and a fake Gemini Live
//! server on 127.0.0.1 (the model). Greeting, caller audio, model audio, a tool round trip,
//! a barge-in, a forced server close that resumes the session, and a hang-up by the model.

#![cfg(feature = "gemini")]

mod agent_common;
mod gemini_common;

use std::time::Duration;

use agent_common::{
    EventLog, NUMBER, agent_builder, emulator, get, inbound, wait_call, wait_media,
};
use clawops::audio::{linear_to_ulaw, ulaw_to_linear};
use clawops::providers::gemini::GeminiRealtime;
use gemini_common::{FakeGemini, audio_msg, tools};
use serde_json::json;

/// Polls the emulator's view of the call until `f` holds (≤ 10 s).
async fn until_call(
    emu: &clawops_emulator::Emulator,
    call_id: &str,
    what: &str,
    f: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..500 {
        let v = get(emu, &format!("/_emulator/calls/{call_id}")).await;
        if f(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_44_gemini_call_through_the_emulator_survives_a_forced_close() {
    let emu = emulator().await;
    let mut fake = FakeGemini::start().await;
    let log = EventLog::default();
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .tools(tools().registry)
        .session_factory(
            GeminiRealtime::builder()
                .api_key("AIza-agent-test")
                .base_url(&fake.base_url)
                .system_prompt("상담원")
                .reconnect_backoff(Duration::from_millis(20))
                .tool_drain(Duration::from_millis(50))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let call_id = inbound(
        &emu,
        NUMBER,
        json!({"audio": "tone", "seconds": 1, "maxSeconds": 30}),
    )
    .await;

    // The model connection: setup with every tool of the call, then the greeting.
    let mut c1 = fake.conn().await;
    let setup = c1.setup().await;
    let names: Vec<&str> = setup["setup"]["tools"][0]["functionDeclarations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "check_order",
            "save_note",
            "slow_lookup",
            "hang_up",
            "collect_dtmf",
            "send_dtmf",
            "transfer_call"
        ]
    );
    assert_eq!(setup["setup"]["sessionResumption"], json!({}));
    assert_eq!(
        c1.frame().await,
        json!({"realtimeInput": {"text": "인사해 주세요."}})
    );
    wait_media(&emu, &call_id).await;

    // The caller's tone reaches the model as 16 kHz PCM.
    let pcm = c1.audio_frame().await;
    assert!(pcm.len() <= 320 && !pcm.is_empty());

    // The model speaks (24 kHz PCM) → the caller hears μ-law.
    c1.send(audio_msg(&[1200i16; 4800]));
    c1.send(json!({"serverContent": {"outputTranscription": {"text": "안녕하세요"}}}));
    c1.send(json!({"serverContent": {"generationComplete": true, "turnComplete": true}}));
    until_call(&emu, &call_id, "greeting audio", |v| {
        v["audioBytes"].as_u64().unwrap_or(0) >= 1600
    })
    .await;

    // Tool round trip.
    c1.send(json!({"toolCall": {"functionCalls": [{"id": "fc1", "name": "check_order", "args": {"order_id": "A-7"}}]}}));
    assert_eq!(
        c1.control_frame().await,
        json!({"toolResponse": {"functionResponses": [{"id": "fc1", "name": "check_order", "response": {"result": "A-7: 배송 완료"}}]}})
    );

    // Barge-in: the clear reaches the media socket.
    c1.send(audio_msg(&[900i16; 4800]));
    c1.send(json!({"serverContent": {"interrupted": true}}));
    until_call(&emu, &call_id, "clear", |v| {
        v["clears"].as_u64().unwrap_or(0) >= 1
    })
    .await;

    // Google ends the connection; the session resumes with the stored handle.
    // Same socket, in order: the update is read before the close.
    c1.send(json!({"sessionResumptionUpdate": {"newHandle": "resume-1", "resumable": true}}));
    c1.close_from_server(1011, "session ended");
    let mut c2 = fake.conn().await;
    let setup2 = c2.setup().await;
    assert_eq!(
        setup2["setup"]["sessionResumption"],
        json!({"handle": "resume-1"})
    );
    let before = get(&emu, &format!("/_emulator/calls/{call_id}")).await["audioBytes"]
        .as_u64()
        .unwrap_or(0);
    // The call keeps talking: audio after the resume reaches the caller.
    c2.send(audio_msg(&[-1500i16; 4800]));
    c2.send(json!({"serverContent": {"generationComplete": true, "turnComplete": true}}));
    until_call(&emu, &call_id, "audio after resume", |v| {
        v["audioBytes"].as_u64().unwrap_or(0) >= before + 1600
    })
    .await;

    // The model ends the call.
    c2.send(json!({"toolCall": {"functionCalls": [{"id": "fc2", "name": "hang_up", "args": {}}]}}));
    let ended = wait_call(&emu, &call_id).await;
    assert_eq!(ended["endedBy"], "agent", "{ended}");
    assert_eq!(ended["hangup"], true);
    c2.expect_close().await; // the session is closed with the call

    // The recording's agent side holds the answer generated after the resume.
    let wav = reqwest::Client::new()
        .get(format!(
            "{}/v1/accounts/{}/recordings/{}",
            emu.base_url(),
            emu.account_id(),
            call_id
        ))
        .bearer_auth(emu.api_key())
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
    let resumed = ulaw_to_linear(linear_to_ulaw(-1500));
    let greeting = ulaw_to_linear(linear_to_ulaw(1200));
    let count = |v: i16| agent_side.iter().filter(|&&s| s == v).count();
    assert!(count(greeting) > 1000, "greeting in the recording");
    assert!(count(resumed) > 1000, "post-resume answer in the recording");
    let first_greeting = agent_side.iter().position(|&s| s == greeting).unwrap();
    let first_resumed = agent_side.iter().position(|&s| s == resumed).unwrap();
    assert!(first_greeting < first_resumed);

    let events = log.of(&call_id);
    assert!(
        events.contains(&"transcript:assistant:안녕하세요".to_owned()),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e == "session_lost"), "{events:?}");
    agent.disconnect().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_0_62_lost_model_connection_hangs_up_instead_of_leaving_silence() {
    let emu = emulator().await;
    let mut fake = FakeGemini::start().await;
    let log = EventLog::default();
    let agent = log
        .attach(agent_builder(&emu, NUMBER))
        .session_factory(
            GeminiRealtime::builder()
                .api_key("AIza-agent-test")
                .base_url(&fake.base_url)
                .greeting(false)
                .reconnect_max_attempts(1)
                .reconnect_backoff(Duration::from_millis(20))
                .setup_timeout(Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    agent.connect().await.unwrap();
    let call_id = inbound(
        &emu,
        NUMBER,
        json!({"audio": "silence", "seconds": 1, "maxSeconds": 30}),
    )
    .await;
    let mut c1 = fake.conn().await;
    c1.setup().await;
    wait_media(&emu, &call_id).await;
    c1.close_from_server(1011, "gone");
    // The one reconnect attempt never completes setup and is closed.
    let mut attempt = fake.conn().await;
    assert_eq!(
        attempt.frame().await["setup"]["sessionResumption"],
        json!({})
    );
    attempt.expect_close().await;
    let ended = wait_call(&emu, &call_id).await;
    assert_eq!(ended["endedBy"], "agent", "{ended}");
    let events = log.of(&call_id);
    assert!(events.iter().any(|e| e == "session_lost"), "{events:?}");
    agent.disconnect().await;
    emu.shutdown().await;
}

#[cfg(feature = "mcp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_0_70c_gemini_with_mcp_servers_is_not_prewarmed_while_ringing() {
    // providers.md §13 0.70.0: Gemini + MCP outbound calls were still prewarmed through the
    // `call.ringing` path, so the model started without the MCP tools. The emulator sends
    // `call.ringing` and lets the phone ring 2 s (then no answer). Without MCP the Gemini
    // session prewarms during the ringing (the fake server sees a `setup`); with an MCP server
    // configured it must not connect at all.
    let emu = emulator().await;
    let mut fake = FakeGemini::start().await;
    let base_url = fake.base_url.clone();
    let factory = || {
        GeminiRealtime::builder()
            .api_key("AIza-agent-test")
            .base_url(&base_url)
            .build()
            .unwrap()
    };
    let ringing = json!({"outcome": "no-answer", "ringSeconds": 2.0});
    for to in ["01070000001", "01070000002"] {
        let path = format!("/_emulator/destinations/{to}");
        assert_eq!(agent_common::put(&emu, &path, ringing.clone()).await, 200);
    }

    // Control: no MCP server → prewarmed while ringing, closed when nobody answers.
    let plain = agent_builder(&emu, NUMBER)
        .tools(tools().registry)
        .session_factory(factory())
        .build()
        .unwrap();
    let call = plain
        .call("01070000001", clawops::agent::CallOptions::new())
        .await
        .expect("originated");
    let mut conn = fake.conn().await;
    conn.setup().await;
    assert!(
        call.ended_status().is_none(),
        "prewarmed during the ringing"
    );
    let status = tokio::time::timeout(Duration::from_secs(15), call.wait())
        .await
        .expect("call ends");
    assert_eq!(status.as_str(), "no-answer");
    conn.expect_close().await;
    plain.disconnect().await;

    // With an MCP server: no Gemini connection during the ringing (nor after, unanswered).
    let with_mcp = agent_builder(&emu, NUMBER)
        .tools(tools().registry)
        .session_factory(factory())
        .mcp_server(clawops::mcp::McpServer::stdio(
            "/nonexistent/mcp-server",
            Vec::<String>::new(),
            Vec::<(String, String)>::new(),
        ))
        .build()
        .unwrap();
    let call = with_mcp
        .call("01070000002", clawops::agent::CallOptions::new())
        .await
        .expect("originated");
    let status = tokio::time::timeout(Duration::from_secs(15), call.wait())
        .await
        .expect("call ends");
    assert_eq!(status.as_str(), "no-answer");
    assert!(
        fake.conn_within(Duration::from_millis(500)).await.is_none(),
        "Gemini prewarmed although MCP tools would only arrive at answer"
    );
    with_mcp.disconnect().await;
    emu.shutdown().await;
}
