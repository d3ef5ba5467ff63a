//! Properties, goals and gauges (contract, "Properties, goals and gauges"):
//! every field of every new row against hand-computed values and the CSV as
//! exact text; `inputs.rs` holds the rejects and config mistakes, `jobs.rs`
//! the snapshot and the guard, `dashboards.rs` the README's worked examples.

mod dashboards;
mod inputs;
mod jobs;

use serde_json::{Value, json};

use crate::common::*;

/// Export `args` (after --start/--end) in `format`; its stdout, which
/// must exit 0.
fn export(w: &Workdir, format: &str, start: &str, end: &str, args: &[&str]) -> String {
    let out = w
        .cmd("export-metrics")
        .args(["--format", format, "--start", start, "--end", end])
        .args(args)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    stdout(&out)
}

/// Export `args` as CSV text.
pub fn export_csv(w: &Workdir, start: &str, end: &str, args: &[&str]) -> String {
    export(w, "csv", start, end, args)
}

/// Export `args` as JSON objects.
pub fn export_json(w: &Workdir, start: &str, end: &str, args: &[&str]) -> Vec<Value> {
    let text = export(w, "json", start, end, args);
    serde_json::from_str::<Vec<Value>>(&text).expect("a JSON array")
}

/// Export `args` as NDJSON, one object a line.
pub fn export_ndjson(w: &Workdir, start: &str, end: &str, args: &[&str]) -> Vec<Value> {
    let text = export(w, "ndjson", start, end, args);
    let object = |l: &str| serde_json::from_str(l).expect("a JSON object");
    text.lines().map(object).collect()
}

const BREAKDOWN_CONFIG: &str = r#"
[[breakdown]]
name = "subreddit"
property = "subreddit"
sums = ["views", "upvotes"]
top = 2
"#;

/// Six events carrying `subreddit` (four values), one without, one with
/// a non-numeric `upvotes`.
fn breakdown_events() -> Vec<Ev> {
    let d = "2026-11-20T10:0";
    vec![
        pageview(&format!("{d}0:00Z"), "shop", "s1", "v1", "/r/rust/1")
            .props(json!({"subreddit": "rust", "views": 10, "upvotes": 3})),
        pageview(&format!("{d}1:00Z"), "shop", "s1", "v1", "/r/rust/2")
            .props(json!({"subreddit": "rust", "views": 5, "upvotes": "many"})),
        order(&format!("{d}2:00Z"), "shop", "s2", "v2", Some(1250))
            .props(json!({"subreddit": "rust"})),
        custom(&format!("{d}3:00Z"), "shop", "s3", "v3", "vote")
            .props(json!({"subreddit": "go", "upvotes": 1})),
        pageview(&format!("{d}4:00Z"), "shop", "s4", "v4", "/r/c")
            .props(json!({"subreddit": "c", "views": 2.5})),
        pageview(&format!("{d}5:00Z"), "shop", "s5", "v5", "/r/zig")
            .props(json!({"subreddit": "zig", "views": 4})),
        pageview(&format!("{d}6:00Z"), "shop", "s6", "v6", "/none"),
    ]
}

#[test]
fn breakdown_rows_keep_the_top_values_and_merge_the_rest_under_other() {
    let w = Workdir::new();
    w.write("cronlytics.toml", BREAKDOWN_CONFIG);
    w.ingest("events.ndjson", &breakdown_events());
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    // rust: 3 events (2 pageviews, 1 order of 12.50) of 2 sessions; "many"
    // is not a number and is left out of upvotes. go, c and zig tie at 1:
    // c wins by byte order, go and zig add up under (other).
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--breakdown", "subreddit"]),
        "\
date,site,breakdown,value,events,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,sum_views,sum_upvotes
2026-11-20,shop,subreddit,rust,3,2,0,2,2,1,12.50,15,3
2026-11-20,shop,subreddit,c,1,1,0,1,1,0,0.00,2.5,0
2026-11-20,shop,subreddit,(other),2,1,1,2,2,0,0.00,4,1
",
    );
    let rows = export_json(
        &w,
        "2026-11-20",
        "2026-11-20",
        &["--breakdown", "subreddit"],
    );
    assert_json(
        &rows[2],
        &json!({"date": "2026-11-20", "site": "shop", "breakdown": "subreddit",
                "value": "(other)", "events": 2, "pageviews": 1, "custom_events": 1,
                "unique_visitors": 2, "unique_sessions": 2, "orders": 0,
                "revenue_cents": 0, "sums": {"views": 4, "upvotes": 1}}),
    );
    // The day's values add up to the events carrying the property.
    let events: u64 = rows.iter().map(|r| r["events"].as_u64().unwrap()).sum();
    assert_eq!(events, 6);
    // NDJSON: the same objects, one a line.
    let args = ["--breakdown", "subreddit"];
    assert_eq!(export_ndjson(&w, "2026-11-20", "2026-11-20", &args), rows);
    // The daily rollup is unchanged by props.
    let day = w.rollup("2026-11-20", "shop");
    assert_eq!(
        (day["pageviews"].as_u64(), day["orders"].as_u64()),
        (Some(5), Some(1))
    );
}

