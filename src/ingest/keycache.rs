//! The resolver's cache of one kind of key (sessions or visitors): entries
//! found by `(site, key_hash)` with the key itself compared, so that a probe
//! hashes no text (the 64-bit `key_hash` is computed once per event) and two
//! different keys with the same hash stay two entries with two ids.
//!
//! `hashbrown::HashTable` (already in the build through rusqlite's
//! `hashlink`) takes the hash from the caller and the equality as a closure:
//! one probe finds or inserts an entry, and an entry can be found again by
//! its id (batch lists keep `(site, hash, id)`, not a copy of the key).

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as TableEntry;

use super::keyfilter::KeyFilter;
use crate::store::keyruns::{KeyTable, mix};

/// A cached key's row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) id: i64,
    /// Sessions: the visitor; visitors: unused.
    pub(crate) visitor: i64,
    pub(crate) first: i64,
    pub(crate) last: i64,
    /// Created by this run and not yet in a batch handed out.
    pub(crate) new: bool,
    /// Changed since the last batch was handed out.
    pub(crate) dirty: bool,
    /// The batch that last used it.
    pub(crate) batch: u64,
}

impl Span {
    /// A row read from the store.
    pub(crate) fn stored(id: i64, visitor: i64, first: i64, last: i64) -> Span {
        Span {
            id,
            visitor,
            first,
            last,
            new: false,
            dirty: false,
            batch: 0,
        }
    }
}

struct Entry {
    site: i64,
    hash: i64,
    key: Box<str>,
    span: Span,
}

/// The cache of one kind of key, with the entries that became new or dirty
/// since the last batch was handed out.
pub(crate) struct KeyCache {
    kind: KeyTable,
    /// Sessions widen their last activity too; visitors keep their first.
    track_last: bool,
    table: HashTable<Entry>,
    /// `(site, hash, id)` of the entries to hand out with the batch.
    touched: Vec<(i64, i64, i64)>,
}

/// The table's hash of `(site, key_hash)`: its key runs' `mix`, as in the filter (well
/// mixed; equal fingerprints only cost a key comparison).
fn slot(kind: KeyTable, site: i64, hash: i64) -> u64 {
    mix(kind, site, hash)
}

impl KeyCache {
    pub(crate) fn new(kind: KeyTable) -> KeyCache {
        KeyCache {
            kind,
            track_last: kind == KeyTable::Sessions,
            table: HashTable::new(),
            touched: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Widen the span of a cached `key` to `ts` and return its id; `None`
    /// if it is not cached.
    pub(crate) fn touch_cached(
        &mut self,
        site: i64,
        hash: i64,
        key: &str,
        ts: i64,
        batch: u64,
    ) -> Option<i64> {
        let e = self.table.find_mut(slot(self.kind, site, hash), |e| {
            e.site == site && e.hash == hash && *e.key == *key
        })?;
        Some(widen(
            &mut e.span,
            &mut self.touched,
            (site, hash),
            ts,
            batch,
            self.track_last,
        ))
    }

    /// The id of `key`: widen its cached span to `ts`, or (a key neither
    /// cached nor stored) create an entry with the next id, add it to
    /// `filter` and list it for the batch.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn touch_or_create(
        &mut self,
        site: i64,
        hash: i64,
        key: &str,
        ts: i64,
        batch: u64,
        visitor: i64,
        next: &mut i64,
        filter: &mut KeyFilter,
    ) -> i64 {
        let kind = self.kind;
        let fp = slot(kind, site, hash);
        match self.table.entry(
            fp,
            |e| e.site == site && e.hash == hash && *e.key == *key,
            |e| slot(kind, e.site, e.hash),
        ) {
            TableEntry::Occupied(mut o) => widen(
                &mut o.get_mut().span,
                &mut self.touched,
                (site, hash),
                ts,
                batch,
                self.track_last,
            ),
            TableEntry::Vacant(v) => {
                let id = *next;
                *next += 1;
                v.insert(Entry {
                    site,
                    hash,
                    key: key.into(),
                    span: Span {
                        id,
                        visitor,
                        first: ts,
                        last: ts,
                        new: true,
                        dirty: false,
                        batch,
                    },
                });
                filter.insert(fp);
                self.touched.push((site, hash, id));
                id
            }
        }
    }

    /// Cache a row read from the store (the caller knows `key` is not
    /// cached).
    pub(crate) fn insert_stored(&mut self, site: i64, hash: i64, key: &str, span: Span) {
        let kind = self.kind;
        self.table.insert_unique(
            slot(kind, site, hash),
            Entry {
                site,
                hash,
                key: key.into(),
                span,
            },
            |e| slot(kind, e.site, e.hash),
        );
    }

    /// Hand out the entries touched since the last call: new ones as
    /// `(site, hash, key, span)` to `new`, changed ones' spans to `changed`;
    /// both become clean.
    pub(crate) fn take_touched(
        &mut self,
        mut new: impl FnMut(i64, i64, &str, &Span),
        mut changed: impl FnMut(&Span),
    ) {
        let kind = self.kind;
        for (site, hash, id) in self.touched.drain(..) {
            let Some(e) = self.table.find_mut(slot(kind, site, hash), |e| {
                e.site == site && e.hash == hash && e.span.id == id
            }) else {
                continue;
            };
            let s = &mut e.span;
            if s.new {
                new(site, hash, &e.key, s);
            } else if s.dirty {
                changed(s);
            }
            s.new = false;
            s.dirty = false;
        }
    }

    /// Keep only the entries `keep` says.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Span) -> bool) {
        self.table.retain(|e| keep(&e.span));
    }

