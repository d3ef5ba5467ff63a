//! The range model of the conversion rate: pooled rates (the last four
//! weeks × a shrunk weekday factor) with a binomial noise floor, since a
//! small site's daily rate rests on a handful of orders. Like the log model,
//! one walk predicts every past day and clamps the ones that would have
//! been flagged. The day under test is also judged on its count of orders
//! (`counts`), which at a small site sees drops the band cannot.

use super::MetricSettings;
use super::band::{Band, RangeStat, Thresholds};
use super::counts::{Overdispersion, drop_evidence};
use super::robust::{ErrorWindow, Spread};
use super::{Context, DailyPoint, MIN_DAYS_FULL, REL_FLOOR};

/// Conversion level: pooled rate of the last four weeks (pooled, not a median
/// of daily rates, because daily rates of small sites are a handful of orders).
const CONV_LEVEL_DAYS: usize = 28;
/// Weekday factor of the conversion rate, from the same weekday of this many
/// weeks, shrunk towards 1 by this many pseudo-orders.
const CONV_WEEKDAY_WEEKS: usize = 8;
const CONV_WEEKDAY_PRIOR: f64 = 20.0;

/// Like [`LogModel`](super::log_model::LogModel), on converting sessions out of sessions.
pub(super) struct ConvModel {
    /// Converting sessions of each usable slot, after clamping its rate.
    pub(super) converting: Vec<Option<f64>>,
    /// Sessions of each slot (0 when unusable).
    pub(super) sessions: Vec<f64>,
    /// Running sums of the cleaned converting sessions and of the sessions
    /// of usable slots: `sums[i]` covers the slots before `i`.
    sums: Vec<(f64, f64)>,
    /// One-step prediction errors in units of the floor.
    errors: Vec<Option<f64>>,
    window: ErrorWindow,
    /// The same days' errors in orders: (squared error beyond the binomial
    /// variance, squared expected count).
    residuals: Vec<Option<(f64, f64)>>,
    overdispersion: Overdispersion,
}

struct ConvPrediction {
    rate: f64,
    /// Sessions behind the level: the uncertainty of the rate itself.
    base_sessions: f64,
    spread: Option<Spread>,
}

impl ConvPrediction {
    /// The rate kept half a converting session away from 0 and 1, so that
    /// a rate of zero still has noise.
    fn noisy_rate(&self) -> f64 {
        let half = 0.5 / self.base_sessions;
        self.rate.max(half).min(1.0 - half)
    }

    /// Binomial noise of a day with `sessions`, of the baseline, and the
    /// relative floor.
    fn floor_sd(&self, sessions: f64) -> f64 {
        let p = self.noisy_rate();
        let binomial = p * (1.0 - p) * (1.0 / sessions + 1.0 / self.base_sessions);
        (binomial + (REL_FLOOR * p).powi(2)).sqrt()
    }

    /// Variance of a day's converting sessions that binomial sampling
    /// explains: the day's own, and the baseline rate's.
    fn binomial_count_variance(&self, sessions: f64) -> f64 {
        let p = self.noisy_rate();
        sessions * p * (1.0 - p) * (1.0 + sessions / self.base_sessions)
    }

    /// A past day's error in orders: (squared error beyond the binomial
    /// variance, squared expected count).
    fn count_residual(&self, converting: f64, sessions: f64) -> (f64, f64) {
        let expected = self.rate * sessions;
        let excess = (converting - expected).powi(2) - self.binomial_count_variance(sessions);
        (excess, expected * expected)
    }
}

impl ConvModel {
    pub(super) fn walk(slots: &[Option<DailyPoint>], ms: &MetricSettings) -> Self {
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
            residuals: vec![None; n],
            overdispersion: Overdispersion::default(),
        };
        model.sums.push((0.0, 0.0));
        let thresholds = Thresholds::range(ms);
        for i in 0..n {
            model.window.advance(&model.errors, i);
            model.overdispersion.advance(&model.residuals, i);
            model.judge_past_day(i, &thresholds);
            let (c, s) = model.sums[i];
            let (dc, ds) = match model.converting[i] {
                Some(converting) => (converting, model.sessions[i]),
                None => (0.0, 0.0),
            };
            model.sums.push((c + dc, s + ds));
        }
        model.window.advance(&model.errors, n);
        model.overdispersion.advance(&model.residuals, n);
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
        self.residuals[i] = Some(p.count_residual(converting, sessions));
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

/// The range judgement of the day's rate: `converting` sessions out of
/// `sessions` (at least one).
pub(super) fn conversion_range(
    ctx: &Context,
    model: &ConvModel,
    converting: u64,
    sessions: u64,
    ms: &MetricSettings,
) -> Result<RangeStat, String> {
    ctx.require_range_history()?;
    let n = ctx.slots.len();
    let rate = converting as f64 / sessions as f64;
    let sessions_f = sessions as f64;
    if ctx.usable_days >= MIN_DAYS_FULL
        && let Some(p) = model.predict(n)
        && let Some(spread) = p.spread
    {
        let scale = p.floor_sd(sessions_f) * spread.factor;
        let mut band = Band::linear(p.rate, scale, &Thresholds::range(ms));
        // The count evidence can move the warn edge at most up to the
        // minimum change; where the band's edge is there already (large
        // sites), it has nothing to add and is not computed.
        let change_edge = p.rate * (1.0 - ms.min_change_warn);
        let mut note = None;
        if band.warn_low < change_edge
            && let Some(relative) = model.overdispersion.relative()
        {
            let expected = p.rate * sessions_f;
            let evidence = drop_evidence(
                converting,
                sessions,
                expected,
                (
                    p.binomial_count_variance(sessions_f),
                    relative * expected * expected,
                ),
                ms.warn_score,
                (change_edge * sessions_f) as u64,
            );
            if let Some(low) = evidence.warn_low() {
                band.raise_warn_low(low.min(change_edge));
            }
            note = evidence.note().filter(|_| rate < change_edge);
        }
        return Ok(RangeStat {
            band,
            score: (rate - p.rate) / scale,
            scale,
            full: true,
            history_days: ctx.walk_days(),
            note,
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
    let scale = p.floor_sd(sessions_f);
    Ok(RangeStat {
        band: Band::linear(p.rate, scale, &Thresholds::cold(ms)),
        score: (rate - p.rate) / scale,
        scale,
        full: false,
        history_days: ctx.usable_days,
        note: None,
    })
}
