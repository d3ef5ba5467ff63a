//! Turning checked events into rows: every string becomes an integer id,
//! sessions and visitors get their spans, and each batch lists the rows the
//! writer must add or change.
//!
//! This runs on the reader thread, beside parsing, so that the writer thread
//! only inserts. Ids are allocated here (max(id) + 1 when the run starts):
//! ingest holds its job lock, and no other job adds sessions, visitors,
//! labels or sites, so nobody else takes ids while we run. Keys the caches do
//! not hold are looked up on a read-only connection, in index order.
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

use super::keyfilter::{KeyFilter, KeyKind, fingerprint};
use super::parse::ParsedEvent;
use crate::time::day_bounds_ms;

/// Cached keys (sessions + visitors + labels) above which committed entries
/// are forgotten: keeps memory flat whatever the input size.
pub const CACHE_LIMIT: usize = 1_000_000;

/// The highest session and visitor ids whose key entries are committed.
#[derive(Debug, Default)]
pub struct KeysUpto {
    pub sessions: AtomicI64,
    pub visitors: AtomicI64,
}

impl KeysUpto {
    pub fn set(&self, (sessions, visitors): (i64, i64)) {
        self.sessions.store(sessions, Ordering::Release);
        self.visitors.store(visitors, Ordering::Release);
    }
}

/// The stored hash of a visitor or session key: 64-bit FNV-1a, fixed
/// forever because it is written into the store.
pub fn key_hash(key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
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

/// An event as the `events` table stores it.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub ts: i64,
    pub site: i64,
    pub kind: i64,
    pub session: i64,
    pub visitor: i64,
    pub label: Option<i64>,
    pub referrer: Option<i64>,
    pub revenue_cents: Option<i64>,
    pub extra: Option<String>,
    /// The input's id, for dedupe.
    pub id: Option<String>,
}

/// A new session or visitor row.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: i64,
    pub site: i64,
    pub hash: i64,
    pub key: String,
    /// Sessions: the visitor; visitors: unused.
    pub visitor: i64,
    pub first: i64,
    pub last: i64,
}

/// Everything one transaction writes.
#[derive(Debug, Default)]
pub struct ResolvedBatch {
    pub number: u64,
    pub events: Vec<EventRow>,
    pub new_sites: Vec<(i64, String, i64, i64)>,
    pub site_spans: Vec<(i64, i64, i64)>,
    pub new_labels: Vec<(i64, String)>,
    /// Sorted by (site, hash): inserted in index order.
    pub new_sessions: Vec<NewKey>,
    pub session_spans: Vec<(i64, i64, i64)>,
    pub new_visitors: Vec<NewKey>,
    pub visitor_firsts: Vec<(i64, i64)>,
    /// The local days (per site) the batch's events fall in.
    pub days: Vec<(i64, NaiveDate)>,
}

#[derive(Clone, Copy)]
struct Span {
    id: i64,
    visitor: i64,
    first: i64,
    last: i64,
    /// Created by this run and not yet in a batch handed out.
    new: bool,
    /// Changed since the last batch was handed out.
    dirty: bool,
    /// The batch that last used it.
    batch: u64,
}

/// The caches and id counters of one ingest run.
pub struct Resolver {
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
    sessions: FxHashMap<i64, FxHashMap<String, Span>>,
    visitors: FxHashMap<i64, FxHashMap<String, Span>>,
    touched_sessions: Vec<(i64, String)>,
    touched_visitors: Vec<(i64, String)>,
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
    cached: usize,
    /// Cache size above which eviction runs again: keys not yet flushed
    /// cannot go, so a pass that freed little is not repeated every batch
    /// (until the next key flush).
    evict_at: usize,
    evict_upto: (i64, i64),
}

