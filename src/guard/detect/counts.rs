//! Count evidence for the conversion range check: the exact lower tail of
//! the day's orders (converting sessions) given its sessions and the
//! baseline rate.
//!
//! Why: the band judges a score against a normal-like spread and needs
//! `warn_score` (3.5) spreads. At a small shop that is more than the
//! expected rate itself (11 orders a day have a spread of about 3.4), so
//! no drop short of zero could warn, although 2 orders against 11 expected
//! happen on about 1 day in 800 (P(X <= 2 | 11) = 0.0012). At small counts
//! the noise is mostly the binomial sampling of orders, whose tail is known
//! exactly, so a tail probability is a sound reason to warn there.
//!
//! The day's count is taken as negative binomial with the prediction's
//! mean and a variance of two parts: the binomial noise of the day and of
//! the baseline rate, known exactly, and the excess measured on top of it
//! over the past days (weekday factors, the rate wandering). The excess
//! has an unknown, possibly heavy tail, so it gets the band's margin:
//! scaled so that `warn_score` spreads of it weigh like the tail's quantile.
//! Where the excess dominates (large sites), the evidence therefore says
//! no more than the band; where sampling dominates (small ones) it is the
//! exact test. It only ever warns: failing stays with the band and the
//! hard rules, whose false-alert budget is ten times smaller.

use super::REL_FLOOR;
use super::format::fmt_thousands;
use super::robust::{CLEAN_MIN_ERRORS, ERROR_DAYS};

/// A drop whose one-sided tail probability is at most this warns (with the
/// minimum change): about 1 clean day in 200 at worst, fewer for small
/// counts, where the discrete tail jumps past it.
const WARN_TAIL: f64 = 0.005;
/// The standard normal quantile of `WARN_TAIL`.
const WARN_TAIL_Z: f64 = 2.5758;

/// How much a site's daily orders vary beyond binomial sampling, relative
/// to the square of the expected count (a negative binomial's 1/size):
/// Σ (squared error − binomial variance) / Σ expected² over the past
/// days of the error window (those the range check did not flag).
///
/// A moment estimate, not the MAD behind the band's spread: at a dozen
/// orders a day the MAD of a count jumps with the count's integer steps
/// and is noisy (±13% with 84 days), which would pass for excess noise
/// several times the real one; the mean of squares is unbiased there.
#[derive(Default)]
pub(super) struct Overdispersion {
    excess: f64,
    squares: f64,
    days: usize,
}

impl Overdispersion {
    /// Moves the window to end just before slot `i` (call with i = 0, 1, …),
    /// like the error window.
    pub(super) fn advance(&mut self, residuals: &[Option<(f64, f64)>], i: usize) {
        if let Some((excess, square)) = i.checked_sub(1).and_then(|j| residuals[j]) {
            self.excess += excess;
            self.squares += square;
            self.days += 1;
        }
        if let Some((excess, square)) = i.checked_sub(ERROR_DAYS + 1).and_then(|j| residuals[j]) {
            self.excess -= excess;
            self.squares -= square;
            self.days -= 1;
        }
    }

    /// The estimate, never below the relative noise floor that the band
    /// assumes too; `None` with too few days to trust it.
    pub(super) fn relative(&self) -> Option<f64> {
        (self.days >= CLEAN_MIN_ERRORS && self.squares > 0.0)
            .then(|| (self.excess / self.squares).max(REL_FLOOR * REL_FLOOR))
    }
}

/// What the day's orders say about a drop.
pub(super) struct DropEvidence {
    observed: u64,
    sessions: u64,
    expected: f64,
    /// P(X <= observed) under the day's predictive distribution.
    tail: f64,
    /// The most orders that still warn on this evidence (before the
    /// minimum change); `None` when not even zero would.
    edge: Option<u64>,
}

/// The evidence of `observed` orders out of `sessions` against `expected`
/// orders, with the variance split into `known` (binomial) and `excess`
/// (measured beyond it). Counts up to `limit` are walked at most: beyond it
/// a drop is too small to alert anyway.
pub(super) fn drop_evidence(
    observed: u64,
    sessions: u64,
    expected: f64,
    (known, excess): (f64, f64),
    warn_score: f64,
    limit: u64,
) -> DropEvidence {
    let margin = warn_score / WARN_TAIL_Z;
    let variance = known + margin * margin * excess;
    let mut evidence = DropEvidence {
        observed,
        sessions,
        expected,
        tail: 1.0,
        edge: None,
    };
    for (k, tail) in (0..=limit.max(observed)).zip(lower_tails(expected, variance)) {
        if k == observed {
            evidence.tail = tail;
        }
        if tail <= WARN_TAIL {
            evidence.edge = Some(k);
        } else if k >= observed {
            break;
        }
    }
    evidence
}

impl DropEvidence {
    /// The lowest rate that does not warn on this evidence: a rate strictly
    /// below it means at most `edge` orders.
    pub(super) fn warn_low(&self) -> Option<f64> {
        let edge = self.edge?;
        Some((edge + 1) as f64 / self.sessions as f64)
    }

