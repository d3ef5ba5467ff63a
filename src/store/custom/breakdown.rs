//! One site's counts of one breakdown over a scanned range: per value its
//! counts and sums, and which sessions and visitors met each value,
//! counted distinct at the end. Most of that comes as one row per session
//! with a bit per value slot below 64 (`sessions.rs` builds them during the
//! scan); the rest as (value, session) and (value, visitor) pairs, sorted
//! once at the end (which cost about half the time of a hash set per value
//! that every event inserts into).

use rustc_hash::FxHashMap;

use super::ValueKey;
use super::sessions::{SessionRows, SlotCounts};

/// One breakdown value's counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueCounts {
    pub(crate) events: u64,
    pub(crate) pageviews: u64,
    pub(crate) custom_events: u64,
    pub(crate) orders: u64,
    pub(crate) revenue_cents: i64,
    /// One total per configured sum.
    pub(crate) sums: Vec<f64>,
}

impl ValueCounts {
    pub(crate) fn merge(&mut self, other: &ValueCounts) {
        self.events += other.events;
        self.pageviews += other.pageviews;
        self.custom_events += other.custom_events;
        self.orders += other.orders;
        self.revenue_cents += other.revenue_cents;
        if self.sums.len() < other.sums.len() {
            self.sums.resize(other.sums.len(), 0.0);
        }
        for (mine, theirs) in self.sums.iter_mut().zip(&other.sums) {
            *mine += theirs;
        }
    }
}

/// A site's counts of one breakdown.
#[derive(Debug, Clone, Default)]
pub(crate) struct BreakdownCounts {
    slots: FxHashMap<ValueKey, u32>,
    /// Each value met, by slot.
    pub(crate) values: Vec<(ValueKey, ValueCounts)>,
    /// (slot, session) and (slot, visitor) pairs, repeats allowed.
    sessions: Pairs,
    visitors: Pairs,
    /// Per slot below 64, the distinct (visitors, sessions) of the
    /// sessions' rows, for a whole day (see [`Self::settle`]).
    whole_day: Vec<(u64, u64)>,
    /// Whether `whole_day` holds the distinct counts (see [`Self::settle`]).
    exact: bool,
}

/// Bits of an id in a packed pair; the slot takes the 24 above them.
const ID_BITS: u32 = 40;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

/// (slot, id) pairs, packed into one `u64` each (sorted in place, without
/// allocating, at the end); the rare pair that does not fit (an id of 2^40
/// or more, a slot of 2^24 or more) is kept apart.
#[derive(Debug, Clone, Default)]
struct Pairs {
    packed: Vec<u64>,
    apart: Vec<(u32, i64)>,
}

impl Pairs {
    fn is_empty(&self) -> bool {
        self.packed.is_empty() && self.apart.is_empty()
    }

    fn push(&mut self, slot: u32, id: i64) {
        if (id as u64) <= ID_MASK && slot < 1 << 24 {
            self.packed.push(u64::from(slot) << ID_BITS | id as u64);
        } else {
            self.apart.push((slot, id));
        }
    }

    fn pairs(&self) -> impl Iterator<Item = (u32, i64)> + '_ {
        let packed = self
            .packed
            .iter()
            .map(|p| ((p >> ID_BITS) as u32, (p & ID_MASK) as i64));
        packed.chain(self.apart.iter().copied())
    }

    /// Distinct ids per group (`group[slot]`), consuming the pairs.
    fn distinct(&mut self, group: &[u32], groups: usize) -> Vec<u64> {
        let mut counts = vec![0u64; groups];
        if self.apart.is_empty() && groups < 1 << 24 {
            for p in &mut self.packed {
                *p = u64::from(group[(*p >> ID_BITS) as usize]) << ID_BITS | (*p & ID_MASK);
            }
            self.packed.sort_unstable();
            self.packed.dedup();
            for p in &self.packed {
                counts[(p >> ID_BITS) as usize] += 1;
            }
        } else {
            let mut all: Vec<(u32, i64)> = self
                .pairs()
                .map(|(slot, id)| (group[slot as usize], id))
                .collect();
            all.sort_unstable();
            all.dedup();
            for (g, _) in all {
                counts[g as usize] += 1;
            }
        }
        self.packed.clear();
        self.apart.clear();
        counts
    }
}

