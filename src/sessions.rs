//! `cleanup-sessions`: close every open session idle for longer than the
//! idle time.
//!
//! Ingest keeps each session's first and last activity (`started_ts`,
//! `last_ts`); this job sets `ended_ts = last_ts` on the open sessions whose
//! last activity is more than the idle time before now, in one `UPDATE`
//! that walks the session ids from the oldest that may be open (the mark
//! `meta.open_sessions_from`; ids grow with time), not a loop in Rust.
//! A closed session's duration is `(ended_ts - started_ts) / 1000` seconds
//! (the `session_durations` view).
//!
//! An event that arrives later for a closed session reopens it (ingest sets
//! `ended_ts` back to NULL when the event is newer than the session's last
//! activity): the session keeps its id and start, and its duration, once
//! closed again, spans the gap. One visit that paused is one session, as
//! the events' own session key says.

use anyhow::Result;

use crate::job::{JobContext, JobOutcome, usage};
use crate::store::sessions;
use crate::util::thousands;

/// `cleanup-sessions` options from the command line; `None` takes the
/// config file's value.
#[derive(Debug, Clone, Default)]
pub struct CleanupOptions {
    pub idle_minutes: Option<i64>,
}

/// The longest idle time accepted: a year. Beyond that the option is a
/// typo, and the product with 60,000 ms must not overflow.
const MAX_IDLE_MINUTES: i64 = 366 * 24 * 60;

/// The checked idle time in minutes: the flag, else `[sessions]
/// idle_minutes`.
pub(crate) fn idle_minutes(ctx: &JobContext, opts: &CleanupOptions) -> Result<i64> {
    let (value, source) = match opts.idle_minutes {
        Some(v) => (v, "--idle-minutes"),
        None => (
            ctx.settings.file.sessions.idle_minutes,
            "sessions.idle_minutes in the config file",
        ),
    };
    if !(1..=MAX_IDLE_MINUTES).contains(&value) {
        return Err(usage(format!(
            "{source} must be a number of minutes from 1 to {MAX_IDLE_MINUTES} (got {value})"
        )));
    }
    Ok(value)
}

/// The `cleanup-sessions` job.
pub fn cleanup_sessions(ctx: &JobContext, opts: &CleanupOptions) -> Result<JobOutcome> {
    let idle = idle_minutes(ctx, opts)?;
    let mut store = ctx.open_store()?;
    let cutoff_ms = ctx.now_ms() - idle * 60_000;
    let (closed, still_open) = sessions::close_idle(&mut store.conn, cutoff_ms)?;
    Ok(JobOutcome::ok(
        closed,
        format!(
            "closed {} sessions idle for more than {idle} minutes; {} still open",
            thousands(closed),
            thousands(still_open)
        ),
    ))
}
