//! `cargo codegen`: regenerate `generated/src/` from `spec/`, check it for drift, or report what
//! an API change means for users.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use clawops_codegen::diff::{Report, Version, check_versions};
use clawops_codegen::output::{self, Generated};
use clawops_codegen::spec::Specs;
use clawops_codegen::stats::Stats;
use clawops_codegen::{Error, evolution};

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
    /// Report the API changes from OLD (a git ref, or a directory with openapi.yaml and
    /// asyncapi.yaml) to the working tree (or to --new), grouped by impact, with the semver verdict.
    #[arg(long, value_name = "OLD")]
    diff: Option<String>,
    /// With --diff: compare against this git ref or directory instead of the working tree.
    #[arg(long, value_name = "NEW", requires = "diff")]
    new: Option<String>,
    /// With --diff: print a Markdown changelog entry instead of the report.
    #[arg(long, requires = "diff")]
    changelog: bool,
    /// With --diff: exit 1 when the version of clawops-api and clawops in Cargo.toml is lower than
    /// the changes require.
    #[arg(long, requires = "diff")]
    check_version: bool,
    /// With --diff: the version OLD was released as (default: read from OLD's Cargo.toml for a git
    /// ref, else the working tree's version).
    #[arg(long, value_name = "X.Y.Z", requires = "diff")]
    previous_version: Option<String>,
    /// Workspace root (default: the directory above this crate).
    #[arg(long)]
    root: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let root = args
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
    match run(&args, &root) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clawops-codegen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args, root: &Path) -> Result<ExitCode, Error> {
    let generated = output::generate(root)?;
    if args.stats {
        print!("{}", Stats::of(&Specs::load(root)?, &generated));
    }
    if let Some(old) = &args.diff {
        return diff(args, root, old, &generated);
    }
    let out_dir = root.join("generated/src");
    if args.check {
        let report = output::check(&out_dir, &generated)?;
        if report.is_empty() {
            println!("generated/ is up to date with spec/");
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("generated/ is stale: run `cargo codegen` and commit the result");
        for line in report {
            eprintln!("  {line}");
        }
        return Ok(ExitCode::FAILURE);
    }
    output::write(&out_dir, &generated)?;
    println!("wrote {} files to generated/src", generated.files.len());
    Ok(ExitCode::SUCCESS)
}

fn diff(args: &Args, root: &Path, old: &str, generated: &Generated) -> Result<ExitCode, Error> {
    let before = evolution::load(root, old)?;
    let after = match &args.new {
        Some(new) => evolution::load(root, new)?,
        None => evolution::current(root, generated)?,
    };
    let report = Report::new(
        &before.label,
        &after.label,
        &before.specs,
        &after.specs,
        Some((&before.surface, &after.surface)),
    );
    let current = evolution::crate_versions(root)?;
    let previous = match &args.previous_version {
        Some(v) => Version::parse(v)
            .ok_or_else(|| Error(format!("--previous-version {v:?} is not x.y.z")))?,
        None => before
            .version
            .or_else(|| current.first().map(|(_, v)| *v))
            .unwrap_or(Version {
                major: 0,
                minor: 1,
                patch: 0,
            }),
    };
    if args.changelog {
        print!("{}", report.changelog("clawops-api / clawops", &previous));
    } else {
        print!("{}", report.render(&previous));
    }
    if args.check_version {
        let problems = check_versions(&current, &previous, report.verdict());
        for problem in &problems {
            eprintln!("version check: {problem}");
        }
        if !problems.is_empty() {
            return Ok(ExitCode::FAILURE);
        }
        println!(
            "version check: ok ({})",
            current
                .iter()
                .map(|(n, v)| format!("{n} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
