//! Crashes and limits: a killed run, a panicking worker or a crash before
//! a commit leaves whole batches and the rerun finishes the work; events of
//! one millisecond; an old store upgraded.

use super::*;

#[test]
fn killed_ingest_rolls_back_and_a_rerun_stores_each_event_once() {
    let w = Workdir::new();
    let total = 60_000;
    w.write("big.ndjson", &many_events(total));
    let config = w.write("small-batches.toml", "[ingest]\nbatch_size = 500\n");
    // Create the store first so that the test can watch it fill.
    w.ingest("empty.ndjson", &[]);

    let child = w
        .process("ingest")
        .arg("--config")
        .arg(&config)
        .arg("big.ndjson")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_when(&w, child, "SELECT count(*) FROM events", 500, "ingest");

    let stored_before = events_count(&w);
    assert!(
        stored_before > 0 && stored_before < total as i64,
        "killed with {stored_before} of {total} events stored: the kill came too late"
    );
    // Committed batches are whole and in order: the first N lines.
    assert_eq!(
        w.sql_i64("SELECT (max(ts) - min(ts)) / 1000 + 1 FROM events"),
        stored_before
    );
    assert_eq!(w.sql_i64("SELECT count(*) FROM event_ids"), stored_before);
    assert_eq!(
        w.sql_i64("SELECT count(*) FROM ingested_files WHERE path LIKE '%big.ndjson'"),
        0,
        "a file read in part is not remembered"
    );
    let out = w.cmd("ingest").arg("big.ndjson").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            &format!(
                "stored {} events, {} duplicates",
                thousands(total as i64 - stored_before),
                thousands(stored_before)
            ),
            "1 earlier run(s) of ingest were interrupted",
        ],
    );
    assert_eq!(events_count(&w), total as i64);
    assert_eq!(
        w.sql_i64("SELECT count(*) FROM ingested_files WHERE path LIKE '%big.ndjson'"),
        1
    );
    assert_eq!(
        w.sql_i64(
            "SELECT count(*) FROM job_runs WHERE status = 'failed' AND message LIKE 'interrupted%'"
        ),
        1
    );
    // The killed run wrote sessions and visitors but not their key entries
    // (those wait for a large flush); the rerun wrote them first and found
    // every key again instead of creating it twice.
    assert_eq!(w.sql_i64("SELECT count(*) FROM sessions"), 500);
    assert_eq!(w.sql_i64("SELECT count(*) FROM visitors"), 300);
    assert_eq!(w.key_entry_ids("sessions"), (1..=500).collect());
    assert_eq!(w.key_entry_ids("visitors"), (1..=300).collect());
}

