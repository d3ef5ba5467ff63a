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
//! - Past days that would have been flagged are clamped to their band edge
//!   before they feed later baselines (and kept out of the spread), so one
//!   incident does not hide the next. This is one O(days) walk per call.
//! - Trend checks compare the last 7 days with the median of the preceding
//!   full weeks: they catch level shifts and slow drifts that a range check
//!   adapts to.

use std::cmp::Ordering;
use std::fmt;

use chrono::{Duration, NaiveDate};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

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
/// Weeks behind the weekday effects of a range prediction.
const SEASON_WEEKS: usize = 10;
/// Days behind the level term (trimmed mean of recent values without their
/// weekday effect): short enough to follow a trend, long enough to be robust.
const LEVEL_DAYS: usize = 21;
/// At most this share of yesterday's surprise carries over to today, and
/// yesterday's surprise counts at most this many spreads.
const MAX_PERSISTENCE: f64 = 0.8;
const PERSISTENCE_CAP: f64 = 2.0;
/// Past prediction errors behind the spread.
const ERROR_DAYS: usize = 84;
/// Fewer errors than this and the spread is not trusted (the range check
/// falls back to last week's value).
const MIN_ERRORS: usize = 5;
/// A past day is clamped only when its prediction was well founded: a
/// clamp towards a poor prediction would carry the error on, week after week.
const CLEAN_MIN_SEASON: usize = 3;
const CLEAN_MIN_ERRORS: usize = 14;
/// Widens the spread while it rests on few errors: factor √(1 + k/errors).
const SMALL_SAMPLE: f64 = 4.0;
/// Relative noise floor: no metric is trusted to be steadier than this.
const REL_FLOOR: f64 = 0.03;
/// Turns a median absolute deviation into a normal standard deviation.
const MAD_TO_SD: f64 = 1.4826;
/// A zero fails outright once a typical day has at least this many sessions
/// (or orders, for revenue): a Poisson count that large is zero < 0.1% of days.
const ZERO_RULE_MIN_TYPICAL: f64 = 7.0;
/// Days behind the "typical day" of the zero rule and of the revenue floor.
const TYPICAL_DAYS: usize = 28;
/// With 7 to 13 days of history the day is compared with last week's: it
/// warns only beyond ×2 (÷2) and fails beyond ×3 (÷3).
const COLD_WARN_RATIO: f64 = 2.0;
const COLD_FAIL_RATIO: f64 = 3.0;
/// Conversion level: pooled rate of the last four weeks (pooled, not a median
/// of daily rates, because daily rates of small sites are a handful of orders).
const CONV_LEVEL_DAYS: usize = 28;
/// Weekday factor of the conversion rate, from the same weekday of this many
/// weeks, shrunk towards 1 by this many pseudo-orders.
const CONV_WEEKDAY_WEEKS: usize = 8;
const CONV_WEEKDAY_PRIOR: f64 = 20.0;
/// Baseline weeks of a trend check, and the least of them it accepts.
const TREND_WEEKS: usize = 8;
const MIN_TREND_WEEKS: usize = 4;
/// Weeks behind the spread of a trend check.
const SPREAD_WEEKS: usize = 16;
/// A week counts (baseline or recent, or as the centre of the weekday
/// profile) with at least this many usable days.
const MIN_WEEK_DAYS: usize = 5;
/// A week's level moves much less than one day's value, so trend checks
/// need only this fraction of the configured minimum change.
const TREND_CHANGE_FACTOR: f64 = 0.5;

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

    fn word(self) -> &'static str {
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

/// Which departures alert: both ways, only drops, or only spikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Both,
    Drop,
    Spike,
}

/// Thresholds of one metric (`[guard.<metric>]` in the config).
///
/// A check warns when its robust score reaches `warn_score` *and* the value
/// is at least `min_change_warn` away from the expected one (relative: 0.2 =
/// 20%); the same for fail. Trend checks use half the minimum changes,
/// because a week's level moves less than a single day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricSettings {
    pub warn_score: f64,
    pub fail_score: f64,
    pub min_change_warn: f64,
    pub min_change_fail: f64,
    pub direction: Direction,
    /// Absolute lower bound of the day's value (metric units); below it the
    /// range check fails whatever the history says.
    pub min: Option<f64>,
    /// Absolute upper bound of the day's value (metric units).
    pub max: Option<f64>,
}

impl Default for MetricSettings {
    /// Tuned on `examples/bench_guard.rs` (synthetic sites of 300 to 30,000
    /// sessions a day, seeds 1-5): 0.3-0.6 false warns and at most 0.05 false
    /// fails per 100 clean site-days, while 85-89% of ×0.6 dips, 94-99% of
    /// 14-day ×0.7 shifts and all outages, ×0.35 dips and ×2.5 spikes alert.
    fn default() -> Self {
        MetricSettings {
            warn_score: 3.5,
            fail_score: 5.5,
            min_change_warn: 0.2,
            min_change_fail: 0.35,
            direction: Direction::Both,
            min: None,
            max: None,
        }
    }
}

/// The detector's settings (`[guard]` in the config).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardSettings {
    pub revenue: MetricSettings,
    pub conversion_rate: MetricSettings,
    pub sessions: MetricSettings,
    /// Days left out of every baseline (they are still checked themselves).
    /// `YYYY-MM-DD` strings, or TOML date literals.
    #[serde(deserialize_with = "deserialize_holidays")]
    pub holidays: Vec<NaiveDate>,
}

impl GuardSettings {
    /// Rejects contradictory or meaningless settings, naming the key as
    /// `guard.<metric>.<field>`.
    pub fn validate(&self) -> Result<(), String> {
        self.revenue.validate("revenue", None)?;
        self.conversion_rate
            .validate("conversion_rate", Some(1.0))?;
        self.sessions.validate("sessions", None)
    }
}

impl MetricSettings {
    fn validate(&self, metric: &str, upper_limit: Option<f64>) -> Result<(), String> {
        let key = |field: &str| format!("guard.{metric}.{field}");
        for (field, value) in [
            ("warn_score", self.warn_score),
            ("fail_score", self.fail_score),
            ("min_change_warn", self.min_change_warn),
            ("min_change_fail", self.min_change_fail),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(format!(
                    "{} must be a number of at least 0, got {value}",
                    key(field)
                ));
            }
        }
        if self.warn_score <= 0.0 {
            return Err(format!("{} must be greater than 0", key("warn_score")));
        }
        if self.fail_score <= self.warn_score {
            return Err(format!(
                "{} must be greater than warn_score ({} <= {})",
                key("fail_score"),
                self.fail_score,
                self.warn_score
            ));
        }
        if self.min_change_fail < self.min_change_warn {
            return Err(format!(
                "{} must be at least min_change_warn ({} < {})",
                key("min_change_fail"),
                self.min_change_fail,
                self.min_change_warn
            ));
        }
        for (field, bound) in [("min", self.min), ("max", self.max)] {
            let Some(bound) = bound else { continue };
            if !bound.is_finite() || bound < 0.0 {
                return Err(format!(
                    "{} must be a number of at least 0, got {bound}",
                    key(field)
                ));
            }
            if let Some(limit) = upper_limit
                && bound > limit
            {
                return Err(format!(
                    "{} must be at most {limit} (a fraction), got {bound}",
                    key(field)
                ));
            }
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err(format!(
                "{} must not be greater than max ({min} > {max})",
                key("min")
            ));
        }
        Ok(())
    }
}

/// Holidays come as `YYYY-MM-DD` strings or as TOML date literals (which the
/// toml crate hands over as a one-entry map), without chrono's serde feature.
fn deserialize_holidays<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
    struct Holiday(NaiveDate);

    impl<'de> Deserialize<'de> for Holiday {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(HolidayVisitor)
        }
    }

    struct HolidayVisitor;

    impl<'de> Visitor<'de> for HolidayVisitor {
        type Value = Holiday;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a date as YYYY-MM-DD")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Holiday, E> {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Holiday)
                .map_err(|_| {
                    E::custom(format!("guard.holidays: {s:?} is not a date as YYYY-MM-DD"))
                })
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Holiday, A::Error> {
            match map.next_entry::<String, String>()? {
                Some((_, value)) => self.visit_str(&value),
                None => Err(de::Error::custom(
                    "guard.holidays: expected a date as YYYY-MM-DD",
                )),
            }
        }
    }

    let days = Vec::<Holiday>::deserialize(d)?;
    Ok(days.into_iter().map(|h| h.0).collect())
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

    fn date_days_before(&self, days: i64) -> NaiveDate {
        self.day.date - Duration::days(days)
    }
}

