//! Nothing counted twice: duplicates by id, input files remembered by
//! content (skipped, continued where they grew, read again with --force),
//! and the crontab line that moves files away.

use super::*;

#[test]
fn duplicates_by_site_and_id_are_counted_not_stored() {
    let w = Workdir::new();
    let ev = |site: &str, path: &str| pageview("2026-11-21T10:00:00Z", site, "s1", "v1", path);
    let out = w.ingest(
        "events.ndjson",
        &[
            ev("shop", "/first").id("e1"),
            ev("shop", "/second").id("e1"),
            ev("blog", "/other-site").id("e1"),
            ev("shop", "/e2").id("e2"),
            ev("shop", "/no-id"),
            ev("shop", "/no-id"),
        ],
    );
    assert_stderr_has(&out, &["stored 5 events, 1 duplicates, 0 rejected"]);
    assert_eq!(events_count(&w), 5);
    assert_eq!(
        w.sql_rows("SELECT l.value FROM events e JOIN labels l ON l.id = e.label_id ORDER BY e.id"),
        vec![
            row(&["/first"]),
            row(&["/other-site"]),
            row(&["/e2"]),
            row(&["/no-id"]),
            row(&["/no-id"])
        ],
        "the first of two events with one id is the one kept"
    );

    // The same file again, forced (by default it is skipped): every event
    // with an id is a duplicate; only events without an id (which cannot
    // be recognised) are stored again.
    let out = w
        .cmd("ingest")
        .args(["--force", "events.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 2 events, 4 duplicates, 0 rejected"]);
    assert_eq!(events_count(&w), 7);
    assert_eq!(w.sql_i64("SELECT count(*) FROM event_ids"), 3);
}

#[test]
fn reingesting_a_file_with_ids_stores_nothing_twice() {
    let w = Workdir::new();
    let events: Vec<Ev> = (0..20)
        .map(|i| pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a").id(&format!("e{i}")))
        .collect();
    w.ingest("events.ndjson", &events);
    let out = w
        .cmd("ingest")
        .args(["--force", "events.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 0 events, 20 duplicates, 0 rejected"]);
    assert_eq!(events_count(&w), 20);
}

/// `n` pageviews without ids, one a minute from 2026-11-21 10:00Z, then
/// one line that is not JSON.
fn events_and_a_bad_line(n: usize) -> String {
    let mut text = ndjson(
        &(0..n)
            .map(|i| {
                pageview(
                    &format!("2026-11-21T10:{i:02}:00Z"),
                    "shop",
                    "s1",
                    "v1",
                    &format!("/p{i}"),
                )
            })
            .collect::<Vec<_>>(),
    );
    text.push_str("not json\n");
    text
}

#[test]
fn a_file_with_a_rejected_line_ingested_again_is_skipped_and_stores_nothing_twice() {
    let w = Workdir::new();
    w.write("events.ndjson", &events_and_a_bad_line(5));
    // What the old crontab line did: exit 1 kept the file in incoming/,
    // and the next run read it again. Its events have no ids.
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(&out, &["stored 5 events, 0 duplicates, 1 rejected"]);
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "stored 0 events, 0 duplicates, 0 rejected, 0 days marked for re-aggregation; skipped 1 file already ingested: events.ndjson (use --force to read it again)",
        ],
    );
    assert_eq!(events_count(&w), 5);
    let remembered = w.sql_rows("SELECT size, lines, format FROM ingested_files");
    let size = std::fs::metadata(w.path("events.ndjson")).unwrap().len();
    assert_eq!(remembered, vec![row(&[&size.to_string(), "6", "ndjson"])]);
}

#[test]
fn the_crontab_ingest_line_moves_files_with_rejects_away_and_counts_nothing_twice() {
    let w = Workdir::new();
    let crontab =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crontab.example")).unwrap();
    let line = crontab
        .lines()
        .find(|l| !l.starts_with('#') && l.contains("/ingest "))
        .expect("crontab.example has an ingest line");
    // The command after the five time fields, with the placeholders filled.
    let command = line
        .split_whitespace()
        .skip(5)
        .collect::<Vec<_>>()
        .join(" ");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_ingest"))
        .parent()
        .unwrap();
    let command = command
        .replace("/opt/cronlytics/target/release", bin_dir.to_str().unwrap())
        .replace("/var/lib/cronlytics", w.root().to_str().unwrap());
    for dir in ["incoming/done", "logs"] {
        std::fs::create_dir_all(w.path(dir)).unwrap();
    }
    let run_cron_line = || {
        let status = std::process::Command::new("sh")
            .args(["-c", &command])
            .env("CRONLYTICS_DB", &w.db)
            .env("CRONLYTICS_ARTIFACTS", &w.artifacts)
            .env("CRONLYTICS_NOW", NOW)
            .env_remove("CRONLYTICS_CONFIG")
            .status()
            .unwrap();
        assert!(status.success() || status.code() == Some(1));
    };
    let text = events_and_a_bad_line(4);
    w.write("incoming/a.ndjson", &text);
    run_cron_line();
    assert!(
        w.path("incoming/done/a.ndjson").exists(),
        "a file with a rejected line (exit 1) is moved to done/"
    );
    assert!(!w.path("incoming/a.ndjson").exists());
    // The shipper delivers the same content again, under another name,
    // and cron runs again: nothing is stored twice, the file moves on.
    w.write("incoming/a-again.ndjson", &text);
    run_cron_line();
    run_cron_line();
    assert_eq!(events_count(&w), 4);
    assert!(w.path("incoming/done/a-again.ndjson").exists());
    let log = w.read("logs/ingest.log");
    assert!(
        log.contains("skipped 1 file already ingested: a-again.ndjson"),
        "{log}"
    );
    // A file the store cannot take (exit 2) stays in incoming/.
    w.write("incoming/broken.csv", "no,header,here\n1,2,3\n");
    run_cron_line();
    assert!(w.path("incoming/broken.csv").exists());
}

