//! The job runner every binary goes through: settings, lock, run log,
//! retries with backoff, the alert command, Prometheus metrics and the exit
//! code, decided here once for all jobs.

pub(crate) mod alert;
pub(crate) mod lock;
pub(crate) mod metrics;
pub(crate) mod panics;
pub(crate) mod spec;

mod zone;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::log::Logger;
use crate::settings::{CommonArgs, Settings};
use crate::store::runs::{self as runlog, RunRecord, RunStatus};
use crate::store::{OpenMode, Store};
use crate::time::rfc3339;
use lock::LockAttempt;

/// How a job's work ended, worst last: decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Ok,
    Warning,
    Critical,
}

impl Severity {
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
        }
    }
}

/// The outcome of a job that did its work; failures are `Err`s instead.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub(crate) severity: Severity,
    /// Records processed (events stored, days rolled up, rows exported...).
    pub(crate) records: u64,
    /// Per-item errors (rejected lines, failed days...).
    pub(crate) errors: u64,
    /// The one summary line.
    pub(crate) message: String,
}

impl JobOutcome {
    pub fn ok(records: u64, message: impl Into<String>) -> JobOutcome {
        JobOutcome {
            severity: Severity::Ok,
            records,
            errors: 0,
            message: message.into(),
        }
    }

    pub(crate) fn with_severity(mut self, severity: Severity) -> JobOutcome {
        self.severity = severity;
        self
    }

    pub(crate) fn with_errors(mut self, errors: u64) -> JobOutcome {
        self.errors = errors;
        self
    }
}

pub use crate::errors::{UsageError, usage};
pub use spec::JobSpec;
pub(crate) use spec::StoreUse;

/// What a job's work function is given.
pub struct JobContext {
    pub(crate) job: &'static str,
    pub spec: JobSpec,
    pub settings: Settings,
    pub(crate) log: Logger,
    /// 1 for the first attempt, 2 for the first retry...
    pub(crate) attempt: u32,
}

impl JobContext {
    /// Open the configured store for writing, as the job's [`StoreUse`]
    /// allows: created only by `ingest`, upgraded only by writing jobs.
    pub(crate) fn open_store(&self) -> Result<Store> {
        self.open_with(self.spec.open_mode())
    }

    /// Open the configured store read-only, without creating or upgrading
    /// it (exports, checks and reports read; a missing store is an error
    /// naming it).
    pub(crate) fn open_store_read_only(&self) -> Result<Store> {
        self.open_with(OpenMode::ReadOnly)
    }

    fn open_with(&self, mode: OpenMode) -> Result<Store> {
        // With a remote source, aggregate and backfill bring the data in:
        // they create the store that every other job reads.
        let remote = self.settings.file.source.engine != crate::settings::source::Engine::Sqlite;
        let mode = match mode {
            OpenMode::Upgrade if remote => OpenMode::Create,
            other => other,
        };
        if remote && mode != OpenMode::Create && !self.settings.db.exists() {
            return Err(anyhow::anyhow!(
                "the store {} does not exist: check --db (or CRONLYTICS_DB), or run aggregate or backfill first: they create it from the [source]",
                self.settings.db.display()
            ));
        }
        Store::open_with(
            &self.settings.db,
            self.settings.file.store.busy_timeout_ms,
            mode,
        )
    }

    /// "now" in UTC milliseconds (the `--now` clock).
    pub(crate) fn now_ms(&self) -> i64 {
        self.settings.now.timestamp_millis()
    }
}

/// Whether an error is a passing one worth retrying: the store busy or
/// locked, an interrupted or failed read or write, a full disk. Never a
/// usage error, a path or permission mistake (waiting does not fix those),
/// a panic, or a failed write of the job's own output to stdout (a retry
/// would print what was already printed).
pub(crate) fn is_transient(err: &anyhow::Error) -> bool {
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some()
            || cause.downcast_ref::<crate::errors::StdoutError>().is_some()
            || cause.downcast_ref::<panics::Panicked>().is_some()
        {
            return false;
        }
        if cause.downcast_ref::<crate::errors::Unreachable>().is_some() {
            return true;
        }
        if let Some(e) = cause.downcast_ref::<rusqlite::Error>() {
            use rusqlite::ErrorCode::*;
            return matches!(
                e.sqlite_error_code(),
                Some(
                    DatabaseBusy
                        | DatabaseLocked
                        | SystemIoFailure
                        | DiskFull
                        | FileLockingProtocolFailed
                )
            );
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                e.kind(),
                Interrupted | WouldBlock | TimedOut | StorageFull | ResourceBusy
            );
        }
    }
    false
}