/// A history row that can feed a baseline at all.
fn valid_point(p: &DailyPoint) -> bool {
    p.revenue.is_finite() && p.revenue >= 0.0 && p.converting_sessions <= p.sessions
}

// ---------------------------------------------------------------------------
// Per-metric assembly

fn revenue_checks(ctx: &Context, ms: &MetricSettings) -> [CheckResult; 2] {
    let value = ctx.day.revenue;
    let mut hard = Vec::new();
    if !value.is_finite() {
        hard.push(format!("revenue is not a number ({value})"));
    } else if value < 0.0 {
        hard.push(format!("revenue {} is negative", fmt_revenue(value)));
    }
    let typical_orders = ctx.typical(|p| p.converting_sessions as f64);
    if value == 0.0 && typical_orders >= ZERO_RULE_MIN_TYPICAL {
        hard.push(format!(
            "revenue 0.00 after a typical {} orders a day",
            fmt_thousands(typical_orders, 0)
        ));
    }
    // log(revenue + 2 typical orders) behaves like log(orders + 2) for a
    // count: a day without orders at a small shop is not infinitely far out.
    let (revenue, orders) = ctx.slots.iter().flatten().fold((0.0, 0.0), |(r, o), p| {
        (r + p.revenue, o + p.converting_sessions as f64)
    });
    let offset = if orders > 0.0 {
        2.0 * revenue / orders
    } else {
        1.0
    };
    let raw: Vec<Option<f64>> = ctx.slots.iter().map(|p| p.map(|p| p.revenue)).collect();
    log_metric_checks(
        ctx,
        Metric::Revenue,
        ms,
        &raw,
        offset,
        Floor::Orders(typical_orders),
        value,
        hard,
    )
}

fn sessions_checks(ctx: &Context, ms: &MetricSettings) -> [CheckResult; 2] {
    let value = ctx.day.sessions as f64;
    let mut hard = Vec::new();
    let typical = ctx.typical(|p| p.sessions as f64);
    if value == 0.0 && typical >= ZERO_RULE_MIN_TYPICAL {
        hard.push(format!(
            "sessions 0 after a typical {} a day",
            fmt_thousands(typical, 0)
        ));
    }
    let raw: Vec<Option<f64>> = ctx
        .slots
        .iter()
        .map(|p| p.map(|p| p.sessions as f64))
        .collect();
    log_metric_checks(
        ctx,
        Metric::Sessions,
        ms,
        &raw,
        1.0,
        Floor::Count,
        value,
        hard,
    )
}

#[allow(clippy::too_many_arguments)]
fn log_metric_checks(
    ctx: &Context,
    metric: Metric,
    ms: &MetricSettings,
    raw: &[Option<f64>],
    offset: f64,
    floor: Floor,
    value: f64,
    mut hard: Vec<String>,
) -> [CheckResult; 2] {
    let model = LogModel::walk(raw, offset, floor, ms);
    let valid = value.is_finite() && value >= 0.0;
    let value_log = (value.max(0.0) + offset).ln();
    let stat = log_range(ctx, &model, value_log, ms);
    hard.extend(bound_violations(metric, value, ms));
    let today = valid.then_some(value_log);
    // Independent days are the least a week's level can wander.
    let trend_floor = match &stat {
        Ok(s) if s.full => s.scale / 7f64.sqrt(),
        _ => REL_FLOOR,
    };
    let range = range_result(metric, value, stat, hard, ms, ctx);
    let trend = if ctx.usable_days < MIN_DAYS_TREND {
        Err(trend_history_reason(ctx))
    } else {
        trend_log(&model, raw, today, trend_floor)
    };
    let trend = trend_result(metric, trend, offset, ms, ctx);
    [range, trend]
}

fn conversion_checks(ctx: &Context, ms: &MetricSettings) -> [CheckResult; 2] {
    let metric = Metric::ConversionRate;
    let day = ctx.day;
    let (sessions, converting) = (day.sessions as f64, day.converting_sessions as f64);
    if day.converting_sessions > day.sessions {
        let message = format!(
            "conversion rate impossible: {} converting sessions out of {}: fail",
            fmt_thousands(converting, 0),
            fmt_thousands(sessions, 0)
        );
        let value = if sessions > 0.0 {
            converting / sessions
        } else {
            f64::INFINITY
        };
        let fail = |kind| CheckResult {
            status: Status::Fail,
            message: message.clone(),
            ..bare_result(metric, kind, value, ctx.usable_days)
        };
        return [fail(CheckKind::Range), fail(CheckKind::Trend)];
    }
    if day.sessions == 0 {
        let skipped = |kind| CheckResult {
            status: Status::Skipped,
            message: format!("conversion rate: skipped, no sessions on {}", day.date),
            ..bare_result(metric, kind, 0.0, ctx.usable_days)
        };
        return [skipped(CheckKind::Range), skipped(CheckKind::Trend)];
    }
    let rate = converting / sessions;
    let model = ConvModel::walk(&ctx.slots, ms);
    let stat = conversion_range(ctx, &model, rate, sessions, ms);
    let hard = bound_violations(metric, rate, ms);
    let today_converting = match &stat {
        Ok(s) if s.full => s.band.clamp(rate) * sessions,
        _ => converting,
    };
    let range = range_result(metric, rate, stat, hard, ms, ctx);
    let trend = if ctx.usable_days < MIN_DAYS_TREND {
        Err(trend_history_reason(ctx))
    } else {
        trend_conversion(&model, (today_converting, sessions))
    };
    let trend = trend_result(metric, trend, 0.0, ms, ctx);
    [range, trend]
}

fn trend_history_reason(ctx: &Context) -> String {
    format!(
        "trend needs {MIN_DAYS_TREND} days of history, have {}",
        ctx.usable_days
    )
}

fn bound_violations(metric: Metric, value: f64, ms: &MetricSettings) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(min) = ms.min
        && value < min
    {
        out.push(format!(
            "{} {} is below the configured minimum {}",
            metric.label(),
            metric.format(value),
            metric.format(min)
        ));
    }
    if let Some(max) = ms.max
        && value > max
    {
        out.push(format!(
            "{} {} is above the configured maximum {}",
            metric.label(),
            metric.format(value),
            metric.format(max)
        ));
    }
    out
}

// ---------------------------------------------------------------------------
// Bands and verdicts

/// Where a check warns and fails, in metric units. A value strictly outside
/// `warn_low..warn_high` warns, outside `fail_low..fail_high` fails.
#[derive(Debug, Clone, Copy)]
struct Band {
    expected: f64,
    warn_low: f64,
    warn_high: f64,
    fail_low: f64,
    fail_high: f64,
}

/// What a band is built from: the metric's settings, widened for a cold
/// start or with smaller minimum changes for a trend.
struct Thresholds {
    warn_score: f64,
    fail_score: f64,
    warn_change: f64,
    fail_change: f64,
    /// Minimum ratio to the expected value (1 = no extra condition).
    warn_ratio: f64,
    fail_ratio: f64,
}

impl Thresholds {
    fn range(ms: &MetricSettings) -> Self {
        Thresholds {
            warn_score: ms.warn_score,
            fail_score: ms.fail_score,
            warn_change: ms.min_change_warn,
            fail_change: ms.min_change_fail,
            warn_ratio: 1.0,
            fail_ratio: 1.0,
        }
    }

    fn cold(ms: &MetricSettings) -> Self {
        Thresholds {
            warn_ratio: COLD_WARN_RATIO,
            fail_ratio: COLD_FAIL_RATIO,
            ..Thresholds::range(ms)
        }
    }

    fn trend(ms: &MetricSettings) -> Self {
        Thresholds {
            warn_change: ms.min_change_warn * TREND_CHANGE_FACTOR,
            fail_change: ms.min_change_fail * TREND_CHANGE_FACTOR,
            ..Thresholds::range(ms)
        }
    }
}

