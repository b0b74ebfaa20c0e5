//! WebSocket messages: typify over the AsyncAPI payload schemas, then one tagged enum per
//! channel direction (`ControlEvent`, `ControlCommand`, `MediaEvent`, `MediaCommand`), emitted
//! here because no maintained AsyncAPI generator for Rust exists.
//!
//! The `event` discriminator is taken out of each payload schema before typify sees it: payload
//! structs carry only their data, and the direction enum writes and reads the tag. An unknown
//! `event` (or none) becomes the enum's `Unknown(serde_json::Value)`, never an error; a known
//! event with a malformed payload is an error, so schema drift is never hidden.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::{Map, Value};
use typify::{TypeSpace, TypeSpaceImpl, TypeSpaceSettings};

use crate::error::{Context, Error, Result};
use crate::names::pascal;
use crate::open_enum::OpenEnum;
use crate::rest::panic_text;
use crate::spec::{deref, event_name, ref_name, resolve};

/// One generated direction enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direction {
    /// AsyncAPI operation id.
    pub operation: String,
    /// Rust enum name (`x-rust-enum`).
    pub enum_name: String,
    /// Channel name.
    pub channel: String,
    /// Operation description.
    pub description: String,
    /// Variants in spec order.
    pub variants: Vec<Variant>,
}

/// One message of a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Variant identifier (the message's component name).
    pub ident: String,
    /// The wire `event` value.
    pub event: String,
    /// Payload schema name (also its Rust type name, after [`pascal`]).
    pub payload: String,
    /// Message summary.
    pub summary: String,
    /// The message's first example payload, if any.
    pub example: Option<Value>,
}

/// Reads the direction enums from the AsyncAPI `operations` that carry `x-rust-enum`.
pub fn directions(asyncapi: &Value) -> Result<Vec<Direction>> {
    let mut out = Vec::new();
    for (op_name, op) in asyncapi
        .get("operations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(enum_name) = op.get("x-rust-enum").and_then(Value::as_str) else {
            continue;
        };
        let channel = op
            .pointer("/channel/$ref")
            .and_then(Value::as_str)
            .map(ref_name)
            .unwrap_or_default();
        let description = op
            .get("description")
            .or_else(|| op.get("summary"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned();
        let mut variants = Vec::new();
        for message_ref in op
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let reference = last_ref(asyncapi, message_ref)?;
            let message = deref(asyncapi, message_ref)?;
            let payload_ref = message
                .pointer("/payload/$ref")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Error(format!(
                        "{op_name}: message {reference} payload is not a $ref"
                    ))
                })?;
            let payload = resolve(asyncapi, payload_ref)
                .ok_or_else(|| Error(format!("unresolved {payload_ref}")))?;
            let event = event_name(payload)
                .ok_or_else(|| Error(format!("{payload_ref}: no `event` const")))?;
            let summary = message
                .get("summary")
                .or_else(|| message.get("title"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_owned();
            let example = message.pointer("/examples/0/payload").cloned();
            variants.push(Variant {
                ident: pascal(ref_name(&reference)),
                event: event.to_owned(),
                payload: ref_name(payload_ref).to_owned(),
                summary,
                example,
            });
        }
        out.push(Direction {
            operation: op_name.clone(),
            enum_name: enum_name.to_owned(),
            channel: channel.to_owned(),
            description,
            variants,
        });
    }
    Ok(out)
}

/// The last `$ref` on the way from `value` to its target (the component's own path).
fn last_ref(doc: &Value, value: &Value) -> Result<String> {
    let mut current = value;
    let mut last = String::new();
    for _ in 0..32 {
        match current.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                last = r.to_owned();
                current = resolve(doc, r).ok_or_else(|| Error(format!("unresolved $ref {r}")))?;
            }
            None => return Ok(last),
        }
    }
    Err(Error::msg("$ref chain longer than 32"))
}

