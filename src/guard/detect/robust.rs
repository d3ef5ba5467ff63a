//! Robust statistics: medians and trimmed means (an outlier moves them
//! little), and the window of past prediction errors whose MAD is the
//! spread of a range check.

/// Past prediction errors behind the spread.
pub(super) const ERROR_DAYS: usize = 84;
/// Fewer errors than this and the spread is not trusted (the range check
/// falls back to last week's value).
const MIN_ERRORS: usize = 5;
/// A past day is clamped (and day-to-day persistence estimated) only with
/// at least this many errors behind the spread.
pub(super) const CLEAN_MIN_ERRORS: usize = 14;
/// Widens the spread while it rests on few errors: factor √(1 + k/errors).
const SMALL_SAMPLE: f64 = 4.0;
/// Turns a median absolute deviation into a normal standard deviation.
pub(super) const MAD_TO_SD: f64 = 1.4826;

/// How wide the spread is, in units of the floor, and how many past errors
/// say so.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spread {
    pub(super) factor: f64,
    errors: usize,
}

/// Absolute prediction errors of the last `ERROR_DAYS` slots, kept sorted so
/// that the walk reads their median in one step.
#[derive(Default)]
pub(super) struct ErrorWindow {
    sorted: Vec<f64>,
}

impl ErrorWindow {
    /// Moves the window to end just before slot `i` (call with i = 0, 1, …).
    pub(super) fn advance(&mut self, errors: &[Option<f64>], i: usize) {
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
    pub(super) fn spread(&self) -> Option<Spread> {
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
    pub(super) fn cleans(&self) -> bool {
        self.errors >= CLEAN_MIN_ERRORS
    }
}

/// Mean without the lowest and highest quarter (median for fewer than four
/// values): nearly as precise as a mean on normal noise, yet an outlier
/// moves it little. Reorders `values`.
pub(super) fn trimmed_mean(values: &mut [f64]) -> Option<f64> {
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
pub(super) fn median(values: &mut [f64]) -> Option<f64> {
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
