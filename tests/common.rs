//! Helpers shared by the test modules: a fresh working directory per test
//! with the store, the artifacts and the clock pre-set, a tiny builder of
//! NDJSON events, and assertions that show expected and actual on failure.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use rusqlite::Connection;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The fixed "now" of every test unless it says otherwise: 06:00 UTC on
/// 2026-11-22, so that yesterday in UTC is 2026-11-21.
pub const NOW: &str = "2026-11-22T06:00:00Z";

/// Config for tests that must not wait seconds between attempts.
pub const SHORT_RETRY_CONFIG: &str =
    "[retry]\nretries = 2\nbackoff_seconds = 0.05\n\n[store]\nbusy_timeout_ms = 100\n";

/// Environment variables that would leak the developer's setup into a test.
const CRONLYTICS_ENV: [&str; 7] = [
    "CRONLYTICS_CONFIG",
    "CRONLYTICS_DB",
    "CRONLYTICS_ARTIFACTS",
    "CRONLYTICS_TZ",
    "CRONLYTICS_NOW",
    "CRONLYTICS_TEXTFILE_DIR",
    "CRONLYTICS_JOB",
];

/// A fresh temporary directory holding one test's store and artifacts.
pub struct Workdir {
    dir: TempDir,
    pub db: PathBuf,
    pub artifacts: PathBuf,
    pub now: String,
}

