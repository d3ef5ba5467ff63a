//! The input files ingest has read to their end (`ingested_files`): found
//! by the hash of their first line, remembered in the transaction of the
//! batch that holds their last event.

use anyhow::{Context, Result};
use rusqlite::{Connection, params};

/// A file read to its end, as the store keeps it (hashes as hex text).
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    pub(crate) fingerprint: String,
    pub(crate) size: u64,
    pub(crate) lines: u64,
    pub(crate) first_line: String,
    pub(crate) head: String,
    pub(crate) at: FileInfo,
}

/// Where an input file was when it was opened.
#[derive(Debug, Clone)]
pub(crate) struct FileInfo {
    /// As given on the command line, for messages.
    pub(crate) name: String,
    /// Absolute, as stored.
    pub(crate) path: String,
    pub(crate) dev: u64,
    pub(crate) inode: u64,
    pub(crate) mtime_ms: i64,
    pub(crate) format: &'static str,
}

/// The stored files whose first line hashes to `first_line` and that are
/// not longer than `size`: (fingerprint, size, head hash), shortest first.
pub(crate) fn prefixes(
    conn: &Connection,
    first_line: &str,
    size: u64,
) -> Result<Vec<(String, u64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT fingerprint, size, head FROM ingested_files
         WHERE first_line = ?1 AND size > 0 AND size <= ?2 ORDER BY size",
    )?;
    let rows = stmt.query_map(params![first_line, size as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?.max(0) as u64,
            r.get::<_, String>(2)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Remember `files` (in the transaction of the batch holding their last
/// events). A content given again (`--force`, a copy) updates its row.
pub(crate) fn remember(conn: &Connection, files: &[StoredFile], now_ms: i64) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO ingested_files (fingerprint, size, lines, first_line, head, path, dev, inode,
                                     mtime_ms, format, completed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (fingerprint) DO UPDATE SET
             path = excluded.path, dev = excluded.dev, inode = excluded.inode,
             mtime_ms = excluded.mtime_ms, format = excluded.format,
             completed_at = excluded.completed_at",
    )?;
    for f in files {
        insert
            .execute(params![
                f.fingerprint,
                f.size as i64,
                f.lines as i64,
                f.first_line,
                f.head,
                f.at.path,
                f.at.dev as i64,
                f.at.inode as i64,
                f.at.mtime_ms,
                f.at.format,
                now_ms
            ])
            .with_context(|| format!("cannot remember the input file {}", f.at.name))?;
    }
    Ok(())
}
