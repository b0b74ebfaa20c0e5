//! Open vocabularies: string enums that keep values this crate has never seen.
//!
//! typify only generates closed enums (its maintainers declined open ones), and the Python SDK
//! broke in production five times when a closed enum met a new server value. Every schema marked
//! `x-open-enum: true` is therefore replaced in typify's type space and emitted here instead, as
//! an enum with one variant per known value plus `Unknown(String)`.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::names::pascal;
use crate::spec::{is_open_enum, schemas};

/// One open vocabulary, as found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenEnum {
    /// Component schema name (also the Rust type name).
    pub name: String,
    /// The schema's description, if any.
    pub description: Option<String>,
    /// Known wire values, in spec order.
    pub values: Vec<String>,
    /// Variant names from `x-enum-varnames`, by wire value (a value not named here gets the
    /// PascalCase of its wire value). The spec may give a list parallel to `enum` or a map.
    pub varnames: BTreeMap<String, String>,
}

impl OpenEnum {
    /// Reads an `x-open-enum` component schema.
    pub fn from_schema(name: &str, schema: &Value) -> Self {
        Self {
            name: name.to_owned(),
            description: schema
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            values: schema
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            varnames: varnames(schema),
        }
    }

    /// Rust type name.
    pub fn type_name(&self) -> String {
        pascal(&self.name)
    }

    /// (variant identifier, wire value) pairs; fails when two values share a variant name or a
    /// value would take the name of the `Unknown` fallback.
    pub fn variants(&self) -> Result<Vec<(String, String)>> {
        let mut seen = BTreeMap::new();
        let mut out = Vec::new();
        if let Some(stray) = self.varnames.keys().find(|k| !self.values.contains(k)) {
            return Err(Error(format!(
                "open enum {}: x-enum-varnames names {stray:?}, which is not in `enum`",
                self.name
            )));
        }
        for value in &self.values {
            let variant = pascal(self.varnames.get(value).unwrap_or(value));
            if variant == "Unknown" {
                return Err(Error(format!(
                    "open enum {}: value {value:?} would shadow the Unknown(String) fallback; \
                     name its variant with `x-enum-varnames`",
                    self.name
                )));
            }
            if let Some(other) = seen.insert(variant.clone(), value.clone()) {
                return Err(Error(format!(
                    "open enum {}: values {other:?} and {value:?} both become variant {variant}",
                    self.name
                )));
            }
            out.push((variant, value.clone()));
        }
        Ok(out)
    }

    /// The enum and its impls.
    pub fn to_tokens(&self) -> Result<TokenStream> {
        let name = format_ident!("{}", self.type_name());
        let variants = self.variants()?;
        let idents: Vec<_> = variants
            .iter()
            .map(|(v, _)| format_ident!("{}", v))
            .collect();
        let values: Vec<&String> = variants.iter().map(|(_, w)| w).collect();
        let variant_docs: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        let description = self
            .description
            .clone()
            .unwrap_or_else(|| format!("The `{}` vocabulary.", self.name));
        let doc = format!(
            "{description}\n\nOpen vocabulary: a value the server sends that this crate does not know \
             deserializes to [`{n}::Unknown`] and serializes back unchanged.",
            n = self.type_name()
        );
        let schema_doc = format!(
            "{description} Known values: {}.",
            values
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let type_name = self.type_name();
        let expecting = format!("a {} string", self.name);
        Ok(quote! {
            #[doc = #doc]
            #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub enum #name {
                #( #[doc = #variant_docs] #idents, )*
                /// A value this crate did not know when it was generated, kept verbatim.
                Unknown(::std::string::String),
            }

            impl #name {
                /// Every wire value known when this crate was generated, in spec order.
                pub const KNOWN_VALUES: &'static [&'static str] = &[#(#values),*];

                /// The wire value.
                pub fn as_str(&self) -> &str {
                    match self {
                        #( Self::#idents => #values, )*
                        Self::Unknown(value) => value.as_str(),
                    }
                }

                /// Whether this value was unknown when the crate was generated.
                pub fn is_unknown(&self) -> bool {
                    matches!(self, Self::Unknown(_))
                }

                fn known(value: &str) -> ::std::option::Option<Self> {
                    match value {
                        #( #values => ::std::option::Option::Some(Self::#idents), )*
                        _ => ::std::option::Option::None,
                    }
                }
            }

            impl ::std::convert::From<&str> for #name {
                fn from(value: &str) -> Self {
                    Self::known(value).unwrap_or_else(|| Self::Unknown(value.to_owned()))
                }
            }

            impl ::std::convert::From<::std::string::String> for #name {
                fn from(value: ::std::string::String) -> Self {
                    Self::known(&value).unwrap_or(Self::Unknown(value))
                }
            }

            impl ::std::str::FromStr for #name {
                type Err = ::std::convert::Infallible;
                fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                    ::std::result::Result::Ok(Self::from(value))
                }
            }

            impl ::std::convert::AsRef<str> for #name {
                fn as_ref(&self) -> &str {
                    self.as_str()
                }
            }

            impl ::std::fmt::Display for #name {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }

            impl ::serde::Serialize for #name {
                fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                    serializer.serialize_str(self.as_str())
                }
            }

            impl<'de> ::serde::Deserialize<'de> for #name {
                fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                    struct Visitor;
                    impl ::serde::de::Visitor<'_> for Visitor {
                        type Value = #name;
                        fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                            f.write_str(#expecting)
                        }
                        fn visit_str<E: ::serde::de::Error>(self, value: &str) -> ::std::result::Result<#name, E> {
                            ::std::result::Result::Ok(#name::from(value))
                        }
                        fn visit_string<E: ::serde::de::Error>(self, value: ::std::string::String) -> ::std::result::Result<#name, E> {
                            ::std::result::Result::Ok(#name::from(value))
                        }
                    }
                    deserializer.deserialize_str(Visitor)
                }
            }

            #[cfg(feature = "schemars")]
            impl ::schemars::JsonSchema for #name {
                fn schema_name() -> ::std::borrow::Cow<'static, str> {
                    ::std::borrow::Cow::Borrowed(#type_name)
                }
                fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                    ::schemars::json_schema!({
                        "type": "string",
                        "description": #schema_doc,
                        "examples": [#(#values),*]
                    })
                }
            }
        })
    }
}

/// `x-enum-varnames` as value → variant name: a list parallel to `enum`, or a map.
fn varnames(schema: &Value) -> BTreeMap<String, String> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    match schema.get("x-enum-varnames") {
        Some(Value::Array(names)) => schema
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .zip(names)
            .filter_map(|(value, name)| Some((text(value)?, text(name)?)))
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Every `x-open-enum` component schema of a document, in name order.
pub fn collect(doc: &Value) -> Vec<OpenEnum> {
    let mut out: Vec<OpenEnum> = schemas(doc)
        .iter()
        .filter(|(_, schema)| is_open_enum(schema))
        .map(|(name, schema)| OpenEnum::from_schema(name, schema))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
