//! Sessions in the store: closing the idle ones (`cleanup-sessions`) and
//! counting the open ones.

use anyhow::{Context, Result};
use rusqlite::Connection;

/// Close the open sessions whose last activity is before `cutoff_ms`;
/// returns how many. Idempotent: a closed session is not in the index the
/// statement walks.
pub(crate) fn close_idle(conn: &Connection, cutoff_ms: i64) -> Result<u64> {
    let closed = conn
        .prepare_cached(
            "UPDATE sessions SET ended_ts = last_ts WHERE ended_ts IS NULL AND last_ts < ?1",
        )?
        .execute([cutoff_ms])
        .context("cannot close idle sessions in the store")?;
    Ok(closed as u64)
}

/// How many sessions are open.
pub(crate) fn open_count(conn: &Connection) -> Result<u64> {
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM sessions WHERE ended_ts IS NULL",
            [],
            |r| r.get(0),
        )
        .context("cannot count the open sessions")?;
    Ok(n.max(0) as u64)
}

/// Whether a closed session's last activity is before `cutoff_ms`.
pub(crate) fn any_closed_before(conn: &Connection, cutoff_ms: i64) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE ended_ts IS NOT NULL AND last_ts < ?1)",
        [cutoff_ms],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[test]
    fn the_update_walks_the_open_sessions_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db"), 1000).unwrap();
        let plan: Vec<String> = store
            .conn
            .prepare(
                "EXPLAIN QUERY PLAN UPDATE sessions SET ended_ts = last_ts
                 WHERE ended_ts IS NULL AND last_ts < ?1",
            )
            .unwrap()
            .query_map([0], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(plan.iter().any(|p| p.contains("sessions_open")), "{plan:?}");
    }
}
