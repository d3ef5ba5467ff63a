//! Times as the servers write them: CLF (`10/Oct/2000:13:55:36 -0700`),
//! ISO 8601 with an offset, Unix seconds with a fraction, W3C date and time
//! in UTC; all to UTC milliseconds. By hand rather than with chrono: this
//! runs once per line and a fixed layout needs no general parser.

use std::ops::Range;

/// Days from 1970-01-01 to a civil date (proleptic Gregorian), after
/// Howard Hinnant's `days_from_civil`.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Digits at `range` of `bytes` as a number; `None` unless all are digits.
fn digits(bytes: &[u8], range: Range<usize>) -> Option<u32> {
    let part = bytes.get(range)?;
    if part.is_empty() {
        return None;
    }
    part.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit()
            .then(|| n.saturating_mul(10).saturating_add(u32::from(b - b'0')))
    })
}

/// UTC milliseconds of a checked civil time.
fn civil_ms(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Result<i64, &'static str> {
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    // 60 is a leap second as some servers print it; it counts as :59.
    if h > 23 || m > 59 || s > 60 {
        return Err("time of day out of range");
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(h) * 3600
        + i64::from(m) * 60
        + i64::from(s.min(59));
    Ok(secs * 1000)
}

fn month_from_abbrev(abbrev: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let lower = [
        abbrev.first()?.to_ascii_lowercase(),
        abbrev.get(1)?.to_ascii_lowercase(),
        abbrev.get(2)?.to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|m| **m == lower)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// A `±HHMM` or `±HH:MM` offset in minutes east of UTC.
fn offset_minutes(text: &[u8]) -> Option<i64> {
    let sign = match text.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = match text.len() {
        5 => (digits(text, 1..3)?, digits(text, 3..5)?),
        6 if text.get(3) == Some(&b':') => (digits(text, 1..3)?, digits(text, 4..6)?),
        3 => (digits(text, 1..3)?, 0),
        _ => return None,
    };
    (h <= 23 && m <= 59).then(|| sign * i64::from(h * 60 + m))
}

/// Common Log Format time, `10/Oct/2000:13:55:36 -0700` (Apache `%t`
/// without its brackets, nginx `$time_local`).
pub fn parse_clf_time(text: &str) -> Result<i64, &'static str> {
    let b = text.as_bytes();
    if b.len() != 26 || b.get(2) != Some(&b'/') || b.get(6) != Some(&b'/') {
        return Err("expected dd/Mon/yyyy:HH:MM:SS +zzzz");
    }
    let bad = "expected dd/Mon/yyyy:HH:MM:SS +zzzz";
    let day = digits(b, 0..2).ok_or(bad)?;
    let month = month_from_abbrev(b.get(3..6).ok_or(bad)?).ok_or("unknown month")?;
    let year = digits(b, 7..11).ok_or(bad)?;
    if b.get(11) != Some(&b':')
        || b.get(14) != Some(&b':')
        || b.get(17) != Some(&b':')
        || b.get(20) != Some(&b' ')
    {
        return Err(bad);
    }
    let (h, m, s) = (
        digits(b, 12..14).ok_or(bad)?,
        digits(b, 15..17).ok_or(bad)?,
        digits(b, 18..20).ok_or(bad)?,
    );
    let offset = offset_minutes(b.get(21..26).ok_or(bad)?).ok_or("bad UTC offset")?;
    Ok(civil_ms(i64::from(year), month, day, h, m, s)? - offset * 60_000)
}

/// ISO 8601 / RFC 3339, `2019-02-06T15:30:25+01:00`, `...25.123Z`,
/// `...25+0100` (Apache's `%{%Y-%m-%dT%H:%M:%S%z}t`). A time without an
/// offset is UTC only when `naive_is_utc` (W3C logs are UTC by definition;
/// elsewhere it is an error rather than a guess).
pub fn parse_iso8601(text: &str, naive_is_utc: bool) -> Result<i64, &'static str> {
    let b = text.as_bytes();
    let bad = "expected YYYY-MM-DDTHH:MM:SS with a UTC offset";
    if b.len() < 19 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(bad);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return Err(bad);
    }
    if b.get(16) != Some(&b':') {
        return Err(bad);
    }
    let year = digits(b, 0..4).ok_or(bad)?;
    let (month, day) = (digits(b, 5..7).ok_or(bad)?, digits(b, 8..10).ok_or(bad)?);
    let (h, m, s) = (
        digits(b, 11..13).ok_or(bad)?,
        digits(b, 14..16).ok_or(bad)?,
        digits(b, 17..19).ok_or(bad)?,
    );
    let mut rest = b.get(19..).unwrap_or_default();
    let mut millis = 0i64;
    if rest.first() == Some(&b'.') || rest.first() == Some(&b',') {
        let frac_len = rest
            .iter()
            .skip(1)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if frac_len == 0 {
            return Err(bad);
        }
        for (i, c) in rest.iter().skip(1).take(3).enumerate() {
            if c.is_ascii_digit() {
                millis += i64::from(c - b'0') * [100, 10, 1][i];
            }
        }
        rest = rest.get(1 + frac_len..).unwrap_or_default();
    }
    let offset = match rest {
        [] if naive_is_utc => 0,
        [] => return Err("no UTC offset"),
        [b'Z' | b'z'] => 0,
        other => offset_minutes(other).ok_or("bad UTC offset")?,
    };
    Ok(civil_ms(i64::from(year), month, day, h, m, s)? + millis - offset * 60_000)
}

