//! The lookups ingest's resolver makes in the store: ids by name for sites
//! and labels, session and visitor rows by key (through the key tables),
//! every key entry for the key filter, and the next free ids.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

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
        IdTable::Sessions => "SELECT coalesce(max(id), 0) + 1 FROM sessions",
        IdTable::Visitors => "SELECT coalesce(max(id), 0) + 1 FROM visitors",
    };
    Ok(conn.query_row(sql, [], |r| r.get(0))?)
}

/// Call `f(table, site_id, key_hash)` for every session and visitor key
/// entry, from one statement (one read snapshot).
pub(crate) fn for_each_key_entry(
    conn: &Connection,
    mut f: impl FnMut(IdTable, i64, i64),
) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT 0, site_id, key_hash FROM session_keys
         UNION ALL SELECT 1, site_id, key_hash FROM visitor_keys",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let table = if row.get::<_, i64>(0)? == 0 {
            IdTable::Sessions
        } else {
            IdTable::Visitors
        };
        f(table, row.get(1)?, row.get(2)?);
    }
    Ok(())
}

/// The rows of a session key: id, key, span and visitor.
///
/// A subquery rather than a join of the key table with `sessions`: SQLite
/// marked the join's plan as depending on the bound site (because of the
/// partial index `sessions` had until schema version 9) and compiled the
/// statement again whenever the site changed, which cost more than the
/// lookups themselves.
pub(crate) const LOOK_UP_SESSION: &str =
    "SELECT id, key, started_ts, last_ts, visitor_id FROM sessions
     WHERE id IN (SELECT id FROM session_keys WHERE site_id = ?1 AND key_hash = ?2)";

/// The rows of a visitor key, in the columns of [`LOOK_UP_SESSION`].
pub(crate) const LOOK_UP_VISITOR: &str = "SELECT id, key, first_ts, first_ts, 0 FROM visitors
     WHERE id IN (SELECT id FROM visitor_keys WHERE site_id = ?1 AND key_hash = ?2)";

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
/// stored: the key table gives the candidates, the key itself decides.
pub(crate) fn find_key(
    conn: &Connection,
    table: IdTable,
    site: i64,
    hash: i64,
    key: &str,
) -> Result<Option<KeyRow>> {
    let sql = match table {
        IdTable::Sessions => LOOK_UP_SESSION,
        _ => LOOK_UP_VISITOR,
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![site, hash])?;
    while let Some(row) = rows.next()? {
        if row.get_ref(1)?.as_str()? == key {
            return Ok(Some(KeyRow {
                id: row.get(0)?,
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

    /// The key lookups run once per key the cache lacks: a statement that
    /// SQLite compiles again whenever a parameter changes made them the
    /// resolver's largest cost.
    #[test]
    fn key_lookups_are_not_compiled_again_for_each_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), 1000).unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO sites (id, name, first_ts, last_ts) VALUES (1, 'a', 0, 0), (2, 'b', 0, 0);
                 INSERT INTO visitors (id, site_id, key, first_ts) VALUES (1, 1, 'v', 0);
                 INSERT INTO sessions (id, site_id, key, visitor_id, started_ts, last_ts)
                     VALUES (1, 1, 's', 1, 0, 5);",
            )
            .unwrap();
        store
            .conn
            .execute(
                "INSERT INTO session_keys (site_id, key_hash, id) VALUES (1, ?1, 1)",
                [key_hash("s")],
            )
            .unwrap();
        for (sql, expected) in [(LOOK_UP_SESSION, 4), (LOOK_UP_VISITOR, 0)] {
            let mut stmt = store.conn.prepare(sql).unwrap();
            let mut found = 0;
            for i in 0..20i64 {
                let (site, hash) = (1 + i % 2, if i % 3 == 0 { key_hash("s") } else { i });
                let mut rows = stmt.query(params![site, hash]).unwrap();
                while rows.next().unwrap().is_some() {
                    found += 1;
                }
            }
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
            assert_eq!(found, expected, "{sql}");
        }
    }
}
