//! Days in the configured zone and instants in UTC (contract, "Time").
//!
//! A day D is the half-open range `start_of(D) <= ts < start_of(D + 1)` of UTC
//! milliseconds, so the days around daylight-saving changes are 23 or 25
//! hours long and every instant belongs to exactly one day.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

/// Parse an IANA zone name.
pub(crate) fn parse_zone(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        anyhow::anyhow!(
            "unknown time zone '{name}': use an IANA name such as UTC, Europe/Berlin or America/Los_Angeles"
        )
    })
}

/// Parse `--now`.
pub(crate) fn parse_now(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            anyhow::anyhow!(
                "--now '{text}' is not an RFC 3339 instant: write it like 2026-11-22T06:00:00Z"
            )
        })
}

/// Parse a `YYYY-MM-DD` date given to the option `flag`.
pub fn parse_date(flag: &str, text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("{flag} '{text}' is not a valid date: write it as YYYY-MM-DD"))
}

/// The first instant of local day `date` in `tz`. Where local midnight does
/// not exist (a zone that springs forward at 00:00) the day starts at the
/// first local time that does.
pub fn start_of(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut local = date.and_time(NaiveTime::MIN);
    for _ in 0..(24 * 4) {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
            LocalResult::None => local += chrono::Duration::minutes(15),
        }
    }
    // No zone skips a whole day at midnight in steps we cannot find; fall
    // back to UTC midnight rather than panic.
    Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
}

/// The UTC millisecond bounds `[start, end)` of local day `date`.
pub(crate) fn day_bounds_ms(date: NaiveDate, tz: Tz) -> (i64, i64) {
    let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
    (
        start_of(date, tz).timestamp_millis(),
        start_of(next, tz).timestamp_millis(),
    )
}

/// The local date of a UTC millisecond timestamp.
pub(crate) fn local_date(ts_ms: i64, tz: Tz) -> NaiveDate {
    let utc = DateTime::<Utc>::from_timestamp_millis(ts_ms).unwrap_or_default();
    utc.with_timezone(&tz).date_naive()
}

/// Today in `tz` at instant `now`.
pub(crate) fn today(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// Yesterday in `tz` at instant `now`: the default day of the nightly jobs.
pub fn yesterday(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    today(now, tz).pred_opt().unwrap_or(NaiveDate::MIN)
}

/// An instant as the contract writes it: RFC 3339 in UTC with a `Z`.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Milliseconds since the epoch as RFC 3339 UTC.
pub(crate) fn rfc3339_ms(ts_ms: i64) -> String {
    rfc3339(DateTime::<Utc>::from_timestamp_millis(ts_ms).unwrap_or_default())
}

/// Milliseconds since the epoch as RFC 3339 UTC, milliseconds shown.
pub(crate) fn rfc3339_millis(ts_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ts_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A date as `YYYYMMDD`, for file names.
pub(crate) fn compact_date(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// An inclusive range of local days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DayRange {
    pub(crate) start: NaiveDate,
    pub(crate) end: NaiveDate,
}

impl DayRange {
    /// Check and build a range from `--start/--end` or `--days N` (the N days
    /// ending yesterday). `default_days` applies when neither is given.
    pub(crate) fn from_options(
        start: Option<&str>,
        end: Option<&str>,
        days: Option<i64>,
        default_days: Option<i64>,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Result<DayRange> {
        let yesterday = yesterday(now, tz);
        if days.is_some() && (start.is_some() || end.is_some()) {
            bail!("give either --start/--end or --days, not both");
        }
        let range = match (
            start,
            end,
            days.or(if start.is_none() && end.is_none() {
                default_days
            } else {
                None
            }),
        ) {
            (_, _, Some(n)) => {
                if n < 1 {
                    bail!("--days must be at least 1 (got {n})");
                }
                let start = yesterday
                    .checked_sub_days(Days::new(n as u64 - 1))
                    .context("--days reaches before the year 0")?;
                DayRange {
                    start,
                    end: yesterday,
                }
            }
            (Some(s), Some(e), None) => DayRange {
                start: parse_date("--start", s)?,
                end: parse_date("--end", e)?,
            },
            (Some(s), None, None) => DayRange {
                start: parse_date("--start", s)?,
                end: yesterday,
            },
            (None, Some(_), None) => bail!("--end needs --start (or use --days N)"),
            (None, None, None) => bail!("give --start YYYY-MM-DD --end YYYY-MM-DD or --days N"),
        };
        if range.start > range.end {
            bail!(
                "--start {} is after --end {}: swap them",
                range.start,
                range.end
            );
        }
        Ok(range)
    }

    /// The days of the range in order.
    pub(crate) fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let end = self.end;
        self.start.iter_days().take_while(move |d| *d <= end)
    }

    /// Number of days in the range.
    pub(crate) fn len(&self) -> usize {
        (self.end - self.start).num_days() as usize + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dst_days_are_23_and_25_hours() {
        let la = parse_zone("America/Los_Angeles").unwrap();
        let hours = |d: &str| {
            let (s, e) = day_bounds_ms(d.parse().unwrap(), la);
            (e - s) / 3_600_000
        };
        assert_eq!(hours("2026-03-08"), 23);
        assert_eq!(hours("2026-11-01"), 25);
        assert_eq!(hours("2026-11-02"), 24);
    }

    #[test]
    fn midnight_gap_starts_at_first_valid_time() {
        // Chile springs forward at 24:00 -> 01:00 in September.
        let tz = parse_zone("America/Santiago").unwrap();
        let (s, e) = day_bounds_ms("2026-09-06".parse().unwrap(), tz);
        assert_eq!((e - s) / 3_600_000, 23);
    }

    #[test]
    fn days_option_ends_yesterday() {
        let now = parse_now("2026-11-22T06:00:00Z").unwrap();
        let r = DayRange::from_options(None, None, Some(3), None, now, Tz::UTC).unwrap();
        assert_eq!(r.start.to_string(), "2026-11-19");
        assert_eq!(r.end.to_string(), "2026-11-21");
        assert!(DayRange::from_options(None, None, Some(0), None, now, Tz::UTC).is_err());
        assert!(
            DayRange::from_options(
                Some("2026-11-05"),
                Some("2026-11-01"),
                None,
                None,
                now,
                Tz::UTC
            )
            .is_err()
        );
    }
}
