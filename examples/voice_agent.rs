//! The README's headline voice agent: an OpenAI Realtime session with one tool.
//!
//! ```sh
//! cargo run --example voice_agent
//! ```
//!
//! With no keys set it runs **offline**: it starts the embedded ClawOps emulator (with its
//! *simulated* Realtime endpoint — a fixed script, not a model), runs the agent against it,
//! places one simulated inbound call and prints the call as it happens.
//!
//! With `CLAWOPS_API_KEY`, `CLAWOPS_ACCOUNT_ID` and `OPENAI_API_KEY` set it serves the number in
//! `CLAWOPS_FROM` for real (greeting on) until Ctrl-C, against `CLAWOPS_BASE_URL` and
//! `OPENAI_BASE_URL` when those are set.

use std::time::{Duration, Instant};

use clawops::agent::{Agent, AgentBuilder, CallEvent, Role, ToolRegistry};
use clawops::providers::openai::{OpenAIRealtime, RealtimeFactory};
use schemars::JsonSchema;
use serde::Deserialize;

/// 주문 상태를 확인합니다.
#[derive(Deserialize, JsonSchema)]
struct CheckOrder {
    /// 주문 번호 (the emulator's scripted call sends none)
    #[serde(default)]
    order_id: String,
}

/// The headline: one screen, like the Python SDK's `ClawOpsAgent(...)` example.
fn voice_agent(
    from: &str,
    realtime: RealtimeFactory,
) -> Result<AgentBuilder, Box<dyn std::error::Error>> {
    let mut tools = ToolRegistry::new();
    tools.register("check_order", |args: CheckOrder| async move {
        println!(
            "  tool     check_order(order_id={:?}) -> \"배송 완료\"",
            args.order_id
        );
        Ok::<_, std::convert::Infallible>("배송 완료")
    })?;
    Ok(Agent::builder(from)
        .session_factory(realtime)
        .tools(tools)
        .on_call_start(|call| async move {
            println!("통화 시작: {} -> {}", call.from_number(), call.to_number());
        }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let live = ["CLAWOPS_API_KEY", "CLAWOPS_ACCOUNT_ID", "OPENAI_API_KEY"]
        .iter()
        .all(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()));
    if live {
        let from = std::env::var("CLAWOPS_FROM").map_err(|_| "set CLAWOPS_FROM to your number")?;
        let realtime = OpenAIRealtime::builder()
            .system_prompt("친절한 상담원입니다. 고객의 질문에 답변해주세요.")
            .voice("marin")
            .language("ko")
            .greeting(true);
        let agent = voice_agent(&from, realtime.factory()?)?.build()?;
        println!("serving {from} (Ctrl-C to stop)");
        let report = agent.serve().await?;
        println!("stopped: {report:?}");
        return Ok(());
    }
    offline().await
}

async fn offline() -> Result<(), Box<dyn std::error::Error>> {
    use clawops_emulator::{Config, Emulator};
    const FROM: &str = "07012341234";
    const CALLER: &str = "01012345678";

    let emulator =
        Emulator::start_with(Config::default().with_numbers([FROM]).with_realtime(true)).await?;
    let base = emulator.base_url().to_owned();
    println!(
        "offline demo: ClawOps emulator at {base} (simulated OpenAI Realtime at {base}/v1/realtime)"
    );
    let recordings = std::env::temp_dir().join("clawops-voice-agent-demo");

    let realtime = OpenAIRealtime::builder()
        .api_key("sk-simulated")
        .base_url(format!("{base}/v1"))
        .system_prompt("친절한 상담원입니다. 고객의 질문에 답변해주세요.")
        .voice("marin")
        .language("ko");
    let started = Instant::now();
    let agent = voice_agent(FROM, realtime.factory()?)?
        .api_key(emulator.api_key())
        .account_id(emulator.account_id())
        .base_url(&base)
        .recording(true, &recordings)
        .on_event(move |_call, event| async move {
            let t = started.elapsed().as_secs_f32();
            match &event {
                CallEvent::Transcript(role, text) => {
                    println!("  [{t:5.2}s] transcript {:9} {text}", role_name(role))
                }
                CallEvent::TranscriptDelta(..) => {}
                other => println!("  [{t:5.2}s] event    {}", other.name()),
            }
        })
        .on_call_end(|call| async move {
            let m = call.metrics();
            println!(
                "  metrics  end reason {:?}, tool calls {}, barge-ins {}, first audio after {:?}",
                m.end_reason, m.tool_calls, m.barge_ins, m.time_to_first_audio
            );
        })
        .build()?;
    agent.connect().await?;
    println!("placing a simulated inbound call {CALLER} -> {FROM}");

    let http = clawops::reqwest::Client::new();
    let placed: serde_json::Value = http
        .post(format!("{base}/_emulator/inbound-calls"))
        .json(&serde_json::json!({"from": CALLER, "to": FROM, "audio": "speech", "seconds": 2, "hangupAfterAudio": true, "maxSeconds": 20}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let call_id = placed["callId"].as_str().ok_or("no callId")?.to_owned();

    let ended: serde_json::Value = http
        .get(format!(
            "{base}/_emulator/calls/{call_id}/wait?timeoutMs=30000"
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    // Let call_end handlers and the recorder finish.
    for _ in 0..100 {
        if agent.active_calls() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "call {call_id} ended: status {}, duration {} s, ended by {}",
        ended["endedStatus"].as_str().unwrap_or("?"),
        ended["duration"],
        ended["endedBy"].as_str().unwrap_or("?"),
    );
    for suffix in ["in", "out", "mix"] {
        let path = recordings.join(format!("{call_id}_{suffix}.wav"));
        if path.exists() {
            println!("recording: {}", path.display());
        }
    }
    agent.disconnect().await;
    emulator.shutdown().await;
    Ok(())
}

fn role_name(role: &Role) -> &'static str {
    match role {
        Role::User => "user",
        _ => "assistant",
    }
}