impl Band {
    /// `score_edges(k)` gives the values `k` spreads below and above the
    /// expected one. Each edge is the farthest of the score edge, the
    /// minimum-change edge and the ratio edge: an alert needs all three.
    fn new(expected: f64, score_edges: impl Fn(f64) -> (f64, f64), t: &Thresholds) -> Self {
        let low = |score_edge: f64, change: f64, ratio: f64| {
            score_edge
                .min(expected * (1.0 - change))
                .min(expected / ratio)
                .max(0.0)
        };
        // Without an expected value no relative change exists: no spike alert.
        let high = |score_edge: f64, change: f64, ratio: f64| {
            if expected > 0.0 {
                score_edge
                    .max(expected * (1.0 + change))
                    .max(expected * ratio)
            } else {
                f64::INFINITY
            }
        };
        let (warn_low, warn_high) = score_edges(t.warn_score);
        let (fail_low, fail_high) = score_edges(t.fail_score);
        Band {
            expected,
            warn_low: low(warn_low, t.warn_change, t.warn_ratio),
            warn_high: high(warn_high, t.warn_change, t.warn_ratio),
            fail_low: low(fail_low, t.fail_change, t.fail_ratio),
            fail_high: high(fail_high, t.fail_change, t.fail_ratio),
        }
    }

    /// A band in log space: `mu` is the expected ln(value + offset).
    fn log(mu: f64, scale: f64, offset: f64, t: &Thresholds) -> Self {
        let to_value = |l: f64| l.exp() - offset;
        Band::new(
            to_value(mu).max(0.0),
            |k| (to_value(mu - k * scale), to_value(mu + k * scale)),
            t,
        )
    }

    /// A band on the rate itself (conversion range checks).
    fn linear(expected: f64, scale: f64, t: &Thresholds) -> Self {
        Band::new(
            expected,
            |k| (expected - k * scale, expected + k * scale),
            t,
        )
    }

    fn flags(&self, value: f64) -> bool {
        value < self.warn_low || value > self.warn_high
    }

    fn clamp(&self, value: f64) -> f64 {
        value.clamp(self.warn_low, self.warn_high)
    }

    fn judge(&self, value: f64, direction: Direction) -> Status {
        let (low, high) = match direction {
            Direction::Both => (true, true),
            Direction::Drop => (true, false),
            Direction::Spike => (false, true),
        };
        let outside = |lo: f64, hi: f64| (low && value < lo) || (high && value > hi);
        if outside(self.fail_low, self.fail_high) {
            Status::Fail
        } else if outside(self.warn_low, self.warn_high) {
            Status::Warn
        } else {
            Status::Pass
        }
    }

    fn change(&self, value: f64) -> Option<f64> {
        (self.expected > 0.0).then(|| value / self.expected - 1.0)
    }

    fn high_for_display(&self) -> Option<f64> {
        self.warn_high.is_finite().then_some(self.warn_high)
    }
}

/// A range check's statistical judgement, before the hard rules.
struct RangeStat {
    band: Band,
    score: f64,
    /// The spread in the score's units (log units for log metrics).
    scale: f64,
    /// Full method (true) or last week's value (false).
    full: bool,
    history_days: usize,
}

fn bare_result(metric: Metric, kind: CheckKind, value: f64, history_days: usize) -> CheckResult {
    CheckResult {
        name: metric.check_name(kind),
        metric,
        kind,
        status: Status::Skipped,
        value,
        expected: None,
        low: None,
        high: None,
        score: None,
        change: None,
        history_days,
        message: String::new(),
    }
}

fn range_result(
    metric: Metric,
    value: f64,
    stat: Result<RangeStat, String>,
    hard: Vec<String>,
    ms: &MetricSettings,
    ctx: &Context,
) -> CheckResult {
    let label = metric.label();
    let shown = metric.format(value);
    let mut result = match stat {
        Ok(stat) => {
            let status = stat.band.judge(value, ms.direction);
            let change = stat.band.change(value);
            let basis = if stat.full {
                ""
            } else {
                ", same weekday last week"
            };
            CheckResult {
                status,
                expected: Some(stat.band.expected),
                low: Some(stat.band.warn_low),
                high: stat.band.high_for_display(),
                score: Some(stat.score),
                change,
                message: format!(
                    "{label} {shown}, expected {} ({}{basis}): {}, {}",
                    metric.format(stat.band.expected),
                    fmt_band(metric, &stat.band),
                    fmt_change(change),
                    status.word()
                ),
                ..bare_result(metric, CheckKind::Range, value, stat.history_days)
            }
        }
        Err(reason) => CheckResult {
            message: format!("{label} {shown}: skipped, {reason}"),
            ..bare_result(metric, CheckKind::Range, value, ctx.usable_days)
        },
    };
    if !hard.is_empty() {
        result.status = Status::Fail;
        result.message = format!("{}: fail", hard.join("; "));
    }
    result
}

fn trend_result(
    metric: Metric,
    stat: Result<TrendStat, String>,
    offset: f64,
    ms: &MetricSettings,
    ctx: &Context,
) -> CheckResult {
    let label = metric.label();
    let stat = match stat {
        Ok(stat) => stat,
        Err(reason) => {
            return CheckResult {
                message: format!("{label} trend: skipped, {reason}"),
                ..bare_result(metric, CheckKind::Trend, 0.0, ctx.usable_days)
            };
        }
    };
    let band = Band::log(stat.base, stat.scale, offset, &Thresholds::trend(ms));
    let value = (stat.recent.exp() - offset).max(0.0);
    let status = band.judge(value, ms.direction);
    let change = band.change(value);
    let per_day = if metric == Metric::ConversionRate {
        ""
    } else {
        "/day"
    };
    CheckResult {
        status,
        expected: Some(band.expected),
        low: Some(band.warn_low),
        high: band.high_for_display(),
        score: Some((stat.recent - stat.base) / stat.scale),
        change,
        message: format!(
            "{label} last 7 days {}{per_day}, expected {}{per_day} ({}): {}, {}",
            metric.format(value),
            metric.format(band.expected),
            fmt_band(metric, &band),
            fmt_change(change),
            status.word()
        ),
        ..bare_result(metric, CheckKind::Trend, value, stat.history_days)
    }
}

// ---------------------------------------------------------------------------
// Range model for revenue and sessions (log space)

/// The noise floor of a log-space metric, as a variance of ln(value + offset).
#[derive(Debug, Clone, Copy)]
enum Floor {
    /// A count (offset 1): Poisson noise of the expected count.
    Count,
    /// Revenue of about this many orders a day (offset 2 average orders):
    /// compound Poisson noise, with order values assumed to vary about as
    /// much as their mean.
    Orders(f64),
}

impl Floor {
    fn sd(self, mu: f64, offset: f64) -> f64 {
        let sampling = match self {
            Floor::Count => {
                let count = (mu.exp() - offset).max(0.0);
                count / ((count + 1.0) * (count + 1.0))
            }
            Floor::Orders(orders) => 2.0 * orders / ((orders + 2.0) * (orders + 2.0)),
        };
        (sampling + REL_FLOOR * REL_FLOOR).sqrt()
    }
}

/// How wide the spread is, in units of the floor, and how many past errors
/// say so.
#[derive(Debug, Clone, Copy)]
struct Spread {
    factor: f64,
    errors: usize,
}

/// Absolute prediction errors of the last `ERROR_DAYS` slots, kept sorted so
/// that the walk reads their median in one step.
#[derive(Default)]
struct ErrorWindow {
    sorted: Vec<f64>,
}

impl ErrorWindow {
    /// Moves the window to end just before slot `i` (call with i = 0, 1, …).
    fn advance(&mut self, errors: &[Option<f64>], i: usize) {
        if let Some(e) = i.checked_sub(1).and_then(|j| errors[j]) {
            let e = e.abs();
            let at = self.sorted.partition_point(|&x| x < e);
            self.sorted.insert(at, e);
        }
        if let Some(e) = i.checked_sub(ERROR_DAYS + 1).and_then(|j| errors[j]) {
            let e = e.abs();
            let at = self.sorted.partition_point(|&x| x < e);
            self.sorted.remove(at);
        }
    }

    /// MAD of the errors (about zero: a biased prediction is an error too),
    /// never below the floor, widened while it rests on few errors.
    fn spread(&self) -> Option<Spread> {
        let n = self.sorted.len();
        if n < MIN_ERRORS {
            return None;
        }
        let median = if n % 2 == 1 {
            self.sorted[n / 2]
        } else {
            (self.sorted[n / 2 - 1] + self.sorted[n / 2]) / 2.0
        };
        Some(Spread {
            factor: (MAD_TO_SD * median).max(1.0) * (1.0 + SMALL_SAMPLE / n as f64).sqrt(),
            errors: n,
        })
    }
}

impl Spread {
    fn cleans(&self) -> bool {
        self.errors >= CLEAN_MIN_ERRORS
    }
}

/// The weekday profile of a log-space metric: for each weekday (slot index
/// mod 7), the trimmed mean deviation of its last `SEASON_WEEKS` days from
/// the mean of the week centred on them. Deviations from a centred mean, not
/// raw values, so that a week that was high overall does not move the profile.
#[derive(Default)]
struct WeekdayProfile {
    recent: [Vec<f64>; 7],
    effect: [Option<f64>; 7],
}

