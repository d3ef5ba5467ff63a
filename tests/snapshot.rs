//! `snapshot`: the four categories with their changes, the summary equal
//! to the sums of the sites, a broken source leaving one category out, and
//! a day without rollups.

use serde_json::{Value, json};

use crate::common::*;

/// Two sites over four days, rolled up, with every session closed as
/// cleanup-sessions would (ended_ts = the last activity).
fn store() -> Workdir {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-18T10:00:00Z", "shop", "s0", "v0", "/a"),
            order("2026-11-18T10:01:00Z", "shop", "s0", "v0", Some(2000)),
            pageview("2026-11-20T08:00:00Z", "blog", "b1", "w1", "/post"),
            custom("2026-11-20T08:02:00Z", "blog", "b1", "w1", "share"),
            pageview("2026-11-20T09:00:00Z", "shop", "s1", "v1", "/a"),
            order("2026-11-20T09:01:00Z", "shop", "s1", "v1", Some(1000)),
            pageview("2026-11-20T09:30:00Z", "shop", "s2", "v2", "/b"),
            pageview("2026-11-21T10:00:00Z", "shop", "s3", "v1", "/a")
                .referrer("https://www.google.com/search"),
            order("2026-11-21T10:05:00Z", "shop", "s3", "v1", Some(1500)),
            pageview("2026-11-21T11:00:00Z", "shop", "s4", "v3", "/a"),
            order("2026-11-21T11:10:00Z", "shop", "s4", "v3", Some(500)),
            pageview("2026-11-21T12:00:00Z", "shop", "s5", "v4", "/c"),
            pageview("2026-11-21T12:00:00Z", "blog", "b2", "w2", "/post"),
            custom("2026-11-21T12:01:00Z", "blog", "b2", "w2", "share"),
            custom("2026-11-21T12:02:00Z", "blog", "b2", "w2", "share"),
            custom("2026-11-21T12:03:00Z", "blog", "b2", "w2", "like"),
        ],
    );
    w.backfill("2026-11-14", "2026-11-21", "UTC");
    w.db()
        .execute_batch("UPDATE sessions SET ended_ts = last_ts")
        .unwrap();
    w
}

fn snapshot(w: &Workdir, args: &[&str]) -> std::process::Output {
    w.cmd("snapshot").args(args).output().expect("run snapshot")
}

fn read_snapshot(w: &Workdir, date: &str) -> Value {
    let text = w.read(&format!("artifacts/snapshots/{date}.json"));
    serde_json::from_str(&text).expect("the snapshot is JSON")
}