impl BreakdownCounts {
    /// The slot of `key` (a new one for a value not met yet). Called once
    /// per props set of a scan (`values.rs`) and per value of a merge.
    pub(crate) fn slot(&mut self, key: ValueKey) -> u32 {
        let next = self.values.len() as u32;
        let slot = *self.slots.entry(key).or_insert(next);
        if slot == next {
            self.values.push((key, ValueCounts::default()));
        }
        slot
    }

    pub(crate) fn counts(&mut self, slot: u32) -> &mut ValueCounts {
        &mut self.values[slot as usize].1
    }

    /// At the end of a scan of a whole day: whether `met` (per slot
    /// below 64, the distinct (visitors, sessions) of the sessions' rows,
    /// `SessionTable::distinct`) gives the distinct counts, and the rows
    /// need not be kept. It does when every session was met through the
    /// rows (no pairs) and no value will be merged into `(other)` (at
    /// most `top` values). A part of a day does not: its sessions may go on
    /// in the next part.
    pub(crate) fn settle(&mut self, whole: bool, top: usize, met: Option<&SlotCounts>) -> bool {
        self.exact = whole
            && self.sessions.is_empty()
            && self.visitors.is_empty()
            && self.values.len() <= top.min(64);
        if self.exact {
            let n = self.values.len();
            self.whole_day = met.map_or_else(|| vec![(0, 0); n], |m| m[..n].to_vec());
        }
        self.exact
    }

    /// An event of `session` and `visitor` carried the value of `slot`.
    pub(crate) fn met(&mut self, slot: u32, session: i64, visitor: i64) {
        self.sessions.push(slot, session);
        self.visitors.push(slot, visitor);
    }

    /// Add another part of the same day; its slots renumbered (`remap`)
    /// for its sessions' rows.
    pub(crate) fn merge(&mut self, other: BreakdownCounts) -> Vec<u32> {
        self.exact = false;
        let remap: Vec<u32> = other
            .values
            .iter()
            .map(|(key, counts)| {
                let slot = self.slot(*key);
                self.values[slot as usize].1.merge(counts);
                slot
            })
            .collect();
        for (mine, theirs) in [
            (&mut self.sessions, &other.sessions),
            (&mut self.visitors, &other.visitors),
        ] {
            for (slot, id) in theirs.pairs() {
                mine.push(remap[slot as usize], id);
            }
        }
        remap
    }

    /// Distinct (visitors, sessions) per group, `group[slot]` naming each
    /// value's group (values merged into one row share a group). Consumes
    /// the pairs: sorted in place.
    pub(crate) fn distinct(
        &mut self,
        group: &[u32],
        groups: usize,
        rows: &mut SessionRows,
        b: usize,
    ) -> Vec<(u64, u64)> {
        if self.exact {
            // Every value is a group of its own (none merged).
            let mut counts = vec![(0, 0); groups];
            for (slot, g) in group.iter().enumerate() {
                let (visitors, sessions) = self.whole_day.get(slot).copied().unwrap_or_default();
                counts[*g as usize].0 += visitors;
                counts[*g as usize].1 += sessions;
            }
            return counts;
        }
        if groups <= 64 && self.sessions.is_empty() && self.visitors.is_empty() {
            return rows.distinct(b, group, groups);
        }
        // Pairs too, or more groups than bits: the rows as pairs as well.
        for (slot, session, visitor) in rows.pairs(b) {
            self.met(slot, session, visitor);
        }
        let visitors = self.visitors.distinct(group, groups);
        let sessions = self.sessions.distinct(group, groups);
        visitors.into_iter().zip(sessions).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_counts_per_group_with_repeats_merges_and_big_ids() {
        let mut a = BreakdownCounts::default();
        let x = a.slot(ValueKey::Label(7));
        let y = a.slot(ValueKey::Int(3));
        assert_eq!((x, y, a.slot(ValueKey::Label(7))), (0, 1, 0));
        a.met(x, 1, 10);
        a.met(x, 1, 10);
        a.met(x, 2, 10);
        a.met(y, 2, 10);
        // Ids past 40 bits are kept apart and still counted.
        a.met(y, 1 << 50, 1 << 45);
        let mut b = BreakdownCounts::default();
        let z = b.slot(ValueKey::Bool(true));
        let y2 = b.slot(ValueKey::Int(3));
        b.met(z, 3, 11);
        b.met(y2, 2, 10);
        b.met(y2, 4, 12);
        a.merge(b);
        assert_eq!(a.values.len(), 3);
        // Each value its own group: x {1,2}/{10}, y {2,4,2^50}/{10,12,2^45}, z {3}/{11}.
        assert_eq!(
            a.clone()
                .distinct(&[0, 1, 2], 3, &mut SessionRows::default(), 0),
            [(1, 2), (3, 3), (1, 1)]
        );
        // y and z merged into group 1: sessions {2,3,4,2^50}, visitors
        // {10,11,12,2^45}.
        assert_eq!(
            a.distinct(&[0, 1, 1], 2, &mut SessionRows::default(), 0),
            [(1, 2), (4, 4)]
        );
    }
}

#[cfg(test)]
mod mixed {
    use std::collections::BTreeSet;

