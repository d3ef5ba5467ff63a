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
//! ([`super::writer::flush_keys`]) and publishes how far it got in
//! [`KeysUpto`], so every key created by this run stays cached until then.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::{FxHashMap, FxHashSet};

use super::keycache::{KeyCache, Span};
use super::keyfilter::{KeyFilter, KeyKind, fingerprint};
use super::parse::ParsedEvent;
use crate::store::encoding::key_hash;
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

/// Insert the fingerprint of every key entry of the store into `filter`,
/// from one statement (one read snapshot).
fn fill_filter(conn: &Connection, filter: &mut KeyFilter) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT 0, site_id, key_hash FROM session_keys
         UNION ALL SELECT 1, site_id, key_hash FROM visitor_keys",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let kind = if row.get::<_, i64>(0)? == 0 {
            KeyKind::Session
        } else {
            KeyKind::Visitor
        };
        filter.insert(fingerprint(kind, row.get(1)?, row.get(2)?));
    }
    Ok(())
}

/// The rows of a session key: id, key, span and visitor.
///
/// A subquery rather than a join of the key table with `sessions`: SQLite
/// marks the join's plan as depending on the bound site (because of the
/// partial index `sessions_open`) and compiles the statement again whenever
/// the site changes, which cost more than the lookups themselves.
const LOOK_UP_SESSION: &str = "SELECT id, key, started_ts, last_ts, visitor_id FROM sessions
     WHERE id IN (SELECT id FROM session_keys WHERE site_id = ?1 AND key_hash = ?2)";

/// The rows of a visitor key, in the columns of [`LOOK_UP_SESSION`].
const LOOK_UP_VISITOR: &str = "SELECT id, key, first_ts, first_ts, 0 FROM visitors
     WHERE id IN (SELECT id FROM visitor_keys WHERE site_id = ?1 AND key_hash = ?2)";

/// An event as the `events` table stores it.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub(crate) ts: i64,
    pub(crate) site: i64,
    pub(crate) kind: i64,
    pub(crate) session: i64,
    pub(crate) visitor: i64,
    pub(crate) label: Option<i64>,
    pub(crate) referrer: Option<i64>,
    pub(crate) revenue_cents: Option<i64>,
    pub(crate) extra: Option<String>,
    /// The input's id, for dedupe.
    pub(crate) id: Option<String>,
}

/// A new session or visitor row.
#[derive(Debug, Clone)]
pub(crate) struct NewKey {
    pub(crate) id: i64,
    pub(crate) site: i64,
    pub(crate) hash: i64,
    pub(crate) key: String,
    /// Sessions: the visitor; visitors: unused.
    pub(crate) visitor: i64,
    pub(crate) first: i64,
    pub(crate) last: i64,
}

/// Everything one transaction writes.
#[derive(Debug, Default)]
pub(crate) struct ResolvedBatch {
    pub(crate) number: u64,
    pub(crate) events: Vec<EventRow>,
    pub(crate) new_sites: Vec<(i64, String, i64, i64)>,
    pub(crate) site_spans: Vec<(i64, i64, i64)>,
    pub(crate) new_labels: Vec<(i64, String)>,
    /// Sorted by id: appended to the table.
    pub(crate) new_sessions: Vec<NewKey>,
    pub(crate) session_spans: Vec<(i64, i64, i64)>,
    pub(crate) new_visitors: Vec<NewKey>,
    pub(crate) visitor_firsts: Vec<(i64, i64)>,
    /// The local days (per site) the batch's events fall in.
    pub(crate) days: Vec<(i64, NaiveDate)>,
}

impl ResolvedBatch {
    /// Empty every list, keeping the room they have.
    fn clear(&mut self) {
        // Named one by one, so that a new list cannot be forgotten here.
        let ResolvedBatch {
            number: _,
            events,
            new_sites,
            site_spans,
            new_labels,
            new_sessions,
            session_spans,
            new_visitors,
            visitor_firsts,
            days,
        } = self;
        events.clear();
        new_sites.clear();
        site_spans.clear();
        new_labels.clear();
        new_sessions.clear();
        session_spans.clear();
        new_visitors.clear();
        visitor_firsts.clear();
        days.clear();
    }
}

