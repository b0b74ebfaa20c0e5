//! Call lifecycle over raw control and media WebSockets, driven through the control API.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clawops_emulator::{Config, Emulator};
use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const AGENT: &str = "07012340001";

fn audio_frame(byte: u8) -> Value {
    json!({"event": "media", "media": {"payload": B64.encode([byte; 160])}})
}

#[tokio::test]
async fn inbound_call_speaks_the_documented_sequence() {
    let emu = Emulator::start().await.unwrap();
    let mut agent = connect_agent(&emu, AGENT).await;
    send_json(&mut agent, json!({"event": "agent.hello", "sdk": {"name": "raw-test", "version": "0", "runtime": "rust/1", "os": "linux/x86_64", "capabilities": ["retire"]}})).await;
    let call_id = inbound(
        &emu,
        json!({"from": "01062915351", "to": AGENT, "audio": "tone", "seconds": 0.1, "dtmf": "1#"}),
    )
    .await;

    let offer = next_json(&mut agent).await;
    let media_url = offer["mediaUrl"].as_str().unwrap().to_owned();
    assert_eq!(
        offer,
        json!({"event": "call.incoming", "callId": call_id, "from": "01062915351", "mediaUrl": media_url, "callerIdRestricted": false})
    );
    let prefix = format!(
        "{}/v1/agent/media/{call_id}?token=tok_",
        emu.base_url().replacen("http", "ws", 1)
    );
    assert!(media_url.starts_with(&prefix), "{media_url}");
    assert!(!media_url.contains(emu.api_key()));
    send_json(
        &mut agent,
        json!({"event": "call.accept", "callId": call_id}),
    )
    .await;
    let mut media = connect_media(&media_url).await;

    assert_eq!(
        next_json(&mut media).await,
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    );
    let start = next_json(&mut media).await;
    let stream_id = start["start"]["streamId"].as_str().unwrap().to_owned();
    assert!(stream_id.starts_with("MZ") && stream_id.len() == 34);
    assert_eq!(
        start,
        json!({"event": "start", "sequenceNumber": "1", "start": {
            "accountId": emu.account_id(), "callId": call_id, "customParameters": {},
            "mediaFormat": {"channels": 1, "encoding": "audio/x-mulaw", "sampleRate": 8000},
            "streamId": stream_id, "tracks": ["inbound"]}})
    );
    // 5 frames of tone with two DTMF keys spread over them.
    let tone = clawops_emulator::CallerAudio::Tone.render(0.1).unwrap();
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(next_json(&mut media).await);
    }
    let events: Vec<&str> = seen.iter().map(|f| f["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        ["media", "dtmf", "media", "media", "dtmf", "media", "media"]
    );
    assert_eq!(
        seen[0],
        json!({"event": "media", "sequenceNumber": "2", "media": {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": B64.encode(&tone[..160])}})
    );
    assert_eq!(
        seen[1],
        json!({"event": "dtmf", "sequenceNumber": "3", "dtmf": {"digit": "1", "track": "inbound_track"}})
    );
    assert_eq!(seen[4]["dtmf"]["digit"], "#");
    assert_eq!(seen[6]["media"]["timestamp"], "80");
    assert_eq!(seen[6]["sequenceNumber"], "8");

    // Agent: three frames of audio, a mark, a DTMF key, an unknown frame and a malformed one.
    for _ in 0..3 {
        send_json(&mut media, audio_frame(0x7F)).await;
    }
    send_json(
        &mut media,
        json!({"event": "mark", "mark": {"name": "greeting_end"}}),
    )
    .await;
    let echo = next_json(&mut media).await;
    assert_eq!(
        echo,
        json!({"event": "mark", "sequenceNumber": "9", "mark": {"name": "greeting_end"}})
    );
    send_json(&mut media, json!({"event": "dtmf", "dtmf": {"digit": "5"}})).await;
    send_json(&mut media, json!({"event": "future.thing", "x": 1})).await;
    media.send(Message::Text("{not json".into())).await.unwrap();
    send_json(&mut agent, json!({"event": "call.telemetry", "callId": call_id, "telemetry": {"builtinTools": [], "greetingEnabled": true, "language": "ko", "mcpServerCount": 0, "recordingEnabled": true, "sessionType": "raw", "toolCount": 0}})).await;
    // Hangup handshake: mark, echo, then the agent closes.
    send_json(
        &mut media,
        json!({"event": "mark", "mark": {"name": "hangup-1"}}),
    )
    .await;
    assert_eq!(next_json(&mut media).await["mark"]["name"], "hangup-1");
    media.close(None).await.unwrap();

    let ended = next_json(&mut agent).await;
    assert_eq!(
        ended,
        json!({"event": "call.ended", "callId": call_id, "duration": 0, "status": "completed"})
    );

    let view = wait_call(&emu, &call_id).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(view["endedStatus"], "completed");
    assert_eq!(view["duration"], 0);
    assert_eq!(view["audioBytes"], 480);
    assert_eq!(view["audioFrames"], 3);
    assert_eq!(view["marks"], json!(["greeting_end", "hangup-1"]));
    assert_eq!(view["marksEchoed"], json!(["greeting_end", "hangup-1"]));
    assert_eq!(view["dtmf"], json!(["5"]));
    assert_eq!(view["callerDtmf"], json!(["1", "#"]));
    assert_eq!(view["transfers"], json!([]));
    assert_eq!(view["hangup"], true);
    assert_eq!(view["endedBy"], "agent");
    assert_eq!(view["accepted"], true);
    assert_eq!(view["telemetry"]["sessionType"], "raw");
    assert_eq!(view["malformedFrames"], json!(["{not json"]));
    assert!(
        view["frames"]
            .as_array()
            .unwrap()
            .contains(&json!({"event": "future.thing", "x": 1}))
    );

    // REST view of the same call, and its two-leg recording.
    let rest = Rest::new(&emu);
    let a = rest
        .call("GET", "/calls/{callId}", &format!("/calls/{call_id}"), None)
        .await;
    assert_eq!(
        (
            a.body["status"].clone(),
            a.body["direction"].clone(),
            a.body["duration"].clone()
        ),
        (json!("completed"), json!("inbound"), json!(0))
    );
    assert_eq!(
        a.body["recordingUrl"],
        format!("/v1/accounts/{}/recordings/{call_id}", emu.account_id())
    );
    let wav = reqwest::Client::new()
        .get(format!(
            "{}{}",
            emu.base_url(),
            a.body["recordingUrl"].as_str().unwrap()
        ))
        .bearer_auth(emu.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(wav.headers()["content-type"], "audio/wav");
    let bytes = wav.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[22..24], &[2, 0], "stereo: caller + agent");
    assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 8000);
    // 800 caller samples (5 frames); the agent's 480 samples start at the caller's clock less
    // one frame (640): 1120 stereo PCM16 frames.
    assert_eq!(
        u32::from_le_bytes(bytes[40..44].try_into().unwrap()),
        1120 * 4
    );
    // Transcript can now be requested once (409 afterwards).
    let a = rest
        .call(
            "POST",
            "/calls/{callId}/transcript",
            &format!("/calls/{call_id}/transcript"),
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (202, json!({"status": "pending", "callId": call_id}))
    );
    let a = rest
        .call(
            "POST",
            "/calls/{callId}/transcript",
            &format!("/calls/{call_id}/transcript"),
            None,
        )
        .await;
    assert_eq!(a.status, 409);
    let a = rest
        .call(
            "GET",
            "/calls/{callId}/transcript",
            &format!("/calls/{call_id}/transcript"),
            None,
        )
        .await;
    assert_eq!(
        (a.body["status"].clone(), a.body["segmentCount"].clone()),
        (json!("completed"), json!(2))
    );
    let a = rest
        .call(
            "GET",
            "/calls/{callId}/summary",
            &format!("/calls/{call_id}/summary"),
            None,
        )
        .await;
    assert_eq!(a.body["status"], "completed");
    let a = rest
        .call(
            "DELETE",
            "/recordings/{callId}",
            &format!("/recordings/{call_id}"),
            None,
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(
        rest.call(
            "GET",
            "/recordings/{callId}",
            &format!("/recordings/{call_id}"),
            None
        )
        .await
        .status,
        404
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn caller_hangs_up_after_audio_then_call_ended_follows_the_media_close() {
    let emu = Emulator::start().await.unwrap();
    let mut agent = connect_agent(&emu, AGENT).await;
    let call_id = inbound(&emu, json!({"from": "010", "to": AGENT, "audio": "speech", "seconds": 1.0, "hangupAfterAudio": true})).await;
    let (_, mut media) = accept_next(&mut agent).await;
    let frames = read_until_stop(&mut media).await;
    let media_frames = frames.iter().filter(|f| f["event"] == "media").count();
    assert_eq!(media_frames, 50);
    let stop = frames.last().unwrap();
    assert_eq!(
        stop,
        &json!({"event": "stop", "sequenceNumber": "52", "stop": {"accountId": emu.account_id(), "callId": call_id}})
    );
    match next_msg(&mut media).await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "call.ended", "callId": call_id, "duration": 1, "status": "completed"})
    );
    let view = wait_call(&emu, &call_id).await;
    assert_eq!(
        (
            view["hangup"].clone(),
            view["endedBy"].clone(),
            view["callerAudioBytes"].clone()
        ),
        (json!(false), json!("caller"), json!(8000))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn media_token_is_one_time_and_never_the_api_key() {
    let emu = Emulator::start().await.unwrap();
    let mut agent = connect_agent(&emu, AGENT).await;
    let call_id = inbound(
        &emu,
        json!({"from": "010", "to": AGENT, "seconds": 0.1, "hangupAfterAudio": true}),
    )
    .await;
    let offer = next_json(&mut agent).await;
    send_json(
        &mut agent,
        json!({"event": "call.accept", "callId": call_id}),
    )
    .await;
    let url = offer["mediaUrl"].as_str().unwrap();
    let wrong = format!(
        "{}/v1/agent/media/{call_id}?token={}",
        emu.base_url().replacen("http", "ws", 1),
        emu.api_key()
    );
    assert!(
        tokio_tungstenite::connect_async(wrong.as_str())
            .await
            .is_err()
    );
    let mut media = connect_media(url).await;
    assert!(
        tokio_tungstenite::connect_async(url).await.is_err(),
        "token reused"
    );
    read_until_stop(&mut media).await;
    assert_eq!(next_json(&mut agent).await["status"], "completed");
    emu.shutdown().await;
}

#[tokio::test]
async fn reject_and_control_socket_auth() {
    let emu = Emulator::start().await.unwrap();
    assert!(try_connect_agent(&emu, "sk_bad", AGENT).await.is_err());
    let mut agent = connect_agent(&emu, AGENT).await;
    let call_id = inbound(&emu, json!({"from": "010", "to": AGENT})).await;
    let offer = next_json(&mut agent).await;
    assert_eq!(offer["callId"], call_id.as_str());
    send_json(
        &mut agent,
        json!({"event": "call.reject", "callId": call_id, "reason": "busy"}),
    )
    .await;
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "call.ended", "callId": call_id, "duration": 0, "status": "busy"})
    );
    let view = wait_call(&emu, &call_id).await;
    assert_eq!(
        (
            view["endedStatus"].clone(),
            view["rejected"].clone(),
            view["accepted"].clone()
        ),
        (json!("busy"), json!("busy"), json!(false))
    );
    let rest = Rest::new(&emu);
    let a = rest
        .call("GET", "/calls/{callId}", &format!("/calls/{call_id}"), None)
        .await;
    assert_eq!(
        (a.body["status"].clone(), a.body["sipResponseCode"].clone()),
        (json!("busy"), json!(486))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn second_agent_replaces_the_first_with_4409_and_releasing_the_number_closes_4403() {
    let emu = Emulator::start().await.unwrap();
    let mut first = connect_agent(&emu, AGENT).await;
    let mut second = connect_agent(&emu, AGENT).await;
    match next_msg(&mut first).await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 4409);
            assert_eq!(frame.reason.as_str(), "replaced");
        }
        other => panic!("expected 4409, got {other:?}"),
    }
    let rest = Rest::new(&emu);
    assert_eq!(
        rest.call(
            "DELETE",
            "/numbers/{number}",
            &format!("/numbers/{AGENT}"),
            None
        )
        .await
        .status,
        204
    );
    match next_msg(&mut second).await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected 4403, got {other:?}"),
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn outbound_agent_mode_answered_and_scripted_failures() {
    let emu = Emulator::start().await.unwrap();
    let rest = Rest::new(&emu);
    let mut agent = connect_agent(&emu, AGENT).await;
    for outcome in ["busy", "no-answer", "rejected", "failed"] {
        let to = format!("0109999{:04}", outcome.len());
        let (s, _) = control(
            &emu,
            "PUT",
            &format!("/destinations/{to}"),
            Some(json!({"outcome": outcome})),
        )
        .await;
        assert_eq!(s, 200);
        let a = rest
            .call(
                "POST",
                "/calls",
                "/calls",
                Some(json!({"To": to, "From": AGENT})),
            )
            .await;
        assert_eq!(a.status, 201);
        let id = a.body["callId"].as_str().unwrap().to_owned();
        assert_eq!(
            next_json(&mut agent).await,
            json!({"event": "call.ringing", "callId": id})
        );
        assert_eq!(
            next_json(&mut agent).await,
            json!({"event": "call.ended", "callId": id, "duration": 0, "status": outcome})
        );
        let a = rest
            .call("GET", "/calls/{callId}", &format!("/calls/{id}"), None)
            .await;
        assert_eq!(a.body["status"], outcome);
    }
    let (s, _) = control(
        &emu,
        "PUT",
        "/destinations/01055556666",
        Some(
            json!({"outcome": "answer", "audio": "tone", "seconds": 0.2, "hangupAfterAudio": true}),
        ),
    )
    .await;
    assert_eq!(s, 200);
    let a = rest
        .call(
            "POST",
            "/calls",
            "/calls",
            Some(json!({"To": "01055556666", "From": AGENT, "Timeout": 30})),
        )
        .await;
    let id = a.body["callId"].as_str().unwrap().to_owned();
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "call.ringing", "callId": id})
    );
    let ready = next_json(&mut agent).await;
    assert_eq!(ready["event"], "call.outbound_ready");
    assert_eq!(ready["callId"], id.as_str());
    let mut media = connect_media(ready["mediaUrl"].as_str().unwrap()).await;
    let frames = read_until_stop(&mut media).await;
    assert_eq!(frames.iter().filter(|f| f["event"] == "media").count(), 10);
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "call.ended", "callId": id, "duration": 0, "status": "completed"})
    );
    let a = rest
        .call("GET", "/calls/{callId}", &format!("/calls/{id}"), None)
        .await;
    assert_eq!(a.body["status"], "completed");
    emu.shutdown().await;
}

