//! Writing one resolved batch in one transaction: duplicates by
//! `(site, id)` dropped, events appended in time order with their batch
//! number, the batch's new sites, labels, sessions and visitors added (in
//! index order) and changed spans updated, and rolled-up days that received
//! events marked for re-aggregation.

use anyhow::{Context, Result, bail};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, params};
use rustc_hash::FxHashSet;

use crate::store::batch::{EventProps, EventRow, ResolvedBatch};
use crate::store::encoding::{EVENT_KEYS_PER_MS, event_key};
use crate::store::files::{StoredFile, remember};
use crate::util::thousands;

/// What one committed batch did.
#[derive(Debug, Default, Clone)]
pub(crate) struct BatchCounts {
    pub(crate) stored: u64,
    pub(crate) duplicates: u64,
    /// (site id, day) pairs marked for re-aggregation.
    pub(crate) marked: Vec<(i64, chrono::NaiveDate)>,
}

/// Store `batch` (if any) and remember `files`, the input files whose last
/// event it holds, in one `BEGIN IMMEDIATE` transaction: a file is never
/// remembered without its events, nor its events stored without it.
pub(crate) fn write_batch(
    conn: &mut Connection,
    batch: Option<&ResolvedBatch>,
    files: &[StoredFile],
    visitors: &[crate::store::logs::LogVisitor],
    now_ms: i64,
) -> Result<BatchCounts> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .context("cannot start a write transaction on the store")?;
    let counts = match batch {
        Some(batch) => write_in(&tx, batch)?,
        None => BatchCounts::default(),
    };
    remember(&tx, files, now_ms)?;
    crate::store::logs::remember(&tx, visitors)?;
    crate::fault::inject("ingest-write");
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
        let mut insert_id = tx.prepare_cached(
            "INSERT OR IGNORE INTO event_ids (site_id, id, ts) VALUES (?1, ?2, ?3)",
        )?;
        // In time order, so that the rows are appended to the table (events
        // of one millisecond keep their input order).
        let mut order: Vec<usize> = (0..batch.events.len()).collect();
        order.sort_by_key(|&i| batch.events[i].ts);
        let stored_max: i64 =
            tx.query_row("SELECT coalesce(max(id), -1) FROM events", [], |r| r.get(0))?;
        let mut slot = EventSlot::new(stored_max);
        let mut lines = NewLines::new(tx, batch, stored_max)?;
        let mut rows = Vec::with_capacity(order.len());
        for i in order {
            let e = &batch.events[i];
            if let Some(id) = &e.id
                && insert_id.execute(params![e.site, id, e.ts])? == 0
            {
                counts.duplicates += 1;
                continue;
            }
            if let Some(hash) = e.line
                && !lines.add(tx, e.ts, (e.site, hash))?
            {
                counts.duplicates += 1;
                continue;
            }
            rows.push((slot.next(tx, e.ts)?, e));
        }
        insert_events(tx, seq, &rows, &batch.props)?;
        counts.stored = rows.len() as u64;
    }
    let seq = seq + 1;
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'next_seq'", [seq])?;
    {
        insert_many(
            tx,
            "OR FAIL",
            "sessions (id, site_id, key, visitor_id, started_ts, last_ts)",
            6,
            &batch.new_sessions,
            |stmt, at, s| {
                stmt.raw_bind_parameter(at, s.id)?;
                stmt.raw_bind_parameter(at + 1, s.site)?;
                stmt.raw_bind_parameter(at + 2, &s.key)?;
                stmt.raw_bind_parameter(at + 3, s.visitor)?;
                stmt.raw_bind_parameter(at + 4, s.first)?;
                stmt.raw_bind_parameter(at + 5, s.last)
            },
        )?;
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
        if let Some(oldest) = batch.session_spans.iter().map(|s| s.0).min() {
            crate::store::sessions::may_reopen(tx, oldest)?;
        }
        insert_many(
            tx,
            "OR FAIL",
            "visitors (id, site_id, key, first_ts)",
            4,
            &batch.new_visitors,
            |stmt, at, v| {
                stmt.raw_bind_parameter(at, v.id)?;
                stmt.raw_bind_parameter(at + 1, v.site)?;
                stmt.raw_bind_parameter(at + 2, &v.key)?;
                stmt.raw_bind_parameter(at + 3, v.first)
            },
        )?;
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
    // A batch whose events were all stored before changes no day.
    if !batch.days.is_empty() && counts.stored > 0 {
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

/// Rows per `INSERT` statement: one statement for many rows saves most of
/// SQLite's per-statement work.
const ROWS_PER_INSERT: usize = 64;

/// `INSERT {or} INTO {into} VALUES` the `rows`, in statements of
/// [`ROWS_PER_INSERT`] rows; `bind(stmt, first, row)` binds one row's
/// `columns` values from parameter `first` on. `or` is `OR FAIL` where a
/// conflict is a bug (the transaction is then rolled back whole, so the
/// statement needs no journal of its own) or `OR IGNORE`.
pub(crate) fn insert_many<T>(
    tx: &Connection,
    or: &str,
    into: &str,
    columns: usize,
    rows: &[T],
    bind: impl Fn(&mut rusqlite::Statement, usize, &T) -> rusqlite::Result<()>,
) -> Result<()> {
    upsert_many(
        tx,
        &format!("INSERT {or} INTO {into}"),
        "",
        columns,
        rows,
        bind,
    )
}

/// `{insert} VALUES ... {tail}` the `rows`, as [`insert_many`] does; `tail`
/// is an upsert's `ON CONFLICT` clause (rows are applied in order, so a
/// later row of the same key meets the earlier one as stored).
pub(crate) fn upsert_many<T>(
    tx: &Connection,
    insert: &str,
    tail: &str,
    columns: usize,
    rows: &[T],
    bind: impl Fn(&mut rusqlite::Statement, usize, &T) -> rusqlite::Result<()>,
) -> Result<()> {
    let sql = |n: usize| {
        let one = format!("({})", vec!["?"; columns].join(", "));
        format!("{insert} VALUES {} {tail}", vec![one; n].join(", "))
    };
    // Two statements only (the rest goes row by row), so that they stay in
    // the connection's statement cache.
    let mut full = tx.prepare_cached(&sql(ROWS_PER_INSERT))?;
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
    for chunk in &mut chunks {
        for (i, row) in chunk.iter().enumerate() {
            bind(&mut full, i * columns + 1, row)?;
        }
        full.raw_execute()?;
    }
    let mut one = tx.prepare_cached(&sql(1))?;
    for row in chunks.remainder() {
        bind(&mut one, 1, row)?;
        one.raw_execute()?;
    }
    Ok(())
}

/// Insert `rows` (key, event), all of batch `seq` (whose events' props
/// are in `props`).
fn insert_events(
    tx: &rusqlite::Transaction,
    seq: i64,
    rows: &[(i64, &EventRow)],
    props: &[u8],
) -> Result<()> {
    // Of the columns most events leave empty (extra fields, props, a
    // gauge's level), a batch inserts only those some row of it has: the
    // others keep their default (NULL), a bind and a register copy fewer
    // a row each (the writer's CPU -2 to -4% on 3M plain NDJSON events).
    let has = |f: fn(&EventRow) -> bool| rows.iter().any(|(_, e)| f(e));
    let optional = [
        ("extra", has(|e| e.extra.is_some())),
        ("props", has(|e| e.props.is_some())),
        ("value", has(|e| e.value.is_some())),
        ("line", has(|e| e.line.is_some())),
    ];
    let mut into = String::from(
        "events (id, batch, site_id, kind, session_id, visitor_id, label_id, referrer_id,
                 revenue_cents",
    );
    for (name, _) in optional.iter().filter(|(_, used)| *used) {
        into.push_str(", ");
        into.push_str(name);
    }
    into.push(')');
    let columns = 9 + optional.iter().filter(|(_, used)| *used).count();
    insert_many(tx, "OR FAIL", &into, columns, rows, |stmt, at, (key, e)| {
        stmt.raw_bind_parameter(at, key)?;
        stmt.raw_bind_parameter(at + 1, seq)?;
        stmt.raw_bind_parameter(at + 2, e.site)?;
        stmt.raw_bind_parameter(at + 3, e.kind)?;
        stmt.raw_bind_parameter(at + 4, e.session)?;
        stmt.raw_bind_parameter(at + 5, e.visitor)?;
        stmt.raw_bind_parameter(at + 6, e.label)?;
        stmt.raw_bind_parameter(at + 7, e.referrer)?;
        stmt.raw_bind_parameter(at + 8, e.revenue_cents)?;
        let mut next = at + 9;
        if optional[0].1 {
            stmt.raw_bind_parameter(next, &e.extra)?;
            next += 1;
        }
        if optional[1].1 {
            let value = match &e.props {
                Some(EventProps::Blob(at)) => ValueRef::Blob(&props[at.clone()]),
                Some(EventProps::Set(id)) => ValueRef::Integer(*id),
                None => ValueRef::Null,
            };
            stmt.raw_bind_parameter(next, ToSqlOutput::Borrowed(value))?;
            next += 1;
        }
        if optional[2].1 {
            stmt.raw_bind_parameter(next, e.value)?;
            next += 1;
        }
        if optional[3].1 {
            stmt.raw_bind_parameter(next, e.line)?;
        }
        Ok(())
    })
}

/// The dedupe keys `(site, hash)` of a batch's access-log lines, by
/// time: a line already stored is a duplicate (the same lines read again
/// from a rotated or compressed copy), and so is one the batch already
/// has. A line's hash is kept in its event's row (`events.line`); the
/// lines stored before schema version 8 are in `line_ids`. Above the
/// newest stored event no stored line can match, so only the batch's own
/// lines of the same time (they come in time order) are compared; at or
/// below it, the stored keys of that millisecond are read once (one range
/// of the events' key) for all its lines.
struct NewLines {
    /// The newest time a stored line may have; `None`: no line to check.
    stored_max: Option<i64>,
    /// The time of the lines in `group` and `stored`.
    ts: i64,
    /// The batch's lines of that time.
    group: Vec<(i64, i64)>,
    /// The same, once there are many.
    many: FxHashSet<(i64, i64)>,
    /// The stored lines of that time (read when a line of it needs them).
    stored: Option<FxHashSet<(i64, i64)>>,
}

/// Lines of one time compared one by one below this many.
const FEW_LINES: usize = 64;

impl NewLines {
    fn new(tx: &rusqlite::Transaction, batch: &ResolvedBatch, max_key: i64) -> Result<NewLines> {
        let stored_max = if batch.events.iter().any(|e| e.line.is_some()) {
            let old: Option<i64> =
                tx.query_row("SELECT max(ts) FROM line_ids", [], |r| r.get(0))?;
            let newest = (max_key >= 0).then_some(max_key / EVENT_KEYS_PER_MS);
            old.max(newest)
        } else {
            None
        };
        Ok(NewLines {
            stored_max,
            ts: i64::MIN,
            group: Vec::new(),
            many: FxHashSet::default(),
            stored: None,
        })
    }

    /// Whether `line`, at `ts`, is new (and now one of the batch's).
    fn add(&mut self, tx: &rusqlite::Transaction, ts: i64, line: (i64, i64)) -> Result<bool> {
        if ts != self.ts {
            self.ts = ts;
            self.group.clear();
            self.many.clear();
            self.stored = None;
        }
        if self.stored_max.is_some_and(|max| ts <= max) {
            if self.stored.is_none() {
                self.stored = Some(stored_lines(tx, ts)?);
            }
            if self.stored.as_ref().is_some_and(|s| s.contains(&line)) {
                return Ok(false);
            }
        }
        let seen = if self.group.len() < FEW_LINES {
            self.group.contains(&line)
        } else {
            if self.many.is_empty() {
                self.many.extend(self.group.iter().copied());
            }
            !self.many.insert(line)
        };
        if !seen {
            self.group.push(line);
        }
        Ok(!seen)
    }
}

/// The `(site, hash)` of the lines stored at `ts`: in the events of that
/// millisecond, and in `line_ids` (lines stored before schema version 8).
fn stored_lines(tx: &rusqlite::Transaction, ts: i64) -> Result<FxHashSet<(i64, i64)>> {
    let mut stmt = tx.prepare_cached(
        "SELECT site_id, line FROM events WHERE id >= ?1 AND id < ?2 AND line IS NOT NULL
         UNION ALL SELECT site_id, hash FROM line_ids WHERE ts = ?3",
    )?;
    let rows = stmt.query_map(params![event_key(ts), event_key(ts + 1), ts], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Numbers the events of a batch within their millisecond: `events.id` is
/// `ts * EVENT_KEYS_PER_MS + n` (see the schema, migration 3).
struct EventSlot {
    /// The highest key stored before this batch: a millisecond above it
    /// has no stored events, so most events need no lookup.
    stored_max: i64,
    /// The millisecond and the last key given in it.
    last: Option<(i64, i64)>,
}

impl EventSlot {
    fn new(stored_max: i64) -> EventSlot {
        EventSlot {
            stored_max,
            last: None,
        }
    }

    /// The key for the next event at `ts`, events coming in time order:
    /// after the last one given in its millisecond, or after the stored
    /// ones (events of an earlier batch or run).
    fn next(&mut self, tx: &rusqlite::Transaction, ts: i64) -> Result<i64> {
        let key = match self.last {
            Some((last_ts, key)) if last_ts == ts => key + 1,
            _ if event_key(ts) > self.stored_max => event_key(ts),
            _ => {
                let last: Option<i64> = tx
                    .prepare_cached("SELECT max(id) FROM events WHERE id >= ?1 AND id < ?2")?
                    .query_row([event_key(ts), event_key(ts + 1)], |r| r.get(0))?;
                last.map_or(event_key(ts), |k| k + 1)
            }
        };
        if key >= event_key(ts + 1) {
            bail!(
                "more than {} events share the millisecond {}: the store keeps at most that many events per millisecond (all sites together); give events millisecond timestamps, or ids so that repeated loads are dropped as duplicates",
                thousands(EVENT_KEYS_PER_MS as u64),
                crate::time::rfc3339_millis(ts)
            );
        }
        self.last = Some((ts, key));
        Ok(key)
    }
}
