//! The job runner every binary shares: the lock, the run log, retries and
//! the alert, Prometheus metrics, config and precedence, refused stores,
//! quiet and the log line format.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

fn one_day(w: &Workdir) {
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a"),
            order("2026-11-21T10:05:00Z", "shop", "s1", "v1", Some(500)),
        ],
    );
}

fn row(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| c.to_string()).collect()
}

/// Take the lock of `job` the way a running job holds it.
fn hold_job_lock(w: &Workdir, job: &str, holder: &str) -> std::fs::File {
    let dir = w.path("analytics.db.locks");
    std::fs::create_dir_all(&dir).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join(format!("{job}.lock")))
        .unwrap();
    file.write_all(holder.as_bytes()).unwrap();
    file.flush().unwrap();
    file.try_lock().expect("the test takes the job lock");
    file
}

#[test]
fn a_run_finding_its_lock_taken_exits_1_naming_the_holder() {
    let w = Workdir::new();
    one_day(&w);
    let lock = hold_job_lock(&w, "aggregate", "pid 12345 since 2026-11-22T05:59:00Z");

    let started = Instant::now();
    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the second run must not wait for the lock"
    );
    assert_stderr_has(
        &out,
        &[
            "aggregate warning: another aggregate run (pid 12345 since 2026-11-22T05:59:00Z) holds the lock",
        ],
    );
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 0);
    assert_eq!(
        w.sql_rows("SELECT status, exit_code, attempts FROM job_runs WHERE job = 'aggregate'"),
        vec![row(&["skipped", "1", "0"])],
        "a skipped run made no attempt"
    );

    // Another job is not held up by this lock.
    assert_exit(
        &w.cmd("backfill").args(["--days", "1"]).output().unwrap(),
        0,
    );
    // A lock whose holder is gone (its descriptor closed, as when the kernel
    // reaps a killed process) does not block the next run.
    drop(lock);
    assert_exit(&w.cmd("aggregate").output().unwrap(), 0);
}

