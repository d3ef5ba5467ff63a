//! What an event's props give the breakdowns. Props repeat (a plan, a
//! campaign, an author: a few hundred combinations a day), so each props
//! set of a site is decoded once into an *answer*: per breakdown the slot
//! of its value (and that slot's session-mask bit), and the numbers its
//! sums add. An event then only tallies into its answer (how many events
//! of each kind, the revenue); the tallies are folded into the
//! breakdowns' values when the scan ends, or when a site holds
//! [`MAX_ANSWERS`] answers (props unique to each event, such as a view
//! count, make an answer per event).
//!
//! Props that repeat are stored once, as a set (`store/props.rs`), and an
//! event carries the set's id: the site's answer for it is found by that
//! id (`setanswers.rs`). Props kept in
//! the event's row (seen once at ingest, or stored before sets existed)
//! find theirs through a 2-way set-associative cache keyed by the site and
//! the props' bytes (up to [`KEY_BYTES`]; longer props get an answer per
//! event).

use anyhow::Result;
use rusqlite::Connection;

use super::ValueKey;
use super::breakdown::BreakdownCounts;
use super::setanswers::SetAnswers;
use crate::store::encoding::Kind;
use crate::store::props::{RowProps, SetCache, StoredValue, each};

/// A breakdown whose property the event lacks.
pub(crate) const NONE: u32 = u32::MAX;

/// Sets of the cache, two entries each.
const SETS: usize = 4096;
/// The longest props cached, in bytes.
const KEY_BYTES: usize = 24;
/// Answers a site holds before they are folded into its breakdowns.
#[cfg(not(test))]
const MAX_ANSWERS: usize = 1 << 16;
#[cfg(test)]
const MAX_ANSWERS: usize = 5;

/// Where the breakdowns' properties and sums are found in a props set.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// The property keys (label ids) read, each once: one pass over an
    /// event's props finds them all.
    pub(crate) keys: Vec<i64>,
    /// Per breakdown, its property's place in `keys` (`None`: no event
    /// ever had the key).
    pub(crate) property: Vec<Option<usize>>,
    /// The places in `keys` of the numbers summed, each once.
    pub(crate) summed: Vec<usize>,
    /// Per breakdown, each sum's place in `summed`.
    pub(crate) sums: Vec<Vec<Option<usize>>>,
}

impl Layout {
    /// The place of key `id` in `keys` (added when new).
    pub(crate) fn place(&mut self, id: i64) -> usize {
        place_of(&mut self.keys, id)
    }

    /// The place of key place `at` in `summed` (added when new).
    pub(crate) fn summed(&mut self, at: usize) -> usize {
        place_of(&mut self.summed, at)
    }
}

/// Where `item` is in `list`, pushed when it is not there.
fn place_of<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    match list.iter().position(|k| *k == item) {
        Some(at) => at,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

/// Breakdowns whose masks an answer's [`Tally`] holds.
const INLINE: usize = 3;

/// What the events of one answer added up to since the last fold, with
/// what an event reads of its answer (the masks of up to [`INLINE`]
/// breakdowns, whether a slot needs the pairs): one cache line per event.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Tally {
    /// Events by kind code (pageviews, custom events, orders; gauges are
    /// not tallied).
    kinds: [u64; 3],
    revenue_cents: i64,
    masks: [u64; INLINE],
    spill: bool,
}

/// One site's answers since the last fold; answer `a`'s parts at
/// `a * breakdowns` (slots, masks) and `a * summed` (numbers).
#[derive(Debug, Default)]
struct SiteAnswers {
    tallies: Vec<Tally>,
    slots: Vec<u32>,
    /// The slot's bit when below 64, else 0 (kept here only when there
    /// are more than [`INLINE`] breakdowns).
    masks: Vec<u64>,
    /// NaN where the property is missing or not a number.
    numbers: Vec<f64>,
    /// The answers of the stored sets met, by set id.
    sets: SetAnswers,
}

