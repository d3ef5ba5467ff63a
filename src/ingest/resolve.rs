//! Turning checked events into rows: every string becomes an integer id,
//! sessions and visitors get their spans, and each batch lists the rows the
//! writer must add or change.
//!
//! This runs on the reader thread, beside parsing, so that the writer thread
//! only inserts. Ids are allocated here (max(id) + 1 when the run starts):
//! ingest holds its job lock, and no other job adds sessions, visitors,
//! labels or sites, so nobody else takes ids while we run. Keys the caches do
//! not hold are looked up on a read-only connection, in index order, if the
//! key filter ([`super::keyfilter`]) says the store may hold them.
//! A cache entry is only forgotten once the batch that last used it is
//! committed, so a key is never looked up while its row is still in flight,
//! and (sessions and visitors) once its entry in `session_keys` /
//! `visitor_keys` is written: the writer fills those in large sorted flushes
//! (`store::keyflush::flush_keys`) and publishes how far it got in
//! [`KeysUpto`], so every key created by this run stays cached until then.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use anyhow::Result;
use chrono::NaiveDate;
use chrono_tz::Tz;
use rusqlite::Connection;
use rustc_hash::{FxHashMap, FxHashSet};

use super::chunk::Text;
use super::chunk::{Chunk, ChunkEvent};
use super::keycache::{KeyCache, Span};
use super::keyfilter::KeyFilter;
use super::propsets::{Seen, SeenProps};
use crate::store::batch::{EventRow, NewKey, ResolvedBatch};
use crate::store::keyruns::{KeyRuns, KeyTable, mix};
use crate::store::keys;
use crate::time::day_bounds_ms;

/// Cached keys (sessions + visitors + labels) above which committed entries
/// are forgotten: keeps memory flat whatever the input size.
pub(crate) const CACHE_LIMIT: usize = 1_000_000;

/// The highest session and visitor ids whose key entries are committed.
#[derive(Debug, Default)]
pub(crate) struct KeysUpto {
    pub(crate) sessions: AtomicI64,
    pub(crate) visitors: AtomicI64,
}

impl KeysUpto {
    pub(crate) fn set(&self, (sessions, visitors): (i64, i64)) {
        self.sessions.store(sessions, Ordering::Release);
        self.visitors.store(visitors, Ordering::Release);
    }
}

/// Insert the fingerprint of every key entry of the store into `filter`
/// (the runs' mixes are the fingerprints).
fn fill_filter(runs: &KeyRuns, filter: &mut KeyFilter) -> Result<()> {
    runs.for_each(|mix| filter.insert(mix))
}

/// The caches and id counters of one ingest run.
pub(crate) struct Resolver {
    conn: Connection,
    /// The key entries of the stored sessions and visitors.
    runs: Arc<KeyRuns>,
    tz: Tz,
    committed: Arc<AtomicU64>,
    keys_upto: Arc<KeysUpto>,
    batch: ResolvedBatch,
    next_batch: u64,
    sites: FxHashMap<String, i64>,
    /// Per site id: first and last event time seen by this run.
    site_spans: FxHashMap<i64, (i64, i64)>,
    labels: FxHashMap<String, (i64, u64)>,
    /// What each `props` text met was stored as (label ids do not change
    /// during a run).
    seen_props: SeenProps<Seen>,
    sessions: KeyCache,
    visitors: KeyCache,
    /// Per event of the chunk being added: (session, visitor) keys the
    /// cache lacked and the store may hold, to look up.
    unknown: Vec<(KeyTable, i64, i64, Text)>,
    /// Every stored key and every key this run created (see
    /// [`Resolver::rebuild_filter`]): a key it does not hold is new.
    filter: KeyFilter,
    touched_sites: FxHashSet<i64>,
    days: FxHashSet<(i64, NaiveDate)>,
    day_cache: Option<(i64, i64, NaiveDate)>,
    next_site: i64,
    next_label: i64,
    next_session: i64,
    next_visitor: i64,
    /// Cache size above which eviction runs again: keys not yet flushed
    /// cannot go, so a pass that freed little is not repeated every batch
    /// (until the next key flush).
    evict_at: usize,
    evict_upto: (i64, i64),
    /// Keys looked up in the store, and how many of them it had.
    lookups: (u64, u64),
}

