//! Each check failing on its own: stale, missing or failed jobs, a missing
//! or failing proof, rollups behind, corrupt JSON, the artifacts folder's
//! size or absence, a missing or foreign store, and the timeout.

use super::*;

#[test]
fn a_stale_job_is_critical() {
    let w = healthy();
    w.db()
        .execute(
            "UPDATE job_runs SET started_at = ?1, ended_at = ?1 WHERE job = 'aggregate'",
            [ms("2026-11-20T14:00:00Z")],
        )
        .unwrap();
    let message = only_failing(&w, &[], 2, "job:aggregate", "critical");
    assert!(
        message.starts_with("last success 40 h ago at 2026-11-20T14:00:00Z (limit 36 h); stale"),
        "{message}"
    );
    let n = parse_nagios(&stdout(&health(&w, &["--format", "nagios"])));
    assert_eq!(n.summary, "1 of 13 checks failing: job:aggregate");
    let age = n.perf.iter().find(|p| p.label == "age_aggregate").unwrap();
    assert_eq!(age.value, Some(40.0 * 3600.0));
    assert!(
        n.lines
            .contains(&format!("CRITICAL job:aggregate: {message}"))
    );
}

#[test]
fn a_job_that_never_ran_is_critical_unless_disabled() {
    let w = healthy();
    w.db()
        .execute_batch("DELETE FROM job_runs WHERE job = 'trending'")
        .unwrap();
    let message = only_failing(&w, &[], 2, "job:trending", "critical");
    assert!(message.starts_with("never ran (limit 3 h)"), "{message}");
    assert!(
        message.contains("[health.jobs.trending] enabled = false"),
        "{message}"
    );
    let n = parse_nagios(&stdout(&health(&w, &["--format", "nagios"])));
    let age = n.perf.iter().find(|p| p.label == "age_trending").unwrap();
    assert_eq!(age.value, None, "an age never measured is U");

    let config = w.short_retry_config("[health.jobs.trending]\nenabled = false\n");
    let config = config.to_str().unwrap();
    let report = check_all_formats(&w, &["--config", config], 0);
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "job:trending")
    );
}

