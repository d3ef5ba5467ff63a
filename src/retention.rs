//! `retention`: delete raw events, closed sessions, dedupe keys and
//! forgotten visitors of the days before a cutoff, keep the daily rollups
//! forever, and optionally remove old artifact files.
//!
//! Nothing counted is lost: before deleting, every day older than the
//! cutoff that has events but no complete rollup, or a mark for
//! re-aggregation, is rolled up; a day that cannot be keeps its events and
//! is named (exit 1). A cutoff newer than the newest rollup is refused: it
//! means the nightly aggregate is not running or the clock is wrong.
//! Deletes run in short batches (`purge`) and the freed pages are given
//! back with incremental vacuum.

pub(crate) mod files;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{Days, NaiveDate};
use rusqlite::Connection;

use crate::job::{JobContext, JobOutcome, KEYS_WAIT, Severity, lock, usage};
use crate::rollup::engine::roll_days;
use crate::store::purge::{
    self, EVENT_IDS, EVENTS, LINE_IDS, PagesBack, Purger, SESSIONS, VISITORS,
};
use crate::store::{events, rollups, sessions};
use crate::time::rfc3339;
use crate::time::{day_bounds_ms, local_date, today};
use crate::util::{print_stdout, thousands};
use files::{DatedFile, expired_artifacts};

/// `retention` options from the command line; `None` takes the config
/// file's value.
#[derive(Debug, Clone, Default)]
pub struct RetentionOptions {
    pub days: Option<i64>,
    pub batch_size: Option<i64>,
    pub pause_ms: Option<i64>,
    pub artifacts_days: Option<i64>,
    /// More directories of `export-metrics --output-dir` files to clean.
    pub export_dirs: Vec<std::path::PathBuf>,
    pub dry_run: bool,
}

/// The checked plan of one run.
#[derive(Debug, Clone)]
pub(crate) struct RetentionPlan {
    pub(crate) days: i64,
    /// The first local day kept.
    pub(crate) cutoff_date: NaiveDate,
    /// Its first instant, UTC milliseconds: older rows go.
    pub(crate) cutoff_ms: i64,
    pub(crate) batch_size: usize,
    pub(crate) pause: Duration,
    /// Artifacts dated before this day go; `None`: artifacts are kept.
    pub(crate) artifacts_before: Option<NaiveDate>,
    /// Export directories outside the artifacts, cleaned like them.
    pub(crate) export_dirs: Vec<std::path::PathBuf>,
}

/// One value from its flag or the config file, checked against `range`.
fn checked(
    flag: Option<i64>,
    file: i64,
    range: std::ops::RangeInclusive<i64>,
    names: (&str, &str),
    unit: &str,
) -> Result<i64> {
    let value = flag.unwrap_or(file);
    if range.contains(&value) {
        return Ok(value);
    }
    let source = match flag {
        Some(_) => names.0.to_string(),
        None => format!("retention.{} in the config file", names.1),
    };
    Err(usage(format!(
        "{source} must be {unit} from {} to {} (got {value})",
        range.start(),
        range.end()
    )))
}

impl RetentionPlan {
    /// Check the options and place the cutoff: the start of the local day
    /// `days` before today.
    pub(crate) fn resolve(ctx: &JobContext, opts: &RetentionOptions) -> Result<RetentionPlan> {
        let file = &ctx.settings.file.retention;
        const MAX_DAYS: i64 = 36_600;
        let days = checked(
            opts.days,
            file.days,
            1..=MAX_DAYS,
            ("--days", "days"),
            "a number of days",
        )?;
        let batch_size = checked(
            opts.batch_size,
            file.batch_size,
            1..=1_000_000,
            ("--batch-size", "batch_size"),
            "a number of rows",
        )?;
        let pause_ms = checked(
            opts.pause_ms,
            file.pause_ms,
            0..=60_000,
            ("--pause-ms", "pause_ms"),
            "a number of milliseconds",
        )?;
        let artifacts_days = match opts.artifacts_days.or(file.artifacts_days) {
            Some(n) => Some(checked(
                opts.artifacts_days,
                n,
                1..=MAX_DAYS,
                ("--artifacts-days", "artifacts_days"),
                "a number of days",
            )?),
            None => None,
        };
        let today = today(ctx.settings.now, ctx.settings.tz);
        let before = |n: i64| today.checked_sub_days(Days::new(n as u64));
        let cutoff_date = before(days).context("--days reaches before the year 0")?;
        Ok(RetentionPlan {
            days,
            cutoff_date,
            cutoff_ms: day_bounds_ms(cutoff_date, ctx.settings.tz).0,
            batch_size: batch_size as usize,
            pause: Duration::from_millis(pause_ms as u64),
            artifacts_before: artifacts_days.and_then(before),
            export_dirs: opts
                .export_dirs
                .iter()
                .chain(&file.export_dirs)
                .cloned()
                .collect(),
        })
    }
}

