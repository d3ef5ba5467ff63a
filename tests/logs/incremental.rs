//! Exactly once: a log read by cron every ten minutes while it grows, is
//! rotated, truncated or copied; identical lines within a file; sessions
//! across files and runs.

use std::io::Write;

use super::*;
use crate::common::*;

fn append(w: &Workdir, name: &str, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(w.path(name))
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn gzip(w: &Workdir, from: &str, to: &str) {
    let data = std::fs::read(w.path(from)).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&data).unwrap();
    std::fs::write(w.path(to), encoder.finish().unwrap()).unwrap();
}

fn events(w: &Workdir) -> i64 {
    count(w, "SELECT count(*) FROM events")
}

/// The crontab's run every ten minutes: a growing file is read from where
/// the last run stopped, a line being written (no line end yet) waits for
/// the next run, and a run with nothing new says so.
#[test]
fn a_growing_log_is_read_from_where_the_last_run_stopped() {
    let w = Workdir::new();
    w.write(
        "access.log",
        &lines(&[page(1, "10:00:00", "/a"), page(2, "10:00:01", "/b")]),
    );
    append(&w, "access.log", &page(3, "10:00:02", "/half")[..20]);
    let out = w.ingest_log(&["access.log", "--site", "s"]);
    assert_exit(&out, 0);
    assert_eq!(events(&w), 2);
    append(
        &w,
        "access.log",
        &format!("{}\n", &page(3, "10:00:02", "/half")[20..]),
    );
    append(&w, "access.log", &lines(&[page(4, "10:00:03", "/d")]));
    let out = w.ingest_log(&["access.log", "--site", "s"]);
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "stored 2 events, 0 duplicates",
            "continued 1 file",
            "access.log from line 3",
        ],
    );
    let out = w.ingest_log(&["access.log", "--site", "s"]);
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 0 events", "nothing new in access.log"]);
    let paths: Vec<String> = pageviews(&w).into_iter().map(|p| p.1).collect();
    assert_eq!(paths, ["/a", "/b", "/half", "/d"]);
}

/// logrotate renames access.log to access.log.1 after lines were written
/// since the last run; the next run, given access.log, reads those lines
/// from access.log.1 first. A day later access.log.1 becomes
/// access.log.2.gz: read again, it counts nothing twice.
#[test]
fn rotation_loses_no_line_written_before_it() {
    let w = Workdir::new();
    w.write(
        "access.log",
        &lines(&[page(1, "10:00:00", "/1"), page(1, "10:01:00", "/2")]),
    );
    assert_exit(&w.ingest_log(&["access.log", "--site", "s"]), 0);
    // Written after the run, before the rotation.
    append(&w, "access.log", &lines(&[page(1, "10:02:00", "/3")]));
    std::fs::rename(w.path("access.log"), w.path("access.log.1")).unwrap();
    w.write("access.log", &lines(&[page(1, "10:03:00", "/4")]));
    let out = w.ingest_log(&["access.log", "--site", "s"]);
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "stored 2 events, 0 duplicates",
            "access.log.1 first (access.log was rotated)",
        ],
    );
    assert_eq!(events(&w), 4);
    // The next rotation compresses it; reading every file counts nothing twice.
    gzip(&w, "access.log.1", "access.log.2.gz");
    std::fs::remove_file(w.path("access.log.1")).unwrap();
    std::fs::rename(w.path("access.log"), w.path("access.log.1")).unwrap();
    w.write("access.log", &lines(&[page(1, "10:04:00", "/5")]));
    let out = w.ingest_log(&[
        "access.log.2.gz",
        "access.log.1",
        "access.log",
        "--site",
        "s",
    ]);
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 1 events, 3 duplicates"]);
    let paths: Vec<String> = pageviews(&w).into_iter().map(|p| p.1).collect();
    assert_eq!(paths, ["/1", "/2", "/3", "/4", "/5"]);
    // One visitor, one session: no gap over 30 minutes across three runs
    // and three files.
    assert_eq!(count(&w, "SELECT count(*) FROM sessions"), 1);
    assert_eq!(
        w.sql_rows("SELECT started_ts, last_ts FROM sessions"),
        vec![vec![
            ms("2026-11-21T10:00:00Z").to_string(),
            ms("2026-11-21T10:04:00Z").to_string()
        ]]
    );
}

