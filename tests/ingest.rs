//! `ingest`: formats, validation and the rejects file, duplicates, kept
//! fields, normalised paths and referrers, missing inputs, a killed run.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::common::*;

/// Every stored event as text columns: ts, site, kind, session, visitor,
/// label (path or name), referrer, revenue_cents, extra; in time order.
fn stored_events(w: &Workdir) -> Vec<Vec<String>> {
    w.sql_rows(
        "SELECT e.ts, s.name, e.kind, ss.key, v.key, l.value, r.value, e.revenue_cents, e.extra
         FROM events e
         JOIN sites s ON s.id = e.site_id
         JOIN sessions ss ON ss.id = e.session_id
         JOIN visitors v ON v.id = e.visitor_id
         LEFT JOIN labels l ON l.id = e.label_id
         LEFT JOIN labels r ON r.id = e.referrer_id
         ORDER BY e.id",
    )
}

fn row(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| c.to_string()).collect()
}

fn events_count(w: &Workdir) -> i64 {
    w.sql_i64("SELECT count(*) FROM events")
}

#[test]
fn ndjson_file_is_stored_with_a_summary_line() {
    let w = Workdir::new();
    let out = w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a")
                .referrer("https://www.google.com/"),
            custom("2026-11-21T10:01:00Z", "shop", "s1", "v1", "signup"),
            order("2026-11-21T10:02:00Z", "shop", "s1", "v1", Some(1999)),
        ],
    );
    assert_stderr_has(
        &out,
        &[
            "ingest info: stored 3 events, 0 duplicates, 0 rejected, 0 days marked for re-aggregation",
        ],
    );
    assert_eq!(
        stored_events(&w),
        vec![
            row(&[
                &ms("2026-11-21T10:00:00Z").to_string(),
                "shop",
                "0",
                "s1",
                "v1",
                "/a",
                "google.com",
                "NULL",
                "NULL"
            ]),
            row(&[
                &ms("2026-11-21T10:01:00Z").to_string(),
                "shop",
                "1",
                "s1",
                "v1",
                "signup",
                "NULL",
                "NULL",
                "NULL"
            ]),
            row(&[
                &ms("2026-11-21T10:02:00Z").to_string(),
                "shop",
                "2",
                "s1",
                "v1",
                "NULL",
                "NULL",
                "1999",
                "NULL"
            ]),
        ]
    );
    assert!(
        !w.artifacts.join("rejects").exists(),
        "a run without rejects must leave no rejects file"
    );
}

const CSV_EVENTS: &str = "\
ts,site,kind,session,visitor,id,name,path,referrer,revenue_cents,plan
2026-11-21T10:00:00Z,shop,pageview,s1,v1,e1,,/a?x=1,https://www.google.com/,,pro
1795255260000,shop,event,s1,v1,e2,signup,,,,
2026-11-21T12:02:00+02:00,shop,order,s1,v1,e3,,,,1999,
";

fn expected_csv_rows() -> Vec<Vec<String>> {
    vec![
        row(&[
            &ms("2026-11-21T10:00:00Z").to_string(),
            "shop",
            "0",
            "s1",
            "v1",
            "/a",
            "google.com",
            "NULL",
            r#"{"plan":"pro"}"#,
        ]),
        row(&[
            &ms("2026-11-21T10:01:00Z").to_string(),
            "shop",
            "1",
            "s1",
            "v1",
            "signup",
            "NULL",
            "NULL",
            "NULL",
        ]),
        row(&[
            &ms("2026-11-21T10:02:00Z").to_string(),
            "shop",
            "2",
            "s1",
            "v1",
            "NULL",
            "NULL",
            "1999",
            "NULL",
        ]),
    ]
}

#[test]
fn csv_is_detected_by_extension() {
    let w = Workdir::new();
    w.write("events.csv", CSV_EVENTS);
    let out = w.cmd("ingest").arg("events.csv").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["stored 3 events, 0 duplicates, 0 rejected"]);
    assert_eq!(stored_events(&w), expected_csv_rows());
}

