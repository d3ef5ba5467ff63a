//! `sampling-guard`: a normal week passes, each planted incident is flagged
//! at its severity and exit code, short histories are skipped with a reason,
//! bounds and holidays apply, `--start/--end` writes a proof per day and a
//! table, the proof has the contract's shape, and bad input exits 2; a
//! small shop's partial checkout break warns (`small_shop`).
//!
//! The stores come from the real `generate-events`, `ingest` and `backfill`.
//! Each is built once per test run and copied into every test's own
//! directory, so that the tests stay fast and never share a store.

use std::collections::BTreeSet;
use std::process::Output;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::common::*;

mod small_shop;

/// Columns of the `--start/--end` table on stdout.
const TABLE_HEADER: &str = "date\tsite\tcheck\tstatus\tmessage\n";

/// The six checks of a site, in the order of the proof.
const CHECK_NAMES: [&str; 6] = [
    "Revenue Range",
    "Revenue Trend",
    "Conversion Rate Range",
    "Conversion Rate Trend",
    "Sessions Range",
    "Sessions Trend",
];

/// The proof as the contract describes it, plus the detector's history
/// length and expected value (which the contract leaves open).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Proof {
    status: String,
    date: String,
    timezone: String,
    generated_at: String,
    checks: Vec<Check>,
    anomalies: Vec<Check>,
    summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Check {
    site: String,
    name: String,
    metric: String,
    kind: String,
    status: String,
    value: f64,
    expected: Option<Expected>,
    expected_value: Option<f64>,
    history_days: usize,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
struct Expected {
    low: f64,
    high: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
struct Summary {
    checks: usize,
    passed: usize,
    warnings: usize,
    failures: usize,
    skipped: usize,
}

// --- stores ---

/// A store built once by `build`, copied into a fresh working directory.
fn copy_of(template: &'static OnceLock<Vec<u8>>, build: fn(&Workdir)) -> Workdir {
    let bytes = template.get_or_init(|| {
        let w = Workdir::new();
        build(&w);
        // One file must hold the whole store: fold the WAL into it.
        w.db()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint the store");
        std::fs::read(&w.db).expect("read the built store")
    });
    let w = Workdir::new();
    std::fs::write(&w.db, bytes).expect("copy the store");
    w
}

/// Generate events with `args`, ingest them and roll up `start..=end`.
fn build_store(w: &Workdir, args: &[&str], start: &str, end: &str) {
    let events = w.path("events.ndjson");
    let out = w
        .cmd("generate-events")
        .args(["--no-ids", "--output"])
        .arg(&events)
        .args(args)
        .output()
        .expect("run generate-events");
    assert_exit(&out, 0);
    let out = w.cmd("ingest").arg(&events).output().expect("run ingest");
    assert_exit(&out, 0);
    w.backfill(start, end, "UTC");
}

/// Nine weeks (2026-09-20 to 2026-11-21) of a shop and a blog: a normal
/// week 11-08..11-14, then a ×3 spike at the blog on 11-17, a ×0.35 dip at
/// the shop on 11-19 and a shop outage on 11-21 (yesterday for `NOW`).
fn two_sites() -> Workdir {
    static STORE: OnceLock<Vec<u8>> = OnceLock::new();
    copy_of(&STORE, |w| {
        build_store(
            w,
            &[
                "--days",
                "63",
                "--events-per-day",
                "1500",
                "--sites",
                "shop,blog",
                "--incident",
                "2026-11-17:traffic:3@blog",
                "--incident",
                "2026-11-19:traffic:0.35@shop",
                "--incident",
                "2026-11-21:outage@shop",
            ],
            "2026-09-20",
            "2026-11-21",
        )
    })
}

/// Two weeks (2026-11-07 to 2026-11-21) of a busy shop (about 2,400
/// sessions and 60 orders a day: enough for a day without orders to be
/// far outside noise) whose checkout breaks on 11-21. Its early days are
/// the short histories.
fn busy_shop() -> Workdir {
    static STORE: OnceLock<Vec<u8>> = OnceLock::new();
    copy_of(&STORE, |w| {
        build_store(
            w,
            &[
                "--days",
                "15",
                "--events-per-day",
                "10000",
                "--sites",
                "shop",
                "--incident",
                "2026-11-21:checkout-break",
            ],
            "2026-11-07",
            "2026-11-21",
        )
    })
}

// --- running and reading ---

fn guard(w: &Workdir, args: &[&str]) -> Output {
    w.cmd("sampling-guard")
        .args(args)
        .output()
        .expect("run sampling-guard")
}

/// The proof of `date` (YYYY-MM-DD), parsed and checked for consistency.
#[track_caller]
fn read_proof(w: &Workdir, date: &str) -> Proof {
    let name = format!(
        "artifacts/sampling-proofs/sampling-proof-{}.json",
        date.replace('-', "")
    );
    let text = w.read(&name);
    let proof: Proof =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not a proof: {e}"));
    assert_consistent(&proof);
    proof
}

/// What the contract promises about a proof's parts: the anomalies are the
/// warn and fail checks, the summary counts the checks, the status is the
/// worst of them (skipped counts as pass).
#[track_caller]
fn assert_consistent(proof: &Proof) {
    let count = |status: &str| proof.checks.iter().filter(|c| c.status == status).count();
    assert_eq!(
        proof.summary,
        Summary {
            checks: proof.checks.len(),
            passed: count("pass"),
            warnings: count("warn"),
            failures: count("fail"),
            skipped: count("skipped"),
        },
        "{proof:#?}"
    );
    let anomalies: Vec<Check> = proof
        .checks
        .iter()
        .filter(|c| c.status == "warn" || c.status == "fail")
        .cloned()
        .collect();
    assert_eq!(proof.anomalies, anomalies);
    let worst = if count("fail") > 0 {
        "fail"
    } else if count("warn") > 0 {
        "warn"
    } else {
        "pass"
    };
    assert_eq!(proof.status, worst);
}

#[track_caller]
fn find<'a>(proof: &'a Proof, site: &str, name: &str) -> &'a Check {
    proof
        .checks
        .iter()
        .find(|c| c.site == site && c.name == name)
        .unwrap_or_else(|| panic!("no {name} for {site} in {proof:#?}"))
}

