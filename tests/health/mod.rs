//! `health-check`: a healthy store in the three formats, the Nagios output
//! parsed as Monitoring Plugins output; `failures.rs` trips each check on
//! its own with its status and exit code, bad stores and the timeout.

mod failures;

use std::process::Output;

use serde_json::Value;

use crate::common::*;

/// Yesterday for [`NOW`].
const DAY: &str = "2026-11-21";
const PROOF: &str = "artifacts/sampling-proofs/sampling-proof-20261121.json";
const SNAPSHOT: &str = "artifacts/snapshots/2026-11-21.json";

/// A sampling proof in the contract's shape.
fn proof(status: &str) -> String {
    let anomalies = if status == "pass" {
        "[]".to_string()
    } else {
        format!(
            r#"[{{"site": "shop", "name": "Revenue Range", "metric": "revenue", "kind": "range",
                 "status": "{status}", "value": 1.0, "expected": {{"low": 9.0, "high": 16.0}},
                 "message": "revenue far below its range"}}]"#
        )
    };
    format!(
        r#"{{"status": "{status}", "date": "{DAY}", "timezone": "UTC",
             "generated_at": "2026-11-22T05:00:00Z", "checks": [], "anomalies": {anomalies},
             "summary": {{"checks": 6, "passed": 6, "warnings": 0, "failures": 0, "skipped": 0}}}}"#
    )
}

/// A store where every scheduled job ran: the real ingest, backfill,
/// aggregate, export-metrics and snapshot, the jobs not built here as
/// run-log rows, and yesterday's proof written by hand.
fn healthy() -> Workdir {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-15T10:00:00Z", "shop", "s0", "v0", "/a"),
            pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2026-11-21T10:00:00Z", "shop", "s2", "v1", "/a"),
            order("2026-11-21T10:05:00Z", "shop", "s2", "v1", Some(1250)),
        ],
    );
    w.backfill("2026-11-15", DAY, "UTC");
    assert_exit(&w.cmd("aggregate").output().unwrap(), 0);
    let out = w
        .cmd("export-metrics")
        .arg("--output-dir")
        .arg(w.path("exports"))
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_exit(&w.cmd("snapshot").output().unwrap(), 0);
    for job in [
        "sampling-guard",
        "cleanup-sessions",
        "retention",
        "trending",
    ] {
        w.insert_run(job, "success", "2026-11-22T05:40:00Z", "done");
    }
    w.write(PROOF, &proof("pass"));
    w
}

fn health(w: &Workdir, args: &[&str]) -> Output {
    w.cmd("health-check").args(args).output().unwrap()
}

/// One item of Monitoring Plugins performance data.
#[derive(Debug, Clone, PartialEq)]
struct Perf {
    label: String,
    value: Option<f64>,
    uom: String,
    warn: Option<f64>,
    crit: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
}

/// Nagios output taken apart, checking the Monitoring Plugins format on
/// the way: `CRONLYTICS WORD - summary | 'label'=value[UOM];warn;crit;min;max ...`
/// then one line per check.
struct Nagios {
    status: String,
    summary: String,
    perf: Vec<Perf>,
    lines: Vec<String>,
}

fn parse_nagios(text: &str) -> Nagios {
    let mut lines = text.lines();
    let first = lines.next().expect("a first line");
    let rest = first
        .strip_prefix("CRONLYTICS ")
        .unwrap_or_else(|| panic!("first line {first:?}"));
    let (status, rest) = rest.split_once(" - ").expect("STATUS - summary");
    let (summary, perfdata) = rest.split_once(" | ").expect("summary | perfdata");
    assert!(!perfdata.contains('|'), "one | only: {first:?}");
    let mut perf = Vec::new();
    let mut chars = perfdata.chars().peekable();
    while chars.peek().is_some() {
        assert_eq!(chars.next(), Some('\''), "a quoted label in {perfdata:?}");
        let mut label = String::new();
        loop {
            match chars.next().expect("closing quote") {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                c => label.push(c),
            }
        }
        assert_eq!(chars.next(), Some('='), "= after {label:?}");
        let item: String = chars.by_ref().take_while(|c| *c != ' ').collect();
        let fields: Vec<&str> = item.split(';').collect();
        assert!(fields.len() <= 5, "{item:?}");
        let num = |s: &str| -> Option<f64> {
            (!s.is_empty()).then(|| s.parse().unwrap_or_else(|_| panic!("{s:?} in {item:?}")))
        };
        let (value, uom) = if fields[0] == "U" {
            (None, String::new())
        } else {
            let split = fields[0]
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .unwrap_or(fields[0].len());
            let (v, u) = fields[0].split_at(split);
            (num(v), u.to_string())
        };
        assert!(
            ["", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"].contains(&uom.as_str()),
            "unit {uom:?}"
        );
        let field = |i: usize| fields.get(i).and_then(|f| num(f));
        perf.push(Perf {
            label,
            value,
            uom,
            warn: field(1),
            crit: field(2),
            min: field(3),
            max: field(4),
        });
    }
    Nagios {
        status: status.to_string(),
        summary: summary.to_string(),
        perf,
        lines: lines.map(str::to_string).collect(),
    }
}

/// Run the three formats; the exit code, the JSON status and the Nagios
/// status word must agree. Returns the JSON report.
#[track_caller]
fn check_all_formats(w: &Workdir, extra: &[&str], code: i32) -> Value {
    let word = ["OK", "WARNING", "CRITICAL"][code as usize];
    let text = health(w, extra);
    assert_exit(&text, code);
    let last = stdout(&text).lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with(&format!("overall: {word} - ")), "{last}");

    let mut args = extra.to_vec();
    args.extend(["--format", "nagios"]);
    let out = health(w, &args);
    assert_exit(&out, code);
    let n = parse_nagios(&stdout(&out));
    assert_eq!(n.status, word, "{}", stdout(&out));

    let mut args = extra.to_vec();
    args.extend(["--format", "json"]);
    let out = health(w, &args);
    assert_exit(&out, code);
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(report["status"], word.to_lowercase());
    assert_eq!(report["generated_at"], NOW);
    assert_eq!(n.lines.len(), report["checks"].as_array().unwrap().len());
    report
}