#[test]
fn format_flag_overrides_the_extension() {
    let w = Workdir::new();
    // Without --format a .txt file is read as NDJSON: both CSV lines fail.
    w.write("events.txt", CSV_EVENTS);
    let out = w.cmd("ingest").arg("events.txt").output().unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(&out, &["stored 0 events, 0 duplicates, 4 rejected"]);

    let w = Workdir::new();
    w.write("events.txt", CSV_EVENTS);
    let out = w
        .cmd("ingest")
        .args(["--format", "csv", "events.txt"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(stored_events(&w), expected_csv_rows());

    // And NDJSON in a file named .csv.
    let w = Workdir::new();
    w.write(
        "events.csv",
        &ndjson(&[pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a")]),
    );
    let out = w
        .cmd("ingest")
        .args(["--format", "ndjson", "events.csv"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(events_count(&w), 1);
}

#[test]
fn dash_reads_stdin() {
    let w = Workdir::new();
    let mut input = ndjson(&[
        pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a"),
        pageview("2026-11-21T10:01:00Z", "shop", "s1", "v1", "/b"),
    ]);
    input.push_str("not json\n");
    let out = w
        .cmd("ingest")
        .arg("-")
        .write_stdin(input)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(&out, &["stored 2 events, 0 duplicates, 1 rejected"]);
    assert_eq!(events_count(&w), 2);
    let rejects = parse_ndjson(
        &std::fs::read_to_string(w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson"))
            .unwrap(),
    );
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["file"], "-");
    assert_eq!(rejects[0]["line"], 3);
    assert_eq!(rejects[0]["raw"], "not json");
}

/// One input line and, when it breaks a rule, the word its reason must name.
fn validation_cases() -> Vec<(String, Option<&'static str>)> {
    let ok = || pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a");
    let site64 = "a.b_c-D9".repeat(8);
    let site65 = format!("{site64}x");
    vec![
        (ok().with("ts", "2026-11-21T11:00:00+01:00").line(), None),
        (ok().with("ts", 1_795_255_200_000i64).line(), None),
        (ok().with("ts", "2026-11-21T10:00:00").line(), Some("ts")),
        (ok().with("ts", "yesterday").line(), Some("ts")),
        (ok().with("ts", true).line(), Some("ts")),
        (ok().without("ts").line(), Some("ts")),
        (String::new(), None), // a blank line is skipped but counted
        (ok().with("site", "my shop").line(), Some("site")),
        (ok().with("site", "shop/eu").line(), Some("site")),
        (ok().with("site", "café").line(), Some("site")),
        (ok().with("site", site65).line(), Some("site")),
        (ok().with("site", site64).line(), None),
        (ok().with("site", "").line(), Some("site")),
        (ok().without("site").line(), Some("site")),
        (ok().with("kind", "click").line(), Some("kind")),
        (ok().without("kind").line(), Some("kind")),
        (
            ok().with("session", "s".repeat(129)).line(),
            Some("session"),
        ),
        (ok().with("session", "s".repeat(128)).line(), None),
        (ok().with("session", "é".repeat(128)).line(), None),
        (ok().with("session", "").line(), Some("session")),
        (ok().with("session", 5).line(), Some("session")),
        (
            ok().with("visitor", "v".repeat(129)).line(),
            Some("visitor"),
        ),
        (ok().with("visitor", "v".repeat(128)).line(), None),
        (ok().with("visitor", "").line(), Some("visitor")),
        (ok().without("visitor").line(), Some("visitor")),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", Some(-5)).line(),
            Some("revenue_cents"),
        ),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", None)
                .with("revenue_cents", 1.5)
                .line(),
            Some("revenue_cents"),
        ),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", None)
                .with("revenue_cents", "100")
                .line(),
            Some("revenue_cents"),
        ),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", Some(0)).line(),
            None,
        ),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", None).line(),
            None,
        ),
        (
            custom("2026-11-21T10:00:00Z", "shop", "s1", "v1", "x")
                .without("name")
                .line(),
            Some("name"),
        ),
        (
            custom("2026-11-21T10:00:00Z", "shop", "s1", "v1", "").line(),
            Some("name"),
        ),
        (ok().without("path").line(), Some("path")),
        (
            r#"{"ts":"2026-11-21T10:00:00Z","site":"#.to_string(),
            Some("JSON"),
        ),
        ("[1,2,3]".to_string(), Some("JSON object")),
    ]
}

/// Check a rejects file against the cases: exactly the bad lines, in order,
/// with 1-based line numbers, the raw line and a reason naming the field.
fn check_rejects(text: &str, file: &str, cases: &[(String, Option<&str>)]) {
    let rejects = parse_ndjson(text);
    let expected: Vec<(usize, &String, &str)> = cases
        .iter()
        .enumerate()
        .filter_map(|(i, (line, field))| field.map(|f| (i + 1, line, f)))
        .collect();
    let got_lines: Vec<u64> = rejects
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    let want_lines: Vec<u64> = expected.iter().map(|e| e.0 as u64).collect();
    assert_eq!(got_lines, want_lines, "rejected line numbers\n{text}");
    for (reject, (line_no, raw, field)) in rejects.iter().zip(&expected) {
        let obj = reject.as_object().expect("a reject is an object");
        let mut keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["file", "line", "raw", "reason"], "line {line_no}");
        assert_eq!(reject["file"], file, "line {line_no}");
        assert_eq!(reject["raw"].as_str(), Some(raw.as_str()), "line {line_no}");
        let reason = reject["reason"].as_str().unwrap();
        assert!(
            reason.contains(field),
            "line {line_no}: the reason {reason:?} does not name {field:?}"
        );
    }
}

