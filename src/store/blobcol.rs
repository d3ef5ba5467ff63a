//! One blob column of a running query read through SQLite's C interface.
//!
//! rusqlite's `Row::get_ref` makes four C calls per value (the column
//! count, the type, the pointer, the length) and matches the type; for the
//! props column, which a rollup with breakdowns reads for every event,
//! that was 16 ns an event, a fifth of what the breakdowns cost. Here the
//! pointer and the length are two calls (`sqlite3_column_blob` gives NULL
//! for a NULL value).
//!
//! rusqlite does not hand out a statement's handle, so the column finds
//! its statement among the connection's prepared ones: the one with the
//! query's text that is running (stepped to a row). When there is not
//! exactly one such statement, the column is read through rusqlite as
//! before.

use std::ffi::{CStr, c_int};

use anyhow::Result;
use rusqlite::{Connection, Row, ffi};

/// A blob column of the one running statement with a given text.
pub(crate) struct BlobColumn {
    /// The running statement, or null to read through rusqlite.
    stmt: *mut ffi::sqlite3_stmt,
    col: usize,
}

impl BlobColumn {
    /// Column `col` of the statement with text `sql` that `conn` has
    /// stepped to a row. Call it with the first row in hand.
    pub(crate) fn find(conn: &Connection, sql: &str, col: usize) -> BlobColumn {
        let mut found = std::ptr::null_mut();
        let mut matches = 0;
        // SAFETY: the handle is the live connection's; the statements
        // listed are live while `conn` is borrowed, and only their text,
        // state and column count are read.
        unsafe {
            let db = conn.handle();
            let mut p = ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
            while !p.is_null() {
                let text = ffi::sqlite3_sql(p);
                if !text.is_null()
                    && CStr::from_ptr(text).to_bytes() == sql.as_bytes()
                    && ffi::sqlite3_stmt_busy(p) != 0
                    && usize::try_from(ffi::sqlite3_column_count(p)).is_ok_and(|n| col < n)
                {
                    found = p;
                    matches += 1;
                }
                p = ffi::sqlite3_next_stmt(db, p);
            }
        }
        BlobColumn {
            stmt: if matches == 1 {
                found
            } else {
                std::ptr::null_mut()
            },
            col,
        }
    }

    /// The column's value in `row` (a row of the statement `find` found),
    /// `None` for NULL or an empty blob.
    #[inline]
    pub(crate) fn get<'r>(&self, row: &'r Row<'_>) -> Result<Option<&'r [u8]>> {
        if self.stmt.is_null() {
            return Ok(row.get_ref(self.col)?.as_blob_or_null()?);
        }
        let col = self.col as c_int;
        // SAFETY: `row` borrows the statement, which stays on this row (not
        // stepped, reset or finalized) while the returned slice lives; the
        // pointer is read before the length, as SQLite asks, and points at
        // that many bytes until the statement moves.
        unsafe {
            let p = ffi::sqlite3_column_blob(self.stmt, col);
            let n = ffi::sqlite3_column_bytes(self.stmt, col);
            Ok(match (p.is_null(), usize::try_from(n)) {
                (false, Ok(n)) if n > 0 => Some(std::slice::from_raw_parts(p.cast::<u8>(), n)),
                _ => None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "SELECT id, b FROM t ORDER BY id";

    #[test]
    fn reads_the_running_statements_blobs_and_falls_back_when_unsure() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);
             INSERT INTO t VALUES (1, x'0102'), (2, NULL), (3, x''), (4, x'ff');",
        )
        .unwrap();
        let mut stmt = conn.prepare_cached(SQL).unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut column = None;
        let mut got = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            let c = column.get_or_insert_with(|| BlobColumn::find(&conn, SQL, 1));
            assert!(!c.stmt.is_null(), "the running statement is found");
            got.push(c.get(row).unwrap().map(<[u8]>::to_vec));
        }
        assert_eq!(got, [Some(vec![1, 2]), None, None, Some(vec![0xff])]);
        // Two running statements of the same text: rusqlite reads it.
        let mut a = conn.prepare(SQL).unwrap();
        let mut b = conn.prepare(SQL).unwrap();
        let mut ra = a.query([]).unwrap();
        let mut rb = b.query([]).unwrap();
        let row = ra.next().unwrap().unwrap();
        rb.next().unwrap();
        let c = BlobColumn::find(&conn, SQL, 1);
        assert!(c.stmt.is_null());
        assert_eq!(c.get(row).unwrap(), Some(&[1u8, 2][..]));
        // A column past the statement's: not found.
        assert!(BlobColumn::find(&conn, SQL, 2).stmt.is_null());
    }
}
