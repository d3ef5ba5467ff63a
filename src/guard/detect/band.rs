//! Bands and verdicts: where a check warns and fails around its expected
//! value. An alert needs a large robust score *and* a minimum relative change
//! (and, on a cold start, a minimum ratio), so the band edge is the farthest
//! of the three.

use super::MetricSettings;
use super::{Direction, Status};

/// With 7 to 13 days of history the day is compared with last week's: it
/// warns only beyond ×2 (÷2) and fails beyond ×3 (÷3).
const COLD_WARN_RATIO: f64 = 2.0;
const COLD_FAIL_RATIO: f64 = 3.0;
/// A week's level moves much less than one day's value, so trend checks
/// need only this fraction of the configured minimum change.
const TREND_CHANGE_FACTOR: f64 = 0.5;
/// Relative to the offset, an expected value this small is the rounding
/// error of exp(ln(x)) and stands for zero.
const ROUNDING: f64 = 1e-9;

/// Where a check warns and fails, in metric units. A value strictly outside
/// `warn_low..warn_high` warns, outside `fail_low..fail_high` fails.
#[derive(Debug, Clone, Copy)]
pub(super) struct Band {
    pub(super) expected: f64,
    pub(super) warn_low: f64,
    pub(super) warn_high: f64,
    fail_low: f64,
    fail_high: f64,
}

/// What a band is built from: the metric's settings, widened for a cold
/// start or with smaller minimum changes for a trend.
pub(super) struct Thresholds {
    warn_score: f64,
    fail_score: f64,
    warn_change: f64,
    fail_change: f64,
    /// Minimum ratio to the expected value (1 = no extra condition).
    warn_ratio: f64,
    fail_ratio: f64,
}

impl Thresholds {
    pub(super) fn range(ms: &MetricSettings) -> Self {
        Thresholds {
            warn_score: ms.warn_score,
            fail_score: ms.fail_score,
            warn_change: ms.min_change_warn,
            fail_change: ms.min_change_fail,
            warn_ratio: 1.0,
            fail_ratio: 1.0,
        }
    }

    pub(super) fn cold(ms: &MetricSettings) -> Self {
        Thresholds {
            warn_ratio: COLD_WARN_RATIO,
            fail_ratio: COLD_FAIL_RATIO,
            ..Thresholds::range(ms)
        }
    }

    pub(super) fn trend(ms: &MetricSettings) -> Self {
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
    pub(super) fn log(mu: f64, scale: f64, offset: f64, t: &Thresholds) -> Self {
        let to_value = |l: f64| l.exp() - offset;
        // exp(ln(offset)) - offset is rounding noise, not a value: an
        // expected zero must stay zero, or any value is a change of 10^18 %.
        let expected = to_value(mu);
        let expected = if expected > offset * ROUNDING {
            expected
        } else {
            0.0
        };
        Band::new(
            expected,
            |k| (to_value(mu - k * scale), to_value(mu + k * scale)),
            t,
        )
    }

    /// A band on the rate itself (conversion range checks).
    pub(super) fn linear(expected: f64, scale: f64, t: &Thresholds) -> Self {
        Band::new(
            expected,
            |k| (expected - k * scale, expected + k * scale),
            t,
        )
    }

    /// Warns below `edge` too (when it is above the current warn edge):
    /// other evidence than the score, already held to the minimum change.
    pub(super) fn raise_warn_low(&mut self, edge: f64) {
        self.warn_low = self.warn_low.max(edge);
    }

    pub(super) fn flags(&self, value: f64) -> bool {
        value < self.warn_low || value > self.warn_high
    }

    pub(super) fn clamp(&self, value: f64) -> f64 {
        value.clamp(self.warn_low, self.warn_high)
    }

    pub(super) fn judge(&self, value: f64, direction: Direction) -> Status {
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

    pub(super) fn change(&self, value: f64) -> Option<f64> {
        (self.expected > 0.0).then(|| value / self.expected - 1.0)
    }

    pub(super) fn high_for_display(&self) -> Option<f64> {
        self.warn_high.is_finite().then_some(self.warn_high)
    }
}

/// A range check's statistical judgement, before the hard rules.
pub(super) struct RangeStat {
    pub(super) band: Band,
    pub(super) score: f64,
    /// The spread in the score's units (log units for log metrics).
    pub(super) scale: f64,
    /// Full method (true) or last week's value (false).
    pub(super) full: bool,
    pub(super) history_days: usize,
    /// Why the value is outside the band when the score alone does not say
    /// so (count evidence), for the message.
    pub(super) note: Option<String>,
}
