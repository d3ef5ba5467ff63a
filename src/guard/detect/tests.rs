//! Unit tests of [`check_day`] on a synthetic shop: the six checks, the
//! incidents they catch, cold starts, bounds, holidays and speed; the
//! small shop whose orders are a handful a day in `small_shop`.

use chrono::{Duration, NaiveDate};

use super::format::fmt_thousands;
use super::*;

mod small_shop;

fn date(days: i64) -> NaiveDate {
    // 2026-01-05 is a Monday.
    NaiveDate::from_ymd_opt(2026, 1, 5).unwrap() + Duration::days(days)
}

/// Small deterministic noise in -1..1 (xorshift), so tests need no rand.
fn noise(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// `days` days of a shop with ~1,000 sessions on weekdays, 30% fewer at
/// weekends, ±6% noise, a 3% conversion rate and 50.00 per order.
fn series(days: i64) -> Vec<DailyPoint> {
    let mut state = 0x2545_f491_4f6c_dd1d;
    (0..days)
        .map(|d| {
            let weekend = if d % 7 >= 5 { 0.7 } else { 1.0 };
            let sessions = (1000.0 * weekend * (1.0 + 0.06 * noise(&mut state))).round();
            let orders = (sessions * 0.03 * (1.0 + 0.1 * noise(&mut state))).round();
            DailyPoint {
                date: date(d),
                sessions: sessions as u64,
                converting_sessions: orders as u64,
                revenue: orders * 50.0,
            }
        })
        .collect()
}

/// Splits a series into its history and its last day, scaled by `traffic`.
fn last_day_scaled(points: &[DailyPoint], traffic: f64) -> (&[DailyPoint], DailyPoint) {
    let (day, history) = points.split_last().unwrap();
    let sessions = (day.sessions as f64 * traffic).round();
    let orders = (day.converting_sessions as f64 * traffic).round();
    let day = DailyPoint {
        sessions: sessions as u64,
        converting_sessions: orders as u64,
        revenue: orders * 50.0,
        ..*day
    };
    (history, day)
}

fn find<'a>(results: &'a [CheckResult], name: &str) -> &'a CheckResult {
    results.iter().find(|r| r.name == name).unwrap()
}

fn statuses(results: &[CheckResult]) -> Vec<Status> {
    results.iter().map(|r| r.status).collect()
}

#[test]
fn returns_six_named_checks_in_order() {
    let points = series(120);
    let (history, day) = last_day_scaled(&points, 1.0);
    let results = check_day(history, &day, &GuardSettings::default());
    let names: Vec<&str> = results.iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "Revenue Range",
            "Revenue Trend",
            "Conversion Rate Range",
            "Conversion Rate Trend",
            "Sessions Range",
            "Sessions Trend"
        ]
    );
    assert_eq!(results[2].metric, Metric::ConversionRate);
    assert_eq!(results[3].kind, CheckKind::Trend);
}

#[test]
fn clean_weekly_seasonal_series_passes_every_day() {
    let points = series(150);
    let settings = GuardSettings::default();
    for t in 35..points.len() {
        let results = check_day(&points[..t], &points[t], &settings);
        assert_eq!(
            statuses(&results),
            [Status::Pass; 6],
            "day {t}: {:#?}",
            results
        );
    }
}

#[test]
fn weekend_is_expected_low() {
    let points = series(120);
    // Day 118 is a Saturday.
    let results = check_day(&points[..118], &points[118], &GuardSettings::default());
    let sessions = find(&results, "Sessions Range");
    let expected = sessions.expected.unwrap();
    assert!((650.0..750.0).contains(&expected), "{expected}");
    assert_eq!(sessions.status, Status::Pass);
}

#[test]
fn zero_day_fails_and_conversion_is_skipped() {
    let points = series(90);
    let (history, day) = last_day_scaled(&points, 0.0);
    let results = check_day(history, &day, &GuardSettings::default());
    let sessions = find(&results, "Sessions Range");
    assert_eq!(sessions.status, Status::Fail);
    assert!(
        sessions.message.starts_with("sessions 0 after a typical"),
        "{}",
        sessions.message
    );
    assert_eq!(find(&results, "Revenue Range").status, Status::Fail);
    for name in ["Conversion Rate Range", "Conversion Rate Trend"] {
        let check = find(&results, name);
        assert_eq!(check.status, Status::Skipped);
        assert!(
            check.message.contains("no sessions on"),
            "{}",
            check.message
        );
    }
}

