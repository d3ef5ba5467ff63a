//! sampling-guard judging days: a normal week, an outage, a dip and a
//! spike, a checkout break, short histories, holidays, configured bounds,
//! a range of days, and the proof's shape.

use super::*;

#[test]
fn a_normal_week_passes_every_check() {
    let w = two_sites();
    let out = guard(&w, &["--start", "2026-11-08", "--end", "2026-11-14"]);
    assert_exit(&out, 0);
    assert_text(&stdout(&out), TABLE_HEADER);
    for day in 8..=14 {
        let date = format!("2026-11-{day:02}");
        let proof = read_proof(&w, &date);
        assert_eq!(proof.date, date);
        assert_eq!(proof.status, "pass");
        for site in ["blog", "shop"] {
            let names: Vec<&str> = proof
                .checks
                .iter()
                .filter(|c| c.site == site)
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(names, CHECK_NAMES, "{date} {site}");
        }
        // Nine weeks of history: the full method, trends included.
        let passed = proof.checks.iter().filter(|c| c.status == "pass").count();
        assert_eq!(passed, 12, "{date}: {proof:#?}");
    }

    let out = guard(&w, &["--date", "2026-11-14"]);
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["2026-11-14: pass, 12 checks: 12 passed, 0 warnings, 0 failures, 0 skipped; proof "],
    );
    assert_eq!(stdout(&out), "", "a single day prints no table");
    let run = last_run(&w);
    assert_eq!(run[..3], ["success", "0", "12"], "{run:?}");
}

#[test]
fn an_outage_yesterday_fails_with_exit_2() {
    let w = two_sites();
    let out = guard(&w, &[]);
    assert_exit(&out, 2);
    let proof = read_proof(&w, "2026-11-21");
    assert_eq!(proof.status, "fail");
    let sessions = find(&proof, "shop", "Sessions Range");
    assert_check(sessions, "fail", "sessions 0 after a typical ");
    assert_eq!(sessions.value, 0.0);
    // No sessions, no rate: the conversion checks say so instead of passing.
    for name in ["Conversion Rate Range", "Conversion Rate Trend"] {
        let check = find(&proof, "shop", name);
        assert_eq!(check.status, "skipped");
        assert_eq!(
            check.message,
            "conversion rate: skipped, no sessions on 2026-11-21"
        );
    }
    // The blog had an ordinary day.
    let blog_sessions = find(&proof, "blog", "Sessions Range");
    assert_eq!(blog_sessions.status, "pass", "{blog_sessions:#?}");
    assert_stderr_has(&out, &["2026-11-21: fail, 12 checks: "]);
    let run = last_run(&w);
    assert_eq!(run[1], "2", "{run:?}");
    assert!(run[3].starts_with("2026-11-21: fail, "), "{run:?}");
}

#[test]
fn a_dip_and_a_spike_are_flagged_on_sessions_range() {
    let w = two_sites();
    // (date, site, the least status of its Sessions Range)
    let cases = [
        ("2026-11-19", "shop", "warn"), // traffic ×0.35
        ("2026-11-17", "blog", "warn"), // traffic ×3
    ];
    for (date, site, least) in cases {
        let out = guard(&w, &["--date", date, "--site", site]);
        let proof = read_proof(&w, date);
        assert_exit(&out, exit_code_of(&proof));
        assert!(proof.checks.iter().all(|c| c.site == site));
        assert_eq!(proof.checks.len(), 6);
        let sessions = find(&proof, site, "Sessions Range");
        assert!(
            sessions.status == least || sessions.status == "fail",
            "{date} {site}: {sessions:#?}"
        );
        assert!(proof.anomalies.contains(sessions));
        assert!(
            sessions
                .message
                .ends_with(&format!(", {}", sessions.status)),
            "{}",
            sessions.message
        );
    }
}

#[test]
fn a_checkout_break_fails_revenue_and_conversion() {
    let w = busy_shop();
    let out = guard(&w, &["--date", "2026-11-21"]);
    assert_exit(&out, 2);
    let proof = read_proof(&w, "2026-11-21");
    let revenue = find(&proof, "shop", "Revenue Range");
    assert_eq!(revenue.status, "fail", "{revenue:#?}");
    assert_eq!(revenue.value, 0.0);
    let conversion = find(&proof, "shop", "Conversion Rate Range");
    assert_check(conversion, "fail", "conversion rate 0.00%, expected ");
    // Visitors still came.
    assert_eq!(find(&proof, "shop", "Sessions Range").status, "pass");
}

