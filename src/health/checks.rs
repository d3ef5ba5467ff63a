//! The checks of `health-check`. None of them returns an error: not being
//! able to look (a missing store, an unreadable file) is itself the check's
//! critical reason, so one broken thing never hides the others.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use rusqlite::Connection;
use serde_json::Value;

use super::input::{CheckInput, ScheduledJob};
use super::integrity::store_check;
use super::report::{Check, PerfDatum, human_duration};
use crate::job::Severity;
use crate::store::{Store, rollups, runs};
use crate::time::{day_bounds_ms, rfc3339_ms, yesterday};
use crate::util::thousands;

/// Run every check, in the order they are reported.
pub(crate) fn run_checks(input: &CheckInput) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut last_success = HashMap::new();
    let critical = |message: String| Check::new("store", Severity::Critical, message);
    match Store::open_existing(&input.db, input.busy_timeout_ms, true) {
        // A due quick_check reads the whole file, the other checks a few
        // index pages: it runs on its own connection and thread meanwhile.
        Ok(store) => std::thread::scope(|scope| {
            let integrity = scope.spawn(|| store_check(input));
            for job in input.jobs.iter().filter(|j| j.enabled) {
                let history = runs::history(&store.conn, job.name);
                if let Ok(runs::JobHistory {
                    last_success_ms: Some(at),
                    ..
                }) = history
                {
                    last_success.insert(job.name, at);
                }
                checks.push(job_check(job, history, input.now_ms()));
            }
            checks.push(rollup_check(&store.conn, input));
            let store_check = integrity
                .join()
                .unwrap_or_else(|_| critical("quick_check stopped unexpectedly".to_string()));
            checks.insert(0, store_check);
        }),
        // Without a store the run-log and rollup checks cannot run: the
        // reason says so instead of repeating itself for each of them.
        Err(e) => checks.push(critical(format!(
            "{e:#} (the job and rollup checks need the store and did not run)"
        ))),
    }
    // The files of a job the installation does not run are not expected.
    let day = |job: &str| artifact_day(input, last_success.get(job).copied());
    if input.enabled("sampling-guard") {
        checks.push(proof_check(input, day("sampling-guard")));
    }
    if input.enabled("snapshot") {
        checks.push(snapshot_check(input, day("snapshot")));
    }
    checks.push(artifacts_check(input));
    checks
}

/// The day whose file a daily job should have left by now: yesterday once
/// the job has succeeded since yesterday ended, else the day before, so
/// that the hours between midnight and the job's run are not an alarm
/// every night (the job's own check reports a job that stopped running).
fn artifact_day(input: &CheckInput, last_success_ms: Option<i64>) -> NaiveDate {
    let yesterday = yesterday(input.now, input.tz);
    let (_, ended) = day_bounds_ms(yesterday, input.tz);
    match last_success_ms {
        Some(at) if at < ended => yesterday.pred_opt().unwrap_or(yesterday),
        _ => yesterday,
    }
}

