//! The `aggregate` and `backfill` jobs.

use std::collections::BTreeSet;

use anyhow::Result;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::engine::{DayReport, RollupOptions};
use super::events::{Events, with_target};
use crate::job::{JobContext, JobOutcome, usage};
use crate::store::{Store, rollups};
use crate::time::{DayRange, day_bounds_ms, parse_date, rfc3339_ms, today, yesterday};
use crate::util::{counted, thousands};

/// How this job's run rolls up (of one site, or all).
pub(crate) fn rollup_options(ctx: &JobContext, site: Option<i64>) -> RollupOptions {
    let file = &ctx.settings.file;
    RollupOptions {
        tz: ctx.settings.tz,
        site,
        now_ms: ctx.now_ms(),
        threads: super::engine::scan_threads(),
        busy_timeout_ms: file.store.busy_timeout_ms,
        custom: crate::store::custom::CustomSpec::new(&file.breakdown, &file.goal),
    }
}

/// `aggregate` options.
#[derive(Debug, Clone, Default)]
pub struct AggregateOptions {
    pub date: Option<String>,
    pub today: bool,
    pub site: Option<String>,
}

/// `aggregate`: the day asked for (default yesterday), plus every day that
/// ingest marked for re-aggregation (or, from a remote source, the days
/// whose rows changed or the `reroll_days` before it).
pub fn aggregate(ctx: &JobContext, opts: &AggregateOptions) -> Result<JobOutcome> {
    let (tz, now) = (ctx.settings.tz, ctx.settings.now);
    let target = match (&opts.date, opts.today) {
        (Some(_), true) => return Err(usage("give either --date or --today, not both")),
        (Some(d), false) => parse_date("--date", d).map_err(|e| usage(format!("{e:#}")))?,
        (None, true) => today(now, tz),
        (None, false) => yesterday(now, tz),
    };
    let mut store = ctx.open_store()?;
    let mut events = Events::open(ctx)?;
    let scope = events.scope(&store, opts.site.as_deref())?;
    let extra = events.extra_days(ctx, &store, &scope, target)?;
    let days = events.rollable(ctx, &store, with_target(&extra, target))?;

    let mut total = DayReport::default();
    let mut target_report = DayReport::default();
    let failures = events.roll_days(ctx, &mut store, &days, &scope, |day, r| {
        if let Ok(r) = r {
            total.events += r.events;
            total.sites += r.sites;
            if day == target {
                target_report = *r;
            }
            ctx.log.debug(format!(
                "{day}: {} sites, {} events",
                r.sites,
                thousands(r.events)
            ));
        }
    });
    if !failures.is_empty() {
        return Err(failed_days(failures, days.len()));
    }
    events.finish(&store, &extra)?;
    let mut message = format!(
        "rolled up {target}{}{}: {}, {}",
        if target == today(now, tz) {
            " (running totals)"
        } else {
            ""
        },
        events.source_words(),
        counted(target_report.sites as u64, "site"),
        counted(target_report.events, "event")
    );
    let rerolled: Vec<String> = extra
        .days
        .iter()
        .filter(|d| **d != target)
        .map(|d| d.to_string())
        .collect();
    if !rerolled.is_empty() {
        message.push_str(&format!(
            "; re-rolled {}: {}",
            counted(rerolled.len() as u64, extra.what),
            rerolled.join(", ")
        ));
    }
    if target_report.sites == 0 {
        message.push_str(" (no site has events on or before that day yet)");
    }
    let site = events.scope(&store, opts.site.as_deref())?.id;
    message.push_str(&to_sink(ctx, &store, &days, site)?);
    Ok(JobOutcome::ok(total.events, message))
}

/// Upsert the rolled-up days' rows (`days` in order) into `[sink]` when one
/// is configured; returns the summary's words for it.
fn to_sink(
    ctx: &JobContext,
    store: &Store,
    days: &[NaiveDate],
    site: Option<i64>,
) -> Result<String> {
    let sink = &ctx.settings.file.sink;
    let (Some(_), Some(first), Some(last)) = (sink.engine, days.first(), days.last()) else {
        return Ok(String::new());
    };
    let loaded = rollups::load(&store.conn, *first, *last, site)?;
    let rows = crate::source::sink::of_days(loaded, days);
    let n = crate::source::sink::write(sink, ctx.settings.file.source.timeout_seconds, &rows)?;
    Ok(format!(
        "; {} upserted into {}",
        counted(n as u64, "row"),
        sink.table
    ))
}

/// One error naming every day that failed (the first one's cause in the
/// chain); the other days are rolled up.
fn failed_days(failures: Vec<(NaiveDate, anyhow::Error)>, of: usize) -> anyhow::Error {
    let names: Vec<String> = failures.iter().map(|f| f.0.to_string()).collect();
    let (_, first) = failures.into_iter().next().expect("called with failures");
    first.context(format!(
        "{} of {of} days failed ({}); the other days are rolled up",
        names.len(),
        names.join(", ")
    ))
}

