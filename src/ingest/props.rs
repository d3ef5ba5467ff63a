//! An event's `props` and `value` as read from its line (contract,
//! "Events"): at most 30 keys of 1..64 characters, each value a string of
//! at most 256 characters, a number or a boolean. Strings borrow from the
//! line when they have no escapes.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

/// Most keys an event's props may have.
pub(crate) const MAX_KEYS: usize = 30;
/// Longest key, in characters.
pub(crate) const MAX_KEY_CHARS: usize = 64;
/// Longest string value, in characters.
pub(crate) const MAX_VALUE_CHARS: usize = 256;

/// A property value as given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PropValue<'a> {
    Text(Cow<'a, str>),
    Int(i64),
    Num(f64),
    Bool(bool),
}

/// An event's properties in the order given.
pub(crate) type Props<'a> = Vec<(Cow<'a, str>, PropValue<'a>)>;

/// The `props` field: an object (or `null`, meaning none), checked against
/// the limits while it is read.
pub(crate) struct PropsField<'a>(pub(crate) Props<'a>);

/// Read a CSV cell holding `props` as a JSON object.
pub(crate) fn from_json_cell(cell: &str) -> Result<Props<'_>, String> {
    let mut de = serde_json::Deserializer::from_str(cell);
    let props = PropsField::deserialize(&mut de)
        .and_then(|p| de.end().map(|_| p))
        .map_err(|e| {
            let text = e.to_string();
            let base = text.rfind(" at line ").map_or(&text[..], |i| &text[..i]);
            if e.is_syntax() || e.is_eof() {
                format!("props is not valid JSON: {base}")
            } else {
                base.to_string()
            }
        })?;
    Ok(props.0)
}

/// Read a CSV cell holding `value`.
pub(crate) fn value_from_cell(cell: &str) -> Result<f64, String> {
    cell.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("value must be a number, got '{cell}'"))
}

/// A number's JSON text (a `value` kept among the unknown fields).
pub(crate) fn number_json(v: f64) -> String {
    crate::store::props::number_text(v)
}

fn check_key(key: &str, props: &Props) -> Result<(), String> {
    if key.is_empty() {
        return Err("props has an empty key; keys are 1 to 64 characters".to_string());
    }
    // Characters are counted only when the bytes could be too many.
    let chars = match key.len() {
        n if n <= MAX_KEY_CHARS => n,
        _ => key.chars().count(),
    };
    if chars > MAX_KEY_CHARS {
        let short: String = key.chars().take(20).collect();
        return Err(format!(
            "props key '{short}...' is {chars} characters long; keys are 1 to {MAX_KEY_CHARS}"
        ));
    }
    if props.len() >= MAX_KEYS {
        return Err(format!(
            "props has more than {MAX_KEYS} keys; at most {MAX_KEYS} are allowed"
        ));
    }
    if props.iter().any(|(k, _)| k == key) {
        return Err(format!("props has the key '{key}' twice"));
    }
    Ok(())
}

impl<'de> Deserialize<'de> for PropsField<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PropsField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(PropsField(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut props: Props<'de> = Vec::new();
                while let Some(key) = map.next_key::<super::parse::CowStr<'de>>()? {
                    let key = key.0;
                    check_key(&key, &props).map_err(de::Error::custom)?;
                    let value = map.next_value::<ValueField>().map_err(|_| {
                        de::Error::custom(format!(
                            "props.{key} must be a string, a number or a boolean"
                        ))
                    })?;
                    if let PropValue::Text(text) = &value.0
                        && text.len() > MAX_VALUE_CHARS
                    {
                        let chars = text.chars().count();
                        if chars > MAX_VALUE_CHARS {
                            return Err(de::Error::custom(format!(
                                "props.{key} is {chars} characters long; at most {MAX_VALUE_CHARS} are allowed"
                            )));
                        }
                    }
                    props.push((key, value.0));
                }
                Ok(PropsField(props))
            }
        }
        d.deserialize_any(V).map_err(|e| {
            let text = e.to_string();
            if text.starts_with("invalid type") {
                de::Error::custom("props must be an object of strings, numbers and booleans")
            } else {
                e
            }
        })
    }
}

/// One property value: a string, a number or a boolean.
struct ValueField<'a>(PropValue<'a>);

impl<'de> Deserialize<'de> for ValueField<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ValueField(PropValue::Text(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ValueField(PropValue::Text(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(ValueField(PropValue::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ValueField(PropValue::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ValueField(match i64::try_from(v) {
                    Ok(i) => PropValue::Int(i),
                    Err(_) => PropValue::Num(v as f64),
                }))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ValueField(PropValue::Num(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `value` field: a number (or `null`, meaning none).
pub(crate) struct NumberField(pub(crate) Option<f64>);

impl<'de> Deserialize<'de> for NumberField {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<f64>::deserialize(d)
            .map(NumberField)
            .map_err(|_| de::Error::custom("value must be a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_every_type() {
        let p = from_json_cell(r#"{"a":"x","b":3,"c":2.5,"d":true,"e":-4}"#).unwrap();
        assert_eq!(
            p,
            vec![
                ("a".into(), PropValue::Text("x".into())),
                ("b".into(), PropValue::Int(3)),
                ("c".into(), PropValue::Num(2.5)),
                ("d".into(), PropValue::Bool(true)),
                ("e".into(), PropValue::Int(-4)),
            ]
        );
        assert!(from_json_cell("null").unwrap().is_empty());
    }

    #[test]
    fn each_limit_names_the_key() {
        let many: Vec<String> = (0..31).map(|i| format!("\"k{i}\":1")).collect();
        let cases = [
            (r#"[1]"#.to_string(), "props must be an object"),
            (r#""x""#.to_string(), "props must be an object"),
            (r#"{"a":[1]}"#.to_string(), "props.a must be a string"),
            (r#"{"a":null}"#.to_string(), "props.a must be a string"),
            (r#"{"a":{"b":1}}"#.to_string(), "props.a must be a string"),
            (r#"{"":1}"#.to_string(), "empty key"),
            (
                format!(r#"{{"{}":1}}"#, "k".repeat(65)),
                "65 characters long",
            ),
            (
                format!(r#"{{"a":"{}"}}"#, "v".repeat(257)),
                "props.a is 257 characters",
            ),
            (r#"{"a":1,"a":2}"#.to_string(), "key 'a' twice"),
            (format!("{{{}}}", many.join(",")), "more than 30 keys"),
            (r#"{"a":1"#.to_string(), "not valid JSON"),
        ];
        for (cell, want) in cases {
            let got = from_json_cell(&cell).unwrap_err();
            assert!(got.contains(want), "{cell}: got '{got}', want '{want}'");
        }
        assert!(from_json_cell(&format!(r#"{{"a":"{}"}}"#, "é".repeat(256))).is_ok());
    }
}
