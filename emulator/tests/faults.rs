//! Transfers, status callbacks and every fault mode of the control API, over raw sockets.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clawops_emulator::Emulator;
use common::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const AGENT: &str = "07012340001";
const RID: &str = "5f0c9d2e7b6a4c1e9f3a2b1c0d9e8f7a";

fn transfer(call_id: &str, to: &str, after: &str, rid: &str) -> Value {
    json!({"event": "call.transfer", "callId": call_id, "transfer": {
        "to": to, "destinationType": "pstn", "mode": "blind", "afterTransfer": after,
        "holdMedia": "ringback", "whisper": null, "context": null, "callerId": null,
        "timeout": 30, "requestId": rid}})
}

/// Places an inbound call that stays up, answers it and skips `connected` + `start`.
async fn live_call(emu: &Emulator, agent: &mut Ws) -> (String, Ws) {
    let call_id = inbound(
        emu,
        json!({"from": "01062915351", "to": AGENT, "audio": "silence", "seconds": 0.02}),
    )
    .await;
    let (id, mut media) = accept_next(agent).await;
    assert_eq!(id, call_id);
    for _ in 0..3 {
        next_json(&mut media).await; // connected, start, one media frame
    }
    (call_id, media)
}

#[tokio::test]
async fn blind_transfer_reports_progress_and_result_echoing_request_id_then_ends() {
    let emu = Emulator::start().await.unwrap();
    let mut agent = connect_agent(&emu, AGENT).await;
    let (call_id, mut media) = live_call(&emu, &mut agent).await;
    send_json(
        &mut agent,
        transfer(&call_id, "01012345678", "terminate", RID),
    )
    .await;
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "call.transfer.started", "callId": call_id, "requestId": RID, "transfer": {"status": "started"}})
    );
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "call.transfer.connected", "callId": call_id, "requestId": RID})
    );
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "call.transfer.completed", "callId": call_id, "requestId": RID, "transfer": {"duration": 5, "status": "completed"}})
    );
    // afterTransfer=terminate: the AI leg ends (stop), then call.ended.
    assert_eq!(
        read_until_stop(&mut media).await.last().unwrap()["event"],
        "stop"
    );
    assert_eq!(next_json(&mut agent).await["event"], "call.ended");
    let view = wait_call(&emu, &call_id).await;
    assert_eq!(view["transfers"][0]["requestId"], RID);
    assert_eq!(view["transfers"][0]["to"], "01012345678");
    assert_eq!(view["endedBy"], "transfer");
    emu.shutdown().await;
}

#[tokio::test]
async fn failed_transfer_keeps_the_call_and_return_mode_transfers_twice() {
    let emu = Emulator::start().await.unwrap();
    control(
        &emu,
        "PUT",
        "/destinations/01000000000",
        Some(json!({"outcome": "busy"})),
    )
    .await;
    let mut agent = connect_agent(&emu, AGENT).await;
    let (call_id, mut media) = live_call(&emu, &mut agent).await;
    send_json(
        &mut agent,
        transfer(&call_id, "01000000000", "terminate", "r1"),
    )
    .await;
    assert_eq!(
        next_json(&mut agent).await["event"],
        "call.transfer.started"
    );
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "call.transfer.failed", "callId": call_id, "requestId": "r1", "transfer": {"reason": "busy", "status": "failed"}})
    );
    send_json(
        &mut agent,
        transfer(&call_id, "01012345678", "return", "r2"),
    )
    .await;
    assert_eq!(next_json(&mut agent).await["requestId"], "r2");
    assert_eq!(
        next_json(&mut agent).await["event"],
        "call.transfer.connected"
    );
    assert_eq!(
        next_json(&mut agent).await["event"],
        "call.transfer.completed"
    );
    // Still up: the media socket answers a mark.
    send_json(
        &mut media,
        json!({"event": "mark", "mark": {"name": "still-here"}}),
    )
    .await;
    assert_eq!(next_json(&mut media).await["mark"]["name"], "still-here");
    media.close(None).await.unwrap();
    assert_eq!(next_json(&mut agent).await["event"], "call.ended");
    assert_eq!(
        wait_call(&emu, &call_id).await["transfers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn transfer_results_can_be_delayed_duplicated_and_reordered() {
    let emu = Emulator::start().await.unwrap();
    let (s, _) = control(
        &emu,
        "PUT",
        "/faults",
        Some(json!({"transferDelayMs": 150, "transferDuplicate": true, "transferReorder": true})),
    )
    .await;
    assert_eq!(s, 200);
    let mut agent = connect_agent(&emu, AGENT).await;
    let (call_id, _media) = live_call(&emu, &mut agent).await;
    let sent = Instant::now();
    send_json(&mut agent, transfer(&call_id, "01012345678", "return", RID)).await;
    let first = next_json(&mut agent).await;
    assert!(
        sent.elapsed() >= Duration::from_millis(150),
        "result not delayed"
    );
    let events: Vec<Value> = vec![
        first,
        next_json(&mut agent).await,
        next_json(&mut agent).await,
        next_json(&mut agent).await,
    ];
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "call.transfer.completed",
            "call.transfer.completed",
            "call.transfer.started",
            "call.transfer.connected"
        ]
    );
    assert!(events.iter().all(|e| e["requestId"] == RID));
    emu.shutdown().await;
}

