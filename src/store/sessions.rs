//! Sessions in the store: closing the idle ones (`cleanup-sessions`), and
//! the mark below which every session is closed.

use anyhow::{Context, Result};
use rusqlite::Connection;

/// Close the open sessions whose last activity is before `cutoff_ms`, and
/// move the mark of the open ones (`meta.open_sessions_from`: every
/// session below it is closed) up to the oldest still open; returns how
/// many were closed and how many are still open. One write transaction,
/// so that no ingest reopens a session between the walk and the new mark.
/// Idempotent.
pub(crate) fn close_idle(conn: &mut Connection, cutoff_ms: i64) -> Result<(u64, u64)> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .context("cannot start a write transaction on the store")?;
    let from = open_from(&tx)?;
    let closed = tx
        .execute(
            "UPDATE sessions SET ended_ts = last_ts
             WHERE id >= ?1 AND ended_ts IS NULL AND last_ts < ?2",
            [from, cutoff_ms],
        )
        .context("cannot close idle sessions in the store")?;
    let (oldest, open): (Option<i64>, i64) = tx.query_row(
        "SELECT min(id), count(*) FROM sessions WHERE id >= ?1 AND ended_ts IS NULL",
        [from],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mark = match oldest {
        Some(id) => id,
        None => tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM sessions", [], |r| {
            r.get(0)
        })?,
    };
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'open_sessions_from'",
        [mark.max(from)],
    )?;
    tx.commit().context("cannot commit the closed sessions")?;
    Ok((closed as u64, open.max(0) as u64))
}

/// `meta.open_sessions_from`: every session below it is closed.
fn open_from(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT value FROM meta WHERE key = 'open_sessions_from'",
        [],
        |r| r.get(0),
    )?)
}

/// Lower the mark of the open sessions to `id`, a session that an event
/// may have reopened (in the transaction that reopened it).
pub(crate) fn may_reopen(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE meta SET value = ?1 WHERE key = 'open_sessions_from' AND value > ?1",
    )?
    .execute([id])?;
    Ok(())
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
    use super::*;
    use crate::store::Store;

    /// The mark moves up to the oldest open session as sessions close,
    /// past the newest when none is open, and down to a reopened one.
    #[test]
    fn the_mark_of_open_sessions_follows_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("a.db"), 1000).unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO sites VALUES (1, 's', 0, 0);
                 INSERT INTO sessions (id, site_id, key, visitor_id, started_ts, last_ts)
                 VALUES (1, 1, 'a', 1, 0, 100), (2, 1, 'b', 1, 0, 500), (3, 1, 'c', 1, 0, 200);",
            )
            .unwrap();
        let conn = &mut store.conn;
        assert_eq!(open_from(conn).unwrap(), 1);
        assert_eq!(close_idle(conn, 300).unwrap(), (2, 1));
        assert_eq!(open_from(conn).unwrap(), 2);
        assert_eq!(close_idle(conn, 300).unwrap(), (0, 1));
        assert_eq!(close_idle(conn, 1000).unwrap(), (1, 0));
        assert_eq!(open_from(conn).unwrap(), 4);
        // An event reopens session 1: the walk starts there again.
        conn.execute_batch("UPDATE sessions SET ended_ts = NULL, last_ts = 2000 WHERE id = 1")
            .unwrap();
        may_reopen(conn, 1).unwrap();
        may_reopen(conn, 3).unwrap();
        assert_eq!(open_from(conn).unwrap(), 1);
        assert_eq!(close_idle(conn, 1500).unwrap(), (0, 1));
        assert_eq!(close_idle(conn, 3000).unwrap(), (1, 0));
        assert_eq!(open_from(conn).unwrap(), 4);
    }
}