#[test]
fn two_concurrent_runs_of_one_job_the_second_exits_1() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[pageview("2000-01-01T10:00:00Z", "shop", "s1", "v1", "/a")],
    );
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_backfill"))
        .current_dir(w.root())
        .arg("--db")
        .arg(&w.db)
        .args(["--now", NOW, "--start", "2000-01-01", "--end", "2026-11-21"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run is writing, so it surely holds the lock.
    let deadline = Instant::now() + Duration::from_secs(20);
    while w.sql_i64("SELECT count(*) FROM daily_rollups") == 0 {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended early"
        );
        assert!(Instant::now() < deadline, "the first run wrote nothing");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Hold the store's write lock: the first run waits at its next day's
    // write (holding its job lock) however fast the machine is.
    let blocker = w.db();
    blocker.busy_timeout(Duration::from_secs(20)).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = w
        .cmd("backfill")
        .args(["--start", "2000-01-01", "--end", "2026-11-21"])
        .output()
        .unwrap();
    let still_running = first.try_wait().unwrap().is_none();
    blocker.execute_batch("ROLLBACK").unwrap();
    first.kill().ok();
    first.wait().unwrap();
    assert!(
        still_running,
        "the first run ended before the second started"
    );
    assert_exit(&out, 1);
    assert_stderr_has(&out, &[&format!("(pid {} since {NOW})", first.id())]);
}

#[test]
fn every_run_leaves_one_job_run_row() {
    let w = Workdir::new();
    let mut text = ndjson(&[
        pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a"),
        pageview("2026-11-21T10:01:00Z", "shop", "s1", "v1", "/b"),
    ]);
    text.push_str("{}\n");
    w.write("events.ndjson", &text);
    assert_exit(&w.cmd("ingest").arg("events.ndjson").output().unwrap(), 1);
    assert_exit(&w.cmd("aggregate").output().unwrap(), 0);
    assert_exit(
        &w.cmd("backfill").args(["--days", "0"]).output().unwrap(),
        2,
    );
    assert_exit(
        &w.cmd("export-metrics")
            .args(["--days", "1"])
            .output()
            .unwrap(),
        0,
    );
    let _lock = hold_job_lock(&w, "aggregate", "pid 1 since then");
    assert_exit(&w.cmd("aggregate").output().unwrap(), 1);

    assert_eq!(
        w.sql_rows(
            "SELECT job, status, exit_code, records, errors, attempts FROM job_runs ORDER BY id"
        ),
        vec![
            row(&["ingest", "warning", "1", "2", "1", "1"]),
            row(&["aggregate", "success", "0", "2", "0", "1"]),
            row(&["backfill", "failed", "2", "0", "1", "1"]),
            row(&["export-metrics", "success", "0", "1", "0", "1"]),
            row(&["aggregate", "skipped", "1", "0", "0", "0"]),
        ]
    );
    let now_ms = ms(NOW);
    for r in w.sql_rows("SELECT started_at, ended_at, duration_ms, message FROM job_runs") {
        let (start, end, duration): (i64, i64, i64) = (
            r[0].parse().unwrap(),
            r[1].parse().unwrap(),
            r[2].parse().unwrap(),
        );
        assert_eq!(start, now_ms, "runs start at --now: {r:?}");
        assert!(end >= start && end - start == duration, "{r:?}");
        assert!(!r[3].is_empty(), "every run has a message: {r:?}");
    }
    assert!(
        w.sql_rows("SELECT message FROM job_runs WHERE job = 'backfill'")[0][0]
            .contains("--days must be at least 1")
    );
}

#[test]
fn a_locked_store_is_retried_then_the_alert_runs_and_the_job_exits_2() {
    let w = Workdir::new();
    one_day(&w);
    let config = w.short_retry_config("[alert]\ncommand = \"cat > alert.json\"\n");
    let holder = w.db();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let out = w
        .cmd("aggregate")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            "aggregate warning: attempt 1 failed",
            "aggregate warning: attempt 2 failed",
            "aggregate error: all 3 attempts failed",
            "database is locked",
        ],
    );
    let alert: Value = serde_json::from_str(&w.read("alert.json")).expect("alert.json is JSON");
    assert_eq!(alert["job"], "aggregate");
    assert_eq!(alert["status"], "failed");
    assert_eq!(alert["exit_code"], 2);
    assert_eq!(alert["attempts"], 3);
    assert_eq!(alert["db"], w.db.display().to_string());
    assert!(
        alert["error"]
            .as_str()
            .unwrap()
            .contains("database is locked"),
        "{alert}"
    );

    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 0);
    // Once the store is free the next run works, and no alert is sent.
    std::fs::remove_file(w.path("alert.json")).unwrap();
    let out = w
        .cmd("aggregate")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(!w.path("alert.json").exists());
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 1);
    // The failed run could not be logged while the store was locked; the
    // next run wrote its row.
    assert_eq!(
        w.sql_i64(
            "SELECT count(*) FROM job_runs WHERE job = 'aggregate' AND status = 'failed' \
             AND exit_code = 2 AND attempts = 3 AND message LIKE '%database is locked%'"
        ),
        1
    );
    assert_eq!(
        w.sql_i64("SELECT count(*) FROM job_runs WHERE status = 'running'"),
        0
    );
}

/// A parsed Prometheus textfile: gauge name -> (help, type, labels, value).
fn parse_prom(text: &str) -> BTreeMap<String, (String, String, String, f64)> {
    let mut help = BTreeMap::new();
    let mut kind = BTreeMap::new();
    let mut gauges = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').expect("HELP name text");
            assert!(!gauges.contains_key(name), "HELP after the sample: {line}");
            assert!(help.insert(name.to_string(), text.to_string()).is_none());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').expect("TYPE name type");
            assert!(help.contains_key(name), "TYPE before HELP: {line}");
            assert!(kind.insert(name.to_string(), t.to_string()).is_none());
        } else {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(
                parts.len(),
                2,
                "a sample is `name{{labels}} value`, no timestamp: {line:?}"
            );
            let (name, labels) = parts[0].split_once('{').expect("labels");
            let labels = labels.strip_suffix('}').expect("closing brace");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "metric name {name:?}"
            );
            let value: f64 = parts[1]
                .parse()
                .unwrap_or_else(|_| panic!("value of {line:?}"));
            let h = help
                .get(name)
                .unwrap_or_else(|| panic!("no HELP for {name}"));
            let t = kind
                .get(name)
                .unwrap_or_else(|| panic!("no TYPE for {name}"));
            let old = gauges.insert(
                name.to_string(),
                (h.clone(), t.clone(), labels.to_string(), value),
            );
            assert!(old.is_none(), "{name} twice");
        }
    }
    gauges
}

const GAUGES: [&str; 5] = [
    "cronlytics_job_duration_seconds",
    "cronlytics_job_exit_code",
    "cronlytics_job_last_run_timestamp_seconds",
    "cronlytics_job_last_success_timestamp_seconds",
    "cronlytics_job_records_processed",
];