#[test]
fn a_snapshot_holds_the_four_categories_with_their_changes() {
    let w = store();
    let out = snapshot(&w, &[]);
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["snapshot of 2026-11-21: 2 sites, 4 of 4 categories"],
    );
    let s = read_snapshot(&w, "2026-11-21");
    assert_eq!(s["date"], "2026-11-21");
    assert_eq!(s["timezone"], "UTC");
    assert_eq!(s["generated_at"], NOW);
    assert_json(&s["errors"], &json!([]));
    assert_json(
        &s["summary"],
        &json!({"revenue": 20.0, "orders": 2, "sessions": 4, "visitors": 4, "pageviews": 4,
                "conversion_rate": 0.5}),
    );

    let m = &s["metrics"];
    // The shop against 11-20 and the mean of 11-18, 11-19 (zeros) and 11-20.
    assert_json(
        &m["revenue"]["sites"]["shop"]["revenue"],
        &json!({"value": 20.0, "day_before": 10.0,
                "vs_day_before": {"absolute": 10.0, "percent": 100.0},
                "mean_7d": 10.0, "mean_7d_days": 3,
                "vs_mean_7d": {"absolute": 10.0, "percent": 100.0}}),
    );
    assert_json(
        &m["revenue"]["sites"]["shop"]["orders"]["vs_mean_7d"],
        &json!({"absolute": 1.3333, "percent": 200.0}),
    );
    assert_eq!(
        m["revenue"]["sites"]["shop"]["average_order_value"]["value"],
        10.0
    );
    // No revenue before either: the change is 0, its percent null.
    assert_json(
        &m["revenue"]["sites"]["blog"]["revenue"],
        &json!({"value": 0.0, "day_before": 0.0,
                "vs_day_before": {"absolute": 0.0, "percent": null},
                "mean_7d": 0.0, "mean_7d_days": 1,
                "vs_mean_7d": {"absolute": 0.0, "percent": null}}),
    );
    assert_eq!(m["revenue"]["all"]["revenue"]["day_before"], 10.0);
    assert_eq!(
        m["conversion"]["sites"]["shop"]["conversion_rate"]["value"],
        0.6667
    );
    assert_eq!(m["conversion"]["all"]["conversion_rate"]["value"], 0.5);

    let shop = &m["traffic"]["sites"]["shop"];
    assert_eq!(shop["sessions"]["value"], 3.0);
    assert_eq!(shop["pages_per_session"]["value"], 1.0);
    assert_json(
        &shop["top_pages"],
        &json!([{"item": "/a", "count": 2}, {"item": "/c", "count": 1}]),
    );
    assert_json(
        &shop["top_referrers"],
        &json!([{"item": "direct", "count": 2}, {"item": "google.com", "count": 1}]),
    );
    assert!(m["traffic"]["all"].get("top_pages").is_none());

    let shop = &m["engagement"]["sites"]["shop"];
    // v1 came back on 11-21; sessions of 300, 600 and 0 s against 60 and
    // 0 s the day before and a single 60 s session on 11-18.
    assert_eq!(shop["returning_visitors"]["value"], 1.0);
    assert_eq!(shop["new_visitors"]["value"], 2.0);
    assert_json(
        &shop["average_session_seconds"],
        &json!({"value": 300.0, "day_before": 30.0,
                "vs_day_before": {"absolute": 270.0, "percent": 900.0},
                "mean_7d": 45.0, "mean_7d_days": 2,
                "vs_mean_7d": {"absolute": 255.0, "percent": 566.67}}),
    );
    assert_json(&shop["events_by_name"], &json!([]));
    let blog = &m["engagement"]["sites"]["blog"];
    assert_json(
        &blog["custom_events"]["vs_day_before"],
        &json!({"absolute": 2.0, "percent": 200.0}),
    );
    let names = json!([{"name": "share", "count": 2}, {"name": "like", "count": 1}]);
    assert_json(&blog["events_by_name"], &names);
    assert_json(
        &blog["top_events"],
        &json!([{"item": "share", "count": 2}, {"item": "like", "count": 1}]),
    );
    let all = &m["engagement"]["all"];
    assert_json(&all["events_by_name"], &names);
    assert_eq!(all["average_session_seconds"]["value"], 270.0);
}

#[test]
fn the_summary_equals_the_sums_of_the_sites() {
    let w = Workdir::new();
    let events = generate_events(&w);
    let out = w.cmd("ingest").arg(&events).output().unwrap();
    assert_exit(&out, 0);
    w.backfill("2026-11-14", "2026-11-21", "UTC");
    assert_exit(&snapshot(&w, &[]), 0);
    let s = read_snapshot(&w, "2026-11-21");
    let sum = |category: &str, figure: &str| -> f64 {
        let sites = s["metrics"][category]["sites"].as_object().unwrap();
        assert!(sites.len() >= 2, "{sites:?}");
        sites
            .values()
            .map(|site| site[figure]["value"].as_f64().unwrap())
            .sum()
    };
    let summary = &s["summary"];
    let cents = |v: f64| (v * 100.0).round() as i64;
    assert_eq!(
        cents(summary["revenue"].as_f64().unwrap()),
        cents(sum("revenue", "revenue"))
    );
    for (key, category) in [
        ("orders", "revenue"),
        ("sessions", "traffic"),
        ("visitors", "traffic"),
        ("pageviews", "traffic"),
    ] {
        assert_eq!(summary[key].as_f64().unwrap(), sum(category, key), "{key}");
        let all = s["metrics"][category]["all"][key]["value"]
            .as_f64()
            .unwrap();
        assert_eq!(all, sum(category, key), "all sites' {key}");
    }
    let rate = sum("conversion", "converting_sessions") / sum("traffic", "sessions");
    let summary_rate = summary["conversion_rate"].as_f64().unwrap();
    assert!(
        (summary_rate - rate).abs() < 1e-4,
        "{summary_rate} vs {rate}"
    );
}