/// `copytruncate`: the log is copied to access.log.1 and emptied in
/// place; the lines written before the copy are read from the copy, the
/// ones after from the truncated file.
#[test]
fn a_truncated_log_is_noticed_and_its_copy_read() {
    let w = Workdir::new();
    w.write("access.log", &lines(&[page(1, "10:00:00", "/1")]));
    assert_exit(&w.ingest_log(&["access.log", "--site", "s"]), 0);
    append(&w, "access.log", &lines(&[page(1, "10:01:00", "/2")]));
    std::fs::copy(w.path("access.log"), w.path("access.log.1")).unwrap();
    std::fs::write(w.path("access.log"), lines(&[page(1, "10:02:00", "/3")])).unwrap();
    let out = w.ingest_log(&["access.log", "--site", "s"]);
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["stored 2 events, 0 duplicates", "read access.log.1 first"],
    );
    let paths: Vec<String> = pageviews(&w).into_iter().map(|p| p.1).collect();
    assert_eq!(paths, ["/1", "/2", "/3"]);
}

/// The same lines from the plain file, its gzip copy and a concatenation
/// count once; two identical lines in one file (the same request twice in
/// one second) count twice, and again only twice from a copy.
#[test]
fn copies_count_nothing_twice_and_identical_lines_count_each() {
    let w = Workdir::new();
    let twice = page(1, "10:00:00", "/same");
    w.write(
        "a.log",
        &lines(&[twice.clone(), twice.clone(), page(2, "10:00:01", "/x")]),
    );
    w.write("b.log", &lines(&[page(3, "10:00:02", "/y")]));
    assert_exit(&w.ingest_log(&["a.log", "--site", "s"]), 0);
    assert_eq!(events(&w), 3);
    gzip(&w, "a.log", "a.log.1.gz");
    let out = w.ingest_log(&["a.log.1.gz", "--site", "s"]);
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 0 events, 3 duplicates"]);
    let both = format!("{}{}", w.read("b.log"), w.read("a.log"));
    w.write("all.log", &both);
    let out = w.ingest_log(&["all.log", "--site", "s"]);
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 1 events, 3 duplicates"]);
    assert_eq!(
        count(
            &w,
            "SELECT count(*) FROM events e JOIN labels l ON l.id = e.label_id WHERE l.value = '/same'"
        ),
        2
    );
}

/// A file and its gzip copy read in one run, on a store with no lines
/// yet: the copy's lines are duplicates within the run's batch, and the
/// identical lines still count twice; so too when a second holds many
/// lines (100: past the few compared one by one).
#[test]
fn a_file_and_its_copy_in_one_run_count_once() {
    let w = Workdir::new();
    let twice = page(1, "10:00:00", "/same");
    let mut log = vec![twice.clone(), twice];
    log.extend((0..100).map(|i| page(2 + i % 50, "10:00:01", &format!("/p{i}"))));
    log.push(page(9, "10:00:02", "/x"));
    w.write("a.log", &lines(&log));
    gzip(&w, "a.log", "a.log.1.gz");
    let out = w.ingest_log(&["a.log", "a.log.1.gz", "--site", "s"]);
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 103 events, 103 duplicates"]);
    assert_eq!(
        count(
            &w,
            "SELECT count(DISTINCT line) FROM events WHERE line IS NOT NULL"
        ),
        103
    );
    assert_eq!(events(&w), 103);
}

