//! What ingest keeps between runs to read access logs: the secret that
//! keys visitor hashes, each log visitor's latest session (so that a
//! session continues across files and runs), and where a log input was
//! last read (so that the next run finds it after a rotation).

use std::hash::{BuildHasher, Hasher};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

/// A log visitor's latest session, as the sessionizer left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogVisitor {
    pub(crate) site: String,
    pub(crate) visitor: String,
    pub(crate) session: String,
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

/// A visitor's latest session: (session key, started, last activity).
pub(crate) fn latest_session(
    conn: &Connection,
    site: &str,
    visitor: &str,
) -> Result<Option<(String, i64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT session, started_ts, last_ts FROM log_visitors WHERE site = ?1 AND visitor = ?2",
    )?;
    Ok(stmt
        .query_row(params![site, visitor], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?)
}

/// Keep `visitors`' latest sessions (in the transaction that remembers
/// the file whose lines moved them).
pub(crate) fn remember(conn: &Connection, visitors: &[LogVisitor]) -> Result<()> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO log_visitors (site, visitor, session, started_ts, last_ts)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (site, visitor) DO UPDATE SET
             session = excluded.session, started_ts = excluded.started_ts,
             last_ts = excluded.last_ts
         WHERE excluded.last_ts >= log_visitors.last_ts",
    )?;
    for v in visitors {
        upsert
            .execute(params![
                v.site,
                v.visitor,
                v.session,
                v.started_ts,
                v.last_ts
            ])
            .context("cannot keep the sessions of log visitors")?;
    }
    Ok(())
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
