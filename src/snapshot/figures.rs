//! The snapshot's figures: a value for the day and its change against the
//! day before and against the mean of the previous 7 days.
//!
//! Every figure is computed from [`Counts`], whose fields all add up, so
//! that "all sites" is simply the sum of the sites' counts and a rate for
//! all sites is the rate of the sums, never an average of rates.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use chrono::{Days, NaiveDate};
use serde::Serialize;

/// The additive quantities of one site (or all sites) on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Counts {
    pub(crate) revenue_cents: u64,
    pub(crate) orders: u64,
    pub(crate) sessions: u64,
    pub(crate) converting_sessions: u64,
    pub(crate) visitors: u64,
    pub(crate) pageviews: u64,
    pub(crate) custom_events: u64,
    /// Visitors of the day first seen before the day began.
    pub(crate) returning_visitors: u64,
    /// Sessions started that day and closed by cleanup-sessions.
    pub(crate) closed_sessions: u64,
    /// The summed durations of those sessions.
    pub(crate) closed_session_ms: u64,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.revenue_cents += o.revenue_cents;
        self.orders += o.orders;
        self.sessions += o.sessions;
        self.converting_sessions += o.converting_sessions;
        self.visitors += o.visitors;
        self.pageviews += o.pageviews;
        self.custom_events += o.custom_events;
        self.returning_visitors += o.returning_visitors;
        self.closed_sessions += o.closed_sessions;
        self.closed_session_ms += o.closed_session_ms;
    }
}

/// `a / b`, 0 when `b` is 0 (like the contract's conversion rate).
pub(crate) fn ratio(a: f64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a / b as f64 }
}

/// A named figure of a category and how to compute it; None when the day
/// has nothing to measure it on.
pub(crate) struct Metric {
    pub(crate) name: &'static str,
    pub(crate) value: fn(&Counts) -> Option<f64>,
}

impl Metric {
    pub(crate) const fn new(name: &'static str, value: fn(&Counts) -> Option<f64>) -> Metric {
        Metric { name, value }
    }
}

/// Which figures a site-or-all row is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    Site(&'a str),
    All,
}

/// Counts per day per site: the target day and the 7 before it.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    pub(crate) days: BTreeMap<NaiveDate, BTreeMap<String, Counts>>,
}

impl History {
    /// The counts of `scope` on `day`; None when the day was not rolled up
    /// (or the site had no row that day).
    pub(crate) fn counts(&self, day: NaiveDate, scope: Scope) -> Option<Counts> {
        let sites = self.days.get(&day)?;
        match scope {
            Scope::Site(name) => sites.get(name).copied(),
            Scope::All => {
                let mut total = Counts::default();
                for c in sites.values() {
                    total += *c;
                }
                Some(total)
            }
        }
    }

    fn value(&self, day: NaiveDate, scope: Scope, metric: &Metric) -> Option<f64> {
        self.counts(day, scope).and_then(|c| (metric.value)(&c))
    }

    /// The figure of `metric` for `scope` on `date`, or None when the day
    /// has nothing to measure it on.
    pub(crate) fn figure(&self, date: NaiveDate, scope: Scope, metric: &Metric) -> Option<Figure> {
        figure_of(date, |d| self.value(d, scope, metric))
    }
}

/// The figure of a series (`value` of each day, None where it has none) on
/// `date`, or None when that day has no value.
pub(crate) fn figure_of(
    date: NaiveDate,
    value: impl Fn(NaiveDate) -> Option<f64>,
) -> Option<Figure> {
    let value_of = &value;
    let value = value_of(date)?;
    let day_before = date.pred_opt().and_then(value_of);
    // The mean of the previous 7 days that have a value: a site's first
    // week, or days never rolled up, shorten the base.
    let previous: Vec<f64> = (1..=7)
        .filter_map(|n| date.checked_sub_days(Days::new(n)))
        .filter_map(value_of)
        .collect();
    let mean_7d =
        (!previous.is_empty()).then(|| previous.iter().sum::<f64>() / previous.len() as f64);
    Some(Figure {
        value: round(value),
        day_before: day_before.map(round),
        vs_day_before: day_before.map(|b| Change::between(value, b)),
        mean_7d: mean_7d.map(round),
        mean_7d_days: previous.len(),
        vs_mean_7d: mean_7d.map(|b| Change::between(value, b)),
    })
}

/// A figure of the day with its two comparisons.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Figure {
    pub(crate) value: f64,
    /// None when the day before has no value (not rolled up, site not yet
    /// seen).
    pub(crate) day_before: Option<f64>,
    pub(crate) vs_day_before: Option<Change>,
    /// The mean over the days of the previous 7 that have a value.
    pub(crate) mean_7d: Option<f64>,
    /// How many days that mean is over (7 unless history is short).
    pub(crate) mean_7d_days: usize,
    pub(crate) vs_mean_7d: Option<Change>,
}

/// A change against a base value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Change {
    pub(crate) absolute: f64,
    /// In percent of the base; None (JSON null) when the base is 0, where a
    /// percentage would be infinite.
    pub(crate) percent: Option<f64>,
}

impl Change {
    pub(crate) fn between(value: f64, base: f64) -> Change {
        let absolute = value - base;
        Change {
            absolute: round(absolute),
            percent: (base != 0.0).then(|| (absolute / base * 100.0 * 100.0).round() / 100.0),
        }
    }
}

/// Four decimals: enough for rates, exact for currency units from cents,
/// and free of float noise such as 0.30000000000000004.
pub(crate) fn round(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: Metric = Metric::new("orders", |c| Some(c.orders as f64));

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    #[test]
    fn percent_is_null_when_the_base_is_zero() {
        assert_eq!(
            Change::between(5.0, 0.0),
            Change {
                absolute: 5.0,
                percent: None
            }
        );
        assert_eq!(Change::between(3.0, 4.0).percent, Some(-25.0));
    }

    #[test]
    fn figures_compare_with_the_day_before_and_the_week() {
        let mut h = History::default();
        let mut put = |d: &str, site: &str, orders: u64| {
            let c = Counts {
                orders,
                ..Counts::default()
            };
            h.days
                .entry(day(d))
                .or_default()
                .insert(site.to_string(), c);
        };
        put("2026-11-21", "a", 10);
        put("2026-11-21", "b", 2);
        put("2026-11-20", "a", 5);
        put("2026-11-18", "a", 8);
        let h = h;
        let f = h
            .figure(day("2026-11-21"), Scope::Site("a"), &ORDERS)
            .unwrap();
        assert_eq!(f.day_before, Some(5.0));
        assert_eq!(f.vs_day_before.unwrap().percent, Some(100.0));
        assert_eq!((f.mean_7d, f.mean_7d_days), (Some(6.5), 2));
        let all = h.figure(day("2026-11-21"), Scope::All, &ORDERS).unwrap();
        assert_eq!(all.value, 12.0);
        let b = h
            .figure(day("2026-11-21"), Scope::Site("b"), &ORDERS)
            .unwrap();
        assert_eq!((b.day_before, b.mean_7d), (None, None));
    }
}
