//! `aggregate`: every rollup field against hand-computed values, top lists,
//! day boundaries in a zone (midnight, 23- and 25-hour days), the day
//! chosen, zero rows for silent days, re-rolling marked days, idempotence.

use serde_json::json;

use crate::common::*;

/// A hand-built day for two sites, with events just outside it.
fn hand_built_day() -> Vec<Ev> {
    let t = |hms: &str| format!("2026-11-21T{hms}Z");
    vec![
        pageview(&t("08:00:00"), "shop", "s1", "v1", "/home").referrer("https://www.google.com/q"),
        pageview(&t("08:01:00"), "shop", "s1", "v1", "/pricing")
            .referrer("https://www.google.com/"),
        pageview(&t("09:00:00"), "shop", "s2", "v1", "/home"),
        pageview(&t("10:00:00"), "shop", "s3", "v2", "/home?utm=x").referrer("newsletter"),
        pageview(&t("11:00:00"), "shop", "s4", "v3", "/blog")
            .referrer("https://news.ycombinator.com/item?id=7"),
        custom(&t("08:02:00"), "shop", "s1", "v1", "signup"),
        custom(&t("10:01:00"), "shop", "s3", "v2", "signup"),
        custom(&t("10:02:00"), "shop", "s3", "v2", "play"),
        order(&t("08:03:00"), "shop", "s1", "v1", Some(1999)),
        order(&t("08:04:00"), "shop", "s1", "v1", Some(501)),
        order(&t("10:03:00"), "shop", "s3", "v2", None),
        order(&t("12:00:00"), "shop", "s5", "v4", Some(1000)),
        // The same session and visitor keys on another site are other people.
        pageview(&t("15:00:00"), "blog", "s1", "v1", "/post"),
        // Just outside the day.
        pageview("2026-11-20T23:59:59.999Z", "shop", "s9", "v9", "/old"),
        order("2026-11-22T00:00:00Z", "shop", "s9", "v9", Some(99)),
    ]
}

#[test]
fn every_rollup_field_matches_hand_computed_values() {
    let w = Workdir::new();
    w.ingest("events.ndjson", &hand_built_day());
    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["rolled up 2026-11-21: 2 sites, 13 events"]);
    let rows = w.rollups("2026-11-20", "2026-11-22");
    assert_json(
        &serde_json::Value::Array(rows),
        &json!([
            {
                "date": "2026-11-21", "site": "blog",
                "pageviews": 1, "custom_events": 0, "orders": 0, "revenue_cents": 0,
                "unique_visitors": 1, "unique_sessions": 1, "conversion_rate": 0.0,
                "top_pages": [{"item": "/post", "count": 1}],
                "top_referrers": [{"item": "direct", "count": 1}],
                "top_events": []
            },
            {
                "date": "2026-11-21", "site": "shop",
                "pageviews": 5, "custom_events": 3, "orders": 4, "revenue_cents": 3500,
                // v1..v4; s1..s5, of which s1, s3 and s5 ordered.
                "unique_visitors": 4, "unique_sessions": 5, "conversion_rate": 0.6,
                "top_pages": [
                    {"item": "/home", "count": 3},
                    {"item": "/blog", "count": 1},
                    {"item": "/pricing", "count": 1}
                ],
                "top_referrers": [
                    {"item": "google.com", "count": 2},
                    {"item": "direct", "count": 1},
                    {"item": "news.ycombinator.com", "count": 1},
                    {"item": "newsletter", "count": 1}
                ],
                "top_events": [
                    {"item": "signup", "count": 2},
                    {"item": "play", "count": 1}
                ]
            }
        ]),
    );
    assert_eq!(
        w.sql_rows("SELECT DISTINCT date FROM daily_rollups"),
        vec![vec!["2026-11-21".to_string()]],
        "aggregate rolls up only the day asked for"
    );
    assert_eq!(
        w.sql_i64("SELECT converting_sessions FROM daily_rollups r JOIN sites s ON s.id = r.site_id WHERE s.name = 'shop'"),
        3
    );
}

