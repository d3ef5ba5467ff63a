//! The lookups ingest's resolver makes in the store: ids by name for sites
//! and labels, session and visitor rows by key (through the key runs), and
//! the next free ids.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};

use crate::store::keyruns::{KeyRuns, KeyTable, mix};

/// The tables whose ids ingest allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdTable {
    Sites,
    Labels,
    Sessions,
    Visitors,
}

/// The first id above every row of `table`.
pub(crate) fn next_id(conn: &Connection, table: IdTable) -> Result<i64> {
    let sql = match table {
        IdTable::Sites => "SELECT coalesce(max(id), 0) + 1 FROM sites",
        IdTable::Labels => "SELECT coalesce(max(id), 0) + 1 FROM labels",
        // Never below the mark of open sessions: every session under it
        // is closed (see `sessions.rs`), so no new one may get such an id.
        IdTable::Sessions => {
            "SELECT max(coalesce(max(id), 0) + 1,
                        (SELECT value FROM meta WHERE key = 'open_sessions_from'))
             FROM sessions"
        }
        IdTable::Visitors => "SELECT coalesce(max(id), 0) + 1 FROM visitors",
    };
    Ok(conn.query_row(sql, [], |r| r.get(0))?)
}

/// A stored session or visitor found by its key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRow {
    pub(crate) id: i64,
    /// Sessions: the visitor; visitors: 0.
    pub(crate) visitor: i64,
    pub(crate) first: i64,
    pub(crate) last: i64,
}

/// The row of session or visitor `key` of `site` (its hash `hash`), if
/// stored: the key runs give the candidate ids, the row's site and key
/// decide.
pub(crate) fn find_key(
    conn: &Connection,
    runs: &KeyRuns,
    table: KeyTable,
    site: i64,
    hash: i64,
    key: &str,
) -> Result<Option<KeyRow>> {
    let sql = match table {
        KeyTable::Sessions => {
            "SELECT site_id, key, started_ts, last_ts, visitor_id FROM sessions WHERE id = ?1"
        }
        KeyTable::Visitors => {
            "SELECT site_id, key, first_ts, first_ts, 0 FROM visitors WHERE id = ?1"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    for id in runs.find(table, mix(table, site, hash))? {
        let mut rows = stmt.query([id])?;
        if let Some(row) = rows.next()?
            && row.get::<_, i64>(0)? == site
            && row.get_ref(1)?.as_str()? == key
        {
            return Ok(Some(KeyRow {
                id,
                visitor: row.get(4)?,
                first: row.get(2)?,
                last: row.get(3)?,
            }));
        }
    }
    Ok(None)
}

/// A site's id and span by name, if stored.
pub(crate) fn find_site(conn: &Connection, name: &str) -> Result<Option<(i64, i64, i64)>> {
    conn.prepare_cached("SELECT id, first_ts, last_ts FROM sites WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .context("cannot read the sites of the store")
}

/// A label's id by text, if stored.
pub(crate) fn find_label(conn: &Connection, value: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM labels WHERE value = ?1")?
        .query_row([value], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::encoding::key_hash;

    /// A key is found through its run and checked against the row: the
    /// same key of another site, or an entry whose row is gone, is not it.
    #[test]
    fn a_key_is_found_by_its_run_and_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path, 1000).unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO sites (id, name, first_ts, last_ts) VALUES (1, 'a', 0, 0), (2, 'b', 0, 0);
                 INSERT INTO visitors (id, site_id, key, first_ts) VALUES (1, 1, 'v', 3);
                 INSERT INTO sessions (id, site_id, key, visitor_id, started_ts, last_ts)
                     VALUES (1, 1, 's', 1, 2, 5), (2, 2, 's', 1, 7, 9);",
            )
            .unwrap();
        let runs = KeyRuns::open(&path, 1, [0, 0]).unwrap();
        let (s, v) = (KeyTable::Sessions, KeyTable::Visitors);
        let h = key_hash("s");
        runs.add(
            s,
            0,
            3,
            vec![(mix(s, 1, h), 1), (mix(s, 2, h), 2), (mix(s, 1, h), 3)],
        )
        .unwrap();
        runs.add(v, 0, 1, vec![(mix(v, 1, key_hash("v")), 1)])
            .unwrap();
        let find = |t, site, key: &str| {
            find_key(&store.conn, &runs, t, site, key_hash(key), key)
                .unwrap()
                .map(|r| (r.id, r.visitor, r.first, r.last))
        };
        assert_eq!(find(KeyTable::Sessions, 1, "s"), Some((1, 1, 2, 5)));
        assert_eq!(find(KeyTable::Sessions, 2, "s"), Some((2, 1, 7, 9)));
        assert_eq!(find(KeyTable::Sessions, 1, "x"), None);
        assert_eq!(find(KeyTable::Visitors, 1, "v"), Some((1, 0, 3, 3)));
        assert_eq!(find(KeyTable::Visitors, 2, "v"), None);
    }
}
