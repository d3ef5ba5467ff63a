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

/// Milliseconds since the epoch of the RFC 3339 instant `text` in its
/// usual shape, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, read
/// without chrono's general parser (a fifth of NDJSON parsing went there);
/// `None` for any other text, which chrono then accepts or refuses. Gives
/// what `DateTime::parse_from_rfc3339(text)?.timestamp_millis()` gives.
pub(crate) fn rfc3339_millis_fast(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |at: usize, len: usize| -> Option<i64> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let punct = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || punct.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // A leap second (60) is left to chrono.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0;
    if b[at] == b'.' {
        let digits = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        for i in 0..3 {
            let d = if i < digits { num(at + 1 + i, 1)? } else { 0 };
            millis = millis * 10 + d;
        }
        at += 1 + digits;
    }
    let offset_minutes = match &b[at..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn fast_rfc3339_gives_what_chrono_gives_and_leaves_it_the_rest() {
        use chrono::Datelike;
        let chrono_ms = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| d.timestamp_millis())
        };
        let shapes = [
            "2026-11-21T08:15:02Z",
            "2026-11-21T08:15:02.5Z",
            "2026-11-21T08:15:02.123456789Z",
            "2026-11-21T08:15:02.1239Z",
            "2026-11-21T08:15:02+01:00",
            "2026-11-21T00:15:02.999-09:30",
            "2024-02-29T23:59:59Z",
            "2000-02-29T12:00:00Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
            "9999-12-31T23:59:59.999+00:00",
            "0001-03-01T00:00:00Z",
            "2026-11-21T08:15:02-00:00",
            "2026-11-21T08:15:02+23:59",
            "2026-11-21T08:15:02.000001-23:59",
        ];
        for t in shapes {
            assert_eq!(rfc3339_millis_fast(t), chrono_ms(t), "{t}");
            assert!(rfc3339_millis_fast(t).is_some(), "{t}");
        }
        // Invalid, or valid in a shape left to chrono: never a wrong value.
        let others = [
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T08:60:00Z",
            "2016-12-31T23:59:60Z",
            "2026-11-21t08:15:02z",
            "2026-11-21 08:15:02Z",
            "2026-11-21T08:15:02.Z",
            "2026-11-21T08:15:02.1234567891Z",
            "2026-11-21T08:15:02+24:00",
            "2026-11-21T08:15:02+0100",
            "2026-11-21T08:15:02",
            "2026-11-21T08:15:02Zx",
            "+2026-11-21T08:15:02Z",
            "2026-1a-21T08:15:02Z",
            "2026-11-21T08:15:02.5é",
            "",
        ];
        for t in others {
            assert_eq!(rfc3339_millis_fast(t), None, "{t}");
        }
        // Every day of four years, at a few times and offsets.
        let mut day = NaiveDate::from_ymd_opt(1999, 1, 1).unwrap();
        while day.year() < 2003 {
            for (time, offset) in [
                ("00:00:00", "Z"),
                ("13:07:59.25", "+05:45"),
                ("23:59:59.999", "-11:00"),
            ] {
                let t = format!("{day}T{time}{offset}");
                assert_eq!(rfc3339_millis_fast(&t), chrono_ms(&t), "{t}");
            }
            day = day.succ_opt().unwrap();
        }
    }

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
