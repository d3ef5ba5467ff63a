//! `retention`: exactly the old rows go, in batches, and the rollups stay;
//! days not rolled up are rolled up first or kept and named; a cutoff newer
//! than the rollups is refused; dry runs change nothing; only cronlytics'
//! own artifact files are removed; bad arguments exit 2.

use crate::common::*;

const LA: &str = "America/Los_Angeles";

/// Every table retention may touch, in full.
fn dump(w: &Workdir) -> Vec<Vec<Vec<String>>> {
    [
        "SELECT * FROM events ORDER BY id",
        "SELECT * FROM sessions ORDER BY id",
        "SELECT * FROM visitors ORDER BY id",
        "SELECT * FROM event_ids ORDER BY site_id, id",
        "SELECT * FROM daily_rollups ORDER BY date, site_id",
        "SELECT * FROM dirty_days ORDER BY date, site_id",
        "SELECT * FROM job_runs ORDER BY id",
    ]
    .iter()
    .map(|q| w.sql_rows(q))
    .collect()
}

fn column(w: &Workdir, query: &str) -> Vec<String> {
    w.sql_rows(query)
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect()
}

fn last_run(w: &Workdir) -> Vec<String> {
    w.sql_rows(
        "SELECT status, exit_code, records FROM job_runs WHERE job = 'retention' ORDER BY id DESC LIMIT 1",
    )
    .remove(0)
}

/// Sessions and visitors on both sides of the cutoff of `--days 10` in Los
/// Angeles at NOW (22:00 on 2026-11-21 there): 2026-11-11T08:00:00Z.
fn straddling_store(w: &Workdir) {
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-09T12:00:00Z", "shop", "a", "v1", "/x").id("e1"),
            custom("2026-11-09T12:05:00Z", "shop", "a", "v1", "signup").id("e2"),
            pageview("2026-11-11T07:59:59.999Z", "shop", "b", "v2", "/y").id("e3"),
            pageview("2026-11-11T08:00:00Z", "shop", "c", "v1", "/x").id("e4"),
            pageview("2026-11-10T20:00:00Z", "shop", "d", "v3", "/x"),
            pageview("2026-11-12T10:00:00Z", "shop", "d", "v3", "/z"),
            order("2026-11-08T10:00:00Z", "shop", "e", "v4", Some(900)),
        ],
    );
    assert_exit(&w.cmd("cleanup-sessions").output().unwrap(), 0);
    w.backfill("2026-11-08", "2026-11-21", LA);
}

#[test]
fn deletes_exactly_the_old_rows_in_batches_and_keeps_every_rollup() {
    let w = Workdir::new();
    straddling_store(&w);
    let rollups = w.rollup_table();
    assert_eq!(rollups.len(), 14);

    let out = w
        .cmd("retention")
        .args([
            "--days",
            "10",
            "--batch-size",
            "2",
            "--pause-ms",
            "0",
            "--tz",
            LA,
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    // 5 events in batches of 2, 2, 1; sessions a, b, e in 2, 1; ids e1-e3
    // in 2, 1; visitors v2 and v4 in one.
    assert_stderr_has(
        &out,
        &[
            "deleted 5 events, 3 sessions, 3 event ids and 2 visitors before 2026-11-11 in 8 batches; store ",
        ],
    );
    assert_eq!(
        column(&w, "SELECT ts FROM events ORDER BY ts"),
        ["2026-11-11T08:00:00Z", "2026-11-12T10:00:00Z"].map(|t| ms(t).to_string())
    );
    assert_eq!(
        column(&w, "SELECT key FROM sessions ORDER BY key"),
        ["c", "d"]
    );
    assert_eq!(
        column(&w, "SELECT key FROM visitors ORDER BY key"),
        ["v1", "v3"]
    );
    assert_eq!(column(&w, "SELECT id FROM event_ids"), ["e4"]);
    // The kept rows keep their key entries (those of deleted rows may stay
    // in the key runs: a lookup reads the row).
    for table in ["sessions", "visitors"] {
        let entries = w.key_entry_ids(table);
        for id in column(&w, &format!("SELECT id FROM {table}")) {
            assert!(entries.contains(&id.parse().unwrap()), "{table} {id}");
        }
    }
    assert_eq!(w.rollup_table(), rollups, "rollups are kept as they were");
    assert_eq!(last_run(&w), ["success", "0", "5"]);
    assert_eq!(w.sql_i64("PRAGMA freelist_count"), 0);

    // Nothing is left to delete the second time.
    let out = w
        .cmd("retention")
        .args(["--days", "10", "--tz", LA])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "deleted 0 events, 0 sessions, 0 event ids and 0 visitors before 2026-11-11 in 0 batches",
        ],
    );
    assert_eq!(w.rollup_table(), rollups);
}

