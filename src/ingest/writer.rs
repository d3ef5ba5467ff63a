//! Storing checked events: strings interned to integer ids, one transaction
//! per batch, duplicates dropped by (site, id), sessions and visitors kept
//! current, and rolled-up days that receive events marked for re-aggregation.
//!
//! The caches of ids are bounded: they are cleared at a commit once they
//! hold more than [`CACHE_LIMIT`] entries, so memory does not grow with the
//! input; a miss costs one indexed upsert.

use std::collections::HashMap;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::{FxHashMap, FxHashSet};

use super::parse::ParsedEvent;
use crate::time::day_bounds_ms;

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

/// Entries per cache before it is cleared.
pub const CACHE_LIMIT: usize = 1_000_000;

/// What one committed batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct BatchCounts {
    pub stored: u64,
    pub duplicates: u64,
}

#[derive(Clone, Copy)]
struct SessionSpan {
    id: i64,
    /// The visitor of the session's first event (for a new session).
    visitor: i64,
    first: i64,
    last: i64,
    /// Not in the store yet: inserted at the end of the batch.
    new: bool,
    /// An existing row whose span changed in this batch.
    dirty: bool,
}

#[derive(Clone, Copy)]
struct VisitorSeen {
    id: i64,
    first: i64,
    new: bool,
    dirty: bool,
}

/// Interning caches and per-batch bookkeeping; lives across batches. Ids
/// of new sessions and visitors are allocated here (the batch holds the
/// write lock, so max(id) + 1 is ours) and their rows are written once, with
/// their final span, at the end of the batch.
pub struct StoreWriter {
    tz: Tz,
    sites: HashMap<String, i64>,
    labels: FxHashMap<String, i64>,
    /// Per site: visitor key -> what we know of it.
    visitors: FxHashMap<i64, FxHashMap<String, VisitorSeen>>,
    /// Per site: session key -> span.
    sessions: FxHashMap<i64, FxHashMap<String, SessionSpan>>,
    site_spans: FxHashMap<i64, (i64, i64)>,
    marks: FxHashSet<(i64, NaiveDate)>,
    /// Every (site, day) marked during this run, for the summary.
    pub marked_total: FxHashSet<(i64, NaiveDate)>,
    rolled_dates: FxHashSet<NaiveDate>,
    day_cache: Option<(i64, i64, NaiveDate)>,
    next_session_id: i64,
    next_visitor_id: i64,
    /// Sessions and visitors made new or dirty in this batch, so that a
    /// flush visits only them, not the whole cache.
    touched_sessions: Vec<(i64, String)>,
    touched_visitors: Vec<(i64, String)>,
}

/// The statements of one batch, prepared once.
struct Statements<'t> {
    insert_event: rusqlite::Statement<'t>,
    insert_id: rusqlite::Statement<'t>,
    find_session: rusqlite::Statement<'t>,
    find_visitor: rusqlite::Statement<'t>,
}

impl StoreWriter {
    pub fn new(tz: Tz) -> StoreWriter {
        StoreWriter {
            tz,
            sites: HashMap::new(),
            labels: FxHashMap::default(),
            visitors: FxHashMap::default(),
            sessions: FxHashMap::default(),
            site_spans: FxHashMap::default(),
            marks: FxHashSet::default(),
            marked_total: FxHashSet::default(),
            rolled_dates: FxHashSet::default(),
            day_cache: None,
            next_session_id: 0,
            next_visitor_id: 0,
            touched_sessions: Vec::new(),
            touched_visitors: Vec::new(),
        }
    }

    /// After a failed transaction the caches may hold ids that the rollback
    /// removed: drop them all.
    pub fn forget_uncommitted(&mut self) {
        self.sites.clear();
        self.labels.clear();
        self.visitors.clear();
        self.sessions.clear();
        self.site_spans.clear();
        self.marks.clear();
        self.touched_sessions.clear();
        self.touched_visitors.clear();
    }

