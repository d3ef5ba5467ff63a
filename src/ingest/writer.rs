//! Writing one resolved batch in one transaction: duplicates by
//! `(site, id)` dropped, events appended in time order with their batch
//! number, the batch's new sites, labels, sessions and visitors added (in
//! index order) and changed spans updated, and rolled-up days that received
//! events marked for re-aggregation.

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};

use super::resolve::{ResolvedBatch, key_hash};
use crate::store::schema::{EVENT_KEYS_PER_MS, event_key};
use crate::util::thousands;

/// What one committed batch did.
#[derive(Debug, Default, Clone)]
pub struct BatchCounts {
    pub stored: u64,
    pub duplicates: u64,
    /// (site id, day) pairs marked for re-aggregation.
    pub marked: Vec<(i64, chrono::NaiveDate)>,
}

/// Store `batch` in one `BEGIN IMMEDIATE` transaction.
pub fn write_batch(conn: &mut Connection, batch: &ResolvedBatch) -> Result<BatchCounts> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .context("cannot start a write transaction on the store")?;
    let counts = write_in(&tx, batch)?;
    tx.commit().context("cannot commit a batch of events")?;
    Ok(counts)
}

fn write_in(tx: &rusqlite::Transaction, batch: &ResolvedBatch) -> Result<BatchCounts> {
    let mut counts = BatchCounts::default();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO sites (id, name, first_ts, last_ts) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (id, name, first, last) in &batch.new_sites {
            insert.execute(params![id, name, first, last])?;
        }
        let mut insert = tx.prepare_cached("INSERT INTO labels (id, value) VALUES (?1, ?2)")?;
        for (id, value) in &batch.new_labels {
            insert.execute(params![id, value])?;
        }
    }
    // Every event of the batch carries its sequence number; the next batch
    // gets the next one.
    let seq: i64 = tx.query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
        r.get(0)
    })?;
    {
        let mut insert_event = tx.prepare_cached(
            "INSERT OR IGNORE INTO events (id, batch, site_id, kind, session_id, visitor_id,
                                           label_id, referrer_id, revenue_cents, extra)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut insert_id = tx.prepare_cached(
            "INSERT OR IGNORE INTO event_ids (site_id, id, ts) VALUES (?1, ?2, ?3)",
        )?;
        // In time order, so that the rows are appended to the table (events
        // of one millisecond keep their input order).
        let mut order: Vec<usize> = (0..batch.events.len()).collect();
        order.sort_by_key(|&i| batch.events[i].ts);
        let mut slot = EventSlot::default();
        for i in order {
            let e = &batch.events[i];
            if let Some(id) = &e.id
                && insert_id.execute(params![e.site, id, e.ts])? == 0
            {
                counts.duplicates += 1;
                continue;
            }
            let mut key = slot.next(e.ts)?;
            while insert_event.execute(params![
                key,
                seq,
                e.site,
                e.kind,
                e.session,
                e.visitor,
                e.label,
                e.referrer,
                e.revenue_cents,
                e.extra
            ])? == 0
            {
                // The store already has events in this millisecond (from
                // an earlier batch): continue after the last of them.
                key = slot.after_stored(tx, e.ts)?;
            }
            counts.stored += 1;
        }
    }
    let seq = seq + 1;
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'next_seq'", [seq])?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO sessions (id, site_id, key, visitor_id, started_ts, last_ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for s in &batch.new_sessions {
            insert.execute(params![s.id, s.site, s.key, s.visitor, s.first, s.last])?;
        }
        // A later event for a closed session reopens it (cleanup-sessions
        // closes it again once it is idle).
        let mut update = tx.prepare_cached(
            "UPDATE sessions SET started_ts = min(started_ts, ?2), last_ts = max(last_ts, ?3),
                    ended_ts = CASE WHEN ended_ts IS NOT NULL AND ?3 > last_ts THEN NULL ELSE ended_ts END
             WHERE id = ?1",
        )?;
        for (id, first, last) in &batch.session_spans {
            update.execute(params![id, first, last])?;
        }
        let mut insert = tx.prepare_cached(
            "INSERT INTO visitors (id, site_id, key, first_ts) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for v in &batch.new_visitors {
            insert.execute(params![v.id, v.site, v.key, v.first])?;
        }
        let mut update =
            tx.prepare_cached("UPDATE visitors SET first_ts = min(first_ts, ?2) WHERE id = ?1")?;
        for (id, first) in &batch.visitor_firsts {
            update.execute(params![id, first])?;
        }
        let mut update = tx.prepare_cached(
            "UPDATE sites SET first_ts = min(first_ts, ?2), last_ts = max(last_ts, ?3) WHERE id = ?1",
        )?;
        for (id, first, last) in &batch.site_spans {
            update.execute(params![id, first, last])?;
        }
    }
    // Rolled-up days are read inside the write transaction, so that no
    // aggregate can slip between this read and our commit.
    if !batch.days.is_empty() {
        // Only the batch's own days, each one probe of the date index: the
        // rollups table grows with the history, the batch's days do not.
        let mut rolled =
            tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM daily_rollups WHERE date = ?1)")?;
        let mut mark = tx.prepare_cached(
            "INSERT INTO dirty_days (site_id, date, mark) VALUES (?1, ?2, ?3)
             ON CONFLICT (site_id, date) DO UPDATE SET mark = excluded.mark",
        )?;
        for (site, day) in &batch.days {
            let text = day.to_string();
            if rolled.query_row([&text], |r| r.get::<_, bool>(0))? {
                // `mark` is the sequence number after this batch: an
                // aggregate whose scan saw this batch may clear it.
                mark.execute(params![site, text, seq])?;
                counts.marked.push((*site, *day));
            }
        }
    }
    Ok(counts)
}

