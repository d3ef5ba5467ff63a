//! The Prometheus textfile of a job (contract, "Prometheus textfile
//! metrics"), for node_exporter's textfile collector.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::artifacts::write_atomic;

/// The figures of one finished run.
#[derive(Debug, Clone)]
pub(crate) struct JobMetrics {
    pub(crate) job: String,
    pub(crate) last_run_s: f64,
    pub(crate) last_success_s: Option<f64>,
    pub(crate) duration_s: f64,
    pub(crate) exit_code: i32,
    pub(crate) records: u64,
}

/// The file name of a job's metrics: `cronlytics_<job>.prom`, `-` as `_`.
pub(crate) fn file_name(job: &str) -> String {
    format!("cronlytics_{}.prom", job.replace('-', "_"))
}

/// The text exposition format: HELP and TYPE for each gauge, no timestamps.
pub(crate) fn render(m: &JobMetrics) -> String {
    let mut out = String::new();
    let label = format!("{{job=\"{}\"}}", m.job);
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name}{label} {value}");
    };
    gauge(
        "cronlytics_job_last_run_timestamp_seconds",
        "Unix time the last run of the job ended.",
        format!("{:.3}", m.last_run_s),
    );
    // A job that never succeeded reports 0, which alerting rules read as
    // "infinitely old" rather than as a missing series.
    gauge(
        "cronlytics_job_last_success_timestamp_seconds",
        "Unix time the last successful run of the job ended.",
        format!("{:.3}", m.last_success_s.unwrap_or(0.0)),
    );
    gauge(
        "cronlytics_job_duration_seconds",
        "Duration of the last run in seconds.",
        format!("{:.3}", m.duration_s),
    );
    gauge(
        "cronlytics_job_exit_code",
        "Exit code of the last run (0 ok, 1 warning, 2 critical).",
        m.exit_code.to_string(),
    );
    gauge(
        "cronlytics_job_records_processed",
        "Records processed by the last run.",
        m.records.to_string(),
    );
    out
}

/// Replace `dir/cronlytics_<job>.prom` atomically.
pub(crate) fn write(dir: &Path, m: &JobMetrics) -> Result<()> {
    let text = render(m);
    write_atomic(&dir.join(file_name(&m.job)), |w| {
        w.write_all(text.as_bytes())?;
        Ok(())
    })
}