#[test]
fn zero_fails_even_with_little_history() {
    let points = series(4);
    let (history, day) = last_day_scaled(&points, 0.0);
    let results = check_day(history, &day, &GuardSettings::default());
    assert_eq!(find(&results, "Sessions Range").status, Status::Fail);
    assert_eq!(find(&results, "Sessions Trend").status, Status::Skipped);
}

#[test]
fn huge_spike_fails_with_a_readable_message() {
    let points = series(88);
    let (history, day) = last_day_scaled(&points, 3.0);
    let results = check_day(history, &day, &GuardSettings::default());
    let sessions = find(&results, "Sessions Range");
    assert_eq!(sessions.status, Status::Fail);
    assert!(sessions.score.unwrap() > 10.0);
    assert!(sessions.change.unwrap() > 1.5);
    assert!(sessions.message.ends_with(", fail"), "{}", sessions.message);
    let shown = format!(
        "sessions {}, expected ",
        fmt_thousands(day.sessions as f64, 0)
    );
    assert!(sessions.message.starts_with(&shown), "{}", sessions.message);
    // 30 orders a day are noisy (compound Poisson): ×3 is a warn at least.
    assert!(find(&results, "Revenue Range").status >= Status::Warn);
    // A rate does not move when traffic triples.
    assert_eq!(find(&results, "Conversion Rate Range").status, Status::Pass);
}

#[test]
fn moderate_dip_warns() {
    let points = series(88);
    let (history, day) = last_day_scaled(&points, 0.7);
    let results = check_day(history, &day, &GuardSettings::default());
    assert!(find(&results, "Sessions Range").status >= Status::Warn);
}

#[test]
fn conversion_break_alerts() {
    let points = series(88);
    let (history, mut day) = last_day_scaled(&points, 1.0);
    day.converting_sessions = (day.converting_sessions as f64 * 0.2) as u64;
    let results = check_day(history, &day, &GuardSettings::default());
    let conversion = find(&results, "Conversion Rate Range");
    assert!(conversion.status >= Status::Warn, "{conversion:#?}");
    assert!(
        conversion.message.starts_with("conversion rate 0."),
        "{}",
        conversion.message
    );
    assert!(
        conversion.message.contains("%, expected 2.9"),
        "{}",
        conversion.message
    );
}

#[test]
fn short_history_is_skipped_with_the_reason() {
    let points = series(4);
    let (history, day) = last_day_scaled(&points, 1.0);
    let results = check_day(history, &day, &GuardSettings::default());
    assert_eq!(statuses(&results), [Status::Skipped; 6]);
    let range = find(&results, "Sessions Range");
    assert!(
        range
            .message
            .contains("range check needs 7 days of history, have 3"),
        "{}",
        range.message
    );
    assert_eq!(range.expected, None);
    let trend = find(&results, "Revenue Trend");
    assert!(
        trend
            .message
            .contains("trend needs 35 days of history, have 3"),
        "{}",
        trend.message
    );
    // An empty history is fine too.
    let results = check_day(&[], &day, &GuardSettings::default());
    assert_eq!(statuses(&results), [Status::Skipped; 6]);
}

#[test]
fn trend_needs_35_days() {
    let points = series(21);
    let (history, day) = last_day_scaled(&points, 1.0);
    let results = check_day(history, &day, &GuardSettings::default());
    let trend = find(&results, "Sessions Trend");
    assert_eq!(trend.status, Status::Skipped);
    assert!(
        trend
            .message
            .contains("trend needs 35 days of history, have 20"),
        "{}",
        trend.message
    );
    assert_eq!(find(&results, "Sessions Range").status, Status::Pass);
}

#[test]
fn one_to_two_weeks_compare_with_the_same_weekday_last_week() {
    let points = series(11);
    let (history, day) = last_day_scaled(&points, 1.0);
    let results = check_day(history, &day, &GuardSettings::default());
    let sessions = find(&results, "Sessions Range");
    assert_eq!(sessions.status, Status::Pass);
    let expected = sessions.expected.unwrap();
    assert!(
        (expected - points[3].sessions as f64).abs() < 1e-6,
        "{expected}"
    );
    assert!(
        sessions.message.contains("same weekday last week"),
        "{}",
        sessions.message
    );
    // Wide bands: half of last week warns, a third fails.
    let (history, day) = last_day_scaled(&points, 0.45);
    let results = check_day(history, &day, &GuardSettings::default());
    assert_eq!(find(&results, "Sessions Range").status, Status::Warn);
    let (history, day) = last_day_scaled(&points, 0.25);
    let results = check_day(history, &day, &GuardSettings::default());
    assert_eq!(find(&results, "Sessions Range").status, Status::Fail);
    let (history, day) = last_day_scaled(&points, 0.7);
    let results = check_day(history, &day, &GuardSettings::default());
    assert_eq!(find(&results, "Sessions Range").status, Status::Pass);
}

