//! The range model of revenue and sessions, in log space: each day is
//! predicted as weekday effect + level + a share of yesterday's surprise,
//! from the days before it only; the spread is the MAD of past prediction
//! errors in units of a noise floor. One walk over the history predicts
//! every past day and clamps the ones that would have been flagged, so one
//! incident does not hide the next.

use super::MetricSettings;
use super::band::{Band, RangeStat, Thresholds};
use super::robust::{CLEAN_MIN_ERRORS, ERROR_DAYS, ErrorWindow, Spread, trimmed_mean};
use super::{Context, MIN_DAYS_FULL, MIN_WEEK_DAYS, REL_FLOOR};

/// Weeks behind the weekday effects of a range prediction.
const SEASON_WEEKS: usize = 10;
/// Days behind the level term (trimmed mean of recent values without their
/// weekday effect): short enough to follow a trend, long enough to be robust.
const LEVEL_DAYS: usize = 21;
/// At most this share of yesterday's surprise carries over to today, and
/// yesterday's surprise counts at most this many spreads.
const MAX_PERSISTENCE: f64 = 0.8;
const PERSISTENCE_CAP: f64 = 2.0;
/// A past day is clamped only when its prediction was well founded: a
/// clamp towards a poor prediction would carry the error on, week after week.
const CLEAN_MIN_SEASON: usize = 3;

/// The noise floor of a log-space metric, as a variance of ln(value + offset).
#[derive(Debug, Clone, Copy)]
pub(super) enum Floor {
    /// A count (offset 1): Poisson noise of the expected count.
    Count,
    /// Revenue of this many orders on an average day (offset 2 average orders):
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

/// The weekday profile of a log-space metric: for each weekday (slot index
/// mod 7), the trimmed mean deviation of its last `SEASON_WEEKS` days from
/// the mean of the week centred on them. Deviations from a centred mean, not
/// raw values, so that a week that was high overall does not move the profile.
#[derive(Default)]
pub(super) struct WeekdayProfile {
    recent: [Vec<f64>; 7],
    pub(super) effect: [Option<f64>; 7],
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
pub(super) struct LogModel {
    pub(super) offset: f64,
    floor: Floor,
    /// ln(value + offset) of each slot, after clamping.
    pub(super) y: Vec<Option<f64>>,
    pub(super) profile: WeekdayProfile,
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
    pub(super) fn walk(
        raw: &[Option<f64>],
        offset: f64,
        floor: Floor,
        ms: &MetricSettings,
    ) -> Self {
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

pub(super) fn log_range(
    ctx: &Context,
    model: &LogModel,
    value_log: f64,
    ms: &MetricSettings,
) -> Result<RangeStat, String> {
    ctx.require_range_history()?;
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
            note: None,
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
        note: None,
    })
}