    /// Store `events` in one transaction; returns what was stored.
    pub fn write_batch(
        &mut self,
        conn: &mut Connection,
        events: &[ParsedEvent],
    ) -> Result<BatchCounts> {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("cannot start a write transaction on the store")?;
        let result = self.write_in(&tx, events);
        match result.and_then(|counts| {
            tx.commit().context("cannot commit a batch of events")?;
            Ok(counts)
        }) {
            Ok(counts) => {
                self.after_commit();
                Ok(counts)
            }
            Err(e) => {
                self.forget_uncommitted();
                Err(e)
            }
        }
    }

    fn after_commit(&mut self) {
        for (site, day) in self.marks.drain() {
            self.marked_total.insert((site, day));
        }
        for (site, key) in self.touched_sessions.drain(..) {
            if let Some(s) = self.sessions.get_mut(&site).and_then(|m| m.get_mut(&key)) {
                s.dirty = false;
                s.new = false;
            }
        }
        for (site, key) in self.touched_visitors.drain(..) {
            if let Some(v) = self.visitors.get_mut(&site).and_then(|m| m.get_mut(&key)) {
                v.dirty = false;
                v.new = false;
            }
        }
        if self.sessions.values().map(|m| m.len()).sum::<usize>() > CACHE_LIMIT {
            self.sessions.clear();
        }
        if self.visitors.values().map(|m| m.len()).sum::<usize>() > CACHE_LIMIT {
            self.visitors.clear();
        }
        if self.labels.len() > CACHE_LIMIT {
            self.labels.clear();
        }
    }

