//! Keeps `docs/incidents.md` true (issue 12): every row of the peer's incident tables is listed,
//! and every test it names exists. A separate test fails while a row is still `pending`.
//!
//! The row ids come from the facts sheets in `/work/shared/reference` when that directory exists
//! (a developer machine), and from the checked-in `tests/fixtures/incident_rows.txt` otherwise
//! (CI). When both are available they must agree, so the fixture cannot go stale.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const REFERENCE: &str = "/work/shared/reference";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One row of `docs/incidents.md`: id → test cell.
fn doc_rows() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(root().join("docs/incidents.md")).expect("docs/incidents.md");
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with("| id |") {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 4, "a row must have 4 cells: {line}");
        rows.push((cells[0].to_owned(), cells[3].to_owned()));
    }
    rows
}

/// The lines of `file` from the first line starting with `start` up to (excluding) the next
/// line starting with any of `ends`.
fn section<'a>(text: &'a str, start: &str, ends: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut on = false;
    for line in text.lines() {
        if on && ends.iter().any(|e| line.starts_with(e)) {
            break;
        }
        if line.starts_with(start) {
            on = true;
            continue;
        }
        if on {
            out.push(line);
        }
    }
    assert!(on, "section {start:?} not found");
    out
}

/// Body rows of the markdown tables in `lines` (header and separator rows skipped).
fn table_rows<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut rows = Vec::new();
    let mut header_seen = false;
    for line in lines {
        if !line.starts_with('|') {
            header_seen = false;
            continue;
        }
        if line.starts_with("|---") {
            continue;
        }
        if !header_seen {
            header_seen = true; // the header row of this table
            continue;
        }
        rows.push(line.trim_matches('|').split(" | ").map(str::trim).collect());
    }
    rows
}

/// `P<version>` id base of a `providers.md` §13 version cell.
fn provider_base(cell: &str) -> String {
    let pre = cell.starts_with("pre-");
    let version: String = cell
        .trim_start_matches("pre-")
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.');
    let parts: Vec<&str> = version.split('.').collect();
    let version = if parts.len() == 3 && parts[2] == "0" {
        format!("{}.{}", parts[0], parts[1])
    } else {
        version.to_owned()
    };
    format!("P{}{version}", if pre { "pre" } else { "" })
}

/// Row ids derived from the four source tables of the facts sheets.
fn ids_from_reference(dir: &Path) -> Vec<String> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("reference sheet");
    let mut ids = Vec::new();

    let agent = read("agent-protocol.md");
    for row in table_rows(&section(&agent, "## 13. Incidents", &["### 13.1"])) {
        let n: u32 = row[0].parse().expect("incident number");
        ids.push(format!("A{n}"));
    }
    let latent = table_rows(&section(&agent, "### 13.1", &["## 14", "-----"]));
    ids.extend((1..=latent.len()).map(|n| format!("L{n}")));

    let providers = read("providers.md");
    let bases: Vec<String> = table_rows(&section(&providers, "## 13. Provider", &["## 14"]))
        .iter()
        .map(|row| provider_base(row[0]))
        .collect();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for base in &bases {
        let total = bases.iter().filter(|b| *b == base).count();
        let n = seen.entry(base).or_default();
        *n += 1;
        if total == 1 {
            ids.push(base.clone());
        } else {
            ids.push(format!("{base}{}", (b'a' + (*n as u8) - 1) as char));
        }
    }

    let changes = read("changes-0.47-to-0.70.md");
    let rest = table_rows(&section(&changes, "## 9. REST-side", &["## 10", "-----"]));
    ids.extend((1..=rest.len()).map(|n| format!("C9.{n}")));

    let rest_api = read("rest-api.md");
    let retries = section(&rest_api, "### 1.6 Retries", &["### 1.7"]);
    let hazards = retries
        .iter()
        .skip_while(|l| !l.starts_with("Hazards"))
        .filter(|l| l.starts_with("* "))
        .count();
    ids.extend((1..=hazards).map(|n| format!("R1.6.{n}")));
    ids
}

fn ids_from_fixture() -> Vec<String> {
    std::fs::read_to_string(root().join("tests/fixtures/incident_rows.txt"))
        .expect("tests/fixtures/incident_rows.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The row ids every version of the doc must list.
fn required_ids() -> Vec<String> {
    let fixture = ids_from_fixture();
    let reference = Path::new(REFERENCE);
    if reference.join("agent-protocol.md").exists() {
        let derived = ids_from_reference(reference);
        assert_eq!(
            derived, fixture,
            "tests/fixtures/incident_rows.txt is out of date with the facts sheets"
        );
    }
    fixture
}

/// `name (file)` pairs of a test cell.
fn named_tests(cell: &str) -> Vec<(String, String)> {
    cell.split(';')
        .map(|part| {
            let part = part.trim();
            let (name, rest) = part
                .strip_prefix('`')
                .and_then(|p| p.split_once('`'))
                .unwrap_or_else(|| panic!("test cell entry not `name` (file): {part:?}"));
            let file = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or_else(|| panic!("missing (file) after `{name}`"));
            (name.to_owned(), file.to_owned())
        })
        .collect()
}

#[test]
fn every_row_of_the_four_incident_tables_is_in_the_doc() {
    let required = required_ids();
    assert_eq!(required.len(), 98, "50 + 13 + 21 + 11 + 3 rows");
    let rows = doc_rows();
    let listed: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "duplicate row ids in docs/incidents.md"
    );
    let missing: Vec<&String> = required
        .iter()
        .filter(|id| !unique.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "rows missing from docs/incidents.md: {missing:?}"
    );
    let stale: Vec<&&str> = listed
        .iter()
        .filter(|id| !required.iter().any(|r| r == *id))
        .collect();
    assert!(
        stale.is_empty(),
        "rows in docs/incidents.md that no table has: {stale:?}"
    );
}

#[test]
fn every_named_test_exists_and_every_reason_is_stated() {
    let mut problems = Vec::new();
    for (id, cell) in doc_rows() {
        if let Some(reason) = cell.strip_prefix("n/a:") {
            if reason.trim().len() < 10 {
                problems.push(format!("{id}: n/a without a reason"));
            }
            continue;
        }
        if cell.starts_with("pending:") {
            continue; // reported by `no_row_is_pending`
        }
        for (name, file) in named_tests(&cell) {
            if !name.starts_with(|c: char| c.is_ascii_lowercase())
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                problems.push(format!("{id}: `{name}` is not a snake_case function name"));
                continue;
            }
            if !(file.starts_with("tests/") || file.starts_with("src/")) {
                problems.push(format!("{id}: {file} is not under tests/ or src/"));
                continue;
            }
            match std::fs::read_to_string(root().join(&file)) {
                Ok(text) if text.contains(&format!("fn {name}(")) => {}
                Ok(_) => problems.push(format!("{id}: no `fn {name}` in {file}")),
                Err(e) => problems.push(format!("{id}: {file}: {e}")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/incidents.md:\n{}",
        problems.join("\n")
    );
}

/// Fails while a row waits for the Gemini, pipeline, MCP/tracing or operations work.
#[test]
fn no_row_is_pending() {
    let pending: Vec<String> = doc_rows()
        .into_iter()
        .filter(|(_, cell)| cell.starts_with("pending:"))
        .map(|(id, cell)| format!("{id} ({cell})"))
        .collect();
    assert!(
        pending.is_empty(),
        "{} rows of docs/incidents.md have no test yet: {}",
        pending.len(),
        pending.join(", ")
    );
}