/// RFC 3339 in the shape an NDJSON `ts` usually has,
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` with at most nine
/// fraction digits and no leap second, read by [`parse_iso8601`]: the
/// instant chrono's `parse_from_rfc3339` gives, without its general
/// parser (a fifth of NDJSON parsing went there). `None` for any other
/// text (a lower-case `t`, a space, `+0100`, a leap second, an impossible
/// date), which the caller leaves to chrono to accept or refuse.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let fraction = match b.get(19) {
        Some(b'.') => {
            1 + b
                .get(20..)?
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        }
        _ => 0,
    };
    let strict = b.get(10) == Some(&b'T')
        && b.get(17..19).is_some_and(|s| s < b"60".as_slice())
        && fraction <= 10
        && matches!(
            b.get(19 + fraction..)?,
            [b'Z'] | [b'+' | b'-', _, _, b':', _, _]
        );
    if !strict {
        return None;
    }
    parse_iso8601(text, false).ok()
}

/// Unix seconds with an optional fraction, `1549380625.123` (nginx
/// `$msec`, Caddy's `ts`), truncated to milliseconds.
pub fn parse_epoch_seconds(text: &str) -> Result<i64, &'static str> {
    let bad = "expected Unix seconds such as 1549380625.123";
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let plain = |part: &str| part.bytes().all(|c| c.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || !plain(whole) || !plain(frac) {
        // A float in exponent form (1.5e9) is rare but valid JSON.
        return match text.parse::<f64>() {
            Ok(secs) if secs.is_finite() && (0.0..1e12).contains(&secs) => {
                Ok((secs * 1000.0).floor() as i64)
            }
            _ => Err(bad),
        };
    }
    let secs: i64 = whole.parse().map_err(|_| bad)?;
    let mut millis = 0i64;
    for (i, c) in frac.bytes().take(3).enumerate() {
        millis += i64::from(c - b'0') * [100, 10, 1][i];
    }
    Ok(secs * 1000 + millis)
}

/// W3C `date` and `time` fields, UTC by the format's definition.
pub fn parse_w3c_date_time(date: &str, time: &str) -> Result<i64, &'static str> {
    if date.len() != 10 || time.len() < 8 {
        return Err("expected date YYYY-MM-DD and time HH:MM:SS");
    }
    let mut joined = [0u8; 40];
    let len = 11 + time.len().min(29);
    joined[..10].copy_from_slice(date.as_bytes());
    joined[10] = b'T';
    joined[11..len].copy_from_slice(&time.as_bytes()[..len - 11]);
    let text = std::str::from_utf8(&joined[..len]).map_err(|_| "not text")?;
    parse_iso8601(text, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_time() {
        // 2000-10-10T20:55:36Z
        assert_eq!(
            parse_clf_time("10/Oct/2000:13:55:36 -0700"),
            Ok(971_211_336_000)
        );
        assert_eq!(
            parse_clf_time("17/May/2015:10:05:03 +0000"),
            Ok(1_431_857_103_000)
        );
        assert_eq!(
            parse_clf_time("29/Feb/2024:00:00:00 +0100"),
            Ok(1_709_161_200_000)
        );
        assert!(parse_clf_time("30/Feb/2024:00:00:00 +0000").is_err());
        assert!(parse_clf_time("10/Foo/2000:13:55:36 -0700").is_err());
        assert!(parse_clf_time("10/Oct/2000:13:55:36").is_err());
        assert!(parse_clf_time("10/Oct/2000:13:5x:36 -0700").is_err());
        assert!(parse_clf_time("").is_err());
    }

    #[test]
    fn iso_and_epoch_times() {
        let t = 1_549_467_025_000; // 2019-02-06T15:30:25Z
        assert_eq!(parse_iso8601("2019-02-06T16:30:25+01:00", false), Ok(t));
        assert_eq!(parse_iso8601("2019-02-06T16:30:25+0100", false), Ok(t));
        assert_eq!(
            parse_iso8601("2019-02-06T15:30:25.123456789Z", false),
            Ok(t + 123)
        );
        assert_eq!(parse_iso8601("2019-02-06 15:30:25", true), Ok(t));
        assert_eq!(
            parse_iso8601("2019-02-06T15:30:25", false),
            Err("no UTC offset")
        );
        assert!(parse_iso8601("2019-13-06T15:30:25Z", false).is_err());
        assert!(parse_iso8601("2019-02-06T15:30:25.Z", false).is_err());
        assert_eq!(parse_epoch_seconds("1549467025.123"), Ok(t + 123));
        assert_eq!(parse_epoch_seconds("1549467025.5241024"), Ok(t + 524));
        assert_eq!(parse_epoch_seconds("1549467025"), Ok(t));
        assert_eq!(parse_epoch_seconds("1.549467025e9"), Ok(t));
        assert!(parse_epoch_seconds("-").is_err());
        assert!(parse_epoch_seconds("12.x").is_err());
        assert_eq!(parse_w3c_date_time("2019-02-06", "15:30:25"), Ok(t));
        assert!(parse_w3c_date_time("2019-02-06", "").is_err());
    }

    #[test]
    fn rfc3339_gives_what_chrono_gives_and_leaves_it_the_rest() {
        use chrono::{DateTime, Datelike, NaiveDate};
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
            assert_eq!(parse_rfc3339(t), chrono_ms(t), "{t}");
            assert!(parse_rfc3339(t).is_some(), "{t}");
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
            assert_eq!(parse_rfc3339(t), None, "{t}");
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
                assert_eq!(parse_rfc3339(&t), chrono_ms(&t), "{t}");
            }
            day = day.succ_opt().unwrap();
        }
    }

    #[test]
    fn days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
