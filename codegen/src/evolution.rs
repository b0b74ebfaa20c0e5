//! Where the two sides of a `--diff` come from: a git ref, a directory of specs, or the working
//! tree; and the crate version they are released under.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::diff::{Surface, Version};
use crate::error::{Context, Error, Result};
use crate::output::{self, Generated};
use crate::spec::Specs;

/// One side of a comparison.
#[derive(Debug, Clone)]
pub struct Side {
    /// How to name it in the report.
    pub label: String,
    /// Its specs.
    pub specs: Specs,
    /// Its generated public surface.
    pub surface: Surface,
    /// The crate version it was released as, when known (from a git ref's `Cargo.toml`).
    pub version: Option<Version>,
}

/// Loads `what`: a directory holding `openapi.yaml`/`asyncapi.yaml` (or a workspace root with
/// `spec/`), or else a git ref of the repository at `root`. For a git ref the surface is that
/// ref's checked-in `generated/src` (what users of that release got), so generator changes show;
/// for a directory it is generated now.
pub fn load(root: &Path, what: &str) -> Result<Side> {
    let dir = Path::new(what);
    if dir.is_dir() {
        let spec_dir = if dir.join("spec/openapi.yaml").is_file() {
            dir.join("spec")
        } else {
            dir.to_path_buf()
        };
        let specs = Specs {
            openapi: crate::spec::read_yaml(&spec_dir.join("openapi.yaml"))?,
            asyncapi: read_optional(&spec_dir.join("asyncapi.yaml"))?,
        };
        let surface = regenerate(&specs)?;
        return Ok(Side {
            label: what.to_owned(),
            specs,
            surface,
            version: None,
        });
    }
    let show = |path: &str| git_show(root, what, path);
    let openapi_text = show("spec/openapi.yaml")?.ok_or_else(|| {
        Error(format!(
            "{what}: neither a directory nor a git ref with spec/openapi.yaml"
        ))
    })?;
    let specs = Specs {
        openapi: yaml_serde::from_str(&openapi_text)
            .context(format!("{what}:spec/openapi.yaml"))?,
        asyncapi: match show("spec/asyncapi.yaml")? {
            Some(text) => {
                yaml_serde::from_str(&text).context(format!("{what}:spec/asyncapi.yaml"))?
            }
            None => Value::Object(Default::default()),
        },
    };
    let surface = match (
        show("generated/src/client.rs")?,
        show("generated/src/types.rs")?,
        show("generated/src/events.rs")?,
    ) {
        (Some(c), Some(t), Some(e)) => Surface::of(&c, &t, &e)?,
        _ => regenerate(&specs)?,
    };
    let version = show("Cargo.toml")?.as_deref().and_then(workspace_version);
    Ok(Side {
        label: what.to_owned(),
        specs,
        surface,
        version,
    })
}

/// The working tree: `root/spec` and what the current generator makes of it.
pub fn current(root: &Path, generated: &Generated) -> Result<Side> {
    Ok(Side {
        label: "the working tree".to_owned(),
        specs: Specs::load(root)?,
        surface: surface_of(generated)?,
        version: None,
    })
}

/// The surface of an in-memory generation.
pub fn surface_of(generated: &Generated) -> Result<Surface> {
    let file = |name: &str| {
        generated
            .files
            .get(&PathBuf::from(name))
            .cloned()
            .unwrap_or_default()
    };
    Surface::of(&file("client.rs"), &file("types.rs"), &file("events.rs"))
}

fn read_optional(path: &Path) -> Result<Value> {
    if path.is_file() {
        crate::spec::read_yaml(path)
    } else {
        Ok(Value::Object(Default::default()))
    }
}

/// Runs the current generator over `specs` in a scratch directory.
fn regenerate(specs: &Specs) -> Result<Surface> {
    if specs.asyncapi.as_object().is_none_or(|o| o.is_empty()) {
        return Err(Error::msg(
            "a directory compared with --diff needs both openapi.yaml and asyncapi.yaml",
        ));
    }
    let scratch = std::env::temp_dir().join(format!(
        "clawops-codegen-diff-{}-{}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(scratch.join("spec")).context("creating a scratch directory")?;
    let write = |name: &str, v: &Value| -> Result<()> {
        let text = yaml_serde::to_string(v).context("writing YAML")?;
        std::fs::write(scratch.join("spec").join(name), text).context("writing a scratch spec")
    };
    write("openapi.yaml", &specs.openapi)?;
    write("asyncapi.yaml", &specs.asyncapi)?;
    let generated = output::generate(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    surface_of(&generated?)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `git show ref:path`; `None` when the path does not exist at that ref.
fn git_show(root: &Path, reference: &str, path: &str) -> Result<Option<String>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["show", &format!("{reference}:{path}")])
        .output()
        .context("running git")?;
    if out.status.success() {
        return String::from_utf8(out.stdout)
            .map(Some)
            .context(format!("{reference}:{path} is not UTF-8"));
    }
    let verify = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ])
        .output();
    match verify {
        Ok(v) if v.status.success() => Ok(None),
        _ => Err(Error(format!(
            "{reference}: not a directory, and not a git ref of {}",
            root.display()
        ))),
    }
}

/// `[workspace.package] version` (or `[package] version`) of a Cargo.toml text.
pub fn workspace_version(cargo_toml: &str) -> Option<Version> {
    let doc: toml::Table = cargo_toml.parse().ok()?;
    let from = |t: Option<&toml::Value>| {
        t.and_then(|p| p.get("version"))
            .and_then(toml::Value::as_str)
            .and_then(Version::parse)
    };
    from(doc.get("workspace").and_then(|w| w.get("package"))).or_else(|| from(doc.get("package")))
}

/// The versions `clawops-api` and `clawops` are released under in the working tree.
pub fn crate_versions(root: &Path) -> Result<Vec<(String, Version)>> {
    let root_toml =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let workspace = workspace_version(&root_toml);
    let mut out = Vec::new();
    for (name, path) in [
        ("clawops", root.join("Cargo.toml")),
        ("clawops-api", root.join("generated/Cargo.toml")),
    ] {
        let text = std::fs::read_to_string(&path).context(format!("reading {}", path.display()))?;
        let doc: toml::Table = text
            .parse()
            .context(format!("parsing {}", path.display()))?;
        let version = doc.get("package").and_then(|p| p.get("version"));
        let v = match version {
            Some(toml::Value::String(s)) => Version::parse(s),
            _ => workspace,
        };
        out.push((
            name.to_owned(),
            v.ok_or_else(|| Error(format!("no version for {name}")))?,
        ));
    }
    Ok(out)
}