/// Assert a check's status and a part of its message.
#[track_caller]
fn assert_check(check: &Check, status: &str, fragment: &str) {
    assert!(
        check.status == status && check.message.contains(fragment),
        "expected {status} with {fragment:?} in the message, got {check:#?}"
    );
}

/// The exit code a proof's status calls for.
fn exit_code_of(proof: &Proof) -> i32 {
    match proof.status.as_str() {
        "fail" => 2,
        "warn" => 1,
        _ => 0,
    }
}

/// Status, exit code, records and message of the newest sampling-guard run.
fn last_run(w: &Workdir) -> Vec<String> {
    let rows = w.sql_rows(
        "SELECT status, exit_code, records, message FROM job_runs
         WHERE job = 'sampling-guard' ORDER BY id DESC LIMIT 1",
    );
    rows.into_iter().next().expect("a sampling-guard run row")
}

/// The files in sampling-proofs/: only finished proofs, never a temporary
/// file left behind by an interrupted write.
#[track_caller]
fn proof_files(w: &Workdir) -> BTreeSet<String> {
    let dir = w.artifacts.join("sampling-proofs");
    let names: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in &names {
        let digits = name
            .strip_prefix("sampling-proof-")
            .and_then(|n| n.strip_suffix(".json"));
        assert!(
            digits.is_some_and(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit())),
            "unexpected file {name} in {}",
            dir.display()
        );
    }
    names
}

// --- judging days ---

