use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::{Instant, sleep};

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A call's router with its debounce timer running, plus the delivery receiver.
fn call(settings: DtmfSettings) -> (Arc<CallDtmf>, DtmfDeliveries, tokio::task::JoinHandle<()>) {
    let (dtmf, deliveries) = CallDtmf::new("CA1", settings);
    let timer = {
        let dtmf = Arc::clone(&dtmf);
        tokio::spawn(async move { dtmf.run_debounce().await })
    };
    (dtmf, deliveries, timer)
}

async fn next(deliveries: &mut DtmfDeliveries) -> (String, Instant) {
    let v = deliveries.recv().await.expect("delivery");
    (v.into_string(), Instant::now())
}

#[test]
fn settings_validation() {
    assert!(DtmfSettings::new(ms(0), Some('#'), Some(1)).is_ok());
    assert!(DtmfSettings::new(ms(0), Some('*'), None).is_ok());
    assert!(DtmfSettings::new(ms(0), None, None).is_ok());
    assert!(matches!(
        DtmfSettings::new(ms(0), Some('A'), None),
        Err(AgentError::InvalidArgument {
            field: "passive_dtmf_finish_key",
            ..
        })
    ));
    assert!(matches!(
        DtmfSettings::new(ms(0), None, Some(0)),
        Err(AgentError::InvalidArgument {
            field: "passive_dtmf_max_digits",
            ..
        })
    ));
}

#[test]
fn passive_buffer_rules() {
    let t = Instant::now();
    let mut b = PassiveBuffer::new(DtmfSettings::default());
    // Lone finish key is delivered as itself.
    assert_eq!(b.push("#", t).unwrap().as_str(), "#");
    // Debounce re-arms on every key.
    assert!(b.push("1", t).is_none());
    assert_eq!(b.deadline(), Some(t + ms(2000)));
    assert!(b.push("2", t + ms(1500)).is_none());
    assert_eq!(b.deadline(), Some(t + ms(3500)));
    assert!(b.poll_expired(t + ms(3499)).is_none());
    assert_eq!(b.poll_expired(t + ms(3500)).unwrap().as_str(), "12");
    assert_eq!(b.deadline(), None);
    assert!(b.poll_expired(t + ms(9000)).is_none());
    // Empty digits are ignored.
    assert!(b.push("", t).is_none());
    assert_eq!(b.buffered(), 0);

    let mut b = PassiveBuffer::new(DtmfSettings::new(ms(2000), None, Some(3)).unwrap());
    assert!(b.push("1", t).is_none());
    assert!(b.push("#", t).is_none());
    assert_eq!(b.push("2", t).unwrap().as_str(), "1#2");
    assert!(b.push("3", t).is_none());
    assert_eq!(b.buffered(), 1);
    b.clear();
    assert_eq!(b.deadline(), None);
}

#[test]
fn incident_29_digits_never_in_debug() {
    let t = Instant::now();
    let mut b = PassiveBuffer::new(DtmfSettings::default());
    b.push("9", t);
    b.push("7", t);
    let dbg = format!("{b:?}");
    assert!(!dbg.contains('9') && !dbg.contains('7'), "{dbg}");
    let v = DtmfInput::new("4111111111111111");
    assert_eq!(format!("{v:?}"), "DtmfInput(<16 digits>)");
    let seq: DtmfSequence = "98w7".parse().unwrap();
    assert_eq!(format!("{seq:?}"), "DtmfSequence(<4 steps>)");
    let steps = format!("{:?}", seq.steps());
    assert!(!steps.contains('9') && !steps.contains('8'), "{steps}");
    let err = "47x8".parse::<DtmfSequence>().unwrap_err().to_string();
    assert!(!err.contains("47") && !err.contains('8'), "{err}");
}

