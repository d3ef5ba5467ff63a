//! An event's custom properties as the store keeps them: one blob per
//! event (`events.props`), each property a key and a value, the key and any
//! string value as `labels` ids (stored once, like paths and names), numbers
//! and booleans inline. About 4-6 bytes per property instead of its JSON
//! text.
//!
//! Layout, per property: the key's label id (unsigned LEB128), a tag byte,
//! then the value: tag 0 a string's label id (LEB128), 1 an integer
//! (zigzag LEB128), 2 any other number (8 bytes, little-endian f64),
//! 3 `false`, 4 `true`.

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
    fn numbers_print_as_json_does() {
        assert_eq!(number_text(3.0), "3");
        assert_eq!(number_text(-2.5), "-2.5");
        assert_eq!(number_text(0.1 + 0.2), "0.30000000000000004");
    }
}
