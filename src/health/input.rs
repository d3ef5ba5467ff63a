//! What the checks are given: everything owned, so that they can run on a
//! worker thread that the caller may abandon at its timeout.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A job the installation runs on a schedule, as configured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScheduledJob {
    pub(crate) name: &'static str,
    pub(crate) max_age_hours: f64,
    pub(crate) enabled: bool,
}

/// Everything the checks need, owned, so that they can run on a worker
/// thread that the caller may abandon at its timeout.
#[derive(Debug, Clone)]
pub(crate) struct CheckInput {
    pub(crate) db: PathBuf,
    pub(crate) artifacts: PathBuf,
    pub(crate) tz: Tz,
    pub(crate) now: DateTime<Utc>,
    pub(crate) busy_timeout_ms: u64,
    pub(crate) jobs: Vec<ScheduledJob>,
    pub(crate) rollup_max_lag_hours: f64,
    pub(crate) artifacts_max_mb: f64,
    pub(crate) quick_check: bool,
    /// How long a passing quick_check is kept before it runs again.
    pub(crate) quick_check_every_hours: f64,
    /// How long a due quick_check may run before it is interrupted.
    pub(crate) quick_check_budget: Duration,
}

impl CheckInput {
    pub(super) fn enabled(&self, job: &str) -> bool {
        self.jobs.iter().any(|j| j.name == job && j.enabled)
    }

    pub(super) fn now_ms(&self) -> i64 {
        self.now.timestamp_millis()
    }
}