/// 2,000 events with a long field on `day`, each its own session and
/// visitor.
fn bulky_day(day: &str, tag: &str) -> Vec<Ev> {
    (0..2000)
        .map(|i| {
            let ts = format!("{day}T10:{:02}:{:02}Z", i / 60 % 60, i % 60);
            let (s, v) = (format!("{tag}s{i}"), format!("{tag}v{i}"));
            pageview(&ts, "shop", &s, &v, "/a").with("note", "x".repeat(200))
        })
        .collect()
}

#[test]
fn large_deletions_give_the_free_pages_back() {
    let w = Workdir::new();
    let mut events = bulky_day("2026-11-01", "a");
    events.extend(bulky_day("2026-11-03", "b"));
    events.push(pageview("2026-11-20T10:00:00Z", "shop", "new", "vn", "/a"));
    w.ingest("events.ndjson", &events);
    assert_exit(&w.cmd("cleanup-sessions").output().unwrap(), 0);
    w.backfill("2026-11-01", "2026-11-21", "UTC");

    // The first run turns incremental vacuum on if the store lacks it
    // (one full VACUUM); the second gives pages back in steps.
    for (days, vacuum) in [
        ("20", "(free pages given back"),
        ("10", "(free pages given back)"),
    ] {
        let pages_before = w.sql_i64("PRAGMA page_count");
        let out = w
            .cmd("retention")
            .args(["--days", days, "--pause-ms", "0"])
            .output()
            .unwrap();
        assert_exit(&out, 0);
        assert_stderr_has(
            &out,
            &[
                "deleted 2,000 events, 2,000 sessions, 0 event ids and 2,000 visitors",
                vacuum,
            ],
        );
        let pages_after = w.sql_i64("PRAGMA page_count");
        assert!(
            pages_after * 10 < pages_before * 7,
            "{pages_before} pages before, {pages_after} after"
        );
        assert_eq!(w.sql_i64("PRAGMA freelist_count"), 0);
        assert_eq!(w.sql_i64("PRAGMA auto_vacuum"), 2, "incremental");
    }
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 21);
}

/// Old days of which 11-05 was never rolled up and 11-06 got a late event
/// after its rollup; sessions closed.
fn unrolled_store(w: &Workdir) {
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-05T10:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2026-11-06T10:00:00Z", "shop", "s2", "v2", "/b"),
            pageview("2026-11-20T10:00:00Z", "shop", "s4", "v4", "/d"),
        ],
    );
    w.backfill("2026-11-06", "2026-11-21", "UTC");
    w.ingest(
        "late.ndjson",
        &[pageview("2026-11-06T11:00:00Z", "shop", "s3", "v3", "/c")],
    );
    assert_eq!(w.sql_i64("SELECT count(*) FROM dirty_days"), 1);
    assert_exit(&w.cmd("cleanup-sessions").output().unwrap(), 0);
}

#[test]
fn rolls_up_missing_and_marked_days_before_deleting_them() {
    let w = Workdir::new();
    unrolled_store(&w);
    let out = w.cmd("retention").args(["--days", "10"]).output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "deleted 3 events, 3 sessions, 0 event ids and 3 visitors before 2026-11-12",
            "; rolled up 2 days first;",
        ],
    );
    assert_eq!(w.rollup("2026-11-05", "shop")["pageviews"], 1);
    assert_eq!(w.rollup("2026-11-06", "shop")["pageviews"], 2);
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 17);
    assert_eq!(w.sql_i64("SELECT count(*) FROM dirty_days"), 0);
    assert_eq!(w.sql_i64("SELECT count(*) FROM events"), 1);
}