/// A text of [`Chunk::text`]: start and end byte.
type Text = (u32, u32);

/// A checked event kept in a [`Chunk`]: its strings live in the chunk's
/// text, its session and visitor keys are hashed once.
#[derive(Debug)]
pub(crate) struct ChunkEvent {
    ts_ms: i64,
    kind: i64,
    revenue_cents: Option<i64>,
    site: Text,
    session: Text,
    visitor: Text,
    session_hash: i64,
    visitor_hash: i64,
    label: Option<Text>,
    referrer: Option<Text>,
    id: Option<String>,
    extra: Option<String>,
}

/// Events read but not yet resolved, their strings in one buffer that is
/// reused from chunk to chunk (no allocation per event for the usual
/// fields).
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    text: String,
    pub(crate) events: Vec<ChunkEvent>,
}

impl Chunk {
    /// Keep `e` (its text copied into the chunk).
    pub(crate) fn push(&mut self, e: ParsedEvent<'_>) {
        let mut text = |s: &str| -> Text {
            let start = self.text.len();
            self.text.push_str(s);
            let offset = |n: usize| u32::try_from(n).expect("a chunk's text stays below 4 GiB");
            (offset(start), offset(self.text.len()))
        };
        let site = text(&e.site);
        let session = text(&e.session);
        let visitor = text(&e.visitor);
        let label = e.label.as_deref().map(&mut text);
        let referrer = e.referrer.as_deref().map(&mut text);
        self.events.push(ChunkEvent {
            ts_ms: e.ts_ms,
            kind: e.kind as i64,
            revenue_cents: e.revenue_cents,
            site,
            session,
            visitor,
            session_hash: key_hash(&e.session),
            visitor_hash: key_hash(&e.visitor),
            label,
            referrer,
            id: e.id.map(|id| id.into_owned()),
            extra: e.extra,
        });
    }

    /// Bytes of text held: a chunk is resolved before it could outgrow the
    /// 32-bit offsets.
    pub(crate) fn text_len(&self) -> usize {
        self.text.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.events.clear();
    }

    fn str(&self, (start, end): Text) -> &str {
        &self.text[start as usize..end as usize]
    }
}