/// Rewrites `const: X` to `enum: [X]` everywhere (typify 0.8 drops `const`).
fn const_to_enum(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(c) = map.remove("const") {
                map.insert("enum".into(), Value::Array(vec![c]));
            }
            for (key, child) in map.iter_mut() {
                if key != "examples" && key != "example" {
                    const_to_enum(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(const_to_enum),
        _ => {}
    }
}

/// The schemas typify sees: payloads lose their `event` property, `const` becomes `enum`.
///
/// Also returns the payloads left with no property at all (`clear`, …): typify would make those a
/// transparent JSON map, which would swallow the `event` key and write it twice, so they are
/// emitted as empty structs instead.
pub fn typify_input(
    asyncapi: &Value,
    directions: &[Direction],
) -> Result<(Map<String, Value>, Vec<String>)> {
    let mut schemas = crate::spec::schemas(asyncapi);
    let mut empty = Vec::new();
    for payload in directions
        .iter()
        .flat_map(|d| d.variants.iter().map(|v| &v.payload))
    {
        if let Some(schema) = schemas.get_mut(payload) {
            if schema.get("additionalProperties").is_some()
                || schema.get("patternProperties").is_some()
            {
                return Err(Error(format!(
                    "asyncapi payload {payload}: additionalProperties on a message payload would capture the `event` tag; \
                     put free-form data in a named property"
                )));
            }
            if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                props.remove("event");
            }
            if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
                required.retain(|r| r != "event");
                if required.is_empty() {
                    schema.as_object_mut().map(|o| o.remove("required"));
                }
            }
            let no_props = schema
                .get("properties")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty);
            if no_props && !empty.contains(payload) {
                empty.push(payload.clone());
            }
        }
    }
    for schema in schemas.values_mut() {
        const_to_enum(schema);
    }
    Ok((schemas, empty))
}

fn empty_payload_tokens(name: &str, schema: Option<&Value>) -> TokenStream {
    let ident = format_ident!("{}", pascal(name));
    let doc = schema
        .and_then(|s| s.get("description"))
        .and_then(Value::as_str)
        .map_or_else(
            || format!("Payload of message `{name}` (no fields)."),
            str::to_owned,
        );
    quote! {
        #[doc = #doc]
        #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default, PartialEq, Eq)]
        #[cfg_attr(feature = "schemars", derive(::schemars::JsonSchema))]
        pub struct #ident {}
    }
}

/// Items of `events.rs`.
pub fn generate(
    asyncapi: &Value,
    rest_open: &[OpenEnum],
    ws_open: &[OpenEnum],
    directions: &[Direction],
) -> Result<Vec<syn::Item>> {
    let rest_by_name: BTreeMap<&str, &OpenEnum> =
        rest_open.iter().map(|o| (o.name.as_str(), o)).collect();
    let mut settings = TypeSpaceSettings::default();
    settings
        .with_derive("PartialEq".to_owned())
        .with_derive("schemars::JsonSchema".to_owned())
        .with_map_type("::std::collections::BTreeMap")
        .with_struct_builder(true);
    let mut own_open = Vec::new();
    for open in ws_open {
        let module = match rest_by_name.get(open.name.as_str()) {
            Some(rest) if rest.values == open.values => "types",
            Some(rest) => {
                return Err(Error(format!(
                    "open enum {} differs between the specs: REST {:?}, AsyncAPI {:?}; one vocabulary needs one list",
                    open.name, rest.values, open.values
                )));
            }
            None => {
                own_open.push(open);
                "events"
            }
        };
        settings.with_replacement(
            open.type_name(),
            format!("crate::{module}::{}", open.type_name()),
            [TypeSpaceImpl::Display, TypeSpaceImpl::FromStr].into_iter(),
        );
    }
    let (input, empty) = typify_input(asyncapi, directions)?;
    for name in &empty {
        settings.with_replacement(
            pascal(name),
            format!("crate::events::{}", pascal(name)),
            std::iter::empty(),
        );
    }
    let defs = input
        .into_iter()
        .map(|(name, schema)| {
            serde_json::from_value::<schemars::schema::Schema>(schema)
                .context(format!("asyncapi schema {name}"))
                .map(|s| (name, s))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut space = TypeSpace::new(&settings);
    catch_unwind(AssertUnwindSafe(|| space.add_ref_types(defs)))
        .map_err(|panic| Error(format!("typify panicked: {}", panic_text(&*panic))))?
        .context("typify")?;
    let file: syn::File = syn::parse2(space.to_stream()).context("typify output does not parse")?;
    let mut tokens = TokenStream::new();
    for open in own_open {
        tokens.extend(open.to_tokens()?);
    }
    let originals = crate::spec::schemas(asyncapi);
    for name in &empty {
        tokens.extend(empty_payload_tokens(name, originals.get(name)));
    }
    tokens.extend(support_tokens());
    for direction in directions {
        tokens.extend(direction_tokens(direction));
    }
    let extra: syn::File = syn::parse2(tokens).context("emitted event enums do not parse")?;
    Ok(file.items.into_iter().chain(extra.items).collect())
}

fn support_tokens() -> TokenStream {
    quote! {
        /// Writes a payload with its `event` tag first.
        #[derive(::serde::Serialize)]
        struct Tagged<'a, T: ::serde::Serialize> {
            event: &'static str,
            #[serde(flatten)]
            payload: &'a T,
        }

        /// Reads only the `event` tag of a frame.
        #[derive(::serde::Deserialize)]
        struct EventTag<'a> {
            #[serde(borrow, default)]
            event: ::std::option::Option<::std::borrow::Cow<'a, str>>,
        }
    }
}