#[test]
fn a_day_that_cannot_be_rolled_up_keeps_its_events_and_is_named() {
    let w = Workdir::new();
    unrolled_store(&w);
    w.db()
        .execute_batch(
            "CREATE TRIGGER block_day BEFORE INSERT ON daily_rollups WHEN NEW.date = '2026-11-05'
             BEGIN SELECT RAISE(ABORT, 'rollups of this day are blocked'); END;",
        )
        .unwrap();
    let out = w.cmd("retention").args(["--days", "10"]).output().unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(
        &out,
        &[
            "deleted 2 events,",
            "rolled up 1 day first",
            "could not roll up 2026-11-05 (rollups of this day are blocked",
            "), so their events are kept: fix the cause and run retention again",
        ],
    );
    assert_eq!(
        column(&w, "SELECT ts FROM events ORDER BY ts"),
        ["2026-11-05T10:00:00Z", "2026-11-20T10:00:00Z"].map(|t| ms(t).to_string())
    );
    assert_eq!(w.rollup("2026-11-06", "shop")["pageviews"], 2);
    // The sessions and visitors of the kept day stay with it.
    assert_eq!(
        column(&w, "SELECT key FROM sessions ORDER BY key"),
        ["s1", "s2", "s3", "s4"]
    );
    let run = w.sql_rows("SELECT status, exit_code, errors FROM job_runs WHERE job = 'retention'");
    assert_eq!(run, [["warning", "1", "1"]]);
}

#[test]
fn a_cutoff_newer_than_the_newest_rollup_is_refused() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-01T10:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2026-11-20T10:00:00Z", "shop", "s2", "v2", "/b"),
        ],
    );
    let out = w.cmd("retention").args(["--days", "10"]).output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["the store has no daily rollups", "nothing was deleted"],
    );

    w.backfill("2026-11-01", "2026-11-01", "UTC");
    let before = dump(&w);
    let out = w.cmd("retention").args(["--days", "10"]).output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["the cutoff 2026-11-12 (10 days ago) is newer than the newest rollup (2026-11-01)"],
    );
    let after = dump(&w);
    assert_eq!(after[..6], before[..6], "nothing but the run log changed");
    assert_eq!(last_run(&w), ["failed", "2", "0"]);
}

