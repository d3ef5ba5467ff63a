//! The small shop of issue 16 through the real binaries: about 340 sessions
//! and 11 orders a weekday for nine weeks, then a checkout that breaks for
//! most buyers on Wednesday 2026-11-18 (2 orders, sessions as usual).
//!
//! `generate-events` can only break a checkout completely (no order at
//! all, which the zero rule catches anyway), so the events are written here
//! from a small deterministic generator.

use std::fmt::Write as _;

use chrono::{Datelike, Duration, NaiveDate};

use super::*;

const FIRST_DAY: &str = "2026-09-20";
const BROKEN_DAY: &str = "2026-11-18";

/// xorshift: a uniform in 0..1, so the test needs no rand.
fn uniform(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// A Poisson draw by inversion, kept within its central 98% (an ordinary
/// day, not a 1-in-100 one).
fn poisson(lambda: f64, u: f64) -> usize {
    let u = u.clamp(0.01, 0.99);
    let (mut k, mut pmf) = (0, (-lambda).exp());
    let mut cdf = pmf;
    while cdf < u {
        k += 1;
        pmf *= lambda / k as f64;
        cdf += pmf;
    }
    k
}

/// NDJSON of the shop: each session one pageview, an order in the first
/// `orders` sessions of the day (3.2% conversion: about 11 on a weekday,
/// fewer at the weekend), 45.00 an order; the broken day keeps 2.
fn small_shop_events() -> String {
    let first = NaiveDate::parse_from_str(FIRST_DAY, "%Y-%m-%d").unwrap();
    let broken = NaiveDate::parse_from_str(BROKEN_DAY, "%Y-%m-%d").unwrap();
    let mut state = 0x2545_f491_4f6c_dd1d;
    let mut out = String::new();
    let mut date = first;
    while date <= broken {
        let weekend = date.weekday().number_from_monday() >= 6;
        let noise = 1.0 + 0.1 * (uniform(&mut state) - 0.5);
        let sessions = (340.0 * if weekend { 0.85 } else { 1.0 } * noise).round() as usize;
        let orders = if date == broken {
            2
        } else {
            poisson(sessions as f64 * 0.032, uniform(&mut state))
        };
        for s in 0..sessions {
            // Spread over the day, from 00:01 on.
            let second = 60 + s * (86_000 / sessions);
            let ts = date.and_hms_opt(0, 0, 0).unwrap() + Duration::seconds(second as i64);
            let ts = ts.format("%Y-%m-%dT%H:%M:%SZ");
            let id = format!("{date}-{s}");
            writeln!(
                out,
                r#"{{"ts":"{ts}","site":"shop","kind":"pageview","session":"s{id}","visitor":"v{id}","path":"/"}}"#
            )
            .unwrap();
            if s < orders {
                writeln!(
                    out,
                    r#"{{"ts":"{ts}","site":"shop","kind":"order","session":"s{id}","visitor":"v{id}","revenue_cents":4500}}"#
                )
                .unwrap();
            }
        }
        date += Duration::days(1);
    }
    out
}

#[test]
fn a_small_shops_checkout_break_warns_with_its_reason() {
    let w = Workdir::new();
    let events = w.write("events.ndjson", &small_shop_events());
    let out = w.cmd("ingest").arg(&events).output().expect("run ingest");
    assert_exit(&out, 0);
    w.backfill(FIRST_DAY, BROKEN_DAY, "UTC");

    let out = guard(&w, &["--date", BROKEN_DAY]);
    let proof = read_proof(&w, BROKEN_DAY);
    assert_exit(&out, exit_code_of(&proof));
    assert!(exit_code_of(&proof) >= 1, "{proof:#?}");

    let conversion = find(&proof, "shop", "Conversion Rate Range");
    assert!(
        conversion.status == "warn" || conversion.status == "fail",
        "{conversion:#?}"
    );
    assert!(proof.anomalies.contains(conversion));
    let sessions = w.rollup(BROKEN_DAY, "shop")["unique_sessions"]
        .as_u64()
        .unwrap();
    let reason = format!("2 orders from {sessions} sessions against about ");
    assert!(
        conversion.message.contains(&reason) && conversion.message.contains(" expected (P ≈ 0.0"),
        "{conversion:#?}"
    );
    // Visitors came as usual: this is the checkout, not the traffic.
    assert_eq!(find(&proof, "shop", "Sessions Range").status, "pass");

    // The ordinary week before it raises nothing.
    let out = guard(&w, &["--start", "2026-11-11", "--end", "2026-11-17"]);
    assert_exit(&out, 0);
    assert_text(&stdout(&out), TABLE_HEADER);
}