    /// The batch that last used each entry.
    pub(crate) fn batches(&self) -> impl Iterator<Item = u64> + '_ {
        self.table.iter().map(|e| e.span.batch)
    }

    /// Add every cached key to `filter`.
    pub(crate) fn fill_filter(&self, filter: &mut KeyFilter) {
        for e in &self.table {
            filter.insert(slot(self.kind, e.site, e.hash));
        }
    }
}

/// Widen `s` to `ts` (its first sighting only, unless `track_last`) and
/// list it for the batch if it becomes dirty.
fn widen(
    s: &mut Span,
    touched: &mut Vec<(i64, i64, i64)>,
    (site, hash): (i64, i64),
    ts: i64,
    batch: u64,
    track_last: bool,
) -> i64 {
    s.batch = batch;
    if ts < s.first || (track_last && ts > s.last) {
        s.first = s.first.min(ts);
        if track_last {
            s.last = s.last.max(ts);
        }
        if !s.dirty && !s.new {
            touched.push((site, hash, s.id));
        }
        s.dirty = true;
    }
    s.id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_hashes_stay_different_keys() {
        let mut cache = KeyCache::new(KeyTable::Sessions);
        let mut filter = KeyFilter::with_capacity(0);
        let mut next = 10;
        // Same site, same hash, different keys: as if FNV-1a collided.
        let a = cache.touch_or_create(1, 42, "alpha", 100, 1, 7, &mut next, &mut filter);
        let b = cache.touch_or_create(1, 42, "beta", 200, 1, 8, &mut next, &mut filter);
        assert_ne!(a, b);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.touch_cached(1, 42, "alpha", 50, 1), Some(a));
        assert_eq!(cache.touch_cached(1, 42, "beta", 300, 1), Some(b));
        assert_eq!(cache.touch_cached(1, 42, "gamma", 300, 1), None);
        // The same key and hash under another site is another key.
        let c = cache.touch_or_create(2, 42, "alpha", 100, 1, 9, &mut next, &mut filter);
        assert!(c != a && c != b);
        assert_eq!(
            cache.touch_or_create(1, 42, "beta", 250, 1, 0, &mut next, &mut filter),
            b
        );
        let mut new = Vec::new();
        cache.take_touched(
            |site, hash, key, s| {
                new.push((
                    site,
                    hash,
                    key.to_string(),
                    s.id,
                    s.visitor,
                    s.first,
                    s.last,
                ))
            },
            |_| panic!("only new entries"),
        );
        new.sort();
        assert_eq!(
            new,
            vec![
                (1, 42, "alpha".to_string(), a, 7, 50, 100),
                (1, 42, "beta".to_string(), b, 8, 200, 300),
                (2, 42, "alpha".to_string(), c, 9, 100, 100),
            ]
        );
        // Clean now: a widening is listed once as changed.
        assert_eq!(cache.touch_cached(1, 42, "beta", 400, 2), Some(b));
        assert_eq!(cache.touch_cached(1, 42, "beta", 500, 2), Some(b));
        let mut changed = Vec::new();
        cache.take_touched(
            |_, _, _, _| panic!("nothing new"),
            |s| changed.push((s.id, s.last)),
        );
        assert_eq!(changed, vec![(b, 500)]);
        // Stored rows are found the same way.
        cache.insert_stored(1, 42, "delta", Span::stored(3, 0, 1, 1));
        assert_eq!(cache.touch_cached(1, 42, "delta", 1, 2), Some(3));
        assert_eq!(cache.touch_cached(1, 42, "alpha", 1, 2), Some(a));
        cache.retain(|s| s.id != a);
        assert_eq!(cache.touch_cached(1, 42, "alpha", 1, 2), None);
        assert_eq!(cache.touch_cached(1, 42, "beta", 1, 2), Some(b));
    }

    #[test]
    fn visitors_keep_their_first_sighting() {
        let mut cache = KeyCache::new(KeyTable::Visitors);
        let mut filter = KeyFilter::with_capacity(0);
        let mut next = 1;
        let v = cache.touch_or_create(1, 5, "v", 100, 1, 0, &mut next, &mut filter);
        assert!(filter.may_contain(mix(KeyTable::Visitors, 1, 5)));
        cache.take_touched(|_, _, _, _| {}, |_| {});
        cache.touch_cached(1, 5, "v", 200, 2);
        cache.take_touched(
            |_, _, _, _| panic!(),
            |_| panic!("a later sighting changes nothing"),
        );
        cache.touch_cached(1, 5, "v", 50, 2);
        let mut changed = Vec::new();
        cache.take_touched(|_, _, _, _| panic!(), |s| changed.push((s.id, s.first)));
        assert_eq!(changed, vec![(v, 50)]);
    }
}