impl Resolver {
    /// `conn` is a read-only connection to the store; `committed` is the
    /// number of the last batch the writer committed; `keys_upto` how far
    /// the key entries are written (every row above it must be created by
    /// this run: the writer flushes the older ones before the run starts);
    /// `expected_new` about how many keys the input will add (the key
    /// filter is made that much larger).
    pub(crate) fn new(
        conn: Connection,
        runs: Arc<KeyRuns>,
        tz: Tz,
        committed: Arc<AtomicU64>,
        keys_upto: Arc<KeysUpto>,
        expected_new: usize,
    ) -> Result<Resolver> {
        let next = |table: keys::IdTable| keys::next_id(&conn, table);
        // Never below a key entry's id, even if retention deleted the
        // newest rows: ids above `*_keys_upto` must be new.
        let (next_site, next_label, next_session, next_visitor) = (
            next(keys::IdTable::Sites)?,
            next(keys::IdTable::Labels)?,
            next(keys::IdTable::Sessions)?.max(keys_upto.sessions.load(Ordering::Acquire) + 1),
            next(keys::IdTable::Visitors)?.max(keys_upto.visitors.load(Ordering::Acquire) + 1),
        );
        // The writer has flushed the key entries of every older row before
        // the resolver starts, so the key tables hold every stored key. Ids
        // go up to `*_keys_upto`, which bounds their number (retention only
        // removes some) without counting the tables: a second full scan.
        let stored =
            keys_upto.sessions.load(Ordering::Acquire) + keys_upto.visitors.load(Ordering::Acquire);
        let mut filter = KeyFilter::with_capacity(2 * stored.max(0) as usize + expected_new);
        fill_filter(&runs, &mut filter)?;
        Ok(Resolver {
            conn,
            runs,
            tz,
            committed,
            keys_upto,
            batch: ResolvedBatch {
                number: 1,
                ..ResolvedBatch::default()
            },
            next_batch: 1,
            sites: FxHashMap::default(),
            site_spans: FxHashMap::default(),
            labels: FxHashMap::default(),
            seen_props: SeenProps::default(),
            sessions: KeyCache::new(KeyTable::Sessions),
            visitors: KeyCache::new(KeyTable::Visitors),
            unknown: Vec::new(),
            filter,
            touched_sites: FxHashSet::default(),
            days: FxHashSet::default(),
            day_cache: None,
            next_site,
            next_label,
            next_session,
            next_visitor,
            evict_at: CACHE_LIMIT,
            evict_upto: (0, 0),
            lookups: (0, 0),
        })
    }

    /// Keys looked up in the store so far, and how many it had.
    pub(crate) fn lookups(&self) -> (u64, u64) {
        self.lookups
    }

    /// Events in the batch being built.
    pub(crate) fn len(&self) -> usize {
        self.batch.events.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.batch.events.is_empty()
    }

    /// Resolve `events` (of `chunk`) into the current batch.
    ///
    /// First pass, in input order: sites and labels, and the session and
    /// visitor keys the caches hold (one probe each); a key they lack is
    /// listed for a lookup if the filter may hold it. Then those are looked
    /// up in index order and cached, and a second pass resolves the keys
    /// the first one left: cached now, or new.
    pub(crate) fn add(&mut self, chunk: &Chunk, events: &mut [ChunkEvent]) -> Result<()> {
        let number = self.batch.number;
        let base = self.batch.events.len();
        self.unknown.clear();
        self.batch.events.reserve(events.len());
        let mut left = false;
        for e in events.iter_mut() {
            let site = self.site(chunk.str(e.site), e.ts_ms)?;
            let visitor = self.known(KeyTable::Visitors, chunk, site, e, number);
            let session = self.known(KeyTable::Sessions, chunk, site, e, number);
            left |= visitor == 0 || session == 0;
            let label = match e.label {
                Some(l) => Some(self.label(chunk.str(l), number)?),
                None => None,
            };
            let referrer = match e.referrer {
                Some(r) => Some(self.label(chunk.str(r), number)?),
                None => None,
            };
            let mut seen = std::mem::take(&mut self.seen_props);
            let mut out = std::mem::take(&mut self.batch.props);
            let props =
                super::propsets::stored(&mut seen, chunk, e, &mut out, |t| self.label(t, number));
            self.batch.props = out;
            self.seen_props = seen;
            let props = props?;
            let day = self.local_day(e.ts_ms);
            self.days.insert((site, day));
            self.batch.events.push(EventRow {
                ts: e.ts_ms,
                site,
                kind: e.kind,
                session,
                visitor,
                label,
                referrer,
                revenue_cents: e.revenue_cents,
                props,
                value: e.value,
                extra: e.extra.take(),
                id: e.id.take(),
                line: e.line,
            });
        }
        if !left {
            return Ok(());
        }
        self.look_up_unknown(chunk)?;
        for (e, row) in events.iter().zip(&mut self.batch.events[base..]) {
            if row.visitor == 0 {
                row.visitor = self.visitors.touch_or_create(
                    row.site,
                    e.visitor_hash,
                    chunk.str(e.visitor),
                    e.ts_ms,
                    number,
                    0,
                    &mut self.next_visitor,
                    &mut self.filter,
                );
            }
            if row.session == 0 {
                row.session = self.sessions.touch_or_create(
                    row.site,
                    e.session_hash,
                    chunk.str(e.session),
                    e.ts_ms,
                    number,
                    row.visitor,
                    &mut self.next_session,
                    &mut self.filter,
                );
            }
        }
        Ok(())
    }

