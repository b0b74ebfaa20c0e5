//! `clawops-emulator`: a local ClawOps server for testing applications offline.

use clap::Parser;
use clawops_emulator::{Config, Emulator};

/// A local, spec-true ClawOps server (REST, control and media WebSockets, control API).
#[derive(Parser)]
#[command(name = "clawops-emulator", version)]
struct Args {
    /// TCP port; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The API key the emulator accepts.
    #[arg(long, env = "CLAWOPS_API_KEY", default_value = "sk_test_emulator")]
    api_key: String,
    /// The emulated account id.
    #[arg(
        long,
        env = "CLAWOPS_ACCOUNT_ID",
        default_value = "AC0000000000emulator"
    )]
    account_id: String,
    /// Key used to sign status callbacks (X-Signature).
    #[arg(long, default_value = "whsec_emulator")]
    signing_key: String,
    /// Numbers the account owns at start (repeatable).
    #[arg(long = "number", default_values_t = ["07012340001".to_string(), "07012340002".to_string()])]
    numbers: Vec<String>,
    /// Stream audio as fast as possible instead of in real time.
    #[arg(long)]
    fast: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLAWOPS_EMULATOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = Config::default()
        .with_port(args.port)
        .with_api_key(args.api_key)
        .with_account_id(args.account_id)
        .with_signing_key(args.signing_key)
        .with_numbers(args.numbers)
        .with_realtime(!args.fast);
    config.host = args.host;
    let emulator = match Emulator::start_with(config).await {
        Ok(e) => e,
        Err(error) => {
            eprintln!("clawops-emulator: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let signal = shutdown_signal();
    let line = serde_json::json!({
        "base_url": emulator.base_url(),
        "api_key": emulator.api_key(),
        "account_id": emulator.account_id(),
    });
    println!("{line}");
    signal.await;
    emulator.shutdown().await;
    std::process::ExitCode::SUCCESS
}

/// Registers SIGINT/SIGTERM handlers at once (before the start line is printed) and returns a
/// future that resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