#[test]
fn events_of_one_millisecond_are_all_kept_across_batches_and_runs() {
    let w = Workdir::new();
    let config = w.write("tiny-batches.toml", "[ingest]\nbatch_size = 2\n");
    let at = "2026-11-20T10:00:00.123Z";
    let events: Vec<Ev> = (0..5)
        .map(|i| pageview(at, "shop", &format!("s{i}"), "v1", &format!("/p{i}")))
        .collect();
    w.write("first.ndjson", &ndjson(&events));
    let out = w
        .cmd("ingest")
        .args(["--config", config.to_str().unwrap(), "first.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    // A second run, a later event in between: the millisecond's numbering
    // continues after what is stored.
    w.ingest(
        "second.ndjson",
        &[
            pageview(at, "shop", "s9", "v1", "/p9"),
            pageview("2026-11-20T10:00:00.124Z", "shop", "s9", "v1", "/q"),
            pageview(at, "shop", "s9", "v1", "/p10"),
        ],
    );
    let key = ms(at) * 16384;
    assert_eq!(
        w.sql_rows(&format!(
            "SELECT count(*), min(id) - {key}, max(id) - {key}, min(ts), max(ts)
             FROM events WHERE ts = {}",
            ms(at)
        )),
        vec![row(&[
            "7",
            "0",
            "6",
            &ms(at).to_string(),
            &ms(at).to_string()
        ])]
    );
    // Input order within the millisecond, and one batch number per batch.
    assert_eq!(
        w.sql_rows(&format!(
            "SELECT l.value, e.batch FROM events e JOIN labels l ON l.id = e.label_id
             WHERE e.ts = {} ORDER BY e.id",
            ms(at)
        )),
        vec![
            row(&["/p0", "1"]),
            row(&["/p1", "1"]),
            row(&["/p2", "2"]),
            row(&["/p3", "2"]),
            row(&["/p4", "3"]),
            row(&["/p9", "4"]),
            row(&["/p10", "4"]),
        ]
    );
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    assert_eq!(w.rollup("2026-11-20", "shop")["pageviews"], 8);
}

/// A store as cronlytics 0.x left it at schema version 2: events keyed by
/// `(ts, seq)`, sessions and visitors with their key hash.
#[test]
fn a_version_2_store_is_upgraded_with_its_events_and_keys() {
    use cronlytics::store::encoding::key_hash;
    use cronlytics::store::schema::{APPLICATION_ID, MIGRATIONS};
    let w = Workdir::new();
    {
        let conn = rusqlite::Connection::open(w.path("analytics.db")).unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        let t = ms("2026-11-20T10:00:00Z");
        conn.execute_batch(&format!(
            "PRAGMA user_version = 2; PRAGMA application_id = {APPLICATION_ID};
             INSERT INTO sites VALUES (1, 'shop', {t}, {t});
             INSERT INTO labels VALUES (1, '/a'), (2, 'direct');
             INSERT INTO visitors VALUES (1, 1, {vh}, 'v1', {t});
             INSERT INTO visitor_keys VALUES (1, {vh}, 1);
             INSERT INTO sessions VALUES (1, 1, {sh}, 's1', 1, {t}, {t}, NULL);
             INSERT INTO session_keys VALUES (1, {sh}, 1);
             INSERT INTO events VALUES ({t}, 7, 1, 0, 1, 1, 1, 2, NULL, NULL);
             INSERT INTO events VALUES ({t}, 9, 1, 0, 1, 1, 1, 2, NULL, NULL);
             UPDATE meta SET value = 10 WHERE key = 'next_seq';
             UPDATE meta SET value = 1 WHERE key IN ('session_keys_upto', 'visitor_keys_upto');",
            vh = key_hash("v1"),
            sh = key_hash("s1"),
        ))
        .unwrap();
    }
    // The same session and visitor a minute later: found, not created again.
    w.ingest(
        "later.ndjson",
        &[pageview("2026-11-20T10:01:00Z", "shop", "s1", "v1", "/a")],
    );
    assert_eq!(w.sql_i64("PRAGMA user_version"), MIGRATIONS.len() as i64);
    let t = ms("2026-11-20T10:00:00Z");
    assert_eq!(
        w.sql_rows("SELECT id, batch, ts, session_id, visitor_id FROM events ORDER BY id"),
        vec![
            row(&[&(t * 16384).to_string(), "7", &t.to_string(), "1", "1"]),
            row(&[&(t * 16384 + 1).to_string(), "9", &t.to_string(), "1", "1"]),
            row(&[
                &((t + 60_000) * 16384).to_string(),
                "10",
                &(t + 60_000).to_string(),
                "1",
                "1"
            ]),
        ]
    );
    assert_eq!(
        w.sql_rows("SELECT id, key, last_ts FROM sessions"),
        vec![row(&["1", "s1", &(t + 60_000).to_string()])]
    );
    assert_eq!(w.sql_i64("SELECT count(*) FROM visitors"), 1);
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    let r = w.rollup("2026-11-20", "shop");
    assert_eq!(
        (r["pageviews"].clone(), r["unique_sessions"].clone()),
        (3.into(), 1.into())
    );
}

/// The key runs beside the store are an index of its rows: lost, damaged
/// or another store's, the next ingest writes them again from the rows and
/// finds every stored session and visitor instead of creating it twice.
#[test]
fn key_runs_lost_damaged_or_foreign_are_written_again_from_the_rows() {
    let w = Workdir::new();
    let day = |n: usize, minute: usize| -> Vec<Ev> {
        (0..n)
            .map(|i| {
                let ts = format!("2026-11-20T10:{minute:02}:{:02}Z", i % 60);
                pageview(&ts, "shop", &format!("s{i}"), &format!("v{i}"), "/a")
            })
            .collect()
    };
    w.ingest("first.ndjson", &day(50, 0));
    let keys = w.path("analytics.db.keys");
    let runs = || -> Vec<std::path::PathBuf> {
        let mut runs: Vec<_> = std::fs::read_dir(&keys)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        runs.sort();
        runs
    };
    assert_eq!(w.key_entry_ids("sessions"), (1..=50).collect());
    // Lost.
    std::fs::remove_dir_all(&keys).unwrap();
    w.ingest("second.ndjson", &day(50, 1));
    // Damaged: one byte of an entry changed.
    for run in runs() {
        let mut bytes = std::fs::read(&run).unwrap();
        bytes[70] ^= 0xff;
        std::fs::write(&run, bytes).unwrap();
    }
    w.ingest("third.ndjson", &day(50, 2));
    // Another store's: its id differs.
    w.db()
        .execute_batch("UPDATE meta SET value = value + 1 WHERE key = 'store_id'")
        .unwrap();
    w.ingest("fourth.ndjson", &day(50, 3));
    assert_eq!(w.sql_i64("SELECT count(*) FROM sessions"), 50);
    assert_eq!(w.sql_i64("SELECT count(*) FROM visitors"), 50);
    assert_eq!(
        w.sql_i64("SELECT max(last_ts) FROM sessions"),
        ms("2026-11-20T10:03:49Z")
    );
    assert_eq!(w.key_entry_ids("sessions"), (1..=50).collect());
    assert_eq!(w.key_entry_ids("visitors"), (1..=50).collect());
}

#[test]
fn more_events_in_one_millisecond_than_the_key_holds_is_refused_with_the_reason() {
    let w = Workdir::new();
    let at = "2026-11-20T10:00:00.123Z";
    let events: Vec<Ev> = (0..16_385)
        .map(|i| pageview(at, "shop", &format!("s{i}"), "v1", "/"))
        .collect();
    w.write("flood.ndjson", &ndjson(&events));
    let out = w.cmd("ingest").arg("flood.ndjson").output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["more than 16,384 events share the millisecond 2026-11-20T10:00:00.123Z"],
    );
    assert_eq!(events_count(&w), 0, "the batch is rolled back whole");
}

/// A config with batches of 500 events, and 10,000 events with ids.
fn multi_batch_input(w: &Workdir) -> std::path::PathBuf {
    w.write("big.ndjson", &many_events(10_000));
    w.write("batches.toml", "[ingest]\nbatch_size = 500\n")
}

/// Run ingest over [`multi_batch_input`] with `CRONLYTICS_FAULT=point`.
fn ingest_with_fault(w: &Workdir, config: &std::path::Path, point: &str) -> std::process::Output {
    w.cmd("ingest")
        .arg("--config")
        .arg(config)
        .arg("big.ndjson")
        .env("CRONLYTICS_FAULT", point)
        .output()
        .unwrap()
}

/// After a crash: whole batches or none, the file not remembered, and a
/// rerun without the fault stores every event exactly once.
fn check_whole_batches_and_rerun(w: &Workdir, config: &std::path::Path) {
    let stored = events_count(w);
    assert_eq!(stored % 500, 0, "{stored} events: whole batches only");
    assert!(stored < 10_000, "the run stopped before the end");
    assert_eq!(w.sql_i64("SELECT count(*) FROM ingested_files"), 0);
    let out = w
        .cmd("ingest")
        .arg("--config")
        .arg(config)
        .arg("big.ndjson")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[&format!(
            "stored {} events, {} duplicates",
            thousands(10_000 - stored),
            thousands(stored)
        )],
    );
    assert_eq!(events_count(w), 10_000);
    assert_eq!(w.sql_i64("SELECT count(*) FROM ingested_files"), 1);
}