    /// The id of `e`'s session or visitor key if cached (its span widened),
    /// else 0, the key listed for a lookup if the filter may hold it.
    fn known(
        &mut self,
        kind: KeyTable,
        chunk: &Chunk,
        site: i64,
        e: &ChunkEvent,
        batch: u64,
    ) -> i64 {
        let (cache, hash, text) = match kind {
            KeyTable::Sessions => (&mut self.sessions, e.session_hash, e.session),
            KeyTable::Visitors => (&mut self.visitors, e.visitor_hash, e.visitor),
        };
        if let Some(id) = cache.touch_cached(site, hash, chunk.str(text), e.ts_ms, batch) {
            return id;
        }
        if self.filter.may_contain(mix(kind, site, hash)) {
            self.unknown.push((kind, site, hash, text));
        }
        0
    }

    /// Hand out the current batch with its new and changed rows, and start
    /// the next one, in `spent` (a written batch, emptied here and filled
    /// again without allocating) if given.
    pub(crate) fn take_batch(&mut self, spent: Option<ResolvedBatch>) -> Result<ResolvedBatch> {
        let number = self.batch.number;
        let mut next = spent.unwrap_or_default();
        next.clear();
        next.number = number + 1;
        let mut batch = std::mem::replace(&mut self.batch, next);
        self.next_batch = number + 1;
        let new_key = |site: i64, hash: i64, key: &str, s: &Span| NewKey {
            id: s.id,
            site,
            hash,
            key: key.to_string(),
            visitor: s.visitor,
            first: s.first,
            last: s.last,
        };
        self.sessions.take_touched(
            |site, hash, key, s| batch.new_sessions.push(new_key(site, hash, key, s)),
            |s| batch.session_spans.push((s.id, s.first, s.last)),
        );
        self.visitors.take_touched(
            |site, hash, key, s| batch.new_visitors.push(new_key(site, hash, key, s)),
            |s| batch.visitor_firsts.push((s.id, s.first)),
        );
        // In id order, so that the rows are appended (the key flush sorts
        // the key entries by key itself).
        batch.new_sessions.sort_unstable_by_key(|n| n.id);
        batch.new_visitors.sort_unstable_by_key(|n| n.id);
        for site in self.touched_sites.drain() {
            if let Some((first, last)) = self.site_spans.get(&site) {
                batch.site_spans.push((site, *first, *last));
            }
        }
        batch.days.extend(self.days.drain());
        self.evict_committed();
        if self.filter.is_over_capacity() {
            self.rebuild_filter()?;
        }
        Ok(batch)
    }

    /// Rebuild the key filter at double size: from one snapshot of the key
    /// tables plus every key in the caches.
    ///
    /// Why no key can be missed: a key must be in the filter if it was
    /// stored when the run started or created by this run. Stored keys that
    /// are still stored are in the snapshot (retention may delete some: a
    /// deleted key need not be found). A key created by this run is either
    /// still cached, and added from the cache, or was evicted; eviction
    /// (`evict_committed`, on this thread, before this call) only drops a
    /// key whose id is at most `KeysUpto`, which the writer raises only
    /// after committing the key entries up to it. So an evicted key's entry
    /// was committed before this call, and the snapshot, whose read
    /// transaction starts inside this call, sees it. No key is created
    /// while the rebuild runs (same thread). A key in both the cache and the
    /// snapshot is inserted twice, which is harmless.
    fn rebuild_filter(&mut self) -> Result<()> {
        let mut filter = KeyFilter::with_capacity(2 * self.filter.capacity());
        fill_filter(&self.runs, &mut filter)?;
        self.sessions.fill_filter(&mut filter);
        self.visitors.fill_filter(&mut filter);
        self.filter = filter;
        Ok(())
    }

