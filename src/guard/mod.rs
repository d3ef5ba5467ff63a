//! `sampling-guard`: the six anomaly checks of each site's day, written as
//! a sampling proof (contract, "Sampling proof").
//!
//! `detect` judges one day against the site's own history; this module
//! loads the rollups, runs it for each site (and each day of a range), writes
//! one proof per day and decides the exit code by the worst status.

pub mod detect;
mod goals;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use chrono::{Days, NaiveDate};
use serde::Serialize;

use crate::artifacts::write_json;
use crate::job::{JobContext, JobOutcome, Severity, usage};
use crate::store::rollups::{DailyRollup, load};
use crate::time::{parse_date, rfc3339, yesterday};
use detect::{CheckResult, DailyPoint, GuardSettings, Status, check_day};

/// Days of history loaded before the first checked day (the detector reads
/// at most about half a year).
const HISTORY_DAYS: u64 = 400;

/// What the user asked of `sampling-guard`.
#[derive(Debug, Clone, Default)]
pub struct GuardOptions {
    pub date: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub site: Option<String>,
}

/// One check in the proof (the contract's shape, plus the detector's
/// figures).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProofCheck {
    pub(crate) site: String,
    pub(crate) name: String,
    /// The goal of a `[guard.goal.<name>]` check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) goal: Option<String>,
    pub(crate) metric: detect::Metric,
    pub(crate) kind: detect::CheckKind,
    pub(crate) status: Status,
    pub(crate) value: f64,
    pub(crate) expected: Option<Band>,
    pub(crate) expected_value: Option<f64>,
    pub(crate) score: Option<f64>,
    pub(crate) change: Option<f64>,
    pub(crate) history_days: usize,
    pub(crate) message: String,
}

/// The expected band.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Band {
    pub(crate) low: f64,
    pub(crate) high: f64,
}

/// Counts by status.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct ProofSummary {
    pub(crate) checks: usize,
    pub(crate) passed: usize,
    pub(crate) warnings: usize,
    pub(crate) failures: usize,
    pub(crate) skipped: usize,
}

/// The sampling proof of one day.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Proof {
    pub(crate) status: &'static str,
    pub(crate) date: NaiveDate,
    pub(crate) timezone: String,
    pub(crate) generated_at: String,
    pub(crate) checks: Vec<ProofCheck>,
    pub(crate) anomalies: Vec<ProofCheck>,
    pub(crate) summary: ProofSummary,
}

/// The overall status word of a set of checks: skipped counts as pass.
fn overall(checks: &[ProofCheck]) -> (&'static str, Severity) {
    match checks.iter().map(|c| c.status).max() {
        Some(Status::Fail) => ("fail", Severity::Critical),
        Some(Status::Warn) => ("warn", Severity::Warning),
        _ => ("pass", Severity::Ok),
    }
}

fn proof_check(site: &str, r: CheckResult) -> ProofCheck {
    ProofCheck {
        site: site.to_string(),
        name: r.name.to_string(),
        goal: None,
        metric: r.metric,
        kind: r.kind,
        status: r.status,
        value: r.value,
        expected: match (r.low, r.high) {
            (Some(low), Some(high)) => Some(Band { low, high }),
            _ => None,
        },
        expected_value: r.expected,
        score: r.score,
        change: r.change,
        history_days: r.history_days,
        message: r.message,
    }
}

fn point(r: &DailyRollup) -> DailyPoint {
    DailyPoint {
        date: r.date,
        sessions: r.unique_sessions,
        converting_sessions: r.converting_sessions,
        revenue: r.revenue_cents as f64 / 100.0,
    }
}

/// The days to judge: `--date`, `--start/--end`, or yesterday.
fn days_to_check(ctx: &JobContext, opts: &GuardOptions) -> Result<(NaiveDate, NaiveDate, bool)> {
    let parse = |flag: &str, v: &str| parse_date(flag, v).map_err(|e| usage(format!("{e:#}")));
    match (&opts.date, &opts.start, &opts.end) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            Err(usage("give either --date or --start/--end, not both"))
        }
        (Some(d), None, None) => {
            let d = parse("--date", d)?;
            Ok((d, d, false))
        }
        (None, Some(s), Some(e)) => {
            let (s, e) = (parse("--start", s)?, parse("--end", e)?);
            if s > e {
                return Err(usage(format!("--start {s} is after --end {e}: swap them")));
            }
            Ok((s, e, true))
        }
        (None, Some(_), None) | (None, None, Some(_)) => {
            Err(usage("--start and --end go together"))
        }
        (None, None, None) => {
            let d = yesterday(ctx.settings.now, ctx.settings.tz);
            Ok((d, d, false))
        }
    }
}

