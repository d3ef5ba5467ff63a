//! `backfill`: ranges, dry runs, bad ranges, repeatability, a failed day,
//! a killed run that resumes.

use std::process::Stdio;

use crate::common::*;

/// One pageview per day on each of `dates`, for `site`.
fn daily_events(site: &str, dates: &[&str]) -> Vec<Ev> {
    dates
        .iter()
        .enumerate()
        .map(|(i, d)| {
            pageview(
                &format!("{d}T10:00:00Z"),
                site,
                &format!("s{i}"),
                "v1",
                "/a",
            )
        })
        .collect()
}

const WEEK: [&str; 7] = [
    "2026-11-15",
    "2026-11-16",
    "2026-11-17",
    "2026-11-18",
    "2026-11-19",
    "2026-11-20",
    "2026-11-21",
];

fn rolled_dates(w: &Workdir) -> Vec<String> {
    w.sql_rows("SELECT DISTINCT date FROM daily_rollups ORDER BY date")
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

#[test]
fn start_and_end_are_inclusive() {
    let w = Workdir::new();
    w.ingest("events.ndjson", &daily_events("shop", &WEEK));
    let out = w.backfill("2026-11-16", "2026-11-18", "UTC");
    assert_stderr_has(
        &out,
        &["rolled up 3 days from 2026-11-16 to 2026-11-18: 3 events"],
    );
    assert_eq!(rolled_dates(&w), ["2026-11-16", "2026-11-17", "2026-11-18"]);
}

#[test]
fn days_n_ends_yesterday() {
    let w = Workdir::new();
    w.ingest("events.ndjson", &daily_events("shop", &WEEK));
    let out = w.cmd("backfill").args(["--days", "3"]).output().unwrap();
    assert_exit(&out, 0);
    assert_eq!(rolled_dates(&w), ["2026-11-19", "2026-11-20", "2026-11-21"]);

    // In Los Angeles it is still the 21st: yesterday is the 20th (a store
    // of its own: this one counts its days in UTC now).
    let w = Workdir::new();
    let out = w
        .cmd("backfill")
        .args(["--days", "2", "--dry-run", "--tz", "America/Los_Angeles"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_text(
        &stdout(&out),
        "2026-11-19\t2026-11-19T08:00:00Z\t2026-11-20T08:00:00Z\t24h\n\
         2026-11-20\t2026-11-20T08:00:00Z\t2026-11-21T08:00:00Z\t24h\n",
    );
}

#[test]
fn dry_run_prints_days_with_utc_bounds_and_changes_nothing() {
    // Without a store: the store is not even created.
    let w = Workdir::new();
    let out = w
        .cmd("backfill")
        .args(["--dry-run", "--days", "2"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_text(
        &stdout(&out),
        "2026-11-20\t2026-11-20T00:00:00Z\t2026-11-21T00:00:00Z\t24h\n\
         2026-11-21\t2026-11-21T00:00:00Z\t2026-11-22T00:00:00Z\t24h\n",
    );
    assert_stderr_has(
        &out,
        &["dry run: would roll up 2 days from 2026-11-20 to 2026-11-21"],
    );
    assert!(!w.db.exists(), "a dry run created the store");

    // With a store: no rollup, no mark cleared, no run-log row.
    w.ingest("events.ndjson", &daily_events("shop", &WEEK));
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    w.ingest(
        "late.ndjson",
        &[pageview("2026-11-20T12:00:00Z", "shop", "late", "v2", "/b")],
    );
    let rollups = w.rollup_table();
    let runs = w.sql_i64("SELECT count(*) FROM job_runs");
    let out = w
        .cmd("backfill")
        .args(["--dry-run", "--start", "2026-11-15", "--end", "2026-11-21"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).lines().count(), 7);
    assert_eq!(w.rollup_table(), rollups);
    assert_eq!(w.sql_i64("SELECT count(*) FROM job_runs"), runs);
    assert_eq!(w.sql_i64("SELECT count(*) FROM dirty_days"), 1);
}

#[test]
fn bad_ranges_exit_2_with_one_sentence() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--start", "2026-11-20", "--end", "2026-11-10"],
            "--start 2026-11-20 is after --end 2026-11-10",
        ),
        (
            &["--start", "2026-02-30", "--end", "2026-03-01"],
            "--start '2026-02-30' is not a valid date",
        ),
        (
            &["--start", "2026-11-01", "--end", "21.11.2026"],
            "--end '21.11.2026' is not a valid date",
        ),
        (
            &["--days", "3", "--tz", "Mars/Olympus_Mons"],
            "unknown time zone 'Mars/Olympus_Mons'",
        ),
        (&["--days", "0"], "--days must be at least 1"),
        (&["--days", "-2"], "--days must be at least 1"),
    ];
    for (args, reason) in cases {
        for dry in [false, true] {
            let w = Workdir::new();
            w.ingest("events.ndjson", &daily_events("shop", &WEEK));
            let mut cmd = w.cmd("backfill");
            cmd.args(args);
            if dry {
                cmd.arg("--dry-run");
            }
            let out = cmd.output().unwrap();
            assert_exit(&out, 2);
            let err = stderr(&out);
            assert_eq!(
                err.lines().count(),
                1,
                "{args:?} (dry run {dry}): one line expected\n{err}"
            );
            assert!(err.contains(reason), "{args:?}: want {reason:?}\n{err}");
            assert!(stdout(&out).is_empty(), "{args:?}: stdout must be empty");
            assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 0);
        }
    }
}

#[test]
fn backfill_twice_gives_identical_rows() {
    let w = Workdir::new();
    let mut events = daily_events("shop", &WEEK);
    events.extend(daily_events("blog", &WEEK[3..]));
    events.push(order(
        "2026-11-18T11:00:00Z",
        "shop",
        "s3",
        "v1",
        Some(1234),
    ));
    events.push(custom("2026-11-19T11:00:00Z", "blog", "s9", "v9", "like"));
    w.ingest("events.ndjson", &events);
    w.backfill("2026-11-14", "2026-11-21", "UTC");
    let first = w.rollup_table();
    assert_eq!(first.len(), 7 + 4);
    w.backfill("2026-11-14", "2026-11-21", "UTC");
    assert_eq!(w.rollup_table(), first);
}

#[test]
fn a_failed_day_is_named_and_the_other_days_are_kept() {
    let w = Workdir::new();
    let mut events = daily_events("shop", &WEEK[3..]);
    events.extend(daily_events("blog", &WEEK[3..]));
    w.ingest("events.ndjson", &events);
    w.db()
        .execute_batch(
            "CREATE TRIGGER fail_one_day BEFORE INSERT ON daily_rollups
             WHEN NEW.date = '2026-11-20'
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
    let out = w
        .cmd("backfill")
        .args(["--start", "2026-11-18", "--end", "2026-11-21"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            "1 of 4 days failed (2026-11-20)",
            "rolling up 2026-11-20 failed",
            "boom",
        ],
    );
    assert_eq!(rolled_dates(&w), ["2026-11-18", "2026-11-19", "2026-11-21"]);
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 6);
    assert_eq!(
        w.sql_rows("SELECT status, exit_code, attempts FROM job_runs WHERE job = 'backfill'"),
        vec![vec!["failed".to_string(), "2".to_string(), "1".to_string()]],
        "a failure that is not passing is not retried"
    );

    w.db().execute_batch("DROP TRIGGER fail_one_day").unwrap();
    w.backfill("2026-11-18", "2026-11-21", "UTC");
    assert_eq!(
        rolled_dates(&w),
        ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]
    );
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 8);
}

