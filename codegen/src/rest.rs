//! REST: progenitor over `spec/openapi.yaml`, split into the models (`types.rs`) and the client
//! (`client.rs`) so a tool can take the models without the HTTP stack.

use std::panic::{AssertUnwindSafe, catch_unwind};

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle, TypeImpl};
use serde_json::Value;

use crate::error::{Context, Error, Result};
use crate::open_enum::OpenEnum;
use crate::spec::{METHODS, is_skipped};

/// The client's built-in timeout in seconds (progenitor's `Client::new`); the handwritten
/// `clawops` layer builds its own `reqwest::Client` and passes it to `new_with_client`.
pub const CLIENT_TIMEOUT_SECS: u64 = 600;

/// progenitor's output, split.
#[derive(Debug)]
pub struct RestOutput {
    /// Items of progenitor's `mod types`: models only, no reqwest.
    pub types: Vec<syn::Item>,
    /// Everything else: `Client`, the operation methods, `builder`, `prelude`.
    pub client: Vec<syn::Item>,
}

/// The OpenAPI document progenitor sees: operations marked `x-codegen-skip` removed, and explicit
/// error codes folded into their `4XX`/`5XX` range when both share one body (they are documented in
/// the spec; in generated code they would only be unreachable match arms).
pub fn progenitor_input(openapi: &Value) -> Value {
    let mut doc = openapi.clone();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            if let Some(item) = item.as_object_mut() {
                for method in METHODS {
                    if item.get(method).is_some_and(is_skipped) {
                        item.remove(method);
                    }
                    if let Some(responses) = item
                        .get_mut(method)
                        .and_then(|op| op.get_mut("responses"))
                        .and_then(Value::as_object_mut)
                    {
                        fold_into_ranges(responses);
                    }
                }
            }
        }
        paths.retain(|_, item| METHODS.iter().any(|m| item.get(*m).is_some()));
    }
    doc
}

fn fold_into_ranges(responses: &mut serde_json::Map<String, Value>) {
    let folded: Vec<String> = responses
        .iter()
        .filter(|(code, body)| {
            let range = format!("{}XX", &code[..1]);
            code.len() == 3
                && !code.starts_with('2')
                && code.chars().all(|c| c.is_ascii_digit())
                && responses.get(&range) == Some(*body)
        })
        .map(|(code, _)| code.clone())
        .collect();
    for code in folded {
        responses.remove(&code);
    }
}

/// Runs progenitor. Open enums are replaced by the generator-owned types in `crate::types`.
pub fn generate(openapi: &Value, open_enums: &[OpenEnum]) -> Result<RestOutput> {
    let spec: openapiv3::OpenAPI = serde_json::from_value(progenitor_input(openapi))
        .context("spec/openapi.yaml is not an OpenAPI 3.0 document")?;
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq")
        .with_derive("schemars::JsonSchema")
        .with_map_type("::std::collections::BTreeMap")
        .with_timeout(CLIENT_TIMEOUT_SECS);
    for open in open_enums {
        settings.with_replacement(
            open.type_name(),
            format!("crate::types::{}", open.type_name()),
            [TypeImpl::Display, TypeImpl::FromStr].into_iter(),
        );
    }
    let mut generator = Generator::new(&settings);
    let tokens = catch_unwind(AssertUnwindSafe(|| generator.generate_tokens(&spec)))
        .map_err(|panic| Error(format!("progenitor panicked: {}", panic_text(&*panic))))?
        .context("progenitor")?;
    let file: syn::File = syn::parse2(tokens).context("progenitor output does not parse")?;
    let mut types = None;
    let mut client = Vec::new();
    for item in file.items {
        match item {
            syn::Item::Mod(m) if m.ident == "types" => types = m.content.map(|(_, items)| items),
            other => client.push(other),
        }
    }
    let types = types.ok_or_else(|| Error::msg("progenitor output has no `mod types`"))?;
    Ok(RestOutput { types, client })
}

/// The message of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned())
}