#[test]
fn a_normal_week_passes_every_check() {
    let w = two_sites();
    let out = guard(&w, &["--start", "2026-11-08", "--end", "2026-11-14"]);
    assert_exit(&out, 0);
    assert_text(&stdout(&out), TABLE_HEADER);
    for day in 8..=14 {
        let date = format!("2026-11-{day:02}");
        let proof = read_proof(&w, &date);
        assert_eq!(proof.date, date);
        assert_eq!(proof.status, "pass");
        for site in ["blog", "shop"] {
            let names: Vec<&str> = proof
                .checks
                .iter()
                .filter(|c| c.site == site)
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(names, CHECK_NAMES, "{date} {site}");
        }
        // Nine weeks of history: the full method, trends included.
        let passed = proof.checks.iter().filter(|c| c.status == "pass").count();
        assert_eq!(passed, 12, "{date}: {proof:#?}");
    }

    let out = guard(&w, &["--date", "2026-11-14"]);
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["2026-11-14: pass, 12 checks: 12 passed, 0 warnings, 0 failures, 0 skipped; proof "],
    );
    assert_eq!(stdout(&out), "", "a single day prints no table");
    let run = last_run(&w);
    assert_eq!(run[..3], ["success", "0", "12"], "{run:?}");
}

#[test]
fn an_outage_yesterday_fails_with_exit_2() {
    let w = two_sites();
    let out = guard(&w, &[]);
    assert_exit(&out, 2);
    let proof = read_proof(&w, "2026-11-21");
    assert_eq!(proof.status, "fail");
    let sessions = find(&proof, "shop", "Sessions Range");
    assert_check(sessions, "fail", "sessions 0 after a typical ");
    assert_eq!(sessions.value, 0.0);
    // No sessions, no rate: the conversion checks say so instead of passing.
    for name in ["Conversion Rate Range", "Conversion Rate Trend"] {
        let check = find(&proof, "shop", name);
        assert_eq!(check.status, "skipped");
        assert_eq!(
            check.message,
            "conversion rate: skipped, no sessions on 2026-11-21"
        );
    }
    // The blog had an ordinary day.
    let blog_sessions = find(&proof, "blog", "Sessions Range");
    assert_eq!(blog_sessions.status, "pass", "{blog_sessions:#?}");
    assert_stderr_has(&out, &["2026-11-21: fail, 12 checks: "]);
    let run = last_run(&w);
    assert_eq!(run[1], "2", "{run:?}");
    assert!(run[3].starts_with("2026-11-21: fail, "), "{run:?}");
}

#[test]
fn a_dip_and_a_spike_are_flagged_on_sessions_range() {
    let w = two_sites();
    // (date, site, the least status of its Sessions Range)
    let cases = [
        ("2026-11-19", "shop", "warn"), // traffic ×0.35
        ("2026-11-17", "blog", "warn"), // traffic ×3
    ];
    for (date, site, least) in cases {
        let out = guard(&w, &["--date", date, "--site", site]);
        let proof = read_proof(&w, date);
        assert_exit(&out, exit_code_of(&proof));
        assert!(proof.checks.iter().all(|c| c.site == site));
        assert_eq!(proof.checks.len(), 6);
        let sessions = find(&proof, site, "Sessions Range");
        assert!(
            sessions.status == least || sessions.status == "fail",
            "{date} {site}: {sessions:#?}"
        );
        assert!(proof.anomalies.contains(sessions));
        assert!(
            sessions
                .message
                .ends_with(&format!(", {}", sessions.status)),
            "{}",
            sessions.message
        );
    }
}

#[test]
fn a_checkout_break_fails_revenue_and_conversion() {
    let w = busy_shop();
    let out = guard(&w, &["--date", "2026-11-21"]);
    assert_exit(&out, 2);
    let proof = read_proof(&w, "2026-11-21");
    let revenue = find(&proof, "shop", "Revenue Range");
    assert_eq!(revenue.status, "fail", "{revenue:#?}");
    assert_eq!(revenue.value, 0.0);
    let conversion = find(&proof, "shop", "Conversion Rate Range");
    assert_check(conversion, "fail", "conversion rate 0.00%, expected ");
    // Visitors still came.
    assert_eq!(find(&proof, "shop", "Sessions Range").status, "pass");
}

