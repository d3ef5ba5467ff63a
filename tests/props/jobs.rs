//! Where breakdowns, goals and gauges show besides the export: the
//! snapshot's categories and sampling-guard's goal checks; and retention
//! keeps their rows as it keeps the daily ones.

use super::*;

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

/// Retention deletes a day's raw events and keeps its breakdown, goal and
/// gauge rows; a backfill over that day leaves them as they are (it has no
/// events left to roll them up from).
#[test]
fn retention_keeps_breakdown_goal_and_gauge_rows_like_the_daily_ones() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\n\n[[goal]]\nname = \"Signup\"\nevent = \"signup\"\n",
    );
    let pro = json!({"plan": "pro"});
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-09T10:00:00Z", "shop", "s1", "v1", "/").props(pro.clone()),
            custom("2026-11-09T10:01:00Z", "shop", "s1", "v1", "signup").props(pro.clone()),
            pageview("2026-11-09T11:00:00Z", "shop", "s2", "v2", "/"),
            gauge("2026-11-09T12:00:00Z", "shop", "followers", 40.0),
            pageview("2026-11-20T10:00:00Z", "shop", "s3", "v3", "/").props(pro),
        ],
    );
    w.backfill("2026-11-09", "2026-11-20", "UTC");
    let exports = |w: &Workdir| {
        [
            &["--breakdown", "plan"][..],
            &["--goals"],
            &["--gauges"],
            &[],
        ]
        .map(|args| export_csv(w, "2026-11-09", "2026-11-09", args))
    };
    let before = exports(&w);
    assert!(
        before[0].ends_with("2026-11-09,shop,plan,pro,2,1,1,1,1,0,0.00\n"),
        "{}",
        before[0]
    );
    assert!(
        before[1].ends_with("2026-11-09,shop,Signup,1,1,0.5000,0.00\n"),
        "{}",
        before[1]
    );
    assert!(
        before[2].ends_with("2026-11-09,shop,followers,40,40,40,1\n"),
        "{}",
        before[2]
    );
    let out = w
        .cmd("retention")
        .args(["--days", "10", "--tz", "UTC"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(w.sql_i64("SELECT count(*) FROM events"), 1);
    assert_eq!(exports(&w), before);
    let out = w
        .cmd("backfill")
        .args([
            "--start",
            "2026-11-09",
            "--end",
            "2026-11-20",
            "--tz",
            "UTC",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["retention deleted their raw events, their rollups are kept"],
    );
    assert_eq!(exports(&w), before);
}
