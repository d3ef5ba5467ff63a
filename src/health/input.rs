//! What the checks are given: everything owned, so that they can run on a
//! worker thread that the caller may abandon at its timeout.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A job the installation runs on a schedule, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledJob {
    pub name: &'static str,
    pub max_age_hours: f64,
    pub enabled: bool,
}

/// Everything the checks need, owned, so that they can run on a worker
/// thread that the caller may abandon at its timeout.
#[derive(Debug, Clone)]
pub struct CheckInput {
    pub db: PathBuf,
    pub artifacts: PathBuf,
    pub tz: Tz,
    pub now: DateTime<Utc>,
    pub busy_timeout_ms: u64,
    pub jobs: Vec<ScheduledJob>,
    pub rollup_max_lag_hours: f64,
    pub artifacts_max_mb: f64,
    pub quick_check: bool,
    /// How long a passing quick_check is kept before it runs again.
    pub quick_check_every_hours: f64,
    /// How long a due quick_check may run before it is interrupted.
    pub quick_check_budget: Duration,
}

impl CheckInput {
    pub(super) fn enabled(&self, job: &str) -> bool {
        self.jobs.iter().any(|j| j.name == job && j.enabled)
    }

    pub(super) fn now_ms(&self) -> i64 {
        self.now.timestamp_millis()
    }
}