#[test]
fn top_lists_break_ties_by_byte_order_and_stop_at_ten() {
    let w = Workdir::new();
    let ts = "2026-11-21T10:00:00Z";
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(pageview(ts, "shop", "s1", "v1", "/top"));
    }
    for _ in 0..2 {
        events.push(pageview(ts, "shop", "s1", "v1", "/second"));
    }
    // Twelve paths tied at one pageview, given in no particular order.
    for path in [
        "/é", "/c", "/~", "/b", "/ab", "/a", "/_x", "/Z", "/B", "/A", "/9", "/10",
    ] {
        events.push(pageview(ts, "shop", "s1", "v1", path));
    }
    for name in ["b", "a", "C", "b"] {
        events.push(custom(ts, "shop", "s1", "v1", name));
    }
    for (i, r) in ["zeta.example", "Alpha", "alpha"].iter().enumerate() {
        events.push(pageview(ts, "shop", &format!("r{i}"), "v1", "/top").referrer(r));
    }
    w.ingest("events.ndjson", &events);
    w.backfill("2026-11-21", "2026-11-21", "UTC");
    let r = w.rollup("2026-11-21", "shop");
    let items = |v: &serde_json::Value| -> Vec<(String, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["item"].as_str().unwrap().to_string(),
                    i["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let expect = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
        pairs.iter().map(|(i, c)| (i.to_string(), *c)).collect()
    };
    assert_eq!(
        items(&r["top_pages"]),
        expect(&[
            ("/top", 6),
            ("/second", 2),
            ("/10", 1),
            ("/9", 1),
            ("/A", 1),
            ("/B", 1),
            ("/Z", 1),
            ("/_x", 1),
            ("/a", 1),
            ("/ab", 1),
        ])
    );
    assert_eq!(
        items(&r["top_events"]),
        expect(&[("b", 2), ("C", 1), ("a", 1)])
    );
    assert_eq!(
        items(&r["top_referrers"]),
        expect(&[
            ("direct", 17),
            ("Alpha", 1),
            ("alpha", 1),
            ("zeta.example", 1)
        ])
    );
}

#[test]
fn an_event_at_local_midnight_belongs_to_the_new_day() {
    let w = Workdir::new();
    let pv = |ts: &str| pageview(ts, "shop", "s1", "v1", "/a");
    w.ingest(
        "events.ndjson",
        &[
            pv("2026-11-20T23:59:59.999+01:00"),
            pv("2026-11-21T00:00:00+01:00"),
            pv("2026-11-21T23:59:59.999+01:00"),
            pv("2026-11-22T00:00:00+01:00"),
        ],
    );
    w.backfill("2026-11-20", "2026-11-22", "Europe/Berlin");
    let counts: Vec<(String, u64)> = w
        .rollups("2026-11-20", "2026-11-22")
        .iter()
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_string(),
                r["pageviews"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("2026-11-20".to_string(), 1),
            ("2026-11-21".to_string(), 2),
            ("2026-11-22".to_string(), 1)
        ]
    );
}