#[test]
fn rare_orders_do_not_alert() {
    // A blog: 150 sessions a day and a 20.00 donation every fourth day, so
    // the median day has no order at all. Two donations are not an incident.
    let mut points = series(60);
    for (d, p) in points.iter_mut().enumerate() {
        p.sessions = 150;
        p.converting_sessions = u64::from(d % 4 == 0);
        p.revenue = 20.0 * p.converting_sessions as f64;
    }
    let (history, mut day) = last_day_scaled(&points, 1.0);
    day.converting_sessions = 2;
    day.revenue = 40.0;
    let results = check_day(history, &day, &GuardSettings::default());
    let revenue = find(&results, "Revenue Range");
    assert_eq!(revenue.status, Status::Pass, "{revenue:#?}");
    assert_eq!(find(&results, "Revenue Trend").status, Status::Pass);
}

#[test]
fn an_expected_zero_is_zero_not_rounding_noise() {
    // Last week's same weekday had no order: nothing to compare with. Many
    // order values, because exp(ln(x)) - x is exactly zero for most x.
    for price in (0..40).map(|k| 10.0 + 0.37 * k as f64) {
        let mut points = series(11);
        for p in &mut points {
            p.revenue = p.converting_sessions as f64 * price;
        }
        points[3].converting_sessions = 0;
        points[3].revenue = 0.0;
        let (history, mut day) = last_day_scaled(&points, 1.0);
        day.revenue = day.converting_sessions as f64 * price;
        let results = check_day(history, &day, &GuardSettings::default());
        let revenue = find(&results, "Revenue Range");
        assert_eq!(revenue.expected, Some(0.0), "{price}: {revenue:#?}");
        assert_eq!(revenue.change, None);
        assert_eq!(revenue.status, Status::Pass);
        assert!(
            revenue
                .message
                .contains("expected 0.00 (0.00..∞, same weekday last week): n/a, pass"),
            "{}",
            revenue.message
        );
    }
}

#[test]
fn level_shift_is_caught_by_the_trend_check() {
    let mut points = series(100);
    for p in &mut points[90..] {
        p.sessions = (p.sessions as f64 * 0.6) as u64;
    }
    let (history, day) = last_day_scaled(&points, 1.0);
    let results = check_day(history, &day, &GuardSettings::default());
    let trend = find(&results, "Sessions Trend");
    assert!(trend.status >= Status::Warn, "{trend:#?}");
    assert!(trend.change.unwrap() < -0.25);
    assert!(
        trend.message.starts_with("sessions last 7 days "),
        "{}",
        trend.message
    );
    assert!(
        trend.message.contains("/day, expected "),
        "{}",
        trend.message
    );
}

#[test]
fn past_incident_does_not_hide_the_next() {
    let mut points = series(88);
    // Outages on the same weekday one and two weeks ago.
    for d in [73, 80] {
        points[d].sessions = 0;
        points[d].converting_sessions = 0;
        points[d].revenue = 0.0;
    }
    let (history, day) = last_day_scaled(&points, 0.5);
    let results = check_day(history, &day, &GuardSettings::default());
    let sessions = find(&results, "Sessions Range");
    assert!(sessions.status >= Status::Warn, "{sessions:#?}");
    let expected = sessions.expected.unwrap();
    assert!(expected > 900.0, "{expected}");
}

#[test]
fn absolute_bounds_always_apply() {
    let points = series(90);
    let (history, day) = last_day_scaled(&points, 1.0);
    let mut settings = GuardSettings::default();
    settings.sessions.min = Some(5_000.0);
    settings.revenue.max = Some(100.0);
    let results = check_day(history, &day, &settings);
    let sessions = find(&results, "Sessions Range");
    assert_eq!(sessions.status, Status::Fail);
    assert!(
        sessions
            .message
            .contains("is below the configured minimum 5,000"),
        "{}",
        sessions.message
    );
    let revenue = find(&results, "Revenue Range");
    assert_eq!(revenue.status, Status::Fail);
    assert!(
        revenue
            .message
            .contains("is above the configured maximum 100.00"),
        "{}",
        revenue.message
    );
    // Even without history.
    let results = check_day(&[], &day, &settings);
    assert_eq!(find(&results, "Sessions Range").status, Status::Fail);
}

