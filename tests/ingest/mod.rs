//! `ingest`: the input formats, kept fields, normalised paths and
//! referrers, missing inputs; the rejects, files remembered and crashes in
//! the modules below.

mod crashes;
mod files;
mod rejects;

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