#[test]
fn a_job_age_limit_is_configurable() {
    let w = healthy();
    // 20 minutes old against a limit of 6 minutes.
    let config = w.short_retry_config("[health.jobs.retention]\nmax_age_hours = 0.1\n");
    let message = only_failing(
        &w,
        &["--config", config.to_str().unwrap()],
        2,
        "job:retention",
        "critical",
    );
    assert!(
        message.contains("20 min ago") && message.contains("(limit 0.1 h)"),
        "{message}"
    );

    let bad = w.short_retry_config("[health.jobs.retension]\nenabled = false\n");
    let out = health(&w, &["--config", bad.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["retension"]);
}

#[test]
fn a_failed_run_after_the_last_success_is_a_warning() {
    let w = healthy();
    w.insert_run("retention", "failed", "2026-11-22T05:50:00Z", "disk full");
    w.insert_run("retention", "skipped", "2026-11-22T05:55:00Z", "locked");
    let message = only_failing(&w, &[], 1, "job:retention", "warning");
    assert!(
        message.ends_with("1 failed run(s) since, the newest at 2026-11-22T05:50:00Z: disk full"),
        "{message}"
    );

    // Failures without any success: never succeeded, critical.
    w.db()
        .execute_batch("DELETE FROM job_runs WHERE job = 'retention' AND status = 'success'")
        .unwrap();
    let report = check_all_formats(&w, &[], 2);
    let (_, message) = check(&report, "job:retention");
    assert!(
        message.starts_with("never succeeded (limit 192 h); 1 failed run(s)"),
        "{message}"
    );
}

#[test]
fn a_missing_proof_is_critical() {
    let w = healthy();
    std::fs::remove_file(w.path(PROOF)).unwrap();
    let message = only_failing(&w, &[], 2, "proof", "critical");
    assert!(
        message.ends_with(
            "sampling-proof-20261121.json is missing: run sampling-guard for 2026-11-21"
        ),
        "{message}"
    );

    // A sampling-guard the installation does not run has no proof to check.
    let config = w.short_retry_config("[health.jobs.sampling-guard]\nenabled = false\n");
    check_all_formats(&w, &["--config", config.to_str().unwrap()], 0);
}

#[test]
fn before_the_nightly_run_the_day_before_yesterdays_files_count() {
    let w = healthy();
    // sampling-guard last ran yesterday morning, for the day before: its
    // run today is still to come.
    w.db()
        .execute_batch("DELETE FROM job_runs WHERE job = 'sampling-guard'")
        .unwrap();
    w.insert_run("sampling-guard", "success", "2026-11-21T05:40:00Z", "done");
    std::fs::remove_file(w.path(PROOF)).unwrap();
    let earlier = "artifacts/sampling-proofs/sampling-proof-20261120.json";
    w.write(earlier, &proof("pass").replace(DAY, "2026-11-20"));
    let report = check_all_formats(&w, &[], 0);
    let (_, message) = check(&report, "proof");
    assert!(
        message.ends_with("sampling-proof-20261120.json: pass"),
        "{message}"
    );

    // Once it has run after midnight, yesterday's proof is due.
    w.insert_run("sampling-guard", "success", "2026-11-22T05:50:00Z", "done");
    let message = only_failing(&w, &[], 2, "proof", "critical");
    assert!(
        message.ends_with(
            "sampling-proof-20261121.json is missing: run sampling-guard for 2026-11-21"
        ),
        "{message}"
    );
}

#[test]
fn the_proofs_own_status_decides_its_check() {
    let w = healthy();
    w.write(PROOF, &proof("fail"));
    let message = only_failing(&w, &[], 2, "proof", "critical");
    assert!(
        message.ends_with(": fail; anomalies: shop Revenue Range (fail)"),
        "{message}"
    );

    w.write(PROOF, &proof("warn"));
    only_failing(&w, &[], 1, "proof", "warning");
}

#[test]
fn rollups_behind_are_critical() {
    let w = healthy();
    w.db()
        .execute_batch("DELETE FROM daily_rollups WHERE date >= '2026-11-20'")
        .unwrap();
    let message = only_failing(&w, &[], 2, "rollups", "critical");
    assert_eq!(
        message,
        "the newest complete rollup is 2026-11-19, 2 d 6 h behind (limit 36 h): run aggregate, or backfill the missing days"
    );
}

#[test]
fn a_corrupt_json_is_critical_naming_the_file() {
    let w = healthy();
    w.write(SNAPSHOT, "{\"date\": \"2026-11-21\", \"metr");
    let message = only_failing(&w, &[], 2, "snapshot", "critical");
    let path = w.path(SNAPSHOT).display().to_string();
    assert!(
        message.starts_with(&format!("{path} is not valid JSON (")),
        "{message}"
    );

    w.write(PROOF, "not json");
    let report = check_all_formats(&w, &[], 2);
    assert!(
        check(&report, "proof")
            .1
            .contains("sampling-proof-20261121.json is not valid JSON")
    );
}

#[test]
fn an_oversized_artifacts_dir_is_warning_then_critical() {
    let w = healthy();
    let out = health(&w, &["--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let size = report["checks"][12]["metrics"][0]["value"]
        .as_f64()
        .unwrap();

    // Between 90 % and 100 % of the limit: a warning.
    let config = w.short_retry_config(&format!(
        "[health]\nartifacts_max_mb = {}\n",
        size / 0.95 / 1e6
    ));
    only_failing(
        &w,
        &["--config", config.to_str().unwrap()],
        1,
        "artifacts",
        "warning",
    );

    let config = w.short_retry_config("[health]\nartifacts_max_mb = 0.0001\n");
    let message = only_failing(
        &w,
        &["--config", config.to_str().unwrap()],
        2,
        "artifacts",
        "critical",
    );
    assert!(
        message.contains("(limit 0.0001 MB): run retention"),
        "{message}"
    );
}

#[test]
fn a_missing_artifacts_dir_fails_only_the_checks_that_need_it() {
    let w = healthy();
    std::fs::remove_dir_all(&w.artifacts).unwrap();
    let report = check_all_formats(&w, &[], 2);
    for name in ["proof", "snapshot", "artifacts"] {
        let (status, message) = check(&report, name);
        assert_eq!(status, "critical", "{name}");
        assert!(message.contains("does not exist"), "{name}: {message}");
        assert!(
            message.contains(&w.artifacts.display().to_string()),
            "{message}"
        );
    }
    others_ok(&report, &["proof", "snapshot", "artifacts"]);
}

#[test]
fn a_missing_store_is_critical_naming_it_and_not_created() {
    let w = Workdir::new();
    let report = check_all_formats(&w, &[], 2);
    let (status, message) = check(&report, "store");
    assert_eq!(status, "critical");
    assert!(
        message.starts_with(&format!("the store {} does not exist", w.db.display())),
        "{message}"
    );
    assert!(!w.db.exists(), "health-check created the store");
    // The checks that do not need the store still ran.
    assert_eq!(check(&report, "artifacts").0, "critical");
    assert_eq!(report["checks"].as_array().unwrap().len(), 4);
}

#[test]
fn a_file_that_is_not_sqlite_is_critical() {
    let w = Workdir::new();
    let junk = "this is not sqlite at all, just text long enough to fill a header block of one hundred bytes.......";
    w.write("analytics.db", junk);
    let report = check_all_formats(&w, &[], 2);
    let (status, message) = check(&report, "store");
    assert_eq!(status, "critical");
    assert!(message.contains("is not an SQLite database"), "{message}");
    assert_eq!(w.read("analytics.db"), junk);
}

#[test]
fn past_the_timeout_it_exits_2() {
    let w = healthy();
    // A named pipe nobody writes to: reading the proof blocks for ever,
    // like a hung network file system.
    std::fs::remove_file(w.path(PROOF)).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(w.path(PROOF))
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    let out = health(&w, &["--timeout", "1", "--format", "nagios"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["health-check timed out after 1 s"]);
    let n = parse_nagios(&stdout(&out));
    assert_eq!(n.status, "CRITICAL");
    assert_eq!(n.summary, "1 of 1 checks failing: timeout");

    let out = health(&w, &["--timeout", "0"]);
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["--timeout 0: give a number of seconds above 0 and at most 3600"],
    );
}