#[test]
fn direction_limits_what_alerts() {
    let points = series(90);
    let mut settings = GuardSettings::default();
    let (history, drop) = last_day_scaled(&points, 0.3);
    let (_, spike) = last_day_scaled(&points, 3.0);
    settings.sessions.direction = Direction::Spike;
    assert_eq!(
        find(&check_day(history, &drop, &settings), "Sessions Range").status,
        Status::Pass
    );
    assert_eq!(
        find(&check_day(history, &spike, &settings), "Sessions Range").status,
        Status::Fail
    );
    settings.sessions.direction = Direction::Drop;
    assert_eq!(
        find(&check_day(history, &drop, &settings), "Sessions Range").status,
        Status::Fail
    );
    assert_eq!(
        find(&check_day(history, &spike, &settings), "Sessions Range").status,
        Status::Pass
    );
}

#[test]
fn holidays_are_left_out_of_baselines() {
    let mut points = series(11);
    // The same weekday last week was a holiday with ten times the traffic.
    points[3].sessions *= 10;
    let (history, day) = last_day_scaled(&points, 1.0);
    let mut settings = GuardSettings::default();
    let results = check_day(history, &day, &settings);
    assert_eq!(find(&results, "Sessions Range").status, Status::Fail);
    settings.holidays = vec![points[3].date];
    let results = check_day(history, &day, &settings);
    let sessions = find(&results, "Sessions Range");
    assert_eq!(sessions.status, Status::Skipped);
    assert!(
        sessions
            .message
            .contains("no usable day on the same weekday last week")
    );
    // It does not count as history either.
    assert_eq!(sessions.history_days, 9);
}

#[test]
fn holidays_do_not_disturb_a_full_baseline() {
    let mut points = series(90);
    points[82].sessions /= 5;
    let (history, day) = last_day_scaled(&points, 1.0);
    let settings = GuardSettings {
        holidays: vec![points[82].date],
        ..GuardSettings::default()
    };
    let results = check_day(history, &day, &settings);
    assert_eq!(statuses(&results), [Status::Pass; 6], "{results:#?}");
}

#[test]
fn impossible_values_fail() {
    let points = series(20);
    let (history, mut day) = last_day_scaled(&points, 1.0);
    day.revenue = -5.0;
    day.converting_sessions = day.sessions + 1;
    let results = check_day(history, &day, &GuardSettings::default());
    let revenue = find(&results, "Revenue Range");
    assert_eq!(revenue.status, Status::Fail);
    assert!(
        revenue.message.contains("revenue -5.00 is negative"),
        "{}",
        revenue.message
    );
    let conversion = find(&results, "Conversion Rate Range");
    assert_eq!(conversion.status, Status::Fail);
    assert!(
        conversion.message.contains("impossible"),
        "{}",
        conversion.message
    );
}

#[test]
fn status_orders_worst_last() {
    assert!(Status::Skipped < Status::Pass);
    assert!(Status::Pass < Status::Warn);
    assert!(Status::Warn < Status::Fail);
    let worst = [Status::Skipped, Status::Warn, Status::Pass]
        .into_iter()
        .max();
    assert_eq!(worst, Some(Status::Warn));
}

#[test]
fn message_has_the_documented_shape() {
    let points = series(90);
    let (history, day) = last_day_scaled(&points, 0.35);
    let results = check_day(history, &day, &GuardSettings::default());
    let message = &find(&results, "Sessions Range").message;
    // "sessions 350, expected 1,010 (870..1,160): -65%, fail"
    let (head, tail) = message.split_once(", expected ").unwrap();
    assert!(head.starts_with("sessions "), "{message}");
    assert!(
        tail.contains(" (") && tail.contains("..") && tail.contains("): -"),
        "{message}"
    );
    assert!(tail.ends_with("%, fail"), "{message}");
}

#[test]
fn long_history_is_fast() {
    let points = series(400);
    let (history, day) = last_day_scaled(&points, 1.0);
    let settings = GuardSettings::default();
    let started = std::time::Instant::now();
    for _ in 0..20 {
        std::hint::black_box(check_day(history, &day, &settings));
    }
    // Generous bound (debug builds, shared machines); release is ~0.3 ms.
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