#[test]
fn a_killed_backfill_keeps_its_finished_days_and_a_rerun_finishes() {
    let w = Workdir::new();
    // Two sites whose first event is in 2000: every later day gets two rows.
    w.ingest(
        "events.ndjson",
        &[
            pageview("2000-01-01T10:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2000-01-01T10:00:00Z", "blog", "s1", "v1", "/a"),
        ],
    );
    let (start, end) = ("2000-01-01", "2026-11-21");
    let days = 9822; // 2000-01-01 ..= 2026-11-21
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_backfill"))
        .current_dir(w.root())
        .arg("--db")
        .arg(&w.db)
        .args(["--now", NOW, "--start", start, "--end", end])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_when(
        &w,
        child,
        "SELECT count(*) FROM daily_rollups",
        200,
        "backfill",
    );

    let kept = w.sql_i64("SELECT count(*) FROM daily_rollups");
    assert!(
        kept < 2 * days,
        "the kill came after the backfill finished ({kept} rows)"
    );
    assert_eq!(
        w.sql_i64(
            "SELECT count(*) FROM (SELECT date FROM daily_rollups GROUP BY date HAVING count(*) != 2)"
        ),
        0,
        "each finished day is whole: both sites or neither"
    );
    assert_eq!(
        w.sql_rows("SELECT status FROM job_runs WHERE job = 'backfill'"),
        vec![vec!["running".to_string()]]
    );

    let out = w.backfill(start, end, "UTC");
    assert_stderr_has(
        &out,
        &["1 earlier run(s) of backfill were interrupted; marked failed in the run log"],
    );
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 2 * days);
    assert_eq!(
        w.sql_rows("SELECT status, exit_code FROM job_runs WHERE job = 'backfill' ORDER BY id"),
        vec![
            vec!["failed".to_string(), "2".to_string()],
            vec!["success".to_string(), "0".to_string()]
        ]
    );
}
