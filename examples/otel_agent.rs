//! Tracing a voice agent with OpenTelemetry, exported over OTLP/HTTP (cargo feature `otel`).
//!
//! ```sh
//! cargo run --example otel_agent --features otel
//! # with a collector (Jaeger, Tempo, the OpenTelemetry Collector…):
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --example otel_agent --features otel
//! ```
//!
//! It runs **offline**: it starts the embedded ClawOps emulator, serves its number with a
//! scripted session that calls one tool and hangs up, places one simulated inbound call, and
//! exports the call's spans (`call` → `llm.session` → `tool.call`, see
//! `clawops::telemetry`) to the OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, default
//! `http://localhost:4318`). Without a collector the export fails quietly at the end and the
//! example still completes.

use std::time::Duration;

use clawops::agent::testing::{Action, ScriptedSession};
use clawops::agent::{Agent, ToolRegistry};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use schemars::JsonSchema;
use serde::Deserialize;
use tracing::Level;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Looks up an order's delivery status.
#[derive(Deserialize, JsonSchema)]
struct CheckOrder {
    /// The order number.
    order_id: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. An OTLP/HTTP exporter on a batch processor (its own thread; blocking HTTP client).
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("clawops-otel-example")
                .build(),
        )
        .build();

    // 2. Logs (info) to stderr; the SDK's spans (not those of the HTTP stack that exports
    //    them) to OpenTelemetry.
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(LevelFilter::INFO),
        )
        .with(
            clawops::telemetry::otel::layer(&provider)
                .with_filter(Targets::new().with_target("clawops", Level::TRACE)),
        )
        .init();

    // 3. The agent, against the embedded emulator.
    let emulator = clawops_emulator::Emulator::start().await?;
    let number = "07012340001";
    let mut tools = ToolRegistry::new();
    tools.register("check_order", |args: CheckOrder| async move {
        Ok::<_, std::convert::Infallible>(format!("order {} shipped", args.order_id))
    })?;
    let agent = Agent::builder(number)
        .api_key(emulator.api_key())
        .account_id(emulator.account_id())
        .base_url(emulator.base_url())
        .tools(tools)
        .session_factory(|| {
            ScriptedSession::new().on_start([
                Action::CallTool {
                    name: "check_order".into(),
                    args: r#"{"order_id":"A-7"}"#.into(),
                },
                Action::HangUp,
            ])
        })
        .on_call_end(|call| async move {
            println!("call {} ended: {:?}", call.call_id(), call.metrics());
        })
        .build()?;
    agent.connect().await?;

    // 4. One simulated inbound call, through the emulator's control API.
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{}/_emulator/inbound-calls", emulator.base_url()))
        .json(&serde_json::json!({"from": "01055556666", "to": number, "seconds": 2}))
        .send()
        .await?
        .json()
        .await?;
    let call_id = created["callId"].as_str().unwrap_or_default().to_owned();
    http.get(format!(
        "{}/_emulator/calls/{call_id}/wait?timeoutMs=20000",
        emulator.base_url()
    ))
    .send()
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await; // let call_end print
    agent.disconnect().await;
    emulator.shutdown().await;

    // 5. Flush. Without a collector the export fails (OpenTelemetry reports it through its
    //    own diagnostics) and the example still ends normally.
    match tokio::task::spawn_blocking(move || provider.shutdown()).await? {
        Ok(()) => println!(
            "spans handed to the OTLP exporter (export errors are reported by OpenTelemetry itself)"
        ),
        Err(error) => println!("spans not flushed: {error}"),
    }
    Ok(())
}
