//! `health-check`: are the jobs running and their artifacts fresh, for
//! Nagios, Icinga, Sensu, Zabbix, a script or a person (contract, "Health
//! check").
//!
//! The checks (`checks.rs`) run on a worker thread so that a hung file
//! system or a stuck store cannot hang the monitor that called us: past
//! `--timeout` the run reports critical and exits 2, leaving the thread to
//! die with the process. `report.rs` renders text, JSON and Nagios output.

pub(crate) mod checks;
mod input;
mod integrity;
pub mod report;

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::job::{JobContext, JobOutcome, Severity, usage};
use crate::settings::Settings;
use checks::run_checks;
use input::{CheckInput, ScheduledJob};
use report::{Check, HealthFormat, Report};

pub(crate) use crate::job::spec::SCHEDULE;

/// The longest `--timeout` (a monitoring probe is never meant to run
/// longer than an hour).
const MAX_TIMEOUT_SECONDS: f64 = 3600.0;

/// The default of `--timeout`.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 10.0;

/// What the user asked of `health-check`.
#[derive(Debug, Clone)]
pub struct HealthOptions {
    pub format: HealthFormat,
    pub timeout_seconds: f64,
}

/// The schedule with the config file's `[health.jobs.<job>]` overrides.
pub(crate) fn scheduled_jobs(settings: &Settings) -> Result<Vec<ScheduledJob>> {
    let overrides = &settings.file.health.jobs;
    SCHEDULE
        .iter()
        .map(|&(name, default_hours)| {
            let o = overrides.get(name);
            let max_age_hours = o.and_then(|o| o.max_age_hours).unwrap_or(default_hours);
            if !(max_age_hours > 0.0 && max_age_hours.is_finite()) {
                return Err(usage(format!(
                    "health.jobs.{name}.max_age_hours in the config file must be a number of hours > 0"
                )));
            }
            Ok(ScheduledJob {
                name,
                max_age_hours,
                enabled: o.and_then(|o| o.enabled).unwrap_or(true),
            })
        })
        .collect()
}

/// Check and gather what the checks need, before starting any of them.
fn check_input(settings: &Settings, timeout: Duration) -> Result<CheckInput> {
    let health = &settings.file.health;
    let positive = |v: f64| v > 0.0 && v.is_finite();
    if !positive(health.rollup_max_lag_hours) {
        return Err(usage(
            "health.rollup_max_lag_hours in the config file must be a number of hours > 0",
        ));
    }
    if !(health.quick_check_every_hours >= 0.0 && health.quick_check_every_hours.is_finite()) {
        return Err(usage(
            "health.quick_check_every_hours in the config file must be a number of hours >= 0",
        ));
    }
    if !positive(health.artifacts_max_mb) {
        return Err(usage(
            "health.artifacts_max_mb in the config file must be a number of MB > 0",
        ));
    }
    Ok(CheckInput {
        db: settings.db.clone(),
        artifacts: settings.artifacts.clone(),
        tz: settings.tz,
        now: settings.now,
        busy_timeout_ms: settings.file.store.busy_timeout_ms,
        jobs: scheduled_jobs(settings)?,
        rollup_max_lag_hours: health.rollup_max_lag_hours,
        artifacts_max_mb: health.artifacts_max_mb,
        quick_check: health.quick_check,
        quick_check_every_hours: health.quick_check_every_hours,
        // Half the run's time, so that the other checks still report.
        quick_check_budget: timeout / 2,
    })
}

/// The `health-check` job: print the report on stdout, exit by its worst
/// check.
pub fn health_check(ctx: &JobContext, opts: &HealthOptions) -> Result<JobOutcome> {
    let timeout = opts.timeout_seconds;
    if !(timeout > 0.0 && timeout <= MAX_TIMEOUT_SECONDS) {
        return Err(usage(format!(
            "--timeout {timeout}: give a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS}"
        )));
    }
    let input = check_input(&ctx.settings, Duration::from_secs_f64(timeout))?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("health-checks".to_string())
        .spawn(move || {
            // The receiver is gone only after a timeout: nothing to do.
            let _ = tx.send(run_checks(&input));
        })
        .context("cannot start the health-check thread")?;
    let checks = match rx.recv_timeout(Duration::from_secs_f64(timeout)) {
        Ok(checks) => checks,
        Err(RecvTimeoutError::Timeout) => {
            let message = format!("health-check timed out after {timeout} s");
            // Still one verdict on stdout, so that a monitor shows why.
            let check = Check::new(
                "timeout",
                Severity::Critical,
                format!("{message}: a check is stuck on the store or the artifacts' file system"),
            );
            print_report(ctx, opts, vec![check])?;
            anyhow::bail!(message);
        }
        Err(RecvTimeoutError::Disconnected) => {
            anyhow::bail!("the health checks stopped unexpectedly (a bug): see the message above")
        }
    };
    let report = print_report(ctx, opts, checks)?;
    let failing = report.failing().count() as u64;
    Ok(JobOutcome::ok(report.checks.len() as u64, report.summary())
        .with_severity(report.status())
        .with_errors(failing))
}

fn print_report(ctx: &JobContext, opts: &HealthOptions, checks: Vec<Check>) -> Result<Report> {
    let report = Report {
        checks,
        generated_at: ctx.settings.now,
    };
    crate::util::print_stdout(&report.render(opts.format))?;
    Ok(report)
}
