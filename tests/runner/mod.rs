//! The job runner every binary shares: the lock, the run log, retries and
//! the alert; `metrics.rs` the Prometheus textfile, `settings.rs` config
//! and precedence, refused stores, quiet and the log line format.

mod metrics;
mod settings;

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
    // Hold the store's write lock from the start: the first run takes its
    // job lock, then waits at its first write however fast the machine
    // is (when it was let write first, a run that took the store's lock
    // for each day in turn could starve the blocker and finish).
    let blocker = w.db();
    blocker.busy_timeout(Duration::from_secs(20)).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_backfill"))
        .current_dir(w.root())
        .arg("--db")
        .arg(&w.db)
        .args(["--now", NOW, "--start", "2000-01-01", "--end", "2026-11-21"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run holds its job lock.
    let lock_file = format!("{}.locks/backfill.lock", w.db.display());
    let holder = format!("pid {} since", first.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&lock_file).is_ok_and(|t| t.starts_with(&holder)) {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended early"
        );
        assert!(Instant::now() < deadline, "the first run took no lock");
        std::thread::sleep(Duration::from_millis(2));
    }
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