impl WeekdayProfile {
    fn push(&mut self, weekday: usize, deviation: f64) {
        let recent = &mut self.recent[weekday];
        if recent.len() == SEASON_WEEKS {
            recent.remove(0);
        }
        recent.push(deviation);
        let mut sorted = [0.0; SEASON_WEEKS];
        sorted[..recent.len()].copy_from_slice(recent);
        self.effect[weekday] = trimmed_mean(&mut sorted[..recent.len()]);
    }
}

/// Running lag-1 regression of the prediction errors (before the AR term)
/// over the error window: how much of yesterday's surprise carries over.
#[derive(Default)]
struct Persistence {
    sum_xy: f64,
    sum_xx: f64,
    pairs: usize,
}

impl Persistence {
    fn advance(&mut self, surprise: &[Option<f64>], i: usize) {
        let pair = |j: usize| Some((surprise[j.checked_sub(1)?]?, surprise[j]?));
        if let Some((x, y)) = i.checked_sub(1).and_then(pair) {
            self.sum_xy += x * y;
            self.sum_xx += x * x;
            self.pairs += 1;
        }
        if let Some((x, y)) = i.checked_sub(ERROR_DAYS + 1).and_then(pair) {
            self.sum_xy -= x * y;
            self.sum_xx -= x * x;
            self.pairs -= 1;
        }
    }

    fn coefficient(&self) -> f64 {
        if self.pairs < CLEAN_MIN_ERRORS || self.sum_xx <= 0.0 {
            0.0
        } else {
            (self.sum_xy / self.sum_xx).clamp(0.0, MAX_PERSISTENCE)
        }
    }
}

/// One pass over the history that predicts every day from the days before
/// it (weekday profile + robust level + a share of yesterday's surprise),
/// clamps the days that would have been flagged, and keeps what later
/// predictions need.
struct LogModel {
    offset: f64,
    floor: Floor,
    /// ln(value + offset) of each slot, after clamping.
    y: Vec<Option<f64>>,
    profile: WeekdayProfile,
    /// y minus (profile + level) at the time of each slot's prediction.
    surprise: Vec<Option<f64>>,
    persistence: Persistence,
    /// One-step prediction errors in units of the floor.
    errors: Vec<Option<f64>>,
    window: ErrorWindow,
}

struct LogPrediction {
    /// Weeks behind today's weekday profile.
    season_count: usize,
    /// Profile + level, before the share of yesterday's surprise.
    base: f64,
    mu: f64,
    floor_sd: f64,
    spread: Option<Spread>,
}

impl LogModel {
    fn walk(raw: &[Option<f64>], offset: f64, floor: Floor, ms: &MetricSettings) -> Self {
        let n = raw.len();
        let mut model = LogModel {
            offset,
            floor,
            y: raw.iter().map(|v| v.map(|v| (v + offset).ln())).collect(),
            profile: WeekdayProfile::default(),
            surprise: vec![None; n],
            persistence: Persistence::default(),
            errors: vec![None; n],
            window: ErrorWindow::default(),
        };
        // Past days are cleaned whichever direction alerts: a spike left in
        // the baseline would make the next ordinary day look like a drop.
        let thresholds = Thresholds::range(ms);
        let mut scratch = Vec::with_capacity(LEVEL_DAYS);
        for i in 0..n {
            model.advance(i);
            let Some(y) = model.y[i] else { continue };
            let Some(p) = model.predict(i, &mut scratch) else {
                continue;
            };
            if let Some(spread) = p.spread
                && spread.cleans()
                && p.season_count >= CLEAN_MIN_SEASON
            {
                let band = Band::log(p.mu, p.floor_sd * spread.factor, offset, &thresholds);
                let value = y.exp() - offset;
                if band.flags(value) {
                    // Clamped for the baselines; left out of the spread and
                    // the persistence, which it would only inflate.
                    model.y[i] = Some((band.clamp(value) + offset).ln());
                    continue;
                }
            }
            model.surprise[i] = Some(y - p.base);
            model.errors[i] = Some((y - p.mu) / p.floor_sd);
        }
        model.advance(n);
        model
    }

    /// Brings the running state to "everything before slot `i` is known".
    fn advance(&mut self, i: usize) {
        self.window.advance(&self.errors, i);
        self.persistence.advance(&self.surprise, i);
        // The week centred on slot i - 4 is complete now.
        let Some(m) = i.checked_sub(4) else { return };
        let Some(y) = self.y[m] else { return };
        let (sum, days) = (m.saturating_sub(3)..=m + 3)
            .filter_map(|j| self.y[j])
            .fold((0.0, 0), |(sum, days), v| (sum + v, days + 1));
        if days >= MIN_WEEK_DAYS {
            self.profile.push(m % 7, y - sum / days as f64);
        }
    }

    /// ln value of slot `j` without its weekday effect.
    fn deseasonalised(&self, j: usize) -> Option<f64> {
        Some(self.y.get(j).copied()?? - self.profile.effect[j % 7]?)
    }

    /// Prediction for slot `i` from the slots before it only; the running
    /// state must have been advanced to `i` (`i == y.len()` is the day under
    /// test).
    fn predict(&self, i: usize, scratch: &mut Vec<f64>) -> Option<LogPrediction> {
        let seasonal = self.profile.effect[i % 7]?;
        scratch.clear();
        scratch.extend((i.saturating_sub(LEVEL_DAYS)..i).filter_map(|j| self.deseasonalised(j)));
        let level = trimmed_mean(scratch)?;
        let base = seasonal + level;
        let floor_sd = self.floor.sd(base, self.offset);
        let spread = self.window.spread();
        let mut mu = base;
        // Noise persists from day to day: a share of yesterday's surprise
        // carries over. Capped, so that an incident yesterday moves today's
        // expectation only a little.
        if let (Some(spread), Some(yesterday)) = (
            spread,
            i.checked_sub(1).and_then(|j| self.deseasonalised(j)),
        ) {
            let cap = PERSISTENCE_CAP * floor_sd * spread.factor;
            mu += self.persistence.coefficient() * (yesterday - level).clamp(-cap, cap);
        }
        Some(LogPrediction {
            season_count: self.profile.recent[i % 7].len(),
            base,
            mu,
            floor_sd: self.floor.sd(mu, self.offset),
            spread,
        })
    }
}

fn log_range(
    ctx: &Context,
    model: &LogModel,
    value_log: f64,
    ms: &MetricSettings,
) -> Result<RangeStat, String> {
    if ctx.usable_days < MIN_DAYS_COLD {
        return Err(format!(
            "range check needs {MIN_DAYS_COLD} days of history, have {}",
            ctx.usable_days
        ));
    }
    let n = ctx.slots.len();
    if ctx.usable_days >= MIN_DAYS_FULL
        && let Some(p) = model.predict(n, &mut Vec::new())
        && let Some(spread) = p.spread
    {
        let scale = p.floor_sd * spread.factor;
        return Ok(RangeStat {
            band: Band::log(p.mu, scale, model.offset, &Thresholds::range(ms)),
            score: (value_log - p.mu) / scale,
            scale,
            full: true,
            history_days: ctx.walk_days(),
        });
    }
    // Too little history for a spread: last week's same weekday, with wide
    // ratio bands (both days carry sampling noise, hence √2).
    let Some(reference) = n.checked_sub(7).and_then(|j| model.y[j]) else {
        return Err(format!(
            "no usable day on the same weekday last week ({})",
            ctx.date_days_before(7)
        ));
    };
    let scale = std::f64::consts::SQRT_2 * model.floor.sd(reference, model.offset);
    Ok(RangeStat {
        band: Band::log(reference, scale, model.offset, &Thresholds::cold(ms)),
        score: (value_log - reference) / scale,
        scale,
        full: false,
        history_days: ctx.usable_days,
    })
}

// ---------------------------------------------------------------------------
// Range model for the conversion rate (pooled rates, binomial floor)

/// Like [`LogModel`], on converting sessions out of sessions.
struct ConvModel {
    /// Converting sessions of each usable slot, after clamping its rate.
    converting: Vec<Option<f64>>,
    /// Sessions of each slot (0 when unusable).
    sessions: Vec<f64>,
    /// Running sums of the cleaned converting sessions and of the sessions
    /// of usable slots: `sums[i]` covers the slots before `i`.
    sums: Vec<(f64, f64)>,
    /// One-step prediction errors in units of the floor.
    errors: Vec<Option<f64>>,
    window: ErrorWindow,
}

