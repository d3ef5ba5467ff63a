//! How runs fail: a crash is a failed run, only passing failures are
//! retried, output is never printed twice, and numbers out of bounds are
//! refused before any work.

use std::process::Stdio;

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

#[test]
fn a_crash_is_a_failed_run_rolled_back_with_the_alert_and_exit_2() {
    let w = Workdir::new();
    one_day(&w);
    let config = w.short_retry_config("[alert]\ncommand = \"cat > alert.json\"\n");
    let out = w
        .cmd("aggregate")
        .arg("--config")
        .arg(&config)
        .env("CRONLYTICS_FAULT", "rollup-write")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            "aggregate error: the job crashed",
            "fault injected at rollup-write",
        ],
    );
    let err = stderr(&out);
    assert!(
        !err.contains("attempt 1 failed"),
        "a crash is not retried:\n{err}"
    );
    assert_eq!(
        err.lines().count(),
        2,
        "the crash is one line (plus the alert's):\n{err}"
    );
    // The day's transaction rolled back; the run log and the alert know.
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 0);
    assert_eq!(
        w.sql_rows("SELECT status, exit_code, attempts FROM job_runs WHERE job = 'aggregate'"),
        vec![vec!["failed".to_string(), "2".into(), "1".into()]]
    );
    let alert: Value = serde_json::from_str(&w.read("alert.json")).expect("alert.json is JSON");
    assert_eq!(alert["status"], "failed");
    assert!(
        alert["error"].as_str().unwrap().contains("crashed"),
        "{alert}"
    );

    // The next run does the work.
    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 0);
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 1);
}

#[test]
fn a_path_mistake_fails_at_once_without_retries() {
    let w = Workdir::new();
    one_day(&w);
    w.write("not-a-dir", "a file");
    // Default retry settings: a retry would wait 2 s and log "attempt 1 failed".
    let out = w
        .cmd("export-metrics")
        .args(["--days", "1", "--output"])
        .arg(w.path("not-a-dir/metrics.csv"))
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(!err.contains("attempt 1 failed"), "{err}");
    assert!(err.contains("not-a-dir"), "names the path: {err}");
    assert_eq!(
        w.sql_i64("SELECT attempts FROM job_runs WHERE job = 'export-metrics'"),
        1
    );
}

#[test]
fn a_failed_write_to_stdout_is_not_retried_so_nothing_is_printed_twice() {
    let w = Workdir::new();
    one_day(&w);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = w
        .process("export-metrics")
        .args(["--days", "1", "--format", "csv"])
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("cannot write to stdout"), "{err}");
    assert!(!err.contains("retrying"), "{err}");
    assert_eq!(
        w.sql_i64("SELECT attempts FROM job_runs WHERE job = 'export-metrics'"),
        1
    );
}

#[test]
fn numbers_out_of_bounds_exit_2_naming_the_key_and_the_range() {
    let w = Workdir::new();
    one_day(&w);
    let cases = [
        (
            "[retry]\nretries = 4294967295\n",
            "retry.retries",
            "0 to 10",
        ),
        (
            "[retry]\nbackoff_seconds = 1e300\n",
            "retry.backoff_seconds",
            "0 to 600",
        ),
        (
            "[retry]\nbackoff_seconds = nan\n",
            "retry.backoff_seconds",
            "0 to 600",
        ),
        (
            "[alert]\ntimeout_seconds = 18446744073709551615\n",
            "alert.timeout_seconds",
            "1 to 3600",
        ),
        (
            "[store]\nbusy_timeout_ms = 9223372036854775807\n",
            "store.busy_timeout_ms",
            "0 to 600000",
        ),
        (
            "[ingest]\nbatch_size = 1000000000000\n",
            "ingest.batch_size",
            "1 to 1000000",
        ),
    ];
    for (toml, key, range) in cases {
        let config = w.write("bounds.toml", toml);
        let out = w
            .cmd("aggregate")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(&out, &[key, range]);
    }
    for timeout in ["1e20", "inf", "0", "-1", "3601"] {
        let out = w
            .cmd("health-check")
            .arg(format!("--timeout={timeout}"))
            .output()
            .unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(&out, &["--timeout", "at most 3600"]);
    }
}

