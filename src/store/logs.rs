//! What ingest keeps between runs to read access logs: the secret that
//! keys visitor hashes, each log visitor's latest session (so that a
//! session continues across files and runs), and where a log input was
//! last read (so that the next run finds it after a rotation).

use std::hash::{BuildHasher, Hasher};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};

/// A log visitor's latest session, as the sessionizer left it: the
/// visitor's hash (which covers the site), the time that names the
/// session (its key is the visitor's and this time's hex), its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogVisitor {
    pub(crate) visitor: u64,
    pub(crate) named: i64,
    pub(crate) started_ts: i64,
    pub(crate) last_ts: i64,
}

/// The store's visitor-hash secret, made on first use (two writers racing
/// keep the first one's). It comes from the standard library's randomly
/// keyed hasher, which the OS seeds.
pub(crate) fn secret(conn: &Connection) -> Result<u64> {
    let find = |conn: &Connection| -> Result<Option<i64>> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = 'log_secret'", [], |r| {
                r.get(0)
            })
            .optional()?)
    };
    if let Some(value) = find(conn)? {
        return Ok(value as u64);
    }
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let fresh = hasher.finish() as i64;
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('log_secret', ?1)",
        [fresh],
    )
    .context("cannot store the visitor-hash secret")?;
    Ok(find(conn)?.unwrap_or(fresh) as u64)
}

/// Whether any log visitor is kept (a fresh store needs no lookups).
pub(crate) fn any_visitor(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row("SELECT 1 FROM log_visitors LIMIT 1", [], |_| Ok(()))
        .optional()?
        .is_some())
}

/// A visitor's latest session: (the time that names it, started, last
/// activity).
pub(crate) fn latest_session(conn: &Connection, visitor: u64) -> Result<Option<(i64, i64, i64)>> {
    let mut stmt = conn
        .prepare_cached("SELECT named, started_ts, last_ts FROM log_visitors WHERE visitor = ?1")?;
    Ok(stmt
        .query_row([visitor as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// Keep `visitors`' latest sessions (in the transaction that remembers
/// the file whose lines moved them), many rows per statement, applied in
/// order: a visitor listed twice keeps its later session. The sessionizer
/// hands them out in key order, so that they fill neighbouring pages.
pub(crate) fn remember(conn: &Connection, visitors: &[LogVisitor]) -> Result<()> {
    crate::store::writer::upsert_many(
        conn,
        "INSERT INTO log_visitors (visitor, named, started_ts, last_ts)",
        "ON CONFLICT (visitor) DO UPDATE SET
             named = excluded.named, started_ts = excluded.started_ts,
             last_ts = excluded.last_ts
         WHERE excluded.last_ts >= log_visitors.last_ts",
        4,
        visitors,
        |stmt, at, v| {
            stmt.raw_bind_parameter(at, v.visitor as i64)?;
            stmt.raw_bind_parameter(at + 1, v.named)?;
            stmt.raw_bind_parameter(at + 2, v.started_ts)?;
            stmt.raw_bind_parameter(at + 3, v.last_ts)
        },
    )
    .context("cannot keep the sessions of log visitors")
}

/// Log visitors idle since before `cutoff_ms` start a new session whatever
/// comes: retention forgets them.
pub(crate) fn forget_before(conn: &Connection, cutoff_ms: i64) -> Result<u64> {
    Ok(conn.execute("DELETE FROM log_visitors WHERE last_ts < ?1", [cutoff_ms])? as u64)
}

/// Where the file last read under `path` was: (dev, inode, size, mtime).
pub(crate) fn last_read(conn: &Connection, path: &str) -> Result<Option<(u64, u64, u64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT dev, inode, size, mtime_ms FROM ingested_files
         WHERE path = ?1 ORDER BY completed_at DESC, size DESC LIMIT 1",
    )?;
    Ok(stmt
        .query_row([path], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)?.max(0) as u64,
                r.get(3)?,
            ))
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn visitor(named: i64, last_ts: i64) -> LogVisitor {
        LogVisitor {
            visitor: u64::MAX - 5,
            named,
            started_ts: last_ts,
            last_ts,
        }
    }

    /// Rows go in many per statement, in order: a visitor listed twice
    /// keeps its later session whichever comes first, and a stored later
    /// session is not replaced by an older one. A hash above `i64::MAX`
    /// comes back as it went in.
    #[test]
    fn the_latest_session_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), 1000).unwrap();
        let latest = |conn: &Connection| latest_session(conn, u64::MAX - 5).unwrap();
        // 70 rows: a full statement of 64 and six one by one.
        let mut rows: Vec<LogVisitor> = (0..70).map(|i| visitor(i, 100 - i)).collect();
        remember(&store.conn, &rows).unwrap();
        assert_eq!(latest(&store.conn), Some((0, 100, 100)));
        rows.reverse();
        remember(&store.conn, &rows).unwrap();
        assert_eq!(latest(&store.conn), Some((0, 100, 100)));
        remember(&store.conn, &[visitor(7, 200), visitor(8, 150)]).unwrap();
        assert_eq!(latest(&store.conn), Some((7, 200, 200)));
        assert_eq!(latest_session(&store.conn, 5).unwrap(), None);
    }
}
