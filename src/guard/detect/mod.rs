//! The anomaly detector behind `sampling-guard`: six checks (range and trend
//! for revenue, conversion rate and sessions) that judge one day of a site's
//! daily rollups against baselines built only from the days before it.
//!
//! Pure functions, no I/O: the caller loads the history, calls [`check_day`]
//! and writes the proof file.
//!
//! Why it is built this way (each point avoids a known failure of a plain
//! z-score over the last two weeks):
//! - The day under test is never part of its own baseline, so a full outage
//!   scores as far out as it really is.
//! - A range check predicts the day, in log space for revenue and sessions,
//!   as weekday effect + level + a share of yesterday's surprise: the
//!   weekday effect from the same weekday of the last ten weeks (each as a
//!   deviation from the week around it), the level from the last three
//!   weeks without their weekday effects (both trimmed means: robust like a
//!   median, steadier on normal noise), and the share from how much surprise
//!   has persisted day to day. So weekends and slow trends do not alert, and
//!   day-to-day persistence (a common trait of web traffic) narrows the band.
//!   The conversion rate uses pooled rates (four weeks × a weekday factor),
//!   since a small site's daily rate rests on a handful of orders.
//! - The spread is the MAD (×1.4826) of past prediction errors, measured in
//!   units of a noise floor (relative, Poisson for counts, binomial for the
//!   conversion rate), so a quiet metric does not alert on noise.
//! - Warn and fail need both a large robust score and a minimum relative
//!   change, so tiny changes on a very stable metric do not alert either.
//! - At a small shop the score cannot see a checkout break (3.5 spreads of
//!   a dozen orders reach below zero), so the conversion range check also
//!   weighs the day's orders as a count: an exact tail probability given
//!   its sessions may raise it to a warning.
//! - Past days that would have been flagged are clamped to their band edge
//!   before they feed later baselines (and kept out of the spread), so one
//!   incident does not hide the next. This is one O(days) walk per call.
//! - Trend checks compare the last 7 days with the median of the preceding
//!   full weeks: they catch level shifts and slow drifts that a range check
//!   adapts to.
//!
//! The files, by idea: `settings` (the `[guard]` config and its
//! validation), `checks` (the six checks assembled per metric, with their
//! messages), `band` (where a check warns and fails), `log_model` (range
//! model of revenue and sessions), `conversion` (range model of the
//! conversion rate), `counts` (the count evidence of orders), `trend` (the trend checks), `robust` (medians, trimmed
//! means, the error window behind a spread) and `format` (numbers as people
//! read them).

mod band;
mod checks;
mod conversion;
mod counts;
mod format;
mod log_model;
mod robust;
mod trend;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

pub use crate::settings::guard::{Direction, GuardSettings, MetricSettings};
use checks::{conversion_checks, revenue_checks, sessions_checks};
use robust::median;

/// Below this many usable days of history only the hard rules apply.
const MIN_DAYS_COLD: usize = 7;
/// From this many days on the full range method applies; before it, the
/// same weekday of last week with wide ratio bands.
const MIN_DAYS_FULL: usize = 14;
/// A trend check needs the recent week plus four full baseline weeks.
const MIN_DAYS_TREND: usize = 35;
/// How far back the walk over the history starts. Older days no longer move
/// any baseline, and the cut bounds the cost of one call.
const WALK_DAYS: i64 = 182;
/// Relative noise floor: no metric is trusted to be steadier than this.
const REL_FLOOR: f64 = 0.03;
/// Days behind the "typical day" of the zero rule and of the revenue floor.
const TYPICAL_DAYS: usize = 28;
/// A week counts (baseline or recent, or as the centre of the weekday
/// profile) with at least this many usable days.
const MIN_WEEK_DAYS: usize = 5;

/// One day of a site's rollup, as the guard needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyPoint {
    pub date: NaiveDate,
    pub sessions: u64,
    /// Sessions with at least one order.
    pub converting_sessions: u64,
    /// In currency units (not cents).
    pub revenue: f64,
}

/// The metric a check watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Revenue,
    ConversionRate,
    Sessions,
}

/// Range: the day against its expected band. Trend: the last 7 days against
/// the weeks before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Range,
    Trend,
}

/// Outcome of one check. Ordered so that the worst of several is their
/// maximum: `Skipped < Pass < Warn < Fail` (a skipped check never makes a
/// day worse than a pass; a day whose checks were all skipped is `Skipped`,
/// which a caller reports as pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skipped,
}

impl Status {
    fn rank(self) -> u8 {
        match self {
            Status::Skipped => 0,
            Status::Pass => 1,
            Status::Warn => 2,
            Status::Fail => 3,
        }
    }

