//! One TOML table into one stage crate's `Deserialize` struct, with every error located.
//!
//! The main file is parsed once into spanned values ([`toml::de::DeTable`]); each table is then
//! deserialized on its own, straight from those values, so an error carries the span of the
//! key or value at fault. After an error the offending key is dropped and the table retried
//! (the key then takes its default), so one run reports every bad key of a table, not only the
//! first.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::problems::{File, Problems};

/// A TOML value with its span in the file.
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// Deserializes `value` into `T`, reporting each error under `entry` (a table name such as
/// `[dispatcher]`, or `source "ais"`) and the field at fault. `None` when the table could not
/// be deserialized even with its bad keys dropped.
pub(crate) fn typed<T: DeserializeOwned>(
    p: &mut Problems,
    f: &File,
    entry: &str,
    value: &Value<'_>,
) -> Option<T> {
    typed_with(p, f, entry, value, None, |d| T::deserialize(d))
}

/// As [`typed`], deserializing with `de`; an error the deserializer could not locate is put on
/// `fallback` (field name and span) when given, else on the whole table.
pub(crate) fn typed_with<'i, T>(
    p: &mut Problems,
    f: &File,
    entry: &str,
    value: &Value<'i>,
    fallback: Option<(&str, Range<usize>)>,
    de: impl Fn(ValueDeserializer<'i>) -> Result<T, toml::de::Error>,
) -> Option<T> {
    let mut value = value.clone();
    let mut dropped: Vec<String> = Vec::new();
    // Each round drops one key, so this ends; the bound is a guard.
    for _ in 0..=count_keys(value.get_ref()) {
        let err = match de(ValueDeserializer::from(value.clone())) {
            Ok(t) => return Some(t),
            Err(err) => err,
        };
        let message = err.message().trim().to_owned();
        if let Some(field) = backticked(&message, "missing field `") {
            // Missing because we dropped it for its own error: already reported.
            if !dropped.iter().any(|d| d == field) {
                p.at(f, value.span(), entry, field, "missing".into());
            }
            return None;
        }
        let span = err.span().unwrap_or_else(|| value.span());
        let path = key_path(value.get_ref(), &span);
        if path.is_empty() {
            match &fallback {
                Some((field, at)) if err.span().is_none() => {
                    p.at(f, at.clone(), entry, field, message);
                }
                // A `#[serde(tag = "kind")]` enum (`[[areas]]`) names no key of its own.
                _ if message.starts_with("unknown variant `")
                    && span_of(&value, "kind").is_some() =>
                {
                    let at = span_of(&value, "kind").unwrap_or_else(|| value.span());
                    p.at(f, at, entry, "kind", message);
                }
                _ => {
                    let field = backticked(&message, "unknown field `").unwrap_or("");
                    p.at(f, span, entry, field, message.clone());
                }
            }
            return None;
        }
        p.at(f, span, entry, &path.join("."), message);
        remove(value.get_mut(), &path);
        dropped.push(path.join("."));
    }
    None
}

/// Removes `key` from a table value, returning it.
pub(crate) fn take<'i>(value: &mut Value<'i>, key: &str) -> Option<Value<'i>> {
    match value.get_mut() {
        DeValue::Table(table) => table.remove(key),
        _ => None,
    }
}

/// Removes `keys` from a table value into a new table with the same span.
pub(crate) fn split_off<'i>(value: &mut Value<'i>, keys: &[&str]) -> Value<'i> {
    let mut out = DeTable::new();
    if let DeValue::Table(table) = value.get_mut() {
        for key in keys {
            if let Some((k, v)) = table.remove_entry(*key) {
                out.insert(k, v);
            }
        }
    }
    Spanned::new(value.span(), DeValue::Table(out))
}

/// The string of a value, when it is one.
pub(crate) fn as_str<'a>(value: &'a Value<'_>) -> Option<&'a str> {
    match value.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        _ => None,
    }
}

/// The span of `key`'s value in a table value.
pub(crate) fn span_of(value: &Value<'_>, key: &str) -> Option<Range<usize>> {
    match value.get_ref() {
        DeValue::Table(table) => table.get(key).map(Spanned::span),
        _ => None,
    }
}

/// The elements of an array value (an array of tables, `[[sources]]`), or `None`.
pub(crate) fn elements<'a, 'i>(value: &'a Value<'i>) -> Option<&'a [Value<'i>]> {
    match value.get_ref() {
        DeValue::Array(array) => Some(array),
        _ => None,
    }
}

/// The entries of a table value, or `None`.
pub(crate) fn entries<'a, 'i>(value: &'a Value<'i>) -> Option<Vec<(String, &'a Value<'i>)>> {
    match value.get_ref() {
        DeValue::Table(table) => Some(
            table
                .iter()
                .map(|(k, v)| (k.get_ref().to_string(), v))
                .collect(),
        ),
        _ => None,
    }
}

/// The keys leading to `span`: the innermost key whose name or value holds it.
fn key_path(value: &DeValue<'_>, span: &Range<usize>) -> Vec<String> {
    let DeValue::Table(table) = value else {
        return Vec::new();
    };
    let holds = |outer: Range<usize>| outer.start <= span.start && span.end <= outer.end;
    for (key, v) in table.iter() {
        if holds(key.span()) {
            return vec![key.get_ref().to_string()];
        }
        if holds(v.span()) {
            let mut path = vec![key.get_ref().to_string()];
            path.extend(key_path(v.get_ref(), span));
            return path;
        }
    }
    Vec::new()
}

fn remove(value: &mut DeValue<'_>, path: &[String]) {
    let DeValue::Table(table) = value else {
        return;
    };
    match path {
        [key] => {
            table.remove(key.as_str());
        }
        [key, rest @ ..] => {
            if let Some(inner) = table.get_mut(key.as_str()) {
                remove(inner.get_mut(), rest);
            }
        }
        [] => {}
    }
}

fn count_keys(value: &DeValue<'_>) -> usize {
    match value {
        DeValue::Table(table) => table.values().map(|v| 1 + count_keys(v.get_ref())).sum(),
        _ => 0,
    }
}

/// `name` from serde's "missing field `name`" / "unknown field `name`, expected ...".
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}
