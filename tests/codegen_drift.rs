//! The drift check: `generated/` is exactly what `spec/` produces, generation is deterministic,
//! and an edit to `spec/` that is not regenerated is caught.

use std::path::{Path, PathBuf};

use clawops_codegen::output;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A scratch workspace root holding a copy of `spec/` and `generated/src/`.
fn scratch_copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clawops-drift-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["spec", "generated/src"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(root().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(sub).join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn generated_matches_spec_and_generation_is_deterministic() {
    let first = output::generate(&root()).unwrap();
    let report = output::check(&root().join("generated/src"), &first).unwrap();
    assert!(
        report.is_empty(),
        "generated/ is stale; run `cargo codegen`:\n{}",
        report.join("\n")
    );
    let second = output::generate(&root()).unwrap();
    assert_eq!(
        first.files, second.files,
        "two runs over the same spec differ"
    );
}

#[test]
fn an_unregenerated_spec_edit_is_reported() {
    let dir = scratch_copy("edit");
    let openapi = dir.join("spec/openapi.yaml");
    let text = std::fs::read_to_string(&openapi).unwrap();
    // A new optional response field on Call.
    let edited = text.replacen(
        "\n    Call:\n      type: object\n",
        "\n    Call:\n      type: object\n      x-drift-probe: true\n",
        1,
    );
    assert_ne!(edited, text, "probe anchor not found in spec/openapi.yaml");
    let edited = edited.replacen(
        "\n      properties:\n",
        "\n      properties:\n        DriftProbe:\n          type: string\n",
        1,
    );
    std::fs::write(&openapi, edited).unwrap();
    let generated = output::generate(&dir).unwrap();
    let report = output::check(&dir.join("generated/src"), &generated).unwrap();
    assert!(
        report
            .iter()
            .any(|l| l.starts_with("stale:") && l.contains("types.rs")),
        "{report:?}"
    );

    // Regenerating makes the check pass again.
    output::write(&dir.join("generated/src"), &generated).unwrap();
    assert!(
        output::check(&dir.join("generated/src"), &generated)
            .unwrap()
            .is_empty()
    );

    // A stray file in generated/src is reported too.
    std::fs::write(dir.join("generated/src/handwritten.rs"), "// hand edit\n").unwrap();
    let report = output::check(&dir.join("generated/src"), &generated).unwrap();
    assert!(
        report
            .iter()
            .any(|l| l.starts_with("extra:") && l.contains("handwritten.rs")),
        "{report:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_asyncapi_edit_changes_the_event_types() {
    let dir = scratch_copy("asyncapi");
    let asyncapi = dir.join("spec/asyncapi.yaml");
    let text = std::fs::read_to_string(&asyncapi).unwrap();
    let edited = text.replacen(
        "\n        callId:\n",
        "\n        driftProbe:\n          type: string\n        callId:\n",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&asyncapi, edited).unwrap();
    let generated = output::generate(&dir).unwrap();
    let report = output::check(&dir.join("generated/src"), &generated).unwrap();
    assert!(report.iter().any(|l| l.contains("events.rs")), "{report:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