/// Numbers the events of a batch within their millisecond: `events.id` is
/// `ts * EVENT_KEYS_PER_MS + n` (see the schema, migration 3).
#[derive(Default)]
struct EventSlot {
    /// The millisecond and the last key given in it.
    last: Option<(i64, i64)>,
}

impl EventSlot {
    /// The key for the next event at `ts`, events coming in time order.
    fn next(&mut self, ts: i64) -> Result<i64> {
        let key = match self.last {
            Some((last_ts, key)) if last_ts == ts => key + 1,
            _ => event_key(ts),
        };
        self.take(ts, key)
    }

    /// The key after the last stored event at `ts`.
    fn after_stored(&mut self, tx: &rusqlite::Transaction, ts: i64) -> Result<i64> {
        let last: i64 = tx
            .prepare_cached("SELECT max(id) FROM events WHERE id >= ?1 AND id < ?2")?
            .query_row([event_key(ts), event_key(ts + 1)], |r| r.get(0))?;
        self.take(ts, last + 1)
    }

    fn take(&mut self, ts: i64, key: i64) -> Result<i64> {
        if key >= event_key(ts + 1) {
            bail!(
                "more than {} events share the millisecond {}: the store keeps at most that many events per millisecond (all sites together); give events millisecond timestamps, or ids so that repeated loads are dropped as duplicates",
                thousands(EVENT_KEYS_PER_MS as u64),
                chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ts)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_else(|| ts.to_string())
            );
        }
        self.last = Some((ts, key));
        Ok(key)
    }
}

/// New sessions and visitors (of committed batches) whose key entries are
/// not yet written, above which the writer flushes them: large sorted flushes
/// touch each page of the key tables once for many keys.
pub const KEY_FLUSH_LIMIT: i64 = 500_000;

/// Write the key entries of every session and visitor above
/// `meta.*_keys_upto`, in key order, in one transaction; returns the new
/// `(session_keys_upto, visitor_keys_upto)`. Run at the start of every
/// ingest (a killed run may have left rows without entries), when enough new
/// keys are committed, and at the end. The hashes are computed here from the
/// keys (the rows do not store them).
pub fn flush_keys(conn: &mut Connection) -> Result<(i64, i64)> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .context("cannot start a write transaction on the store")?;
    let mut upto = [0i64; 2];
    for (i, (table, keys, meta)) in [
        ("sessions", "session_keys", "session_keys_upto"),
        ("visitors", "visitor_keys", "visitor_keys_upto"),
    ]
    .into_iter()
    .enumerate()
    {
        let from: i64 = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [meta], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        let mut entries: Vec<(i64, i64, i64)> = Vec::new();
        {
            let mut stmt = tx.prepare(&format!(
                "SELECT site_id, key, id FROM {table} WHERE id > ?1"
            ))?;
            let mut rows = stmt.query([from])?;
            while let Some(row) = rows.next()? {
                let key = row.get_ref(1)?.as_str()?;
                entries.push((row.get(0)?, key_hash(key), row.get(2)?));
            }
        }
        let max = entries.iter().map(|e| e.2).max().unwrap_or(from).max(from);
        entries.sort_unstable();
        let mut insert = tx.prepare(&format!(
            "INSERT OR IGNORE INTO {keys} (site_id, key_hash, id) VALUES (?1, ?2, ?3)"
        ))?;
        for (site, hash, id) in &entries {
            insert.execute([site, hash, id])?;
        }
        if max > from {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![meta, max],
            )?;
        }
        upto[i] = max;
    }
    tx.commit()
        .context("cannot commit the key entries of new sessions and visitors")?;
    Ok((upto[0], upto[1]))
}
