//! `cargo codegen`: regenerate `generated/src/` from `spec/`, or check it for drift.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clawops_codegen::output;
use clawops_codegen::spec::Specs;
use clawops_codegen::stats::Stats;

/// Generates the clawops-api crate from spec/openapi.yaml and spec/asyncapi.yaml.
#[derive(Debug, Parser)]
#[command(name = "clawops-codegen", version)]
struct Args {
    /// Do not write: exit 1 and summarise the differences when generated/src is stale.
    #[arg(long)]
    check: bool,
    /// Print what the specs cover (operations, schemas, open vocabularies, messages).
    #[arg(long)]
    stats: bool,
    /// Workspace root (default: the directory above this crate).
    #[arg(long)]
    root: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let root = args
        .root
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
    let out_dir = root.join("generated/src");
    let generated = match output::generate(&root) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("clawops-codegen: {e}");
            return ExitCode::from(2);
        }
    };
    if args.stats {
        match Specs::load(&root) {
            Ok(specs) => print!("{}", Stats::of(&specs, &generated)),
            Err(e) => {
                eprintln!("clawops-codegen: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if args.check {
        return match output::check(&out_dir, &generated) {
            Ok(report) if report.is_empty() => {
                println!("generated/ is up to date with spec/");
                ExitCode::SUCCESS
            }
            Ok(report) => {
                eprintln!("generated/ is stale: run `cargo codegen` and commit the result");
                for line in report {
                    eprintln!("  {line}");
                }
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("clawops-codegen: {e}");
                ExitCode::from(2)
            }
        };
    }
    match output::write(&out_dir, &generated) {
        Ok(()) => {
            println!("wrote {} files to generated/src", generated.files.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("clawops-codegen: {e}");
            ExitCode::from(2)
        }
    }
}