/// A session continues across two files read in two runs, and ends after
/// 30 idle minutes; cleanup-sessions then closes it with its real span.
#[test]
fn a_session_spans_two_files_and_two_runs() {
    let w = Workdir::new();
    w.write(
        "day1.log",
        &lines(&[page(1, "23:50:00", "/a"), page(1, "23:59:00", "/b")]),
    );
    w.write(
        "day2.log",
        &lines(&[
            combined(
                "10.0.0.1",
                "22/Nov/2026:00:10:00 +0000",
                "GET /c HTTP/1.1",
                200,
                "-",
                FIREFOX,
            ),
            combined(
                "10.0.0.1",
                "22/Nov/2026:01:00:00 +0000",
                "GET /d HTTP/1.1",
                200,
                "-",
                FIREFOX,
            ),
        ]),
    );
    assert_exit(&w.ingest_log(&["day1.log", "--site", "s"]), 0);
    assert_exit(&w.ingest_log(&["day2.log", "--site", "s"]), 0);
    assert_eq!(
        w.sql_rows("SELECT started_ts, last_ts FROM sessions ORDER BY started_ts"),
        vec![
            vec![
                ms("2026-11-21T23:50:00Z").to_string(),
                ms("2026-11-22T00:10:00Z").to_string()
            ],
            vec![
                ms("2026-11-22T01:00:00Z").to_string(),
                ms("2026-11-22T01:00:00Z").to_string()
            ],
        ]
    );
    assert_eq!(
        count(&w, "SELECT count(DISTINCT visitor_id) FROM sessions"),
        1
    );
    let out = w.cmd("cleanup-sessions").output().unwrap();
    assert_exit(&out, 0);
    assert_eq!(
        w.sql_rows("SELECT duration_s FROM session_durations ORDER BY started_ts"),
        vec![vec!["1200".to_string()], vec!["0".to_string()]]
    );
}