#[test]
fn every_rule_breaking_line_goes_to_the_rejects_file() {
    let w = Workdir::new();
    let cases = validation_cases();
    let text: String = cases.iter().map(|(l, _)| format!("{l}\n")).collect();
    w.write("events.ndjson", &text);
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 1);

    let good = cases
        .iter()
        .filter(|(l, f)| f.is_none() && !l.is_empty())
        .count();
    let bad = cases.iter().filter(|(_, f)| f.is_some()).count();
    let default_path = w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson");
    assert_stderr_has(
        &out,
        &[
            &format!("stored {good} events, 0 duplicates, {bad} rejected, 0 days marked"),
            &default_path.display().to_string(),
        ],
    );
    assert_eq!(events_count(&w), good as i64, "every good line is stored");
    let files: Vec<_> = std::fs::read_dir(w.artifacts.join("rejects"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        files,
        ["ingest-20261122T060000Z.ndjson"],
        "no temp file left"
    );
    check_rejects(
        &std::fs::read_to_string(&default_path).unwrap(),
        "events.ndjson",
        &cases,
    );
    let run = w.sql_rows("SELECT status, exit_code, records, errors FROM job_runs");
    assert_eq!(
        run,
        vec![row(&["warning", "1", &good.to_string(), &bad.to_string()])]
    );
}

