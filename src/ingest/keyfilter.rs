//! A blocked Bloom filter over the session and visitor keys of the store,
//! so that the resolver skips the lookups that must miss (new sessions and
//! visitors, most keys of a large load). A key goes in as its key runs'
//! `mix`, so the filter is filled from the runs.
//!
//! Split-block layout (as in Parquet): the filter is an array of 256-bit
//! blocks; a fingerprint picks one block with its high 32 bits and sets one
//! bit in each of the block's eight 32-bit words with its low 32 bits, so a
//! probe touches one cache line. At 12 bits per key the false-positive rate
//! is about 0.5% when full and far lower below capacity; there are no false
//! negatives.

const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// Bits of filter per key of capacity.
pub(crate) const BITS_PER_KEY: usize = 12;
/// The smallest capacity (keys) a filter is built with.
pub(crate) const MIN_CAPACITY: usize = 1 << 20;

pub(crate) struct KeyFilter {
    blocks: Vec<[u32; 8]>,
    capacity: usize,
    len: usize,
}

impl KeyFilter {
    /// A filter for `keys` keys (at least [`MIN_CAPACITY`]) at
    /// [`BITS_PER_KEY`] bits each.
    pub(crate) fn with_capacity(keys: usize) -> KeyFilter {
        let capacity = keys.max(MIN_CAPACITY);
        let blocks = (capacity * BITS_PER_KEY).div_ceil(256);
        KeyFilter {
            blocks: vec![[0; 8]; blocks],
            capacity,
            len: 0,
        }
    }

    /// Keys it was sized for.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// More keys inserted than it was sized for: false positives grow.
    pub(crate) fn is_over_capacity(&self) -> bool {
        self.len > self.capacity
    }

    fn block(&self, fp: u64) -> usize {
        (((fp >> 32) * self.blocks.len() as u64) >> 32) as usize
    }

    fn mask(fp: u64) -> [u32; 8] {
        let x = fp as u32;
        let mut m = [0u32; 8];
        for (w, salt) in m.iter_mut().zip(SALT) {
            *w = 1 << (x.wrapping_mul(salt) >> 27);
        }
        m
    }

    pub(crate) fn insert(&mut self, fp: u64) {
        let b = self.block(fp);
        let m = Self::mask(fp);
        for (w, bit) in self.blocks[b].iter_mut().zip(m) {
            *w |= bit;
        }
        self.len += 1;
    }

    /// False: never inserted. True: maybe inserted.
    pub(crate) fn may_contain(&self, fp: u64) -> bool {
        let block = &self.blocks[self.block(fp)];
        let m = Self::mask(fp);
        block.iter().zip(m).all(|(w, bit)| w & bit == bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keyruns::{KeyTable, mix};

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut f = KeyFilter::with_capacity(0);
        assert_eq!(f.capacity(), MIN_CAPACITY);
        let n = f.capacity() as i64;
        for i in 0..n {
            f.insert(mix(KeyTable::Sessions, i % 3, i * 7919));
        }
        assert!(!f.is_over_capacity());
        for i in 0..n {
            assert!(f.may_contain(mix(KeyTable::Sessions, i % 3, i * 7919)));
        }
        // Full to capacity: other keys, the same hashes of the other kind,
        // and the same hashes under another site are rarely "maybe".
        let probes = 200_000i64;
        let mut hits = 0;
        for i in 0..probes {
            hits += usize::from(f.may_contain(mix(KeyTable::Sessions, i % 3, -i - 1)));
            hits += usize::from(f.may_contain(mix(KeyTable::Visitors, i % 3, i * 7919)));
            hits += usize::from(f.may_contain(mix(KeyTable::Sessions, 5, i * 7919)));
        }
        let rate = hits as f64 / (3 * probes) as f64;
        assert!(rate < 0.01, "false-positive rate {rate}");
        f.insert(1);
        assert!(f.is_over_capacity());
    }

    #[test]
    fn sized_from_the_keys() {
        let f = KeyFilter::with_capacity(4 << 20);
        assert_eq!(f.capacity(), 4 << 20);
        assert_eq!(f.blocks.len() * 32, (4 << 20) * BITS_PER_KEY / 8);
        assert!(!f.is_over_capacity());
    }
}
