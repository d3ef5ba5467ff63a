//! The embedded SQLite store: opening, checking and upgrading it.
//!
//! Every connection runs in WAL mode (readers never block the one writer)
//! with a busy timeout, so that a job meeting another writer waits a little
//! and then fails with a passing error that the job runner retries.

pub(crate) mod batch;
pub(crate) mod custom;
pub mod encoding;
pub(crate) mod events;
pub(crate) mod files;
pub(crate) mod idset;
pub(crate) mod keyflush;
pub(crate) mod keyruns;
pub(crate) mod keys;
pub(crate) mod logs;
pub(crate) mod props;
pub(crate) mod propscol;
pub(crate) mod purge;
pub(crate) mod rollups;
pub(crate) mod runs;
pub mod schema;
pub(crate) mod sessions;
pub(crate) mod trending;
pub(crate) mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use schema::{APPLICATION_ID, MIGRATIONS, latest_version};

/// How a job opens the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Create it when missing; upgrade it when older (`ingest`).
    Create,
    /// It must exist; upgrade it when older (jobs that write data).
    Upgrade,
    /// It must exist and be current; read and write, never upgrade (the
    /// run log of jobs that only read).
    Current,
    /// It must exist and be current; nothing can be written.
    ReadOnly,
}

/// An open, checked, up-to-date store.
pub(crate) struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open the store at `path` for reading and writing, creating it (and its
    /// directory) when missing, and applying pending migrations (the unit
    /// tests' fresh stores; jobs open through their `JobSpec`).
    #[cfg(test)]
    pub(crate) fn open(path: &Path, busy_timeout_ms: u64) -> Result<Store> {
        Store::open_with(path, busy_timeout_ms, OpenMode::Create)
    }

    /// Open an existing store without creating it; `read_only` opens it so
    /// that nothing can be written (health checks, exports), else it is
    /// upgraded when older.
    pub(crate) fn open_existing(
        path: &Path,
        busy_timeout_ms: u64,
        read_only: bool,
    ) -> Result<Store> {
        let mode = if read_only {
            OpenMode::ReadOnly
        } else {
            OpenMode::Upgrade
        };
        Store::open_with(path, busy_timeout_ms, mode)
    }

    /// Open the store at `path` as `mode` says.
    pub(crate) fn open_with(path: &Path, busy_timeout_ms: u64, mode: OpenMode) -> Result<Store> {
        if mode == OpenMode::Create {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!(
                        "cannot create the directory {} for the store",
                        dir.display()
                    )
                })?;
            }
        } else if !path.exists() {
            bail!(
                "the store {} does not exist: check --db (or CRONLYTICS_DB), or run ingest first to create it",
                path.display()
            );
        }
        let flags = match mode {
            OpenMode::Create => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            OpenMode::Upgrade | OpenMode::Current => OpenFlags::SQLITE_OPEN_READ_WRITE,
            OpenMode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .with_context(|| format!("cannot open the store {}", path.display()))?;
        let store = Store::configure(conn, path, busy_timeout_ms)?;
        match mode {
            OpenMode::Create | OpenMode::Upgrade => store.migrate()?,
            OpenMode::Current | OpenMode::ReadOnly => {
                let version = store.version()?;
                if version > latest_version() {
                    return Err(newer_version(path, version));
                }
                if version == 0 {
                    bail!(
                        "{} is not a cronlytics store (an empty file, or another application's SQLite database): point --db at the store, or run ingest to create one",
                        path.display()
                    );
                }
                if version < latest_version() {
                    bail!(
                        "the store {} has schema version {version} and this cronlytics needs {}: run ingest or aggregate once to upgrade it (jobs that only read never upgrade the store)",
                        path.display(),
                        latest_version()
                    );
                }
            }
        }
        Ok(store)
    }

    /// The key runs of this store (`keyruns`), opened for ingest.
    pub(crate) fn key_runs(&self) -> Result<keyruns::KeyRuns> {
        let store_id: i64 =
            self.conn
                .query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |r| {
                    r.get(0)
                })?;
        let lowest = |table: &str| -> Result<i64> {
            Ok(self.conn.query_row(
                &format!("SELECT coalesce(min(id), 0) FROM {table}"),
                [],
                |r| r.get(0),
            )?)
        };
        keyruns::KeyRuns::open(
            &self.path,
            store_id,
            [lowest("sessions")?, lowest("visitors")?],
        )
    }

    /// A second connection to the same store, for a worker thread.
    pub(crate) fn reopen_read_only(&self, busy_timeout_ms: u64) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the store {}", self.path.display()))?;
        conn.busy_timeout(Duration::from_millis(busy_timeout_ms))?;
        Ok(conn)
    }

    fn configure(conn: Connection, path: &Path, busy_timeout_ms: u64) -> Result<Store> {
        conn.busy_timeout(Duration::from_millis(busy_timeout_ms))?;
        // The first real read tells whether this is an SQLite file at all.
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| not_a_store(path, e))?;
        if app_id != 0 && app_id != APPLICATION_ID {
            bail!(
                "{} is an SQLite database of another application, not a cronlytics store: point --db at the store",
                path.display()
            );
        }
        let readonly = conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false);
        if !readonly {
            // auto_vacuum must be set while the file is empty, before WAL
            // writes the first page: retention gives freed pages back with
            // incremental vacuum.
            let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            if pages == 0 {
                conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
            }
            // WAL is a property of the file; asking again is cheap.
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
                .with_context(|| format!("cannot switch the store {} to WAL", path.display()))?;
        }
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
        )?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The schema version written in the file.
    pub(crate) fn version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| not_a_store(&self.path, e))
    }

    /// Apply the migrations this store has not seen, each in its own
    /// transaction. Refuses a store from a newer cronlytics.
    fn migrate(&self) -> Result<()> {
        let version = self.version()?;
        if version > latest_version() {
            return Err(newer_version(&self.path, version));
        }
        if version == latest_version() {
            return Ok(());
        }
        if version == 0 {
            let tables: i64 = self.conn.query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                [],
                |r| r.get(0),
            )?;
            let app_id: i64 = self
                .conn
                .query_row("PRAGMA application_id", [], |r| r.get(0))?;
            if tables > 0 && app_id != APPLICATION_ID {
                bail!(
                    "{} is an SQLite database but not a cronlytics store: point --db at the store or at a new file",
                    self.path.display()
                );
            }
        }
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let target = i as i64 + 1;
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            let result = (|| -> Result<()> {
                // Another process may have migrated while we waited.
                if self.version()? >= target {
                    return Ok(());
                }
                self.conn.execute_batch(sql)?;
                self.conn.execute_batch(&format!(
                    "PRAGMA user_version = {target}; PRAGMA application_id = {APPLICATION_ID};"
                ))?;
                Ok(())
            })();
            match result {
                Ok(()) => self.conn.execute_batch("COMMIT")?,
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(e.context(format!(
                        "cannot upgrade the store {} to schema version {target}",
                        self.path.display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The zone the store counts its days in, once a run has recorded one.
    pub(crate) fn zone(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'tz'", [], |r| r.get(0))
            .optional()?)
    }

    /// Record the zone the store counts its days in.
    pub(crate) fn set_zone(conn: &Connection, zone: &str) -> Result<()> {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('tz', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [zone],
        )?;
        Ok(())
    }

    /// The id of a site by name, if it has events.
    pub(crate) fn site_id(&self, name: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT id FROM sites WHERE name = ?1", [name], |r| r.get(0))
            .optional()?)
    }

    /// The id of a site a remote engine found, created with its first event
    /// or moved back to an earlier one (ingest, which numbers sites itself,
    /// refuses to run while a remote source is configured).
    pub(crate) fn remote_site(&self, name: &str, first_ms: i64) -> Result<i64> {
        Ok(self.conn.query_row(
            "INSERT INTO sites (name, first_ts, last_ts) VALUES (?1, ?2, ?2)
             ON CONFLICT (name) DO UPDATE SET first_ts = min(first_ts, excluded.first_ts),
                 last_ts = max(last_ts, excluded.last_ts)
             RETURNING id",
            rusqlite::params![name, first_ms],
            |r| r.get(0),
        )?)
    }

    /// The sequence number the next ingest batch gets: every mark below it
    /// is served by a rollup written now.
    pub(crate) fn next_seq(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
                r.get(0)
            })?)
    }

    /// A remote source's `updated_at` mark: the newest change whose days
    /// are rolled up, as the source's text (`None` before the first run).
    pub(crate) fn source_mark(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'source_updated_at'",
                [],
                |r| {
                    // meta.value has integer affinity: an integer mark
                    // comes back as one.
                    Ok(match r.get_ref(0)? {
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        other => String::from_utf8_lossy(other.as_bytes().unwrap_or_default())
                            .into_owned(),
                    })
                },
            )
            .optional()?)
    }

    pub(crate) fn set_source_mark(&self, newest: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('source_updated_at', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [newest],
        )?;
        Ok(())
    }

    /// The start (UTC ms) of the first day whose raw events are all still
    /// stored: retention deleted everything before it, so those days'
    /// rollups are final and no event for them may be added.
    pub(crate) fn purged_before(&self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'purged_before'",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Record that raw events before `ts_ms` are deleted (it only moves
    /// forward).
    pub(crate) fn set_purged_before(&self, ts_ms: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('purged_before', ?1)
             ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            [ts_ms],
        )?;
        Ok(())
    }

    /// The site id for an optional `--site S`; an unknown site is a usage
    /// error (exit 2) that lists the known ones.
    pub(crate) fn site_filter(&self, name: Option<&str>) -> Result<Option<i64>> {
        match name {
            Some(name) => self
                .require_site(name)
                .map(Some)
                .map_err(|e| crate::errors::usage(format!("{e:#}"))),
            None => Ok(None),
        }
    }

    /// Check `--site S` against the store: an unknown site is an error that
    /// lists the known ones.
    pub(crate) fn require_site(&self, name: &str) -> Result<i64> {
        if let Some(id) = self.site_id(name)? {
            return Ok(id);
        }
        let mut stmt = self.conn.prepare("SELECT name FROM sites ORDER BY name")?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if names.is_empty() {
            bail!("--site {name}: the store has no sites yet: run ingest first");
        }
        bail!(
            "--site {name}: no such site in the store (known: {})",
            names.join(", ")
        )
    }
}

