//! The props column of a running query read through SQLite's C interface.
//!
//! rusqlite's `Row::get_ref` makes four C calls per value (the column
//! count, the type, the pointer, the length) and matches the type; for the
//! props column, which a rollup with breakdowns reads for every event,
//! that was 16 ns an event, a fifth of what the breakdowns cost. Here the
//! column's value is one call, and its type and content are read from it.
//!
//! rusqlite does not hand out a statement's handle, so the column finds
//! its statement among the connection's prepared ones: the one with the
//! query's text that is running (stepped to a row). When there is not
//! exactly one such statement, the column is read through rusqlite as
//! before.

use std::ffi::{CStr, c_int};

use anyhow::Result;
use rusqlite::{Connection, Row, ffi};

use super::props::RowProps;

/// The props column of the one running statement with a given text.
pub(crate) struct PropsColumn {
    /// The running statement, or null to read through rusqlite.
    stmt: *mut ffi::sqlite3_stmt,
    col: usize,
}

impl PropsColumn {
    /// Column `col` of the statement with text `sql` that `conn` has
    /// stepped to a row. Call it with the first row in hand.
    pub(crate) fn find(conn: &Connection, sql: &str, col: usize) -> PropsColumn {
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
        PropsColumn {
            stmt: if matches == 1 {
                found
            } else {
                std::ptr::null_mut()
            },
            col,
        }
    }

    /// The props of `row` (a row of the statement `find` found).
    #[inline]
    pub(crate) fn get<'r>(&self, row: &'r Row<'_>) -> Result<RowProps<'r>> {
        if self.stmt.is_null() {
            return Ok(RowProps::from_value(row.get_ref(self.col)?));
        }
        let col = self.col as c_int;
        // SAFETY: `row` borrows the statement, which stays on this row (not
        // stepped, reset or finalized) while the returned slice lives. The
        // value is the statement's own result (unprotected: this connection
        // has no mutex and is used by this thread alone); its type is read
        // first, so that no value is converted, and a blob's pointer before
        // its length, as SQLite asks; it points at that many bytes until the
        // statement moves.
        unsafe {
            let v = ffi::sqlite3_column_value(self.stmt, col);
            if v.is_null() {
                return Ok(RowProps::None);
            }
            Ok(match ffi::sqlite3_value_type(v) {
                ffi::SQLITE_INTEGER => RowProps::Set(ffi::sqlite3_value_int64(v)),
                ffi::SQLITE_BLOB => {
                    let p = ffi::sqlite3_value_blob(v);
                    let n = ffi::sqlite3_value_bytes(v);
                    match (p.is_null(), usize::try_from(n)) {
                        (false, Ok(n)) if n > 0 => {
                            RowProps::Blob(std::slice::from_raw_parts(p.cast::<u8>(), n))
                        }
                        _ => RowProps::None,
                    }
                }
                _ => RowProps::None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "SELECT id, b FROM t ORDER BY id";

    #[test]
    fn reads_the_running_statements_props_and_falls_back_when_unsure() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);
             INSERT INTO t VALUES (1, x'0102'), (2, NULL), (3, x''), (4, x'ff'), (5, 42),
                                  (6, 'text'), (7, 2.5);",
        )
        .unwrap();
        let mut stmt = conn.prepare_cached(SQL).unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut column = None;
        let mut got = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            let c = column.get_or_insert_with(|| PropsColumn::find(&conn, SQL, 1));
            assert!(!c.stmt.is_null(), "the running statement is found");
            let props = c.get(row).unwrap();
            // rusqlite's reading agrees.
            assert_eq!(props, RowProps::from_value(row.get_ref(1).unwrap()));
            got.push(match props {
                RowProps::None => "none".to_string(),
                RowProps::Blob(b) => format!("blob {b:?}"),
                RowProps::Set(id) => format!("set {id}"),
            });
        }
        let want = [
            "blob [1, 2]",
            "none",
            "none",
            "blob [255]",
            "set 42",
            "none",
            "none",
        ];
        assert_eq!(got, want);
        // Two running statements of the same text: rusqlite reads it.
        let mut a = conn.prepare(SQL).unwrap();
        let mut b = conn.prepare(SQL).unwrap();
        let mut ra = a.query([]).unwrap();
        let mut rb = b.query([]).unwrap();
        let row = ra.next().unwrap().unwrap();
        rb.next().unwrap();
        let c = PropsColumn::find(&conn, SQL, 1);
        assert!(c.stmt.is_null());
        assert_eq!(c.get(row).unwrap(), RowProps::Blob(&[1, 2]));
        // A column past the statement's: not found.
        assert!(PropsColumn::find(&conn, SQL, 2).stmt.is_null());
    }
}