    fn write_in(
        &mut self,
        tx: &rusqlite::Transaction,
        events: &[ParsedEvent],
    ) -> Result<BatchCounts> {
        // Rolled-up days are read inside the write transaction so that no
        // aggregate can slip between this read and our commit.
        self.rolled_dates.clear();
        {
            let mut stmt = tx.prepare_cached("SELECT DISTINCT date FROM daily_rollups")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let text: String = row.get(0)?;
                if let Ok(d) = text.parse() {
                    self.rolled_dates.insert(d);
                }
            }
        }
        let mut seq: i64 =
            tx.query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
                r.get(0)
            })?;
        self.next_session_id =
            tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM sessions", [], |r| {
                r.get(0)
            })?;
        self.next_visitor_id =
            tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM visitors", [], |r| {
                r.get(0)
            })?;
        let mut st = Statements {
            insert_event: tx.prepare(
                "INSERT INTO events (ts, seq, site_id, kind, session_id, visitor_id, label_id,
                                     referrer_id, revenue_cents, extra)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
            insert_id: tx
                .prepare("INSERT OR IGNORE INTO event_ids (site_id, id, ts) VALUES (?1, ?2, ?3)")?,
            find_session: tx.prepare(
                "SELECT id, key, started_ts, last_ts FROM sessions WHERE site_id = ?1 AND key_hash = ?2",
            )?,
            find_visitor: tx.prepare(
                "SELECT id, key, first_ts FROM visitors WHERE site_id = ?1 AND key_hash = ?2",
            )?,
        };
        self.resolve_unknown_keys(tx, &mut st, events)?;
        let mut counts = BatchCounts::default();
        for e in events {
            let site = self.site_id(tx, &e.site, e.ts_ms)?;
            if let Some(id) = &e.id
                && st.insert_id.execute(params![site, id, e.ts_ms])? == 0
            {
                counts.duplicates += 1;
                continue;
            }
            let visitor = self.visitor_id(site, &e.visitor, e.ts_ms)?;
            let session = self.session_id(site, &e.session, visitor, e.ts_ms)?;
            let label = match &e.label {
                Some(l) => Some(self.label_id(tx, l)?),
                None => None,
            };
            let referrer = match &e.referrer {
                Some(r) => Some(self.label_id(tx, r)?),
                None => None,
            };
            st.insert_event.execute(params![
                e.ts_ms,
                seq,
                site,
                e.kind as i64,
                session,
                visitor,
                label,
                referrer,
                e.revenue_cents,
                e.extra
            ])?;
            seq += 1;
            counts.stored += 1;
            let span = self.site_spans.entry(site).or_insert((e.ts_ms, e.ts_ms));
            span.0 = span.0.min(e.ts_ms);
            span.1 = span.1.max(e.ts_ms);
            let day = self.local_day(e.ts_ms);
            if self.rolled_dates.contains(&day) {
                self.marks.insert((site, day));
            }
        }
        drop(st);
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'next_seq'", [seq])?;
        self.flush(tx, seq)?;
        Ok(counts)
    }

    /// Write the batch's new sessions and visitors, the changed spans of
    /// existing ones, site spans and day marks. `mark` is the sequence
    /// number after this batch.
    fn flush(&mut self, tx: &rusqlite::Transaction, mark: i64) -> Result<()> {
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO sessions (id, site_id, key_hash, key, visitor_id, started_ts, last_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE sessions SET started_ts = min(started_ts, ?2), last_ts = max(last_ts, ?3),
                        ended_ts = CASE WHEN ended_ts IS NOT NULL AND ?3 > last_ts THEN NULL ELSE ended_ts END
                 WHERE id = ?1",
            )?;
            let mut new = Vec::new();
            for (site, key) in &self.touched_sessions {
                let Some(s) = self.sessions.get(site).and_then(|m| m.get(key)) else {
                    continue;
                };
                if s.new {
                    new.push((*site, key_hash(key), key.as_str(), s));
                } else if s.dirty {
                    update.execute(params![s.id, s.first, s.last])?;
                }
            }
            // In index order: each index page is written once per batch.
            new.sort_unstable_by_key(|n| (n.0, n.1));
            for (site, hash, key, s) in new {
                insert.execute(params![s.id, site, hash, key, s.visitor, s.first, s.last])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO visitors (id, site_id, key_hash, key, first_ts) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut update = tx
                .prepare_cached("UPDATE visitors SET first_ts = min(first_ts, ?2) WHERE id = ?1")?;
            let mut new = Vec::new();
            for (site, key) in &self.touched_visitors {
                let Some(v) = self.visitors.get(site).and_then(|m| m.get(key)) else {
                    continue;
                };
                if v.new {
                    new.push((*site, key_hash(key), key.as_str(), v));
                } else if v.dirty {
                    update.execute(params![v.id, v.first])?;
                }
            }
            new.sort_unstable_by_key(|n| (n.0, n.1));
            for (site, hash, key, v) in new {
                insert.execute(params![v.id, site, hash, key, v.first])?;
            }
        }
        let mut upd = tx.prepare_cached(
            "UPDATE sites SET first_ts = min(first_ts, ?2), last_ts = max(last_ts, ?3) WHERE id = ?1",
        )?;
        for (site, (first, last)) in self.site_spans.drain() {
            upd.execute(params![site, first, last])?;
        }
        let mut mark_day = tx.prepare_cached(
            "INSERT INTO dirty_days (site_id, date, mark) VALUES (?1, ?2, ?3)
             ON CONFLICT (site_id, date) DO UPDATE SET mark = excluded.mark",
        )?;
        for (site, day) in &self.marks {
            mark_day.execute(params![site, day.to_string(), mark])?;
        }
        Ok(())
    }

    /// Look up, in index order, every session and visitor key of the batch
    /// that the caches do not hold, and cache the ones the store has. Sorted
    /// lookups touch each index page once instead of at random.
    fn resolve_unknown_keys(
        &mut self,
        tx: &rusqlite::Transaction,
        st: &mut Statements,
        events: &[ParsedEvent],
    ) -> Result<()> {
        let mut sessions: Vec<(i64, i64, &str)> = Vec::new();
        let mut visitors: Vec<(i64, i64, &str)> = Vec::new();
        for e in events {
            let site = self.site_id(tx, &e.site, e.ts_ms)?;
            if !self
                .sessions
                .get(&site)
                .is_some_and(|m| m.contains_key(e.session.as_str()))
            {
                sessions.push((site, key_hash(&e.session), &e.session));
            }
            if !self
                .visitors
                .get(&site)
                .is_some_and(|m| m.contains_key(e.visitor.as_str()))
            {
                visitors.push((site, key_hash(&e.visitor), &e.visitor));
            }
        }
        sessions.sort_unstable();
        sessions.dedup();
        visitors.sort_unstable();
        visitors.dedup();
        for (site, hash, key) in sessions {
            let mut rows = st.find_session.query(params![site, hash])?;
            while let Some(row) = rows.next()? {
                if row.get_ref(1)?.as_str()? == key {
                    let span = SessionSpan {
                        id: row.get(0)?,
                        visitor: 0,
                        first: row.get(2)?,
                        last: row.get(3)?,
                        new: false,
                        dirty: false,
                    };
                    self.sessions
                        .entry(site)
                        .or_default()
                        .insert(key.to_string(), span);
                    break;
                }
            }
        }
        for (site, hash, key) in visitors {
            let mut rows = st.find_visitor.query(params![site, hash])?;
            while let Some(row) = rows.next()? {
                if row.get_ref(1)?.as_str()? == key {
                    let seen = VisitorSeen {
                        id: row.get(0)?,
                        first: row.get(2)?,
                        new: false,
                        dirty: false,
                    };
                    self.visitors
                        .entry(site)
                        .or_default()
                        .insert(key.to_string(), seen);
                    break;
                }
            }
        }
        Ok(())
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

    fn site_id(&mut self, tx: &rusqlite::Transaction, name: &str, ts: i64) -> Result<i64> {
        if let Some(id) = self.sites.get(name) {
            return Ok(*id);
        }
        let id: i64 = tx.query_row(
            "INSERT INTO sites (name, first_ts, last_ts) VALUES (?1, ?2, ?2)
             ON CONFLICT (name) DO UPDATE SET first_ts = min(first_ts, excluded.first_ts)
             RETURNING id",
            params![name, ts],
            |r| r.get(0),
        )?;
        self.sites.insert(name.to_string(), id);
        Ok(id)
    }

    fn label_id(&mut self, tx: &rusqlite::Transaction, value: &str) -> Result<i64> {
        if let Some(id) = self.labels.get(value) {
            return Ok(*id);
        }
        let id = match tx
            .prepare_cached("SELECT id FROM labels WHERE value = ?1")?
            .query_row([value], |r| r.get(0))
            .optional()?
        {
            Some(id) => id,
            None => {
                tx.prepare_cached("INSERT INTO labels (value) VALUES (?1)")?
                    .execute([value])?;
                tx.last_insert_rowid()
            }
        };
        self.labels.insert(value.to_string(), id);
        Ok(id)
    }

    fn visitor_id(&mut self, site: i64, key: &str, ts: i64) -> Result<i64> {
        let cache = self.visitors.entry(site).or_default();
        if let Some(v) = cache.get_mut(key) {
            if ts < v.first {
                v.first = ts;
                if !v.dirty && !v.new {
                    self.touched_visitors.push((site, key.to_string()));
                }
                v.dirty = true;
            }
            return Ok(v.id);
        }
        // resolve_unknown_keys looked every key of the batch up: a miss
        // here is a new visitor.
        let seen = VisitorSeen {
            id: self.next_visitor_id,
            first: ts,
            new: true,
            dirty: false,
        };
        self.next_visitor_id += 1;
        cache.insert(key.to_string(), seen);
        self.touched_visitors.push((site, key.to_string()));
        Ok(seen.id)
    }

    fn session_id(&mut self, site: i64, key: &str, visitor: i64, ts: i64) -> Result<i64> {
        let cache = self.sessions.entry(site).or_default();
        if let Some(s) = cache.get_mut(key) {
            if ts < s.first || ts > s.last {
                s.first = s.first.min(ts);
                s.last = s.last.max(ts);
                if !s.dirty && !s.new {
                    self.touched_sessions.push((site, key.to_string()));
                }
                s.dirty = true;
            }
            return Ok(s.id);
        }
        // resolve_unknown_keys looked every key of the batch up: a miss
        // here is a new session.
        let span = SessionSpan {
            id: self.next_session_id,
            visitor,
            first: ts,
            last: ts,
            new: true,
            dirty: false,
        };
        self.next_session_id += 1;
        cache.insert(key.to_string(), span);
        self.touched_sessions.push((site, key.to_string()));
        Ok(span.id)
    }
}
