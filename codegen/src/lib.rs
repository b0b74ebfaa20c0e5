//! `clawops-codegen`: turns `spec/openapi.yaml` and `spec/asyncapi.yaml` into the `clawops-api`
//! crate under `generated/`.
//!
//! The pipeline, in order:
//! 1. [`spec`] loads both documents and lints them for what the generators cannot take;
//! 2. [`open_enum`] collects every vocabulary marked `x-open-enum: true` and emits it as an enum
//!    that keeps unknown values;
//! 3. [`rest`] runs progenitor over the OpenAPI document (types + client);
//! 4. [`events`] runs typify over the AsyncAPI payload schemas and emits one tagged enum per
//!    channel direction;
//! 5. [`postpass`] makes `JsonSchema` optional (schemars 1.x behind a feature);
//! 6. [`output`] assembles and formats the files, writes them or checks them for drift.
//!
//! [`surface`] renders the public surface of the generated crate as text for snapshot tests and
//! API-evolution reports.

pub mod diff;
pub mod error;
pub mod events;
pub mod evolution;
pub mod names;
pub mod open_enum;
pub mod output;
pub mod postpass;
pub mod rest;
pub mod spec;
pub mod stats;
pub mod surface;

pub use error::{Error, Result};