fn direction_tokens(direction: &Direction) -> TokenStream {
    let name = format_ident!("{}", direction.enum_name);
    let idents: Vec<_> = direction
        .variants
        .iter()
        .map(|v| format_ident!("{}", v.ident))
        .collect();
    let payloads: Vec<_> = direction
        .variants
        .iter()
        .map(|v| format_ident!("{}", pascal(&v.payload)))
        .collect();
    let events: Vec<&String> = direction.variants.iter().map(|v| &v.event).collect();
    let docs: Vec<String> = direction
        .variants
        .iter()
        .map(|v| {
            if v.summary.is_empty() {
                format!("`{}`", v.event)
            } else {
                format!("`{}`: {}", v.event, v.summary)
            }
        })
        .collect();
    let doc = format!(
        "{}\n\nTagged by the frame's `event` field. An unknown `event`, or a frame without one, \
         becomes [`{n}::Unknown`] with the frame kept verbatim; a known event whose payload does \
         not match its schema is a deserialization error.",
        if direction.description.is_empty() {
            format!("Messages of operation `{}`.", direction.operation)
        } else {
            direction.description.clone()
        },
        n = direction.enum_name
    );
    let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
    for v in &direction.variants {
        *counts.entry(&v.payload).or_default() += 1;
    }
    let from_impls = direction
        .variants
        .iter()
        .filter(|v| counts[&v.payload] == 1)
        .map(|v| {
            let ident = format_ident!("{}", v.ident);
            let payload = format_ident!("{}", pascal(&v.payload));
            quote! {
                impl ::std::convert::From<#payload> for #name {
                    fn from(payload: #payload) -> Self {
                        Self::#ident(payload)
                    }
                }
            }
        });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum #name {
            #( #[doc = #docs] #idents(#payloads), )*
            /// A frame whose `event` this crate does not know (or that has none), kept verbatim.
            Unknown(::serde_json::Value),
        }

        impl #name {
            /// Every `event` value this enum knows, in spec order.
            pub const KNOWN_EVENTS: &'static [&'static str] = &[#(#events),*];

            /// The frame's `event` value (for `Unknown`, whatever string the frame carried).
            pub fn event(&self) -> ::std::option::Option<&str> {
                match self {
                    #( Self::#idents(_) => ::std::option::Option::Some(#events), )*
                    Self::Unknown(value) => value.get("event").and_then(::serde_json::Value::as_str),
                }
            }

            /// Parses one text frame. Reads the `event` tag first, then the payload straight from
            /// the text, without an intermediate `serde_json::Value` for known events.
            pub fn from_json(text: &str) -> ::std::result::Result<Self, ::serde_json::Error> {
                let tag = ::serde_json::from_str::<EventTag<'_>>(text).ok();
                match tag.as_ref().and_then(|t| t.event.as_deref()) {
                    #( ::std::option::Option::Some(#events) => ::serde_json::from_str(text).map(Self::#idents), )*
                    _ => ::serde_json::from_str(text).map(Self::Unknown),
                }
            }

            /// Writes the frame as JSON text, `event` first.
            pub fn to_json(&self) -> ::std::result::Result<::std::string::String, ::serde_json::Error> {
                ::serde_json::to_string(self)
            }

            /// Converts a parsed JSON value.
            pub fn from_value(value: ::serde_json::Value) -> ::std::result::Result<Self, ::serde_json::Error> {
                let event = value.get("event").and_then(::serde_json::Value::as_str).map(str::to_owned);
                match event.as_deref() {
                    #( ::std::option::Option::Some(#events) => ::serde_json::from_value(value).map(Self::#idents), )*
                    _ => ::std::result::Result::Ok(Self::Unknown(value)),
                }
            }
        }

        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                match self {
                    #( Self::#idents(payload) => Tagged { event: #events, payload }.serialize(serializer), )*
                    Self::Unknown(value) => value.serialize(serializer),
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                let value = <::serde_json::Value as ::serde::Deserialize>::deserialize(deserializer)?;
                Self::from_value(value).map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }

        #( #from_impls )*
    }
}