/// Pageviews per day of `[start, end]` after a backfill in `tz`.
fn pageviews_by_day(w: &Workdir, start: &str, end: &str) -> Vec<(String, u64)> {
    w.rollups(start, end)
        .iter()
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_string(),
                r["pageviews"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn days(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(d, n)| (d.to_string(), *n)).collect()
}

fn dry_run(w: &Workdir, start: &str, end: &str, tz: &str) -> String {
    let out = w
        .cmd("backfill")
        .args(["--dry-run", "--start", start, "--end", end, "--tz", tz])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    stdout(&out)
}

const LA: &str = "America/Los_Angeles";

#[test]
fn los_angeles_spring_forward_day_has_23_hours() {
    let w = Workdir::new();
    let pv = |ts: &str| pageview(ts, "shop", "s1", "v1", "/a");
    w.ingest(
        "events.ndjson",
        &[
            pv("2026-03-08T07:59:59.999Z"),  // 23:59:59.999 PST on the 7th
            pv("2026-03-08T00:00:00-08:00"), // first instant of the 8th
            pv("2026-03-08T01:59:59-08:00"), // just before the gap
            pv("2026-03-08T03:00:00-07:00"), // just after it
            pv("2026-03-08T23:30:00-07:00"), // the last hour
            pv("2026-03-09T07:00:00Z"),      // midnight PDT: the 9th
        ],
    );
    w.backfill("2026-03-07", "2026-03-09", LA);
    assert_eq!(
        pageviews_by_day(&w, "2026-03-07", "2026-03-09"),
        days(&[("2026-03-07", 1), ("2026-03-08", 4), ("2026-03-09", 1)])
    );
    assert_text(
        &dry_run(&w, "2026-03-07", "2026-03-09", LA),
        "2026-03-07\t2026-03-07T08:00:00Z\t2026-03-08T08:00:00Z\t24h\n\
         2026-03-08\t2026-03-08T08:00:00Z\t2026-03-09T07:00:00Z\t23h\n\
         2026-03-09\t2026-03-09T07:00:00Z\t2026-03-10T07:00:00Z\t24h\n",
    );
}

#[test]
fn los_angeles_fall_back_day_has_25_hours() {
    let w = Workdir::new();
    let pv = |ts: &str| pageview(ts, "shop", "s1", "v1", "/a");
    w.ingest(
        "events.ndjson",
        &[
            pv("2026-11-01T06:59:59.999Z"),  // 23:59:59.999 PDT on Oct 31
            pv("2026-11-01T07:00:00Z"),      // first instant of Nov 1
            pv("2026-11-01T01:30:00-07:00"), // the first 01:30
            pv("2026-11-01T01:30:00-08:00"), // the second 01:30
            pv("2026-11-01T23:59:59-08:00"), // the last hour
            pv("2026-11-02T08:00:00Z"),      // midnight PST: Nov 2
        ],
    );
    w.backfill("2026-10-31", "2026-11-02", LA);
    assert_eq!(
        pageviews_by_day(&w, "2026-10-31", "2026-11-02"),
        days(&[("2026-10-31", 1), ("2026-11-01", 4), ("2026-11-02", 1)])
    );
    assert_text(
        &dry_run(&w, "2026-10-31", "2026-11-02", LA),
        "2026-10-31\t2026-10-31T07:00:00Z\t2026-11-01T07:00:00Z\t24h\n\
         2026-11-01\t2026-11-01T07:00:00Z\t2026-11-02T08:00:00Z\t25h\n\
         2026-11-02\t2026-11-02T08:00:00Z\t2026-11-03T08:00:00Z\t24h\n",
    );
}

fn rolled_dates(w: &Workdir) -> Vec<String> {
    w.sql_rows("SELECT DISTINCT date FROM daily_rollups ORDER BY date")
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

#[test]
fn default_day_is_yesterday_in_the_configured_zone() {
    let events = [
        pageview("2026-11-20T12:00:00-08:00", "shop", "s1", "v1", "/a"),
        pageview("2026-11-21T12:00:00-08:00", "shop", "s2", "v1", "/a"),
    ];
    // 2026-11-22T06:00Z is still the evening of the 21st in Los Angeles.
    let w = Workdir::new();
    w.ingest("events.ndjson", &events);
    let out = w.cmd("aggregate").args(["--tz", LA]).output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["rolled up 2026-11-20: 1 site, 1 event"]);
    assert_eq!(rolled_dates(&w), ["2026-11-20"]);

    let w = Workdir::new();
    w.ingest("events.ndjson", &events);
    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["rolled up 2026-11-21: 1 site, 1 event"]);
    assert_eq!(rolled_dates(&w), ["2026-11-21"]);
}

#[test]
fn date_flag_rolls_up_that_day() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-19T10:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a"),
        ],
    );
    let out = w
        .cmd("aggregate")
        .args(["--date", "2026-11-19"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(rolled_dates(&w), ["2026-11-19"]);
    assert_eq!(w.rollup("2026-11-19", "shop")["pageviews"], 1);

    let out = w
        .cmd("aggregate")
        .args(["--date", "2026-11-31"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["--date '2026-11-31' is not a valid date"]);
}

#[test]
fn today_flag_refreshes_the_running_totals() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-22T01:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2026-11-22T05:00:00Z", "shop", "s1", "v1", "/b"),
        ],
    );
    let out = w.cmd("aggregate").arg("--today").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["rolled up 2026-11-22 (running totals): 1 site, 2 events"],
    );
    assert_eq!(rolled_dates(&w), ["2026-11-22"]);
    assert_eq!(w.rollup("2026-11-22", "shop")["pageviews"], 2);
    assert_eq!(
        w.sql_i64("SELECT complete FROM daily_rollups WHERE date = '2026-11-22'"),
        0,
        "a day that has not ended is stored as incomplete"
    );

    w.ingest(
        "more.ndjson",
        &[pageview("2026-11-22T05:30:00Z", "shop", "s2", "v2", "/a")],
    );
    let out = w.cmd("aggregate").arg("--today").output().unwrap();
    assert_exit(&out, 0);
    let r = w.rollup("2026-11-22", "shop");
    assert_eq!(
        (r["pageviews"].as_u64(), r["unique_sessions"].as_u64()),
        (Some(3), Some(2))
    );
}

