//! Coverage counts printed by `cargo codegen --stats`.

use std::fmt;

use crate::output::Generated;
use crate::spec::{Specs, is_skipped, operations, schemas};

/// What the specs cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// REST operations in the spec.
    pub operations: usize,
    /// Operations progenitor generates methods for.
    pub generated_operations: usize,
    /// Operations left to the handwritten layer (`x-codegen-skip`), as `METHOD path`.
    pub skipped: Vec<String>,
    /// REST component schemas.
    pub rest_schemas: usize,
    /// AsyncAPI component schemas.
    pub ws_schemas: usize,
    /// Open vocabularies, REST and AsyncAPI-only.
    pub open_enums: usize,
    /// (enum name, channel, message count).
    pub directions: Vec<(String, String, usize)>,
}

impl Stats {
    /// Counts the specs and the generator's view of them.
    pub fn of(specs: &Specs, generated: &Generated) -> Self {
        let ops = operations(&specs.openapi);
        let skipped: Vec<String> = ops
            .iter()
            .filter(|(_, _, op)| is_skipped(op))
            .map(|(m, p, _)| format!("{} {p}", m.to_uppercase()))
            .collect();
        let shared = generated
            .ws_open
            .iter()
            .filter(|w| generated.rest_open.iter().any(|r| r.name == w.name))
            .count();
        Self {
            operations: ops.len(),
            generated_operations: ops.len() - skipped.len(),
            skipped,
            rest_schemas: schemas(&specs.openapi).len(),
            ws_schemas: schemas(&specs.asyncapi).len(),
            open_enums: generated.rest_open.len() + generated.ws_open.len() - shared,
            directions: generated
                .directions
                .iter()
                .map(|d| (d.enum_name.clone(), d.channel.clone(), d.variants.len()))
                .collect(),
        }
    }

    /// Messages over all directions.
    pub fn messages(&self) -> usize {
        self.directions.iter().map(|(_, _, n)| n).sum()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "REST operations:      {} ({} generated, {} handwritten)",
            self.operations,
            self.generated_operations,
            self.skipped.len()
        )?;
        for s in &self.skipped {
            writeln!(f, "  handwritten:        {s}")?;
        }
        writeln!(f, "REST schemas:         {}", self.rest_schemas)?;
        writeln!(f, "WebSocket schemas:    {}", self.ws_schemas)?;
        writeln!(f, "open vocabularies:    {}", self.open_enums)?;
        writeln!(f, "WebSocket messages:   {}", self.messages())?;
        for (name, channel, n) in &self.directions {
            writeln!(f, "  {name:<15} {channel:<8} {n}")?;
        }
        Ok(())
    }
}