fn check_prom(text: &str, job: &str) -> BTreeMap<String, f64> {
    let gauges = parse_prom(text);
    assert_eq!(
        gauges.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        GAUGES,
        "{text}"
    );
    gauges
        .into_iter()
        .map(|(name, (help, kind, labels, value))| {
            assert!(!help.trim().is_empty(), "{name} has an empty HELP");
            assert_eq!(kind, "gauge", "{name}");
            assert_eq!(labels, format!("job=\"{job}\""), "{name}");
            (name, value)
        })
        .collect()
}

#[test]
fn textfile_dir_gets_a_prometheus_file_per_job() {
    let w = Workdir::new();
    one_day(&w);
    let now_s = ms(NOW) as f64 / 1000.0;
    let out = w
        .cmd("aggregate")
        .args(["--textfile-dir", "metrics"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let ok = check_prom(&w.read("metrics/cronlytics_aggregate.prom"), "aggregate");
    let last_run = ok["cronlytics_job_last_run_timestamp_seconds"];
    assert!(
        (now_s..now_s + 60.0).contains(&last_run),
        "last run {last_run} is not at --now {now_s}"
    );
    assert_eq!(
        ok["cronlytics_job_last_success_timestamp_seconds"],
        last_run
    );
    assert_eq!(ok["cronlytics_job_exit_code"], 0.0);
    assert_eq!(ok["cronlytics_job_records_processed"], 2.0);
    assert!((0.0..60.0).contains(&ok["cronlytics_job_duration_seconds"]));

    // A job name with '-' becomes '_' in the file name, not in the label.
    let out = w
        .cmd("export-metrics")
        .args(["--days", "1", "--textfile-dir", "metrics"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let export = check_prom(
        &w.read("metrics/cronlytics_export_metrics.prom"),
        "export-metrics",
    );
    assert_eq!(export["cronlytics_job_records_processed"], 1.0);

    // A failed run reports exit 2 and carries the last success over.
    let out = w
        .cmd("aggregate")
        .args(["--textfile-dir", "metrics", "--site", "nope"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let failed = check_prom(&w.read("metrics/cronlytics_aggregate.prom"), "aggregate");
    assert_eq!(failed["cronlytics_job_exit_code"], 2.0);
    assert_eq!(failed["cronlytics_job_records_processed"], 0.0);
    assert_eq!(
        failed["cronlytics_job_last_success_timestamp_seconds"],
        last_run
    );
    let mut files: Vec<String> = std::fs::read_dir(w.path("metrics"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "cronlytics_aggregate.prom",
            "cronlytics_export_metrics.prom"
        ],
        "no temporary file left"
    );
}

#[test]
fn an_unknown_config_key_exits_2_naming_it() {
    for (text, key) in [
        ("[retry]\nretires = 2\n", "retires"),
        ("dbpath = \"x.db\"\n", "dbpath"),
        ("[alerts]\ncommand = \"true\"\n", "alerts"),
    ] {
        let w = Workdir::new();
        let config = w.write("cronlytics.toml", text);
        let out = w
            .cmd("aggregate")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(&out, &[key, &config.display().to_string()]);
        assert!(
            !w.db.exists(),
            "a bad config must stop the job before any work"
        );
    }
}

/// Ingest one event with the given extra args/env; returns which of the
/// candidate stores received it.
fn store_used(
    w: &Workdir,
    config: Option<&str>,
    env_db: Option<&str>,
    flag_db: Option<&str>,
) -> Vec<String> {
    let mut cmd = w.bare_cmd("ingest");
    cmd.args(["--now", NOW]);
    if let Some(c) = config {
        cmd.args(["--config", c]);
    }
    if let Some(e) = env_db {
        cmd.env("CRONLYTICS_DB", e);
    }
    if let Some(f) = flag_db {
        cmd.args(["--db", f]);
    }
    assert_exit(&cmd.arg("events.ndjson").output().unwrap(), 0);
    ["analytics.db", "auto.db", "file.db", "env.db", "flag.db"]
        .iter()
        .filter(|name| w.path(name).exists())
        .map(|name| name.to_string())
        .collect()
}

#[test]
fn flag_beats_environment_beats_config_file() {
    let events = ndjson(&[pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a")]);

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    assert_eq!(
        store_used(&w, None, None, None),
        ["analytics.db"],
        "the default"
    );

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    w.write("cronlytics.toml", "db = \"auto.db\"\n");
    assert_eq!(
        store_used(&w, None, None, None),
        ["auto.db"],
        "./cronlytics.toml"
    );

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    w.write("cronlytics.toml", "db = \"auto.db\"\n");
    w.write("other.toml", "db = \"file.db\"\n");
    assert_eq!(
        store_used(&w, Some("other.toml"), None, None),
        ["file.db"],
        "--config"
    );

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    w.write("other.toml", "db = \"file.db\"\n");
    assert_eq!(
        store_used(&w, Some("other.toml"), Some("env.db"), None),
        ["env.db"],
        "env beats the file"
    );

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    w.write("other.toml", "db = \"file.db\"\n");
    assert_eq!(
        store_used(&w, Some("other.toml"), Some("env.db"), Some("flag.db")),
        ["flag.db"],
        "the flag beats env"
    );

    // The same for the zone, seen in a dry run's UTC bounds; and the config
    // file named by CRONLYTICS_CONFIG.
    let w = Workdir::new();
    w.write("zone.toml", "tz = \"Asia/Tokyo\"\n");
    let first_bound = |env_tz: Option<&str>, flag_tz: Option<&str>| -> String {
        let mut cmd = w.bare_cmd("backfill");
        cmd.env("CRONLYTICS_CONFIG", "zone.toml")
            .env("CRONLYTICS_NOW", NOW);
        cmd.args(["--dry-run", "--days", "1"]);
        if let Some(tz) = env_tz {
            cmd.env("CRONLYTICS_TZ", tz);
        }
        if let Some(tz) = flag_tz {
            cmd.args(["--tz", tz]);
        }
        let out = cmd.output().unwrap();
        assert_exit(&out, 0);
        stdout(&out).split('\t').nth(1).unwrap().to_string()
    };
    assert_eq!(first_bound(None, None), "2026-11-20T15:00:00Z");
    assert_eq!(
        first_bound(Some("Europe/Berlin"), None),
        "2026-11-20T23:00:00Z"
    );
    assert_eq!(
        first_bound(Some("Europe/Berlin"), Some("America/New_York")),
        "2026-11-21T05:00:00Z"
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let mut w = Workdir::new();
    w.db = w.path("notes.db");
    let junk = "These are my notes, not a database. ".repeat(20);
    w.write("notes.db", &junk);
    w.write(
        "events.ndjson",
        &ndjson(&[pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a")]),
    );
    let jobs: [&[&str]; 4] = [
        &["ingest", "events.ndjson"],
        &["aggregate"],
        &["backfill", "--days", "1"],
        &["export-metrics"],
    ];
    for args in jobs {
        let out = w.cmd(args[0]).args(&args[1..]).output().unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(
            &out,
            &[&format!(
                "{} is not an SQLite database",
                w.path("notes.db").display()
            )],
        );
        assert_eq!(w.read("notes.db"), junk, "{} changed the file", args[0]);
    }

    // An SQLite file of another application is refused too.
    let other = w.path("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE recipes (name TEXT)")
        .unwrap();
    w.db = other;
    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["not a cronlytics store", "other.db"]);
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let w = Workdir::new();
    one_day(&w);
    w.db().execute_batch("PRAGMA user_version = 999").unwrap();
    for args in [
        vec!["aggregate"],
        vec!["export-metrics"],
        vec!["ingest", "events.ndjson"],
    ] {
        let out = w.cmd(args[0]).args(&args[1..]).output().unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(
            &out,
            &[&format!(
                "the store {} was written by a newer cronlytics",
                w.db.display()
            )],
        );
    }
    assert_eq!(w.sql_i64("PRAGMA user_version"), 999);
    assert_eq!(w.sql_i64("SELECT count(*) FROM events"), 2);
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 0);
}

#[test]
fn quiet_leaves_only_warnings_and_errors() {
    let w = Workdir::new();
    one_day(&w);
    let out = w.cmd("aggregate").arg("-q").output().unwrap();
    assert_exit(&out, 0);
    assert_text(&stderr(&out), "");

    w.write("bad.ndjson", "{}\n");
    let out = w
        .cmd("ingest")
        .args(["--quiet", "bad.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(" ingest warning: stored 0 events"), "{err}");
}

#[test]
fn stderr_has_one_timestamped_line_per_event() {
    let w = Workdir::new();
    one_day(&w);
    let out = w.cmd("aggregate").arg("--verbose").output().unwrap();
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.lines().count() >= 2, "{err}");
    for line in err.lines() {
        let mut parts = line.splitn(4, ' ');
        let ts = parts.next().unwrap();
        assert!(
            ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
            "{line:?} does not start with an RFC 3339 UTC time"
        );
        assert_eq!(parts.next(), Some("aggregate"), "{line:?}");
        let level = parts.next().unwrap();
        assert!(
            ["debug:", "info:", "warning:", "error:"].contains(&level),
            "{line:?}"
        );
    }
}