#[test]
fn site_flag_rolls_up_one_site() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2026-11-21T10:00:00Z", "blog", "s1", "v1", "/a"),
        ],
    );
    let out = w
        .cmd("aggregate")
        .args(["--site", "blog"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(
        w.sql_rows("SELECT s.name, r.date FROM daily_rollups r JOIN sites s ON s.id = r.site_id"),
        vec![vec!["blog".to_string(), "2026-11-21".to_string()]]
    );

    let out = w
        .cmd("aggregate")
        .args(["--site", "nope"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["--site nope", "known: blog, shop"]);
}

#[test]
fn a_site_gets_zero_rows_for_silent_days_after_its_first_event() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-18T10:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2026-11-20T10:00:00Z", "blog", "s1", "v1", "/a"),
            order("2026-11-21T10:00:00Z", "shop", "s2", "v1", Some(250)),
        ],
    );
    w.backfill("2026-11-17", "2026-11-21", "UTC");
    let out = w
        .cmd("export-metrics")
        .args(["--start", "2026-11-17", "--end", "2026-11-21"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_text(
        &stdout(&out),
        "date,site,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,conversion_rate\n\
         2026-11-18,shop,1,0,1,1,0,0.00,0.0000\n\
         2026-11-19,shop,0,0,0,0,0,0.00,0.0000\n\
         2026-11-20,blog,1,0,1,1,0,0.00,0.0000\n\
         2026-11-20,shop,0,0,0,0,0,0.00,0.0000\n\
         2026-11-21,blog,0,0,0,0,0,0.00,0.0000\n\
         2026-11-21,shop,0,0,1,1,1,2.50,1.0000\n",
    );
}

#[test]
fn a_late_event_marks_its_day_and_the_next_aggregate_rerolls_it() {
    let w = Workdir::new();
    w.ingest(
        "day1.ndjson",
        &[pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/a")],
    );
    let out = w
        .cmd("aggregate")
        .args(["--date", "2026-11-20"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(w.rollup("2026-11-20", "shop")["pageviews"], 1);

    let out = w.ingest(
        "late.ndjson",
        &[
            pageview("2026-11-20T23:00:00Z", "shop", "s2", "v2", "/late"),
            pageview("2026-11-21T10:00:00Z", "shop", "s3", "v1", "/a"),
        ],
    );
    assert_stderr_has(
        &out,
        &["stored 2 events, 0 duplicates, 0 rejected, 1 day marked for re-aggregation"],
    );
    assert_eq!(
        w.sql_rows("SELECT s.name, d.date FROM dirty_days d JOIN sites s ON s.id = d.site_id"),
        vec![vec!["shop".to_string(), "2026-11-20".to_string()]]
    );
    assert_eq!(
        w.rollup("2026-11-20", "shop")["pageviews"],
        1,
        "ingest does not roll up"
    );

    // The nightly run for the 21st also re-rolls the marked 20th.
    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["rolled up 2026-11-21: 1 site, 1 event; re-rolled 1 marked day: 2026-11-20"],
    );
    let r = w.rollup("2026-11-20", "shop");
    assert_eq!(
        (r["pageviews"].as_u64(), r["unique_visitors"].as_u64()),
        (Some(2), Some(2))
    );
    assert_json(
        &r["top_pages"],
        &json!([{"item": "/a", "count": 1}, {"item": "/late", "count": 1}]),
    );
    assert_eq!(w.rollup("2026-11-21", "shop")["pageviews"], 1);
    assert_eq!(w.sql_i64("SELECT count(*) FROM dirty_days"), 0);

    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 0);
    assert!(!stderr(&out).contains("re-rolled"), "{}", stderr(&out));
}

#[test]
fn aggregate_twice_gives_identical_rows() {
    let w = Workdir::new();
    w.ingest("events.ndjson", &hand_built_day());
    assert_exit(&w.cmd("aggregate").output().unwrap(), 0);
    let first = w.rollup_table();
    assert_eq!(first.len(), 2);
    assert_exit(&w.cmd("aggregate").output().unwrap(), 0);
    assert_eq!(w.rollup_table(), first);
}

#[test]
fn every_failed_day_is_named_and_the_others_are_rolled_up() {
    let w = Workdir::new();
    let days = ["2026-11-19", "2026-11-20", "2026-11-21"];
    let events: Vec<Ev> = days
        .iter()
        .map(|d| pageview(&format!("{d}T10:00:00Z"), "shop", "s1", "v1", "/a"))
        .collect();
    w.ingest("events.ndjson", &events);
    w.backfill("2026-11-19", "2026-11-20", "UTC");
    // Late events mark the 19th and the 20th; both fail to roll up again.
    w.ingest(
        "late.ndjson",
        &[
            pageview("2026-11-19T11:00:00Z", "shop", "s2", "v2", "/late"),
            pageview("2026-11-20T11:00:00Z", "shop", "s2", "v2", "/late"),
        ],
    );
    w.db()
        .execute_batch(
            "CREATE TRIGGER fail_two_days BEFORE INSERT ON daily_rollups
             WHEN NEW.date IN ('2026-11-19', '2026-11-20')
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["2 of 3 days failed (2026-11-19, 2026-11-20); the other days are rolled up"],
    );
    assert_eq!(w.rollup("2026-11-21", "shop")["pageviews"], 1);
}