/// Every site's id and name.
pub(crate) fn site_names(conn: &Connection) -> Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached("SELECT id, name FROM sites")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn not_a_store(path: &Path, e: rusqlite::Error) -> anyhow::Error {
    if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
        anyhow::anyhow!(
            "{} is not an SQLite database: point --db at the cronlytics store or move that file away",
            path.display()
        )
    } else {
        anyhow::Error::new(e).context(format!("cannot read the store {}", path.display()))
    }
}

fn newer_version(path: &Path, version: i64) -> anyhow::Error {
    anyhow::anyhow!(
        "the store {} was written by a newer cronlytics (schema version {version}, this one knows up to {}): upgrade cronlytics",
        path.display(),
        latest_version()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_store_is_migrated_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.db");
        let s = Store::open(&path, 1000).unwrap();
        assert_eq!(s.version().unwrap(), latest_version());
        let auto_vacuum: i64 = s
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        assert_eq!(auto_vacuum, 2, "incremental vacuum is on");
        drop(s);
        let s = Store::open_existing(&path, 1000, true).unwrap();
        assert_eq!(s.version().unwrap(), latest_version());
    }

    #[test]
    fn refuses_newer_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let s = Store::open(&path, 1000).unwrap();
        s.conn.execute_batch("PRAGMA user_version = 999").unwrap();
        drop(s);
        let err = Store::open(&path, 1000).err().unwrap().to_string();
        assert!(err.contains("newer cronlytics"), "{err}");

        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, "this is not sqlite at all, just some text that is long enough to fill a header block of one hundred bytes....").unwrap();
        let err = format!("{:#}", Store::open(&junk, 1000).err().unwrap());
        assert!(err.contains("not an SQLite database"), "{err}");
    }
}