#[test]
fn a_short_history_is_skipped_with_the_reason() {
    let w = busy_shop();
    // Three days of history (11-07 to 11-09).
    let out = guard(&w, &["--date", "2026-11-10"]);
    assert_exit(&out, 0);
    let proof = read_proof(&w, "2026-11-10");
    assert_eq!(proof.status, "pass", "skipped counts as pass");
    assert_eq!(proof.summary.skipped, 6, "{proof:#?}");
    for check in &proof.checks {
        assert_eq!(check.expected, None);
        let reason = if check.kind == "range" {
            "skipped, range check needs 7 days of history, have 3"
        } else {
            "skipped, trend needs 35 days of history, have 3"
        };
        assert_check(check, "skipped", reason);
    }
}

#[test]
fn one_to_two_weeks_compare_with_the_same_weekday_last_week() {
    let w = busy_shop();
    // Ten days of history (11-07 to 11-16): last Tuesday is the reference.
    let out = guard(&w, &["--date", "2026-11-17"]);
    assert_exit(&out, 0);
    let proof = read_proof(&w, "2026-11-17");
    let sessions = find(&proof, "shop", "Sessions Range");
    assert_check(sessions, "pass", ", same weekday last week): ");
    assert_eq!(sessions.history_days, 10);
    let last_week = w.rollup("2026-11-10", "shop")["unique_sessions"]
        .as_f64()
        .unwrap();
    let expected = sessions.expected_value.unwrap();
    assert!(
        (expected - last_week).abs() < 1e-6,
        "{expected} vs {last_week}"
    );
    assert_eq!(find(&proof, "shop", "Sessions Trend").status, "skipped");
}

#[test]
fn holidays_are_left_out_of_baselines() {
    let w = busy_shop();
    // The reference day of 11-17 (see above) declared a holiday: no
    // reference is left, and the holiday is not history either.
    let config = w.write("holidays.toml", "[guard]\nholidays = [\"2026-11-10\"]\n");
    let out = guard(
        &w,
        &["--config", config.to_str().unwrap(), "--date", "2026-11-17"],
    );
    assert_exit(&out, 0);
    let proof = read_proof(&w, "2026-11-17");
    let sessions = find(&proof, "shop", "Sessions Range");
    assert_eq!(sessions.status, "skipped");
    assert_eq!(sessions.history_days, 9);
    assert_eq!(
        sessions.message,
        format!(
            "sessions {}: skipped, no usable day on the same weekday last week (2026-11-10)",
            thousands(sessions.value)
        )
    );

    let bad = w.write("bad-holiday.toml", "[guard]\nholidays = [\"2026-13-01\"]\n");
    let out = guard(
        &w,
        &["--config", bad.to_str().unwrap(), "--date", "2026-11-17"],
    );
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["guard.holidays: \"2026-13-01\" is not a date as YYYY-MM-DD"],
    );
}

#[test]
fn configured_bounds_fail_a_day_outside_them() {
    let w = two_sites();
    let rollup = w.rollup("2026-11-14", "shop");
    let revenue = rollup["revenue_cents"].as_f64().unwrap() / 100.0;
    assert!(revenue > 10.0, "{rollup}");
    // 11-14 passes without bounds (the normal week).
    let config = w.write(
        "bounds.toml",
        &format!(
            "[guard.sessions]\nmin = 1000\n\n[guard.revenue]\nmax = {}\n",
            revenue / 2.0
        ),
    );
    let out = guard(
        &w,
        &[
            "--config",
            config.to_str().unwrap(),
            "--date",
            "2026-11-14",
            "--site",
            "shop",
        ],
    );
    assert_exit(&out, 2);
    let proof = read_proof(&w, "2026-11-14");
    let sessions = find(&proof, "shop", "Sessions Range");
    assert_eq!(sessions.status, "fail");
    assert_eq!(
        sessions.message,
        format!(
            "sessions {} is below the configured minimum 1,000: fail",
            thousands(sessions.value)
        )
    );
    let revenue_range = find(&proof, "shop", "Revenue Range");
    assert_check(revenue_range, "fail", " is above the configured maximum ");
    assert_eq!(find(&proof, "shop", "Conversion Rate Range").status, "pass");
}