/// The status and message of the check `name` in a JSON report.
#[track_caller]
fn check<'a>(report: &'a Value, name: &str) -> (&'a str, &'a str) {
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"));
    (
        c["status"].as_str().unwrap(),
        c["message"].as_str().unwrap(),
    )
}

/// Every check but `except` is ok.
#[track_caller]
fn others_ok(report: &Value, except: &[&str]) {
    for c in report["checks"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        if !except.contains(&name) {
            assert_eq!(c["status"], "ok", "{name}: {}", c["message"]);
        }
    }
}

/// Run the three formats expecting exit `code`, with `name` the only check
/// not ok, at `status`; returns its message.
#[track_caller]
fn only_failing(w: &Workdir, args: &[&str], code: i32, name: &str, status: &str) -> String {
    let report = check_all_formats(w, args, code);
    let (actual, message) = check(&report, name);
    assert_eq!(actual, status, "{name}: {message}");
    others_ok(&report, &[name]);
    message.to_string()
}

const CHECKS: [&str; 13] = [
    "store",
    "job:ingest",
    "job:aggregate",
    "job:sampling-guard",
    "job:snapshot",
    "job:export-metrics",
    "job:cleanup-sessions",
    "job:retention",
    "job:trending",
    "rollups",
    "proof",
    "snapshot",
    "artifacts",
];

#[test]
fn a_healthy_store_is_ok_in_all_three_formats() {
    let w = healthy();
    let report = check_all_formats(&w, &[], 0);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, CHECKS);
    others_ok(&report, &[]);

    let text = stdout(&health(&w, &[]));
    assert!(
        text.lines().take(13).all(|l| l.starts_with("[ok]")),
        "{text}"
    );
    assert!(
        text.contains("job:aggregate: last success 0 s ago at 2026-11-22T06:00:00Z (limit 36 h)")
    );
    assert!(text.contains("rollups: the newest complete rollup is 2026-11-21, 6 h behind"));

    let n = parse_nagios(&stdout(&health(&w, &["--format", "nagios"])));
    assert_eq!(n.summary, "13 checks ok");
    assert_eq!(n.lines[0].split_once(' ').unwrap().0, "OK");
    let perf = |label: &str| {
        n.perf
            .iter()
            .find(|p| p.label == label)
            .unwrap_or_else(|| panic!("no perfdata {label}: {:?}", n.perf))
            .clone()
    };
    let hours = |h: f64| Some(h * 3600.0);
    let age = perf("age_sampling-guard");
    assert_eq!(
        (age.value, age.uom.as_str(), age.warn, age.crit, age.min),
        (Some(1200.0), "s", hours(30.0), hours(30.0), Some(0.0))
    );
    assert_eq!(perf("age_export-metrics").crit, hours(192.0));
    let lag = perf("rollup_lag");
    assert_eq!(
        (lag.value, lag.uom.as_str(), lag.crit),
        (hours(6.0), "s", hours(36.0))
    );
    let size = perf("artifacts_size");
    assert_eq!(
        (size.uom.as_str(), size.warn, size.crit),
        ("B", Some(450e6), Some(500e6))
    );
    assert!(size.value.unwrap() > 0.0);
    let failing = perf("failing_checks");
    assert_eq!(
        (failing.value, failing.warn, failing.max),
        (Some(0.0), Some(0.0), Some(13.0))
    );
    assert_eq!(perf("critical_checks").crit, Some(0.0));
    // The store is left as it was; health-check logs its own run.
    assert_eq!(
        w.sql_i64("SELECT count(*) FROM job_runs WHERE job = 'health-check' AND exit_code = 0"),
        5
    );
}

/// The message of the check `name` from a JSON run with `args`.
fn message_of(w: &Workdir, name: &str, args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    let out = health(w, &args);
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    check(&report, name).1.to_string()
}

#[test]
fn a_passing_quick_check_is_kept_for_a_day() {
    let mut w = healthy();
    let store = w.db.display().to_string();
    let ran = format!("{store} is readable and passes quick_check (in ");
    assert!(message_of(&w, "store", &[]).starts_with(&ran));
    assert!(
        w.path("analytics.db.locks/health-quick-check.json")
            .exists()
    );
    assert_eq!(
        message_of(&w, "store", &[]),
        format!(
            "{store} is readable and passed quick_check 0 s ago, at {NOW} (checked every 24 h)"
        )
    );
    // A day later it runs again; with an interval of 0, on every run.
    w.now = "2026-11-23T06:00:00Z".to_string();
    assert!(message_of(&w, "store", &[]).starts_with(&ran));
    let every_run = w.short_retry_config("[health]\nquick_check_every_hours = 0\n");
    let every_run = ["--config", every_run.to_str().unwrap()];
    assert!(message_of(&w, "store", &every_run).starts_with(&ran));
    let off = w.short_retry_config("[health]\nquick_check = false\n");
    assert_eq!(
        message_of(&w, "store", &["--config", off.to_str().unwrap()]),
        format!("{store} is readable (quick_check is off in the config)")
    );
}
