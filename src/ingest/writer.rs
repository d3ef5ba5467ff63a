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
    first: i64,
    last: i64,
    /// Changed in this batch and not yet written.
    dirty: bool,
}

/// Interning caches and per-batch bookkeeping; lives across batches (and
/// across the job runner's attempts: it holds nothing uncommitted that a
/// rollback would make wrong, see [`StoreWriter::forget_uncommitted`]).
pub struct StoreWriter {
    tz: Tz,
    sites: HashMap<String, i64>,
    labels: FxHashMap<String, i64>,
    /// Per site: visitor key -> (id, first seen).
    visitors: FxHashMap<i64, FxHashMap<String, (i64, i64)>>,
    /// Per site: session key -> span.
    sessions: FxHashMap<i64, FxHashMap<String, SessionSpan>>,
    site_spans: FxHashMap<i64, (i64, i64)>,
    marks: FxHashSet<(i64, NaiveDate)>,
    /// Every (site, day) marked during this run, for the summary.
    pub marked_total: FxHashSet<(i64, NaiveDate)>,
    rolled_dates: FxHashSet<NaiveDate>,
    day_cache: Option<(i64, i64, NaiveDate)>,
    visitor_first_updates: FxHashMap<i64, i64>,
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
            visitor_first_updates: FxHashMap::default(),
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
        self.visitor_first_updates.clear();
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
        match result {
            Ok(counts) => {
                tx.commit().context("cannot commit a batch of events")?;
                self.after_commit();
                Ok(counts)
            }
            Err(e) => {
                drop(tx);
                self.forget_uncommitted();
                Err(e)
            }
        }
    }

    fn after_commit(&mut self) {
        for (site, day) in self.marks.drain() {
            self.marked_total.insert((site, day));
        }
        for s in self.sessions.values_mut().flat_map(|m| m.values_mut()) {
            s.dirty = false;
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
        let mut counts = BatchCounts::default();
        let mut insert_event = tx.prepare_cached(
            "INSERT INTO events (ts, seq, site_id, kind, session_id, visitor_id, label_id,
                                 referrer_id, revenue_cents, extra)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut insert_id = tx.prepare_cached(
            "INSERT OR IGNORE INTO event_ids (site_id, id, ts) VALUES (?1, ?2, ?3)",
        )?;
        for e in events {
            let site = self.site_id(tx, &e.site, e.ts_ms)?;
            if let Some(id) = &e.id
                && insert_id.execute(params![site, id, e.ts_ms])? == 0
            {
                counts.duplicates += 1;
                continue;
            }
            let visitor = self.visitor_id(tx, site, &e.visitor, e.ts_ms)?;
            let session = self.session_id(tx, site, &e.session, visitor, e.ts_ms)?;
            let label = match &e.label {
                Some(l) => Some(self.label_id(tx, l)?),
                None => None,
            };
            let referrer = match &e.referrer {
                Some(r) => Some(self.label_id(tx, r)?),
                None => None,
            };
            insert_event.execute(params![
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
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'next_seq'", [seq])?;
        self.flush_spans(tx, seq)?;
        Ok(counts)
    }

    /// Write the batch's session and site spans, visitor first-seen changes
    /// and day marks. `mark` is the sequence number after this batch.
    fn flush_spans(&mut self, tx: &rusqlite::Transaction, mark: i64) -> Result<()> {
        let mut upd = tx.prepare_cached(
            "UPDATE sessions SET started_ts = min(started_ts, ?2), last_ts = max(last_ts, ?3),
                    ended_ts = CASE WHEN ended_ts IS NOT NULL AND ?3 > last_ts THEN NULL ELSE ended_ts END
             WHERE id = ?1",
        )?;
        for s in self
            .sessions
            .values()
            .flat_map(|m| m.values())
            .filter(|s| s.dirty)
        {
            upd.execute(params![s.id, s.first, s.last])?;
        }
        let mut upd = tx.prepare_cached("UPDATE sites SET first_ts = min(first_ts, ?2), last_ts = max(last_ts, ?3) WHERE id = ?1")?;
        for (site, (first, last)) in self.site_spans.drain() {
            upd.execute(params![site, first, last])?;
        }
        let mut upd =
            tx.prepare_cached("UPDATE visitors SET first_ts = min(first_ts, ?2) WHERE id = ?1")?;
        for (id, first) in self.visitor_first_updates.drain() {
            upd.execute(params![id, first])?;
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

    fn visitor_id(
        &mut self,
        tx: &rusqlite::Transaction,
        site: i64,
        key: &str,
        ts: i64,
    ) -> Result<i64> {
        let cache = self.visitors.entry(site).or_default();
        if let Some((id, first)) = cache.get_mut(key) {
            if ts < *first {
                *first = ts;
                self.visitor_first_updates.insert(*id, ts);
            }
            return Ok(*id);
        }
        let (id, first): (i64, i64) = tx
            .prepare_cached(
                "INSERT INTO visitors (site_id, key, first_ts) VALUES (?1, ?2, ?3)
                 ON CONFLICT (site_id, key) DO UPDATE SET first_ts = min(first_ts, excluded.first_ts)
                 RETURNING id, first_ts",
            )?
            .query_row(params![site, key, ts], |r| Ok((r.get(0)?, r.get(1)?)))?;
        cache.insert(key.to_string(), (id, first));
        Ok(id)
    }

    fn session_id(
        &mut self,
        tx: &rusqlite::Transaction,
        site: i64,
        key: &str,
        visitor: i64,
        ts: i64,
    ) -> Result<i64> {
        let cache = self.sessions.entry(site).or_default();
        if let Some(s) = cache.get_mut(key) {
            if ts < s.first || ts > s.last {
                s.first = s.first.min(ts);
                s.last = s.last.max(ts);
                s.dirty = true;
            }
            return Ok(s.id);
        }
        let (id, first, last): (i64, i64, i64) = tx
            .prepare_cached(
                "INSERT INTO sessions (site_id, key, visitor_id, started_ts, last_ts) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (site_id, key) DO UPDATE SET key = key
                 RETURNING id, started_ts, last_ts",
            )?
            .query_row(params![site, key, visitor, ts], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let dirty = ts < first || ts > last;
        cache.insert(
            key.to_string(),
            SessionSpan {
                id,
                first: first.min(ts),
                last: last.max(ts),
                dirty,
            },
        );
        Ok(id)
    }
}
