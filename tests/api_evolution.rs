//! The API-evolution worked example: the 0.46.1 → 0.70.0 fixtures produce a report that names
//! every added operation and the `recipient` rename, with a breaking verdict, and
//! docs/api-evolution.md shows exactly that report.

use std::path::{Path, PathBuf};

use clawops_codegen::diff::{Impact, Report, Version};
use clawops_codegen::evolution;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn fixture_report() -> Report {
    let side = |name: &str| {
        evolution::load(
            &root(),
            root().join("tests/fixtures").join(name).to_str().unwrap(),
        )
        .unwrap()
    };
    let (old, new) = (side("spec-0.46.1"), side("spec-0.70.0"));
    Report::new(
        "tests/fixtures/spec-0.46.1",
        "tests/fixtures/spec-0.70.0",
        &old.specs,
        &new.specs,
        Some((&old.surface, &new.surface)),
    )
}

#[test]
fn the_0_46_to_0_70_report_names_every_added_operation_and_the_rename() {
    let report = fixture_report();
    assert_eq!(report.verdict(), Some(Impact::Breaking));
    let text = report.render(&Version::parse("0.1.0").unwrap());
    let added = [
        "list_kakao_channels",
        "get_kakao_channel",
        "request_kakao_channel_token",
        "connect_kakao_channel",
        "disconnect_kakao_channel",
        "list_kakao_templates",
        "list_kakao_channel_categories",
        "list_kakao_brand_templates",
        "upload_kakao_brand_image",
        "list_kakao_brand_images",
        "list_sender_numbers",
        "create_sender_number",
        "delete_sender_number",
    ];
    for op in added {
        let hit = report
            .changes
            .iter()
            .find(|c| c.text.starts_with(&format!("new operation `{op}`")));
        assert_eq!(
            hit.map(|c| c.impact),
            Some(Impact::Additive),
            "{op} missing from:\n{text}"
        );
    }
    assert_eq!(
        report
            .changes
            .iter()
            .filter(|c| c.text.starts_with("new operation"))
            .count(),
        13
    );
    for rename in [
        "schema `BlockedRecipient`: property `number` renamed to `recipient`",
        "schema `CreateBlockedRecipientRequest`: property `number` renamed to `recipient`",
        "operation `list_blocked_recipients`: query parameter `number` renamed to `recipient`",
    ] {
        let hit = report.changes.iter().find(|c| c.text == rename);
        assert_eq!(
            hit.map(|c| c.impact),
            Some(Impact::Breaking),
            "{rename} missing from:\n{text}"
        );
    }
    assert!(text.ends_with("Verdict: breaking; requires a minor bump: 0.1.0 -> 0.2.0 (a breaking change bumps the minor version while the major version is 0).\n"));
}

#[test]
fn the_docs_show_the_current_report() {
    let text = fixture_report().render(&Version::parse("0.1.0").unwrap());
    let docs = std::fs::read_to_string(root().join("docs/api-evolution.md")).unwrap();
    assert!(
        docs.contains(&text),
        "docs/api-evolution.md is out of date: paste the output of\n  cargo codegen --diff tests/fixtures/spec-0.46.1 --new tests/fixtures/spec-0.70.0 --previous-version 0.1.0"
    );
}