#[test]
fn force_reads_an_ingested_file_again() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a")],
    );
    let out = w
        .cmd("ingest")
        .args(["--force", "events.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 1 events, 0 duplicates, 0 rejected"]);
    let text = stderr(&out);
    assert!(!text.contains("skipped"), "{text}");
    assert_eq!(events_count(&w), 2, "--force reads it again on purpose");
    assert_eq!(w.sql_i64("SELECT count(*) FROM ingested_files"), 1);
}

#[test]
fn a_copy_under_another_name_is_skipped_and_stdin_is_never_remembered() {
    let w = Workdir::new();
    let events = [
        pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a"),
        pageview("2026-11-21T10:01:00Z", "shop", "s1", "v1", "/b"),
    ];
    w.ingest("in/events.ndjson", &events);
    std::fs::copy(w.path("in/events.ndjson"), w.path("copy.ndjson")).unwrap();
    std::fs::rename(w.path("in/events.ndjson"), w.path("renamed.ndjson")).unwrap();
    let out = w
        .cmd("ingest")
        .args(["copy.ndjson", "renamed.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "stored 0 events, 0 duplicates, 0 rejected, 0 days marked for re-aggregation; skipped 2 files already ingested: copy.ndjson, renamed.ndjson (use --force to read them again)",
        ],
    );
    assert_eq!(events_count(&w), 2);

    // Stdin has no identity to remember: the same lines are read again.
    for _ in 0..2 {
        let out = w
            .cmd("ingest")
            .arg("-")
            .write_stdin(ndjson(&events))
            .output()
            .unwrap();
        assert_exit(&out, 0);
        assert_stderr_has(&out, &["stored 2 events"]);
    }
    assert_eq!(events_count(&w), 6);
    assert_eq!(w.sql_i64("SELECT count(*) FROM ingested_files"), 1);

    // A file given twice in one run is refused before anything is read.
    let out = w
        .cmd("ingest")
        .args(["--force", "copy.ndjson", "./copy.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["the input file ./copy.ndjson is given twice"]);
}

#[test]
fn a_file_that_grew_is_read_from_where_the_last_run_stopped() {
    let w = Workdir::new();
    let first = [
        pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a"),
        pageview("2026-11-21T10:01:00Z", "shop", "s1", "v1", "/b"),
    ];
    w.ingest("events.ndjson", &first);
    let mut text = ndjson(&first);
    text.push_str(&ndjson(&[pageview(
        "2026-11-21T10:02:00Z",
        "shop",
        "s1",
        "v1",
        "/c",
    )]));
    text.push_str("not json\n");
    w.write("events.ndjson", &text);
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(
        &out,
        &[
            "stored 1 events, 0 duplicates, 1 rejected",
            "continued 1 file that grew since it was ingested: events.ndjson from line 3",
        ],
    );
    assert_eq!(
        w.sql_rows("SELECT l.value FROM events e JOIN labels l ON l.id = e.label_id ORDER BY e.id"),
        vec![row(&["/a"]), row(&["/b"]), row(&["/c"])]
    );
    let rejects = parse_ndjson(
        &std::fs::read_to_string(w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson"))
            .unwrap(),
    );
    assert_eq!(rejects[0]["line"], 4, "physical line numbers go on");
    // Both contents are remembered: the grown file is skipped next time,
    // and so is a copy of the shorter one.
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["skipped 1 file already ingested: events.ndjson"]);
    assert_eq!(w.sql_i64("SELECT count(*) FROM ingested_files"), 2);

    // A CSV file that grew keeps its header.
    let header = "ts,site,kind,session,visitor,path\n";
    let row1 = "2026-11-21T11:00:00Z,blog,pageview,s2,v2,/x\n";
    w.write("events.csv", &format!("{header}{row1}"));
    let out = w.cmd("ingest").arg("events.csv").output().unwrap();
    assert_exit(&out, 0);
    w.write(
        "events.csv",
        &format!("{header}{row1}2026-11-21T11:01:00Z,blog,pageview,s2,v2,/y\n2026-11-21T11:02:00Z,blog,click,s2,v2,/z\n"),
    );
    let out = w.cmd("ingest").arg("events.csv").output().unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(
        &out,
        &[
            "stored 1 events, 0 duplicates, 1 rejected",
            "events.csv from line 3",
        ],
    );
    let rejects = parse_ndjson(
        &std::fs::read_to_string(w.artifacts.join("rejects/ingest-20261122T060000Z-2.ndjson"))
            .unwrap(),
    );
    assert_eq!(
        (rejects[0]["line"].clone(), rejects[0]["file"].clone()),
        (json!(4), json!("events.csv"))
    );
    assert_eq!(
        w.sql_i64(
            "SELECT count(*) FROM events e JOIN sites s ON s.id = e.site_id WHERE s.name = 'blog'"
        ),
        2
    );

    // A file changed within what was read is another content: read whole.
    let mut changed = ndjson(&first).replace("/a", "/A");
    changed.push_str(&ndjson(&[pageview(
        "2026-11-21T10:05:00Z",
        "shop",
        "s1",
        "v1",
        "/d",
    )]));
    w.write("events.ndjson", &changed);
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 3 events, 0 duplicates, 0 rejected"]);
}