#[test]
fn start_end_writes_a_proof_per_day_and_prints_the_table() {
    let w = two_sites();
    let out = guard(&w, &["--start", "2026-11-15", "--end", "2026-11-21"]);
    assert_exit(&out, 2);
    let days: Vec<String> = (15..=21).map(|d| format!("2026-11-{d}")).collect();
    let expected_files: BTreeSet<String> = days
        .iter()
        .map(|d| format!("sampling-proof-{}.json", d.replace('-', "")))
        .collect();
    assert_eq!(proof_files(&w), expected_files);

    // The table is every anomaly of every proof, in date order.
    let mut table = TABLE_HEADER.to_string();
    for day in &days {
        for c in read_proof(&w, day).anomalies {
            table.push_str(&format!(
                "{day}\t{}\t{}\t{}\t{}\n",
                c.site, c.name, c.status, c.message
            ));
        }
    }
    assert_text(&stdout(&out), &table);
    for planted in [
        "2026-11-17\tblog\tSessions Range\t",
        "2026-11-19\tshop\tSessions Range\t",
        "2026-11-21\tshop\tSessions Range\tfail\t",
    ] {
        assert!(table.contains(planted), "{planted:?} missing:\n{table}");
    }
    assert_stderr_has(&out, &["7 days from 2026-11-15 to 2026-11-21: "]);
    let run = last_run(&w);
    assert_eq!(run[1..3], ["2", "84"], "{run:?}");
}

#[test]
fn the_proof_has_the_contract_shape() {
    let w = two_sites();
    let out = guard(&w, &["--date", "2026-11-14"]);
    assert_exit(&out, 0);
    assert_eq!(proof_files(&w).len(), 1);

    // The contract's keys, whatever else the proof carries.
    let path = w
        .artifacts
        .join("sampling-proofs/sampling-proof-20261114.json");
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for key in [
        "status",
        "date",
        "timezone",
        "generated_at",
        "checks",
        "anomalies",
        "summary",
    ] {
        assert!(raw.get(key).is_some(), "no {key} in {raw}");
    }
    for key in [
        "site", "name", "metric", "kind", "status", "value", "expected", "message",
    ] {
        assert!(raw["checks"][0].get(key).is_some(), "no {key} in a check");
    }

    let proof = read_proof(&w, "2026-11-14");
    assert_eq!(proof.date, "2026-11-14");
    assert_eq!(proof.timezone, "UTC");
    assert_eq!(proof.generated_at, NOW);
    assert_eq!(proof.checks.len(), 12);
    for check in &proof.checks {
        let (metric, kind) = match check.name.as_str() {
            "Revenue Range" => ("revenue", "range"),
            "Revenue Trend" => ("revenue", "trend"),
            "Conversion Rate Range" => ("conversion_rate", "range"),
            "Conversion Rate Trend" => ("conversion_rate", "trend"),
            "Sessions Range" => ("sessions", "range"),
            "Sessions Trend" => ("sessions", "trend"),
            other => panic!("unexpected check name {other:?}"),
        };
        assert_eq!((check.metric.as_str(), check.kind.as_str()), (metric, kind));
        let band = check.expected.expect("a band on a normal day");
        assert!(band.low <= band.high, "{check:#?}");
        assert!(!check.message.is_empty());
    }

    // Values in the metric's unit: currency, a fraction, a count.
    let rollup = w.rollup("2026-11-14", "shop");
    let value = |name: &str| find(&proof, "shop", name).value;
    assert_eq!(
        value("Revenue Range"),
        rollup["revenue_cents"].as_f64().unwrap() / 100.0
    );
    assert_eq!(
        value("Sessions Range"),
        rollup["unique_sessions"].as_f64().unwrap()
    );
    let rate = rollup["conversion_rate"].as_f64().unwrap();
    assert!((value("Conversion Rate Range") - rate).abs() < 1e-4);
}