impl Workdir {
    pub fn new() -> Workdir {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let db = dir.path().join("analytics.db");
        let artifacts = dir.path().join("artifacts");
        Workdir {
            dir,
            db,
            artifacts,
            now: NOW.to_string(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the working directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A binary with only the working directory set and the environment
    /// cleaned: for tests of defaults and precedence.
    pub fn bare_cmd(&self, bin: &str) -> Command {
        let mut cmd = Command::cargo_bin(bin).unwrap_or_else(|e| panic!("binary {bin}: {e}"));
        cmd.current_dir(self.dir.path());
        for var in CRONLYTICS_ENV {
            cmd.env_remove(var);
        }
        cmd.env("NO_COLOR", "1");
        cmd
    }

    /// A binary with --db, --artifacts and --now pointing into this
    /// directory; arguments added after these.
    pub fn cmd(&self, bin: &str) -> Command {
        let mut cmd = self.bare_cmd(bin);
        cmd.arg("--db")
            .arg(&self.db)
            .arg("--artifacts")
            .arg(&self.artifacts)
            .arg("--now")
            .arg(&self.now);
        cmd
    }

    /// The same as [`Workdir::cmd`] as a `std::process::Command`, for runs
    /// that are spawned, killed or given their own stdout.
    pub fn process(&self, bin: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin(bin));
        cmd.current_dir(self.dir.path())
            .arg("--db")
            .arg(&self.db)
            .arg("--artifacts")
            .arg(&self.artifacts)
            .arg("--now")
            .arg(&self.now);
        cmd
    }

    /// Write a file (creating its directory); returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create dir");
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    pub fn read(&self, name: &str) -> String {
        let path = self.path(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// The short-retry config, plus `extra` TOML, as `cronlytics-test.toml`.
    pub fn short_retry_config(&self, extra: &str) -> PathBuf {
        self.write(
            "cronlytics-test.toml",
            &format!("{SHORT_RETRY_CONFIG}\n{extra}"),
        )
    }

    /// Create an empty store the way users do (only ingest creates one).
    pub fn create_store(&self) {
        let empty = self.write("empty.ndjson", "");
        self.cmd("ingest").arg(empty).assert().code(0);
    }

    /// A connection to the store.
    pub fn db(&self) -> Connection {
        assert!(
            self.db.exists(),
            "the store {} does not exist",
            self.db.display()
        );
        Connection::open(&self.db).expect("open the store")
    }

    /// The row ids that the key runs (`<db>.keys/*.run`: a 64-byte header
    /// whose second word is the table, 0 sessions and 1 visitors, then
    /// 16-byte entries of mix and id) hold for `table`, each once.
    pub fn key_entry_ids(&self, table: &str) -> std::collections::BTreeSet<i64> {
        let want = match table {
            "sessions" => 0u64,
            "visitors" => 1,
            _ => panic!("no key runs for {table}"),
        };
        let mut dir = self.db.clone().into_os_string();
        dir.push(".keys");
        let mut ids = std::collections::BTreeSet::new();
        for item in std::fs::read_dir(&dir).expect("the key runs' directory") {
            let path = item.unwrap().path();
            if path.extension().is_none_or(|e| e != "run") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
            if word(8) != want {
                continue;
            }
            for entry in bytes[64..].chunks_exact(16) {
                ids.insert(i64::from_le_bytes(entry[8..].try_into().unwrap()));
            }
        }
        ids
    }

    /// The one integer a query returns.
    pub fn sql_i64(&self, query: &str) -> i64 {
        self.db()
            .query_row(query, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// Every row of a query, each column rendered as text, for comparing
    /// whole tables.
    pub fn sql_rows(&self, query: &str) -> Vec<Vec<String>> {
        let conn = self.db();
        let mut stmt = conn
            .prepare(query)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let columns = stmt.column_count();
        stmt.query_map([], |r| {
            (0..columns)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_string(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Real(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                    })
                })
                .collect()
        })
        .and_then(|rows| rows.collect())
        .unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// Store `events` as `name` and ingest it; the run must exit 0.
    pub fn ingest(&self, name: &str, events: &[Ev]) -> Output {
        self.write(name, &ndjson(events));
        let out = self.cmd("ingest").arg(name).output().expect("run ingest");
        assert_exit(&out, 0);
        out
    }

    /// Run `backfill` over `[start, end]` in `tz`; must exit 0.
    pub fn backfill(&self, start: &str, end: &str, tz: &str) -> Output {
        let out = self
            .cmd("backfill")
            .args(["--start", start, "--end", end, "--tz", tz])
            .output()
            .expect("run backfill");
        assert_exit(&out, 0);
        out
    }

    /// The rollups of `[start, end]` through `export-metrics --format json`.
    pub fn rollups(&self, start: &str, end: &str) -> Vec<Value> {
        let out = self
            .cmd("export-metrics")
            .args(["--format", "json", "--start", start, "--end", end])
            .output()
            .expect("run export-metrics");
        assert_exit(&out, 0);
        match serde_json::from_slice(&out.stdout) {
            Ok(Value::Array(rows)) => rows,
            other => panic!("export-metrics did not print a JSON array: {other:?}"),
        }
    }

    /// The rollup of one site and day (panics when missing).
    pub fn rollup(&self, date: &str, site: &str) -> Value {
        self.rollups(date, date)
            .into_iter()
            .find(|r| r["site"] == site)
            .unwrap_or_else(|| panic!("no rollup for {site} on {date}"))
    }

    /// Every daily_rollups row in full, for idempotence checks.
    pub fn rollup_table(&self) -> Vec<Vec<String>> {
        self.sql_rows("SELECT * FROM daily_rollups ORDER BY date, site_id")
    }
}

/// Assert an exit code, showing stdout and stderr when it differs.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}, got {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Assert that stderr contains every fragment.
#[track_caller]
pub fn assert_stderr_has(out: &Output, fragments: &[&str]) {
    let text = stderr(out);
    for f in fragments {
        assert!(
            text.contains(f),
            "stderr lacks {f:?}\n--- stderr ---\n{text}"
        );
    }
}

/// Assert two texts are equal, printing both in full when not.
#[track_caller]
pub fn assert_text(actual: &str, expected: &str) {
    assert!(
        actual == expected,
        "texts differ\n--- expected ---\n{expected}\n--- actual ---\n{actual}\n---"
    );
}

/// Assert two JSON values are equal, printing both pretty when not.
#[track_caller]
pub fn assert_json(actual: &Value, expected: &Value) {
    assert!(
        actual == expected,
        "JSON differs\n--- expected ---\n{}\n--- actual ---\n{}",
        serde_json::to_string_pretty(expected).unwrap_or_default(),
        serde_json::to_string_pretty(actual).unwrap_or_default()
    );
}

/// An event as one NDJSON object.
#[derive(Debug, Clone)]
pub struct Ev(serde_json::Map<String, Value>);

impl Ev {
    fn base(ts: &str, site: &str, kind: &str, session: &str, visitor: &str) -> Ev {
        let mut m = serde_json::Map::new();
        m.insert("ts".into(), json!(ts));
        m.insert("site".into(), json!(site));
        m.insert("kind".into(), json!(kind));
        m.insert("session".into(), json!(session));
        m.insert("visitor".into(), json!(visitor));
        Ev(m)
    }

    /// Set (or replace) a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Ev {
        self.0.insert(key.to_string(), value.into());
        self
    }

    /// Remove a field.
    pub fn without(mut self, key: &str) -> Ev {
        self.0.remove(key);
        self
    }

    pub fn id(self, id: &str) -> Ev {
        self.with("id", id)
    }

    /// Set `props`.
    pub fn props(self, props: Value) -> Ev {
        self.with("props", props)
    }

    pub fn referrer(self, referrer: &str) -> Ev {
        self.with("referrer", referrer)
    }

    pub fn line(&self) -> String {
        serde_json::to_string(&self.0).expect("serialise event")
    }
}

/// A pageview of `path`.
pub fn pageview(ts: &str, site: &str, session: &str, visitor: &str, path: &str) -> Ev {
    Ev::base(ts, site, "pageview", session, visitor).with("path", path)
}

/// A custom event called `name`.
pub fn custom(ts: &str, site: &str, session: &str, visitor: &str, name: &str) -> Ev {
    Ev::base(ts, site, "event", session, visitor).with("name", name)
}

/// An order; `cents` None leaves revenue_cents out.
pub fn order(ts: &str, site: &str, session: &str, visitor: &str, cents: Option<i64>) -> Ev {
    let e = Ev::base(ts, site, "order", session, visitor);
    match cents {
        Some(c) => e.with("revenue_cents", c),
        None => e,
    }
}

/// A gauge `name` at level `value` (session and visitor as the contract
/// requires of every event).
pub fn gauge(ts: &str, site: &str, name: &str, value: f64) -> Ev {
    Ev::base(ts, site, "gauge", "system", "system")
        .with("name", name)
        .with("value", value)
}

/// Events as NDJSON text, one per line.
pub fn ndjson(events: &[Ev]) -> String {
    events.iter().map(|e| e.line() + "\n").collect()
}

/// The lines of a file of NDJSON objects, parsed.
pub fn parse_ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect()
}

/// An RFC 3339 instant as Unix milliseconds.
pub fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis()
}

// --- snapshot and health-check helpers ---

impl Workdir {
    /// Add a finished run of `job` to the store's job-run log, ended at
    /// `ended` (RFC 3339), the way the job runner writes one.
    pub fn insert_run(&self, job: &str, status: &str, ended: &str, message: &str) {
        let exit_code = match status {
            "success" => 0,
            "failed" => 2,
            _ => 1,
        };
        self.db()
            .execute(
                "INSERT INTO job_runs (job, started_at, ended_at, duration_ms, status, exit_code,
                                       records, errors, attempts, message)
                 VALUES (?1, ?2, ?2, 0, ?3, ?4, 0, 0, 1, ?5)",
                rusqlite::params![job, ms(ended), status, exit_code, message],
            )
            .unwrap_or_else(|e| panic!("insert a {job} run: {e}"));
    }
}

// --- maintenance jobs' helpers ---

/// Run `bin` once per argument list; each run must exit 2 with its reason
/// on stderr (bad flags and config values).
#[track_caller]
pub fn assert_refused(w: &Workdir, bin: &str, cases: &[(&[&str], &str)]) {
    for (args, reason) in cases {
        let out = w.cmd(bin).args(*args).output().expect("run the binary");
        assert_exit(&out, 2);
        assert_stderr_has(&out, &[reason]);
    }
}

/// Let `child` run until `query` (a count on the store) reaches `at_least`,
/// then kill it (SIGKILL): the store must survive a crash at that point.
/// `what` names the job in the failure messages.
pub fn kill_when(
    w: &Workdir,
    mut child: std::process::Child,
    query: &str,
    at_least: i64,
    what: &str,
) {
    use std::time::{Duration, Instant};
    let watcher =
        Connection::open_with_flags(&w.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = watcher.query_row(query, [], |r| r.get(0)).unwrap_or(0);
        if n >= at_least {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what} ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "{what} wrote nothing in time");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