/// The caches and id counters of one ingest run.
pub(crate) struct Resolver {
    conn: Connection,
    tz: Tz,
    committed: Arc<AtomicU64>,
    keys_upto: Arc<KeysUpto>,
    batch: ResolvedBatch,
    next_batch: u64,
    sites: FxHashMap<String, i64>,
    /// Per site id: first and last event time seen by this run.
    site_spans: FxHashMap<i64, (i64, i64)>,
    labels: FxHashMap<String, (i64, u64)>,
    sessions: KeyCache,
    visitors: KeyCache,
    /// Per event of the chunk being added: (session, visitor) keys the
    /// cache lacked and the store may hold, to look up.
    unknown: Vec<(KeyKind, i64, i64, Text)>,
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
        tz: Tz,
        committed: Arc<AtomicU64>,
        keys_upto: Arc<KeysUpto>,
        expected_new: usize,
    ) -> Result<Resolver> {
        let next = |table: &str| -> Result<i64> {
            Ok(conn.query_row(
                &format!("SELECT coalesce(max(id), 0) + 1 FROM {table}"),
                [],
                |r| r.get(0),
            )?)
        };
        // Never below a key entry's id, even if retention deleted the
        // newest rows: ids above `*_keys_upto` must be new.
        let (next_site, next_label, next_session, next_visitor) = (
            next("sites")?,
            next("labels")?,
            next("sessions")?.max(keys_upto.sessions.load(Ordering::Acquire) + 1),
            next("visitors")?.max(keys_upto.visitors.load(Ordering::Acquire) + 1),
        );
        // The writer has flushed the key entries of every older row before
        // the resolver starts, so the key tables hold every stored key. Ids
        // go up to `*_keys_upto`, which bounds their number (retention only
        // removes some) without counting the tables: a second full scan.
        let stored =
            keys_upto.sessions.load(Ordering::Acquire) + keys_upto.visitors.load(Ordering::Acquire);
        let mut filter = KeyFilter::with_capacity(2 * stored.max(0) as usize + expected_new);
        fill_filter(&conn, &mut filter)?;
        Ok(Resolver {
            conn,
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
            sessions: KeyCache::new(KeyKind::Session),
            visitors: KeyCache::new(KeyKind::Visitor),
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
            let visitor = self.known(KeyKind::Visitor, chunk, site, e, number);
            let session = self.known(KeyKind::Session, chunk, site, e, number);
            left |= visitor == 0 || session == 0;
            let label = match e.label {
                Some(l) => Some(self.label(chunk.str(l), number)?),
                None => None,
            };
            let referrer = match e.referrer {
                Some(r) => Some(self.label(chunk.str(r), number)?),
                None => None,
            };
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
                extra: e.extra.take(),
                id: e.id.take(),
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
        kind: KeyKind,
        chunk: &Chunk,
        site: i64,
        e: &ChunkEvent,
        batch: u64,
    ) -> i64 {
        let (cache, hash, text) = match kind {
            KeyKind::Session => (&mut self.sessions, e.session_hash, e.session),
            KeyKind::Visitor => (&mut self.visitors, e.visitor_hash, e.visitor),
        };
        if let Some(id) = cache.touch_cached(site, hash, chunk.str(text), e.ts_ms, batch) {
            return id;
        }
        if self.filter.may_contain(fingerprint(kind, site, hash)) {
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
        fill_filter(&self.conn, &mut filter)?;
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
            let (sql, cache) = match kind {
                KeyKind::Session => (LOOK_UP_SESSION, &mut self.sessions),
                KeyKind::Visitor => (LOOK_UP_VISITOR, &mut self.visitors),
            };
            let mut stmt = self.conn.prepare_cached(sql)?;
            let mut rows = stmt.query(params![site, hash])?;
            while let Some(row) = rows.next()? {
                if row.get_ref(1)?.as_str()? != key {
                    continue;
                }
                self.lookups.1 += 1;
                let span = Span::stored(row.get(0)?, row.get(4)?, row.get(2)?, row.get(3)?);
                cache.insert_stored(site, hash, key, span);
                break;
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
                let found: Option<(i64, i64, i64)> = self
                    .conn
                    .query_row(
                        "SELECT id, first_ts, last_ts FROM sites WHERE name = ?1",
                        [name],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .context("cannot read the sites of the store")?;
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
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM labels WHERE value = ?1")?
            .query_row([value], |r| r.get(0))
            .optional()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// The key lookups run once per key the cache lacks: a statement that
    /// SQLite compiles again whenever a parameter changes made them the
    /// resolver's largest cost.
    #[test]
    fn key_lookups_are_not_compiled_again_for_each_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), 1000).unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO sites (id, name, first_ts, last_ts) VALUES (1, 'a', 0, 0), (2, 'b', 0, 0);
                 INSERT INTO visitors (id, site_id, key, first_ts) VALUES (1, 1, 'v', 0);
                 INSERT INTO sessions (id, site_id, key, visitor_id, started_ts, last_ts)
                     VALUES (1, 1, 's', 1, 0, 5);",
            )
            .unwrap();
        store
            .conn
            .execute(
                "INSERT INTO session_keys (site_id, key_hash, id) VALUES (1, ?1, 1)",
                [key_hash("s")],
            )
            .unwrap();
        for (sql, expected) in [(LOOK_UP_SESSION, 4), (LOOK_UP_VISITOR, 0)] {
            let mut stmt = store.conn.prepare(sql).unwrap();
            let mut found = 0;
            for i in 0..20i64 {
                let (site, hash) = (1 + i % 2, if i % 3 == 0 { key_hash("s") } else { i });
                let mut rows = stmt.query(params![site, hash]).unwrap();
                while rows.next().unwrap().is_some() {
                    found += 1;
                }
            }
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
            assert_eq!(found, expected, "{sql}");
        }
    }
}