#[tokio::test]
async fn rest_hangup_ends_a_live_call() {
    let emu = Emulator::start().await.unwrap();
    let mut agent = connect_agent(&emu, AGENT).await;
    let call_id = inbound(&emu, json!({"from": "010", "to": AGENT, "seconds": 0.1})).await;
    let (_, mut media) = accept_next(&mut agent).await;
    // Caller audio is over but the caller stays on the line until someone hangs up.
    for _ in 0..7 {
        next_json(&mut media).await;
    }
    let rest = Rest::new(&emu);
    let a = rest
        .call(
            "POST",
            "/calls/{callId}",
            &format!("/calls/{call_id}"),
            Some(json!({"Status": "completed"})),
        )
        .await;
    assert_eq!(a.status, 200);
    let frames = read_until_stop(&mut media).await;
    assert_eq!(frames.last().unwrap()["event"], "stop");
    assert_eq!(next_json(&mut agent).await["event"], "call.ended");
    let view = wait_call(&emu, &call_id).await;
    assert_eq!(
        (view["endedBy"].clone(), view["hangup"].clone()),
        (json!("rest"), json!(false))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn realtime_marks_wait_for_playout_and_clear_flushes() {
    let emu = Emulator::start_with(Config::default().with_realtime(true))
        .await
        .unwrap();
    let mut agent = connect_agent(&emu, AGENT).await;
    let call_id = inbound(
        &emu,
        json!({"from": "010", "to": AGENT, "audio": "silence", "seconds": 5.0}),
    )
    .await;
    let (_, mut media) = accept_next(&mut agent).await;
    next_json(&mut media).await; // connected
    next_json(&mut media).await; // start
    // 10 frames (200 ms) of audio, then a mark: the echo comes only after ~10 caller frames.
    for _ in 0..10 {
        send_json(&mut media, audio_frame(0x10)).await;
    }
    send_json(
        &mut media,
        json!({"event": "mark", "mark": {"name": "after-audio"}}),
    )
    .await;
    let mut caller_frames = 0;
    loop {
        let f = next_json(&mut media).await;
        if f["event"] == "mark" {
            assert_eq!(f["mark"]["name"], "after-audio");
            break;
        }
        caller_frames += 1;
    }
    assert!(
        caller_frames >= 9,
        "mark echoed after only {caller_frames} frames of playout"
    );
    // 100 frames (2 s) queued, a mark, then clear: the mark is echoed at once.
    for _ in 0..100 {
        send_json(&mut media, audio_frame(0x20)).await;
    }
    send_json(
        &mut media,
        json!({"event": "mark", "mark": {"name": "pending"}}),
    )
    .await;
    send_json(&mut media, json!({"event": "clear"})).await;
    let mut caller_frames = 0;
    loop {
        let f = next_json(&mut media).await;
        if f["event"] == "mark" {
            assert_eq!(f["mark"]["name"], "pending");
            break;
        }
        caller_frames += 1;
    }
    // Without clear the echo would need 100 ticks; leave room for a loaded machine.
    assert!(
        caller_frames < 50,
        "clear did not flush: {caller_frames} frames before the echo"
    );
    media.close(None).await.unwrap();
    let view = wait_call(&emu, &call_id).await;
    assert_eq!(
        (view["clears"].clone(), view["audioFrames"].clone()),
        (json!(1), json!(110))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_live_calls_and_closes_agents_with_1001() {
    let emu = Emulator::start().await.unwrap();
    let mut agent = connect_agent(&emu, AGENT).await;
    let call_id = inbound(&emu, json!({"from": "010", "to": AGENT, "seconds": 0.1})).await;
    let (id, mut media) = accept_next(&mut agent).await;
    assert_eq!(id, call_id);
    next_json(&mut media).await; // connected
    assert_eq!(emu.live_calls(), 1);
    tokio::time::timeout(std::time::Duration::from_secs(10), emu.shutdown())
        .await
        .expect("shutdown completes with a live call");
    match next_msg(&mut agent).await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected 1001, got {other:?}"),
    }
    // The media socket is gone too.
    loop {
        match next_msg(&mut media).await {
            Some(Message::Text(_)) => {}
            Some(Message::Close(_)) | None => break,
            Some(other) => panic!("{other:?}"),
        }
    }
}