    /// Why the day warns, for the message, when this evidence alone makes
    /// it warn: "2 orders from 340 sessions against about 11 expected
    /// (P ≈ 0.0012)".
    pub(super) fn note(&self) -> Option<String> {
        (self.tail <= WARN_TAIL).then(|| {
            let decimals = if self.expected < 10.0 { 1 } else { 0 };
            format!(
                "{} {} from {} sessions against about {} expected (P {})",
                fmt_thousands(self.observed as f64, 0),
                if self.observed == 1 {
                    "order"
                } else {
                    "orders"
                },
                fmt_thousands(self.sessions as f64, 0),
                fmt_thousands(self.expected, decimals),
                fmt_probability(self.tail)
            )
        })
    }
}

/// "≈ 0.0012", "≈ 0.03", "< 0.0001": two significant digits.
fn fmt_probability(p: f64) -> String {
    if p < 1e-4 {
        return "< 0.0001".to_string();
    }
    let decimals = (1.0 - p.log10().floor()).max(0.0) as usize;
    format!("≈ {p:.decimals$}")
}

/// P(X <= k) for k = 0, 1, 2, ... of a count with this mean and variance:
/// negative binomial (a Poisson whose mean is itself uncertain), or Poisson
/// when the variance is not above the mean. The probabilities are walked in
/// log space, so that a large mean does not underflow the first terms.
fn lower_tails(mean: f64, variance: f64) -> impl Iterator<Item = f64> {
    // Negative binomial of size r: variance = mean + mean² / r.
    let size = (variance > mean * (1.0 + 1e-9)).then(|| mean * mean / (variance - mean));
    let log_first = match size {
        Some(r) => -r * (mean / r).ln_1p(),
        None => -mean,
    };
    (0u64..).scan((log_first, 0.0f64), move |(log_pmf, cdf), k| {
        *cdf += log_pmf.exp();
        let k = k as f64;
        // pmf(k + 1) / pmf(k)
        *log_pmf += match size {
            Some(r) => ((k + r) / (k + 1.0) * mean / (r + mean)).ln(),
            None => (mean / (k + 1.0)).ln(),
        };
        Some(cdf.min(1.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(k: u64, mean: f64, variance: f64) -> f64 {
        lower_tails(mean, variance).nth(k as usize).unwrap()
    }

    #[test]
    fn poisson_tails_are_exact() {
        // P(X <= 2 | 11) and P(X <= 3 | 11), from the closed form.
        assert!((tail(2, 11.0, 11.0) - 0.001_210_873).abs() < 1e-8);
        assert!((tail(3, 11.0, 11.0) - 0.004_915_867).abs() < 1e-8);
        // A large mean does not underflow: P(X <= 900 | 900) is about 0.51.
        let half = tail(900, 900.0, 900.0);
        assert!((0.5..0.52).contains(&half), "{half}");
    }

    #[test]
    fn extra_variance_fattens_the_tail() {
        let poisson = tail(2, 11.0, 11.0);
        let wider = tail(2, 11.0, 14.0);
        assert!(wider > poisson * 2.0, "{poisson} {wider}");
        // Negative binomial with mean 11 and variance 14 (size 40.33).
        assert!((wider - 0.002_858_75).abs() < 1e-7, "{wider}");
    }

    #[test]
    fn two_orders_of_eleven_warn_and_three_do_not() {
        let two = drop_evidence(2, 340, 11.0, (11.0, 0.5), 3.5, 8);
        assert_eq!(two.edge, Some(2));
        assert_eq!(two.warn_low(), Some(3.0 / 340.0));
        let note = two.note().unwrap();
        assert!(
            note.starts_with("2 orders from 340 sessions against about 11 expected (P ≈ 0.0"),
            "{note}"
        );
        let three = drop_evidence(3, 340, 11.0, (11.0, 0.5), 3.5, 8);
        assert_eq!(three.note(), None);
        assert!(three.tail > WARN_TAIL);
    }

    #[test]
    fn excess_noise_gets_the_bands_margin() {
        // 720 of 900 expected orders with a measured spread of 60: 3
        // spreads, under the band's 3.5, and no warning here either,
        // although a Poisson tail of 900 would make it one in 10^10.
        let known = 900.0;
        let excess = 60.0f64.powi(2) - known;
        let evidence = drop_evidence(720, 30_000, 900.0, (known, excess), 3.5, 720);
        assert_eq!(evidence.note(), None);
        // The edge sits about where the band's would (900 - 3.5 x 60 = 690).
        let edge = evidence.edge.unwrap();
        assert!((680..720).contains(&edge), "{edge}");
    }

    #[test]
    fn probabilities_read_with_two_digits() {
        assert_eq!(fmt_probability(0.001_210_9), "≈ 0.0012");
        assert_eq!(fmt_probability(0.004_9), "≈ 0.0049");
        assert_eq!(fmt_probability(0.031), "≈ 0.031");
        assert_eq!(fmt_probability(0.000_02), "< 0.0001");
    }
}