/// `backfill` options.
#[derive(Debug, Clone, Default)]
pub struct BackfillOptions {
    pub start: Option<String>,
    pub end: Option<String>,
    pub days: Option<i64>,
    pub site: Option<String>,
    pub dry_run: bool,
    /// Change the store's zone to the run's and roll up its whole history
    /// again (`rezone`).
    pub rezone: bool,
}

/// The checked range of a backfill.
pub(crate) fn backfill_range(ctx: &JobContext, opts: &BackfillOptions) -> Result<DayRange> {
    DayRange::from_options(
        opts.start.as_deref(),
        opts.end.as_deref(),
        opts.days,
        None,
        ctx.settings.now,
        ctx.settings.tz,
    )
    .map_err(|e| usage(format!("{e:#}")))
}

/// Print each day of the range with its UTC bounds; touches nothing.
pub fn backfill_dry_run(ctx: &JobContext, opts: &BackfillOptions) -> Result<JobOutcome> {
    let range = backfill_range(ctx, opts)?;
    // A remote source is connected to (and its mapping checked) so that
    // the SQL shown is the SQL that would run.
    let source = crate::source::open(&ctx.settings.file.source)?;
    let site = opts.site.as_deref();
    let mut out = String::new();
    for day in range.days() {
        let (s, e) = day_bounds_ms(day, ctx.settings.tz);
        out.push_str(&format!(
            "{day}\t{}\t{}\t{}h\n",
            rfc3339_ms(s),
            rfc3339_ms(e),
            (e - s) / 3_600_000
        ));
        if let Some(source) = &source {
            out.push_str(&format!(
                "-- {}\n{};\n",
                source.describe(),
                crate::source::day_sql(source.as_ref(), s, e, site)
            ));
        }
    }
    crate::util::print_stdout(&out)?;
    Ok(JobOutcome::ok(
        0,
        format!(
            "dry run: would roll up {} from {} to {}",
            counted(range.len() as u64, "day"),
            range.start,
            range.end
        ),
    ))
}

/// State of a backfill across the job runner's attempts: the days already
/// written are not rolled up again by a retry.
#[derive(Default)]
pub struct Backfill {
    done: BTreeSet<NaiveDate>,
    events: u64,
    /// `--rezone`: the zone is switched once; retries roll up these days.
    rezoned: Option<Option<DayRange>>,
}

impl Backfill {
    pub fn attempt(&mut self, ctx: &JobContext, opts: &BackfillOptions) -> Result<JobOutcome> {
        let mut store = ctx.open_store()?;
        let range = if opts.rezone {
            if opts.start.is_some()
                || opts.end.is_some()
                || opts.days.is_some()
                || opts.site.is_some()
            {
                return Err(usage(
                    "--rezone rolls up the store's whole history again, for every site: give it without --start, --end, --days or --site",
                ));
            }
            if self.rezoned.is_none() {
                self.rezoned = Some(super::rezone::switch_zone(ctx, &mut store)?);
            }
            match self.rezoned.flatten() {
                Some(range) => range,
                None => {
                    return Ok(JobOutcome::ok(
                        0,
                        format!(
                            "the store's zone is now {}; it has no events up to yesterday to roll up",
                            ctx.settings.tz.name()
                        ),
                    ));
                }
            }
        } else {
            backfill_range(ctx, opts)?
        };
        let mut events = Events::open(ctx)?;
        if matches!(events, Events::Remote(_)) && opts.rezone {
            return Err(usage(
                "--rezone re-rolls the store's own events; with a remote [source], give the new zone with --tz and backfill the range again",
            ));
        }
        let scope = events.scope(&store, opts.site.as_deref())?;
        let days = events.rollable(
            ctx,
            &store,
            range.days().filter(|d| !self.done.contains(d)).collect(),
        )?;
        let bar = if ctx.log.show_progress() {
            let bar = ProgressBar::with_draw_target(
                Some(days.len() as u64),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "[{elapsed_precise}] {bar:30} {pos}/{len} days, {msg} (eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        let on_day = |day: NaiveDate, r: &Result<DayReport>| {
            bar.inc(1);
            match r {
                Ok(r) => {
                    self.done.insert(day);
                    self.events += r.events;
                    bar.set_message(format!("{} events", thousands(self.events)));
                }
                Err(e) => ctx.log.warn(format!("{e:#}")),
            }
        };
        let failures = events.roll_days(ctx, &mut store, &days, &scope, on_day);
        bar.finish_and_clear();
        if !failures.is_empty() {
            return Err(failed_days(failures, range.len()));
        }
        let site = events.scope(&store, opts.site.as_deref())?.id;
        let rolled: Vec<NaiveDate> = range.days().collect();
        let sink = to_sink(ctx, &store, &rolled, site)?;
        Ok(JobOutcome::ok(
            self.events,
            format!(
                "rolled up {} from {} to {}{}: {}{sink}",
                counted(range.len() as u64, "day"),
                range.start,
                range.end,
                events.source_words(),
                counted(self.events, "event")
            ),
        ))
    }
}