#[test]
fn a_short_history_is_skipped_with_the_reason() {
    let w = busy_shop();
    // Three days of history (11-07 to 11-09).
    let out = guard(&w, &["--date", "2026-11-10"]);
    assert_exit(&out, 0);
    let proof = read_proof(&w, "2026-11-10");
    assert_eq!(proof.status, "pass", "skipped counts as pass");
    assert_eq!(proof.summary.skipped, 6, "{proof:#?}");
    for check in &proof.checks {
        assert_eq!(check.expected, None);
        let reason = if check.kind == "range" {
            "skipped, range check needs 7 days of history, have 3"
        } else {
            "skipped, trend needs 35 days of history, have 3"
        };
        assert_check(check, "skipped", reason);
    }
}

#[test]
fn one_to_two_weeks_compare_with_the_same_weekday_last_week() {
    let w = busy_shop();
    // Ten days of history (11-07 to 11-16): last Tuesday is the reference.
    let out = guard(&w, &["--date", "2026-11-17"]);
    assert_exit(&out, 0);
    let proof = read_proof(&w, "2026-11-17");
    let sessions = find(&proof, "shop", "Sessions Range");
    assert_check(sessions, "pass", ", same weekday last week): ");
    assert_eq!(sessions.history_days, 10);
    let last_week = w.rollup("2026-11-10", "shop")["unique_sessions"]
        .as_f64()
        .unwrap();
    let expected = sessions.expected_value.unwrap();
    assert!(
        (expected - last_week).abs() < 1e-6,
        "{expected} vs {last_week}"
    );
    assert_eq!(find(&proof, "shop", "Sessions Trend").status, "skipped");
}

#[test]
fn holidays_are_left_out_of_baselines() {
    let w = busy_shop();
    // The reference day of 11-17 (see above) declared a holiday: no
    // reference is left, and the holiday is not history either.
    let config = w.write("holidays.toml", "[guard]\nholidays = [\"2026-11-10\"]\n");
    let out = guard(
        &w,
        &["--config", config.to_str().unwrap(), "--date", "2026-11-17"],
    );
    assert_exit(&out, 0);
    let proof = read_proof(&w, "2026-11-17");
    let sessions = find(&proof, "shop", "Sessions Range");
    assert_eq!(sessions.status, "skipped");
    assert_eq!(sessions.history_days, 9);
    assert_eq!(
        sessions.message,
        format!(
            "sessions {}: skipped, no usable day on the same weekday last week (2026-11-10)",
            thousands(sessions.value)
        )
    );

    let bad = w.write("bad-holiday.toml", "[guard]\nholidays = [\"2026-13-01\"]\n");
    let out = guard(
        &w,
        &["--config", bad.to_str().unwrap(), "--date", "2026-11-17"],
    );
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["guard.holidays: \"2026-13-01\" is not a date as YYYY-MM-DD"],
    );
}

#[test]
fn configured_bounds_fail_a_day_outside_them() {
    let w = two_sites();
    let rollup = w.rollup("2026-11-14", "shop");
    let revenue = rollup["revenue_cents"].as_f64().unwrap() / 100.0;
    assert!(revenue > 10.0, "{rollup}");
    // 11-14 passes without bounds (the normal week).
    let config = w.write(
        "bounds.toml",
        &format!(
            "[guard.sessions]\nmin = 1000\n\n[guard.revenue]\nmax = {}\n",
            revenue / 2.0
        ),
    );
    let out = guard(
        &w,
        &[
            "--config",
            config.to_str().unwrap(),
            "--date",
            "2026-11-14",
            "--site",
            "shop",
        ],
    );
    assert_exit(&out, 2);
    let proof = read_proof(&w, "2026-11-14");
    let sessions = find(&proof, "shop", "Sessions Range");
    assert_eq!(sessions.status, "fail");
    assert_eq!(
        sessions.message,
        format!(
            "sessions {} is below the configured minimum 1,000: fail",
            thousands(sessions.value)
        )
    );
    let revenue_range = find(&proof, "shop", "Revenue Range");
    assert_check(revenue_range, "fail", " is above the configured maximum ");
    assert_eq!(find(&proof, "shop", "Conversion Rate Range").status, "pass");
}