/// What the run log says of one job: the newest successful run and the
/// failures after it.
/// The job's last success within its allowed age (critical otherwise, and
/// when it never succeeded); a failed run after that success is a warning.
fn job_check(
    job: &ScheduledJob,
    history: rusqlite::Result<runs::JobHistory>,
    now_ms: i64,
) -> Check {
    let name = format!("job:{}", job.name);
    let limit_s = (job.max_age_hours * 3600.0).round();
    let limit = format!("limit {} h", job.max_age_hours);
    let history = match history {
        Ok(h) => h,
        Err(e) => {
            return Check::new(
                name,
                Severity::Critical,
                format!("cannot read the run log: {e}"),
            );
        }
    };
    let age_s = history
        .last_success_ms
        .map(|ms| ((now_ms - ms).max(0) / 1000) as f64);
    let perf = PerfDatum {
        label: format!("age_{}", job.name),
        value: age_s,
        uom: "s",
        // A stale job is critical at once: both thresholds are the limit.
        warn: Some(limit_s),
        crit: Some(limit_s),
        min: Some(0.0),
        max: None,
    };
    // "N failed run(s) since" (a success) or "N failed run(s)" (none).
    let failures = |since: &str| {
        history.newest_failure.as_ref().map(|(at, message)| {
            format!(
                "{} failed run(s){since}, the newest at {}: {message}",
                history.failures_since,
                rfc3339_ms(*at)
            )
        })
    };
    let (status, message) = match (history.last_success_ms, age_s) {
        (Some(at), Some(age)) => {
            let last = format!(
                "last success {} ago at {} ({limit})",
                human_duration(age as i64),
                rfc3339_ms(at)
            );
            match failures(" since") {
                Some(failed) if age > limit_s => {
                    (Severity::Critical, format!("{last}; stale; {failed}"))
                }
                None if age > limit_s => (
                    Severity::Critical,
                    format!("{last}; stale: check its cron line and its log"),
                ),
                Some(failed) => (Severity::Warning, format!("{last}; {failed}")),
                None => (Severity::Ok, last),
            }
        }
        _ => match failures("") {
            Some(failed) => (
                Severity::Critical,
                format!("never succeeded ({limit}); {failed}"),
            ),
            None => (
                Severity::Critical,
                format!(
                    "never ran ({limit}): check its cron line, or set [health.jobs.{}] enabled = false if this installation does not run it",
                    job.name
                ),
            ),
        },
    };
    Check::new(name, status, message).with_perf(perf)
}

/// The newest complete rollup's day ended no longer ago than the limit
/// (whether `aggregate` or `backfill` wrote it).
fn rollup_check(conn: &Connection, input: &CheckInput) -> Check {
    let limit_s = (input.rollup_max_lag_hours * 3600.0).round();
    let limit = format!("limit {} h", input.rollup_max_lag_hours);
    // The date index read backwards: today's incomplete rows are skipped.
    let newest = rollups::newest_complete_date(conn);
    let mut perf = PerfDatum {
        label: "rollup_lag".to_string(),
        value: None,
        uom: "s",
        warn: Some(limit_s),
        crit: Some(limit_s),
        min: Some(0.0),
        max: None,
    };
    let critical = |m: String| Check::new("rollups", Severity::Critical, m);
    let date = match newest {
        Ok(Some(text)) => match text.parse::<NaiveDate>() {
            Ok(d) => d,
            Err(_) => return critical(format!("a rollup row has a bad date '{text}'")),
        },
        Ok(None) => {
            return critical(format!(
                "no complete rollups in the store ({limit}): run aggregate or backfill"
            ))
            .with_perf(perf);
        }
        Err(e) => return critical(format!("cannot read the rollups: {e}")),
    };
    let (_, end_ms) = day_bounds_ms(date, input.tz);
    let lag_s = ((input.now_ms() - end_ms).max(0) / 1000) as f64;
    perf.value = Some(lag_s);
    let what = format!(
        "the newest complete rollup is {date}, {} behind ({limit})",
        human_duration(lag_s as i64)
    );
    let check = if lag_s > limit_s {
        critical(format!(
            "{what}: run aggregate, or backfill the missing days"
        ))
    } else {
        Check::new("rollups", Severity::Ok, what)
    };
    check.with_perf(perf)
}

/// Read an artifact of `job` for `date` as JSON; the error is the check's
/// critical reason, naming the file and what to run.
fn read_artifact(
    input: &CheckInput,
    path: &Path,
    job: &str,
    date: NaiveDate,
) -> Result<Value, String> {
    if !input.artifacts.is_dir() {
        return Err(format!(
            "the artifacts directory {} does not exist: check --artifacts, and that {job} runs",
            input.artifacts.display()
        ));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{} is missing: run {job} for {date}",
                path.display()
            ));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not valid JSON ({e}): run {job} for {date} again",
            path.display()
        )
    })?;
    match value.get("date").and_then(Value::as_str) {
        Some(d) if d == date.to_string() => Ok(value),
        other => Err(format!(
            "{} is for {} instead of {date}: run {job} for {date} again",
            path.display(),
            other.unwrap_or("no date")
        )),
    }
}