#[test]
fn props_are_stored_once_as_labels_not_as_json_text() {
    let w = Workdir::new();
    w.ingest("events.ndjson", &breakdown_events());
    assert_eq!(
        w.sql_i64("SELECT count(*) FROM events WHERE extra LIKE '%subreddit%'"),
        0
    );
    assert_eq!(
        w.sql_i64("SELECT count(*) FROM labels WHERE value = 'subreddit'"),
        1
    );
    assert_eq!(
        w.sql_i64("SELECT count(*) FROM labels WHERE value = 'rust'"),
        1
    );
    assert_eq!(
        w.sql_i64("SELECT count(*) FROM events WHERE typeof(props) = 'blob'"),
        6
    );
    // Three props (key and string as label ids, small integers) take 9
    // bytes; a fraction takes 8 more.
    assert_eq!(
        w.sql_i64("SELECT length(props) FROM events ORDER BY id LIMIT 1"),
        9
    );
    assert_eq!(w.sql_i64("SELECT max(length(props)) FROM events"), 13);
}

#[test]
fn goals_by_event_and_path_pattern_with_a_property_filter() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        r#"
[[goal]]
name = "Signup"
event = "signup"

[[goal]]
name = "Pro welcome"
path = "/welcome*"
props = { plan = "pro" }
"#,
    );
    let t = |m: u32| format!("2026-11-20T10:{m:02}:00Z");
    w.ingest(
        "events.ndjson",
        &[
            custom(&t(0), "shop", "s1", "v1", "signup"),
            custom(&t(1), "shop", "s1", "v1", "signup"),
            order(&t(2), "shop", "s1", "v1", Some(4990)),
            order(&t(3), "shop", "s1", "v1", Some(10)),
            custom(&t(4), "shop", "s2", "v2", "signup"),
            pageview(&t(5), "shop", "s3", "v3", "/welcome/pro").props(json!({"plan": "pro"})),
            order(&t(6), "shop", "s3", "v3", Some(2000)),
            pageview(&t(7), "shop", "s4", "v4", "/welcome").props(json!({"plan": "free"})),
            pageview(&t(8), "shop", "s5", "v5", "/pricing").props(json!({"plan": "pro"})),
            order(&t(9), "shop", "s5", "v5", Some(7)),
            pageview(&t(10), "blog", "b1", "w1", "/"),
        ],
    );
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    // Signup: sessions s1 and s2 (3 events) of the 5 sessions; revenue of
    // s1's orders. Pro welcome: s3 only (s4 is free, s5 is not /welcome).
    // blog has a row per goal at zero.
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--goals"]),
        "\
date,site,goal,conversions,events,conversion_rate,revenue
2026-11-20,blog,Pro welcome,0,0,0.0000,0.00
2026-11-20,blog,Signup,0,0,0.0000,0.00
2026-11-20,shop,Pro welcome,1,1,0.2000,20.00
2026-11-20,shop,Signup,2,3,0.4000,50.00
",
    );
    let args = ["--goals", "--site", "shop"];
    let rows = export_json(&w, "2026-11-20", "2026-11-20", &args);
    assert_eq!(export_ndjson(&w, "2026-11-20", "2026-11-20", &args), rows);
    assert_json(
        &Value::Array(rows),
        &json!([
            {"date": "2026-11-20", "site": "shop", "goal": "Pro welcome", "conversions": 1,
             "events": 1, "conversion_rate": 0.2, "revenue_cents": 2000},
            {"date": "2026-11-20", "site": "shop", "goal": "Signup", "conversions": 2,
             "events": 3, "conversion_rate": 0.4, "revenue_cents": 5000}
        ]),
    );
}

