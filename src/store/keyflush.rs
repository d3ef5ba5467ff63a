//! The key entries of new sessions and visitors (see `keyruns`): kept by
//! the writer as batches commit and written as a sorted run once many are
//! waiting, with the runs' coverage saying how far they are written.

use anyhow::Result;
use rusqlite::Connection;

use crate::store::batch::ResolvedBatch;
use crate::store::encoding::key_hash;
use crate::store::keyruns::{KeyRuns, KeyTable, mix};

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

/// Rows read at a time when the entries of stored rows are written again.
const RECOVER_CHUNK: i64 = 1 << 20;

/// Write the waiting key entries of the committed batches as runs (every
/// row above the runs' coverage is one of them) and empty `entries`;
/// returns the new coverage `(sessions, visitors)`.
pub(crate) fn flush_keys(runs: &KeyRuns, entries: &mut KeyEntries) -> Result<(i64, i64)> {
    let mut upto = [0i64; 2];
    for (i, (list, table)) in [&mut entries.sessions, &mut entries.visitors]
        .into_iter()
        .zip([KeyTable::Sessions, KeyTable::Visitors])
        .enumerate()
    {
        let from = runs.covered(table);
        let max = list.iter().map(|e| e.2).max().unwrap_or(from).max(from);
        write(runs, table, from, max, list)?;
        upto[i] = max;
    }
    Ok((upto[0], upto[1]))
}

/// At the start of every ingest: write the entries of the rows above the
/// runs' coverage (a killed run's, or every row when the runs are gone),
/// reading them in chunks and hashing their keys; returns the coverage.
pub(crate) fn recover_keys(conn: &Connection, runs: &KeyRuns) -> Result<(i64, i64)> {
    let mut upto = [0i64; 2];
    for (i, (name, table)) in [
        ("sessions", KeyTable::Sessions),
        ("visitors", KeyTable::Visitors),
    ]
    .into_iter()
    .enumerate()
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT site_id, key, id FROM {name} WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))?;
        let mut after = runs.covered(table);
        let mut list = Vec::new();
        loop {
            let mut rows = stmt.query([after, RECOVER_CHUNK])?;
            while let Some(row) = rows.next()? {
                let key = row.get_ref(1)?.as_str()?;
                list.push((row.get(0)?, key_hash(key), row.get(2)?));
            }
            let Some(last) = list.last().map(|e| e.2) else {
                break;
            };
            write(runs, table, after, last, &mut list)?;
            after = last;
        }
        upto[i] = after;
    }
    Ok((upto[0], upto[1]))
}

/// `list`'s entries as a run of `table`'s rows `(from, upto]`; empties it.
fn write(
    runs: &KeyRuns,
    table: KeyTable,
    from: i64,
    upto: i64,
    list: &mut Vec<(i64, i64, i64)>,
) -> Result<()> {
    let entries = list
        .drain(..)
        .map(|(site, hash, id)| (mix(table, site, hash), id))
        .collect();
    runs.add(table, from, upto, entries)
}