#[test]
fn start_end_writes_a_proof_per_day_and_prints_the_table() {
    let w = two_sites();
    let out = guard(&w, &["--start", "2026-11-15", "--end", "2026-11-21"]);
    assert_exit(&out, 2);
    let days: Vec<String> = (15..=21).map(|d| format!("2026-11-{d}")).collect();
    let expected_files: BTreeSet<String> = days
        .iter()
        .map(|d| format!("sampling-proof-{}.json", d.replace('-', "")))
        .collect();
    assert_eq!(proof_files(&w), expected_files);

    // The table is every anomaly of every proof, in date order.
    let mut table = TABLE_HEADER.to_string();
    for day in &days {
        for c in read_proof(&w, day).anomalies {
            table.push_str(&format!(
                "{day}\t{}\t{}\t{}\t{}\n",
                c.site, c.name, c.status, c.message
            ));
        }
    }
    assert_text(&stdout(&out), &table);
    for planted in [
        "2026-11-17\tblog\tSessions Range\t",
        "2026-11-19\tshop\tSessions Range\t",
        "2026-11-21\tshop\tSessions Range\tfail\t",
    ] {
        assert!(table.contains(planted), "{planted:?} missing:\n{table}");
    }
    assert_stderr_has(&out, &["7 days from 2026-11-15 to 2026-11-21: "]);
    let run = last_run(&w);
    assert_eq!(run[1..3], ["2", "84"], "{run:?}");
}

#[test]
fn the_proof_has_the_contract_shape() {
    let w = two_sites();
    let out = guard(&w, &["--date", "2026-11-14"]);
    assert_exit(&out, 0);
    assert_eq!(proof_files(&w).len(), 1);

    // The contract's keys, whatever else the proof carries.
    let path = w
        .artifacts
        .join("sampling-proofs/sampling-proof-20261114.json");
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for key in [
        "status",
        "date",
        "timezone",
        "generated_at",
        "checks",
        "anomalies",
        "summary",
    ] {
        assert!(raw.get(key).is_some(), "no {key} in {raw}");
    }
    for key in [
        "site", "name", "metric", "kind", "status", "value", "expected", "message",
    ] {
        assert!(raw["checks"][0].get(key).is_some(), "no {key} in a check");
    }

    let proof = read_proof(&w, "2026-11-14");
    assert_eq!(proof.date, "2026-11-14");
    assert_eq!(proof.timezone, "UTC");
    assert_eq!(proof.generated_at, NOW);
    assert_eq!(proof.checks.len(), 12);
    for check in &proof.checks {
        let (metric, kind) = match check.name.as_str() {
            "Revenue Range" => ("revenue", "range"),
            "Revenue Trend" => ("revenue", "trend"),
            "Conversion Rate Range" => ("conversion_rate", "range"),
            "Conversion Rate Trend" => ("conversion_rate", "trend"),
            "Sessions Range" => ("sessions", "range"),
            "Sessions Trend" => ("sessions", "trend"),
            other => panic!("unexpected check name {other:?}"),
        };
        assert_eq!((check.metric.as_str(), check.kind.as_str()), (metric, kind));
        let band = check.expected.expect("a band on a normal day");
        assert!(band.low <= band.high, "{check:#?}");
        assert!(!check.message.is_empty());
    }

    // Values in the metric's unit: currency, a fraction, a count.
    let rollup = w.rollup("2026-11-14", "shop");
    let value = |name: &str| find(&proof, "shop", name).value;
    assert_eq!(
        value("Revenue Range"),
        rollup["revenue_cents"].as_f64().unwrap() / 100.0
    );
    assert_eq!(
        value("Sessions Range"),
        rollup["unique_sessions"].as_f64().unwrap()
    );
    let rate = rollup["conversion_rate"].as_f64().unwrap();
    assert!((value("Conversion Rate Range") - rate).abs() < 1e-4);
}