#[test]
fn gauges_keep_the_last_level_by_time_then_ingest_order() {
    let w = Workdir::new();
    w.ingest(
        "a.ndjson",
        &[
            gauge("2026-11-20T09:00:00Z", "shop", "followers", 120.0),
            gauge("2026-11-20T18:00:00Z", "shop", "followers", 100.0),
            gauge("2026-11-20T18:00:00Z", "shop", "followers", 90.5),
            gauge("2026-11-20T12:00:00Z", "shop", "stock", 7.0),
            pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/"),
        ],
    );
    // A later run at the same instant is later in ingest order.
    w.ingest(
        "b.ndjson",
        &[gauge("2026-11-20T18:00:00Z", "shop", "followers", 95.0)],
    );
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--gauges"]),
        "\
date,site,gauge,last,min,max,samples
2026-11-20,shop,followers,95,90.5,120,4
2026-11-20,shop,stock,7,7,7,1
",
    );
    // Gauges are not events: one visitor, one session, one pageview.
    let day = w.rollup("2026-11-20", "shop");
    assert_eq!(day["unique_visitors"], 1);
    assert_eq!(day["unique_sessions"], 1);
    assert_eq!(day["custom_events"], 0);
    let rows = export_json(&w, "2026-11-20", "2026-11-20", &["--gauges"]);
    assert_eq!(
        export_ndjson(&w, "2026-11-20", "2026-11-20", &["--gauges"]),
        rows
    );
    assert_json(
        &rows[0],
        &json!({"date": "2026-11-20", "site": "shop", "gauge": "followers",
                "last": 95, "min": 90.5, "max": 120, "samples": 4}),
    );
}

