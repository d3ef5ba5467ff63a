//! An event's custom properties as the store keeps them: an encoding of
//! each property as a key and a value, the key and any string value as
//! `labels` ids (stored once, like paths and names), numbers and booleans
//! inline; about 4-6 bytes per property instead of its JSON text. Props
//! seen once are kept in their event's row (`events.props` a blob); a set
//! that repeats (a plan, a campaign and an author, met by thousands of
//! events) is itself stored once, as a label, and its events' `props` hold
//! that label's id: 1-3 bytes in the row, and a rollup finds the answer it
//! worked out for the set by that integer instead of comparing bytes.
//!
//! Layout, per property: the key's label id (unsigned LEB128), a tag byte,
//! then the value: tag 0 a string's label id (LEB128), 1 an integer
//! (zigzag LEB128), 2 any other number (8 bytes, little-endian f64),
//! 3 `false`, 4 `true`.

use std::collections::hash_map::Entry;

use anyhow::Result;
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use rustc_hash::FxHashMap;

/// The label text of a props set stored once: this prefix, then its
/// encoding in hex. Labels are interned strings, so a page or an event
/// name that happened to have the same text would share the id harmlessly:
/// what an id means depends on the column that holds it.
const SET_PREFIX: &str = "props-set:";

/// The label text that stores the props set `blob` once.
pub(crate) fn set_text(blob: &[u8]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(SET_PREFIX.len() + 2 * blob.len());
    text.push_str(SET_PREFIX);
    for b in blob {
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// The encoding a set's label text holds; `None` for a text that is not
/// one (written by hand).
pub(crate) fn set_blob(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix(SET_PREFIX)?.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    let digit = crate::util::hex_digit;
    hex.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// An event's props as its row holds them: its own encoding (props seen
/// once), or the label id of a set stored once (props that repeat).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RowProps<'r> {
    None,
    Blob(&'r [u8]),
    Set(i64),
}

impl<'r> RowProps<'r> {
    /// The props of a `props` column's value (NULL, an empty blob and a
    /// value of another type are none).
    pub(crate) fn from_value(v: ValueRef<'r>) -> RowProps<'r> {
        match v {
            ValueRef::Blob(b) if !b.is_empty() => RowProps::Blob(b),
            ValueRef::Integer(id) => RowProps::Set(id),
            _ => RowProps::None,
        }
    }
}

/// The encodings of the sets a reader met, each read from `labels` once.
#[derive(Debug, Default)]
pub(crate) struct SetCache {
    blobs: FxHashMap<i64, Vec<u8>>,
}

impl SetCache {
    /// The encoding of set `id` (empty for a label that is not a set).
    pub(crate) fn get(&mut self, conn: &Connection, id: i64) -> Result<&[u8]> {
        Ok(match self.blobs.entry(id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let text = super::events::label_text(conn, id)?;
                e.insert(set_blob(&text).unwrap_or_default())
            }
        })
    }

    /// The encoding of `props`, `None` without props.
    pub(crate) fn resolve<'a>(
        &'a mut self,
        conn: &Connection,
        props: RowProps<'a>,
    ) -> Result<Option<&'a [u8]>> {
        Ok(match props {
            RowProps::None => None,
            RowProps::Blob(b) => Some(b),
            RowProps::Set(id) => Some(self.get(conn, id)?).filter(|b| !b.is_empty()),
        })
    }
}

/// A property value as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum StoredValue {
    /// A string, by its label id.
    Label(i64),
    Int(i64),
    Num(f64),
    Bool(bool),
}

impl StoredValue {
    /// The value as a number, for sums and gauges (strings and booleans
    /// are not numbers).
    pub(crate) fn number(self) -> Option<f64> {
        match self {
            StoredValue::Int(i) => Some(i as f64),
            StoredValue::Num(n) => Some(n),
            _ => None,
        }
    }
}

const TAG_LABEL: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_NUM: u8 = 2;
const TAG_FALSE: u8 = 3;
const TAG_TRUE: u8 = 4;

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Append one property to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, key: i64, value: StoredValue) {
    put_uvarint(out, key as u64);
    match value {
        StoredValue::Label(id) => {
            out.push(TAG_LABEL);
            put_uvarint(out, id as u64);
        }
        StoredValue::Int(i) => {
            out.push(TAG_INT);
            put_uvarint(out, ((i << 1) ^ (i >> 63)) as u64);
        }
        StoredValue::Num(n) => {
            out.push(TAG_NUM);
            out.extend_from_slice(&n.to_le_bytes());
        }
        StoredValue::Bool(b) => out.push(if b { TAG_TRUE } else { TAG_FALSE }),
    }
}

