//! The stored trending scores: the "last run" each run's change is
//! measured against, rewritten only where a score moved.

use anyhow::{Context, Result};
use rusqlite::{Connection, params};
use rustc_hash::FxHashMap;

/// An item of a site: `(site_id, kind, label_id)`, kind 0 page, 1 event,
/// `PROPERTY_KIND + k` a value of the property whose key is label `k`.
pub(crate) type ItemKey = (i64, i64, i64);

/// The kind of a property value is this plus its key's label id.
pub(crate) const PROPERTY_KIND: i64 = 2;

/// Every stored score.
pub(crate) fn stored(conn: &Connection) -> Result<FxHashMap<ItemKey, f64>> {
    let mut stmt = conn.prepare("SELECT site_id, kind, label_id, score FROM trending_scores")?;
    let rows = stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))?;
    rows.collect::<rusqlite::Result<_>>()
        .context("cannot read the stored trending scores")
}

/// Store an item's score as of `now_ms`.
pub(crate) fn upsert(conn: &Connection, key: ItemKey, score: f64, now_ms: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO trending_scores (site_id, kind, label_id, score, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (site_id, kind, label_id) DO UPDATE SET
             score = excluded.score, updated_at = excluded.updated_at",
    )?
    .execute(params![key.0, key.1, key.2, score, now_ms])?;
    Ok(())
}

/// Forget an item that left the window.
pub(crate) fn delete(conn: &Connection, key: ItemKey) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM trending_scores WHERE site_id = ?1 AND kind = ?2 AND label_id = ?3",
    )?
    .execute(params![key.0, key.1, key.2])?;
    Ok(())
}