#[test]
fn breakdowns_count_local_days_across_both_dst_changes() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\n",
    );
    let pv = |ts: &str, s: &str| pageview(ts, "shop", s, s, "/").props(json!({"plan": "pro"}));
    w.ingest(
        "events.ndjson",
        &[
            // Berlin, 2026-03-29 has 23 hours: 2026-03-28T23:00Z to 2026-03-29T22:00Z.
            pv("2026-03-28T22:59:59Z", "a"),
            pv("2026-03-28T23:00:00Z", "b"),
            pv("2026-03-29T21:59:59Z", "c"),
            pv("2026-03-29T22:00:00Z", "d"),
            // 2026-10-25 has 25 hours: 2026-10-24T22:00Z to 2026-10-25T23:00Z.
            pv("2026-10-24T21:59:59Z", "e"),
            pv("2026-10-24T22:00:00Z", "f"),
            pv("2026-10-25T22:59:59Z", "g"),
            pv("2026-10-25T23:00:00Z", "h"),
        ],
    );
    w.backfill("2026-03-28", "2026-03-30", "Europe/Berlin");
    w.backfill("2026-10-24", "2026-10-26", "Europe/Berlin");
    let events = |start: &str, end: &str| -> Vec<(String, u64)> {
        export_json(&w, start, end, &["--breakdown", "plan"])
            .iter()
            .map(|r| {
                (
                    r["date"].as_str().unwrap().to_string(),
                    r["events"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let day = |d: &str, n: u64| (d.to_string(), n);
    assert_eq!(
        events("2026-03-28", "2026-03-30"),
        [
            day("2026-03-28", 1),
            day("2026-03-29", 2),
            day("2026-03-30", 1)
        ]
    );
    assert_eq!(
        events("2026-10-24", "2026-10-26"),
        [
            day("2026-10-24", 1),
            day("2026-10-25", 2),
            day("2026-10-26", 1)
        ]
    );
}

#[test]
fn a_late_event_re_rolls_the_days_breakdown_and_goal() {
    let mut w = Workdir::new();
    w.now = "2026-11-21T06:00:00Z".to_string();
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\n\n[[goal]]\nname = \"Signup\"\nevent = \"signup\"\n",
    );
    w.ingest(
        "a.ndjson",
        &[pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/").props(json!({"plan": "pro"}))],
    );
    w.cmd("aggregate").assert().code(0);
    w.ingest(
        "late.ndjson",
        &[custom("2026-11-20T11:00:00Z", "shop", "s2", "v2", "signup")
            .props(json!({"plan": "free"}))],
    );
    w.cmd("aggregate").assert().code(0);
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--breakdown", "plan"]),
        "\
date,site,breakdown,value,events,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue
2026-11-20,shop,plan,free,1,0,1,1,1,0,0.00
2026-11-20,shop,plan,pro,1,1,0,1,1,0,0.00
",
    );
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--goals"]),
        "date,site,goal,conversions,events,conversion_rate,revenue\n2026-11-20,shop,Signup,1,1,0.5000,0.00\n",
    );
}

#[test]
fn a_new_breakdown_applies_from_then_on_and_backfill_fills_past_days() {
    let mut w = Workdir::new();
    w.now = "2026-11-22T06:00:00Z".to_string();
    w.ingest(
        "a.ndjson",
        &[
            pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/").props(json!({"plan": "pro"})),
            pageview("2026-11-21T10:00:00Z", "shop", "s2", "v2", "/").props(json!({"plan": "pro"})),
        ],
    );
    w.backfill("2026-11-20", "2026-11-21", "UTC");
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\n",
    );
    let dates = |w: &Workdir| -> Vec<String> {
        export_json(w, "2026-11-20", "2026-11-21", &["--breakdown", "plan"])
            .iter()
            .map(|r| r["date"].as_str().unwrap().to_string())
            .collect()
    };
    // Nothing yet: exit 1 and what to do.
    let out = w
        .cmd("export-metrics")
        .args(["--days", "2", "--breakdown", "plan"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(
        &out,
        &["no rows of breakdown \"plan\" in that range: run aggregate, or backfill the past days"],
    );
    w.cmd("aggregate")
        .args(["--date", "2026-11-21"])
        .assert()
        .code(0);
    assert_eq!(dates(&w), ["2026-11-21"]);
    w.backfill("2026-11-20", "2026-11-21", "UTC");
    assert_eq!(dates(&w), ["2026-11-20", "2026-11-21"]);
}

#[test]
fn a_breakdown_of_many_values_counts_each_session_once_per_value() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"tag\"\nproperty = \"tag\"\n",
    );
    let mut events = Vec::new();
    for round in 0..2 {
        for i in 0..70 {
            let ts = format!("2026-11-20T10:{:02}:{:02}Z", round * 10 + i / 60, i % 60);
            events.push(
                pageview(&ts, "shop", "s1", "v1", "/").props(json!({"tag": format!("t{i:02}")})),
            );
        }
    }
    for i in 65..70 {
        events.push(
            pageview("2026-11-20T12:00:00Z", "shop", "s2", "v2", "/")
                .props(json!({"tag": format!("t{i:02}")})),
        );
    }
    w.ingest("events.ndjson", &events);
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    let rows = export_json(&w, "2026-11-20", "2026-11-20", &["--breakdown", "tag"]);
    assert_eq!(rows.len(), 70);
    for r in &rows {
        let tag: u32 = r["value"].as_str().unwrap()[1..].parse().unwrap();
        let (events, sessions) = if tag >= 65 { (3, 2) } else { (2, 1) };
        assert_eq!(r["events"], events, "{r}");
        assert_eq!(r["unique_sessions"], sessions, "{r}");
        assert_eq!(r["unique_visitors"], sessions, "{r}");
    }
}

#[test]
fn a_visitor_of_several_sessions_counts_once_per_value() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"subreddit\"\nproperty = \"subreddit\"\n",
    );
    // v1: three sessions with rust (s1 also with go); v2: one with go.
    let at = |m: u32| format!("2026-11-20T1{m}:00:00Z");
    let sub = |s: &str| json!({ "subreddit": s });
    let events = vec![
        pageview(&at(0), "shop", "s1", "v1", "/a").props(sub("rust")),
        pageview(&at(1), "shop", "s1", "v1", "/b").props(sub("go")),
        pageview(&at(1), "shop", "s3", "v2", "/c").props(sub("go")),
        pageview(&at(3), "shop", "s2", "v1", "/d").props(sub("rust")),
        pageview(&at(5), "shop", "s4", "v1", "/e").props(sub("rust")),
        pageview(&at(5), "shop", "s4", "v1", "/f").props(sub("rust")),
    ];
    w.ingest("events.ndjson", &events);
    let want = "\
date,site,breakdown,value,events,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue
2026-11-20,shop,subreddit,rust,4,4,0,1,3,0,0.00
2026-11-20,shop,subreddit,go,2,2,0,2,2,0,0.00
";
    // Four days are scanned whole, one day in parts on a machine of
    // several cores: the sessions' values are counted both ways.
    for start in ["2026-11-17", "2026-11-20"] {
        w.backfill(start, "2026-11-20", "UTC");
        let csv = export_csv(
            &w,
            "2026-11-20",
            "2026-11-20",
            &["--breakdown", "subreddit"],
        );
        assert_text(&csv, want);
    }
}
