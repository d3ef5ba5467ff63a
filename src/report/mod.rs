//! `report`: the day's, week's or month's numbers as one self-contained
//! HTML page in the dated artifacts (contract, "Report"), and by mail.
//!
//! `data.rs` gathers the figures (rollups, goal and breakdown rows, the
//! guard's proofs, the snapshot, the run log), `page.rs` renders the page
//! with maud and `svg.rs` its charts, `text.rs` the plain-text part of the
//! mail, `mail.rs` sends it; `period.rs` says which days a page covers and
//! compares them with.

mod data;
mod mail;
mod page;
mod period;
mod svg;
mod text;

use anyhow::Result;
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;

use crate::job::{JobContext, JobOutcome, Severity, usage};
use crate::time::{parse_date, yesterday};
use data::{Flag, JobLine, Rollups, Scope};
use period::Period;
pub use period::PeriodKind;

/// What the user asked of `report`.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The day (`YYYY-MM-DD`); default yesterday.
    pub date: Option<String>,
    pub period: PeriodKind,
    /// Days in the charts.
    pub days: Option<i64>,
    pub site: Option<String>,
    pub mail_to: Option<String>,
}

/// A part of the page that could not be made, and where it shows.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// `guard` or `snapshot`.
    pub(crate) part: &'static str,
    pub(crate) message: String,
}

/// Everything the page shows.
pub(crate) struct Page {
    pub(crate) period: Period,
    pub(crate) tz: Tz,
    pub(crate) generated_ms: i64,
    pub(crate) site: Option<String>,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) flags: Vec<Flag>,
    /// Every day of the period has a proof.
    pub(crate) guard_checked: bool,
    pub(crate) jobs: Vec<JobLine>,
    pub(crate) snapshot: Option<Vec<(String, String)>>,
    pub(crate) problems: Vec<Problem>,
}

impl Page {
    pub(crate) fn heading(&self) -> String {
        let what = match self.period.kind {
            PeriodKind::Day => "Daily report",
            PeriodKind::Week => "Weekly report",
            PeriodKind::Month => "Monthly report",
        };
        format!("{what}: {}", self.period.title())
    }

    /// A time in the store's zone, to the minute.
    pub(crate) fn local_time(&self, ms: i64) -> String {
        DateTime::from_timestamp_millis(ms)
            .map(|t| {
                t.with_timezone(&self.tz)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .unwrap_or_default()
    }
}

/// The most chart days.
const MAX_DAYS: i64 = 366;

/// The `report` job.
pub fn report(ctx: &JobContext, opts: &ReportOptions) -> Result<JobOutcome> {
    let config = &ctx.settings.file.report;
    let tz = ctx.settings.tz;
    let date = match &opts.date {
        Some(d) => parse_date("--date", d).map_err(|e| usage(format!("{e:#}")))?,
        None => yesterday(ctx.settings.now, tz),
    };
    let mut period = Period::new(opts.period, date);
    // A month's page covers the month up to the date.
    period.end = period.end.min(date);
    let days = opts.days.or(config.days).unwrap_or(match opts.period {
        PeriodKind::Month => 90,
        _ => 30,
    });
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(usage(format!(
            "--days must be a number of days from 1 to {MAX_DAYS} (got {days})"
        )));
    }
    let mail_to = opts.mail_to.as_ref().or(config.mail_to.as_ref());
    let message = match mail_to {
        Some(to) => Some(mail::Envelope::new(to, config).map_err(|e| usage(format!("{e:#}")))?),
        None => None,
    };

    let store = ctx.open_store_read_only()?;
    let site_id = store.site_filter(opts.site.as_deref())?;
    let chart_start = period
        .end
        .checked_sub_days(chrono::Days::new(days as u64 - 1))
        .unwrap_or(period.end);
    let from = [chart_start, period.previous().start, period.earlier().start]
        .into_iter()
        .min()
        .unwrap_or(period.start);
    let rollups = Rollups::load(&store.conn, from, period.end, site_id)?;
    if rollups.totals(None, &period).is_none() {
        return Err(usage(if period.start == period.end {
            format!("no rollups for {}: run aggregate first", period.end)
        } else {
            format!(
                "no rollups from {} to {}: run aggregate (or backfill) first",
                period.start, period.end
            )
        }));
    }
    let file = &ctx.settings.file;
    let goal_names: Vec<String> = file.goal.iter().map(|g| g.name.clone()).collect();
    let scopes = data::scopes(
        &store.conn,
        &rollups,
        &period,
        days,
        site_id,
        &goal_names,
        &file.breakdown,
    )?;
    let artifacts = &ctx.settings.artifacts;
    let (flags, missing) = data::guard_flags(
        artifacts,
        chart_start.iter_days().take_while(|d| *d <= period.end),
        &period,
    );
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(Problem {
            part: "guard",
            message: format!(
                "No sampling proof for {}: run sampling-guard{} to judge {}.",
                list_days(&missing),
                match missing.as_slice() {
                    [one] => format!(" --date {one}"),
                    _ => format!(
                        " --start {} --end {}",
                        missing[0],
                        missing[missing.len() - 1]
                    ),
                },
                if missing.len() == 1 { "it" } else { "them" }
            ),
        });
    }
    let snapshot = data::snapshot_lines(artifacts, period.end);
    if snapshot.is_none() {
        problems.push(Problem {
            part: "snapshot",
            message: format!("No snapshot for {0}: run snapshot --date {0}.", period.end),
        });
    }
    let page = Page {
        period,
        tz,
        generated_ms: ctx.now_ms(),
        site: opts.site.clone(),
        scopes,
        flags,
        guard_checked: missing.is_empty(),
        jobs: data::job_health(&store.conn)?,
        snapshot,
        problems,
    };
    let html = page::render(&page);
    let reports = artifacts.join("reports");
    let path = reports.join(period.file_name());
    for target in [&path, &reports.join("latest.html")] {
        crate::artifacts::write_atomic(target, |w| Ok(w.write_all(html.as_bytes())?)).map_err(
            |e| {
                usage(format!(
                    "cannot write the report {}: {e:#}; check that the artifacts directory is writable",
                    target.display()
                ))
            },
        )?;
    }
    let mut message_text = format!("{} written to {}", page.heading(), path.display());
    let mut severity = Severity::Ok;
    for p in &page.problems {
        message_text.push_str(&format!("; {}", p.message.trim_end_matches('.')));
        severity = Severity::Warning;
    }
    if let Some(envelope) = message {
        let text = text::render(&page);
        match envelope.send(&page.heading(), text, html) {
            Ok(how) => message_text.push_str(&format!("; mailed to {} {how}", envelope.to)),
            Err(e) => {
                message_text.push_str(&format!("; mailing it to {} failed: {e:#}", envelope.to));
                severity = Severity::Warning;
            }
        }
    }
    Ok(JobOutcome::ok(page.scopes.len() as u64, message_text).with_severity(severity))
}

/// "2026-11-20", "2026-11-18, 2026-11-20", or for more than three days
/// "20 days (2026-11-01 to 2026-11-20)".
fn list_days(days: &[NaiveDate]) -> String {
    match days {
        [first, .., last] if days.len() > 3 => {
            format!("{} days ({first} to {last})", days.len())
        }
        _ => days
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}