/// The `sampling-guard` job.
pub fn run(ctx: &JobContext, opts: &GuardOptions) -> Result<JobOutcome> {
    let settings: &GuardSettings = &ctx.settings.file.guard;
    settings
        .validate()
        .map_err(|e| usage(format!("the config file is not valid: {e}")))?;
    let (start, end, is_range) = days_to_check(ctx, opts)?;
    let store = ctx.open_store_read_only()?;
    let site = store.site_filter(opts.site.as_deref())?;
    let from = start
        .checked_sub_days(Days::new(HISTORY_DAYS))
        .unwrap_or(start);
    let rows = load(&store.conn, from, end, site)?;
    let goals = goals::GoalHistories::load(
        &store.conn,
        settings,
        &ctx.settings.file.goal,
        (from, end),
        site,
    )?;
    // Per site, its rows in date order (load orders by date, then site).
    let mut by_site: BTreeMap<String, Vec<DailyRollup>> = BTreeMap::new();
    for r in rows {
        by_site.entry(r.site.clone()).or_default().push(r);
    }

    let mut worst = Severity::Ok;
    let mut totals = ProofSummary::default();
    let mut table = String::new();
    let mut missing = Vec::new();
    let mut proofs = Vec::new();
    for day in start.iter_days().take_while(|d| *d <= end) {
        let mut checks = Vec::new();
        for (name, rows) in &by_site {
            let split = rows.partition_point(|r| r.date < day);
            let Some(today) = rows.get(split).filter(|r| r.date == day) else {
                continue;
            };
            // Only finished days make a baseline.
            let history: Vec<DailyPoint> = rows[..split]
                .iter()
                .filter(|r| r.complete)
                .map(point)
                .collect();
            for mut r in check_day(&history, &point(today), settings) {
                // A day that had not ended when it was rolled up holds
                // running totals: judging them would flag every evening.
                if !today.complete {
                    r.status = Status::Skipped;
                    r.message = format!(
                        "{day} had not ended when it was rolled up: check it once aggregate has rolled up the whole day"
                    );
                }
                checks.push(proof_check(name, r));
            }
            checks.extend(goals.checks(settings, name, rows, day));
        }
        if checks.is_empty() {
            missing.push(day);
            continue;
        }
        let proof = build_proof(ctx, day, checks);
        for c in &proof.anomalies {
            table.push_str(&format!(
                "{day}\t{}\t{}\t{}\t{}\n",
                c.site,
                c.name,
                c.status.word(),
                c.message
            ));
        }
        worst = worst.max(overall(&proof.checks).1);
        add_summary(&mut totals, &proof.summary);
        let path = proof_path(ctx, day);
        write_json(&path, &proof)?;
        proofs.push((day, proof.status, path));
    }
    if proofs.is_empty() {
        return Err(usage(if start == end {
            format!("no rollups for {start}: run aggregate first")
        } else {
            format!("no rollups from {start} to {end}: run backfill first")
        }));
    }
    if is_range {
        let mut out = String::from("date\tsite\tcheck\tstatus\tmessage\n");
        out.push_str(&table);
        crate::util::print_stdout(&out)?;
    }
    let mut message = if let [(day, status, path)] = proofs.as_slice() {
        format!(
            "{day}: {status}, {}; proof {}",
            summary_words(&totals),
            path.display()
        )
    } else {
        format!(
            "{} days from {start} to {end}: {} fail, {} warn; {}; proofs in {}",
            proofs.len(),
            proofs.iter().filter(|p| p.1 == "fail").count(),
            proofs.iter().filter(|p| p.1 == "warn").count(),
            summary_words(&totals),
            proof_dir(ctx).display()
        )
    };
    if !missing.is_empty() {
        let days: Vec<String> = missing.iter().map(|d| d.to_string()).collect();
        message.push_str(&format!("; no rollups for {}", days.join(", ")));
        worst = worst.max(Severity::Warning);
    }
    let checked = totals.checks as u64;
    Ok(JobOutcome::ok(checked, message)
        .with_errors((totals.warnings + totals.failures) as u64)
        .with_severity(worst))
}

fn build_proof(ctx: &JobContext, day: NaiveDate, checks: Vec<ProofCheck>) -> Proof {
    let mut summary = ProofSummary {
        checks: checks.len(),
        ..ProofSummary::default()
    };
    for c in &checks {
        match c.status {
            Status::Pass => summary.passed += 1,
            Status::Warn => summary.warnings += 1,
            Status::Fail => summary.failures += 1,
            Status::Skipped => summary.skipped += 1,
        }
    }
    let anomalies = checks
        .iter()
        .filter(|c| matches!(c.status, Status::Warn | Status::Fail))
        .cloned()
        .collect();
    Proof {
        status: overall(&checks).0,
        date: day,
        timezone: ctx.settings.tz.name().to_string(),
        generated_at: rfc3339(ctx.settings.now),
        checks,
        anomalies,
        summary,
    }
}

fn add_summary(total: &mut ProofSummary, s: &ProofSummary) {
    total.checks += s.checks;
    total.passed += s.passed;
    total.warnings += s.warnings;
    total.failures += s.failures;
    total.skipped += s.skipped;
}

fn summary_words(s: &ProofSummary) -> String {
    format!(
        "{} checks: {} passed, {} warnings, {} failures, {} skipped",
        s.checks, s.passed, s.warnings, s.failures, s.skipped
    )
}

/// `<artifacts>/sampling-proofs`.
pub(crate) fn proof_dir(ctx: &JobContext) -> PathBuf {
    ctx.settings.artifacts.join(crate::artifacts::PROOFS)
}

/// `<artifacts>/sampling-proofs/sampling-proof-YYYYMMDD.json`.
pub(crate) fn proof_path(ctx: &JobContext, day: NaiveDate) -> PathBuf {
    crate::artifacts::proof_path(&ctx.settings.artifacts, day)
}
