//! The sessions a scan meets, for the breakdowns' distinct counts: one row
//! per session id, indexed by `session - base` (ids are allocated in time
//! order, so a day's sessions are one dense range and the sessions active
//! at once sit together), holding the session's visitor and site and, per
//! breakdown, a bit per value slot below 64 that its events carried.
//!
//! An event then costs one OR per breakdown, where a list of (value,
//! session) and (value, visitor) pairs cost two pushes and their sort at
//! the end. At the end of a whole day one pass over the rows counts each
//! slot's sessions (`distinct`); a row made for a visitor the scan had
//! met before is marked, and only the marked visitors' rows are grouped to
//! take a visitor's further sessions off each value's visitors
//! (`repeats`). Those counts are the
//! distinct counts of a whole day's values when no value is merged into
//! `(other)`; otherwise, and for a part of a day, each site's used rows
//! become its [`SessionRows`], counted distinct per group from there. A
//! session too far from the others (the table would grow past a bound set
//! by the sessions it holds) or a value slot of 64 or more is left to the
//! pairs lists, counted the same way.
//!
//! The table's and the rows' memory is kept for the next day (`pool.rs`).

use rustc_hash::{FxHashMap, FxHashSet};

use super::pool::Pool;

/// Words of session tables.
static TABLES: Pool<u64> = Pool::new();
/// Words of sites' rows.
static WORDS: Pool<u64> = Pool::new();
/// Rows in visitor order.
static ORDER: Pool<(u64, u32)> = Pool::new();

/// Rows added around the first session and kept free at each growth.
const SLACK: usize = 4096;
/// Free rows the table may hold beyond 8 per session it has: a day's
/// sessions of other sites and gaps cost at most this much.
const FREE: usize = 1 << 18;

pub(crate) struct SessionTable {
    base: i64,
    /// Words per row: visitor (0 for a row no event used), site (its top
    /// bit [`SEEN`]), then one mask per breakdown.
    stride: usize,
    words: Vec<u64>,
    used: usize,
    /// The visitors of rows marked [`SEEN`].
    seen: Vec<i64>,
}

/// Per value slot below 64, the distinct (visitors, sessions) of the rows
/// with its bit.
pub(crate) type SlotCounts = [(u64, u64); 64];

/// Words of a row before its masks.
const HEAD: usize = 2;
/// The site word's mark of a row whose visitor the scan had met before
/// the row was made: maybe a visitor of more than one session.
const SEEN: u64 = 1 << 63;

impl SessionTable {
    pub(crate) fn new(breakdowns: usize) -> SessionTable {
        let words = TABLES.take();
        SessionTable {
            base: 0,
            stride: HEAD + breakdowns,
            words,
            used: 0,
            seen: Vec::new(),
        }
    }

    fn row_count(&self) -> usize {
        self.words.len() / self.stride
    }

    /// The first word of `session`'s masks (the row made for it when new;
    /// `seen`: the scan met its visitor before), or `None` when the
    /// session is left to the pairs lists: too far from the others, or
    /// met before with another visitor or site.
    #[inline]
    pub(crate) fn row(
        &mut self,
        session: i64,
        visitor: i64,
        site: i64,
        seen: bool,
    ) -> Option<usize> {
        if visitor <= 0 || site < 0 {
            return None;
        }
        let mut at = session.wrapping_sub(self.base);
        if at < 0 || at as u64 >= self.row_count() as u64 {
            at = self.grow(session)?;
        }
        let start = at as usize * self.stride;
        let row = &mut self.words[start..start + HEAD];
        if row[0] == 0 {
            row[0] = visitor as u64;
            row[1] = site as u64 | if seen { SEEN } else { 0 };
            self.used += 1;
            if seen {
                self.seen.push(visitor);
            }
        } else if row[0] != visitor as u64 || row[1] & !SEEN != site as u64 {
            return None;
        }
        Some(start + HEAD)
    }

    /// Add `mask` to breakdown `b`'s mask of the row whose masks start at
    /// `at`.
    #[inline]
    pub(crate) fn meet(&mut self, at: usize, b: usize, mask: u64) {
        self.words[at + b] |= mask;
    }

