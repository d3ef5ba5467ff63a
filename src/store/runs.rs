//! The job-run log: one row per run in the store's `job_runs` table.
//!
//! A run writes its row when it starts (status `running`) and completes it
//! when it ends, so that a run killed half-way still leaves a trace; the
//! next run of the same job, which holds the lock and so knows the old one
//! is gone, turns such rows into `failed` ("interrupted").

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// How a run ended, as the run log and monitoring name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RunStatus {
    Success,
    Warning,
    Failed,
    Skipped,
}

impl RunStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Warning => "warning",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped",
        }
    }
}

/// A finished run, ready to be written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    pub(crate) job: String,
    pub(crate) started_ms: i64,
    pub(crate) ended_ms: i64,
    pub(crate) status: RunStatus,
    pub(crate) exit_code: i32,
    pub(crate) records: u64,
    pub(crate) errors: u64,
    pub(crate) attempts: u32,
    pub(crate) message: String,
}

/// Mark the `running` rows left by killed runs of `job` as failed. Only
/// call this while holding the job's lock.
pub(crate) fn close_interrupted(conn: &Connection, job: &str) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE job_runs SET status = 'failed', exit_code = 2, errors = errors + 1,
                message = 'interrupted: the run was killed or crashed before it finished'
         WHERE job = ?1 AND status = 'running'",
        [job],
    )?)
}

/// Write the row of a starting run; returns its id.
pub(crate) fn start(conn: &Connection, job: &str, started_ms: i64) -> Result<i64> {
    conn.execute(
        "INSERT INTO job_runs (job, started_at, ended_at, duration_ms, status, exit_code,
                               records, errors, attempts, message)
         VALUES (?1, ?2, ?2, 0, 'running', 0, 0, 0, 0, '')",
        params![job, started_ms],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Complete the row `id`, or insert the whole row when the start could not
/// be written (`id` is `None`) or its row is gone.
pub(crate) fn finish(conn: &Connection, id: Option<i64>, r: &RunRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO job_runs (id, job, started_at, ended_at, duration_ms, status, exit_code,
                               records, errors, attempts, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET
             started_at = excluded.started_at, ended_at = excluded.ended_at,
             duration_ms = excluded.duration_ms, status = excluded.status,
             exit_code = excluded.exit_code, records = excluded.records,
             errors = excluded.errors, attempts = excluded.attempts, message = excluded.message",
        params![
            id,
            r.job,
            r.started_ms,
            r.ended_ms,
            r.ended_ms - r.started_ms,
            r.status.as_str(),
            r.exit_code,
            r.records as i64,
            r.errors as i64,
            r.attempts,
            r.message
        ],
    )?;
    Ok(())
}

/// The end of the newest run of `job` that did its work (success or warning).
pub(crate) fn last_success_ms(conn: &Connection, job: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT max(ended_at) FROM job_runs
             WHERE job = ?1 AND status IN ('success', 'warning')",
            [job],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}

/// Where runs whose row could not be written (the store locked or
/// unwritable when they ended) wait for the next run to write them.
pub(crate) fn pending_dir(lock_dir: &Path) -> PathBuf {
    lock_dir.join("pending-runs")
}

/// Keep a finished run that could not be written, with the id of its
/// `running` row if it had one.
pub(crate) fn save_pending(
    lock_dir: &Path,
    id: Option<i64>,
    record: &RunRecord,
) -> Result<PathBuf> {
    let dir = pending_dir(lock_dir);
    let path = dir.join(format!(
        "{}-{}-{}.json",
        record.job,
        record.started_ms,
        std::process::id()
    ));
    let body = serde_json::to_string(&(id, record))?;
    crate::artifacts::write_atomic(&path, |w| {
        w.write_all(body.as_bytes())?;
        Ok(())
    })?;
    Ok(path)
}

/// Write the runs kept by [`save_pending`]; returns how many.
pub(crate) fn import_pending(conn: &Connection, lock_dir: &Path) -> Result<usize> {
    let dir = pending_dir(lock_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut imported = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the pending run {}", path.display()))?;
        let Ok((id, record)) = serde_json::from_str::<(Option<i64>, RunRecord)>(&text) else {
            // Not ours or damaged: leave it for a person to look at.
            continue;
        };
        finish(conn, id, &record)?;
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot remove the pending run {}", path.display()))?;
        imported += 1;
    }
    Ok(imported)
}
/// A job's recent runs as health-check reads them.
#[derive(Debug, Default)]
pub(crate) struct JobHistory {
    pub(crate) last_success_ms: Option<i64>,
    pub(crate) failures_since: u64,
    pub(crate) newest_failure: Option<(i64, String)>,
}

/// Read the run log of `job` newest first, through the `(job, started_at)`
/// index, down to the newest success: usually one row.
pub(crate) fn history(conn: &Connection, job: &str) -> rusqlite::Result<JobHistory> {
    let mut stmt = conn.prepare_cached(
        "SELECT ended_at, status, message FROM job_runs WHERE job = ?1 ORDER BY started_at DESC",
    )?;
    let mut rows = stmt.query([job])?;
    let mut history = JobHistory::default();
    while let Some(row) = rows.next()? {
        let ended: i64 = row.get(0)?;
        match row.get_ref(1)?.as_str().unwrap_or_default() {
            // A warning run did its work (rejected lines, anomalies found).
            "success" | "warning" => {
                history.last_success_ms = Some(ended);
                break;
            }
            "failed" => {
                history.failures_since += 1;
                if history.newest_failure.is_none() {
                    history.newest_failure = Some((ended, row.get(2)?));
                }
            }
            // Skipped runs did nothing; running ones have not ended.
            _ => {}
        }
    }
    Ok(history)
}