    /// The status as the proof spells it.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

impl Ord for Status {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for Status {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The verdict of one check, as it goes into the sampling proof.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// "Revenue Range", "Revenue Trend", "Conversion Rate Range",
    /// "Conversion Rate Trend", "Sessions Range" or "Sessions Trend".
    pub name: &'static str,
    pub metric: Metric,
    pub kind: CheckKind,
    pub status: Status,
    /// Revenue in currency units, conversion as a fraction, sessions as a
    /// count; for trend checks the level of the last 7 days, per day.
    pub value: f64,
    pub expected: Option<f64>,
    /// The band outside which the check warns (before `direction`).
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Robust score: how many spreads the value is from the expected one.
    pub score: Option<f64>,
    /// Relative change against the expected value: -0.65 is -65%.
    pub change: Option<f64>,
    /// Days of history the check's baseline was built from.
    pub history_days: usize,
    /// One line for a person, e.g. "sessions 412, expected 1,180
    /// (1,020..1,350): -65%, fail".
    pub message: String,
}

/// Checks one day of one site.
///
/// `history`: the days strictly before `day`, ascending by date, possibly
/// with gaps; may be empty (days on or after `day` are ignored).
/// Returns exactly 6 results, in the order Revenue Range, Revenue Trend,
/// Conversion Rate Range, Conversion Rate Trend, Sessions Range, Sessions
/// Trend.
pub fn check_day(
    history: &[DailyPoint],
    day: &DailyPoint,
    settings: &GuardSettings,
) -> Vec<CheckResult> {
    let ctx = Context::new(history, day, settings);
    let mut results = Vec::with_capacity(6);
    results.extend(revenue_checks(&ctx, &settings.revenue));
    results.extend(conversion_checks(&ctx, &settings.conversion_rate));
    results.extend(sessions_checks(&ctx, &settings.sessions));
    results
}

/// Checks one day of one site's goal: its conversion rate (converting
/// sessions are the goal's conversions) against its history, with the
/// goal's thresholds (`[guard.goal.<name>]`); the same range and trend
/// checks as the site's rate.
pub fn check_goal_conversion(
    history: &[DailyPoint],
    day: &DailyPoint,
    settings: &GuardSettings,
    goal: &MetricSettings,
) -> [CheckResult; 2] {
    let ctx = Context::new(history, day, settings);
    conversion_checks(&ctx, goal)
}

/// The history as the checks see it: usable days laid out by calendar date.
struct Context<'a> {
    day: &'a DailyPoint,
    /// Usable days in the whole history: what the history thresholds count.
    usable_days: usize,
    /// The last `WALK_DAYS` days before `day`, one slot per calendar day;
    /// `None` for a missing day, a holiday or an impossible row. The day
    /// under test would be slot `slots.len()`.
    slots: Vec<Option<DailyPoint>>,
}

impl<'a> Context<'a> {
    fn new(history: &[DailyPoint], day: &'a DailyPoint, settings: &GuardSettings) -> Self {
        let usable = |p: &&DailyPoint| {
            p.date < day.date && valid_point(p) && !settings.holidays.contains(&p.date)
        };
        let earliest = day.date - Duration::days(WALK_DAYS);
        let usable_days = history.iter().filter(usable).count();
        let start = history
            .iter()
            .filter(usable)
            .map(|p| p.date)
            .filter(|&d| d >= earliest)
            .min()
            .unwrap_or(day.date);
        let mut slots = vec![None; (day.date - start).num_days() as usize];
        for p in history.iter().filter(usable).filter(|p| p.date >= start) {
            slots[(p.date - start).num_days() as usize] = Some(*p);
        }
        Context {
            day,
            usable_days,
            slots,
        }
    }

    /// Below `MIN_DAYS_COLD` usable days a range check has nothing to go
    /// by but the hard rules.
    fn require_range_history(&self) -> Result<(), String> {
        if self.usable_days < MIN_DAYS_COLD {
            return Err(format!(
                "range check needs {MIN_DAYS_COLD} days of history, have {}",
                self.usable_days
            ));
        }
        Ok(())
    }

    fn walk_days(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Median of `f` over the last `TYPICAL_DAYS` usable days: what a
    /// typical recent day looks like, whatever its weekday.
    fn typical(&self, f: impl Fn(&DailyPoint) -> f64) -> f64 {
        let mut values: Vec<f64> = self
            .slots
            .iter()
            .rev()
            .flatten()
            .take(TYPICAL_DAYS)
            .map(f)
            .collect();
        median(&mut values).unwrap_or(0.0)
    }

    /// Mean of `f` over the last `TYPICAL_DAYS` usable days: the expected
    /// count of a noise floor. Unlike the median, it stays above zero for a
    /// count that is zero on most days (a blog's one order every few days).
    fn recent_mean(&self, f: impl Fn(&DailyPoint) -> f64) -> f64 {
        let (sum, days) = self
            .slots
            .iter()
            .rev()
            .flatten()
            .take(TYPICAL_DAYS)
            .fold((0.0, 0usize), |(sum, days), p| (sum + f(p), days + 1));
        if days == 0 { 0.0 } else { sum / days as f64 }
    }

    fn date_days_before(&self, days: i64) -> NaiveDate {
        self.day.date - Duration::days(days)
    }
}

/// A history row that can feed a baseline at all.
fn valid_point(p: &DailyPoint) -> bool {
    p.revenue.is_finite() && p.revenue >= 0.0 && p.converting_sessions <= p.sessions
}