/// `describe` applied to each item of the array `key` of an artifact.
fn each_item(value: &Value, key: &str, describe: impl Fn(&Value) -> String) -> Vec<String> {
    let items = value.get(key).and_then(Value::as_array);
    items.into_iter().flatten().map(describe).collect()
}

/// A text field of an artifact's item, `?` when missing.
fn text<'a>(item: &'a Value, key: &str) -> &'a str {
    item.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// Yesterday's sampling proof: present, readable, and its own status.
fn proof_check(input: &CheckInput, date: NaiveDate) -> Check {
    let path = crate::artifacts::proof_path(&input.artifacts, date);
    let proof = match read_artifact(input, &path, "sampling-guard", date) {
        Ok(v) => v,
        Err(m) => return Check::new("proof", Severity::Critical, m),
    };
    let anomalies = each_item(&proof, "anomalies", |a| {
        format!(
            "{} {} ({})",
            text(a, "site"),
            text(a, "name"),
            text(a, "status")
        )
    });
    let file = path.display();
    let found = format!("anomalies: {}", anomalies.join(", "));
    match proof.get("status").and_then(Value::as_str) {
        Some("pass") => Check::new("proof", Severity::Ok, format!("{file}: pass")),
        Some("warn") => Check::new("proof", Severity::Warning, format!("{file}: warn; {found}")),
        Some("fail") => Check::new(
            "proof",
            Severity::Critical,
            format!("{file}: fail; {found}"),
        ),
        other => Check::new(
            "proof",
            Severity::Critical,
            format!(
                "{file} has status {} instead of pass, warn or fail: run sampling-guard for {date} again",
                other.unwrap_or("(none)")
            ),
        ),
    }
}

/// Yesterday's snapshot: present and readable; a partial one (with
/// `errors`) is a warning.
fn snapshot_check(input: &CheckInput, date: NaiveDate) -> Check {
    let path = crate::artifacts::snapshot_path(&input.artifacts, date);
    let snapshot = match read_artifact(input, &path, "snapshot", date) {
        Ok(v) => v,
        Err(m) => return Check::new("snapshot", Severity::Critical, m),
    };
    let errors = each_item(&snapshot, "errors", |e| {
        format!("{}: {}", text(e, "category"), text(e, "message"))
    });
    if errors.is_empty() {
        Check::new(
            "snapshot",
            Severity::Ok,
            format!("{} is complete", path.display()),
        )
    } else {
        Check::new(
            "snapshot",
            Severity::Warning,
            format!("{} is partial: {}", path.display(), errors.join("; ")),
        )
    }
}

/// The artifacts directory's size under the limit (warning above 90 %).
fn artifacts_check(input: &CheckInput) -> Check {
    let dir = &input.artifacts;
    let crit = (input.artifacts_max_mb * 1e6).round();
    let warn = (crit * 0.9).round();
    let size = match dir_size(dir) {
        Ok(size) => size,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::new(
                "artifacts",
                Severity::Critical,
                format!(
                    "the artifacts directory {} does not exist: check --artifacts",
                    dir.display()
                ),
            );
        }
        Err(e) => {
            return Check::new(
                "artifacts",
                Severity::Critical,
                format!("cannot measure {}: {e}", dir.display()),
            );
        }
    };
    let held = if size < 1_000_000 {
        format!("{} bytes", thousands(size))
    } else {
        format!("{:.1} MB", size as f64 / 1e6)
    };
    let what = format!(
        "{} holds {held} (limit {} MB)",
        dir.display(),
        input.artifacts_max_mb
    );
    let status = if size as f64 > crit {
        Severity::Critical
    } else if size as f64 > warn {
        Severity::Warning
    } else {
        Severity::Ok
    };
    let message = match status {
        Severity::Ok => what,
        _ => format!("{what}: run retention, or raise [health] artifacts_max_mb"),
    };
    Check::new("artifacts", status, message).with_perf(PerfDatum {
        label: "artifacts_size".to_string(),
        value: Some(size as f64),
        uom: "B",
        warn: Some(warn),
        crit: Some(crit),
        min: Some(0.0),
        max: None,
    })
}

/// The bytes of the files under `dir`, not following links.
fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}
