//! Soak (issue 12): 500 calls through the emulator with the faults that exist today — dropped
//! control socket, malformed control frames, a panicking user handler, late and duplicate
//! transfer results — then everything is counted back to the baseline: the agent's live tasks
//! (`Agent::task_count`), its registered calls, provider sessions alive, the emulator's calls,
//! sockets and tasks, this process's open file descriptors (`/proc/self/fd`) and child processes.
//!
//! `SOAK_CALLS` sets the number of calls (default 500, run 20 at a time).
//!
//! The provider and MCP faults run as a second soak in this file
//! ([`soak_provider_socket_drops_and_mcp_crashes_leak_nothing`], feature `openai`, MCP parts
//! with feature `mcp`): real `OpenAIRealtime` sessions against a fake Realtime server on
//! loopback that drops every third connection mid-call (no close frame), and a per-call
//! `mcp-test-server` child whose `crash` tool kills it mid-call on every third call; counted
//! back to the baseline with the MCP children. The two soaks hold one lock (they count the
//! same process's descriptors and children), so they never overlap.
//! `SOAK_PROVIDER_CALLS` sets its number of calls (default 90, run 10 at a time).

mod agent_common;
#[cfg(all(feature = "openai", feature = "mcp"))]
mod mcp_common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_common::*;
use clawops::agent::TransferOptions;
use serde_json::json;

const TRANSFER_TARGET: &str = "01050005000";

/// The soaks count process-wide resources: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn calls() -> usize {
    std::env::var("SOAK_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Open file descriptors of this process (sockets, pipes, files).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Child processes of this process (all threads).
fn children() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .map(|c| c.split_whitespace().count())
        .sum()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// `on_call_start` panics for this call.
    PanickingHandler,
    /// The call transfers (blind, terminate) while results come twice and after `call.ended`.
    LateDuplicateTransfer,
}

fn fault_of(i: usize) -> Fault {
    match i % 10 {
        3 => Fault::PanickingHandler,
        7 => Fault::LateDuplicateTransfer,
        _ => Fault::None,
    }
}

/// The caller number encodes the call's fault for the handlers.
fn from_of(i: usize) -> String {
    format!("0105{:07}", i)
}

fn fault_of_from(from: &str) -> Fault {
    from.get(4..)
        .and_then(|n| n.parse::<usize>().ok())
        .map_or(Fault::None, fault_of)
}