struct ConvPrediction {
    rate: f64,
    /// Sessions behind the level: the uncertainty of the rate itself.
    base_sessions: f64,
    spread: Option<Spread>,
}

impl ConvPrediction {
    /// Binomial noise of a day with `sessions`, of the baseline, and the
    /// relative floor.
    fn floor_sd(&self, sessions: f64) -> f64 {
        let half = 0.5 / self.base_sessions;
        let p = self.rate.max(half).min(1.0 - half);
        let binomial = p * (1.0 - p) * (1.0 / sessions + 1.0 / self.base_sessions);
        (binomial + (REL_FLOOR * p).powi(2)).sqrt()
    }
}

impl ConvModel {
    fn walk(slots: &[Option<DailyPoint>], ms: &MetricSettings) -> Self {
        let n = slots.len();
        let mut model = ConvModel {
            converting: slots
                .iter()
                .map(|p| p.map(|p| p.converting_sessions as f64))
                .collect(),
            sessions: slots
                .iter()
                .map(|p| p.map_or(0.0, |p| p.sessions as f64))
                .collect(),
            sums: Vec::with_capacity(n + 1),
            errors: vec![None; n],
            window: ErrorWindow::default(),
        };
        model.sums.push((0.0, 0.0));
        let thresholds = Thresholds::range(ms);
        for i in 0..n {
            model.window.advance(&model.errors, i);
            model.judge_past_day(i, &thresholds);
            let (c, s) = model.sums[i];
            let (dc, ds) = match model.converting[i] {
                Some(converting) => (converting, model.sessions[i]),
                None => (0.0, 0.0),
            };
            model.sums.push((c + dc, s + ds));
        }
        model.window.advance(&model.errors, n);
        model
    }

    fn judge_past_day(&mut self, i: usize, thresholds: &Thresholds) {
        let (Some(converting), sessions) = (self.converting[i], self.sessions[i]) else {
            return;
        };
        if sessions <= 0.0 {
            return;
        }
        let Some(p) = self.predict(i) else { return };
        let sd = p.floor_sd(sessions);
        let rate = converting / sessions;
        if let Some(spread) = p.spread
            && spread.cleans()
        {
            let band = Band::linear(p.rate, sd * spread.factor, thresholds);
            if band.flags(rate) {
                // Clamped for the baselines, left out of the spread.
                self.converting[i] = Some(band.clamp(rate) * sessions);
                return;
            }
        }
        self.errors[i] = Some((rate - p.rate) / sd);
    }

    /// Converting sessions and sessions of the slots `from..i` (`i` is the
    /// slot being predicted, so every slot before it is summed already).
    fn sums_since(&self, from: usize, i: usize) -> (f64, f64) {
        let (c1, s1) = self.sums[i];
        let (c0, s0) = self.sums[from];
        (c1 - c0, s1 - s0)
    }

    /// Rate of the last four weeks × a shrunk weekday factor.
    fn predict(&self, i: usize) -> Option<ConvPrediction> {
        let (converting, sessions) = self.sums_since(i.saturating_sub(CONV_LEVEL_DAYS), i);
        if sessions <= 0.0 {
            return None;
        }
        let weeks = 7 * CONV_WEEKDAY_WEEKS;
        let (all_converting, all_sessions) = self.sums_since(i.saturating_sub(weeks), i);
        let (day_converting, day_sessions) = (1..=CONV_WEEKDAY_WEEKS)
            .filter_map(|k| i.checked_sub(7 * k))
            .filter_map(|j| self.converting[j].map(|c| (c, self.sessions[j])))
            .fold((0.0, 0.0), |(c, s), (dc, ds)| (c + dc, s + ds));
        let overall = all_converting / all_sessions;
        let weekday = if overall > 0.0 {
            (day_converting + CONV_WEEKDAY_PRIOR) / (overall * day_sessions + CONV_WEEKDAY_PRIOR)
        } else {
            1.0
        };
        Some(ConvPrediction {
            rate: (converting / sessions * weekday).min(1.0),
            base_sessions: sessions,
            spread: self.window.spread(),
        })
    }
}

fn conversion_range(
    ctx: &Context,
    model: &ConvModel,
    rate: f64,
    sessions: f64,
    ms: &MetricSettings,
) -> Result<RangeStat, String> {
    if ctx.usable_days < MIN_DAYS_COLD {
        return Err(format!(
            "range check needs {MIN_DAYS_COLD} days of history, have {}",
            ctx.usable_days
        ));
    }
    let n = ctx.slots.len();
    if ctx.usable_days >= MIN_DAYS_FULL
        && let Some(p) = model.predict(n)
        && let Some(spread) = p.spread
    {
        let scale = p.floor_sd(sessions) * spread.factor;
        return Ok(RangeStat {
            band: Band::linear(p.rate, scale, &Thresholds::range(ms)),
            score: (rate - p.rate) / scale,
            scale,
            full: true,
            history_days: ctx.walk_days(),
        });
    }
    let reference = n
        .checked_sub(7)
        .and_then(|j| model.converting[j].map(|c| (c, model.sessions[j])))
        .filter(|&(_, s)| s > 0.0);
    let Some((ref_converting, ref_sessions)) = reference else {
        return Err(format!(
            "no usable day with sessions on the same weekday last week ({})",
            ctx.date_days_before(7)
        ));
    };
    let p = ConvPrediction {
        rate: ref_converting / ref_sessions,
        base_sessions: ref_sessions,
        spread: None,
    };
    let scale = p.floor_sd(sessions);
    Ok(RangeStat {
        band: Band::linear(p.rate, scale, &Thresholds::cold(ms)),
        score: (rate - p.rate) / scale,
        scale,
        full: false,
        history_days: ctx.usable_days,
    })
}

// ---------------------------------------------------------------------------
// Trend checks

/// The last 7 days against the preceding weeks, in log space.
struct TrendStat {
    /// Level of the last 7 days (ending with the day under test).
    recent: f64,
    /// Median level of the baseline weeks.
    base: f64,
    /// Spread of the difference.
    scale: f64,
    history_days: usize,
}

/// Running sums over slots, so that any week's mean is one subtraction.
struct PrefixSums {
    /// (sum of values, sum of weights, usable days) before each slot.
    sums: Vec<(f64, f64, usize)>,
}

impl PrefixSums {
    fn new(values: impl Iterator<Item = Option<(f64, f64)>>) -> Self {
        let mut sums = vec![(0.0, 0.0, 0)];
        let mut acc = (0.0, 0.0, 0);
        for v in values {
            if let Some((value, weight)) = v {
                acc = (acc.0 + value, acc.1 + weight, acc.2 + 1);
            }
            sums.push(acc);
        }
        PrefixSums { sums }
    }

    /// Sums over the 7 slots ending with `end`.
    fn week(&self, end: usize) -> Option<(f64, f64, usize)> {
        let (v1, w1, d1) = *self.sums.get(end + 1)?;
        let (v0, w0, d0) = self.sums[end.checked_sub(6)?];
        Some((v1 - v0, w1 - w0, d1 - d0))
    }
}

/// Revenue and sessions: trimmed mean of the deseasonalised ln values of the
/// 7 days ending with the day under test (slot `n`), against the median of
/// the preceding weeks' trimmed means. A full week holds every weekday once,
/// so the weekday mix cancels; the profile matters only for weeks with gaps
/// or holidays.
///
/// The last 7 days are taken as they were, not clamped: a shift must show at
/// its full size. Trimming the highest and lowest day keeps a lone spike,
/// which is the range check's business, from moving the week.
fn trend_log(
    model: &LogModel,
    raw: &[Option<f64>],
    today: Option<f64>,
    floor: f64,
) -> Result<TrendStat, String> {
    let n = model.y.len();
    let profile = &model.profile.effect;
    let recent_start = n.saturating_sub(6);
    let value = |j: usize| {
        let y = if j == n {
            today?
        } else if j >= recent_start {
            (raw[j]? + model.offset).ln()
        } else {
            model.y[j]?
        };
        Some(y - profile[j % 7]?)
    };
    let level = |end: usize| {
        let mut week = [0.0; 7];
        let mut days = 0;
        for v in (end.checked_sub(6)?..=end).filter_map(value) {
            week[days] = v;
            days += 1;
        }
        (days >= MIN_WEEK_DAYS).then(|| (trimmed_mean(&mut week[..days]).unwrap_or(0.0), days))
    };
    trend_stat(n, level, floor)
}

