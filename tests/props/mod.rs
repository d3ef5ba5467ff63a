//! Properties, goals and gauges (contract, "Properties, goals and gauges"):
//! every field of every new row against hand-computed values, the CSV as
//! exact text, rejects naming the field, config mistakes, the snapshot;
//! `dashboards.rs` holds the README's worked examples.

mod dashboards;

use serde_json::{Value, json};

use crate::common::*;

/// Export `args` (after --start/--end) as CSV text; must exit 0.
pub fn export_csv(w: &Workdir, start: &str, end: &str, args: &[&str]) -> String {
    let out = w
        .cmd("export-metrics")
        .args(["--start", start, "--end", end])
        .args(args)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    stdout(&out)
}

/// Export `args` as JSON objects; must exit 0.
pub fn export_json(w: &Workdir, start: &str, end: &str, args: &[&str]) -> Vec<Value> {
    let out = w
        .cmd("export-metrics")
        .args(["--format", "json", "--start", start, "--end", end])
        .args(args)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("a JSON array")
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
    let rows = export_json(
        &w,
        "2026-11-20",
        "2026-11-20",
        &["--goals", "--site", "shop"],
    );
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
fn csv_input_carries_props_as_a_json_column_and_gauges_with_value() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\nsums = [\"seats\"]\n",
    );
    w.write(
        "events.csv",
        "ts,site,kind,session,visitor,path,name,value,props\n\
         2026-11-20T10:00:00Z,shop,pageview,s1,v1,/a,,,\"{\"\"plan\"\":\"\"pro\"\",\"\"seats\"\":3}\"\n\
         2026-11-20T10:01:00Z,shop,pageview,s2,v2,/b,,,\"{\"\"plan\"\":\"\"pro\"\",\"\"seats\"\":2}\"\n\
         2026-11-20T10:02:00Z,shop,gauge,sys,sys,,subscribers,41.5,\n\
         2026-11-20T10:03:00Z,shop,pageview,s3,v3,/c,,,\"[1]\"\n\
         2026-11-20T10:04:00Z,shop,gauge,sys,sys,,subscribers,lots,\n",
    );
    let out = w.cmd("ingest").arg("events.csv").output().unwrap();
    assert_exit(&out, 1);
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--breakdown", "plan"]),
        "\
date,site,breakdown,value,events,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,sum_seats
2026-11-20,shop,plan,pro,2,2,0,2,2,0,0.00,5
",
    );
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--gauges"]),
        "date,site,gauge,last,min,max,samples\n2026-11-20,shop,subscribers,41.5,41.5,41.5,1\n",
    );
    let rejects = rejects_of(&w);
    let reasons: Vec<(u64, &str)> = rejects
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                5,
                "props must be an object of strings, numbers and booleans"
            ),
            (6, "value must be a number, got 'lots'"),
        ]
    );
}

/// The rejects of the only ingest run that had some.
fn rejects_of(w: &Workdir) -> Vec<Value> {
    let dir = w.artifacts.join("rejects");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    parse_ndjson(&std::fs::read_to_string(files.remove(0)).unwrap())
}

#[test]
fn bad_props_values_and_gauges_are_rejected_naming_the_field() {
    let w = Workdir::new();
    let pv = || pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/");
    let many: serde_json::Map<String, Value> =
        (0..31).map(|i| (format!("k{i:02}"), json!(i))).collect();
    let events = [
        pv().props(json!([1, 2])),
        pv().props(json!({"a": [1]})),
        pv().props(json!({"a": null})),
        pv().props(Value::Object(many)),
        pv().props(json!({"k".repeat(65): 1})),
        pv().props(json!({"a": "v".repeat(257)})),
        gauge("2026-11-20T10:00:00Z", "shop", "followers", 1.0).without("value"),
        gauge("2026-11-20T10:00:00Z", "shop", "followers", 1.0).with("value", "12"),
        gauge("2026-11-20T10:00:00Z", "shop", "followers", 1.0).without("name"),
        pv().props(json!({"ok": true, "n": -2.5, "s": "x"})),
        pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/").with("ts", 1_763_600_000),
    ];
    w.write("events.ndjson", &ndjson(&events));
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 1);
    let reasons: Vec<String> = rejects_of(&w)
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    let want = [
        "props must be an object of strings, numbers and booleans",
        "props.a must be a string, a number or a boolean",
        "props.a must be a string, a number or a boolean",
        "props has more than 30 keys; at most 30 are allowed",
        "props key 'kkkkkkkkkkkkkkkkkkkk...' is 65 characters long; keys are 1 to 64",
        "props.a is 257 characters long; at most 256 are allowed",
        "value is required for a gauge",
        "value must be a number",
        "name is required for a gauge",
        "ts: 1763600000 looks like Unix seconds; ts must be RFC 3339 or Unix milliseconds (1763600000000)",
    ];
    assert_eq!(reasons, want);
    assert_eq!(w.sql_i64("SELECT count(*) FROM events"), 1);
}