impl Resolver {
    /// `conn` is a read-only connection to the store; `committed` is the
    /// number of the last batch the writer committed; `keys_upto` how far
    /// the key entries are written (every row above it must be created by
    /// this run: the writer flushes the older ones before the run starts).
    pub fn new(
        conn: Connection,
        tz: Tz,
        committed: Arc<AtomicU64>,
        keys_upto: Arc<KeysUpto>,
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
        // the resolver starts, so the key tables hold every stored key.
        let stored: i64 = conn.query_row(
            "SELECT (SELECT count(*) FROM session_keys) + (SELECT count(*) FROM visitor_keys)",
            [],
            |r| r.get(0),
        )?;
        let mut filter = KeyFilter::with_capacity(2 * stored as usize);
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
            sessions: FxHashMap::default(),
            visitors: FxHashMap::default(),
            touched_sessions: Vec::new(),
            touched_visitors: Vec::new(),
            filter,
            touched_sites: FxHashSet::default(),
            days: FxHashSet::default(),
            day_cache: None,
            next_site,
            next_label,
            next_session,
            next_visitor,
            cached: 0,
            evict_at: CACHE_LIMIT,
            evict_upto: (0, 0),
        })
    }

    /// Events in the batch being built.
    pub fn len(&self) -> usize {
        self.batch.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.events.is_empty()
    }

    /// Resolve a chunk of events into the current batch.
    pub fn add(&mut self, events: Vec<ParsedEvent>) -> Result<()> {
        self.look_up_unknown(&events)?;
        let number = self.batch.number;
        for e in events {
            let site = self.site(&e.site, e.ts_ms)?;
            let visitor = self.visitor(site, &e.visitor, e.ts_ms, number);
            let session = self.session(site, &e.session, visitor, e.ts_ms, number);
            let label = match &e.label {
                Some(l) => Some(self.label(l, number)?),
                None => None,
            };
            let referrer = match &e.referrer {
                Some(r) => Some(self.label(r, number)?),
                None => None,
            };
            let day = self.local_day(e.ts_ms);
            self.days.insert((site, day));
            self.batch.events.push(EventRow {
                ts: e.ts_ms,
                site,
                kind: e.kind as i64,
                session,
                visitor,
                label,
                referrer,
                revenue_cents: e.revenue_cents,
                extra: e.extra,
                id: e.id,
            });
        }
        Ok(())
    }

    /// Hand out the current batch with its new and changed rows, and start
    /// the next one.
    pub fn take_batch(&mut self) -> Result<ResolvedBatch> {
        let number = self.batch.number;
        let mut batch = std::mem::replace(
            &mut self.batch,
            ResolvedBatch {
                number: number + 1,
                ..ResolvedBatch::default()
            },
        );
        self.next_batch = number + 1;
        for (kind, touched) in [
            (0, std::mem::take(&mut self.touched_sessions)),
            (1, std::mem::take(&mut self.touched_visitors)),
        ] {
            let map = if kind == 0 {
                &mut self.sessions
            } else {
                &mut self.visitors
            };
            for (site, key) in touched {
                let Some(s) = map.get_mut(&site).and_then(|m| m.get_mut(&key)) else {
                    continue;
                };
                if s.new {
                    let row = NewKey {
                        id: s.id,
                        site,
                        hash: key_hash(&key),
                        key,
                        visitor: s.visitor,
                        first: s.first,
                        last: s.last,
                    };
                    if kind == 0 {
                        batch.new_sessions.push(row);
                    } else {
                        batch.new_visitors.push(row);
                    }
                } else if s.dirty {
                    if kind == 0 {
                        batch.session_spans.push((s.id, s.first, s.last));
                    } else {
                        batch.visitor_firsts.push((s.id, s.first));
                    }
                }
                s.new = false;
                s.dirty = false;
            }
        }
        batch
            .new_sessions
            .sort_unstable_by_key(|n| (n.site, n.hash));
        batch
            .new_visitors
            .sort_unstable_by_key(|n| (n.site, n.hash));
        for site in self.touched_sites.drain() {
            if let Some((first, last)) = self.site_spans.get(&site) {
                batch.site_spans.push((site, *first, *last));
            }
        }
        batch.days = self.days.drain().collect();
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
        for (kind, map) in [
            (KeyKind::Session, &self.sessions),
            (KeyKind::Visitor, &self.visitors),
        ] {
            for (&site, m) in map {
                for key in m.keys() {
                    filter.insert(fingerprint(kind, site, key_hash(key)));
                }
            }
        }
        self.filter = filter;
        Ok(())
    }

    /// Forget cached entries whose last batch is committed (sessions and
    /// visitors: and whose key entry is written), once the caches are over
    /// their limit.
    fn evict_committed(&mut self) {
        if self.cached <= CACHE_LIMIT {
            return;
        }
        let upto = (
            self.keys_upto.sessions.load(Ordering::Acquire),
            self.keys_upto.visitors.load(Ordering::Acquire),
        );
        if self.cached <= self.evict_at && upto == self.evict_upto {
            return;
        }
        let committed = self.committed.load(Ordering::Acquire);
        let mut kept = 0;
        for (map, upto) in [(&mut self.sessions, upto.0), (&mut self.visitors, upto.1)] {
            for m in map.values_mut() {
                m.retain(|_, s| s.batch > committed || s.id > upto);
                kept += m.len();
            }
        }
        self.labels.retain(|_, l| l.1 > committed);
        self.cached = kept + self.labels.len();
        self.evict_at = CACHE_LIMIT.max(self.cached + CACHE_LIMIT / 4);
        self.evict_upto = upto;
    }

    /// Look up, in index order, the session and visitor keys of `events`
    /// that the caches do not hold; cache those the store has. Sorted
    /// lookups touch each index page once instead of at random.
    fn look_up_unknown(&mut self, events: &[ParsedEvent]) -> Result<()> {
        let mut sessions: Vec<(i64, i64, &str)> = Vec::new();
        let mut visitors: Vec<(i64, i64, &str)> = Vec::new();
        for e in events {
            let Some(&site) = self.sites.get(&e.site) else {
                // A site new to this run: its keys may still be stored.
                let site = self.site(&e.site, e.ts_ms)?;
                let (sh, vh) = (key_hash(&e.session), key_hash(&e.visitor));
                if self
                    .filter
                    .may_contain(fingerprint(KeyKind::Session, site, sh))
                {
                    sessions.push((site, sh, &e.session));
                }
                if self
                    .filter
                    .may_contain(fingerprint(KeyKind::Visitor, site, vh))
                {
                    visitors.push((site, vh, &e.visitor));
                }
                continue;
            };
            if !self
                .sessions
                .get(&site)
                .is_some_and(|m| m.contains_key(e.session.as_str()))
            {
                let sh = key_hash(&e.session);
                if self
                    .filter
                    .may_contain(fingerprint(KeyKind::Session, site, sh))
                {
                    sessions.push((site, sh, &e.session));
                }
            }
            if !self
                .visitors
                .get(&site)
                .is_some_and(|m| m.contains_key(e.visitor.as_str()))
            {
                let vh = key_hash(&e.visitor);
                if self
                    .filter
                    .may_contain(fingerprint(KeyKind::Visitor, site, vh))
                {
                    visitors.push((site, vh, &e.visitor));
                }
            }
        }
        for (table, keys) in [("sessions", &mut sessions), ("visitors", &mut visitors)] {
            keys.sort_unstable();
            keys.dedup();
            let sql = if table == "sessions" {
                "SELECT s.id, s.key, s.started_ts, s.last_ts, s.visitor_id
                 FROM session_keys k CROSS JOIN sessions s ON s.id = k.id
                 WHERE k.site_id = ?1 AND k.key_hash = ?2"
            } else {
                "SELECT v.id, v.key, v.first_ts, v.first_ts, 0
                 FROM visitor_keys k CROSS JOIN visitors v ON v.id = k.id
                 WHERE k.site_id = ?1 AND k.key_hash = ?2"
            };
            let mut stmt = self.conn.prepare_cached(sql)?;
            for &(site, hash, key) in keys.iter() {
                let mut rows = stmt.query(params![site, hash])?;
                while let Some(row) = rows.next()? {
                    if row.get_ref(1)?.as_str()? != key {
                        continue;
                    }
                    let span = Span {
                        id: row.get(0)?,
                        first: row.get(2)?,
                        last: row.get(3)?,
                        visitor: row.get(4)?,
                        new: false,
                        dirty: false,
                        batch: 0,
                    };
                    let map = if table == "sessions" {
                        &mut self.sessions
                    } else {
                        &mut self.visitors
                    };
                    map.entry(site).or_default().insert(key.to_string(), span);
                    self.cached += 1;
                    break;
                }
            }
        }
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
        self.cached += 1;
        Ok(id)
    }

    fn visitor(&mut self, site: i64, key: &str, ts: i64, batch: u64) -> i64 {
        // A visitor's row keeps only its first sighting.
        let slot = KeySlot {
            kind: KeyKind::Visitor,
            filter: &mut self.filter,
            map: &mut self.visitors,
            touched: &mut self.touched_visitors,
            next: &mut self.next_visitor,
            cached: &mut self.cached,
        };
        slot.touch(site, key, ts, batch, 0, false)
    }

    fn session(&mut self, site: i64, key: &str, visitor: i64, ts: i64, batch: u64) -> i64 {
        let slot = KeySlot {
            kind: KeyKind::Session,
            filter: &mut self.filter,
            map: &mut self.sessions,
            touched: &mut self.touched_sessions,
            next: &mut self.next_session,
            cached: &mut self.cached,
        };
        slot.touch(site, key, ts, batch, visitor, true)
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

/// The cache, batch list and id counter of one kind of key (sessions or
/// visitors), borrowed together from the resolver.
struct KeySlot<'a> {
    kind: KeyKind,
    filter: &'a mut KeyFilter,
    map: &'a mut FxHashMap<i64, FxHashMap<String, Span>>,
    touched: &'a mut Vec<(i64, String)>,
    next: &'a mut i64,
    cached: &'a mut usize,
}

