//! Deleting old rows without blocking a concurrent ingest for long.
//!
//! Every table is purged the same way: the keys of the next batch of rows
//! to delete are read after a cursor in key order (a read, which in WAL
//! mode blocks nobody), then deleted in one short `BEGIN IMMEDIATE`
//! transaction that checks the condition again (an ingest may have touched
//! a row in between), then the job pauses so that a writer waiting on the
//! busy timeout gets the store. Reading from the cursor makes one pass over
//! a table in total, however many batches it takes.

use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::types::Value;
use rusqlite::{Connection, ToSql};

/// A table and the condition on its rows to delete, with the named
/// parameters `:cut` (a UTC millisecond cutoff) or `:lo`/`:hi` (a range).
pub(crate) struct Purge {
    pub(crate) table: &'static str,
    /// The columns of its key, in index order.
    pub(crate) key: &'static [&'static str],
    pub(crate) condition: &'static str,
}

/// Raw events of one time range (the primary key order).
pub(crate) const EVENTS: Purge = Purge {
    table: "events",
    key: &["id"],
    condition: "id >= :lo * 16384 AND id < :hi * 16384",
};

/// Closed sessions whose last activity is before the cutoff (all of their
/// events are older, so gone with them). Open sessions stay.
pub(crate) const SESSIONS: Purge = Purge {
    table: "sessions",
    key: &["id"],
    condition: "ended_ts IS NOT NULL AND last_ts < :cut",
};

/// Dedupe keys of deleted events.
pub(crate) const EVENT_IDS: Purge = Purge {
    table: "event_ids",
    key: &["site_id", "id"],
    condition: "ts < :cut",
};

/// Dedupe keys of deleted access-log lines (the front of the key).
pub(crate) const LINE_IDS: Purge = Purge {
    table: "line_ids",
    key: &["ts", "site_id", "hash"],
    condition: "ts < :cut",
};

/// Visitors first seen before the cutoff that no session references any
/// more (run after [`SESSIONS`], and after [`mark_live_visitors`]): the
/// referenced ones are in `temp.live_visitors`, plus those of sessions
/// added since it was filled (`id > :sid`, a short rowid range). A
/// permanent index on `sessions(visitor_id)` would do the same at the cost
/// of an index insert per new session on every ingest.
pub(crate) const VISITORS: Purge = Purge {
    table: "visitors",
    key: &["id"],
    condition: "first_ts < :cut AND id NOT IN (SELECT id FROM temp.live_visitors)
        AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id > :sid AND s.visitor_id = visitors.id)",
};

/// Fill `temp.live_visitors` with the visitors that sessions reference
/// (`surviving_cut`: only sessions that [`SESSIONS`] would keep, for a dry
/// run); returns the newest session id it saw, for `:sid`. One pass over the
/// sessions, in one read transaction.
pub(crate) fn mark_live_visitors(conn: &Connection, surviving_cut: Option<i64>) -> Result<i64> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS live_visitors (id INTEGER PRIMARY KEY);
         DELETE FROM temp.live_visitors;
         BEGIN;",
    )?;
    let result = (|| -> Result<i64> {
        conn.execute(
            "INSERT OR IGNORE INTO temp.live_visitors (id)
             SELECT visitor_id FROM sessions
             WHERE ?1 IS NULL OR NOT (ended_ts IS NOT NULL AND last_ts < ?1)",
            [surviving_cut],
        )?;
        Ok(
            conn.query_row("SELECT coalesce(max(id), 0) FROM sessions", [], |r| {
                r.get(0)
            })?,
        )
    })();
    let _ = conn.execute_batch("COMMIT");
    result.context("cannot list the visitors that sessions still reference")
}