    /// Per site, per breakdown, per slot: the distinct (visitors,
    /// sessions) whose rows carry the slot's bit. Each row counts for its
    /// session; a visitor of several sessions counts once (`repeats`).
    pub(crate) fn distinct(&self) -> FxHashMap<i64, Vec<SlotCounts>> {
        let breakdowns = self.stride - HEAD;
        let mut sites: Vec<(u64, Vec<SlotCounts>)> = Vec::new();
        // The site of the previous row (rows of one site mostly follow
        // each other).
        let mut at = 0;
        for row in self.words.chunks_exact(self.stride) {
            if row[0] == 0 {
                continue;
            }
            let site = row[1] & !SEEN;
            if sites.get(at).is_none_or(|s| s.0 != site) {
                at = match sites.iter().position(|s| s.0 == site) {
                    Some(at) => at,
                    None => {
                        sites.push((site, vec![[(0, 0); 64]; breakdowns]));
                        sites.len() - 1
                    }
                };
            }
            for (counts, &mask) in sites[at].1.iter_mut().zip(&row[HEAD..]) {
                bits(mask).for_each(|slot| counts[slot as usize].1 += 1);
            }
        }
        let repeats = self.repeats();
        let mut out = FxHashMap::default();
        for (site, mut counts) in sites {
            let repeats = repeats.get(&(site as i64));
            for (b, counts) in counts.iter_mut().enumerate() {
                for (slot, c) in counts.iter_mut().enumerate() {
                    c.0 = c.1 - repeats.map_or(0, |r| r[b][slot]);
                }
            }
            out.insert(site as i64, counts);
        }
        out
    }

    /// Per site, per breakdown, per slot: how many sessions beyond the
    /// first of a visitor met the slot (a visitor of several sessions
    /// counts once). Only the rows of visitors marked [`SEEN`] are read.
    fn repeats(&self) -> FxHashMap<i64, Vec<[u64; 64]>> {
        let mut out: FxHashMap<i64, Vec<[u64; 64]>> = FxHashMap::default();
        if self.seen.is_empty() {
            return out;
        }
        let seen: FxHashSet<i64> = self.seen.iter().copied().collect();
        // (site, visitor, row start), a visitor's rows together.
        let mut rows: Vec<(u64, u64, usize)> = (self.words.chunks_exact(self.stride).enumerate())
            .filter(|(_, row)| row[0] != 0 && seen.contains(&(row[0] as i64)))
            .map(|(i, row)| (row[1] & !SEEN, row[0], i * self.stride))
            .collect();
        rows.sort_unstable();
        let breakdowns = self.stride - HEAD;
        for visitor in rows.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            if visitor.len() < 2 {
                continue;
            }
            let counts =
                (out.entry(visitor[0].0 as i64)).or_insert_with(|| vec![[0; 64]; breakdowns]);
            for (b, counts) in counts.iter_mut().enumerate() {
                let mut all = 0u64;
                for &(_, _, start) in visitor {
                    let mask = self.words[start + HEAD + b];
                    all |= mask;
                    bits(mask).for_each(|slot| counts[slot as usize] += 1);
                }
                bits(all).for_each(|slot| counts[slot as usize] -= 1);
            }
        }
        out
    }

    /// Make room for `session`, within the bound; its row index.
    #[cold]
    fn grow(&mut self, session: i64) -> Option<i64> {
        let rows = self.row_count();
        let limit = (self.used * 8 + FREE) as i128;
        if rows == 0 {
            self.base = session.saturating_sub(SLACK as i64);
            self.words.resize(2 * SLACK * self.stride, 0);
            return Some(session - self.base);
        }
        let at = i128::from(session) - i128::from(self.base);
        if at < 0 {
            let add = (-at) as usize + SLACK.max(rows / 2);
            if (rows + add) as i128 > limit {
                return None;
            }
            // Shift the rows up in place and clear the new ones below.
            let (old, moved) = (self.words.len(), add * self.stride);
            self.words.resize(old + moved, 0);
            self.words.copy_within(..old, moved);
            self.words[..moved].fill(0);
            self.base -= add as i64;
        } else {
            let need = at as usize + 1 + SLACK.max(rows / 2);
            if need as i128 > limit {
                return None;
            }
            self.words.resize(need * self.stride, 0);
        }
        Some(session - self.base)
    }

    /// Each used row: (session, visitor, site, masks).
    pub(crate) fn used(&self) -> impl Iterator<Item = (i64, i64, i64, &[u64])> {
        self.words
            .chunks_exact(self.stride)
            .enumerate()
            .filter(|(_, row)| row[0] != 0)
            .map(|(i, row)| {
                (
                    self.base + i as i64,
                    row[0] as i64,
                    (row[1] & !SEEN) as i64,
                    &row[HEAD..],
                )
            })
    }

    /// The rows of the sites `wanted` says, each site's list made at its
    /// final size.
    pub(crate) fn by_site(&self, wanted: impl Fn(i64) -> bool) -> FxHashMap<i64, SessionRows> {
        let mut count: FxHashMap<i64, usize> = FxHashMap::default();
        for (_, _, site, _) in self.used() {
            if wanted(site) {
                *count.entry(site).or_default() += 1;
            }
        }
        if count.is_empty() {
            return FxHashMap::default();
        }
        let breakdowns = self.stride - HEAD;
        let mut out: FxHashMap<i64, SessionRows> = count
            .into_iter()
            .map(|(site, n)| (site, SessionRows::with_capacity(breakdowns, n)))
            .collect();
        for (session, visitor, site, masks) in self.used() {
            if let Some(rows) = out.get_mut(&site) {
                rows.push(session, visitor, masks);
            }
        }
        out
    }
}