/// Conversion: pooled rate of the last 7 days against the median of the
/// preceding weeks' pooled rates, in log space. Unlike revenue and sessions,
/// the days are taken as clamped by the range check (today included): a
/// small site's daily rates are too noisy to trim one day by rank, and a
/// one-day tracking break would otherwise move the week's rate for 7 days.
fn trend_conversion(model: &ConvModel, today: (f64, f64)) -> Result<TrendStat, String> {
    let n = model.converting.len();
    let value = |j: usize| {
        if j == n {
            Some(today)
        } else {
            model.converting[j].map(|c| (c, model.sessions[j]))
        }
    };
    let sums = PrefixSums::new((0..=n).map(value));
    let level = |end: usize| {
        let (converting, sessions, days) = sums.week(end)?;
        (days >= MIN_WEEK_DAYS && sessions > 0.0)
            .then(|| (((converting + 0.5) / (sessions + 1.0)).ln(), days))
    };
    // Binomial noise of the recent week's rate, and the relative floor.
    let floor = match sums.week(n) {
        Some((converting, sessions, _)) if sessions > 0.0 => {
            let p = ((converting + 0.5) / (sessions + 1.0)).min(0.5);
            ((1.0 - p) / (p * sessions) + REL_FLOOR * REL_FLOOR / 7.0).sqrt()
        }
        _ => REL_FLOOR,
    };
    trend_stat(n, level, floor)
}

/// The spread is the larger of two robust estimates of how much a week's
/// level wanders, both over the 7-day windows ending on every day (not only
/// on the baseline weeks' ends, which would make the estimate jump from one
/// day to the next): the MAD of the windows of the baseline span around the
/// baseline, and the MAD of the change between a window and the one a week
/// before it, over up to `SPREAD_WEEKS` weeks (÷√2; blind to a steady
/// trend). Widened for the baseline's own error, and never below `floor`.
fn trend_stat(
    n: usize,
    level: impl Fn(usize) -> Option<(f64, usize)>,
    floor: f64,
) -> Result<TrendStat, String> {
    let Some((recent, _)) = level(n) else {
        return Err(format!(
            "trend needs {MIN_WEEK_DAYS} usable days among the last 7"
        ));
    };
    // levels[d] is the window ending d days before the day under test.
    let levels: Vec<Option<(f64, usize)>> = (0..=7 * SPREAD_WEEKS)
        .map(|d| n.checked_sub(d).and_then(&level))
        .collect();
    let weeks: Vec<(f64, usize)> = (1..=TREND_WEEKS).filter_map(|k| levels[7 * k]).collect();
    if weeks.len() < MIN_TREND_WEEKS {
        return Err(format!(
            "trend needs {MIN_TREND_WEEKS} baseline weeks with {MIN_WEEK_DAYS}+ usable days, have {}",
            weeks.len()
        ));
    }
    let history_days = weeks.iter().map(|w| w.1).sum();
    let mut baseline: Vec<f64> = weeks.iter().map(|w| w.0).collect();
    let base = median(&mut baseline).unwrap_or(0.0);
    let mut deviations: Vec<f64> = levels[7..=7 * TREND_WEEKS]
        .iter()
        .flatten()
        .map(|l| (l.0 - base).abs())
        .collect();
    let levels_sd = MAD_TO_SD * median(&mut deviations).unwrap_or(0.0);
    // Windows that overlap the last 7 days are left out: a change under
    // way must not widen its own spread.
    let mut steps: Vec<f64> = (14..=7 * SPREAD_WEEKS)
        .filter_map(|d| Some((levels[d - 7]?.0 - levels[d]?.0).abs()))
        .collect();
    let steps_sd = MAD_TO_SD * median(&mut steps).unwrap_or(0.0) / std::f64::consts::SQRT_2;
    let widen = (1.0 + std::f64::consts::FRAC_PI_2 / weeks.len() as f64).sqrt();
    Ok(TrendStat {
        recent,
        base,
        scale: levels_sd.max(steps_sd).max(floor) * widen,
        history_days,
    })
}

// ---------------------------------------------------------------------------
// Small helpers

/// Mean without the lowest and highest quarter (median for fewer than four
/// values): nearly as precise as a mean on normal noise, yet an outlier
/// moves it little. Reorders `values`.
fn trimmed_mean(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n < 4 {
        return median(values);
    }
    let cut = n / 4;
    if cut == 1 {
        // The common case of a week: drop the lowest and the highest.
        let (sum, low, high) = values.iter().fold(
            (0.0, f64::INFINITY, f64::NEG_INFINITY),
            |(sum, low, high), &v| (sum + v, low.min(v), high.max(v)),
        );
        return Some((sum - low - high) / (n - 2) as f64);
    }
    // Two partitions instead of a sort: only the middle's sum is needed.
    let (_, _, upper) = values.select_nth_unstable_by(cut - 1, f64::total_cmp);
    let kept = n - 2 * cut;
    let (middle, _, _) = upper.select_nth_unstable_by(kept, f64::total_cmp);
    Some(middle.iter().sum::<f64>() / kept as f64)
}

/// Median (mean of the middle two for an even count); reorders `values`.
fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (lower, middle, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let middle = *middle;
    if n % 2 == 1 {
        Some(middle)
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((below + middle) / 2.0)
    }
}

impl Metric {
    fn label(self) -> &'static str {
        match self {
            Metric::Revenue => "revenue",
            Metric::ConversionRate => "conversion rate",
            Metric::Sessions => "sessions",
        }
    }

    fn check_name(self, kind: CheckKind) -> &'static str {
        match (self, kind) {
            (Metric::Revenue, CheckKind::Range) => "Revenue Range",
            (Metric::Revenue, CheckKind::Trend) => "Revenue Trend",
            (Metric::ConversionRate, CheckKind::Range) => "Conversion Rate Range",
            (Metric::ConversionRate, CheckKind::Trend) => "Conversion Rate Trend",
            (Metric::Sessions, CheckKind::Range) => "Sessions Range",
            (Metric::Sessions, CheckKind::Trend) => "Sessions Trend",
        }
    }

    /// The value as a person reads it: "1,180", "1,234.50", "2.95%".
    fn format(self, value: f64) -> String {
        match self {
            Metric::Revenue => fmt_revenue(value),
            Metric::ConversionRate => format!("{:.2}%", value * 100.0),
            Metric::Sessions => fmt_thousands(value, 0),
        }
    }
}

fn fmt_revenue(value: f64) -> String {
    fmt_thousands(value, 2)
}