/// A week of generated events for several sites, written to a file.
fn generate_events(w: &Workdir) -> std::path::PathBuf {
    let path = w.path("generated.ndjson");
    let out = w
        .cmd("generate-events")
        .args(["--days", "8", "--events-per-day", "400", "--output"])
        .arg(&path)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    path
}

#[test]
fn a_broken_source_leaves_its_category_out_and_exits_1() {
    let w = store();
    w.db()
        .execute_batch("ALTER TABLE sessions RENAME TO sessions_gone")
        .unwrap();
    let out = snapshot(&w, &[]);
    assert_exit(&out, 1);
    assert_stderr_has(&out, &["3 of 4 categories", "engagement left out"]);
    let s = read_snapshot(&w, "2026-11-21");
    let mut categories: Vec<&String> = s["metrics"].as_object().unwrap().keys().collect();
    categories.sort();
    assert_eq!(categories, ["conversion", "revenue", "traffic"]);
    let errors = s["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["category"], "engagement");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "cannot read returning visitors and session durations: no such table: sessions"
        ),
        "{message}"
    );
    assert_eq!(s["summary"]["revenue"], 20.0);

    // health-check reads a partial snapshot as a warning.
    let out = w
        .cmd("health-check")
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "snapshot")
        .unwrap();
    assert_eq!(check["status"], "warning");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("2026-11-21.json is partial: engagement: cannot read returning visitors"),
        "{check}"
    );
}

#[test]
fn raw_events_deleted_by_retention_leave_engagement_out() {
    let w = store();
    // The day before lost its raw events: it drops out of the comparison.
    w.db()
        .execute(
            "DELETE FROM events WHERE ts >= ?1 AND ts < ?2",
            [ms("2026-11-20T00:00:00Z"), ms("2026-11-21T00:00:00Z")],
        )
        .unwrap();
    assert_exit(&snapshot(&w, &[]), 0);
    let s = read_snapshot(&w, "2026-11-21");
    let seconds = &s["metrics"]["engagement"]["sites"]["shop"]["average_session_seconds"];
    assert_eq!(seconds["day_before"], Value::Null);
    assert_eq!(seconds["mean_7d"], 60.0);

    // The day itself: engagement cannot be computed from the rollups alone.
    w.db()
        .execute(
            "DELETE FROM events WHERE ts >= ?1",
            [ms("2026-11-21T00:00:00Z")],
        )
        .unwrap();
    let out = snapshot(&w, &[]);
    assert_exit(&out, 1);
    let s = read_snapshot(&w, "2026-11-21");
    assert!(s["metrics"].get("engagement").is_none());
    let message = s["errors"][0]["message"].as_str().unwrap();
    assert!(message.ends_with("the raw events of 2026-11-21 are gone (retention keeps only recent days): only the rollups' figures remain"), "{message}");
}

#[test]
fn a_day_without_rollups_exits_2_with_the_fix() {
    let w = store();
    let out = snapshot(&w, &["--date", "2026-11-22"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["no rollups for 2026-11-22: run aggregate first"]);
    assert!(!w.path("artifacts/snapshots/2026-11-22.json").exists());

    // Another day than yesterday, given with --date.
    let out = snapshot(&w, &["--date", "2026-11-20"]);
    assert_exit(&out, 0);
    assert_eq!(read_snapshot(&w, "2026-11-20")["summary"]["revenue"], 10.0);

    let out = snapshot(&w, &["--date", "21.11.2026"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["--date '21.11.2026' is not a valid date"]);
}

#[test]
fn a_missing_store_is_an_error_and_not_created() {
    let w = Workdir::new();
    let out = snapshot(&w, &[]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["does not exist"]);
    assert!(!w.db.exists());
}