impl KeySlot<'_> {
    /// The id of `key`: widen a cached entry's span to `ts` (its first
    /// sighting only, unless `track_last`), or create a new entry with the
    /// next id (`look_up_unknown` saw every key of the chunk, so a miss is
    /// new). An entry becoming new or dirty is listed for the batch.
    fn touch(
        self,
        site: i64,
        key: &str,
        ts: i64,
        batch: u64,
        visitor: i64,
        track_last: bool,
    ) -> i64 {
        let map = self.map.entry(site).or_default();
        if let Some(s) = map.get_mut(key) {
            s.batch = batch;
            let widens = ts < s.first || (track_last && ts > s.last);
            if widens {
                s.first = s.first.min(ts);
                if track_last {
                    s.last = s.last.max(ts);
                }
                if !s.dirty && !s.new {
                    self.touched.push((site, key.to_string()));
                }
                s.dirty = true;
            }
            return s.id;
        }
        let id = *self.next;
        *self.next += 1;
        map.insert(
            key.to_string(),
            Span {
                id,
                visitor,
                first: ts,
                last: ts,
                new: true,
                dirty: false,
                batch,
            },
        );
        *self.cached += 1;
        self.filter
            .insert(fingerprint(self.kind, site, key_hash(key)));
        self.touched.push((site, key.to_string()));
        id
    }
}
