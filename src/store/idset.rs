//! The distinct ids (sessions, visitors) a rollup's scan meets, counted
//! without a hash set where the ids are dense: a bit per id over a window
//! of ids, and a hash set only for the ids outside it.
//!
//! Session and visitor ids are allocated in time order, so a day's
//! sessions are one dense range of ids and its new visitors another; a
//! hash set of them costs a cache miss per event once it outgrows the
//! CPU's cache, where the window's bits stay in it (a day of 250k sessions
//! is 31 KB of bits). The window grows towards the ids met while it stays
//! within a bound of bits per id it holds; an id beyond goes to the set,
//! so a few ids far apart cost no more memory than a hash set would.

use rustc_hash::FxHashSet;

/// Words of bits the window starts with, and grows by at least.
const SLACK: usize = 64;

/// Bits the window may hold per id in the set (a hash set holds 8 bytes
/// and more per id), beyond [`FREE`].
const PER_ID: i128 = 64;
/// Bits the window may hold whatever the ids (4 KB: a store of many small
/// sites holds a set of each per day being counted).
const FREE: i128 = 1 << 15;

#[derive(Debug, Clone, Default)]
pub(crate) struct IdSet {
    /// The id of the window's first bit (a multiple of 64).
    base: i64,
    words: Vec<u64>,
    /// Bits set in `words`.
    in_window: u64,
    /// The ids met outside the window (none inside it).
    others: FxHashSet<i64>,
}

impl IdSet {
    /// How many distinct ids were inserted.
    pub(crate) fn len(&self) -> usize {
        self.in_window as usize + self.others.len()
    }

    /// Add `id`; whether it was new.
    #[inline]
    pub(crate) fn insert(&mut self, id: i64) -> bool {
        let at = id.wrapping_sub(self.base) as u64;
        if at < self.words.len() as u64 * 64 {
            let (word, bit) = ((at / 64) as usize, at % 64);
            let new = self.words[word] & 1 << bit == 0;
            self.words[word] |= 1 << bit;
            self.in_window += u64::from(new);
            return new;
        }
        self.insert_outside(id)
    }

    #[cold]
    fn insert_outside(&mut self, id: i64) -> bool {
        if self.grow_to(id) {
            return self.insert(id);
        }
        self.others.insert(id)
    }

    /// Widen the window to cover `id` if the bound allows; whether it
    /// does. The ids of `others` the new window covers move into it.
    fn grow_to(&mut self, id: i64) -> bool {
        let word = i128::from(id).div_euclid(64);
        let half = (SLACK / 2) as i128;
        // The new window's first and last (excluded) words.
        let (first, last) = match self.words.is_empty() {
            true => (word - half, word + half),
            false => {
                let first = i128::from(self.base) / 64;
                let last = first + self.words.len() as i128;
                let slack = SLACK.max(self.words.len() / 2) as i128;
                match word < first {
                    true => (word - slack, last),
                    false => (first, word + 1 + slack),
                }
            }
        };
        if (last - first) * 64 > (self.len() as i128 + 1) * PER_ID + FREE {
            return false;
        }
        // Every id of the window and the one past it are i64s, so that
        // `insert`'s wrapping difference tells inside from outside.
        let (Ok(base), Ok(_)) = (i64::try_from(first * 64), i64::try_from(last * 64)) else {
            return false;
        };
        // Grown in place: a new buffer each time left more memory mapped
        // (a 30-day backfill's peak RSS 77-94 MB, in place 69-78 MB).
        let old = self.words.len();
        let shift = match old {
            0 => 0,
            _ => (i128::from(self.base) / 64 - first) as usize,
        };
        self.words.resize((last - first) as usize, 0);
        if shift > 0 {
            self.words.copy_within(..old, shift);
            self.words[..shift].fill(0);
        }
        self.base = base;
        let span = self.words.len() as u64 * 64;
        let inside: Vec<i64> = (self.others.iter())
            .copied()
            .filter(|&o| (o.wrapping_sub(base) as u64) < span)
            .collect();
        for o in inside {
            self.others.remove(&o);
            self.insert(o);
        }
        true
    }

    /// Add every id of `other`.
    pub(crate) fn merge(&mut self, other: IdSet) {
        for (w, &word) in other.words.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let bit = bits.trailing_zeros() as i64;
                self.insert(other.base + w as i64 * 64 + bit);
                bits &= bits - 1;
            }
        }
        for id in other.others {
            self.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids dense and sparse, below and above the window, first outside it
    /// and later inside, negative and at the ends of i64, inserted twice
    /// and merged: the set counts each once, as a hash set does, and its
    /// window keeps to the bound.
    #[test]
    fn counts_each_id_once_wherever_it_lies() {
        // 600_000 is first too far for the window, then covered by it.
        let mut ids: Vec<i64> = vec![0, 600_000];
        ids.extend(0..10_000);
        ids.extend((0..12_000).map(|i| i * 50));
        ids.extend((0..3000).map(|i| -i * 40));
        ids.extend(1000..3000);
        ids.extend((0..3000).map(|i| 5_000_000 + i * 7));
        ids.extend([-5, 0, 999, 63, 64, 65, i64::MAX, i64::MIN, i64::MAX - 1]);
        ids.extend((0..500).map(|i| 900 - i * 3));
        ids.extend((0..50).map(|i| i * 1_000_003));
        let mut want = FxHashSet::default();
        let (mut a, mut b) = (IdSet::default(), IdSet::default());
        for (i, &id) in ids.iter().chain(&ids).enumerate() {
            assert_eq!(a.insert(id), want.insert(id), "id {id}");
            if i % 3 == 0 {
                b.insert(id);
            }
            assert_eq!(a.len(), want.len());
            assert!(a.words.len() as i128 * 64 <= a.len() as i128 * PER_ID + FREE);
        }
        let mut merged = IdSet::default();
        merged.merge(b);
        for &id in &ids {
            merged.insert(id);
        }
        assert_eq!(merged.len(), want.len());
    }
}