// --- bad input ---

/// A store with events but no rollups.
fn unaggregated() -> Workdir {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/"),
            order("2026-11-21T10:05:00Z", "shop", "s1", "v1", Some(1500)),
        ],
    );
    w
}

#[test]
fn a_day_without_rollups_exits_2() {
    let w = unaggregated();
    let out = guard(&w, &[]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["no rollups for 2026-11-21: run aggregate first"]);
    assert!(!w.artifacts.join("sampling-proofs").exists());
    let run = last_run(&w);
    assert_eq!(run[..2], ["failed", "2"], "{run:?}");
    assert_eq!(run[3], "no rollups for 2026-11-21: run aggregate first");
}

#[test]
fn bad_thresholds_and_flags_exit_2_naming_them() {
    let w = unaggregated();
    let unparseable = w.write(
        "unparseable.toml",
        "[guard.sessions]\nwarn_score = \"high\"\n",
    );
    let contradictory = w.write(
        "contradictory.toml",
        "[guard.revenue]\nwarn_score = 5.0\nfail_score = 4.0\n",
    );
    let unparseable = unparseable.to_str().unwrap();
    let contradictory = contradictory.to_str().unwrap();
    assert_refused(
        &w,
        "sampling-guard",
        &[
            (
                &["--config", unparseable],
                "guard.sessions.warn_score: invalid type: string \"high\"",
            ),
            (
                &["--config", contradictory],
                "guard.revenue.fail_score must be greater than warn_score (4 <= 5)",
            ),
            (
                &["--site", "nope"],
                "--site nope: no such site in the store (known: shop)",
            ),
            (
                &[
                    "--date",
                    "2026-11-21",
                    "--start",
                    "2026-11-20",
                    "--end",
                    "2026-11-21",
                ],
                "give either --date or --start/--end",
            ),
            (
                &["--start", "2026-11-21", "--end", "2026-11-20"],
                "--start 2026-11-21 is after --end 2026-11-20",
            ),
        ],
    );
    assert!(!w.artifacts.join("sampling-proofs").exists());
}

/// A count as the proof's messages show it: "1,180".
fn thousands(value: f64) -> String {
    let digits = format!("{value:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn a_day_still_running_is_skipped_not_judged() {
    let w = Workdir::new();
    w.ingest(
        "today.ndjson",
        &[
            pageview("2026-11-20T10:00:00Z", "shop", "a", "v1", "/"),
            pageview("2026-11-21T10:00:00Z", "shop", "b", "v2", "/"),
            pageview("2026-11-22T04:00:00Z", "shop", "c", "v3", "/"),
        ],
    );
    assert_exit(
        &w.cmd("backfill").args(["--days", "2"]).output().unwrap(),
        0,
    );
    assert_exit(&w.cmd("aggregate").arg("--today").output().unwrap(), 0);
    let out = w
        .cmd("sampling-guard")
        .args(["--date", "2026-11-22"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let proof: serde_json::Value =
        serde_json::from_str(&w.read("artifacts/sampling-proofs/sampling-proof-20261122.json"))
            .unwrap();
    for check in proof["checks"].as_array().unwrap() {
        assert_eq!(check["status"], "skipped", "{check}");
        assert!(
            check["message"].as_str().unwrap().contains("had not ended"),
            "{check}"
        );
    }
}