#[test]
fn rejects_flag_chooses_the_file() {
    let w = Workdir::new();
    let cases = validation_cases();
    let text: String = cases.iter().map(|(l, _)| format!("{l}\n")).collect();
    w.write("in/events.ndjson", &text);
    let out = w
        .cmd("ingest")
        .args(["--rejects", "out/bad.ndjson", "in/events.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    check_rejects(&w.read("out/bad.ndjson"), "in/events.ndjson", &cases);
    assert!(!w.artifacts.join("rejects").exists());
}

#[test]
fn csv_rejects_carry_file_line_numbers() {
    let w = Workdir::new();
    w.write(
        "events.csv",
        "ts,site,kind,session,visitor,path,revenue_cents\n\
         2026-11-21T10:00:00Z,shop,pageview,s1,v1,/a,\n\
         2026-11-21T10:00:00Z,shop,click,s1,v1,/a,\n\
         2026-11-21T10:00:00Z,shop,pageview\n\
         2026-11-21T10:00:00Z,shop,order,s1,v1,,abc\n\
         2026-11-21T10:00:00,shop,order,s1,v1,,\n\
         2026-11-21T10:00:00Z,shop,order,s1,v1,,250\n",
    );
    let out = w.cmd("ingest").arg("events.csv").output().unwrap();
    assert_exit(&out, 1);
    assert_eq!(events_count(&w), 2);
    let rejects = parse_ndjson(
        &std::fs::read_to_string(w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson"))
            .unwrap(),
    );
    let summary: Vec<(u64, String)> = rejects
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["raw"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (3, "2026-11-21T10:00:00Z,shop,click,s1,v1,/a,".to_string()),
            (4, "2026-11-21T10:00:00Z,shop,pageview".to_string()),
            (5, "2026-11-21T10:00:00Z,shop,order,s1,v1,,abc".to_string()),
            (6, "2026-11-21T10:00:00,shop,order,s1,v1,,".to_string()),
        ]
    );
    for (r, field) in rejects
        .iter()
        .zip(["kind", "fields", "revenue_cents", "ts"])
    {
        assert!(r["reason"].as_str().unwrap().contains(field), "{r}");
        assert_eq!(r["file"], "events.csv");
    }
}

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

#[test]
fn unknown_fields_are_kept() {
    let w = Workdir::new();
    w.write(
        "events.ndjson",
        concat!(
            r#"{"ts":"2026-11-21T10:00:00Z","site":"shop","kind":"pageview","session":"s1","visitor":"v1","path":"/a","utm":{"source":"x","n":[1,2]},"plan":"pro","score":1.5,"flag":null}"#,
            "\n",
            r#"{"ts":"2026-11-21T10:01:00Z","site":"shop","kind":"order","session":"s1","visitor":"v1","revenue_cents":5,"path":"/checkout","name":"buy"}"#,
            "\n",
            r#"{"ts":"2026-11-21T10:02:00Z","site":"shop","kind":"event","session":"s1","visitor":"v1","name":"play","path":"/video","ua":"Mozilla/5.0 \"quoted\""}"#,
            "\n",
        ),
    );
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 0);
    let extras: Vec<Value> = w
        .sql_rows("SELECT extra FROM events ORDER BY id")
        .into_iter()
        .map(|r| serde_json::from_str(&r[0]).unwrap())
        .collect();
    assert_json(
        &Value::Array(extras),
        &json!([
            {"utm": {"source": "x", "n": [1, 2]}, "plan": "pro", "score": 1.5, "flag": null},
            {"path": "/checkout", "name": "buy"},
            {"path": "/video", "ua": "Mozilla/5.0 \"quoted\""}
        ]),
    );
}

#[test]
fn query_strings_are_removed_from_paths() {
    let w = Workdir::new();
    let pv = |path: &str| pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", path);
    w.ingest(
        "events.ndjson",
        &[
            pv("/a?x=1"),
            pv("/a#top"),
            pv("/a"),
            pv("/b?utm=1&y=2"),
            pv("?q=1"),
        ],
    );
    assert_eq!(
        w.sql_rows("SELECT l.value FROM events e JOIN labels l ON l.id = e.label_id ORDER BY e.id"),
        vec![
            row(&["/a"]),
            row(&["/a"]),
            row(&["/a"]),
            row(&["/b"]),
            row(&["/"])
        ]
    );
    assert_eq!(
        w.sql_i64("SELECT count(*) FROM labels WHERE value LIKE '%?%' OR value LIKE '%#%'"),
        0
    );
    w.backfill("2026-11-21", "2026-11-21", "UTC");
    assert_json(
        &w.rollup("2026-11-21", "shop")["top_pages"],
        &json!([{"item": "/a", "count": 3}, {"item": "/", "count": 1}, {"item": "/b", "count": 1}]),
    );
}

#[test]
fn referrers_are_normalised() {
    let w = Workdir::new();
    let pv = || pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a");
    w.ingest(
        "events.ndjson",
        &[
            pv().referrer("https://www.google.com/search?q=1"),
            pv().referrer("https://www.google.com"),
            pv().referrer("http://WWW.Example.org:8080/x"),
            pv().referrer("https://news.ycombinator.com/item?id=1"),
            pv().referrer("newsletter"),
            pv().referrer(""),
            pv(),
        ],
    );
    assert_eq!(
        w.sql_rows(
            "SELECT l.value FROM events e JOIN labels l ON l.id = e.referrer_id ORDER BY e.id"
        ),
        vec![
            row(&["google.com"]),
            row(&["google.com"]),
            row(&["example.org"]),
            row(&["news.ycombinator.com"]),
            row(&["newsletter"]),
            row(&["direct"]),
            row(&["direct"]),
        ]
    );
    w.backfill("2026-11-21", "2026-11-21", "UTC");
    assert_json(
        &w.rollup("2026-11-21", "shop")["top_referrers"],
        &json!([
            {"item": "direct", "count": 2},
            {"item": "google.com", "count": 2},
            {"item": "example.org", "count": 1},
            {"item": "news.ycombinator.com", "count": 1},
            {"item": "newsletter", "count": 1}
        ]),
    );
}

#[test]
fn missing_input_file_exits_2_naming_it_and_stores_nothing() {
    let w = Workdir::new();
    w.write(
        "good.ndjson",
        &ndjson(&[pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a")]),
    );
    let out = w
        .cmd("ingest")
        .args(["good.ndjson", "missing.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["missing.ndjson"]);
    assert_eq!(events_count(&w), 0, "nothing of good.ndjson is stored");
    assert_eq!(
        w.sql_rows("SELECT status, exit_code, attempts FROM job_runs"),
        vec![row(&["failed", "2", "1"])]
    );

    // A directory is not an input file either.
    std::fs::create_dir(w.path("incoming")).unwrap();
    let out = w
        .cmd("ingest")
        .args(["good.ndjson", "incoming"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["incoming is a directory"]);
    assert_eq!(events_count(&w), 0);
}

#[test]
fn csv_without_a_required_column_exits_2_naming_it() {
    let w = Workdir::new();
    w.write(
        "events.csv",
        "ts,site,session,visitor,path\n2026-11-21T10:00:00Z,shop,s1,v1,/a\n",
    );
    let out = w.cmd("ingest").arg("events.csv").output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["the CSV input events.csv has no 'kind' column"]);
    assert_eq!(events_count(&w), 0);
}

/// A file of `n` pageviews with ids, one per second from 2026-11-21 00:00Z.
fn many_events(n: usize) -> String {
    let start = ms("2026-11-21T00:00:00Z");
    let mut text = String::with_capacity(n * 130);
    for i in 0..n {
        text.push_str(&format!(
            "{{\"ts\":{},\"site\":\"shop\",\"kind\":\"pageview\",\"session\":\"s{}\",\"visitor\":\"v{}\",\"path\":\"/p{}\",\"id\":\"e{i}\"}}\n",
            start + i as i64 * 1000,
            i % 500,
            i % 300,
            i % 40
        ));
    }
    text
}

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
    assert_eq!(w.sql_i64("SELECT count(*) FROM session_keys"), 500);
    assert_eq!(w.sql_i64("SELECT count(*) FROM visitor_keys"), 300);
    assert_eq!(
        w.sql_i64("SELECT value FROM meta WHERE key = 'session_keys_upto'"),
        500
    );
}

fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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

// --- issue 16: input files remembered, crashed workers, Unix seconds,
// physical line numbers ---

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

#[test]
fn integer_ts_in_unix_seconds_is_rejected_with_the_reason() {
    let w = Workdir::new();
    let ok = pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a");
    w.write(
        "events.ndjson",
        &ndjson(&[
            ok.clone().with("ts", 1_793_613_600i64),
            ok.clone().with("ts", 99_999_999_999i64),
            ok.clone().with("ts", 100_000_000_000i64),
            ok.with("ts", 1_793_613_600_000i64),
        ]),
    );
    w.write(
        "events.csv",
        "ts,site,kind,session,visitor,path\n1793613600,shop,pageview,s1,v1,/a\n1793613600000,shop,pageview,s1,v1,/a\n",
    );
    let out = w
        .cmd("ingest")
        .args(["events.ndjson", "events.csv"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(&out, &["stored 3 events, 0 duplicates, 3 rejected"]);
    let rejects = parse_ndjson(
        &std::fs::read_to_string(w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson"))
            .unwrap(),
    );
    let got: Vec<(String, u64, String)> = rejects
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let seconds = "ts: 1793613600 looks like Unix seconds; ts must be RFC 3339 or Unix milliseconds (1793613600000)";
    assert_eq!(
        got,
        vec![
            ("events.ndjson".to_string(), 1, seconds.to_string()),
            (
                "events.ndjson".to_string(),
                2,
                "ts: 99999999999 looks like Unix seconds; ts must be RFC 3339 or Unix milliseconds (99999999999000)".to_string()
            ),
            ("events.csv".to_string(), 2, seconds.to_string()),
        ]
    );
}

/// The line number of every reject of `file` in the run's rejects file.
fn rejected_lines(w: &Workdir, file: &str) -> Vec<u64> {
    let path = w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson");
    parse_ndjson(&std::fs::read_to_string(path).unwrap())
        .iter()
        .filter(|r| r["file"] == file)
        .map(|r| r["line"].as_u64().unwrap())
        .collect()
}

#[test]
fn rejects_carry_physical_line_numbers_whatever_the_line_ends() {
    let w = Workdir::new();
    let good = "2026-11-21T10:00:00Z,shop,pageview,s1,v1,/a";
    let bad = "2026-11-21T10:00:00Z,shop,click,s1,v1,/a";
    // Lines: 1 header, 2 good, 3 bad, 4 blank, 5-6 a good record with a
    // quoted path over two lines, 7-8 a bad one, 9 bad, without a line end.
    let csv_lines = |end: &str| {
        let multi = |kind: &str| format!("2026-11-21T10:00:00Z,shop,{kind},s1,v1,\"/x{end}y\"");
        let (good_multi, bad_multi) = (multi("pageview"), multi("click"));
        format!(
            "ts,site,kind,session,visitor,path{end}{good}{end}{bad}{end}{end}{good_multi}{end}{bad_multi}{end}{bad}"
        )
    };
    let ndjson_lines = |end: &str| {
        let good = pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a").line();
        format!("{good}{end}not json{end}{end}{good}{end}{{\"ts\":1}}{end}")
    };
    let mut inputs = Vec::new();
    for (name, bom, end) in [
        ("lf", "", "\n"),
        ("crlf", "", "\r\n"),
        ("bom-lf", "\u{feff}", "\n"),
        ("bom-crlf", "\u{feff}", "\r\n"),
    ] {
        let csv = format!("{name}.csv");
        w.write(&csv, &format!("{bom}{}", csv_lines(end)));
        let nd = format!("{name}.ndjson");
        w.write(&nd, &format!("{bom}{}", ndjson_lines(end)));
        inputs.push(csv);
        inputs.push(nd);
    }
    let out = w.cmd("ingest").args(&inputs).output().unwrap();
    assert_exit(&out, 1);
    for input in &inputs {
        let want: &[u64] = if input.ends_with(".csv") {
            &[3, 7, 9]
        } else {
            &[2, 5]
        };
        assert_eq!(rejected_lines(&w, input), want, "{input}");
    }
    // Every good line or record is stored, two per input, the first line
    // after a BOM too.
    assert_eq!(events_count(&w), 16);
}