    use super::*;

    /// Parts of one day, each with 70 values (slots of 64 and more go to
    /// the pairs), sessions' rows and a merge: every group's distinct
    /// counts equal those of plain sets.
    #[test]
    fn rows_pairs_and_merged_parts_count_as_sets_do() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut truth: Vec<(i64, i64, i64)> = Vec::new(); // (value, session, visitor)
        let mut parts = Vec::new();
        for _ in 0..2 {
            let mut counts = BreakdownCounts::default();
            let mut rows = SessionRows::with_capacity(1, 0);
            for session in 1..=300i64 {
                let visitor = 1000 + session % 120;
                let mut mask = 0u64;
                for _ in 0..next(4) {
                    let value = next(70) as i64 + 1;
                    let slot = counts.slot(ValueKey::Label(value));
                    counts.counts(slot).events += 1;
                    truth.push((value, session, visitor));
                    match 1u64.checked_shl(slot) {
                        Some(bit) if session % 5 != 0 => mask |= bit,
                        _ => counts.met(slot, session, visitor),
                    }
                }
                if mask != 0 {
                    rows.push(session, visitor, &[mask]);
                }
            }
            parts.push((counts, rows));
        }
        let (mut counts, mut rows) = (BreakdownCounts::default(), SessionRows::default());
        for (c, r) in parts {
            let remap = counts.merge(c);
            rows.merge(r, &[remap], |_, slot, s, v| counts.met(slot, s, v));
        }
        // Values 1-9 their own groups, the rest one merged group.
        let group: Vec<u32> = counts
            .values
            .iter()
            .map(|(key, _)| match key {
                ValueKey::Label(v) if *v < 10 => (*v - 1) as u32,
                _ => 9,
            })
            .collect();
        let got = counts.distinct(&group, 10, &mut rows, 0);
        for g in 0..10u32 {
            let of = |v: i64| (if v < 10 { v - 1 } else { 9 }) as u32 == g;
            let sessions: BTreeSet<i64> = truth.iter().filter(|t| of(t.0)).map(|t| t.1).collect();
            let visitors: BTreeSet<i64> = truth.iter().filter(|t| of(t.0)).map(|t| t.2).collect();
            assert_eq!(
                got[g as usize],
                (visitors.len() as u64, sessions.len() as u64),
                "group {g}"
            );
        }
    }

    /// With sessions' rows alone, merged parts count a session once.
    #[test]
    fn rows_alone_count_each_session_and_visitor_once_across_parts() {
        let mut counts = BreakdownCounts::default();
        let mut rows = SessionRows::default();
        for _ in 0..2 {
            let mut c = BreakdownCounts::default();
            let (a, b) = (c.slot(ValueKey::Label(1)), c.slot(ValueKey::Label(2)));
            let mut r = SessionRows::with_capacity(1, 2);
            r.push(10, 100, &[1 << a]);
            r.push(11, 100, &[1 << a | 1 << b]);
            let remap = counts.merge(c);
            rows.merge(r, &[remap], |_, _, _, _| unreachable!());
        }
        assert_eq!(counts.distinct(&[0, 1], 2, &mut rows, 0), [(1, 2), (1, 1)]);
    }
}