/// Run a job: the whole life of one cron line. Returns the exit code.
pub fn run<F>(spec: JobSpec, args: &CommonArgs, mut work: F) -> ExitCode
where
    F: FnMut(&JobContext) -> Result<JobOutcome>,
{
    let job = spec.name;
    let settings = match Settings::resolve(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{job}: {e:#}");
            return ExitCode::from(2);
        }
    };
    let log = Logger::new(job, settings.quiet, settings.verbose);
    let clock = Clock::start(settings.now);
    let mut ctx = JobContext {
        job,
        spec,
        settings,
        log,
        attempt: 0,
    };

    let _lock = match lock::try_lock(&ctx.settings.db, job, &rfc3339(clock.started)) {
        Ok(LockAttempt::Acquired(l)) => l,
        Ok(LockAttempt::Busy { path, holder }) => {
            let message = format!(
                "another {job} run ({holder}) holds the lock {}: this run is skipped",
                path.display()
            );
            ctx.log.warn(&message);
            let record = clock.record(job, RunStatus::Skipped, 1, 0, 0, 0, message);
            finish(&ctx, spec, None, &record);
            return ExitCode::from(1);
        }
        Err(e) => {
            ctx.log.error(format!("{e:#}"));
            return ExitCode::from(2);
        }
    };

    let run_id = start_run_row(&ctx, spec, clock.started_ms());
    let retry = ctx.settings.file.retry.clone();
    let mut attempts = 0;
    let mut zone_settled = false;
    let mut keys_lock = None;
    let result = loop {
        attempts += 1;
        ctx.attempt = attempts;
        let settled = &mut zone_settled;
        let keys = &mut keys_lock;
        match panics::catch(|| {
            if spec.holds_keys && keys.is_none() {
                *keys = Some(hold_keys(&ctx)?);
            }
            if !*settled {
                *settled = zone::settle(&mut ctx)?;
            }
            work(&ctx)
        }) {
            Ok(outcome) => break Ok(outcome),
            Err(e) if is_transient(&e) && attempts <= retry.retries => {
                let wait = retry.backoff_seconds * 2f64.powi(attempts as i32 - 1);
                ctx.log.warn(format!(
                    "attempt {attempts} failed: {e:#}; retrying in {wait:.2} s"
                ));
                std::thread::sleep(Duration::from_secs_f64(wait));
            }
            Err(e) => break Err(e),
        }
    };

    match result {
        Ok(outcome) => {
            let status = if outcome.severity == Severity::Ok {
                RunStatus::Success
            } else {
                RunStatus::Warning
            };
            match outcome.severity {
                Severity::Ok => ctx.log.info(&outcome.message),
                _ => ctx.log.warn(&outcome.message),
            }
            let code = outcome.severity.exit_code();
            let record = clock.record(
                job,
                status,
                code,
                outcome.records,
                outcome.errors,
                attempts,
                outcome.message,
            );
            finish(&ctx, spec, run_id, &record);
            ExitCode::from(code as u8)
        }
        Err(e) => {
            let message = format!("{e:#}");
            let is_usage = e.chain().any(|c| c.downcast_ref::<UsageError>().is_some());
            if attempts > 1 {
                ctx.log
                    .error(format!("all {attempts} attempts failed; last: {message}"));
            } else {
                ctx.log.error(&message);
            }
            let record = clock.record(job, RunStatus::Failed, 2, 0, 1, attempts, message);
            finish(&ctx, spec, run_id, &record);
            if !is_usage {
                send_alert(&ctx, &record);
            }
            ExitCode::from(2)
        }
    }
}

/// How long ingest waits for retention to finish deleting sessions and
/// visitors (and retention for ingest), before giving up.
pub(crate) const KEYS_WAIT: Duration = Duration::from_secs(30 * 60);

/// Take the keys lock for a run that keeps sessions and visitors in memory.
fn hold_keys(ctx: &JobContext) -> Result<lock::JobLock> {
    let started = rfc3339(ctx.settings.now);
    let lock = lock::wait_for(
        &ctx.settings.db,
        lock::KEYS_LOCK,
        &started,
        KEYS_WAIT,
        |holder| {
            ctx.log.info(format!(
            "waiting for the store's sessions and visitors, which another job ({holder}) is deleting"
        ))
        },
    )?;
    lock.ok_or_else(|| {
        anyhow::anyhow!(
            "retention held the store's sessions and visitors for {} minutes: this run stored nothing; it can run again once retention is done",
            KEYS_WAIT.as_secs() / 60
        )
    })
}

/// The run's clock: "now" may be fixed by `--now`; durations are real.
struct Clock {
    started: DateTime<Utc>,
    instant: Instant,
}

impl Clock {
    fn start(now: DateTime<Utc>) -> Clock {
        Clock {
            started: now,
            instant: Instant::now(),
        }
    }