#[tokio::test]
async fn call_ended_can_be_delayed_duplicated_and_overtake_the_transfer_result() {
    let emu = Emulator::start().await.unwrap();
    control(
        &emu,
        "PUT",
        "/faults",
        Some(
            json!({"endedDelayMs": 200, "endedDuplicate": true, "endedBeforeTransferResult": true}),
        ),
    )
    .await;
    let mut agent = connect_agent(&emu, AGENT).await;
    let (call_id, mut media) = live_call(&emu, &mut agent).await;
    send_json(
        &mut agent,
        transfer(&call_id, "01012345678", "terminate", RID),
    )
    .await;
    assert_eq!(
        next_json(&mut agent).await["event"],
        "call.transfer.started"
    );
    assert_eq!(
        next_json(&mut agent).await["event"],
        "call.transfer.connected"
    );
    read_until_stop(&mut media).await;
    let closed = Instant::now();
    let ended = next_json(&mut agent).await;
    assert!(
        closed.elapsed() >= Duration::from_millis(150),
        "call.ended not delayed"
    );
    assert_eq!(ended["event"], "call.ended");
    assert_eq!(next_json(&mut agent).await, ended, "duplicate call.ended");
    assert_eq!(
        next_json(&mut agent).await["event"],
        "call.transfer.completed",
        "result after call.ended"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn rest_429_with_retry_after_and_5xx_for_the_next_n_requests() {
    let emu = Emulator::start().await.unwrap();
    let rest = Rest::new(&emu);
    control(
        &emu,
        "PUT",
        "/faults",
        Some(json!({"restErrorStatus": 429, "restErrorCount": 2, "retryAfter": 7})),
    )
    .await;
    for _ in 0..2 {
        let a = rest.call("GET", "/numbers", "/numbers", None).await;
        assert_eq!(a.status, 429);
        assert_eq!(a.headers["retry-after"], "7");
        assert_eq!(a.body["error"], "injected fault: HTTP 429");
    }
    assert_eq!(
        rest.call("GET", "/numbers", "/numbers", None).await.status,
        200
    );
    control(
        &emu,
        "PUT",
        "/faults",
        Some(json!({"restErrorStatus": 503, "restErrorCount": 1})),
    )
    .await;
    let a = rest
        .call(
            "POST",
            "/calls",
            "/calls",
            Some(json!({"To": "010", "From": AGENT, "Url": "https://x"})),
        )
        .await;
    assert_eq!(a.status, 503);
    assert!(a.headers.get("retry-after").is_none());
    assert_eq!(
        rest.call("GET", "/calls", "/calls", None).await.body["meta"]["total"],
        0,
        "faulted POST created nothing"
    );
    let (s, f) = control(&emu, "GET", "/faults", None).await;
    assert_eq!((s, f["restErrorCount"].clone()), (200, json!(0)));
    emu.shutdown().await;
}

#[tokio::test]
async fn control_socket_drop_refused_reconnects_and_injected_frames() {
    let emu = Emulator::start().await.unwrap();
    let mut agent = connect_agent(&emu, AGENT).await;
    // Raw frames, verbatim: malformed JSON, an unknown event.
    for text in [
        "{\"event\":\"call.incoming\",",
        "{\"event\":\"agent.future\",\"x\":1}",
    ] {
        let (s, _) = control(
            &emu,
            "POST",
            &format!("/agents/{AGENT}/send"),
            Some(json!({"text": text})),
        )
        .await;
        assert_eq!(s, 204);
        match next_msg(&mut agent).await {
            Some(Message::Text(t)) => assert_eq!(t.as_str(), text),
            other => panic!("{other:?}"),
        }
    }
    let (s, _) = control(&emu, "POST", &format!("/agents/{AGENT}/retire"), None).await;
    assert_eq!(s, 204);
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "agent.retired", "number": AGENT, "reason": "replaced"})
    );
    control(&emu, "POST", &format!("/agents/{AGENT}/activate"), None).await;
    assert_eq!(
        next_json(&mut agent).await,
        json!({"event": "agent.active"})
    );
    // Drop: the TCP connection ends without a close frame.
    control(
        &emu,
        "PUT",
        "/faults",
        Some(json!({"refuseControlSeconds": 30})),
    )
    .await;
    let (s, _) = control(&emu, "POST", &format!("/agents/{AGENT}/drop"), None).await;
    assert_eq!(s, 204);
    match next_msg(&mut agent).await {
        None => {}
        Some(Message::Close(frame)) => panic!("expected an abrupt drop, got close {frame:?}"),
        other => panic!("{other:?}"),
    }
    match try_connect_agent(&emu, emu.api_key(), AGENT).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("reconnect should be refused, got {:?}", other.map(|_| ())),
    }
    let (s, _) = control(&emu, "DELETE", "/faults", None).await;
    assert_eq!(s, 204);
    let mut agent = connect_agent(&emu, AGENT).await;
    control(
        &emu,
        "POST",
        &format!("/agents/{AGENT}/close"),
        Some(json!({"code": 1001, "reason": "draining"})),
    )
    .await;
    match next_msg(&mut agent).await {
        Some(Message::Close(Some(frame))) => assert_eq!(
            (u16::from(frame.code), frame.reason.as_str()),
            (1001, "draining")
        ),
        other => panic!("{other:?}"),
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn status_callbacks_are_signed_form_posts() {
    // A loopback receiver that records every callback.
    type Seen = Arc<Mutex<Vec<(String, String, Vec<(String, String)>)>>>;
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    let app = axum::Router::new().route(
        "/status",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen2.clone();
            async move {
                let params: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
                let ct = headers["content-type"].to_str().unwrap().to_owned();
                let sig = headers["x-signature"].to_str().unwrap().to_owned();
                seen.lock().unwrap().push((ct, sig, params));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/status?tenant=7", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let emu = Emulator::start().await.unwrap();
    let mut agent = connect_agent(&emu, AGENT).await;
    let call_id = inbound(&emu, json!({"from": "010", "to": AGENT, "seconds": 0.04, "hangupAfterAudio": true, "statusCallback": url})).await;
    let (_, mut media) = accept_next(&mut agent).await;
    read_until_stop(&mut media).await;
    wait_call(&emu, &call_id).await;
    for _ in 0..100 {
        if seen.lock().unwrap().len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let events: Vec<String> = seen
        .iter()
        .map(|(_, _, p)| {
            p.iter()
                .find(|(k, _)| k == "StatusCallbackEvent")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    assert_eq!(events, ["initiated", "ringing", "answered", "completed"]);
    for (ct, sig, params) in &seen {
        assert_eq!(ct, "application/x-www-form-urlencoded");
        assert_eq!(
            sig,
            &clawops_emulator::signature(emu.signing_key(), &url, params)
        );
        assert_eq!(params[0], ("CallId".to_owned(), call_id.clone()));
    }
    let last = &seen[3].2;
    assert!(last.contains(&("CallStatus".to_owned(), "completed".to_owned())));
    assert!(last.contains(&("Duration".to_owned(), "0".to_owned())));
    emu.shutdown().await;
    server.abort();
}