#[test]
fn config_mistakes_exit_2_naming_the_key() {
    let w = Workdir::new();
    w.create_store();
    let cases = [
        (
            "[[breakdown]]\nname = \"a\"\n",
            "[[breakdown]] \"a\" names no property",
        ),
        (
            "[[breakdown]]\nname = \"a\"\nproperty = \"p\"\ntop = 0\n",
            "[[breakdown]] \"a\": top = 0 keeps no values",
        ),
        (
            "[[breakdown]]\nname = \"a\"\nproperty = \"p\"\n[[breakdown]]\nname = \"a\"\nproperty = \"q\"\n",
            "[[breakdown]] name \"a\" is used twice",
        ),
        (
            "[[goal]]\nname = \"g\"\n",
            "[[goal]] \"g\" names nothing to match",
        ),
        (
            "[[goal]]\nname = \"g\"\nevent = \"e\"\npath = \"/p\"\n",
            "[[goal]] \"g\" gives both event and path",
        ),
        (
            "[[goal]]\nname = \"g\"\nevent = \"e\"\n[[goal]]\nname = \"g\"\npath = \"/p\"\n",
            "[[goal]] name \"g\" is used twice",
        ),
    ];
    for (config, want) in cases {
        w.write("cronlytics.toml", config);
        for job in ["aggregate", "export-metrics"] {
            let out = w.cmd(job).output().unwrap();
            assert_exit(&out, 2);
            assert_stderr_has(&out, &[want]);
        }
    }
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\n[[breakdown]]\nname = \"model\"\nproperty = \"model\"\n",
    );
    let out = w
        .cmd("export-metrics")
        .args(["--breakdown", "author"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            "--breakdown \"author\" names no configured breakdown; the config has \"plan\", \"model\"",
        ],
    );
    std::fs::remove_file(w.path("cronlytics.toml")).unwrap();
    let out = w
        .cmd("export-metrics")
        .args(["--breakdown", "author"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["the config has no [[breakdown]]"]);
}

