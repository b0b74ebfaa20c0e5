//! The public surface of the generated crate, rendered as stable, reviewable text.
//!
//! It is read back from the generated Rust itself (not from the spec), so a codegen change that
//! alters the API without a spec change shows up too. Used by the insta snapshot tests and by
//! API-evolution reports.

use std::fmt::Write as _;

use quote::ToTokens;
use syn::{Fields, Item, Type};

use crate::error::{Context, Result};

/// One line per REST operation, then its parameters, body and response types.
///
/// Reads `client.rs`: the `impl Client` methods (their docs name method and path) and the
/// `builder` structs (their fields are the parameters; `send` gives the response type).
pub fn operations(client_rs: &str) -> Result<String> {
    let file = syn::parse_file(client_rs).context("client.rs does not parse")?;
    let mut methods = Vec::new();
    let mut returns = std::collections::BTreeMap::new();
    let mut params = std::collections::BTreeMap::new();
    for item in &file.items {
        match item {
            Item::Impl(imp) if imp.trait_.is_none() && type_text(&imp.self_ty) == "Client" => {
                for it in &imp.items {
                    if let syn::ImplItem::Fn(f) = it {
                        let docs = docs(&f.attrs);
                        if let Some(line) = docs.iter().find(|d| d.starts_with("Sends a `")) {
                            methods.push((f.sig.ident.to_string(), line.clone()));
                        }
                    }
                }
            }
            Item::Mod(m) if m.ident == "builder" => {
                let Some((_, items)) = &m.content else {
                    continue;
                };
                for it in items {
                    match it {
                        Item::Struct(s) => {
                            let list: Vec<(String, String)> = s
                                .fields
                                .iter()
                                .filter_map(|f| {
                                    Some((f.ident.as_ref()?.to_string(), type_text(&f.ty)))
                                })
                                .filter(|(n, _)| n != "client")
                                .collect();
                            params.insert(s.ident.to_string(), list);
                        }
                        Item::Impl(imp) => {
                            let name = type_text(&imp.self_ty).trim_end_matches("<'a>").to_owned();
                            for it in &imp.items {
                                if let syn::ImplItem::Fn(f) = it
                                    && f.sig.ident == "send"
                                {
                                    let output = match &f.sig.output {
                                        syn::ReturnType::Type(_, ty) => type_text(ty),
                                        syn::ReturnType::Default => "()".into(),
                                    };
                                    returns.insert(name.clone(), output);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = String::new();
    for (op, doc) in methods {
        let request = doc.split('`').collect::<Vec<_>>();
        let (method, path) = (
            request.get(1).copied().unwrap_or("?"),
            request.get(3).copied().unwrap_or("?"),
        );
        let _ = writeln!(out, "{op}: {method} {path}");
        let builder = heck::ToPascalCase::to_pascal_case(op.as_str());
        for (name, ty) in params.get(&builder).into_iter().flatten() {
            let ty = ty
                .strip_prefix("Result<")
                .and_then(|t| t.strip_suffix(",String>"))
                .unwrap_or(ty)
                .to_owned();
            let (ty, need) = match ty.strip_prefix("Option<").and_then(|t| t.strip_suffix('>')) {
                Some(inner) => (inner.to_owned(), "optional"),
                None => (ty, "required"),
            };
            let ty = ty.strip_prefix("builder::").unwrap_or(&ty).to_owned();
            let kind = if name == "body" { "body " } else { "param" };
            let _ = writeln!(out, "  {kind} {name}: {ty} ({need})");
        }
        if let Some(ret) = returns.get(&builder) {
            let _ = writeln!(out, "  returns {ret}");
        }
    }
    Ok(out)
}

/// One block per public type of a models file (`types.rs` or `events.rs`): structs with their
/// fields and wire names, closed enums with their wire values, open enums with their known values,
/// message enums with their events. Builders and conversion helpers are left out.
pub fn types(models_rs: &str) -> Result<String> {
    let file = syn::parse_file(models_rs).context("models file does not parse")?;
    let mut out = String::new();
    let mut known_values = std::collections::BTreeMap::new();
    let mut known_events = std::collections::BTreeMap::new();
    for item in &file.items {
        if let Item::Impl(imp) = item {
            for it in &imp.items {
                if let syn::ImplItem::Const(c) = it {
                    let list = strings_in(&c.expr);
                    let name = type_text(&imp.self_ty);
                    match c.ident.to_string().as_str() {
                        "KNOWN_VALUES" => known_values.insert(name, list),
                        "KNOWN_EVENTS" => known_events.insert(name, list),
                        _ => None,
                    };
                }
            }
        }
    }
    for item in &file.items {
        match item {
            Item::Struct(s) if is_pub(&s.vis) => match &s.fields {
                Fields::Named(named) => {
                    let _ = writeln!(out, "struct {}", s.ident);
                    for f in &named.named {
                        let ident = f.ident.as_ref().map(|i| i.to_string()).unwrap_or_default();
                        let ident = ident.trim_start_matches("r#");
                        let serde = serde_args(&f.attrs);
                        let wire =
                            serde_value(&serde, "rename").unwrap_or_else(|| ident.to_owned());
                        let flags = if serde.contains("flatten") {
                            " (flattened)"
                        } else {
                            ""
                        };
                        let _ =
                            writeln!(out, "  {ident}: {} = \"{wire}\"{flags}", type_text(&f.ty));
                    }
                }
                Fields::Unnamed(unnamed) => {
                    let tys: Vec<String> =
                        unnamed.unnamed.iter().map(|f| type_text(&f.ty)).collect();
                    let _ = writeln!(out, "newtype {}({})", s.ident, tys.join(", "));
                }
                Fields::Unit => {
                    let _ = writeln!(out, "struct {} (unit)", s.ident);
                }
            },
            Item::Enum(e) if is_pub(&e.vis) => {
                let name = e.ident.to_string();
                if let Some(values) = known_values.get(&name) {
                    let _ = writeln!(out, "open enum {name}: {}", values.join(" | "));
                } else if let Some(events) = known_events.get(&name) {
                    let _ = writeln!(out, "message enum {name}");
                    let variants: Vec<&syn::Variant> =
                        e.variants.iter().filter(|v| v.ident != "Unknown").collect();
                    for (v, event) in variants.iter().zip(events) {
                        let payload = v
                            .fields
                            .iter()
                            .map(|f| type_text(&f.ty))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let _ = writeln!(out, "  \"{event}\" => {}({payload})", v.ident);
                    }
                    let _ = writeln!(out, "  (any other event) => Unknown(serde_json::Value)");
                } else {
                    let serde = serde_args(&e.attrs);
                    let tagging = if serde.contains("untagged") {
                        " (untagged)"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "enum {name}{tagging}");
                    for v in &e.variants {
                        let wire = serde_value(&serde_args(&v.attrs), "rename")
                            .unwrap_or_else(|| v.ident.to_string());
                        let payload = v
                            .fields
                            .iter()
                            .map(|f| type_text(&f.ty))
                            .collect::<Vec<_>>();
                        let payload = if payload.is_empty() {
                            String::new()
                        } else {
                            format!("({})", payload.join(", "))
                        };
                        let _ = writeln!(out, "  {}{payload} = \"{wire}\"", v.ident);
                    }
                }
            }
            Item::Type(t) if is_pub(&t.vis) => {
                let _ = writeln!(out, "type {} = {}", t.ident, type_text(&t.ty));
            }
            _ => {}
        }
    }
    Ok(out)
}

fn is_pub(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

/// A type as compact text with the `::std::…` and `crate::…` prefixes dropped.
pub fn type_text(ty: &Type) -> String {
    let mut text: String = ty
        .to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    for prefix in [
        "::std::string::",
        "::std::option::",
        "::std::vec::",
        "::std::collections::",
        "::std::num::",
        "std::num::",
        "crate::types::",
        "crate::events::",
        "types::",
        "::serde_json::",
    ] {
        let replacement = if prefix == "::serde_json::" {
            "serde_json::"
        } else {
            ""
        };
        text = text.replace(prefix, replacement);
    }
    text
}

fn docs(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn serde_args(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .filter_map(|a| match &a.meta {
            syn::Meta::List(list) => Some(list.tokens.to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `#[serde(rename = "…")]` of a field or variant, if any.
pub fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    serde_value(&serde_args(attrs), "rename")
}

fn serde_value(args: &str, key: &str) -> Option<String> {
    let start = args.find(&format!("{key} = \""))? + key.len() + 4;
    let end = args[start..].find('"')?;
    Some(args[start..start + end].to_owned())
}

fn strings_in(expr: &syn::Expr) -> Vec<String> {
    let mut out = Vec::new();
    let text = expr.to_token_stream();
    for token in text.into_iter().flat_map(flatten_tokens) {
        if let Ok(lit) = syn::parse2::<syn::LitStr>(token.into_token_stream()) {
            out.push(lit.value());
        }
    }
    out
}

fn flatten_tokens(tree: proc_macro2::TokenTree) -> Vec<proc_macro2::TokenTree> {
    match tree {
        proc_macro2::TokenTree::Group(g) => {
            g.stream().into_iter().flat_map(flatten_tokens).collect()
        }
        other => vec![other],
    }
}