#[tokio::test(start_paused = true)]
async fn incident_45_keys_spaced_under_two_seconds_are_one_value() {
    let (dtmf, mut out, _timer) = call(DtmfSettings::default());
    let start = Instant::now();
    for (d, gap) in [("5", 0), ("3", 940), ("4", 330)] {
        sleep(ms(gap)).await;
        assert_eq!(dtmf.on_digit(d), DigitRoute::Passive);
    }
    let (v, at) = next(&mut out).await;
    assert_eq!(v, "534");
    assert_eq!(at - start, ms(940 + 330 + 2000));
}

#[tokio::test(start_paused = true)]
async fn incident_46_finish_key_confirms_immediately_and_is_excluded() {
    let (dtmf, mut out, _timer) = call(DtmfSettings::default());
    let start = Instant::now();
    dtmf.on_digit("1");
    dtmf.on_digit("2");
    dtmf.on_digit("#");
    let (v, at) = next(&mut out).await;
    assert_eq!(v, "12");
    assert_eq!(at, start);
    // `1#2#` gives two separate deliveries.
    dtmf.on_digit("1");
    dtmf.on_digit("#");
    dtmf.on_digit("2");
    dtmf.on_digit("#");
    assert_eq!(next(&mut out).await.0, "1");
    assert_eq!(next(&mut out).await.0, "2");
    // A lone finish key is delivered as itself.
    dtmf.on_digit("#");
    assert_eq!(next(&mut out).await.0, "#");
    // Nothing else is pending: the debounce did not fire a second time.
    sleep(ms(5000)).await;
    assert!(
        tokio::time::timeout(ms(1), out.recv()).await.is_err(),
        "unexpected delivery"
    );
}

#[tokio::test(start_paused = true)]
async fn max_digits_confirms_and_extra_keys_start_the_next_value() {
    let (dtmf, mut out, _timer) = call(DtmfSettings::new(ms(2000), Some('#'), Some(2)).unwrap());
    for d in ["1", "2", "3"] {
        dtmf.on_digit(d);
    }
    let start = Instant::now();
    assert_eq!(next(&mut out).await, ("12".into(), start));
    let (v, at) = next(&mut out).await;
    assert_eq!(v, "3");
    assert_eq!(at - start, ms(2000));
}

#[tokio::test(start_paused = true)]
async fn finish_key_disabled_keeps_hash_in_value() {
    let (dtmf, mut out, _timer) = call(DtmfSettings::new(ms(500), None, None).unwrap());
    dtmf.on_digit("1");
    dtmf.on_digit("#");
    assert_eq!(next(&mut out).await.0, "1#");
}

#[tokio::test(start_paused = true)]
async fn incident_19_calls_are_isolated() {
    let (a, mut out_a, _ta) = call(DtmfSettings::default());
    let (b, mut out_b, _tb) = call(DtmfSettings::default());
    a.on_digit("1");
    b.on_digit("9");
    a.on_digit("2");
    b.on_digit("8");
    assert_eq!(next(&mut out_a).await.0, "12");
    assert_eq!(next(&mut out_b).await.0, "98");
}