/// Binds for a condition: `(name, value)`.
pub(crate) type Binds<'a> = &'a [(&'a str, i64)];

/// Runs purges in batches and counts them.
pub(crate) struct Purger<'c> {
    conn: &'c Connection,
    batch_size: usize,
    pause: Duration,
    /// Delete transactions committed so far.
    pub(crate) batches: u64,
}

impl<'c> Purger<'c> {
    pub(crate) fn new(conn: &'c Connection, batch_size: usize, pause: Duration) -> Purger<'c> {
        Purger {
            conn,
            batch_size,
            pause,
            batches: 0,
        }
    }

    /// Delete every row of `purge` matching `binds`; returns how many.
    pub(crate) fn run(&mut self, purge: &Purge, binds: Binds) -> Result<u64> {
        let cols = purge.key.join(", ");
        let cursor_names: Vec<String> = (0..purge.key.len()).map(|i| format!(":k{i}")).collect();
        let cursor_list = cursor_names.join(", ");
        let read_sql = format!(
            "SELECT {cols} FROM {t} WHERE ({cols}) > ({cursor_list}) AND {c} ORDER BY {cols} LIMIT :limit",
            t = purge.table,
            c = purge.condition
        );
        let delete_sql = format!(
            "DELETE FROM {t} WHERE ({cols}) = ({cursor_list}) AND {c}",
            t = purge.table,
            c = purge.condition
        );
        // Below every key: each key starts with an integer column, and a
        // row value compares column by column (NULL would compare as
        // unknown).
        let mut cursor: Vec<Value> = vec![Value::Integer(i64::MIN); purge.key.len()];
        let mut deleted = 0;
        loop {
            let keys = self
                .read_keys(&read_sql, &cursor_names, &cursor, binds)
                .with_context(|| format!("cannot read the {} to delete", purge.table))?;
            if keys.is_empty() {
                return Ok(deleted);
            }
            deleted += self
                .delete_keys(&delete_sql, &cursor_names, &keys, binds)
                .with_context(|| format!("cannot delete old {}", purge.table))?;
            let full = keys.len() == self.batch_size;
            cursor = keys.into_iter().next_back().unwrap_or_default();
            std::thread::sleep(self.pause);
            if !full {
                return Ok(deleted);
            }
        }
    }

    fn read_keys(
        &self,
        sql: &str,
        names: &[String],
        cursor: &[Value],
        binds: Binds,
    ) -> Result<Vec<Vec<Value>>> {
        let limit = self.batch_size as i64;
        let mut params: Vec<(&str, &dyn ToSql)> = named(names, cursor);
        params.extend(binds.iter().map(|(n, v)| (*n, v as &dyn ToSql)));
        params.push((":limit", &limit));
        let mut stmt = self.conn.prepare_cached(sql)?;
        let width = names.len();
        let rows = stmt.query_map(params.as_slice(), |r| {
            (0..width).map(|i| r.get::<_, Value>(i)).collect()
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Delete the rows of `keys` that still match. (Their session and
    /// visitor key entries stay: see `keyruns`.)
    fn delete_keys(
        &mut self,
        sql: &str,
        names: &[String],
        keys: &[Vec<Value>],
        binds: Binds,
    ) -> Result<u64> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = (|| -> Result<u64> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let mut n = 0;
            for key in keys {
                let mut params = named(names, key);
                params.extend(binds.iter().map(|(n, v)| (*n, v as &dyn ToSql)));
                n += stmt.execute(params.as_slice())? as u64;
            }
            Ok(n)
        })();
        match result.and_then(|n| Ok(self.conn.execute_batch("COMMIT").map(|_| n)?)) {
            Ok(n) => {
                self.batches += 1;
                Ok(n)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Give the store's free pages back to the file system. With
    /// `auto_vacuum = INCREMENTAL`, in steps with the same pause; a store
    /// without it (one made before the setting took effect) is converted by
    /// one full `VACUUM`, after which every run goes in steps.
    pub(crate) fn give_pages_back(&mut self) -> Result<PagesBack> {
        const STEP_PAGES: i64 = 4096;
        if pragma_i64(self.conn, "freelist_count")? == 0 {
            return Ok(PagesBack::Nothing);
        }
        let how = if pragma_i64(self.conn, "auto_vacuum")? == 2 {
            loop {
                let free = pragma_i64(self.conn, "freelist_count")?;
                // The pragma frees one page per step: run it to the end
                // (execute_batch would step it once and free one page).
                incremental_vacuum(self.conn, STEP_PAGES)
                    .context("cannot give free pages back (incremental vacuum)")?;
                let left = pragma_i64(self.conn, "freelist_count")?;
                if left == 0 || left >= free {
                    break;
                }
                std::thread::sleep(self.pause);
            }
            PagesBack::Incremental
        } else {
            // VACUUM copies the whole store into a temporary database: on
            // disk, not in memory (the connection's temp_store).
            let result = self.conn.execute_batch(
                "PRAGMA temp_store = FILE; PRAGMA auto_vacuum = INCREMENTAL; VACUUM;",
            );
            self.conn.execute_batch("PRAGMA temp_store = MEMORY")?;
            result.context("cannot give free pages back (VACUUM)")?;
            PagesBack::Vacuum
        };
        // The file shrinks when the WAL is copied back; PASSIVE waits for
        // no reader.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        Ok(how)
    }
}

/// `PRAGMA incremental_vacuum(pages)`, stepped until it is done.
fn incremental_vacuum(conn: &Connection, pages: i64) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

/// How [`Purger::give_pages_back`] gave the free pages back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PagesBack {
    /// No page was free.
    Nothing,
    /// Incremental vacuum, in steps.
    Incremental,
    /// A one-time full `VACUUM` that turned incremental vacuum on.
    Vacuum,
}

fn named<'a>(names: &'a [String], values: &'a [Value]) -> Vec<(&'a str, &'a dyn ToSql)> {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| (n.as_str(), v as &dyn ToSql))
        .collect()
}

/// How many rows of `purge` match `binds` (for a dry run).
pub(crate) fn count(conn: &Connection, purge: &Purge, binds: Binds) -> Result<u64> {
    let sql = format!(
        "SELECT count(*) FROM {} WHERE {}",
        purge.table, purge.condition
    );
    let params: Vec<(&str, &dyn ToSql)> =
        binds.iter().map(|(n, v)| (*n, v as &dyn ToSql)).collect();
    let n: i64 = conn
        .query_row(&sql, params.as_slice(), |r| r.get(0))
        .with_context(|| format!("cannot count the old {}", purge.table))?;
    Ok(n.max(0) as u64)
}

fn pragma_i64(conn: &Connection, name: &str) -> Result<i64> {
    Ok(conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?)
}

/// The store's size in bytes: pages in use and free (what the file holds
/// once the WAL is checkpointed).
pub(crate) fn store_bytes(conn: &Connection) -> Result<u64> {
    let pages = pragma_i64(conn, "page_count")?;
    let size = pragma_i64(conn, "page_size")?;
    Ok((pages * size).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn one_incremental_vacuum_call_frees_up_to_its_step() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db"), 1000).unwrap();
        store
            .conn
            .execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS unused (x); CREATE TABLE filler (x);
                 WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 4000)
                 INSERT INTO filler SELECT randomblob(500) FROM r;
                 DELETE FROM filler;",
            )
            .unwrap();
        let free = pragma_i64(&store.conn, "freelist_count").unwrap();
        assert!(free > 300, "{free}");
        incremental_vacuum(&store.conn, 200).unwrap();
        assert_eq!(
            pragma_i64(&store.conn, "freelist_count").unwrap(),
            free - 200
        );
    }

    #[test]
    fn reads_and_deletes_walk_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db"), 1000).unwrap();
        mark_live_visitors(&store.conn, None).unwrap();
        for (purge, index) in [
            (&EVENTS, "PRIMARY KEY"),
            (&SESSIONS, "INTEGER PRIMARY KEY"),
            (&EVENT_IDS, "PRIMARY KEY"),
            (&LINE_IDS, "PRIMARY KEY"),
            (&VISITORS, "INTEGER PRIMARY KEY"),
        ] {
            let cols = purge.key.join(", ");
            let marks: Vec<String> = (0..purge.key.len())
                .map(|i| format!("?{}", i + 1))
                .collect();
            let cond = purge
                .condition
                .replace(":cut", "0")
                .replace(":sid", "0")
                .replace(":lo", "0")
                .replace(":hi", "0");
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT {cols} FROM {} WHERE ({cols}) > ({}) AND {cond} ORDER BY {cols}",
                purge.table,
                marks.join(", ")
            );
            let mut stmt = store.conn.prepare(&sql).unwrap();
            let params: Vec<i64> = vec![0; purge.key.len()];
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let text = plan.join("; ");
            assert!(text.contains(index), "{}: {text}", purge.table);
            assert!(!text.contains("TEMP B-TREE"), "{}: {text}", purge.table);
        }
    }
}