impl SiteAnswers {
    /// Add every answer's tallies to its values' counts, and forget them.
    fn fold(&mut self, layout: &Layout, counts: &mut [BreakdownCounts]) {
        let (nb, ns) = (layout.property.len(), layout.summed.len());
        for (a, t) in self.tallies.iter().enumerate() {
            for (b, (values, sums)) in counts.iter_mut().zip(&layout.sums).enumerate() {
                let slot = self.slots[a * nb + b];
                if slot == NONE {
                    continue;
                }
                let c = values.counts(slot);
                let [pageviews, custom_events, orders] = t.kinds;
                let events = pageviews + custom_events + orders;
                c.events += events;
                c.pageviews += pageviews;
                c.custom_events += custom_events;
                c.orders += orders;
                c.revenue_cents += t.revenue_cents;
                if c.sums.len() < sums.len() {
                    c.sums.resize(sums.len(), 0.0);
                }
                for (total, at) in c.sums.iter_mut().zip(sums) {
                    // NaN: the property was missing or not a number. The
                    // answer's events all carried the same number.
                    if let Some(n) = at.map(|p| self.numbers[a * ns + p]).filter(|n| !n.is_nan()) {
                        *total += n * events as f64;
                    }
                }
            }
        }
        self.tallies.clear();
        self.slots.clear();
        self.masks.clear();
        self.numbers.clear();
        self.sets.clear();
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// `site << 8 | (length + 1)`; 0 for an empty entry.
    tag: u64,
    words: [u64; KEY_BYTES / 8],
    answer: u32,
}

/// An event's answer: per breakdown its value's slot ([`NONE`]: none) and
/// session-mask bit, and whether a slot needs the pairs.
pub(crate) struct Answer<'a> {
    pub(crate) slots: &'a [u32],
    pub(crate) masks: &'a [u64],
    pub(crate) spill: bool,
}

/// The answers of one scan, per site.
pub(crate) struct PropsCache {
    breakdowns: usize,
    entries: Vec<Entry>,
    /// By site id.
    sites: Vec<SiteAnswers>,
}

impl PropsCache {
    pub(crate) fn new(layout: &Layout) -> PropsCache {
        let breakdowns = layout.property.len();
        PropsCache {
            breakdowns,
            // Without breakdowns nothing is looked up.
            entries: vec![Entry::default(); if breakdowns == 0 { 0 } else { 2 * SETS }],
            sites: Vec::new(),
        }
    }