#[tokio::test(start_paused = true)]
async fn incident_20_slow_injection_is_never_cut_and_deliveries_are_serialised() {
    let (dtmf, mut out, _timer) = call(DtmfSettings::new(ms(100), Some('#'), None).unwrap());
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    // The connection layer's delivery task: one injection at a time, each taking 1 s.
    let consumer = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            while let Some(v) = out.recv().await {
                log.lock().unwrap().push(format!("start {}", v.as_str()));
                sleep(ms(1000)).await;
                log.lock().unwrap().push(format!("end {}", v.as_str()));
            }
        })
    };
    dtmf.on_digit("1");
    sleep(ms(150)).await; // "1" is being injected
    dtmf.on_digit("2"); // a new key must not cancel it
    sleep(ms(3000)).await;
    assert_eq!(
        *log.lock().unwrap(),
        vec!["start 1", "end 1", "start 2", "end 2"]
    );
    dtmf.end();
    consumer.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn incident_21_ending_the_call_invalidates_pending_keys() {
    let (dtmf, mut out, timer) = call(DtmfSettings::default());
    dtmf.on_digit("1");
    sleep(ms(500)).await;
    dtmf.end();
    assert_eq!(dtmf.on_digit("2"), DigitRoute::Ended);
    // The timer task exits; nothing is delivered.
    timer.await.unwrap();
    assert!(out.recv().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn deliveries_queued_before_end_are_skipped() {
    let (dtmf, mut out, _timer) = call(DtmfSettings::default());
    dtmf.on_digit("1");
    dtmf.on_digit("#");
    dtmf.end();
    assert!(out.recv().await.is_none());
}

// ---- collect_dtmf ----

#[tokio::test(start_paused = true)]
async fn collect_stops_at_max_digits_and_finish_key() {
    let (dtmf, _out, _timer) = call(DtmfSettings::default());
    let d2 = Arc::clone(&dtmf);
    let task = tokio::spawn(async move {
        d2.collect(&CollectOptions::new(3), std::future::ready(true))
            .await
    });
    tokio::task::yield_now().await;
    for d in ["1", "2", "3", "4"] {
        assert_eq!(
            dtmf.on_digit(d),
            if d == "4" {
                DigitRoute::Passive
            } else {
                DigitRoute::Collector
            }
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(task.await.unwrap().unwrap().as_str(), "123");
    assert!(!dtmf.is_collecting());

    let d2 = Arc::clone(&dtmf);
    let task = tokio::spawn(async move {
        d2.collect(&CollectOptions::new(6), std::future::ready(true))
            .await
    });
    tokio::task::yield_now().await;
    for d in ["7", "#", "8"] {
        dtmf.on_digit(d);
        tokio::task::yield_now().await;
    }
    assert_eq!(task.await.unwrap().unwrap().as_str(), "7");
}

#[tokio::test(start_paused = true)]
async fn incident_47_collector_takes_only_keys_after_it_opens_and_flushes_passive() {
    let (dtmf, mut out, _timer) = call(DtmfSettings::default());
    dtmf.on_digit("1"); // passive, waiting for its debounce
    sleep(ms(300)).await;
    let d2 = Arc::clone(&dtmf);
    let opened = Instant::now();
    let task = tokio::spawn(async move {
        d2.collect(&CollectOptions::new(3), std::future::ready(true))
            .await
    });
    // The pending passive "1" is delivered now, not merged and not late.
    let (v, at) = next(&mut out).await;
    assert_eq!((v.as_str(), at), ("1", opened));
    for d in ["5", "3", "4"] {
        assert_eq!(dtmf.on_digit(d), DigitRoute::Collector);
        tokio::task::yield_now().await;
    }
    assert_eq!(task.await.unwrap().unwrap().as_str(), "534");
    // Nothing went to the passive path meanwhile.
    sleep(ms(5000)).await;
    assert!(tokio::time::timeout(ms(1), out.recv()).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn incident_48_timeout_counts_from_end_of_playout() {
    let (dtmf, _out, _timer) = call(DtmfSettings::default());
    let (played_tx, played_rx) = oneshot::channel::<()>();
    let d2 = Arc::clone(&dtmf);
    let start = Instant::now();
    let task = tokio::spawn(async move {
        let played = async move { played_rx.await.is_ok() };
        let v = d2.collect(&CollectOptions::new(4), played).await;
        (v, Instant::now())
    });
    // A 12 s prompt: longer than the 5 s inter-digit timeout.
    sleep(ms(12_000)).await;
    assert!(
        !task.is_finished(),
        "timed out while the prompt was playing"
    );
    played_tx.send(()).unwrap();
    sleep(ms(4_000)).await;
    dtmf.on_digit("7");
    let (v, at) = task.await.unwrap();
    assert_eq!(v.unwrap().as_str(), "7");
    // Inter-digit timeout restarted by the key: 12 + 4 + 5 s.
    assert_eq!(at - start, ms(21_000));
}

#[tokio::test(start_paused = true)]
async fn key_during_prompt_starts_collection_immediately() {
    let (dtmf, _out, _timer) = call(DtmfSettings::default());
    let d2 = Arc::clone(&dtmf);
    let start = Instant::now();
    let task = tokio::spawn(async move {
        let v = d2
            .collect(&CollectOptions::new(2), std::future::pending::<bool>())
            .await;
        (v, Instant::now())
    });
    sleep(ms(1_000)).await;
    assert_eq!(dtmf.on_digit("4"), DigitRoute::Collector);
    sleep(ms(1_000)).await;
    dtmf.on_digit("2");
    let (v, at) = task.await.unwrap();
    assert_eq!(v.unwrap().as_str(), "42");
    assert_eq!(at - start, ms(2_000));
}

#[tokio::test(start_paused = true)]
async fn finish_key_first_gives_empty_result() {
    let (dtmf, _out, _timer) = call(DtmfSettings::default());
    let d2 = Arc::clone(&dtmf);
    let task = tokio::spawn(async move {
        d2.collect(&CollectOptions::new(4), std::future::pending::<bool>())
            .await
    });
    tokio::task::yield_now().await;
    dtmf.on_digit("#");
    assert_eq!(task.await.unwrap().unwrap().as_str(), "");
}

#[tokio::test(start_paused = true)]
async fn inter_digit_timeout_returns_digits_so_far() {
    let (dtmf, _out, _timer) = call(DtmfSettings::default());
    let d2 = Arc::clone(&dtmf);
    let start = Instant::now();
    let task = tokio::spawn(async move {
        let v = d2
            .collect(&CollectOptions::new(4), std::future::ready(true))
            .await;
        (v, Instant::now())
    });
    sleep(ms(1_000)).await;
    dtmf.on_digit("1");
    let (v, at) = task.await.unwrap();
    assert_eq!(v.unwrap().as_str(), "1");
    assert_eq!(at - start, ms(6_000));
    // No key at all: empty after the timeout.
    let d2 = Arc::clone(&dtmf);
    let v = d2
        .collect(&CollectOptions::new(4), std::future::ready(true))
        .await
        .unwrap();
    assert!(v.is_empty());
}

#[tokio::test(start_paused = true)]
async fn incident_31_max_wait_caps_the_collection_and_keeps_digits() {
    let (dtmf, _out, _timer) = call(DtmfSettings::default());
    let d2 = Arc::clone(&dtmf);
    let start = Instant::now();
    let task = tokio::spawn(async move {
        let v = d2
            .collect(
                &CollectOptions::new(11).max_wait(Some(Duration::from_secs(30))),
                std::future::ready(true),
            )
            .await;
        (v, Instant::now())
    });
    // A key every 4 s never trips the 5 s inter-digit timeout.
    for _ in 0..10 {
        sleep(ms(4_000)).await;
        dtmf.on_digit("9");
    }
    let (v, at) = task.await.unwrap();
    assert_eq!(v.unwrap().as_str(), "9999999");
    assert_eq!(at - start, ms(30_000));
}

#[tokio::test(start_paused = true)]
async fn playout_wait_is_bounded_by_max_wait() {
    let (dtmf, _out, _timer) = call(DtmfSettings::default());
    let start = Instant::now();
    let v = dtmf
        .collect(
            &CollectOptions::new(4).max_wait(Some(Duration::from_secs(10))),
            std::future::pending::<bool>(),
        )
        .await
        .unwrap();
    assert!(v.is_empty());
    // 10 s playout limit, then min(5 s, 10 s) inter-digit wait.
    assert_eq!(start.elapsed(), ms(15_000));
}

#[tokio::test(start_paused = true)]
async fn incident_30_second_collector_is_busy_not_error_text() {
    let (dtmf, _out, _timer) = call(DtmfSettings::default());
    let d2 = Arc::clone(&dtmf);
    let first = tokio::spawn(async move {
        d2.collect(&CollectOptions::new(1), std::future::ready(true))
            .await
    });
    tokio::task::yield_now().await;
    assert!(dtmf.is_collecting());
    let second = dtmf
        .collect(&CollectOptions::new(1), std::future::ready(true))
        .await;
    assert!(matches!(second, Err(AgentError::DtmfCollectorBusy)));
    assert!(!COLLECT_BUSY_TEXT.starts_with("Error"));
    dtmf.on_digit("5");
    assert_eq!(first.await.unwrap().unwrap().as_str(), "5");
    // Closed again: a new collection can open.
    assert!(!dtmf.is_collecting());
}

#[tokio::test(start_paused = true)]
async fn cancelled_collection_closes_the_collector() {
    let (dtmf, mut out, _timer) = call(DtmfSettings::default());
    let d2 = Arc::clone(&dtmf);
    let task = tokio::spawn(async move {
        d2.collect(&CollectOptions::new(4), std::future::pending::<bool>())
            .await
    });
    tokio::task::yield_now().await;
    task.abort();
    let _ = task.await;
    assert!(!dtmf.is_collecting());
    assert_eq!(dtmf.on_digit("3"), DigitRoute::Passive);
    dtmf.on_digit("#");
    assert_eq!(next(&mut out).await.0, "3");
}

#[tokio::test(start_paused = true)]
async fn call_end_stops_collection_with_digits_so_far() {
    let (dtmf, _out, _timer) = call(DtmfSettings::default());
    let d2 = Arc::clone(&dtmf);
    let task = tokio::spawn(async move {
        d2.collect(&CollectOptions::new(4), std::future::ready(true))
            .await
    });
    tokio::task::yield_now().await;
    dtmf.on_digit("1");
    tokio::task::yield_now().await;
    dtmf.end();
    assert_eq!(task.await.unwrap().unwrap().as_str(), "1");
    assert!(matches!(
        dtmf.collect(&CollectOptions::new(1), std::future::ready(true))
            .await,
        Err(AgentError::CallEnded { call_id }) if call_id == "CA1"
    ));
}

#[test]
fn collect_options_validation() {
    assert!(CollectOptions::new(0).validate().is_err());
    assert!(
        CollectOptions::new(1)
            .finish_on_key(Some('x'))
            .validate()
            .is_err()
    );
    assert!(
        CollectOptions::new(1)
            .finish_on_key(None)
            .validate()
            .is_ok()
    );
}

// ---- send_dtmf ----

#[test]
fn sequence_rejects_invalid_before_sending_anything() {
    let err = "12a3".parse::<DtmfSequence>().unwrap_err();
    assert!(matches!(
        err,
        AgentError::InvalidArgument {
            field: "digits",
            ..
        }
    ));
    assert_eq!("".parse::<DtmfSequence>().unwrap().steps().len(), 0);
    let seq: DtmfSequence = "0123456789*#wW".parse().unwrap();
    assert_eq!(seq.tone_count(), 12);
}

#[tokio::test(start_paused = true)]
async fn sequence_plays_exact_frames_with_pauses() {
    let seq: DtmfSequence = "1w2W#".parse().unwrap();
    let start = Instant::now();
    let mut sent = Vec::new();
    seq.play(|frame| {
        sent.push((frame.to_json().unwrap(), start.elapsed()));
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(
        sent,
        vec![
            (r#"{"event":"dtmf","dtmf":{"digit":"1"}}"#.to_owned(), ms(0)),
            (
                r#"{"event":"dtmf","dtmf":{"digit":"2"}}"#.to_owned(),
                ms(500)
            ),
            (
                r##"{"event":"dtmf","dtmf":{"digit":"#"}}"##.to_owned(),
                ms(1500)
            ),
        ]
    );
}

#[tokio::test]
async fn sequence_stops_at_send_error() {
    let seq: DtmfSequence = "123".parse().unwrap();
    let mut n = 0;
    let res = seq
        .play(|_| {
            n += 1;
            if n == 2 {
                Err(AgentError::CallEnded {
                    call_id: "CA1".into(),
                })
            } else {
                Ok(())
            }
        })
        .await;
    assert!(res.is_err());
    assert_eq!(n, 2);
}
