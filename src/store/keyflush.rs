//! The key entries `(site_id, key_hash, id)` of new sessions and visitors
//! (schema, migration 1): kept by the writer as batches commit and written
//! in large sorted flushes, which touch each page of the key tables once
//! for many keys, with `meta.*_keys_upto` saying how far they are written.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::batch::ResolvedBatch;
use crate::store::encoding::key_hash;
use crate::store::writer::insert_many;

/// New sessions and visitors (of committed batches) whose key entries are
/// not yet written, above which the writer flushes them: large sorted flushes
/// touch each page of the key tables once for many keys.
pub(crate) const KEY_FLUSH_LIMIT: usize = 500_000;

/// The key entries `(site_id, key_hash, id)` of committed new sessions and
/// visitors, waiting for the next [`flush_keys`].
#[derive(Debug, Default)]
pub(crate) struct KeyEntries {
    pub(crate) sessions: Vec<(i64, i64, i64)>,
    pub(crate) visitors: Vec<(i64, i64, i64)>,
}

impl KeyEntries {
    /// Add the new keys of a committed batch.
    pub(crate) fn add(&mut self, batch: &ResolvedBatch) {
        for (entries, keys) in [
            (&mut self.sessions, &batch.new_sessions),
            (&mut self.visitors, &batch.new_visitors),
        ] {
            entries.extend(keys.iter().map(|k| (k.site, k.hash, k.id)));
        }
    }

    /// The larger of the two counts.
    pub(crate) fn len(&self) -> usize {
        self.sessions.len().max(self.visitors.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Write the key entries of every session and visitor above
/// `meta.*_keys_upto`, in key order, in one transaction, and empty
/// `entries`; returns the new `(session_keys_upto, visitor_keys_upto)`.
/// During a run the writer passes the entries of its committed batches
/// (every row above `*_keys_upto` is one of them); at the start of every
/// ingest, `None` reads the rows a killed run may have left without entries
/// and hashes their keys.
pub(crate) fn flush_keys(
    conn: &mut Connection,
    entries: Option<&mut KeyEntries>,
) -> Result<(i64, i64)> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .context("cannot start a write transaction on the store")?;
    let recover = entries.is_none();
    let mut read = KeyEntries::default();
    let entries = entries.unwrap_or(&mut read);
    let mut upto = [0i64; 2];
    for (i, (list, (table, keys, meta))) in [&mut entries.sessions, &mut entries.visitors]
        .into_iter()
        .zip([
            ("sessions", "session_keys", "session_keys_upto"),
            ("visitors", "visitor_keys", "visitor_keys_upto"),
        ])
        .enumerate()
    {
        let from: i64 = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [meta], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        if recover {
            let mut stmt = tx.prepare(&format!(
                "SELECT site_id, key, id FROM {table} WHERE id > ?1"
            ))?;
            let mut rows = stmt.query([from])?;
            while let Some(row) = rows.next()? {
                let key = row.get_ref(1)?.as_str()?;
                list.push((row.get(0)?, key_hash(key), row.get(2)?));
            }
        }
        let max = list.iter().map(|e| e.2).max().unwrap_or(from).max(from);
        list.sort_unstable();
        insert_many(
            &tx,
            "OR IGNORE",
            &format!("{keys} (site_id, key_hash, id)"),
            3,
            list,
            |stmt, at, (site, hash, id)| {
                stmt.raw_bind_parameter(at, site)?;
                stmt.raw_bind_parameter(at + 1, hash)?;
                stmt.raw_bind_parameter(at + 2, id)
            },
        )?;
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
    entries.sessions.clear();
    entries.visitors.clear();
    Ok((upto[0], upto[1]))
}
