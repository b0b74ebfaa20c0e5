//! Syntax post-passes over generated items.
//!
//! progenitor and typify derive `schemars::JsonSchema` against schemars 0.8; the crate we ship
//! offers schemars 1.x behind its `schemars` feature instead. Every derive is rewritten to
//! `#[cfg_attr(feature = "schemars", derive(::schemars::JsonSchema))]`. typify writes
//! hand-made 0.8 impls for integer-enum newtypes; those cannot compile against 1.x, so the spec
//! lint forbids integer enums and this pass fails loudly if one appears anyway.

use std::collections::{BTreeMap, BTreeSet};

use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Item, Path, Token, parse_quote};

use crate::error::{Error, Result};

/// Applies every post-pass to `items`.
pub fn run(items: &mut [Item]) -> Result<()> {
    let mut pass = SchemarsPass::default();
    for item in items.iter_mut() {
        pass.visit_item_mut(item);
        DocLines.visit_item_mut(item);
    }
    match pass.problems.is_empty() {
        true => Ok(()),
        false => Err(Error(pass.problems.join("\n"))),
    }
}

#[derive(Default)]
struct SchemarsPass {
    problems: Vec<String>,
}

impl SchemarsPass {
    fn rewrite(&mut self, attrs: &mut Vec<Attribute>) {
        let mut out = Vec::with_capacity(attrs.len() + 1);
        for attr in attrs.drain(..) {
            if !attr.path().is_ident("derive") {
                out.push(attr);
                continue;
            }
            let Ok(paths) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
            else {
                out.push(attr);
                continue;
            };
            let is_schema = |p: &Path| p.segments.last().is_some_and(|s| s.ident == "JsonSchema");
            if !paths.iter().any(is_schema) {
                out.push(attr);
                continue;
            }
            let kept: Vec<&Path> = paths.iter().filter(|p| !is_schema(p)).collect();
            out.push(parse_quote!(#[derive(#(#kept),*)]));
            out.push(
                parse_quote!(#[cfg_attr(feature = "schemars", derive(::schemars::JsonSchema))]),
            );
        }
        *attrs = out;
    }
}

impl VisitMut for SchemarsPass {
    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        self.rewrite(&mut item.attrs);
        visit_mut::visit_item_struct_mut(self, item);
    }

    fn visit_item_enum_mut(&mut self, item: &mut syn::ItemEnum) {
        self.rewrite(&mut item.attrs);
        visit_mut::visit_item_enum_mut(self, item);
    }

    fn visit_item_impl_mut(&mut self, item: &mut syn::ItemImpl) {
        let ours = item.attrs.iter().any(|a| a.path().is_ident("cfg"));
        let schemars_impl = item.trait_.as_ref().is_some_and(|(path, _)| {
            path.segments
                .last()
                .is_some_and(|s| s.ident == "JsonSchema")
        });
        if schemars_impl && !ours {
            let ty = &item.self_ty;
            self.problems.push(format!(
                "a hand-written schemars 0.8 impl for `{}` was generated (integer enum or `not` schema in the spec?)",
                quote::quote!(#ty)
            ));
        }
        visit_mut::visit_item_impl_mut(self, item);
    }
}

/// Splits multi-line `#[doc]` attributes into one attribute per line, so they print as `///`
/// lines. prettyplease prints multi-line docs as indented `/** */` blocks, in which rustdoc reads
/// the indentation as a code block and then tries to compile progenitor's `ignore` examples.
struct DocLines;

fn split_docs(attrs: &mut Vec<Attribute>) {
    if !attrs
        .iter()
        .any(|a| doc_text(a).is_some_and(|t| t.contains('\n')))
    {
        return;
    }
    let mut out = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        match doc_text(&attr) {
            Some(text) if text.contains('\n') => {
                // Continuation lines are indented as the generator's source was; drop that.
                let indent = text
                    .lines()
                    .skip(1)
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.len() - l.trim_start().len())
                    .min()
                    .unwrap_or(0);
                for (i, line) in text.lines().enumerate() {
                    let line = if i == 0 || line.len() < indent {
                        line.trim_end()
                    } else {
                        &line[indent..]
                    };
                    let line = if line.is_empty() || line.starts_with(' ') {
                        line.to_owned()
                    } else {
                        format!(" {line}")
                    };
                    out.push(parse_quote!(#[doc = #line]));
                }
            }
            _ => out.push(attr),
        }
    }
    *attrs = out;
}

fn doc_text(attr: &Attribute) -> Option<String> {
    let syn::Meta::NameValue(nv) = &attr.meta else {
        return None;
    };
    if !nv.path.is_ident("doc") {
        return None;
    }
    match &nv.value {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        _ => None,
    }
}

macro_rules! split_in {
    ($($visit:ident: $ty:ty),* $(,)?) => {
        impl VisitMut for DocLines {
            $(fn $visit(&mut self, node: &mut $ty) {
                split_docs(&mut node.attrs);
                visit_mut::$visit(self, node);
            })*
        }
    };
}

split_in!(
    visit_item_struct_mut: syn::ItemStruct,
    visit_item_enum_mut: syn::ItemEnum,
    visit_item_fn_mut: syn::ItemFn,
    visit_item_impl_mut: syn::ItemImpl,
    visit_item_mod_mut: syn::ItemMod,
    visit_item_const_mut: syn::ItemConst,
    visit_item_type_mut: syn::ItemType,
    visit_item_trait_mut: syn::ItemTrait,
    visit_item_use_mut: syn::ItemUse,
    visit_impl_item_fn_mut: syn::ImplItemFn,
    visit_impl_item_const_mut: syn::ImplItemConst,
    visit_trait_item_fn_mut: syn::TraitItemFn,
    visit_field_mut: syn::Field,
    visit_variant_mut: syn::Variant,
);

/// Schema name → wire names of its properties marked `x-sensitive: true` (tokens, DTMF digits,
/// webhook secrets), over every component schema of `doc`.
pub fn sensitive_fields(doc: &serde_json::Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, schema) in crate::spec::schemas(doc) {
        for (prop, s) in schema
            .get("properties")
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flatten()
        {
            if s.get("x-sensitive").and_then(serde_json::Value::as_bool) == Some(true) {
                out.entry(crate::names::pascal(&name))
                    .or_default()
                    .insert(prop.clone());
            }
        }
    }
    out
}

/// Replaces the derived `Debug` of every struct holding a sensitive field (and of its typify
/// builder, which holds the same data) with one that prints `"<redacted>"` for that field, so
/// secrets never reach logs through `{:?}`.
pub fn redact_debug(
    items: &mut Vec<Item>,
    sensitive: &BTreeMap<String, BTreeSet<String>>,
) -> usize {
    let mut added = Vec::new();
    let mut count = 0;
    for item in items.iter_mut() {
        match item {
            Item::Struct(s) => {
                let Some(wire) = sensitive.get(&s.ident.to_string()) else {
                    continue;
                };
                let syn::Fields::Named(fields) = &s.fields else {
                    continue;
                };
                let is_sensitive = |f: &syn::Field| {
                    let ident = f.ident.as_ref().map(|i| i.to_string()).unwrap_or_default();
                    let ident = ident.trim_start_matches("r#");
                    let renamed = crate::surface::serde_rename(&f.attrs);
                    wire.iter().any(|w| {
                        renamed.as_deref() == Some(w.as_str())
                            || heck::ToSnakeCase::to_snake_case(w.as_str()) == ident
                    })
                };
                let entries: Vec<_> = fields
                    .named
                    .iter()
                    .filter_map(|f| {
                        let ident = f.ident.as_ref()?;
                        let label = ident.to_string().trim_start_matches("r#").to_owned();
                        Some(if is_sensitive(f) {
                            quote::quote! { .field(#label, &"<redacted>") }
                        } else {
                            quote::quote! { .field(#label, &self.#ident) }
                        })
                    })
                    .collect();
                if !remove_derive(&mut s.attrs, "Debug") {
                    continue;
                }
                let ident = &s.ident;
                let label = ident.to_string();
                added.push(parse_quote! {
                    impl ::std::fmt::Debug for #ident {
                        fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                            f.debug_struct(#label) #(#entries)* .finish()
                        }
                    }
                });
                count += 1;
            }
            Item::Mod(m) => {
                if let Some((_, inner)) = &mut m.content {
                    count += redact_debug(inner, sensitive);
                }
            }
            _ => {}
        }
    }
    items.extend(added);
    count
}

/// Removes `name` from the item's `#[derive(..)]` lists; whether it was there.
fn remove_derive(attrs: &mut [Attribute], name: &str) -> bool {
    let mut removed = false;
    for attr in attrs.iter_mut().filter(|a| a.path().is_ident("derive")) {
        let Ok(paths) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
        else {
            continue;
        };
        if paths.iter().any(|p| p.is_ident(name)) {
            let kept: Vec<&Path> = paths.iter().filter(|p| !p.is_ident(name)).collect();
            *attr = parse_quote!(#[derive(#(#kept),*)]);
            removed = true;
        }
    }
    removed
}

/// Docs of operation parameters: request builder name (`ListCalls`) → setter name (`page_size`,
/// `body`) → the spec's description.
pub fn parameter_docs(openapi: &serde_json::Value) -> BTreeMap<String, BTreeMap<String, String>> {
    use serde_json::Value;
    let mut out = BTreeMap::new();
    for (_, path, op) in crate::spec::operations(openapi) {
        let Some(id) = op.get("operationId").and_then(Value::as_str) else {
            continue;
        };
        let mut docs = BTreeMap::new();
        let pointer = format!(
            "/paths/{}/parameters",
            path.replace('~', "~0").replace('/', "~1")
        );
        let shared = openapi
            .pointer(&pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for p in shared.chain(
            op.get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        ) {
            let Ok(p) = crate::spec::deref(openapi, p) else {
                continue;
            };
            let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
            let place = p.get("in").and_then(Value::as_str).unwrap_or("query");
            let description = p
                .get("description")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or_default();
            let text = if description.is_empty() {
                format!("The `{name}` {place} parameter.")
            } else {
                format!("The `{name}` {place} parameter: {description}")
            };
            docs.insert(heck::ToSnakeCase::to_snake_case(name), text);
        }
        if let Some(body) = op
            .get("requestBody")
            .and_then(|b| crate::spec::deref(openapi, b).ok())
        {
            let description = body
                .get("description")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or_default();
            let text = if description.is_empty() {
                "The request body.".to_owned()
            } else {
                format!("The request body: {description}")
            };
            docs.insert("body".to_owned(), text);
        }
        out.insert(crate::names::pascal(id), docs);
    }
    out
}

/// Gives every public item that has no doc comment one, so the generated crate can
/// `#![deny(missing_docs)]`: setters of model builders take the doc of the field they set,
/// setters of request builders the spec's parameter description, and the rest a line naming
/// what the item is on the wire.
pub fn fill_docs(items: &mut [Item], parameters: &BTreeMap<String, BTreeMap<String, String>>) {
    let mut field_docs: BTreeMap<String, BTreeMap<String, Vec<Attribute>>> = BTreeMap::new();
    for item in items.iter() {
        if let Item::Struct(s) = item {
            let docs = s
                .fields
                .iter()
                .filter_map(|f| {
                    Some((
                        f.ident.as_ref()?.to_string(),
                        f.attrs
                            .iter()
                            .filter(|a| a.path().is_ident("doc"))
                            .cloned()
                            .collect(),
                    ))
                })
                .collect();
            field_docs.insert(s.ident.to_string(), docs);
        }
    }
    let mut filler = DocFill {
        field_docs,
        parameters,
        in_builder: false,
        current: String::new(),
    };
    for item in items.iter_mut() {
        filler.visit_item_mut(item);
    }
}

struct DocFill<'a> {
    field_docs: BTreeMap<String, BTreeMap<String, Vec<Attribute>>>,
    parameters: &'a BTreeMap<String, BTreeMap<String, String>>,
    in_builder: bool,
    current: String,
}

fn has_doc(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("doc"))
}

fn add_doc(attrs: &mut Vec<Attribute>, text: &str) {
    let line = format!(" {text}");
    attrs.insert(0, parse_quote!(#[doc = #line]));
}

fn is_public(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

impl VisitMut for DocFill<'_> {
    fn visit_item_mod_mut(&mut self, m: &mut syn::ItemMod) {
        let was = self.in_builder;
        self.in_builder = m.ident == "builder";
        if is_public(&m.vis) && !has_doc(&m.attrs) {
            let text = match m.ident.to_string().as_str() {
                "builder" => "Builders for the types of the parent module.".to_owned(),
                "error" => "Errors of conversions between generated types.".to_owned(),
                other => format!("The `{other}` module."),
            };
            add_doc(&mut m.attrs, &text);
        }
        visit_mut::visit_item_mod_mut(self, m);
        self.in_builder = was;
    }

    fn visit_item_struct_mut(&mut self, s: &mut syn::ItemStruct) {
        if is_public(&s.vis) && !has_doc(&s.attrs) {
            let text = if self.in_builder {
                format!("Builder for [`super::{}`].", s.ident)
            } else {
                format!("The `{}` schema of the spec.", s.ident)
            };
            add_doc(&mut s.attrs, &text);
        }
        for field in s.fields.iter_mut() {
            if is_public(&field.vis) && !has_doc(&field.attrs) {
                let text = match crate::surface::serde_rename(&field.attrs) {
                    Some(wire) => format!("Wire name `{wire}`."),
                    None => match &field.ident {
                        Some(ident) => format!(
                            "Wire name `{}`.",
                            ident.to_string().trim_start_matches("r#")
                        ),
                        None => "The wrapped value.".to_owned(),
                    },
                };
                add_doc(&mut field.attrs, &text);
            }
        }
    }

    fn visit_item_enum_mut(&mut self, e: &mut syn::ItemEnum) {
        if is_public(&e.vis) && !has_doc(&e.attrs) {
            add_doc(
                &mut e.attrs,
                &format!("The `{}` schema of the spec.", e.ident),
            );
        }
        for v in e.variants.iter_mut() {
            if !has_doc(&v.attrs) {
                let wire =
                    crate::surface::serde_rename(&v.attrs).unwrap_or_else(|| v.ident.to_string());
                add_doc(&mut v.attrs, &format!("`{wire}`"));
            }
        }
    }

    fn visit_item_impl_mut(&mut self, imp: &mut syn::ItemImpl) {
        if imp.trait_.is_some() {
            return;
        }
        let ty = &imp.self_ty;
        self.current = quote::quote!(#ty)
            .to_string()
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        visit_mut::visit_item_impl_mut(self, imp);
    }

    fn visit_impl_item_fn_mut(&mut self, f: &mut syn::ImplItemFn) {
        if !is_public(&f.vis) || has_doc(&f.attrs) {
            return;
        }
        let name = f.sig.ident.to_string();
        let owner = self.current.clone();
        if let Some(param) = self
            .parameters
            .get(&owner)
            .and_then(|p| p.get(name.trim_start_matches("r#")))
        {
            add_doc(&mut f.attrs, param);
            return;
        }
        let field_docs = self
            .field_docs
            .get(&owner)
            .and_then(|fields| fields.get(&name));
        if let Some(docs) = field_docs.filter(|d| self.in_builder && !d.is_empty()) {
            let mut docs = docs.clone();
            docs.append(&mut f.attrs);
            f.attrs = docs;
            return;
        }
        let text = match name.as_str() {
            "new" if self.parameters.contains_key(&owner) => {
                "Starts the request; [`super::Client`] has a method that calls this.".to_owned()
            }
            "new" => "Creates a new value.".to_owned(),
            "builder" => format!("Starts a [`builder::{owner}`] for this type."),
            "body_map" => "Changes the request body builder in place.".to_owned(),
            other => format!("Sets `{}`.", other.trim_start_matches("r#")),
        };
        add_doc(&mut f.attrs, &text);
    }
}
