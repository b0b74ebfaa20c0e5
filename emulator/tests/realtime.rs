//! The simulated OpenAI Realtime endpoint: deterministic script over a raw WebSocket.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops_emulator::{CallerAudio, Emulator};
use common::{Ws, next_json, send_json};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn connect(emu: &Emulator) -> Ws {
    let url = format!(
        "{}/v1/realtime?model=gpt-realtime-2",
        emu.base_url().replacen("http", "ws", 1)
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", "Bearer sk-simulated".parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn until(ws: &mut Ws, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let v = next_json(ws).await;
        let done = v["type"] == kind;
        seen.push(v);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn greeting_then_tool_call_on_end_of_speech_then_spoken_answer() {
    let emu = Emulator::start().await.unwrap();
    assert!(
        tokio_tungstenite::connect_async(format!(
            "{}/v1/realtime",
            emu.base_url().replacen("http", "ws", 1)
        ))
        .await
        .is_err(),
        "bearer required"
    );
    let mut ws = connect(&emu).await;
    assert_eq!(next_json(&mut ws).await["type"], "session.created");
    send_json(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "tools": [
        {"type": "function", "name": "hang_up", "parameters": {"type": "object", "properties": {}}},
        {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]}})).await;
    assert_eq!(next_json(&mut ws).await["type"], "session.updated");
    // Greeting.
    send_json(&mut ws, json!({"type": "response.create"})).await;
    let greeting = until(&mut ws, "response.done").await;
    let audio: usize = greeting
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .map(|e| B64.decode(e["delta"].as_str().unwrap()).unwrap().len())
        .sum();
    assert_eq!(audio, 4800, "0.6 s of μ-law");
    assert!(
        greeting
            .iter()
            .any(|e| e["type"] == "response.output_audio_transcript.done"
                && e["transcript"] == clawops_emulator::SIMULATED_REPLY)
    );
    // Caller speech: 0.4 s tone, then 0.4 s silence.
    let speech = CallerAudio::Tone.render(0.4).unwrap();
    let silence = CallerAudio::Silence.render(0.4).unwrap();
    for frame in speech.chunks(160).chain(silence.chunks(160)) {
        send_json(
            &mut ws,
            json!({"type": "input_audio_buffer.append", "audio": B64.encode(frame)}),
        )
        .await;
    }
    let turn = until(&mut ws, "response.done").await;
    let kinds: Vec<&str> = turn.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.input_audio_transcription.completed",
            "response.created",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.done",
        ]
    );
    let item = &turn[6]["item"];
    assert_eq!(
        (
            item["type"].clone(),
            item["name"].clone(),
            item["arguments"].clone()
        ),
        (json!("function_call"), json!("lookup"), json!("{}"))
    );
    // Tool output, then the spoken answer.
    send_json(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": item["call_id"], "output": "ok"}})).await;
    assert_eq!(next_json(&mut ws).await["type"], "conversation.item.added");
    send_json(&mut ws, json!({"type": "response.create"})).await;
    let answer = until(&mut ws, "response.done").await;
    assert!(
        answer
            .iter()
            .any(|e| e["type"] == "response.output_audio.done")
    );
    emu.shutdown().await;
}