    /// Forget cached entries whose last batch is committed (sessions and
    /// visitors: and whose key entry is written), once the caches are over
    /// their limit.
    fn evict_committed(&mut self) {
        if self.cached() <= CACHE_LIMIT {
            return;
        }
        let upto = (
            self.keys_upto.sessions.load(Ordering::Acquire),
            self.keys_upto.visitors.load(Ordering::Acquire),
        );
        if self.cached() <= self.evict_at && upto == self.evict_upto {
            return;
        }
        let committed = self.committed.load(Ordering::Acquire);
        // Keep the most recently used half of the limit as well: a key used
        // lately (a session still going, a visitor who is back) is the
        // likeliest to come again, and each one forgotten costs a lookup.
        let mut batches: Vec<u64> = self
            .sessions
            .batches()
            .chain(self.visitors.batches())
            .collect();
        let recent = match batches.len().checked_sub(CACHE_LIMIT / 2) {
            Some(i) if i < batches.len() => *batches.select_nth_unstable(i).1,
            _ => 0,
        };
        self.sessions
            .retain(|s| s.batch > committed || s.id > upto.0 || s.batch >= recent);
        self.visitors
            .retain(|s| s.batch > committed || s.id > upto.1 || s.batch >= recent);
        self.labels.retain(|_, l| l.1 > committed);
        self.evict_at = CACHE_LIMIT.max(self.cached() + CACHE_LIMIT / 4);
        self.evict_upto = upto;
    }

    /// Cached keys (sessions + visitors + labels).
    fn cached(&self) -> usize {
        self.sessions.len() + self.visitors.len() + self.labels.len()
    }

    /// Look up, in index order, the keys listed by the first pass of
    /// [`Resolver::add`]; cache those the store has. Sorted lookups touch
    /// each index page once instead of at random.
    fn look_up_unknown(&mut self, chunk: &Chunk) -> Result<()> {
        let mut keys = std::mem::take(&mut self.unknown);
        keys.sort_unstable_by(|a, b| {
            (a.0 as u8, a.1, a.2, chunk.str(a.3)).cmp(&(b.0 as u8, b.1, b.2, chunk.str(b.3)))
        });
        keys.dedup_by(|a, b| {
            (a.0, a.1, a.2) == (b.0, b.1, b.2) && chunk.str(a.3) == chunk.str(b.3)
        });
        self.lookups.0 += keys.len() as u64;
        for &(kind, site, hash, text) in &keys {
            let key = chunk.str(text);
            let cache = match kind {
                KeyTable::Sessions => &mut self.sessions,
                KeyTable::Visitors => &mut self.visitors,
            };
            if let Some(row) = keys::find_key(&self.conn, &self.runs, kind, site, hash, key)? {
                self.lookups.1 += 1;
                let span = Span::stored(row.id, row.visitor, row.first, row.last);
                cache.insert_stored(site, hash, key, span);
            }
        }
        keys.clear();
        self.unknown = keys;
        Ok(())
    }

    fn site(&mut self, name: &str, ts: i64) -> Result<i64> {
        let id = match self.sites.get(name) {
            Some(id) => *id,
            None => {
                let found = keys::find_site(&self.conn, name)?;
                let (id, first, last) = match found {
                    Some(row) => row,
                    None => {
                        let id = self.next_site;
                        self.next_site += 1;
                        self.batch.new_sites.push((id, name.to_string(), ts, ts));
                        (id, ts, ts)
                    }
                };
                self.sites.insert(name.to_string(), id);
                self.site_spans.insert(id, (first, last));
                id
            }
        };
        let span = self.site_spans.entry(id).or_insert((ts, ts));
        if ts < span.0 || ts > span.1 {
            span.0 = span.0.min(ts);
            span.1 = span.1.max(ts);
            self.touched_sites.insert(id);
        }
        Ok(id)
    }

    fn label(&mut self, value: &str, batch: u64) -> Result<i64> {
        if let Some(l) = self.labels.get_mut(value) {
            l.1 = batch;
            return Ok(l.0);
        }
        let found = keys::find_label(&self.conn, value)?;
        let id = match found {
            Some(id) => id,
            None => {
                let id = self.next_label;
                self.next_label += 1;
                self.batch.new_labels.push((id, value.to_string()));
                id
            }
        };
        self.labels.insert(value.to_string(), (id, batch));
        Ok(id)
    }

    fn local_day(&mut self, ts_ms: i64) -> NaiveDate {
        if let Some((start, end, day)) = self.day_cache
            && ts_ms >= start
            && ts_ms < end
        {
            return day;
        }
        let day = crate::time::local_date(ts_ms, self.tz);
        let (start, end) = day_bounds_ms(day, self.tz);
        self.day_cache = Some((start, end, day));
        day
    }
}