/// A gzip file cut short: the complete lines before the cut are stored,
/// the rejects file says where it stopped, and the whole file read later
/// adds only the rest.
#[test]
fn a_gzip_file_cut_short_keeps_what_was_read() {
    let w = Workdir::new();
    let many: Vec<String> = (0..3000)
        .map(|i| {
            page(
                (i % 200) as u8,
                &format!("10:{:02}:{:02}", i / 60 % 60, i % 60),
                &format!("/p{i}"),
            )
        })
        .collect();
    w.write("full.log", &lines(&many));
    gzip(&w, "full.log", "full.log.gz");
    let bytes = std::fs::read(w.path("full.log.gz")).unwrap();
    std::fs::write(w.path("cut.log.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let out = w.ingest_log(&["cut.log.gz", "--site", "s"]);
    assert_exit(&out, 1);
    let stored = events(&w);
    assert!(stored > 500 && stored < 3000, "{stored}");
    let rejected = rejects_text(&w);
    assert!(
        rejected.contains(&format!("the file stops after line {stored}")),
        "{rejected}"
    );
    let out = w.ingest_log(&["full.log.gz", "--site", "s"]);
    assert_exit(&out, 0);
    let thousands = |n: i64| {
        if n >= 1000 {
            format!("{},{:03}", n / 1000, n % 1000)
        } else {
            n.to_string()
        }
    };
    assert_stderr_has(
        &out,
        &[&format!(
            "stored {} events, {} duplicates",
            thousands(3000 - stored),
            thousands(stored)
        )],
    );
}

/// retention deletes the dedupe keys of the lines it deletes (with their
/// events; those a store kept in `line_ids` before schema version 8 by
/// their time) and forgets the log visitors idle since before its cutoff.
#[test]
fn retention_forgets_old_line_keys_and_log_visitors() {
    let mut w = Workdir::new();
    let next_day = combined(
        "10.0.0.3",
        "22/Nov/2026:10:00:00 +0000",
        "GET /c HTTP/1.1",
        200,
        "-",
        FIREFOX,
    );
    w.write(
        "access.log",
        &lines(&[
            page(1, "10:00:00", "/a"),
            page(2, "10:00:01", "/b"),
            next_day,
        ]),
    );
    assert_exit(&w.ingest_log(&["access.log", "--site", "s"]), 0);
    assert_eq!(
        count(&w, "SELECT count(*) FROM events WHERE line IS NOT NULL"),
        3
    );
    assert_eq!(count(&w, "SELECT count(*) FROM log_visitors"), 3);
    w.db()
        .execute_batch(&format!(
            "INSERT INTO line_ids VALUES ({}, 1, 7), ({}, 1, 8)",
            ms("2026-11-21T09:00:00Z"),
            ms("2026-11-22T09:00:00Z")
        ))
        .unwrap();
    w.backfill("2026-11-21", "2026-11-22", "UTC");
    w.now = "2027-02-20T06:00:00Z".to_string();
    assert_exit(&w.cmd("cleanup-sessions").output().unwrap(), 0);
    let out = w.cmd("retention").args(["--days", "90"]).output().unwrap();
    assert_exit(&out, 0);
    // The day before the cutoff (2026-11-22) goes; the day of it stays.
    assert_eq!(count(&w, "SELECT count(*) FROM events"), 1);
    assert_eq!(
        count(&w, "SELECT count(*) FROM events WHERE line IS NOT NULL"),
        1
    );
    assert_eq!(count(&w, "SELECT hash FROM line_ids"), 8);
    assert_eq!(count(&w, "SELECT count(*) FROM log_visitors"), 1);
}

/// `ingest access.log*` lists the live file before the rotated ones: logs
/// are read oldest first, so a visitor's session crossing the rotation is
/// one session.
#[test]
fn logs_are_read_oldest_first_whatever_the_order_given() {
    let w = Workdir::new();
    // 25 minutes apart: one session read in time order, two the other way.
    w.write(
        "access.log.1",
        &lines(&[page(1, "09:30:00", "/a"), page(1, "09:55:00", "/b")]),
    );
    w.write("access.log", &lines(&[page(1, "10:20:00", "/c")]));
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(w.path("access.log.1"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_exit(
        &w.ingest_log(&["access.log", "access.log.1", "--site", "s"]),
        0,
    );
    let paths: Vec<String> = pageviews(&w).into_iter().map(|p| p.1).collect();
    assert_eq!(paths, ["/a", "/b", "/c"]);
    assert_eq!(count(&w, "SELECT count(*) FROM sessions"), 1);
}

/// A store of schema version 6 kept log visitors by text keys; the
/// upgrade converts them, so a session crossing the upgrade goes on.
#[test]
fn log_visitors_kept_as_text_are_converted_by_the_upgrade() {
    use cronlytics::store::schema::{APPLICATION_ID, MIGRATIONS};
    let w = Workdir::new();
    let secret = 12_345_u64;
    let key = format!("s\u{0}10.0.0.1\u{0}{FIREFOX}");
    let visitor = xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), secret);
    let named = ms("2026-11-21T10:00:00Z");
    let session = format!("{visitor:016x}.{named:x}");
    {
        let conn = rusqlite::Connection::open(w.path("analytics.db")).unwrap();
        for sql in &MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        // This visitor, and one whose hash is above i64::MAX.
        conn.execute_batch(&format!(
            "PRAGMA user_version = 6; PRAGMA application_id = {APPLICATION_ID};
             INSERT INTO meta (key, value) VALUES ('log_secret', {secret});
             INSERT INTO log_visitors VALUES ('s', '{visitor:016x}', '{session}', {named}, {named}),
                 ('s', 'ff00000000000001', 'ff00000000000001.1a1de6841e8', 5, 6);"
        ))
        .unwrap();
    }
    w.write("b.log", &lines(&[page(1, "10:10:00", "/b")]));
    assert_exit(&w.ingest_log(&["b.log", "--site", "s"]), 0);
    let named_of = |visitor: u64| {
        w.sql_i64(&format!(
            "SELECT named FROM log_visitors WHERE visitor = {}",
            visitor as i64
        ))
    };
    assert_eq!(named_of(0xff00_0000_0000_0001), 0x1a1_de68_41e8);
    assert_eq!(named_of(visitor), named);
    // The request ten minutes later continues the stored session.
    assert_eq!(w.sql_rows("SELECT key FROM sessions"), vec![vec![session]]);
    assert_eq!(
        w.sql_i64(&format!(
            "SELECT last_ts FROM log_visitors WHERE visitor = {}",
            visitor as i64
        )),
        ms("2026-11-21T10:10:00Z")
    );
}

/// Lines a store kept in `line_ids` (before schema version 8) are still
/// known: a copy read again counts nothing twice.
#[test]
fn lines_kept_in_line_ids_before_version_8_are_still_duplicates() {
    let w = Workdir::new();
    let log = [
        page(1, "10:00:00", "/a"),
        page(1, "10:00:00", "/a"),
        page(2, "10:00:00", "/b"),
    ];
    w.write("a.log", &lines(&log));
    assert_exit(&w.ingest_log(&["a.log", "--site", "s"]), 0);
    w.db()
        .execute_batch(
            "INSERT INTO line_ids SELECT ts, site_id, line FROM events;
             UPDATE events SET line = NULL;",
        )
        .unwrap();
    gzip(&w, "a.log", "a.log.1.gz");
    let out = w.ingest_log(&["a.log.1.gz", "--site", "s"]);
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 0 events, 3 duplicates"]);
    assert_eq!(events(&w), 3);
}