    fn started_ms(&self) -> i64 {
        self.started.timestamp_millis()
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        job: &str,
        status: RunStatus,
        exit_code: i32,
        records: u64,
        errors: u64,
        attempts: u32,
        message: String,
    ) -> RunRecord {
        let started_ms = self.started_ms();
        RunRecord {
            job: job.to_string(),
            started_ms,
            ended_ms: started_ms + self.instant.elapsed().as_millis() as i64,
            status,
            exit_code,
            records,
            errors,
            attempts,
            message,
        }
    }
}

/// Open the store for the run log, as this job may.
fn runlog_store(ctx: &JobContext) -> Result<Store> {
    ctx.open_store()
}

fn start_run_row(ctx: &JobContext, spec: JobSpec, started_ms: i64) -> Option<i64> {
    if !spec.logs_run {
        return None;
    }
    let result = runlog_store(ctx).and_then(|store| {
        let lock_dir = lock::lock_dir(&ctx.settings.db);
        if let Ok(n) = runlog::import_pending(&store.conn, &lock_dir)
            && n > 0
        {
            ctx.log
                .debug(format!("wrote {n} run(s) that earlier runs could not log"));
        }
        let closed = runlog::close_interrupted(&store.conn, ctx.job)?;
        if closed > 0 {
            ctx.log.warn(format!(
                "{closed} earlier run(s) of {} were interrupted; marked failed in the run log",
                ctx.job
            ));
        }
        runlog::start(&store.conn, ctx.job, started_ms)
    });
    match result {
        Ok(id) => Some(id),
        Err(e) => {
            ctx.log
                .debug(format!("the run log could not record the start: {e:#}"));
            None
        }
    }
}

/// Write the run-log row and the Prometheus file of a finished run.
fn finish(ctx: &JobContext, spec: JobSpec, run_id: Option<i64>, record: &RunRecord) {
    let mut last_success = None;
    let store = if spec.logs_run {
        runlog_store(ctx)
    } else {
        Err(anyhow::anyhow!("this run is not logged"))
    };
    match store {
        Ok(store) => {
            if let Err(e) = runlog::finish(&store.conn, run_id, record) {
                keep_pending(ctx, run_id, record, &e);
            }
            last_success = runlog::last_success_ms(&store.conn, ctx.job).ok().flatten();
        }
        Err(e) if spec.logs_run && is_transient(&e) => keep_pending(ctx, run_id, record, &e),
        Err(e) => ctx.log.debug(format!("no run-log row for this run: {e:#}")),
    }
    if matches!(record.status, RunStatus::Success | RunStatus::Warning) {
        last_success = Some(last_success.unwrap_or(0).max(record.ended_ms));
    }
    if let Some(dir) = &ctx.settings.textfile_dir {
        let m = metrics::JobMetrics {
            job: ctx.job.to_string(),
            last_run_s: record.ended_ms as f64 / 1000.0,
            last_success_s: last_success.map(|ms| ms as f64 / 1000.0),
            duration_s: (record.ended_ms - record.started_ms) as f64 / 1000.0,
            exit_code: record.exit_code,
            records: record.records,
        };
        if let Err(e) = metrics::write(dir, &m) {
            ctx.log
                .warn(format!("cannot write the Prometheus textfile: {e:#}"));
        }
    }
}

/// The store could not take the run's row: keep it for the next run.
fn keep_pending(ctx: &JobContext, run_id: Option<i64>, record: &RunRecord, e: &anyhow::Error) {
    let lock_dir = lock::lock_dir(&ctx.settings.db);
    match runlog::save_pending(&lock_dir, run_id, record) {
        Ok(path) => ctx.log.warn(format!(
            "the run log is not writable now ({e:#}); the run is kept in {} for the next run to log",
            path.display()
        )),
        Err(e2) => ctx.log.warn(format!(
            "the run could not be written to the run log: {e:#}; nor kept: {e2:#}"
        )),
    }
}

fn send_alert(ctx: &JobContext, record: &RunRecord) {
    let Some(command) = ctx.settings.file.alert.command.as_deref() else {
        return;
    };
    let alert = alert::Alert {
        job: ctx.job.to_string(),
        status: record.status.as_str().to_string(),
        exit_code: record.exit_code,
        attempts: record.attempts,
        error: record.message.clone(),
        started_at: crate::time::rfc3339_ms(record.started_ms),
        ended_at: crate::time::rfc3339_ms(record.ended_ms),
        db: ctx.settings.db.display().to_string(),
        host: alert::hostname(),
        pid: std::process::id(),
    };
    let timeout = Duration::from_secs(ctx.settings.file.alert.timeout_seconds);
    match alert::send(command, &alert, timeout) {
        Ok(()) => ctx.log.info("alert command run"),
        Err(e) => ctx.log.error(format!("{e:#}")),
    }
}