/// Every numeric key of every job's table, pushed to an extreme: the job
/// refuses it or copes, and never panics.
#[test]
fn extreme_numbers_in_any_table_never_crash_a_job() {
    let w = Workdir::new();
    one_day(&w);
    w.cmd("aggregate").assert().code(0);
    let jobs: [(&str, &[&str]); 5] = [
        (
            "cleanup-sessions",
            &[
                "[sessions]\nidle_minutes = 9223372036854775807\n",
                "[sessions]\nidle_minutes = -9223372036854775808\n",
            ],
        ),
        (
            "retention",
            &[
                "[retention]\ndays = 9223372036854775807\n",
                "[retention]\ndays = -9223372036854775808\n",
                "[retention]\nbatch_size = 9223372036854775807\n",
                "[retention]\npause_ms = 9223372036854775807\n",
                "[retention]\nartifacts_days = 9223372036854775807\n",
                "[retention]\nartifacts_days = -9223372036854775808\n",
            ],
        ),
        (
            "trending",
            &[
                "[trending]\nwindow_hours = 9223372036854775807\n",
                "[trending]\nwindow_hours = -9223372036854775808\n",
                "[trending]\nhalf_life_hours = 1e308\n",
                "[trending]\nhalf_life_hours = 1e-308\n",
                "[trending]\ntop = 9223372036854775807\n",
                "[trending]\nsaturation = 1e308\n",
                "[trending]\nthreshold = inf\n",
                "[trending]\nweights = { pageview = 1e308, event = -1e308 }\n",
            ],
        ),
        (
            "health-check",
            &[
                "[health]\nartifacts_max_mb = 1e308\n",
                "[health]\nrollup_max_lag_hours = 1e308\n",
                "[health]\nrollup_max_lag_hours = -1e308\n",
                "[health]\nquick_check_every_hours = 1e308\n",
                "[health.jobs.aggregate]\nmax_age_hours = 1e308\n",
                "[health.jobs.aggregate]\nmax_age_hours = nan\n",
            ],
        ),
        (
            "sampling-guard",
            &[
                "[guard.sessions]\nwarn_score = 1e308\nfail_score = 1e308\n",
                "[guard.sessions]\nmin = -1e308\nmax = 1e308\n",
                "[guard.revenue]\nmin_change_warn = 1e308\nmin_change_fail = 1e308\n",
            ],
        ),
    ];
    for (job, tomls) in jobs {
        for toml in tomls.iter() {
            let config = w.write("extreme.toml", toml);
            let out = w.cmd(job).arg("--config").arg(&config).output().unwrap();
            let err = stderr(&out);
            assert!(
                !err.contains("panicked") && !err.contains("crashed"),
                "{job} with {toml}: {err}"
            );
            assert!(
                matches!(out.status.code(), Some(0..=2)),
                "{job} with {toml}: {:?}",
                out.status
            );
        }
    }
}

#[test]
fn only_ingest_creates_a_store_a_mistyped_db_is_named() {
    let w = Workdir::new();
    let typo = w.path("typo.db");
    let jobs: [(&str, &[&str]); 9] = [
        ("aggregate", &[]),
        ("backfill", &["--days", "3"]),
        ("sampling-guard", &[]),
        ("snapshot", &[]),
        ("export-metrics", &["--days", "3"]),
        ("health-check", &[]),
        ("cleanup-sessions", &[]),
        ("retention", &[]),
        ("trending", &[]),
    ];
    for (job, args) in jobs {
        let out = w
            .bare_cmd(job)
            .arg("--db")
            .arg(&typo)
            .args(["--now", NOW])
            .args(args)
            .output()
            .unwrap();
        assert_exit(&out, 2);
        let text = format!("{}{}", stderr(&out), stdout(&out));
        assert!(
            text.contains(&format!("{} does not exist", typo.display())),
            "{job} names the missing store: {text}"
        );
        assert!(!typo.exists(), "{job} created {}", typo.display());
    }
    // ingest is the one job that creates it.
    let input = w.write(
        "one.ndjson",
        &ndjson(&[pageview("2026-11-21T10:00:00Z", "shop", "s", "v", "/")]),
    );
    w.bare_cmd("ingest")
        .arg("--db")
        .arg(&typo)
        .arg(input)
        .assert()
        .code(0);
    assert!(typo.exists());
}

#[test]
fn jobs_that_only_read_never_upgrade_the_store() {
    let w = Workdir::new();
    one_day(&w);
    w.cmd("aggregate").assert().code(0);
    let current = w.sql_i64("PRAGMA user_version");
    // Pretend the store is one schema version behind this cronlytics.
    w.db()
        .execute_batch(&format!("PRAGMA user_version = {}", current - 1))
        .unwrap();
    for (job, args) in [
        ("health-check", &[][..]),
        ("export-metrics", &["--days", "1"][..]),
        ("snapshot", &[][..]),
        ("sampling-guard", &[][..]),
    ] {
        let out = w.cmd(job).args(args).output().unwrap();
        assert_exit(&out, 2);
        let text = format!("{}{}", stderr(&out), stdout(&out));
        assert!(
            text.contains("run ingest or aggregate once to upgrade it"),
            "{job}: {text}"
        );
        assert_eq!(
            w.sql_i64("PRAGMA user_version"),
            current - 1,
            "{job} changed the schema version"
        );
    }
}

#[test]
fn snapshot_and_guard_agree_on_a_day_without_rollups() {
    let w = Workdir::new();
    one_day(&w);
    let config = w.short_retry_config("[alert]\ncommand = \"cat >> alerts.json\"\n");
    for job in ["snapshot", "sampling-guard"] {
        let out = w
            .cmd(job)
            .args(["--date", "2026-11-21", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(&out, &["no rollups for 2026-11-21: run aggregate first"]);
        assert!(
            !stderr(&out).contains("retrying"),
            "{job}: {}",
            stderr(&out)
        );
    }
    assert!(
        !w.path("alerts.json").exists(),
        "a missing rollup is the user's to fix, as health-check reports it: no alert"
    );
    assert_eq!(
        w.sql_rows(
            "SELECT job, status, exit_code FROM job_runs WHERE job IN ('snapshot', 'sampling-guard') ORDER BY id"
        ),
        vec![
            vec!["snapshot".to_string(), "failed".into(), "2".into()],
            vec!["sampling-guard".to_string(), "failed".into(), "2".into()],
        ]
    );
}