#[test]
fn a_dry_run_prints_what_would_go_and_changes_nothing() {
    let w = Workdir::new();
    unrolled_store(&w);
    let proof = w.write(
        "artifacts/sampling-proofs/sampling-proof-20261101.json",
        "{}",
    );
    let before = dump(&w);
    let out = w
        .cmd("retention")
        .args(["--days", "10", "--artifacts-days", "5", "--dry-run"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_text(
        &stdout(&out),
        &format!(
            "cutoff\t2026-11-12\nroll-up\t2026-11-05\nroll-up\t2026-11-06\nevents\t3\nsessions\t3\nevent_ids\t0\nvisitors\t3\nfile\t{}\n",
            proof.display()
        ),
    );
    assert_stderr_has(
        &out,
        &["dry run: would delete 3 events", "nothing was changed"],
    );
    assert_eq!(dump(&w), before);
    assert!(proof.exists());
}

#[test]
fn artifact_cleanup_removes_only_old_files_cronlytics_names() {
    let w = Workdir::new();
    w.create_store();
    let files = [
        ("sampling-proofs/sampling-proof-20261101.json", true),
        ("sampling-proofs/sampling-proof-20261120.json", false),
        ("sampling-proofs/sampling-proof-20261101.json.bak", false),
        ("snapshots/2026-11-14.json", true),
        ("snapshots/2026-11-15.json", false),
        ("snapshots/notes.txt", false),
        ("trending/2026-11-01T05.json", true),
        ("trending/2026-11-21T05.json", false),
        ("rejects/ingest-20261101T101500Z.ndjson", true),
        ("rejects/ingest-20261101T101500Z-2.ndjson", true),
        ("rejects/ingest-20261101T101500Z-x.ndjson", false),
        ("rejects/mine.ndjson", false),
        ("metrics-20261001-20261031.csv", true),
        ("exports/metrics-20261001-20261031.ndjson", true),
        ("exports/metrics-20261101-20261121.json", false),
        ("other/metrics-20261001-20261031.csv", false),
        ("2026-11-01.json", false),
        ("README.txt", false),
        // Where the crontab's export-metrics --output-dir writes, outside
        // the artifacts: named by --export-dir and by the config.
        ("../exports/metrics-20261001-20261031.csv", true),
        ("../exports/metrics-20261101-20261121.csv", false),
        ("../exports/notes-20261001-20261031.csv", false),
        ("../more-exports/metrics-20261001-20261031.json", true),
        ("../elsewhere/metrics-20261001-20261031.json", false),
    ];
    for (name, _) in files {
        w.write(&format!("artifacts/{name}"), "x");
    }
    let config = w.write(
        "retention.toml",
        &format!(
            "[retention]\nexport_dirs = [\"{}\"]\n",
            w.path("more-exports").display()
        ),
    );
    let out = w
        .cmd("retention")
        .args(["--artifacts-days", "7", "--export-dir"])
        .arg(w.path("exports"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["removed 9 artifact files"]);
    for (name, old) in files {
        assert_eq!(
            w.path(&format!("artifacts/{name}")).exists(),
            !old,
            "{name} should {}",
            if old { "be removed" } else { "stay" }
        );
    }
}

#[test]
fn bad_arguments_exit_2_with_the_reason() {
    let w = Workdir::new();
    w.create_store();
    w.write("zero.toml", "[retention]\ndays = 0\n");
    assert_refused(
        &w,
        "retention",
        &[
            (
                &["--days", "0"],
                "--days must be a number of days from 1 to 36600 (got 0)",
            ),
            (
                &["--days", "-3"],
                "--days must be a number of days from 1 to 36600 (got -3)",
            ),
            (
                &["--batch-size", "0"],
                "--batch-size must be a number of rows from 1",
            ),
            (
                &["--pause-ms", "-1"],
                "--pause-ms must be a number of milliseconds from 0",
            ),
            (
                &["--artifacts-days", "0"],
                "--artifacts-days must be a number of days",
            ),
            (&["--dry-run", "--days", "0"], "--days must be"),
            (
                &["--config", "zero.toml"],
                "retention.days in the config file must be",
            ),
        ],
    );
    assert_eq!(last_run(&w), ["failed", "2", "0"]);
}

#[test]
fn days_retention_emptied_stay_final_for_ingest_aggregate_and_backfill() {
    let w = Workdir::new();
    straddling_store(&w);
    let out = w
        .cmd("retention")
        .args(["--days", "10", "--pause-ms", "0", "--tz", LA])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let rollups = w.rollup_table();

    // A late event for a day whose raw events are gone is rejected, not
    // stored: re-rolling that day would replace its full rollup.
    w.write(
        "late.ndjson",
        &ndjson(&[
            pageview("2026-11-09T13:00:00Z", "shop", "late", "v9", "/x"),
            pageview("2026-11-12T13:00:00Z", "shop", "late2", "v9", "/x"),
        ]),
    );
    let out = w
        .cmd("ingest")
        .args([
            "late.ndjson",
            "--rejects",
            "late-rejects.ndjson",
            "--tz",
            LA,
        ])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let rejects = w.read("late-rejects.ndjson");
    assert_eq!(rejects.lines().count(), 1, "{rejects}");
    assert!(
        rejects.contains("retention has deleted"),
        "the reason says why: {rejects}"
    );
    assert_eq!(
        w.sql_i64(&format!(
            "SELECT count(*) FROM events WHERE ts < {}",
            ms("2026-11-11T08:00:00Z")
        )),
        0
    );

    // aggregate and backfill leave those days' rollups as they are.
    let out = w
        .cmd("aggregate")
        .args(["--date", "2026-11-09", "--tz", LA])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["are not rolled up again: retention deleted"]);
    let out = w
        .cmd("backfill")
        .args(["--start", "2026-11-08", "--end", "2026-11-10", "--tz", LA])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let after: Vec<_> = w
        .rollup_table()
        .into_iter()
        .filter(|r| r[1].as_str() < "2026-11-11")
        .collect();
    let before: Vec<_> = rollups
        .into_iter()
        .filter(|r| r[1].as_str() < "2026-11-11")
        .collect();
    assert_eq!(after, before);
}