fn check_worker_panic(point: &str, thread: &str) {
    let w = Workdir::new();
    let config = multi_batch_input(&w);
    let alert_log = w.path("alert.json");
    let config_text = format!(
        "{}[alert]\ncommand = \"cat > '{}'\"\n",
        std::fs::read_to_string(&config).unwrap(),
        alert_log.display()
    );
    std::fs::write(&config, config_text).unwrap();
    let out = ingest_with_fault(&w, &config, point);
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[&format!(
            "ingest error: the {thread} thread panicked: fault injected at {point}"
        )],
    );
    let runs = w.sql_rows("SELECT status, exit_code, message FROM job_runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(&runs[0][..2], &["failed".to_string(), "2".to_string()]);
    assert!(
        runs[0][2].contains(&format!("the {thread} thread panicked")),
        "{runs:?}"
    );
    let alert: Value = serde_json::from_str(&std::fs::read_to_string(&alert_log).unwrap()).unwrap();
    assert_eq!(alert["status"], "failed");
    check_whole_batches_and_rerun(&w, &config);
}

#[test]
fn a_panic_in_the_parsing_thread_fails_the_run_after_whole_batches() {
    check_worker_panic("ingest-parse", "parsing");
}

#[test]
fn a_panic_in_the_resolving_thread_fails_the_run_after_whole_batches() {
    check_worker_panic("ingest-resolve", "resolving");
}

/// The writer's fault point lies between a batch's rows and its COMMIT:
/// nothing of that batch is stored, and the runner makes the crash a failed
/// run (exit 2, the run-log row) like any other.
#[test]
fn a_crash_between_a_batch_and_its_commit_stores_nothing_of_it() {
    let w = Workdir::new();
    let config = multi_batch_input(&w);
    let out = ingest_with_fault(&w, &config, "ingest-write");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["ingest error: the job crashed", "ingest-write"]);
    assert_eq!(
        w.sql_rows("SELECT status, exit_code FROM job_runs WHERE job = 'ingest'"),
        vec![vec!["failed".to_string(), "2".to_string()]]
    );
    assert_eq!(events_count(&w), 0);
    check_whole_batches_and_rerun(&w, &config);
}