impl Drop for SessionTable {
    fn drop(&mut self) {
        TABLES.give(std::mem::take(&mut self.words));
    }
}

/// One site's sessions met by a scan: rows of (session, visitor, one mask
/// per breakdown of the value slots below 64 its events carried).
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionRows {
    stride: usize,
    words: Vec<u64>,
    /// Whether a session may have more than one row (parts were merged).
    merged: bool,
    /// Whether the rows are in visitor order (sorted by the first
    /// distinct count, for every breakdown's).
    by_visitor: bool,
}

impl SessionRows {
    pub(crate) fn with_capacity(breakdowns: usize, rows: usize) -> SessionRows {
        let stride = 2 + breakdowns;
        let mut words = WORDS.take();
        words.reserve(rows * stride);
        SessionRows {
            stride,
            words,
            merged: false,
            by_visitor: false,
        }
    }

    fn len(&self) -> usize {
        self.words.len().checked_div(self.stride).unwrap_or(0)
    }

    pub(super) fn push(&mut self, session: i64, visitor: i64, masks: &[u64]) {
        self.by_visitor = false;
        self.words.push(session as u64);
        self.words.push(visitor as u64);
        self.words.extend_from_slice(masks);
    }

    /// Add another part's rows of the same range, its slots renumbered by
    /// `remaps` (per breakdown); a slot renumbered to 64 or more goes to
    /// `spill(breakdown, slot, session, visitor)`.
    pub(crate) fn merge(
        &mut self,
        other: SessionRows,
        remaps: &[Vec<u32>],
        mut spill: impl FnMut(usize, u32, i64, i64),
    ) {
        if other.len() == 0 {
            return;
        }
        if self.len() == 0 && self.stride == 0 {
            self.stride = other.stride;
        }
        self.merged |= self.len() > 0;
        let mut masks = vec![0u64; other.stride - 2];
        for row in other.words.chunks_exact(other.stride) {
            let (session, visitor) = (row[0] as i64, row[1] as i64);
            for (b, (mine, &theirs)) in masks.iter_mut().zip(&row[2..]).enumerate() {
                *mine = 0;
                for bit in bits(theirs) {
                    let slot = remaps[b][bit as usize];
                    match 1u64.checked_shl(slot) {
                        Some(m) => *mine |= m,
                        None => spill(b, slot, session, visitor),
                    }
                }
            }
            self.push(session, visitor, &masks);
        }
    }

