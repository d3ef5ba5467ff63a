//! What an event's props give the breakdowns: per breakdown the slot of
//! its value in the site's counts, and the numbers its sums add. Props
//! repeat (a plan, a campaign, an author: a few hundred combinations a
//! day), so the answer is cached by the props' stored bytes and the site;
//! a hit spares decoding the props and finding each value's slot. Props
//! longer than a cache key are decoded every time.

use super::ValueKey;
use super::breakdown::BreakdownCounts;
use crate::store::props::{StoredValue, each};

/// A breakdown whose property the event lacks.
pub(crate) const NONE: u32 = u32::MAX;

/// Entries of the cache (direct-mapped).
const ENTRIES: usize = 4096;
/// The longest props cached, in bytes.
const KEY_BYTES: usize = 24;

#[derive(Clone, Copy)]
struct Key {
    site: i64,
    /// `u32::MAX` for an empty entry.
    len: u32,
    words: [u64; KEY_BYTES / 8],
}

/// What the breakdowns need to find an event's values.
pub(crate) struct Wanted<'a> {
    /// The property keys (label ids) read, each once.
    pub(crate) keys: &'a [i64],
    /// Per breakdown, its property's place in `keys`.
    pub(crate) property: &'a [Option<usize>],
}

pub(crate) struct ValueCache {
    breakdowns: usize,
    keys_len: usize,
    keys: Vec<Key>,
    slots: Vec<u32>,
    numbers: Vec<f64>,
    /// The answer for props that are not cached.
    own_slots: Vec<u32>,
    own_numbers: Vec<f64>,
}

impl ValueCache {
    pub(crate) fn new(breakdowns: usize, keys: usize) -> ValueCache {
        // Without breakdowns nothing is looked up.
        let entries = if breakdowns == 0 { 0 } else { ENTRIES };
        ValueCache {
            breakdowns,
            keys_len: keys,
            keys: vec![
                Key {
                    site: 0,
                    len: u32::MAX,
                    words: [0; KEY_BYTES / 8],
                };
                entries
            ],
            slots: vec![NONE; entries * breakdowns],
            numbers: vec![f64::NAN; entries * keys],
            own_slots: vec![NONE; breakdowns],
            own_numbers: vec![f64::NAN; keys],
        }
    }

    /// The slots (per breakdown, [`NONE`] for none) and numbers (per
    /// wanted key, NaN for none or not a number) of an event's props.
    #[inline]
    pub(crate) fn get(
        &mut self,
        site: i64,
        blob: &[u8],
        wanted: &Wanted,
        counts: &mut [BreakdownCounts],
    ) -> (&[u32], &[f64]) {
        let (nb, nk) = (self.breakdowns, self.keys_len);
        if blob.len() > KEY_BYTES {
            fill(
                blob,
                wanted,
                counts,
                &mut self.own_slots,
                &mut self.own_numbers,
            );
            return (&self.own_slots, &self.own_numbers);
        }
        let mut words = [0u64; KEY_BYTES / 8];
        for (i, chunk) in blob.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            words[i] = u64::from_le_bytes(w);
        }
        let key = Key {
            site,
            len: blob.len() as u32,
            words,
        };
        let mut h = (site as u64) ^ u64::from(key.len).rotate_left(32);
        for w in words {
            h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
        }
        let at = (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize & (ENTRIES - 1);
        let entry = &mut self.keys[at];
        let (slots, numbers) = (
            &mut self.slots[at * nb..(at + 1) * nb],
            &mut self.numbers[at * nk..(at + 1) * nk],
        );
        if !(entry.site == key.site && entry.len == key.len && entry.words == key.words) {
            fill(blob, wanted, counts, slots, numbers);
            *entry = key;
        }
        (slots, numbers)
    }
}

/// Decode `blob` into `slots` and `numbers` (a value's slot is made in
/// the site's counts when new).
fn fill(
    blob: &[u8],
    wanted: &Wanted,
    counts: &mut [BreakdownCounts],
    slots: &mut [u32],
    numbers: &mut [f64],
) {
    let mut found: [Option<StoredValue>; 16] = [None; 16];
    let mut many: Vec<Option<StoredValue>> = Vec::new();
    let found: &mut [Option<StoredValue>] = if wanted.keys.len() <= 16 {
        &mut found[..wanted.keys.len()]
    } else {
        many.resize(wanted.keys.len(), None);
        &mut many
    };
    each(blob, |key, value| {
        if let Some(at) = wanted.keys.iter().position(|w| *w == key) {
            found[at] = Some(value);
        }
    });
    for (n, v) in numbers.iter_mut().zip(found.iter()) {
        *n = v.and_then(StoredValue::number).unwrap_or(f64::NAN);
    }
    for ((slot, property), values) in slots.iter_mut().zip(wanted.property).zip(counts) {
        *slot = match property.and_then(|at| found[at]) {
            Some(value) => values.slot(ValueKey::from(value)),
            None => NONE,
        };
    }
}
