//! The trend checks: the level of the last 7 days against the median of
//! the preceding full weeks (full weeks cancel the weekday mix), with a
//! spread from how much a week's level has wandered. They catch level
//! shifts and slow drifts that a range check adapts to.

use super::conversion::ConvModel;
use super::log_model::LogModel;
use super::robust::{MAD_TO_SD, median, trimmed_mean};
use super::{MIN_WEEK_DAYS, REL_FLOOR};

/// Baseline weeks of a trend check, and the least of them it accepts.
const TREND_WEEKS: usize = 8;
const MIN_TREND_WEEKS: usize = 4;
/// Weeks behind the spread of a trend check.
const SPREAD_WEEKS: usize = 16;

/// The last 7 days against the preceding weeks, in log space.
pub(super) struct TrendStat {
    /// Level of the last 7 days (ending with the day under test).
    pub(super) recent: f64,
    /// Median level of the baseline weeks.
    pub(super) base: f64,
    /// Spread of the difference.
    pub(super) scale: f64,
    pub(super) history_days: usize,
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
pub(super) fn trend_log(
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
pub(super) fn trend_conversion(model: &ConvModel, today: (f64, f64)) -> Result<TrendStat, String> {
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