/// `1234567.891` with 2 decimals → "1,234,567.89".
fn fmt_thousands(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::with_capacity(text.len() + int.len() / 3 + 1);
    if value < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

fn fmt_band(metric: Metric, band: &Band) -> String {
    let high = band
        .high_for_display()
        .map_or_else(|| "∞".to_string(), |h| metric.format(h));
    format!("{}..{high}", metric.format(band.warn_low))
}

/// "+5%", "-65%"; "n/a" without an expected value.
fn fmt_change(change: Option<f64>) -> String {
    match change {
        None => "n/a".to_string(),
        Some(c) if !c.is_finite() => "n/a".to_string(),
        Some(c) => {
            let percent = (c * 100.0).round();
            if percent == 0.0 {
                "+0%".to_string()
            } else {
                format!("{percent:+.0}%")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(days: i64) -> NaiveDate {
        // 2026-01-05 is a Monday.
        NaiveDate::from_ymd_opt(2026, 1, 5).unwrap() + Duration::days(days)
    }

    /// Small deterministic noise in -1..1 (xorshift), so tests need no rand.
    fn noise(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// `days` days of a shop with ~1,000 sessions on weekdays, 30% fewer at
    /// weekends, ±6% noise, a 3% conversion rate and 50.00 per order.
    fn series(days: i64) -> Vec<DailyPoint> {
        let mut state = 0x2545_f491_4f6c_dd1d;
        (0..days)
            .map(|d| {
                let weekend = if d % 7 >= 5 { 0.7 } else { 1.0 };
                let sessions = (1000.0 * weekend * (1.0 + 0.06 * noise(&mut state))).round();
                let orders = (sessions * 0.03 * (1.0 + 0.1 * noise(&mut state))).round();
                DailyPoint {
                    date: date(d),
                    sessions: sessions as u64,
                    converting_sessions: orders as u64,
                    revenue: orders * 50.0,
                }
            })
            .collect()
    }

    /// Splits a series into its history and its last day, scaled by `traffic`.
    fn last_day_scaled(points: &[DailyPoint], traffic: f64) -> (&[DailyPoint], DailyPoint) {
        let (day, history) = points.split_last().unwrap();
        let sessions = (day.sessions as f64 * traffic).round();
        let orders = (day.converting_sessions as f64 * traffic).round();
        let day = DailyPoint {
            sessions: sessions as u64,
            converting_sessions: orders as u64,
            revenue: orders * 50.0,
            ..*day
        };
        (history, day)
    }

    fn find<'a>(results: &'a [CheckResult], name: &str) -> &'a CheckResult {
        results.iter().find(|r| r.name == name).unwrap()
    }

    fn statuses(results: &[CheckResult]) -> Vec<Status> {
        results.iter().map(|r| r.status).collect()
    }

    #[test]
    fn returns_six_named_checks_in_order() {
        let points = series(120);
        let (history, day) = last_day_scaled(&points, 1.0);
        let results = check_day(history, &day, &GuardSettings::default());
        let names: Vec<&str> = results.iter().map(|r| r.name).collect();
        assert_eq!(
            names,
            [
                "Revenue Range",
                "Revenue Trend",
                "Conversion Rate Range",
                "Conversion Rate Trend",
                "Sessions Range",
                "Sessions Trend"
            ]
        );
        assert_eq!(results[2].metric, Metric::ConversionRate);
        assert_eq!(results[3].kind, CheckKind::Trend);
    }

    #[test]
    fn clean_weekly_seasonal_series_passes_every_day() {
        let points = series(150);
        let settings = GuardSettings::default();
        for t in 35..points.len() {
            let results = check_day(&points[..t], &points[t], &settings);
            assert_eq!(
                statuses(&results),
                [Status::Pass; 6],
                "day {t}: {:#?}",
                results
            );
        }
    }

    #[test]
    fn weekend_is_expected_low() {
        let points = series(120);
        // Day 118 is a Saturday.
        let results = check_day(&points[..118], &points[118], &GuardSettings::default());
        let sessions = find(&results, "Sessions Range");
        let expected = sessions.expected.unwrap();
        assert!((650.0..750.0).contains(&expected), "{expected}");
        assert_eq!(sessions.status, Status::Pass);
    }

    #[test]
    fn zero_day_fails_and_conversion_is_skipped() {
        let points = series(90);
        let (history, day) = last_day_scaled(&points, 0.0);
        let results = check_day(history, &day, &GuardSettings::default());
        let sessions = find(&results, "Sessions Range");
        assert_eq!(sessions.status, Status::Fail);
        assert!(
            sessions.message.starts_with("sessions 0 after a typical"),
            "{}",
            sessions.message
        );
        assert_eq!(find(&results, "Revenue Range").status, Status::Fail);
        for name in ["Conversion Rate Range", "Conversion Rate Trend"] {
            let check = find(&results, name);
            assert_eq!(check.status, Status::Skipped);
            assert!(
                check.message.contains("no sessions on"),
                "{}",
                check.message
            );
        }
    }

    #[test]
    fn zero_fails_even_with_little_history() {
        let points = series(4);
        let (history, day) = last_day_scaled(&points, 0.0);
        let results = check_day(history, &day, &GuardSettings::default());
        assert_eq!(find(&results, "Sessions Range").status, Status::Fail);
        assert_eq!(find(&results, "Sessions Trend").status, Status::Skipped);
    }

    #[test]
    fn huge_spike_fails_with_a_readable_message() {
        let points = series(88);
        let (history, day) = last_day_scaled(&points, 3.0);
        let results = check_day(history, &day, &GuardSettings::default());
        let sessions = find(&results, "Sessions Range");
        assert_eq!(sessions.status, Status::Fail);
        assert!(sessions.score.unwrap() > 10.0);
        assert!(sessions.change.unwrap() > 1.5);
        assert!(sessions.message.ends_with(", fail"), "{}", sessions.message);
        let shown = format!(
            "sessions {}, expected ",
            fmt_thousands(day.sessions as f64, 0)
        );
        assert!(sessions.message.starts_with(&shown), "{}", sessions.message);
        // 30 orders a day are noisy (compound Poisson): ×3 is a warn at least.
        assert!(find(&results, "Revenue Range").status >= Status::Warn);
        // A rate does not move when traffic triples.
        assert_eq!(find(&results, "Conversion Rate Range").status, Status::Pass);
    }

    #[test]
    fn moderate_dip_warns() {
        let points = series(88);
        let (history, day) = last_day_scaled(&points, 0.7);
        let results = check_day(history, &day, &GuardSettings::default());
        assert!(find(&results, "Sessions Range").status >= Status::Warn);
    }

    #[test]
    fn conversion_break_alerts() {
        let points = series(88);
        let (history, mut day) = last_day_scaled(&points, 1.0);
        day.converting_sessions = (day.converting_sessions as f64 * 0.2) as u64;
        let results = check_day(history, &day, &GuardSettings::default());
        let conversion = find(&results, "Conversion Rate Range");
        assert!(conversion.status >= Status::Warn, "{conversion:#?}");
        assert!(
            conversion.message.starts_with("conversion rate 0."),
            "{}",
            conversion.message
        );
        assert!(
            conversion.message.contains("%, expected 2.9"),
            "{}",
            conversion.message
        );
    }

    #[test]
    fn short_history_is_skipped_with_the_reason() {
        let points = series(4);
        let (history, day) = last_day_scaled(&points, 1.0);
        let results = check_day(history, &day, &GuardSettings::default());
        assert_eq!(statuses(&results), [Status::Skipped; 6]);
        let range = find(&results, "Sessions Range");
        assert!(
            range
                .message
                .contains("range check needs 7 days of history, have 3"),
            "{}",
            range.message
        );
        assert_eq!(range.expected, None);
        let trend = find(&results, "Revenue Trend");
        assert!(
            trend
                .message
                .contains("trend needs 35 days of history, have 3"),
            "{}",
            trend.message
        );
        // An empty history is fine too.
        let results = check_day(&[], &day, &GuardSettings::default());
        assert_eq!(statuses(&results), [Status::Skipped; 6]);
    }

    #[test]
    fn trend_needs_35_days() {
        let points = series(21);
        let (history, day) = last_day_scaled(&points, 1.0);
        let results = check_day(history, &day, &GuardSettings::default());
        let trend = find(&results, "Sessions Trend");
        assert_eq!(trend.status, Status::Skipped);
        assert!(
            trend
                .message
                .contains("trend needs 35 days of history, have 20"),
            "{}",
            trend.message
        );
        assert_eq!(find(&results, "Sessions Range").status, Status::Pass);
    }

    #[test]
    fn one_to_two_weeks_compare_with_the_same_weekday_last_week() {
        let points = series(11);
        let (history, day) = last_day_scaled(&points, 1.0);
        let results = check_day(history, &day, &GuardSettings::default());
        let sessions = find(&results, "Sessions Range");
        assert_eq!(sessions.status, Status::Pass);
        let expected = sessions.expected.unwrap();
        assert!(
            (expected - points[3].sessions as f64).abs() < 1e-6,
            "{expected}"
        );
        assert!(
            sessions.message.contains("same weekday last week"),
            "{}",
            sessions.message
        );
        // Wide bands: half of last week warns, a third fails.
        let (history, day) = last_day_scaled(&points, 0.45);
        let results = check_day(history, &day, &GuardSettings::default());
        assert_eq!(find(&results, "Sessions Range").status, Status::Warn);
        let (history, day) = last_day_scaled(&points, 0.25);
        let results = check_day(history, &day, &GuardSettings::default());
        assert_eq!(find(&results, "Sessions Range").status, Status::Fail);
        let (history, day) = last_day_scaled(&points, 0.7);
        let results = check_day(history, &day, &GuardSettings::default());
        assert_eq!(find(&results, "Sessions Range").status, Status::Pass);
    }

    #[test]
    fn level_shift_is_caught_by_the_trend_check() {
        let mut points = series(100);
        for p in &mut points[90..] {
            p.sessions = (p.sessions as f64 * 0.6) as u64;
        }
        let (history, day) = last_day_scaled(&points, 1.0);
        let results = check_day(history, &day, &GuardSettings::default());
        let trend = find(&results, "Sessions Trend");
        assert!(trend.status >= Status::Warn, "{trend:#?}");
        assert!(trend.change.unwrap() < -0.25);
        assert!(
            trend.message.starts_with("sessions last 7 days "),
            "{}",
            trend.message
        );
        assert!(
            trend.message.contains("/day, expected "),
            "{}",
            trend.message
        );
    }

    #[test]
    fn past_incident_does_not_hide_the_next() {
        let mut points = series(88);
        // Outages on the same weekday one and two weeks ago.
        for d in [73, 80] {
            points[d].sessions = 0;
            points[d].converting_sessions = 0;
            points[d].revenue = 0.0;
        }
        let (history, day) = last_day_scaled(&points, 0.5);
        let results = check_day(history, &day, &GuardSettings::default());
        let sessions = find(&results, "Sessions Range");
        assert!(sessions.status >= Status::Warn, "{sessions:#?}");
        let expected = sessions.expected.unwrap();
        assert!(expected > 900.0, "{expected}");
    }

    #[test]
    fn absolute_bounds_always_apply() {
        let points = series(90);
        let (history, day) = last_day_scaled(&points, 1.0);
        let mut settings = GuardSettings::default();
        settings.sessions.min = Some(5_000.0);
        settings.revenue.max = Some(100.0);
        let results = check_day(history, &day, &settings);
        let sessions = find(&results, "Sessions Range");
        assert_eq!(sessions.status, Status::Fail);
        assert!(
            sessions
                .message
                .contains("is below the configured minimum 5,000"),
            "{}",
            sessions.message
        );
        let revenue = find(&results, "Revenue Range");
        assert_eq!(revenue.status, Status::Fail);
        assert!(
            revenue
                .message
                .contains("is above the configured maximum 100.00"),
            "{}",
            revenue.message
        );
        // Even without history.
        let results = check_day(&[], &day, &settings);
        assert_eq!(find(&results, "Sessions Range").status, Status::Fail);
    }

    #[test]
    fn direction_limits_what_alerts() {
        let points = series(90);
        let mut settings = GuardSettings::default();
        let (history, drop) = last_day_scaled(&points, 0.3);
        let (_, spike) = last_day_scaled(&points, 3.0);
        settings.sessions.direction = Direction::Spike;
        assert_eq!(
            find(&check_day(history, &drop, &settings), "Sessions Range").status,
            Status::Pass
        );
        assert_eq!(
            find(&check_day(history, &spike, &settings), "Sessions Range").status,
            Status::Fail
        );
        settings.sessions.direction = Direction::Drop;
        assert_eq!(
            find(&check_day(history, &drop, &settings), "Sessions Range").status,
            Status::Fail
        );
        assert_eq!(
            find(&check_day(history, &spike, &settings), "Sessions Range").status,
            Status::Pass
        );
    }

    #[test]
    fn holidays_are_left_out_of_baselines() {
        let mut points = series(11);
        // The same weekday last week was a holiday with ten times the traffic.
        points[3].sessions *= 10;
        let (history, day) = last_day_scaled(&points, 1.0);
        let mut settings = GuardSettings::default();
        let results = check_day(history, &day, &settings);
        assert_eq!(find(&results, "Sessions Range").status, Status::Fail);
        settings.holidays = vec![points[3].date];
        let results = check_day(history, &day, &settings);
        let sessions = find(&results, "Sessions Range");
        assert_eq!(sessions.status, Status::Skipped);
        assert!(
            sessions
                .message
                .contains("no usable day on the same weekday last week")
        );
        // It does not count as history either.
        assert_eq!(sessions.history_days, 9);
    }

    #[test]
    fn holidays_do_not_disturb_a_full_baseline() {
        let mut points = series(90);
        points[82].sessions /= 5;
        let (history, day) = last_day_scaled(&points, 1.0);
        let settings = GuardSettings {
            holidays: vec![points[82].date],
            ..GuardSettings::default()
        };
        let results = check_day(history, &day, &settings);
        assert_eq!(statuses(&results), [Status::Pass; 6], "{results:#?}");
    }

    #[test]
    fn impossible_values_fail() {
        let points = series(20);
        let (history, mut day) = last_day_scaled(&points, 1.0);
        day.revenue = -5.0;
        day.converting_sessions = day.sessions + 1;
        let results = check_day(history, &day, &GuardSettings::default());
        let revenue = find(&results, "Revenue Range");
        assert_eq!(revenue.status, Status::Fail);
        assert!(
            revenue.message.contains("revenue -5.00 is negative"),
            "{}",
            revenue.message
        );
        let conversion = find(&results, "Conversion Rate Range");
        assert_eq!(conversion.status, Status::Fail);
        assert!(
            conversion.message.contains("impossible"),
            "{}",
            conversion.message
        );
    }

    #[test]
    fn status_orders_worst_last() {
        assert!(Status::Skipped < Status::Pass);
        assert!(Status::Pass < Status::Warn);
        assert!(Status::Warn < Status::Fail);
        let worst = [Status::Skipped, Status::Warn, Status::Pass]
            .into_iter()
            .max();
        assert_eq!(worst, Some(Status::Warn));
    }

    #[test]
    fn validation_names_the_key() {
        assert_eq!(GuardSettings::default().validate(), Ok(()));
        let mut settings = GuardSettings::default();
        settings.sessions.fail_score = 3.0;
        settings.sessions.warn_score = 4.0;
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.sessions.fail_score must be greater than warn_score"),
            "{message}"
        );

        let mut settings = GuardSettings::default();
        settings.revenue.min = Some(10.0);
        settings.revenue.max = Some(5.0);
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.revenue.min must not be greater than max"),
            "{message}"
        );

        let mut settings = GuardSettings::default();
        settings.conversion_rate.min_change_warn = -0.1;
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.conversion_rate.min_change_warn"),
            "{message}"
        );

        let mut settings = GuardSettings::default();
        settings.conversion_rate.max = Some(2.0);
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.conversion_rate.max must be at most 1"),
            "{message}"
        );

        let mut settings = GuardSettings::default();
        settings.revenue.min_change_fail = 0.1;
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.revenue.min_change_fail must be at least"),
            "{message}"
        );
    }

    #[test]
    fn holidays_deserialise_from_strings_and_toml_dates() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, MapDeserializer, SeqDeserializer};

        let strings: SeqDeserializer<_, Error> =
            vec!["2026-12-25", "2026-12-26"].into_deserializer();
        assert_eq!(
            deserialize_holidays(strings).unwrap(),
            [
                NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 26).unwrap()
            ]
        );
        let bad: SeqDeserializer<_, Error> = vec!["25.12.2026"].into_deserializer();
        let message = deserialize_holidays(bad).unwrap_err().to_string();
        assert!(message.contains("guard.holidays"), "{message}");

        // The toml crate hands a date literal over as a one-entry map.
        let literal = MapDeserializer::<_, Error>::new(
            [("$__toml_private_datetime", "2026-01-01")].into_iter(),
        );
        let literals: SeqDeserializer<_, Error> = SeqDeserializer::new([literal].into_iter());
        assert_eq!(
            deserialize_holidays(literals).unwrap(),
            [NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()]
        );
    }

    #[test]
    fn numbers_read_like_a_person_writes_them() {
        assert_eq!(fmt_thousands(412.0, 0), "412");
        assert_eq!(fmt_thousands(1180.4, 0), "1,180");
        assert_eq!(fmt_thousands(1234567.891, 2), "1,234,567.89");
        assert_eq!(fmt_thousands(-1234.5, 2), "-1,234.50");
        assert_eq!(fmt_thousands(-0.001, 2), "0.00");
        assert_eq!(Metric::ConversionRate.format(0.0121), "1.21%");
        assert_eq!(fmt_change(Some(-0.65)), "-65%");
        assert_eq!(fmt_change(Some(0.051)), "+5%");
        assert_eq!(fmt_change(Some(-0.001)), "+0%");
        assert_eq!(fmt_change(None), "n/a");
    }

    #[test]
    fn message_has_the_documented_shape() {
        let points = series(90);
        let (history, day) = last_day_scaled(&points, 0.35);
        let results = check_day(history, &day, &GuardSettings::default());
        let message = &find(&results, "Sessions Range").message;
        // "sessions 350, expected 1,010 (870..1,160): -65%, fail"
        let (head, tail) = message.split_once(", expected ").unwrap();
        assert!(head.starts_with("sessions "), "{message}");
        assert!(
            tail.contains(" (") && tail.contains("..") && tail.contains("): -"),
            "{message}"
        );
        assert!(tail.ends_with("%, fail"), "{message}");
    }

    #[test]
    fn long_history_is_fast() {
        let points = series(400);
        let (history, day) = last_day_scaled(&points, 1.0);
        let settings = GuardSettings::default();
        let started = std::time::Instant::now();
        for _ in 0..20 {
            std::hint::black_box(check_day(history, &day, &settings));
        }
        // Generous bound (debug builds, shared machines); release is ~0.3 ms.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
