//! `export-metrics`: CSV as exact text, JSON and NDJSON as full objects,
//! output files and directories, site selection, stdout for data only.

use serde_json::{Value, json};

use crate::common::*;

/// Two days of two sites with revenue and conversion that exercise the
/// CSV's number formats, rolled up.
fn exported_store() -> Workdir {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2026-11-20T10:01:00Z", "shop", "s2", "v2", "/b"),
            pageview("2026-11-20T10:02:00Z", "shop", "s3", "v3", "/a"),
            order("2026-11-20T10:03:00Z", "shop", "s1", "v1", Some(1999)),
            order("2026-11-20T10:04:00Z", "shop", "s1", "v1", Some(501)),
            custom("2026-11-20T10:05:00Z", "shop", "s2", "v2", "x"),
            pageview("2026-11-21T10:00:00Z", "shop", "s4", "v1", "/a")
                .referrer("https://www.bing.com/"),
            order("2026-11-21T10:01:00Z", "shop", "s4", "v1", Some(5)),
            order("2026-11-21T10:02:00Z", "shop", "s5", "v2", None),
            pageview("2026-11-21T10:03:00Z", "shop", "s6", "v3", "/c"),
            order("2026-11-21T11:00:00Z", "blog", "b1", "w1", Some(123_456)),
        ],
    );
    w.backfill("2026-11-15", "2026-11-21", "UTC");
    w
}

const EXPECTED_CSV: &str = "\
date,site,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,conversion_rate
2026-11-20,shop,3,1,3,3,2,25.00,0.3333
2026-11-21,blog,0,0,1,1,1,1234.56,1.0000
2026-11-21,shop,2,0,3,3,2,0.05,0.6667
";

#[test]
fn csv_is_exactly_the_contract_columns() {
    let w = exported_store();
    // No range: the 7 days ending yesterday.
    let out = w.cmd("export-metrics").output().unwrap();
    assert_exit(&out, 0);
    assert_text(&stdout(&out), EXPECTED_CSV);
    let out = w
        .cmd("export-metrics")
        .args(["--format", "csv", "--days", "2"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_text(&stdout(&out), EXPECTED_CSV);
}

#[test]
fn json_and_ndjson_carry_the_full_rollups() {
    let w = exported_store();
    let out = w
        .cmd("export-metrics")
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let rows: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let rows = rows.as_array().expect("a JSON array").clone();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "conversion_rate",
                "custom_events",
                "date",
                "orders",
                "pageviews",
                "revenue_cents",
                "site",
                "top_events",
                "top_pages",
                "top_referrers",
                "unique_sessions",
                "unique_visitors"
            ]
        );
    }
    assert_json(
        &rows[2],
        &json!({
            "date": "2026-11-21", "site": "shop",
            "pageviews": 2, "custom_events": 0, "orders": 2, "revenue_cents": 5,
            "unique_visitors": 3, "unique_sessions": 3, "conversion_rate": 2.0 / 3.0,
            "top_pages": [{"item": "/a", "count": 1}, {"item": "/c", "count": 1}],
            "top_referrers": [{"item": "bing.com", "count": 1}, {"item": "direct", "count": 1}],
            "top_events": []
        }),
    );

    let out = w
        .cmd("export-metrics")
        .args(["--format", "ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 3, "one object per line:\n{text}");
    assert_json(&Value::Array(parse_ndjson(&text)), &Value::Array(rows));
}

/// The names of the files in a directory, sorted.
fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn output_and_output_dir_write_files() {
    let w = exported_store();
    let out = w
        .cmd("export-metrics")
        .args(["--output", "out/metrics.csv"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(out.stdout.is_empty(), "stdout must be empty with --output");
    assert_text(&w.read("out/metrics.csv"), EXPECTED_CSV);

    let out = w
        .cmd("export-metrics")
        .args([
            "--output",
            "-",
            "--start",
            "2026-11-20",
            "--end",
            "2026-11-21",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_text(&stdout(&out), EXPECTED_CSV);

    for format in ["csv", "json", "ndjson"] {
        let out = w
            .cmd("export-metrics")
            .args(["--format", format, "--output-dir", "exports"])
            .args(["--start", "2026-11-20", "--end", "2026-11-21"])
            .output()
            .unwrap();
        assert_exit(&out, 0);
        assert!(out.stdout.is_empty());
    }
    assert_eq!(
        file_names(&w.path("exports")),
        [
            "metrics-20261120-20261121.csv",
            "metrics-20261120-20261121.json",
            "metrics-20261120-20261121.ndjson"
        ],
        "exactly the three files, no temporary file left"
    );
    assert_text(
        &w.read("exports/metrics-20261120-20261121.csv"),
        EXPECTED_CSV,
    );
    let json: Value =
        serde_json::from_str(&w.read("exports/metrics-20261120-20261121.json")).unwrap();
    assert_eq!(json.as_array().map(|a| a.len()), Some(3));
}

#[test]
fn site_flag_selects_one_site() {
    let w = exported_store();
    let out = w
        .cmd("export-metrics")
        .args(["--site", "blog"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_text(
        &stdout(&out),
        "date,site,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,conversion_rate\n\
         2026-11-21,blog,0,0,1,1,1,1234.56,1.0000\n",
    );
    let out = w
        .cmd("export-metrics")
        .args(["--site", "nope"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(out.stdout.is_empty());
    assert_stderr_has(&out, &["--site nope"]);
}

#[test]
fn stdout_carries_only_the_data() {
    let w = exported_store();
    let out = w
        .cmd("export-metrics")
        .args(["--format", "json", "-v"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    serde_json::from_slice::<Value>(&out.stdout).expect("stdout is pure JSON");
    assert_stderr_has(
        &out,
        &["export-metrics info: exported 3 rows (2026-11-15 to 2026-11-21) to stdout"],
    );
}

#[test]
fn an_empty_range_is_a_warning_with_only_the_header() {
    let w = exported_store();
    let out = w
        .cmd("export-metrics")
        .args(["--start", "2026-10-01", "--end", "2026-10-02"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert_text(
        &stdout(&out),
        "date,site,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,conversion_rate\n",
    );
    assert_stderr_has(&out, &["no rollups in that range"]);
}

#[test]
fn a_missing_store_exits_2_and_is_not_created() {
    let w = Workdir::new();
    let out = w.cmd("export-metrics").output().unwrap();
    assert_exit(&out, 2);
    assert!(out.stdout.is_empty());
    assert_stderr_has(
        &out,
        &[&format!("the store {} does not exist", w.db.display())],
    );
    assert!(!w.db.exists(), "export-metrics created the store");
}
