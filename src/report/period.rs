//! The days a report covers and the days it compares them with.

use chrono::{Datelike, Days, Months, NaiveDate};

/// `--period`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeriodKind {
    #[default]
    Day,
    Week,
    Month,
}

/// A range of days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Period {
    pub(crate) kind: PeriodKind,
    pub(crate) start: NaiveDate,
    pub(crate) end: NaiveDate,
}

fn minus(d: NaiveDate, days: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(days)).unwrap_or(d)
}

fn month_of(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = d.with_day(1).unwrap_or(d);
    let last = first
        .checked_add_months(Months::new(1))
        .and_then(|n| n.pred_opt())
        .unwrap_or(d);
    (first, last)
}

impl Period {
    /// The day `date`, the 7 days ending on it, or its month.
    pub(crate) fn new(kind: PeriodKind, date: NaiveDate) -> Period {
        let (start, end) = match kind {
            PeriodKind::Day => (date, date),
            PeriodKind::Week => (minus(date, 6), date),
            PeriodKind::Month => month_of(date),
        };
        Period { kind, start, end }
    }

    /// The period just before: the day before, the 7 days before, the
    /// month before.
    pub(crate) fn previous(&self) -> Period {
        match self.kind {
            PeriodKind::Day | PeriodKind::Week => {
                let len = (self.end - self.start).num_days() as u64 + 1;
                Period {
                    kind: self.kind,
                    start: minus(self.start, len),
                    end: minus(self.end, len),
                }
            }
            PeriodKind::Month => Period::new(PeriodKind::Month, minus(self.start, 1)),
        }
    }

    /// The same weekday a week before (a day), the same weekdays a year
    /// before (a week: 52 weeks), the same month a year before.
    pub(crate) fn earlier(&self) -> Period {
        let back = |days| Period {
            kind: self.kind,
            start: minus(self.start, days),
            end: minus(self.end, days),
        };
        match self.kind {
            PeriodKind::Day => back(7),
            PeriodKind::Week => back(364),
            PeriodKind::Month => Period::new(
                PeriodKind::Month,
                self.start
                    .checked_sub_months(Months::new(12))
                    .unwrap_or(self.start),
            ),
        }
    }

    /// What the earlier comparison is called on the page.
    pub(crate) fn earlier_name(&self) -> &'static str {
        match self.kind {
            PeriodKind::Day => "a week before",
            PeriodKind::Week | PeriodKind::Month => "a year before",
        }
    }

    pub(crate) fn previous_name(&self) -> &'static str {
        match self.kind {
            PeriodKind::Day => "the day before",
            PeriodKind::Week => "the week before",
            PeriodKind::Month => "the month before",
        }
    }

    pub(crate) fn contains(&self, d: NaiveDate) -> bool {
        d >= self.start && d <= self.end
    }

    /// The page's file name (contract, "Artifacts").
    pub(crate) fn file_name(&self) -> String {
        match self.kind {
            PeriodKind::Day => format!("{}.html", self.end),
            PeriodKind::Week => format!("week-{}.html", self.end),
            PeriodKind::Month => format!("month-{}.html", self.start.format("%Y-%m")),
        }
    }

    /// "Friday 20 November 2026", "14-20 November 2026", "November 2026".
    pub(crate) fn title(&self) -> String {
        match self.kind {
            PeriodKind::Day => self.end.format("%A %-d %B %Y").to_string(),
            PeriodKind::Week => format!(
                "{} to {}",
                self.start.format("%-d %B %Y"),
                self.end.format("%-d %B %Y")
            ),
            PeriodKind::Month => self.start.format("%B %Y").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_and_their_comparisons() {
        let day = Period::new(PeriodKind::Day, d("2026-11-20"));
        assert_eq!(day.previous().start, d("2026-11-19"));
        assert_eq!(day.earlier().start, d("2026-11-13"));
        assert_eq!(day.file_name(), "2026-11-20.html");
        let week = Period::new(PeriodKind::Week, d("2026-11-22"));
        assert_eq!((week.start, week.end), (d("2026-11-16"), d("2026-11-22")));
        assert_eq!(
            (week.previous().start, week.previous().end),
            (d("2026-11-09"), d("2026-11-15"))
        );
        assert_eq!(week.earlier().start.weekday(), week.start.weekday());
        assert_eq!(week.file_name(), "week-2026-11-22.html");
        let month = Period::new(PeriodKind::Month, d("2026-03-10"));
        assert_eq!((month.start, month.end), (d("2026-03-01"), d("2026-03-31")));
        assert_eq!(
            (month.previous().start, month.previous().end),
            (d("2026-02-01"), d("2026-02-28"))
        );
        assert_eq!(month.earlier().start, d("2025-03-01"));
        assert_eq!(month.file_name(), "month-2026-03.html");
        assert_eq!(month.title(), "March 2026");
    }
}
