//! The counts against GoAccess, the reference most users know: on the real
//! Apache log in ../shared/data (the issue's figures, and GoAccess run
//! here on it), and on a generated log with every class of request.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::*;

/// The real Apache log of the contract (elastic/examples, 10,000 lines).
fn apache_logs() -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/apache_logs");
    assert!(
        path.exists(),
        "the real Apache log is missing: {}",
        path.display()
    );
    path
}

/// GoAccess's hits and unique visitors per day (YYYYMMDD) of `log`,
/// counting 4xx visitors as GoAccess does with `--4xx-to-unique-count`.
/// GoAccess must be installed (`.ci/run` installs it): a test without it
/// fails, naming it.
pub fn goaccess_per_day(log: &Path, extra: &[&str]) -> BTreeMap<String, (u64, u64)> {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = Command::new("goaccess")
        .arg(log)
        .args([
            "--log-format=COMBINED",
            "--4xx-to-unique-count",
            "--no-progress",
            "-o",
        ])
        .arg(&report)
        .args(extra)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run goaccess (install the Debian package goaccess): {e}")
        });
    assert!(
        out.status.success(),
        "goaccess failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    json["visitors"]["data"]
        .as_array()
        .expect("goaccess's visitors panel")
        .iter()
        .map(|day| {
            (
                day["data"].as_str().unwrap().to_string(),
                (
                    day["hits"]["count"].as_u64().unwrap(),
                    day["visitors"]["count"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

/// cronlytics' pageviews and unique visitors per day (YYYYMMDD) of the
/// rollups of `site` between `start` and `end`.
fn ours_per_day(w: &Workdir, site: &str, start: &str, end: &str) -> BTreeMap<String, (u64, u64)> {
    w.backfill(start, end, "UTC");
    w.rollups(start, end)
        .into_iter()
        .filter(|r| r["site"] == site)
        .map(|r| {
            (
                r["date"].as_str().unwrap().replace('-', ""),
                (
                    r["pageviews"].as_u64().unwrap(),
                    r["unique_visitors"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn days(rows: &[(&str, u64, u64)]) -> BTreeMap<String, (u64, u64)> {
    rows.iter()
        .map(|(d, h, v)| (d.to_string(), (*h, *v)))
        .collect()
}

/// With every request kept, the day's pageviews and unique visitors equal
/// GoAccess's hits and visitors: the issue's figures, and GoAccess run on
/// the same file here. With the defaults, the figures the README shows.
#[test]
fn the_real_apache_log_counts_as_goaccess_counts_it() {
    let w = Workdir::new();
    let out = w.ingest_log(&[
        apache_logs().to_str().unwrap(),
        "--format",
        "access-log",
        "--site",
        "example.org",
        "--keep",
        "all",
    ]);
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "stored 10,000 events, 0 duplicates, 0 rejected",
            "as combined (100 of the first 100 lines fit)",
        ],
    );
    let ours = ours_per_day(&w, "example.org", "2015-05-17", "2015-05-20");
    let issue = days(&[
        ("20150517", 1632, 365),
        ("20150518", 2893, 660),
        ("20150519", 2896, 586),
        ("20150520", 2579, 533),
    ]);
    assert_eq!(ours, issue);
    assert_eq!(ours, goaccess_per_day(&apache_logs(), &[]));

    let w = Workdir::new();
    let out = w.ingest_log(&[
        apache_logs().to_str().unwrap(),
        "--format",
        "access-log",
        "--site",
        "example.org",
    ]);
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "stored 1,692 events",
            "10,000 requests, left out: 3,010 bots, 1 methods, 79 errors, 42 redirects, 5,176 static",
        ],
    );
    let defaults = ours_per_day(&w, "example.org", "2015-05-17", "2015-05-20");
    assert_eq!(
        defaults,
        days(&[
            ("20150517", 267, 157),
            ("20150518", 472, 297),
            ("20150519", 550, 314),
            ("20150520", 403, 274)
        ])
    );
}

/// On a generated log with bots, assets, errors, redirects, other methods
/// and repeated lines, every request kept: the same hits and visitors per
/// day as GoAccess.
#[test]
fn a_generated_log_counts_as_goaccess_counts_it() {
    let w = Workdir::new();
    let out = w
        .cmd("generate-events")
        .args(["--format", "access-log", "--sites", "shop", "--days", "3"])
        .args([
            "--start",
            "2026-11-18",
            "--events-per-day",
            "3000",
            "--output",
            "gen.log",
        ])
        .output()
        .expect("run generate-events");
    assert_exit(&out, 0);
    let log = w.path("gen.log");
    let out = w.ingest_log(&["gen.log", "--site", "shop", "--keep", "all"]);
    assert_exit(&out, 0);
    // A crawler's request after the last page view may fall on the next day.
    let ours = ours_per_day(&w, "shop", "2026-11-18", "2026-11-21");
    let theirs = goaccess_per_day(&log, &[]);
    assert!(ours.len() >= 3, "{ours:?}");
    assert_eq!(ours, theirs);
    let lines = std::fs::read_to_string(&log).unwrap().lines().count() as u64;
    let kept: u64 = ours.values().map(|(hits, _)| hits).sum();
    assert_eq!(kept, lines);
}
