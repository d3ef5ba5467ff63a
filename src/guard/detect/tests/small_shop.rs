//! The small shop of issue 16: about 340 sessions and 11 orders a day, so
//! that a day's orders are a Poisson count of a dozen. A checkout that
//! leaves 2 of them must warn; its ordinary weeks must not.

use super::*;

/// P(X <= k) walked up to the first k whose tail passes `u`: a Poisson
/// draw by inversion, from a uniform `u` in 0..1.
fn poisson(lambda: f64, u: f64) -> u64 {
    let (mut k, mut pmf) = (0u64, (-lambda).exp());
    let mut cdf = pmf;
    while cdf < u {
        k += 1;
        pmf *= lambda / k as f64;
        cdf += pmf;
    }
    k
}

/// `days` days of the small shop: 340 sessions on weekdays, 15% fewer at
/// weekends, ±5% wandering, a 3.2% conversion rate (about 11 orders a
/// weekday) with Poisson orders, 45.00 an order. The draws stay within
/// their central 98%: an ordinary day, not one that is itself a 1-in-100
/// event (2 orders of 11 happen once in 800 days, and should warn).
fn small_shop(days: i64) -> Vec<DailyPoint> {
    let mut state = 0x9e37_79b9_7f4a_7c15;
    (0..days)
        .map(|d| {
            let weekend = if d % 7 >= 5 { 0.85 } else { 1.0 };
            let sessions = (340.0 * weekend * (1.0 + 0.05 * noise(&mut state))).round();
            let u = ((noise(&mut state) + 1.0) / 2.0).clamp(0.01, 0.99);
            let orders = poisson(sessions * 0.032, u);
            DailyPoint {
                date: date(d),
                sessions: sessions as u64,
                converting_sessions: orders,
                revenue: orders as f64 * 45.0,
            }
        })
        .collect()
}

/// The last day of the small shop with `orders` orders, sessions as they were.
fn with_orders(points: &[DailyPoint], orders: u64) -> (&[DailyPoint], DailyPoint) {
    let (day, history) = points.split_last().unwrap();
    let day = DailyPoint {
        converting_sessions: orders,
        revenue: orders as f64 * 45.0,
        ..*day
    };
    (history, day)
}

#[test]
fn a_checkout_break_leaving_2_of_11_orders_warns() {
    // Day 120 is a Wednesday: about 11 orders expected.
    let points = small_shop(121);
    let (history, day) = with_orders(&points, 2);
    let results = check_day(history, &day, &GuardSettings::default());
    let conversion = find(&results, "Conversion Rate Range");
    assert!(conversion.status >= Status::Warn, "{conversion:#?}");
    let expected_orders = conversion.expected.unwrap() * day.sessions as f64;
    assert!((9.0..13.0).contains(&expected_orders), "{expected_orders}");
    // The message says why: the count and how improbable it is.
    let reason = format!(
        ", warn: 2 orders from {} sessions against about ",
        day.sessions
    );
    assert!(
        conversion.message.contains(&reason) && conversion.message.contains(" expected (P ≈ 0.00"),
        "{}",
        conversion.message
    );
    // The band shown says where warning starts: 2 orders are below it.
    assert!(conversion.low.unwrap() > conversion.value);
    // Visitors came as usual.
    assert_eq!(find(&results, "Sessions Range").status, Status::Pass);
}

#[test]
fn without_the_count_evidence_the_band_could_not_warn() {
    // Why the count evidence exists: 3.5 spreads of a dozen orders reach
    // below zero, so the score alone would pass even 1 order of 11.
    let points = small_shop(121);
    let (history, day) = with_orders(&points, 1);
    let results = check_day(history, &day, &GuardSettings::default());
    let conversion = find(&results, "Conversion Rate Range");
    assert!(conversion.score.unwrap() > -3.5, "{conversion:#?}");
    assert!(conversion.status >= Status::Warn, "{conversion:#?}");
}

#[test]
fn orders_the_noise_explains_do_not_warn() {
    // 6 of 11 is -45%, yet a Poisson count of 11 is 6 or fewer on 1 day in 12.
    let points = small_shop(121);
    let (history, day) = with_orders(&points, 6);
    let results = check_day(history, &day, &GuardSettings::default());
    let conversion = find(&results, "Conversion Rate Range");
    assert_eq!(conversion.status, Status::Pass, "{conversion:#?}");
    assert!(
        !conversion.message.contains("P ≈"),
        "{}",
        conversion.message
    );
}

#[test]
fn clean_small_shop_weeks_raise_no_warning() {
    // Eight ordinary weeks after a warm-up of five, every check of every day.
    let points = small_shop(35 + 56);
    let settings = GuardSettings::default();
    for t in 35..points.len() {
        let results = check_day(&points[..t], &points[t], &settings);
        assert!(
            results.iter().all(|r| r.status <= Status::Pass),
            "day {t} ({} orders): {:#?}",
            points[t].converting_sessions,
            results
        );
    }
}

#[test]
fn a_spike_only_direction_ignores_the_count_evidence() {
    let points = small_shop(121);
    let (history, day) = with_orders(&points, 1);
    let mut settings = GuardSettings::default();
    settings.conversion_rate.direction = Direction::Spike;
    let results = check_day(history, &day, &settings);
    let conversion = find(&results, "Conversion Rate Range");
    assert_eq!(conversion.status, Status::Pass, "{conversion:#?}");
    assert!(
        !conversion.message.contains("P ≈"),
        "{}",
        conversion.message
    );
}