    /// Tally an event of `kind` with `props` into `site`'s answer for
    /// them (made, its slots in `counts`, when new; a set's encoding read
    /// through `sets`); that answer, `None` without props.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tally(
        &mut self,
        conn: &Connection,
        sets: &mut SetCache,
        site: i64,
        props: RowProps<'_>,
        kind: Kind,
        revenue_cents: i64,
        layout: &Layout,
        counts: &mut [BreakdownCounts],
    ) -> Result<Option<Answer<'_>>> {
        let s = usize::try_from(site).unwrap_or(0);
        if s >= self.sites.len() {
            self.sites.resize_with(s + 1, SiteAnswers::default);
        }
        let a = match props {
            RowProps::None => return Ok(None),
            RowProps::Set(id) => match self.sites[s].sets.get(id) {
                Some(a) => a,
                None => self.set_answer(conn, sets, s, id, layout, counts)?,
            },
            RowProps::Blob(blob) => match key(site, blob) {
                Some((tag, words)) => {
                    let set = 2 * set_of(tag, &words);
                    if self.entries[set].tag == tag && self.entries[set].words == words {
                        self.entries[set].answer
                    } else if self.entries[set + 1].tag == tag
                        && self.entries[set + 1].words == words
                    {
                        // The most recent first.
                        self.entries.swap(set, set + 1);
                        self.entries[set].answer
                    } else {
                        let answer = self.answer(s, blob, layout, counts);
                        self.entries[set + 1] = self.entries[set];
                        self.entries[set] = Entry { tag, words, answer };
                        answer
                    }
                }
                None => self.answer(s, blob, layout, counts),
            },
        } as usize;
        let nb = self.breakdowns;
        let answers = &mut self.sites[s];
        let t = &mut answers.tallies[a];
        if let Some(k) = t.kinds.get_mut(kind as usize) {
            *k += 1;
        }
        t.revenue_cents += revenue_cents;
        Ok(Some(Answer {
            slots: &answers.slots[a * nb..(a + 1) * nb],
            masks: match nb <= INLINE {
                true => &t.masks[..nb],
                false => &answers.masks[a * nb..(a + 1) * nb],
            },
            spill: t.spill,
        }))
    }

    /// A new answer of site `s` for set `id`, made from the set's
    /// encoding.
    #[cold]
    fn set_answer(
        &mut self,
        conn: &Connection,
        sets: &mut SetCache,
        s: usize,
        id: i64,
        layout: &Layout,
        counts: &mut [BreakdownCounts],
    ) -> Result<u32> {
        let answer = self.answer(s, sets.get(conn, id)?, layout, counts);
        self.sites[s].sets.insert(id, answer);
        Ok(answer)
    }

    /// Fold `site`'s answers into its breakdowns' counts.
    pub(crate) fn fold(&mut self, site: i64, layout: &Layout, counts: &mut [BreakdownCounts]) {
        if let Some(answers) = usize::try_from(site)
            .ok()
            .and_then(|s| self.sites.get_mut(s))
        {
            answers.fold(layout, counts);
        }
    }

    /// A new answer of site `s` for `blob` (after folding the site's
    /// answers when it holds too many).
    #[cold]
    fn answer(
        &mut self,
        s: usize,
        blob: &[u8],
        layout: &Layout,
        counts: &mut [BreakdownCounts],
    ) -> u32 {
        if self.sites[s].tallies.len() >= MAX_ANSWERS {
            self.sites[s].fold(layout, counts);
            // The cache's entries of this site named the folded answers
            // (the site's sets were forgotten with them).
            self.entries.fill(Entry::default());
        }
        let answers = &mut self.sites[s];
        let mut found: [Option<StoredValue>; 16] = [None; 16];
        let mut many: Vec<Option<StoredValue>> = Vec::new();
        let found: &mut [Option<StoredValue>] = if layout.keys.len() <= 16 {
            &mut found[..layout.keys.len()]
        } else {
            many.resize(layout.keys.len(), None);
            &mut many
        };
        each(blob, |key, value| {
            if let Some(at) = layout.keys.iter().position(|w| *w == key) {
                found[at] = Some(value);
            }
        });
        let mut tally = Tally::default();
        for (b, (property, values)) in layout.property.iter().zip(counts).enumerate() {
            let slot = match property.and_then(|at| found[at]) {
                Some(value) => values.slot(ValueKey::from(value)),
                None => NONE,
            };
            let mask = match slot {
                NONE => 0,
                s => 1u64.checked_shl(s).unwrap_or(0),
            };
            answers.slots.push(slot);
            match tally.masks.get_mut(b) {
                Some(inline) if layout.property.len() <= INLINE => *inline = mask,
                _ => answers.masks.push(mask),
            }
            tally.spill |= slot != NONE && slot >= 64;
        }
        for at in &layout.summed {
            let n = found[*at].and_then(StoredValue::number);
            answers.numbers.push(n.unwrap_or(f64::NAN));
        }
        answers.tallies.push(tally);
        (answers.tallies.len() - 1) as u32
    }
}