/// The oldest event, if any, and refuse a cutoff newer than the newest
/// rollup when there is anything to delete.
fn check_against_rollups(conn: &Connection, plan: &RetentionPlan) -> Result<Option<i64>> {
    let oldest = events::first_event_ms(conn)?;
    let old_sessions = sessions::any_closed_before(conn, plan.cutoff_ms)?;
    if !old_sessions && oldest.is_none_or(|ts| ts >= plan.cutoff_ms) {
        return Ok(oldest);
    }
    match rollups::newest_date(conn)? {
        Some(d) if d >= plan.cutoff_date => Ok(oldest),
        Some(d) => Err(usage(format!(
            "the cutoff {} ({} days ago) is newer than the newest rollup ({d}): the nightly aggregate seems not to run, or --now is wrong; run backfill up to yesterday first (nothing was deleted)",
            plan.cutoff_date, plan.days
        ))),
        None => Err(usage(
            "the store has no daily rollups, so deleting its old events would lose them: run aggregate or backfill first (nothing was deleted)",
        )),
    }
}

/// The days before the cutoff to roll up before their events go: days
/// with events and a mark for re-aggregation, an incomplete rollup, or no
/// row for a site that had started by then.
pub(crate) fn days_to_roll_up(
    conn: &Connection,
    plan: &RetentionPlan,
    tz: chrono_tz::Tz,
    oldest_ts: Option<i64>,
) -> Result<Vec<NaiveDate>> {
    let Some(oldest) = oldest_ts.filter(|ts| *ts < plan.cutoff_ms) else {
        return Ok(Vec::new());
    };
    let flagged: BTreeSet<NaiveDate> = rollups::unsettled_before(conn, plan.cutoff_date)?;
    let mut days = Vec::new();
    let mut day = local_date(oldest, tz);
    while day < plan.cutoff_date {
        let (start, end) = day_bounds_ms(day, tz);
        if events::any_between(conn, start, end)?
            && (flagged.contains(&day) || rollups::some_site_lacks_row(conn, day, end)?)
        {
            days.push(day);
        }
        day = day.succ_opt().context("the date overflows")?;
    }
    Ok(days)
}

/// `retention --dry-run`: what would go, on stdout; the store is opened
/// read-only and nothing is changed.
pub fn retention_dry_run(ctx: &JobContext, opts: &RetentionOptions) -> Result<JobOutcome> {
    let plan = RetentionPlan::resolve(ctx, opts)?;
    let store = ctx.open_store_read_only()?;
    let conn = &store.conn;
    let oldest = check_against_rollups(conn, &plan)?;
    let roll = days_to_roll_up(conn, &plan, ctx.settings.tz, oldest)?;
    let cut = [(":cut", plan.cutoff_ms)];
    let counts = [
        (
            "events",
            purge::count(conn, &EVENTS, &[(":lo", 0), (":hi", plan.cutoff_ms)])?,
        ),
        ("sessions", purge::count(conn, &SESSIONS, &cut)?),
        (
            "event_ids",
            purge::count(conn, &EVENT_IDS, &cut)? + purge::count(conn, &LINE_IDS, &cut)?,
        ),
        ("visitors", {
            let sid = purge::mark_live_visitors(conn, Some(plan.cutoff_ms))?;
            purge::count(conn, &VISITORS, &[(":cut", plan.cutoff_ms), (":sid", sid)])?
        }),
    ];
    let files = match plan.artifacts_before {
        Some(before) => expired_artifacts(&ctx.settings.artifacts, &plan.export_dirs, before)?,
        None => Vec::new(),
    };
    let mut out = format!("cutoff\t{}\n", plan.cutoff_date);
    for day in &roll {
        out.push_str(&format!("roll-up\t{day}\n"));
    }
    for (table, n) in counts {
        out.push_str(&format!("{table}\t{n}\n"));
    }
    for f in &files {
        out.push_str(&format!("file\t{}\n", f.path.display()));
    }
    print_stdout(&out)?;
    Ok(JobOutcome::ok(
        0,
        format!(
            "dry run: would delete {} events, {} sessions, {} event ids and {} visitors before {}, roll up {} days first and remove {} artifact files; nothing was changed",
            thousands(counts[0].1),
            thousands(counts[1].1),
            thousands(counts[2].1),
            thousands(counts[3].1),
            plan.cutoff_date,
            roll.len(),
            files.len()
        ),
    ))
}

