//! The NDJSON side of parsing: a serde visitor that reads an event's known
//! fields into a [`RawEvent`] in place and keeps unknown ones as raw JSON.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{RawEvent, TsValue};
use crate::ingest::props::NumberField;
use crate::ingest::propsets::SeenProps;

/// Reads an event's fields into the `RawEvent` it holds; a `props` text
/// seen valid before (the set) is not read again.
pub(super) struct RawEventSeed<'r, 'de>(
    pub(super) &'r mut RawEvent<'de>,
    pub(super) &'r mut SeenProps<()>,
);

impl<'de> DeserializeSeed<'de> for RawEventSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// A string field that may also be `null` (treated as missing).
fn string_field<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &str,
) -> Result<Option<Cow<'de, str>>, A::Error> {
    map.next_value::<Option<CowStr<'de>>>()
        .map(|v| v.map(|s| s.0))
        .map_err(|_| de::Error::custom(format!("{key} must be a string")))
}

/// Borrows when the JSON string has no escapes, owns otherwise.
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// `ts`: a string or an integer.
struct TsField<'a>(TsValue<'a>);

impl<'de> Deserialize<'de> for TsField<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TsField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 string or integer milliseconds")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TsField(TsValue::Text(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TsField(TsValue::Text(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TsField(TsValue::Millis(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(|v| TsField(TsValue::Millis(v)))
                    .map_err(|_| E::custom("ts is too large"))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Visitor<'de> for RawEventSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object with the event's fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let RawEventSeed(raw, seen) = self;
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            let key = key.0;
            match key.as_ref() {
                "ts" => {
                    raw.ts = map
                        .next_value::<Option<TsField>>()
                        .map_err(|_| {
                            de::Error::custom(
                                "ts must be an RFC 3339 string or integer Unix milliseconds",
                            )
                        })?
                        .map(|t| t.0)
                }
                "site" => raw.site = string_field(&mut map, "site")?,
                "kind" => raw.kind = string_field(&mut map, "kind")?,
                "session" => raw.session = string_field(&mut map, "session")?,
                "visitor" => raw.visitor = string_field(&mut map, "visitor")?,
                "id" => raw.id = string_field(&mut map, "id")?,
                "name" => raw.name = string_field(&mut map, "name")?,
                "path" => raw.path = string_field(&mut map, "path")?,
                "referrer" => raw.referrer = string_field(&mut map, "referrer")?,
                "props" => {
                    // Its text (checked as JSON on the way); read when new.
                    let text = map.next_value::<&'de RawValue>()?.get();
                    if seen.get(text).is_none() {
                        raw.props = crate::ingest::props::from_json_cell(text)
                            .map_err(de::Error::custom)?;
                        seen.insert(text, ());
                    }
                    raw.props_text = Some(text);
                }
                "value" => raw.value = map.next_value::<NumberField>()?.0,
                "revenue_cents" => {
                    raw.revenue_cents = map
                        .next_value::<Option<i64>>()
                        .map_err(|_| de::Error::custom("revenue_cents must be an integer >= 0"))?
                }
                _ => {
                    let value: &'de RawValue = map.next_value()?;
                    raw.extra.push((key, Cow::Borrowed(value.get())));
                }
            }
        }
        Ok(())
    }
}