/// The cache key of `blob` for `site`: its tag and its bytes as words
/// (overlapping reads; the length in the tag keeps them apart), or `None`
/// when it is too long or the site id too large.
#[inline]
fn key(site: i64, blob: &[u8]) -> Option<(u64, [u64; KEY_BYTES / 8])> {
    let n = blob.len();
    if n > KEY_BYTES || !(0..1 << 55).contains(&site) {
        return None;
    }
    let w8 = |at: usize| u64::from_le_bytes(blob[at..at + 8].try_into().expect("8 bytes"));
    let w4 = |at: usize| {
        u64::from(u32::from_le_bytes(
            blob[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    let words = match n {
        0 => [0; 3],
        1..=3 => [
            u64::from(blob[0]) | u64::from(blob[n / 2]) << 8 | u64::from(blob[n - 1]) << 16,
            0,
            0,
        ],
        4..=7 => [w4(0) | w4(n - 4) << 32, 0, 0],
        8..=16 => [w8(0), w8(n - 8), 0],
        _ => [w8(0), w8(8), w8(n - 8)],
    };
    Some(((site as u64) << 8 | (n as u64 + 1), words))
}

#[inline]
fn set_of(tag: u64, words: &[u64; KEY_BYTES / 8]) -> usize {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let h = (tag ^ words[0].wrapping_mul(K))
        .rotate_left(23)
        .wrapping_add(words[1])
        .wrapping_mul(K)
        ^ words[2];
    (h.wrapping_mul(K) >> 52) as usize & (SETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::props::{encode, set_text};

    /// Events of two sites with props that repeat, props unique to each
    /// event (a number) and props too long to cache, some as stored sets
    /// and the others in their rows, with a fold after every five answers:
    /// each value's counts and sums are those counted one event at a time.
    #[test]
    fn tallies_folded_at_any_time_count_as_each_event_would() {
        // Keys: 1 "plan" (breakdown 0), 2 "n" (breakdown 1 and summed by
        // breakdown 0), 3 padding that makes props too long to cache.
        let mut layout = Layout::default();
        for key in [1, 2] {
            let at = layout.place(key);
            layout.property.push(Some(at));
        }
        let n = layout.summed(1);
        layout.sums = vec![vec![Some(n)], vec![]];
        let mut cache = PropsCache::new(&layout);
        let mut sets = SetCache::default();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE labels (id INTEGER PRIMARY KEY, value TEXT UNIQUE)")
            .unwrap();
        let mut counts: [Vec<BreakdownCounts>; 2] = Default::default();
        // (site, breakdown, value) -> (events, pageviews, orders, revenue, sum)
        let mut want = std::collections::HashMap::new();
        for i in 0..200i64 {
            let site = i % 2;
            let plan = i % 3 + 10;
            let number = if i % 4 == 0 { i as f64 / 2.0 } else { 1.5 };
            let mut blob = Vec::new();
            encode(&mut blob, 1, StoredValue::Label(plan));
            if i % 5 != 0 {
                encode(&mut blob, 2, StoredValue::Num(number));
            }
            if i % 7 == 0 {
                for _ in 0..4 {
                    encode(&mut blob, 3, StoredValue::Label(1 << 40));
                }
            }
            let (kind, revenue) = match i % 3 {
                0 => (Kind::Order, i),
                _ => (Kind::Pageview, 0),
            };
            let c = &mut counts[site as usize];
            c.resize_with(2, Default::default);
            // Half of the events' props as a stored set (the same set for
            // the same props).
            let props = match (i / 3) % 2 {
                1 => {
                    // Ids in the table's window, below it (it grows
                    // down), far above and far below it (the map).
                    let made: i64 = conn
                        .query_row("SELECT count(*) FROM labels", [], |r| r.get(0))
                        .unwrap();
                    let near = [5000, 4990, 1 << 40, 5000 + 70_000, 3000, -(1 << 50)];
                    conn.execute(
                        "INSERT OR IGNORE INTO labels (id, value) VALUES (?1, ?2)",
                        (near[made as usize % near.len()] + made, set_text(&blob)),
                    )
                    .unwrap();
                    let id: i64 = conn
                        .query_row(
                            "SELECT id FROM labels WHERE value = ?1",
                            [set_text(&blob)],
                            |r| r.get(0),
                        )
                        .unwrap();
                    RowProps::Set(id)
                }
                _ => RowProps::Blob(&blob),
            };
            let got = cache.tally(&conn, &mut sets, site, props, kind, revenue, &layout, c);
            assert!(got.unwrap().is_some());
            let mut add = |b: usize, value: ValueKey, sum: f64| {
                let e = want.entry((site, b, value)).or_insert((0, 0, 0, 0, 0.0));
                e.0 += 1;
                e.1 += u64::from(kind == Kind::Pageview);
                e.2 += u64::from(kind == Kind::Order);
                e.3 += revenue;
                e.4 += sum;
            };
            let has_number = i % 5 != 0;
            add(
                0,
                ValueKey::Label(plan),
                if has_number { number } else { 0.0 },
            );
            if has_number {
                add(1, ValueKey::from(StoredValue::Num(number)), 0.0);
            }
        }
        let mut got = std::collections::HashMap::new();
        for (site, c) in counts.iter_mut().enumerate() {
            cache.fold(site as i64, &layout, c);
            for (b, values) in c.iter().enumerate() {
                for (value, v) in &values.values {
                    let sum = v.sums.first().copied().unwrap_or(0.0);
                    let row = (v.events, v.pageviews, v.orders, v.revenue_cents, sum);
                    got.insert((site as i64, b, *value), row);
                }
            }
        }
        assert_eq!(got, want);
    }

    #[test]
    fn keys_tell_every_length_and_byte_apart() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..=KEY_BYTES {
            for at in 0..n.max(1) {
                let mut blob = vec![7u8; n];
                if n > 0 {
                    blob[at] = 8;
                }
                assert!(seen.insert(key(3, &blob).unwrap()), "length {n}, byte {at}");
            }
        }
        assert_ne!(key(3, b"ab"), key(4, b"ab"));
        assert_eq!(key(3, &[0; KEY_BYTES + 1]), None);
    }
}