async fn send_frame(emu: &clawops_emulator::Emulator, text: &str) {
    let (status, _) = post(
        emu,
        &format!("/_emulator/agents/{NUMBER}/send"),
        json!({"text": text}),
    )
    .await;
    // 404 while the agent is reconnecting after a drop: the frame is simply not delivered.
    assert!(status == 204 || status == 404, "send: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_500_calls_with_faults_leaks_nothing() {
    let _serial = SERIAL.lock().await;
    let total = calls();
    let emu = emulator().await;
    put(
        &emu,
        &format!("/_emulator/destinations/{TRANSFER_TARGET}"),
        json!({"outcome": "answer", "transferDuration": 1}),
    )
    .await;
    put(
        &emu,
        "/_emulator/faults",
        json!({"transferDuplicate": true, "transferReorder": true, "transferDelayMs": 300}),
    )
    .await;
    let probe: Probes = Arc::new(Mutex::new(Probe::default()));
    let transfers = Arc::new(Mutex::new((0usize, 0usize))); // (started, resolved)
    let t2 = transfers.clone();
    let agent = agent_builder(&emu, NUMBER)
        .session_factory(ScriptedSession::factory(
            Script {
                echo: true,
                ..Script::default()
            },
            probe.clone(),
        ))
        .on_call_start(move |call| {
            let transfers = t2.clone();
            async move {
                match fault_of_from(call.from_number()) {
                    Fault::PanickingHandler => panic!("soak: user handler bug"),
                    Fault::LateDuplicateTransfer => {
                        transfers.lock().unwrap().0 += 1;
                        let result = call.transfer(TransferOptions::new(TRANSFER_TARGET)).await;
                        if result.is_ok() {
                            transfers.lock().unwrap().1 += 1;
                        }
                    }
                    Fault::None => {}
                }
            }
        })
        .build()
        .unwrap();
    agent.connect().await.unwrap();

    // Warm-up call: lazily created pools and buffers exist before the baseline is taken.
    let warm = inbound(
        &emu,
        NUMBER,
        json!({"from": "01099990000", "seconds": 0.1, "hangupAfterAudio": true}),
    )
    .await;
    assert_eq!(wait_call(&emu, &warm).await["endedStatus"], "completed");
    eventually(10, "warm-up call unregistered", || {
        agent.active_calls() == 0
    })
    .await;
    let baseline = (agent.task_count(), open_fds(), children(), emu.task_count());
    let started = Instant::now();

    let mut ended_by = std::collections::BTreeMap::<String, usize>::new();
    for batch in 0..total.div_ceil(20) {
        let range = batch * 20..((batch + 1) * 20).min(total);
        let drop_batch = batch % 5 == 2;
        let mut ids = Vec::new();
        for i in range.clone() {
            ids.push((
                i,
                inbound(
                    &emu,
                    NUMBER,
                    if fault_of(i) == Fault::LateDuplicateTransfer {
                        // The transfer, not the caller, ends this call.
                        json!({"from": from_of(i), "seconds": 0.5})
                    } else if drop_batch {
                        // Long enough to still be live when the control socket drops.
                        json!({"from": from_of(i), "seconds": 1.5, "hangupAfterAudio": true})
                    } else {
                        json!({"from": from_of(i), "seconds": 0.1, "hangupAfterAudio": true})
                    },
                )
                .await,
            ));
            if i % 50 == 25 {
                for text in [
                    "{{{",
                    r#"{"event":"call.ended","callId":null}"#,
                    r#"{"event":"call.transfer.completed","callId":"CAnobody","requestId":"00"}"#,
                    r#"{"event":"agent.future","x":[1,2,3]}"#,
                    "\u{feff}[]",
                ] {
                    send_frame(&emu, text).await;
                }
            }
        }
        if drop_batch {
            // Drop the control socket while this batch's calls are live (no close frame), once
            // every offer has been accepted (an offer in flight at the drop is lost by design).
            for (_, id) in &ids {
                wait_media(&emu, id).await;
            }
            let (status, _) =
                post(&emu, &format!("/_emulator/agents/{NUMBER}/drop"), json!({})).await;
            assert_eq!(status, 204);
        }
        for (i, id) in &ids {
            let view = wait_call(&emu, id).await;
            if view["endedStatus"].is_null() {
                let v = get(&emu, &format!("/_emulator/calls/{id}")).await;
                panic!("call {i} did not end: {v}");
            }
            assert_eq!(
                view["endedStatus"],
                "completed",
                "call {i} ({:?})",
                fault_of(*i)
            );
            assert_eq!(view["accepted"], true, "call {i}");
            *ended_by
                .entry(view["endedBy"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
            if fault_of(*i) == Fault::LateDuplicateTransfer {
                assert_eq!(view["endedBy"], "transfer", "call {i}");
            }
        }
    }
    eventually(15, "every call unregistered", || agent.active_calls() == 0).await;
    eventually(15, "agent tasks back to baseline", || {
        agent.task_count() == baseline.0
    })
    .await;
    eventually(15, "every transfer wait resolved", || {
        let t = transfers.lock().unwrap();
        t.0 == t.1
    })
    .await;
    {
        let p = probe.lock().unwrap();
        assert_eq!(p.sessions, total + 1, "one session per call");
        assert_eq!(p.stopped, total + 1, "every session stopped");
        assert_eq!(p.live, 0, "every session dropped");
    }
    assert_eq!(emu.live_calls(), 0);
    eventually(15, "emulator tasks back to baseline", || {
        emu.task_count() <= baseline.3
    })
    .await;
    assert!(agent.is_connected());
    // Sockets and descriptors close asynchronously (both ends live in this process).
    let mut fds = open_fds();
    let deadline = Instant::now() + Duration::from_secs(15);
    while fds > baseline.1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        fds = open_fds();
    }
    let elapsed = started.elapsed();
    let t = *transfers.lock().unwrap();
    println!(
        "soak: {total} calls in {:.1} s; ended by {ended_by:?}; transfers {t:?}; tasks {} (baseline {}), fds {fds} (baseline {}), children {} (baseline {}), emulator tasks {} (baseline {})",
        elapsed.as_secs_f64(),
        agent.task_count(),
        baseline.0,
        baseline.1,
        children(),
        baseline.2,
        emu.task_count(),
        baseline.3,
    );
    assert!(
        fds <= baseline.1,
        "descriptors leaked: {fds} > {}",
        baseline.1
    );
    assert_eq!(children(), baseline.2, "child processes leaked");
    let expected = (0..total)
        .filter(|i| fault_of(*i) == Fault::LateDuplicateTransfer)
        .count();
    assert_eq!(t, (expected, expected), "every transfer resolved once");

    agent.disconnect().await;
    assert_eq!(agent.task_count(), 0);
    eventually(5, "control socket closed", || {
        emu.open_control_sockets() == 0
    })
    .await;
    emu.shutdown().await;
}

// ----- provider socket closed mid-call, MCP server crash ------------------------------------------

#[cfg(feature = "openai")]
mod provider_faults {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use super::agent_common::*;
    use super::{SERIAL, children, open_fds};
    use clawops::providers::openai::OpenAIRealtime;
    use futures::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::Message;

    fn calls() -> usize {
        std::env::var("SOAK_PROVIDER_CALLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(90)
    }

    /// What a fake Realtime connection does once the call's audio flows.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Kind {
        /// Calls the MCP `lookup_order` (with `mcp`), then `hang_up`.
        Normal,
        /// Calls the MCP `crash` tool (the child exits mid-call), then `hang_up`.
        McpCrash,
        /// Drops the TCP connection mid-call (no close frame): the session is lost.
        SocketDrop,
    }

    #[derive(Default)]
    struct Seen {
        /// Connections by kind (normal, crash, drop).
        conns: [usize; 3],
        /// `function_call_output` texts by kind.
        outputs: Vec<(Kind, String)>,
    }

    fn function_call(name: &str, call_id: &str, args: Value) -> String {
        json!({"type":"response.output_item.done","event_id":"e","response_id":"r","output_index":0,
            "item":{"id":format!("item_{call_id}"),"type":"function_call","status":"completed",
            "name":name,"call_id":call_id,"arguments":args.to_string()}})
        .to_string()
    }

    /// A fake OpenAI Realtime server: connection `k` behaves as kind `k % 3` (crash only with
    /// `mcp`).
    async fn fake_realtime(seen: Arc<Mutex<Seen>>) -> (String, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let kind = match k % 3 {
                    0 => Kind::Normal,
                    1 if cfg!(feature = "mcp") => Kind::McpCrash,
                    1 => Kind::Normal,
                    _ => Kind::SocketDrop,
                };
                let seen = Arc::clone(&seen);
                conns.spawn(async move {
                    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    seen.lock().unwrap().conns[kind as usize] += 1;
                    let (mut sink, mut stream) = ws.split();
                    let created = json!({"type":"session.created","event_id":"e0","session":{"id":"sess","type":"realtime"}});
                    if sink.send(Message::text(created.to_string())).await.is_err() {
                        return;
                    }
                    let mut acted = false;
                    while let Some(Ok(msg)) = stream.next().await {
                        let Message::Text(t) = msg else {
                            if matches!(msg, Message::Close(_)) {
                                return;
                            }
                            continue;
                        };
                        let v: Value = serde_json::from_str(&t).unwrap_or_default();
                        let mut out = Vec::new();
                        match v["type"].as_str().unwrap_or_default() {
                            "session.update" => out.push(
                                json!({"type":"session.updated","event_id":"eu","session":v["session"].clone()})
                                    .to_string(),
                            ),
                            "input_audio_buffer.append" if !acted => {
                                // The call is answered and its audio flows: act.
                                acted = true;
                                match kind {
                                    Kind::SocketDrop => return, // dropped: no close frame
                                    Kind::Normal if cfg!(feature = "mcp") => out.push(
                                        function_call("lookup_order", "c_lookup", json!({"order_id":"A-1"})),
                                    ),
                                    Kind::Normal => out.push(function_call("hang_up", "c_bye", json!({}))),
                                    Kind::McpCrash => {
                                        out.push(function_call("crash", "c_crash", json!({})))
                                    }
                                }
                            }
                            "conversation.item.create"
                                if v["item"]["type"] == "function_call_output" =>
                            {
                                let call_id = v["item"]["call_id"].as_str().unwrap_or_default();
                                if call_id != "c_bye" {
                                    let text = v["item"]["output"].as_str().unwrap_or_default();
                                    seen.lock().unwrap().outputs.push((kind, text.to_owned()));
                                    out.push(function_call("hang_up", "c_bye", json!({})));
                                }
                            }
                            _ => {}
                        }
                        for o in out {
                            if sink.send(Message::text(o)).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (base_url, task)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn soak_provider_socket_drops_and_mcp_crashes_leak_nothing() {
        let _serial = SERIAL.lock().await;
        let total = calls();
        let emu = emulator().await;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (base_url, server) = fake_realtime(Arc::clone(&seen)).await;
        let log = EventLog::default();
        #[allow(unused_mut)]
        let mut builder = log.attach(agent_builder(&emu, NUMBER2)).session_factory(
            OpenAIRealtime::builder()
                .api_key("sk-soak")
                .base_url(&base_url)
                .factory()
                .unwrap(),
        );
        #[cfg(feature = "mcp")]
        {
            builder = builder.mcp_server(clawops::mcp::McpServer::stdio(
                super::mcp_common::server_bin().to_string_lossy(),
                Vec::<String>::new(),
                Vec::<(String, String)>::new(),
            ));
        }
        let agent = builder.build().unwrap();
        agent.connect().await.unwrap();

        let run = |i: usize| {
            let emu = &emu;
            async move {
                inbound(
                    emu,
                    NUMBER2,
                    json!({"from": format!("0106{i:07}"), "seconds": 20, "maxSeconds": 30}),
                )
                .await
            }
        };
        // Warm-up (connection k = 0: a normal call) before the baseline.
        let warm = run(9_999_999).await;
        assert_eq!(wait_call(&emu, &warm).await["endedStatus"], "completed");
        eventually(10, "warm-up call unregistered", || {
            agent.active_calls() == 0
        })
        .await;
        eventually(10, "warm-up MCP child reaped", || children() == 0).await;
        let baseline = (agent.task_count(), open_fds(), children(), emu.task_count());
        let started = Instant::now();
        let (mut lost, mut peak_children) = (0, 0);
        for batch in 0..total.div_ceil(10) {
            let mut ids = Vec::new();
            for i in batch * 10..((batch + 1) * 10).min(total) {
                ids.push((i, run(i).await));
                peak_children = peak_children.max(children());
            }
            for (i, id) in &ids {
                let view = wait_call(&emu, id).await;
                assert_eq!(view["accepted"], true, "call {i}: {view}");
                assert_eq!(view["endedStatus"], "completed", "call {i}: {view}");
                // The agent ended every call (hang_up tool or lost session), not the caller.
                assert_ne!(view["endedBy"], "caller", "call {i}: {view}");
            }
            for (_, id) in &ids {
                eventually(10, "call_end", || {
                    log.of(id).iter().any(|e| e == "call_end")
                })
                .await;
                if log.of(id).iter().any(|e| e == "session_lost") {
                    lost += 1;
                }
            }
        }
        eventually(15, "every call unregistered", || agent.active_calls() == 0).await;
        eventually(15, "agent tasks back to baseline", || {
            agent.task_count() == baseline.0
        })
        .await;
        eventually(15, "MCP children reaped", || children() == baseline.2).await;
        eventually(15, "emulator tasks back to baseline", || {
            emu.task_count() <= baseline.3
        })
        .await;
        assert_eq!(emu.live_calls(), 0);
        let mut fds = open_fds();
        let deadline = Instant::now() + Duration::from_secs(15);
        while fds > baseline.1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            fds = open_fds();
        }
        let (conns, outputs) = {
            let s = seen.lock().unwrap();
            (s.conns, s.outputs.clone())
        };
        println!(
            "soak (provider faults): {total} calls in {:.1} s; connections normal/crash/drop {conns:?}; sessions lost {lost}; peak children {peak_children}; tasks {} (baseline {}), fds {fds} (baseline {}), children {} (baseline {}), emulator tasks {} (baseline {})",
            started.elapsed().as_secs_f64(),
            agent.task_count(),
            baseline.0,
            baseline.1,
            children(),
            baseline.2,
            emu.task_count(),
            baseline.3,
        );
        // One Realtime connection per call (none reconnected), each kind a third.
        assert_eq!(conns.iter().sum::<usize>(), total + 1, "{conns:?}");
        assert_eq!(
            lost,
            conns[Kind::SocketDrop as usize],
            "every dropped socket lost its session"
        );
        #[cfg(feature = "mcp")]
        {
            let of = |k: Kind| {
                outputs
                    .iter()
                    .filter(|(kind, _)| *kind == k)
                    .collect::<Vec<_>>()
            };
            let normal = of(Kind::Normal);
            assert_eq!(normal.len(), conns[Kind::Normal as usize], "{outputs:?}");
            assert!(
                normal.iter().all(|(_, t)| t == "order A-1: shipped"),
                "{normal:?}"
            );
            let crashed = of(Kind::McpCrash);
            assert_eq!(crashed.len(), conns[Kind::McpCrash as usize], "{outputs:?}");
            assert!(
                crashed.iter().all(|(_, t)| t.starts_with("MCP Error: ")),
                "{crashed:?}"
            );
        }
        // The children counter does see the per-call MCP servers.
        #[cfg(feature = "mcp")]
        assert!(peak_children > 0, "no MCP child was ever counted");
        #[cfg(not(feature = "mcp"))]
        assert!(outputs.is_empty());
        assert!(
            fds <= baseline.1,
            "descriptors leaked: {fds} > {}",
            baseline.1
        );
        assert_eq!(children(), baseline.2, "child processes leaked");
        assert!(agent.is_connected());
        agent.disconnect().await;
        assert_eq!(agent.task_count(), 0);
        server.abort();
        emu.shutdown().await;
    }
}