/// The properties of a blob, in the order they were given. A malformed
/// blob (written by hand) ends the iteration where it breaks.
pub(crate) fn decode(bytes: &[u8]) -> Props<'_> {
    Props { bytes }
}

/// Iterator over a blob's `(key label id, value)`.
pub(crate) struct Props<'a> {
    bytes: &'a [u8],
}

/// Call `f` with each property of a blob, in order (the rollup's hot
/// loop: no iterator state between calls). A malformed blob ends where it
/// breaks.
#[inline(always)]
pub(crate) fn each(bytes: &[u8], mut f: impl FnMut(i64, StoredValue)) {
    let props = Props { bytes };
    let mut at = 0;
    while at < bytes.len() {
        match props.read(&mut at) {
            Some((key, value)) => f(key, value),
            None => return,
        }
    }
}

/// One LEB128 number at `*at`, moving past it; `None` when cut short.
#[inline(always)]
fn uvarint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    // Most keys and label ids fit one byte.
    let first = *bytes.get(*at)?;
    *at += 1;
    if first < 0x80 {
        return Some(u64::from(first));
    }
    let mut v = u64::from(first & 0x7f);
    for shift in (7..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

impl Props<'_> {
    #[inline(always)]
    fn read(&self, at: &mut usize) -> Option<(i64, StoredValue)> {
        let bytes = self.bytes;
        let key = uvarint(bytes, at)? as i64;
        let tag = *bytes.get(*at)?;
        *at += 1;
        let value = match tag {
            TAG_LABEL => StoredValue::Label(uvarint(bytes, at)? as i64),
            TAG_INT => {
                let z = uvarint(bytes, at)?;
                StoredValue::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            TAG_NUM => {
                let n = bytes.get(*at..*at + 8)?;
                *at += 8;
                StoredValue::Num(f64::from_le_bytes(n.try_into().ok()?))
            }
            TAG_FALSE => StoredValue::Bool(false),
            TAG_TRUE => StoredValue::Bool(true),
            _ => return None,
        };
        Some((key, value))
    }
}

impl Iterator for Props<'_> {
    type Item = (i64, StoredValue);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let mut at = 0;
        match self.read(&mut at) {
            Some(item) => {
                self.bytes = &self.bytes[at..];
                Some(item)
            }
            None => {
                self.bytes = &[];
                None
            }
        }
    }
}

/// A number as JSON writes it: integers without a fraction, others as the
/// shortest text that reads back the same.
pub(crate) fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        format!("{}", n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(|n| n.to_string())
            .unwrap_or_else(|| n.to_string())
    }
}

/// A number as a JSON value: integral values without a fraction.
pub(crate) fn json_number(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Value::from(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back() {
        let values = [
            (1, StoredValue::Label(0)),
            (300, StoredValue::Label(1 << 40)),
            (2, StoredValue::Int(-1)),
            (3, StoredValue::Int(i64::MAX)),
            (4, StoredValue::Int(i64::MIN)),
            (5, StoredValue::Num(2.5)),
            (6, StoredValue::Bool(true)),
            (7, StoredValue::Bool(false)),
        ];
        let mut blob = Vec::new();
        for (k, v) in values {
            encode(&mut blob, k, v);
        }
        assert_eq!(decode(&blob).collect::<Vec<_>>(), values);
        // Cut short: what is whole reads, the rest is dropped.
        assert_eq!(decode(&blob[..3]).count(), 1);
        assert_eq!(decode(&[0x80]).count(), 0);
    }

    #[test]
    fn a_sets_text_gives_back_its_encoding_and_other_texts_none() {
        let blob = [0x03, 0x00, 0xab, 0xff, 0x10];
        assert_eq!(set_text(&blob), "props-set:0300abff10");
        assert_eq!(set_blob(&set_text(&blob)), Some(blob.to_vec()));
        assert_eq!(set_blob("props-set:"), Some(Vec::new()));
        assert_eq!(set_blob("props-set:0300ABFF10"), Some(blob.to_vec()));
        for text in [
            "props-set:030",
            "props-set:0g",
            "/pricing",
            "props-set:é0",
            "",
        ] {
            assert_eq!(set_blob(text), None, "{text}");
        }
    }

    #[test]
    fn numbers_print_as_json_does() {
        assert_eq!(number_text(3.0), "3");
        assert_eq!(number_text(-2.5), "-2.5");
        assert_eq!(number_text(0.1 + 0.2), "0.30000000000000004");
    }
}