/// The `retention` job.
pub fn retention(ctx: &JobContext, opts: &RetentionOptions) -> Result<JobOutcome> {
    let plan = RetentionPlan::resolve(ctx, opts)?;
    let tz = ctx.settings.tz;
    let mut store = ctx.open_store()?;
    let size_before = purge::store_bytes(&store.conn)?;
    let oldest = check_against_rollups(&store.conn, &plan)?;

    let roll = days_to_roll_up(&store.conn, &plan, tz, oldest)?;
    let rollup = crate::rollup::jobs::rollup_options(ctx, None);
    let failed = roll_days(&mut store, &roll, rollup, |day, r| {
        if r.is_ok() {
            ctx.log.debug(format!("rolled up {day} before deleting it"));
        }
    });

    // Events go range by range around the days that could not be rolled
    // up; the other tables stop at the first such day, so that nothing a
    // kept event refers to is deleted.
    let mut ranges = Vec::new();
    // Events are from 1970 on (ingest checks it).
    let mut from = 0;
    for (day, _) in &failed {
        let (start, end) = day_bounds_ms(*day, tz);
        ranges.push((from, start));
        from = end;
    }
    ranges.push((from, plan.cutoff_ms));
    let aux_cut = [(":cut", ranges[0].1)];

    // From now on the days before the first kept day are final: ingest
    // rejects events for them and aggregate no longer recomputes them
    // (from a few late events, it would overwrite the full rollup).
    store.set_purged_before(ranges[0].1)?;
    let mut purger = Purger::new(&store.conn, plan.batch_size, plan.pause);
    let mut events = 0;
    for (lo, hi) in ranges {
        events += purger.run(&EVENTS, &[(":lo", lo), (":hi", hi)])?;
    }
    let event_ids = purger.run(&EVENT_IDS, &aux_cut)? + purger.run(&LINE_IDS, &aux_cut)?;
    // Sessions and visitors only while no ingest holds some in memory.
    let keys = lock::wait_for(
        &ctx.settings.db,
        lock::KEYS_LOCK,
        &rfc3339(ctx.settings.now),
        KEYS_WAIT,
        |holder| {
            ctx.log.info(format!(
                "waiting for ingest ({holder}) to finish before deleting sessions and visitors"
            ))
        },
    )?;
    let (sessions, visitors) = if keys.is_some() {
        let sessions = purger.run(&SESSIONS, &aux_cut)?;
        // Log visitors whose latest session is deleted start a new one.
        crate::store::logs::forget_before(&store.conn, aux_cut[0].1)?;
        let sid = purge::mark_live_visitors(&store.conn, None)?;
        (
            sessions,
            purger.run(&VISITORS, &[aux_cut[0], (":sid", sid)])?,
        )
    } else {
        (0, 0)
    };
    let keys_kept = keys.is_none();
    drop(keys);
    // A failure here loses nothing: the pages stay free for new rows.
    let pages_back = if events + sessions + event_ids + visitors > 0 {
        purger.give_pages_back()
    } else {
        Ok(PagesBack::Nothing)
    };
    let batches = purger.batches;
    let size_after = purge::store_bytes(&store.conn)?;

    let (removed, file_errors) = match plan.artifacts_before {
        Some(before) => remove_files(
            ctx,
            &expired_artifacts(&ctx.settings.artifacts, &plan.export_dirs, before)?,
        ),
        None => (0, 0),
    };

    let mut message = format!(
        "deleted {} events, {} sessions, {} event ids and {} visitors before {} in {} batches",
        thousands(events),
        thousands(sessions),
        thousands(event_ids),
        thousands(visitors),
        plan.cutoff_date,
        batches
    );
    if !roll.is_empty() {
        let done = roll.len() - failed.len();
        message.push_str(&format!(
            "; rolled up {} first",
            crate::util::counted(done as u64, "day")
        ));
    }
    message.push_str(&format!(
        "; store {} -> {}",
        megabytes(size_before),
        megabytes(size_after)
    ));
    let mut severity = Severity::Ok;
    match &pages_back {
        Ok(PagesBack::Nothing) => {}
        Ok(PagesBack::Incremental) => message.push_str(" (free pages given back)"),
        Ok(PagesBack::Vacuum) => message.push_str(
            " (free pages given back by a one-time VACUUM that turned on incremental vacuum)",
        ),
        Err(e) => {
            severity = Severity::Warning;
            message.push_str(&format!(" ({e:#}; they stay free for new rows)"));
        }
    }
    if plan.artifacts_before.is_some() {
        message.push_str(&format!("; removed {removed} artifact files"));
    }
    if file_errors > 0 {
        severity = Severity::Warning;
        message.push_str(&format!(
            "; {file_errors} artifact files could not be removed"
        ));
    }
    if keys_kept {
        severity = Severity::Warning;
        message.push_str(&format!(
            "; no session or visitor deleted: an ingest held them for {} minutes (the next run deletes them)",
            KEYS_WAIT.as_secs() / 60
        ));
    }
    if !failed.is_empty() {
        severity = Severity::Warning;
        // roll_days' own context repeats the date: keep only the causes.
        let named: Vec<String> = failed
            .iter()
            .map(|(d, e)| {
                let causes: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
                format!("{d} ({})", causes.join(": "))
            })
            .collect();
        message.push_str(&format!(
            "; could not roll up {}, so their events are kept: fix the cause and run retention again",
            named.join(", ")
        ));
    }
    Ok(JobOutcome::ok(events, message)
        .with_severity(severity)
        .with_errors(failed.len() as u64 + file_errors))
}

/// Remove the files, each failure reported and counted; returns (removed,
/// failed).
fn remove_files(ctx: &JobContext, files: &[DatedFile]) -> (u64, u64) {
    let (mut removed, mut failed) = (0, 0);
    for f in files {
        match std::fs::remove_file(&f.path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                failed += 1;
                ctx.log
                    .warn(format!("cannot remove {}: {e}", f.path.display()));
            }
        }
    }
    (removed, failed)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
