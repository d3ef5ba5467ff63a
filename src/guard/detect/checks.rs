//! The six checks, assembled per metric: the hard rules (negatives, an
//! impossible rate, a zero after non-zero history, absolute bounds), the
//! range and trend models' judgements, and each check's result with the
//! message a person reads.

use super::MetricSettings;
use super::band::{Band, RangeStat, Thresholds};
use super::conversion::{ConvModel, conversion_range};
use super::format::{fmt_band, fmt_change, fmt_revenue, fmt_thousands};
use super::log_model::{Floor, LogModel, log_range};
use super::trend::{TrendStat, trend_conversion, trend_log};
use super::{CheckKind, CheckResult, Context, MIN_DAYS_TREND, Metric, REL_FLOOR, Status};

/// A zero fails outright once a typical day has at least this many sessions
/// (or orders, for revenue): a Poisson count that large is zero < 0.1% of days.
const ZERO_RULE_MIN_TYPICAL: f64 = 7.0;

pub(super) fn revenue_checks(ctx: &Context, ms: &MetricSettings) -> [CheckResult; 2] {
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
    // The noise floor needs the expected number of orders: the median is
    // zero at a site with an order every few days, and would make each of
    // its orders an anomaly.
    let mean_orders = ctx.recent_mean(|p| p.converting_sessions as f64);
    log_metric_checks(
        ctx,
        Metric::Revenue,
        ms,
        &raw,
        offset,
        Floor::Orders(mean_orders),
        value,
        hard,
    )
}

pub(super) fn sessions_checks(ctx: &Context, ms: &MetricSettings) -> [CheckResult; 2] {
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

pub(super) fn conversion_checks(ctx: &Context, ms: &MetricSettings) -> [CheckResult; 2] {
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
    let stat = conversion_range(ctx, &model, day.converting_sessions, day.sessions, ms);
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
            // The note says why a value inside the score's reach alerts.
            let note = match stat.note {
                Some(note) if status != Status::Pass => format!(": {note}"),
                _ => String::new(),
            };
            CheckResult {
                status,
                expected: Some(stat.band.expected),
                low: Some(stat.band.warn_low),
                high: stat.band.high_for_display(),
                score: Some(stat.score),
                change,
                message: format!(
                    "{label} {shown}, expected {} ({}{basis}): {}, {}{note}",
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
