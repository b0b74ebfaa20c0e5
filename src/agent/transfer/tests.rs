use std::time::Duration;

use clawops_api::events::{ControlCommand, ControlEvent, TransferResultStatus};

use super::*;

fn completed(call: &str, request_id: Option<&str>) -> ControlEvent {
    let rid = request_id
        .map(|r| format!(r#","requestId":"{r}""#))
        .unwrap_or_default();
    ControlEvent::from_json(&format!(
        r#"{{"event":"call.transfer.completed","callId":"{call}"{rid},"transfer":{{"status":"completed","duration":61}}}}"#
    ))
    .unwrap()
}

fn failed(call: &str, request_id: Option<&str>) -> ControlEvent {
    let rid = request_id
        .map(|r| format!(r#","requestId":"{r}""#))
        .unwrap_or_default();
    ControlEvent::from_json(&format!(
        r#"{{"event":"call.transfer.failed","callId":"{call}"{rid},"transfer":{{"status":"failed","reason":"no-answer"}}}}"#
    ))
    .unwrap()
}

#[test]
fn default_command_wire_frame() {
    let cmd = TransferOptions::new("01012345678")
        .to_command("CA1", "5f0c9d2e7b6a4c1e9f3a2b1c0d9e8f7a")
        .unwrap();
    assert_eq!(
        ControlCommand::from(cmd).to_json().unwrap(),
        r#"{"event":"call.transfer","callId":"CA1","transfer":{"afterTransfer":"terminate","destinationType":"pstn","holdMedia":"ringback","mode":"blind","requestId":"5f0c9d2e7b6a4c1e9f3a2b1c0d9e8f7a","timeout":30,"to":"01012345678"}}"#
    );
}

#[test]
fn every_option_reaches_the_wire() {
    let mut ctx = serde_json::Map::new();
    ctx.insert("customerId".into(), "C-1042".into());
    let cmd = TransferOptions::new("sip:agent@pbx.example.com")
        .sip()
        .warm("VIP")
        .return_after()
        .hold_media(TransferRequestHoldMedia::Moh)
        .context(ctx)
        .caller_id("0212345678")
        .caller_id_mode("original")
        .timeout_secs(45)
        .failure_message("연결되지 않았습니다")
        .failure_voice("cartesia:v1")
        .to_command("CA9", "00000000000000000000000000000001")
        .unwrap();
    assert_eq!(
        ControlCommand::from(cmd).to_json().unwrap(),
        r#"{"event":"call.transfer","callId":"CA9","transfer":{"afterTransfer":"return","callerId":"0212345678","callerIdMode":"original","context":{"customerId":"C-1042"},"destinationType":"sip","failureMessage":"연결되지 않았습니다","failureVoice":"cartesia:v1","holdMedia":"moh","mode":"warm","requestId":"00000000000000000000000000000001","timeout":45,"to":"sip:agent@pbx.example.com","whisper":"VIP"}}"#
    );
}

#[test]
fn empty_failure_message_is_omitted() {
    let cmd = TransferOptions::new("010")
        .failure_message("")
        .failure_voice("")
        .caller_id_mode("account")
        .to_command("CA1", "r")
        .unwrap();
    let json = ControlCommand::from(cmd).to_json().unwrap();
    assert!(!json.contains("failureMessage"), "{json}");
    assert!(!json.contains("failureVoice"), "{json}");
    assert!(json.contains(r#""callerIdMode":"account""#), "{json}");
}

#[test]
fn incident_26_bad_caller_id_mode_rejected_before_sending() {
    let registry = TransferRegistry::new();
    let err = registry
        .prepare(
            "CA1",
            &TransferOptions::new("010").caller_id_mode("orignal"),
        )
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::InvalidArgument { field: "caller_id_mode", message } if message == "must be 'account' or 'original', got 'orignal'"),
        "{err}"
    );
    assert_eq!(registry.pending_count(), 0);
    assert!(matches!(
        TransferOptions::new(" ").validate(),
        Err(AgentError::InvalidArgument { field: "to", .. })
    ));
    assert!(matches!(
        TransferOptions::new("010").timeout_secs(0).validate(),
        Err(AgentError::InvalidArgument {
            field: "timeout",
            ..
        })
    ));
}

#[test]
fn request_ids_are_fresh_lowercase_hex() {
    let registry = TransferRegistry::new();
    let a = registry.register("CA1").unwrap();
    let b = registry.register("CA1").unwrap();
    assert_ne!(a.request_id(), b.request_id());
    for id in [a.request_id(), b.request_id()] {
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
    }
}

#[tokio::test]
async fn resolves_by_request_id_with_unchanged_result() {
    let registry = TransferRegistry::new();
    let (cmd, waiter) = registry
        .prepare("CA1", &TransferOptions::new("010"))
        .unwrap();
    let rid = cmd.transfer.request_id.clone();
    assert_eq!(rid, waiter.request_id());
    assert_eq!(
        registry.on_event(&completed("CA1", Some(&rid))),
        Resolution::Resolved {
            request_id: rid.clone()
        }
    );
    let outcome = waiter.wait().await.unwrap();
    assert_eq!(outcome.kind, TransferResultKind::Completed);
    assert_eq!(outcome.result.status, Some(TransferResultStatus::Completed));
    assert_eq!(outcome.result.duration, Some(61));
    assert_eq!(registry.pending_count(), 0);
}

#[tokio::test]
async fn failed_transfer_is_a_normal_result() {
    let registry = TransferRegistry::new();
    let waiter = registry.register("CA1").unwrap();
    let rid = waiter.request_id().to_owned();
    registry.on_event(&failed("CA1", Some(&rid)));
    let outcome = waiter.wait().await.unwrap();
    assert_eq!(outcome.kind, TransferResultKind::Failed);
    assert_eq!(
        outcome.result.reason.as_ref().map(|r| r.as_str()),
        Some("no-answer")
    );
}

#[tokio::test]
async fn missing_transfer_object_is_empty_result() {
    let registry = TransferRegistry::new();
    let waiter = registry.register("CA1").unwrap();
    let ev = ControlEvent::from_json(&format!(
        r#"{{"event":"call.transfer.completed","callId":"CA1","requestId":"{}"}}"#,
        waiter.request_id()
    ))
    .unwrap();
    registry.on_event(&ev);
    let outcome = waiter.wait().await.unwrap();
    assert_eq!(outcome.result, empty_result());
}

#[tokio::test]
async fn incident_17_two_transfers_on_one_call_resolve_independently_in_any_order() {
    let registry = TransferRegistry::new();
    let first = registry.register("CA1").unwrap();
    let second = registry.register("CA1").unwrap();
    let (r1, r2) = (
        first.request_id().to_owned(),
        second.request_id().to_owned(),
    );
    // Reordered: the second request's result arrives first.
    registry.on_event(&failed("CA1", Some(&r2)));
    registry.on_event(&completed("CA1", Some(&r1)));
    assert_eq!(
        second.wait().await.unwrap().kind,
        TransferResultKind::Failed
    );
    assert_eq!(
        first.wait().await.unwrap().kind,
        TransferResultKind::Completed
    );
    assert_eq!(registry.pending_count(), 0);
}

#[tokio::test]
async fn call_id_fallback_only_with_exactly_one_pending() {
    let registry = TransferRegistry::new();
    let only = registry.register("CA1").unwrap();
    let other_call = registry.register("CA2").unwrap();
    let rid = only.request_id().to_owned();
    assert_eq!(
        registry.on_event(&completed("CA1", None)),
        Resolution::ResolvedByCallId { request_id: rid }
    );
    assert!(only.wait().await.is_ok());
    assert_eq!(registry.pending_for_call("CA2"), 1);

    let a = registry.register("CA3").unwrap();
    let b = registry.register("CA3").unwrap();
    assert_eq!(
        registry.on_event(&completed("CA3", None)),
        Resolution::Ambiguous { pending: 2 }
    );
    assert_eq!(registry.pending_for_call("CA3"), 2);
    // An empty requestId counts as missing.
    assert_eq!(
        registry.on_event(&completed("CA4", Some(""))),
        Resolution::Unmatched
    );
    drop((a, b, other_call));
    assert_eq!(registry.pending_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn unknown_request_id_never_wakes_another_request() {
    let registry = TransferRegistry::new();
    let waiter = registry.register("CA1").unwrap();
    assert_eq!(
        registry.on_event(&completed("CA1", Some("ffffffffffffffffffffffffffffffff"))),
        Resolution::Unmatched
    );
    assert_eq!(registry.pending_for_call("CA1"), 1);
    let rid = waiter.request_id().to_owned();
    let task = tokio::spawn(waiter.wait());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!task.is_finished());
    registry.on_event(&completed("CA1", Some(&rid)));
    assert!(task.await.unwrap().is_ok());
}

#[tokio::test]
async fn duplicate_and_progress_events_are_harmless() {
    let registry = TransferRegistry::new();
    let waiter = registry.register("CA1").unwrap();
    let rid = waiter.request_id().to_owned();
    let started = ControlEvent::from_json(&format!(
        r#"{{"event":"call.transfer.started","callId":"CA1","requestId":"{rid}","transfer":{{"status":"started"}}}}"#
    ))
    .unwrap();
    let connected = ControlEvent::from_json(&format!(
        r#"{{"event":"call.transfer.connected","callId":"CA1","requestId":"{rid}"}}"#
    ))
    .unwrap();
    assert_eq!(registry.on_event(&started), Resolution::Progress);
    assert_eq!(registry.on_event(&connected), Resolution::Progress);
    assert_eq!(registry.pending_count(), 1);
    assert!(matches!(
        registry.on_event(&completed("CA1", Some(&rid))),
        Resolution::Resolved { .. }
    ));
    assert_eq!(
        registry.on_event(&completed("CA1", Some(&rid))),
        Resolution::Unmatched
    );
    assert_eq!(
        registry.on_event(&failed("CA1", None)),
        Resolution::Unmatched
    );
    assert!(waiter.wait().await.is_ok());
    let ended =
        ControlEvent::from_json(r#"{"event":"call.ended","callId":"CA1","status":"completed"}"#)
            .unwrap();
    assert_eq!(registry.on_event(&ended), Resolution::NotTransfer);
}

#[tokio::test(start_paused = true)]
async fn incident_16_result_for_a_finished_waiter_is_absorbed() {
    let registry = TransferRegistry::with_limits(Duration::from_secs(2), Duration::from_secs(10));
    let waiter = registry.register("CA1").unwrap();
    let rid = waiter.request_id().to_owned();
    let err = waiter.wait().await.unwrap_err();
    assert!(matches!(
        err,
        AgentError::TransferTimedOut {
            waited_secs: 10,
            ..
        }
    ));
    assert_eq!(registry.pending_count(), 0);
    // The late result after the backstop: no panic, nothing resolved.
    assert_eq!(
        registry.on_event(&completed("CA1", Some(&rid))),
        Resolution::Unmatched
    );
}

#[tokio::test(start_paused = true)]
async fn incident_16_long_bridge_is_not_cut_by_the_ring_timeout() {
    let registry = TransferRegistry::new();
    let waiter = registry.register("CA1").unwrap();
    let rid = waiter.request_id().to_owned();
    let task = tokio::spawn(waiter.wait());
    // 30 s ring time + a 57 s bridge: the old `timeout + 10` wait would have cancelled here.
    tokio::time::sleep(Duration::from_secs(87)).await;
    assert!(!task.is_finished());
    registry.on_event(&completed("CA1", Some(&rid)));
    assert_eq!(
        task.await.unwrap().unwrap().kind,
        TransferResultKind::Completed
    );
}

#[tokio::test(start_paused = true)]
async fn incident_18_result_within_grace_after_call_ended_still_resolves() {
    let registry = TransferRegistry::new();
    let waiter = registry.register("CA1").unwrap();
    let rid = waiter.request_id().to_owned();
    let task = tokio::spawn(waiter.wait());
    registry.on_call_ended("CA1");
    tokio::time::sleep(Duration::from_millis(1_900)).await;
    assert!(!task.is_finished());
    registry.on_event(&completed("CA1", Some(&rid)));
    assert!(task.await.unwrap().is_ok());
}

#[tokio::test(start_paused = true)]
async fn incident_18_call_ended_releases_waiters_after_grace_and_leaks_nothing() {
    let registry = TransferRegistry::new();
    let a = registry.register("CA1").unwrap();
    let b = registry.register("CA1").unwrap();
    let other = registry.register("CA2").unwrap();
    let rid_a = a.request_id().to_owned();
    let start = tokio::time::Instant::now();
    let ta = tokio::spawn(a.wait());
    let tb = tokio::spawn(b.wait());
    let tother = tokio::spawn(other.wait());
    tokio::task::yield_now().await;
    registry.on_call_ended("CA1");
    let ra = ta.await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(matches!(ra, Err(AgentError::TransferCancelled { request_id }) if request_id == rid_a));
    assert!(matches!(
        tb.await.unwrap(),
        Err(AgentError::TransferCancelled { .. })
    ));
    assert_eq!(registry.pending_for_call("CA1"), 0);
    // The other call is untouched.
    assert_eq!(registry.pending_for_call("CA2"), 1);
    assert!(!tother.is_finished());
    // A result arriving after the grace is harmless.
    assert_eq!(
        registry.on_event(&completed("CA1", Some(&rid_a))),
        Resolution::Unmatched
    );
    registry.close("test over");
    assert!(matches!(
        tother.await.unwrap(),
        Err(AgentError::ConnectionClosed(_))
    ));
    assert_eq!(registry.pending_count(), 0);
}

#[tokio::test]
async fn dropped_waiter_removes_its_entry() {
    let registry = TransferRegistry::new();
    let waiter = registry.register("CA1").unwrap();
    assert_eq!(registry.pending_count(), 1);
    drop(waiter);
    assert_eq!(registry.pending_count(), 0);
    // A dropped waiter's result (send failure path) is absorbed.
    assert_eq!(
        registry.on_event(&completed("CA1", None)),
        Resolution::Unmatched
    );
}

#[tokio::test]
async fn close_refuses_new_requests() {
    let registry = TransferRegistry::new();
    let waiter = registry.register("CA1").unwrap();
    registry.close("taken over");
    assert!(matches!(
        waiter.wait().await,
        Err(AgentError::ConnectionClosed(reason)) if reason == "taken over"
    ));
    assert!(matches!(
        registry.register("CA1"),
        Err(AgentError::ConnectionClosed(_))
    ));
}

#[tokio::test]
async fn many_transfers_per_call() {
    let registry = TransferRegistry::new();
    for i in 0..8 {
        let waiter = registry.register("CA1").unwrap();
        let rid = waiter.request_id().to_owned();
        let ev = if i % 2 == 0 {
            completed("CA1", Some(&rid))
        } else {
            failed("CA1", None)
        };
        assert!(matches!(
            registry.on_event(&ev),
            Resolution::Resolved { .. } | Resolution::ResolvedByCallId { .. }
        ));
        waiter.wait().await.unwrap();
    }
    assert_eq!(registry.pending_count(), 0);
}