    /// Each (slot, session, visitor) breakdown `b`'s rows hold.
    pub(crate) fn pairs(&self, b: usize) -> impl Iterator<Item = (u32, i64, i64)> + '_ {
        self.words
            .chunks_exact(self.stride.max(1))
            .flat_map(move |row| {
                let (session, visitor) = (row[0] as i64, row[1] as i64);
                bits(row[2 + b]).map(move |slot| (slot, session, visitor))
            })
    }

    /// Distinct (visitors, sessions) per group of breakdown `b`, with at
    /// most 64 groups (`group[slot]`): each row's slots become a mask of
    /// groups, counted once per session and, OR-ed over a visitor's rows
    /// (adjacent in visitor order, sorted once for every breakdown), once
    /// per visitor.
    pub(crate) fn distinct(&mut self, b: usize, group: &[u32], groups: usize) -> Vec<(u64, u64)> {
        let mut counts = vec![(0u64, 0u64); groups];
        let n = self.len();
        if n == 0 {
            return counts;
        }
        self.sort_by_visitor();
        let stride = self.stride;
        let of_groups = |row: &[u64]| {
            let mut g = 0u64;
            for slot in bits(row[2 + b]) {
                g |= 1 << group[slot as usize];
            }
            g
        };
        let (mut visitor, mut acc) = (u64::MAX, 0u64);
        let mut by_session: FxHashMap<u64, u64> = FxHashMap::default();
        for row in self.words.chunks_exact(stride) {
            let (session, v) = (row[0], row[1]);
            let g = of_groups(row);
            if v != visitor {
                bits(acc).for_each(|x| counts[x as usize].0 += 1);
                (visitor, acc) = (v, 0);
            }
            acc |= g;
            if self.merged {
                *by_session.entry(session).or_default() |= g;
            } else {
                bits(g).for_each(|x| counts[x as usize].1 += 1);
            }
        }
        bits(acc).for_each(|x| counts[x as usize].0 += 1);
        for g in by_session.into_values() {
            bits(g).for_each(|x| counts[x as usize].1 += 1);
        }
        counts
    }
}

impl Drop for SessionRows {
    fn drop(&mut self) {
        WORDS.give(std::mem::take(&mut self.words));
    }
}

impl SessionRows {
    /// Put the rows in visitor order (read in order thereafter, once per
    /// breakdown).
    fn sort_by_visitor(&mut self) {
        if self.by_visitor {
            return;
        }
        let stride = self.stride;
        let mut order = ORDER.take();
        (order).extend(
            (self.words.chunks_exact(stride))
                .enumerate()
                .map(|(i, row)| (row[1], i as u32)),
        );
        order.sort_unstable();
        let mut sorted = WORDS.take();
        sorted.reserve(self.words.len());
        for &(_, i) in &order {
            let at = i as usize * stride;
            sorted.extend_from_slice(&self.words[at..at + stride]);
        }
        WORDS.give(std::mem::replace(&mut self.words, sorted));
        ORDER.give(order);
        self.by_visitor = true;
    }
}

/// The set bits of `mask`, lowest first.
pub(crate) fn bits(mut mask: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let bit = mask.trailing_zeros();
            mask &= mask - 1;
            bit
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_grow_both_ways_refuse_far_sessions_and_other_visitors() {
        let mut t = SessionTable::new(2);
        let a = t.row(100_000, 7, 1, false).unwrap();
        t.meet(a, 1, 0b10);
        // Below the base: the table grows downwards, the row keeps its masks.
        let b = t.row(90_000, 8, 2, false).unwrap();
        t.meet(b, 0, 1);
        let a = t.row(100_000, 7, 1, true).unwrap();
        t.meet(a, 1, 0b11);
        // The same session with another visitor, and a session far away.
        assert_eq!(t.row(100_000, 9, 1, false), None);
        assert_eq!(t.row(100_000 + (1 << 30), 7, 1, false), None);
        assert_eq!(t.row(5, 0, 1, false), None);
        // Visitor 7's second and third sessions: slot 1 met in all three,
        // slot 2 in two.
        for session in [100_001, 100_002] {
            let c = t.row(session, 7, 1, true).unwrap();
            t.meet(c, 1, 0b110);
        }
        let rows: Vec<_> = t
            .used()
            .map(|(s, v, site, m)| (s, v, site, m.to_vec()))
            .collect();
        assert_eq!(
            rows,
            [
                (90_000, 8, 2, vec![1, 0]),
                (100_000, 7, 1, vec![0, 0b11]),
                (100_001, 7, 1, vec![0, 0b110]),
                (100_002, 7, 1, vec![0, 0b110])
            ]
        );
        let repeats = t.repeats();
        assert_eq!(repeats.len(), 1);
        let mut want = [[0u64; 64]; 2];
        want[1][1] = 2;
        want[1][2] = 1;
        assert_eq!(repeats[&1], want);
        // Site 1, breakdown 1: slot 0 in one session, slot 1 in three and
        // slot 2 in two, all of visitor 7; site 2, breakdown 0: slot 0.
        let met = t.distinct();
        assert_eq!(met.len(), 2);
        assert_eq!(met[&1][1][..4], [(1, 1), (1, 3), (1, 2), (0, 0)]);
        assert_eq!(met[&1][0][..2], [(0, 0), (0, 0)]);
        assert_eq!(met[&2][0][..2], [(1, 1), (0, 0)]);
    }
}