#[test]
fn the_snapshot_shows_goals_under_conversion_and_breakdowns_and_gauges_under_engagement() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\nsums = [\"seats\"]\n\n[[goal]]\nname = \"Signup\"\nevent = \"signup\"\n",
    );
    w.ingest(
        "events.ndjson",
        &[
            custom("2026-11-20T10:00:00Z", "shop", "s1", "v1", "signup")
                .props(json!({"plan": "pro", "seats": 3})),
            pageview("2026-11-20T10:01:00Z", "shop", "s2", "v2", "/"),
            custom("2026-11-21T10:00:00Z", "shop", "s3", "v3", "signup"),
            pageview("2026-11-21T10:01:00Z", "shop", "s4", "v4", "/"),
            pageview("2026-11-21T10:02:00Z", "shop", "s5", "v5", "/"),
            pageview("2026-11-21T10:03:00Z", "shop", "s6", "v6", "/"),
            gauge("2026-11-20T23:00:00Z", "shop", "followers", 40.0),
            gauge("2026-11-21T08:00:00Z", "shop", "followers", 50.0),
            gauge("2026-11-21T09:00:00Z", "shop", "followers", 44.0),
        ],
    );
    w.backfill("2026-11-20", "2026-11-21", "UTC");
    w.cmd("snapshot").assert().code(0);
    let snap: Value = serde_json::from_str(&w.read("artifacts/snapshots/2026-11-21.json")).unwrap();
    let signup = &snap["metrics"]["conversion"]["sites"]["shop"]["goals"]["Signup"];
    assert_eq!(signup["conversions"]["value"], 1.0);
    assert_eq!(signup["conversion_rate"]["value"], 0.25);
    assert_eq!(signup["conversion_rate"]["day_before"], 0.5);
    assert_eq!(
        signup["conversion_rate"]["vs_day_before"]["absolute"],
        -0.25
    );
    assert_eq!(
        snap["metrics"]["conversion"]["all"]["goals"]["Signup"]["conversions"]["value"],
        1.0
    );
    let engagement = &snap["metrics"]["engagement"]["sites"]["shop"];
    assert_json(
        &engagement["gauges"],
        &json!({"followers": {
            "last": {"value": 44.0, "day_before": 40.0,
                     "vs_day_before": {"absolute": 4.0, "percent": 10.0},
                     "mean_7d": 40.0, "mean_7d_days": 1,
                     "vs_mean_7d": {"absolute": 4.0, "percent": 10.0}},
            "min": 44, "max": 50, "samples": 2}}),
    );
    // The day has no event with a plan: the breakdown has no rows.
    assert_eq!(engagement["breakdowns"], Value::Null);
    w.cmd("snapshot")
        .args(["--date", "2026-11-20"])
        .assert()
        .code(0);
    let snap: Value = serde_json::from_str(&w.read("artifacts/snapshots/2026-11-20.json")).unwrap();
    assert_json(
        &snap["metrics"]["engagement"]["sites"]["shop"]["breakdowns"],
        &json!({"plan": [{"value": "pro", "events": 1, "pageviews": 0, "custom_events": 1,
                          "orders": 0, "revenue": 0.0, "unique_visitors": 1,
                          "unique_sessions": 1, "sums": {"seats": 3}}]}),
    );
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
fn a_goals_conversion_rate_is_guarded_when_its_table_is_configured() {
    let w = Workdir::new();
    let goal = "[[goal]]\nname = \"Signup\"\nevent = \"signup\"\n";
    w.write("cronlytics.toml", goal);
    // 35 days of 100 sessions, 20 of which sign up; on the last day only 2.
    let mut events = Vec::new();
    let first = chrono::NaiveDate::from_ymd_opt(2026, 10, 18).unwrap();
    for d in 0..35u32 {
        let date = first + chrono::Days::new(u64::from(d));
        let signups = if d == 34 { 2 } else { 20 };
        for s in 0..100u32 {
            let ts = format!("{date}T{:02}:{:02}:00Z", 8 + s / 10, (s % 10) * 5);
            let (session, visitor) = (format!("d{d}s{s}"), format!("v{s}"));
            events.push(pageview(&ts, "shop", &session, &visitor, "/"));
            if s < signups {
                events.push(custom(&ts, "shop", &session, &visitor, "signup"));
            }
        }
    }
    w.ingest("events.ndjson", &events);
    w.backfill("2026-10-18", "2026-11-21", "UTC");
    let proof = |w: &Workdir| -> Value {
        serde_json::from_str(&w.read("artifacts/sampling-proofs/sampling-proof-20261121.json"))
            .unwrap()
    };
    // Off by default: the six checks of the site only.
    w.cmd("sampling-guard").assert().code(0);
    let checks = proof(&w)["checks"].as_array().unwrap().clone();
    assert_eq!(checks.len(), 6);
    assert!(checks.iter().all(|c| c.get("goal").is_none()));
    // On: the goal's rate 0.02 against 0.2 warns (the site's own rate has
    // no orders to judge).
    w.write(
        "cronlytics.toml",
        &format!("{goal}\n[guard.goal.Signup]\nwarn_score = 3.5\n"),
    );
    let out = w.cmd("sampling-guard").output().unwrap();
    assert_exit(&out, 1);
    let proof = proof(&w);
    let goal_checks: Vec<&Value> = proof["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["goal"] == "Signup")
        .collect();
    assert_eq!(goal_checks.len(), 2);
    let range = goal_checks[0];
    assert_eq!(range["name"], "Goal Conversion Rate Range");
    assert_eq!(range["metric"], "conversion_rate");
    assert_eq!(range["status"], "warn");
    assert_eq!(range["value"], 0.02);
    assert_eq!(range["expected_value"], 0.2);
    assert!(range["score"].as_f64().unwrap() < -3.5, "{range}");
    let message = range["message"].as_str().unwrap();
    assert!(
        message.starts_with("goal Signup: conversion rate 2.00%, expected 20.00%")
            && message.contains("2 conversions from 100 sessions"),
        "{message}"
    );
    assert!(proof["anomalies"].as_array().unwrap().contains(range));
    // A table naming no goal is a config mistake.
    w.write(
        "cronlytics.toml",
        &format!("{goal}\n[guard.goal.Checkout]\nwarn_score = 3.5\n"),
    );
    let out = w.cmd("sampling-guard").output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["[guard.goal.Checkout] names no [[goal]]; the configured goals are \"Signup\""],
    );
}
