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

mod days;
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
