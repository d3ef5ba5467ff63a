//! A store keeps the zone its days are counted in: another zone is refused
//! naming both, a run without a zone uses the store's, `backfill --rezone`
//! changes it on purpose, and an older store adopts its rollups' zone.

use crate::common::*;

/// Events every 5 hours from the 1st to the 10th of November 2026, across
/// the end of daylight saving time in Los Angeles (1 November), on two sites.
fn events() -> Vec<Ev> {
    let start = ms("2026-10-31T00:00:00Z");
    (0..60)
        .map(|i| {
            let ts = chrono::DateTime::from_timestamp_millis(start + i * 5 * 3_600_000)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let site = if i % 3 == 0 { "blog" } else { "shop" };
            let session = format!("s{}", i / 2);
            if i % 7 == 0 {
                order(&ts, site, &session, &format!("v{}", i % 5), Some(100 + i))
            } else {
                pageview(
                    &ts,
                    site,
                    &session,
                    &format!("v{}", i % 5),
                    &format!("/p{}", i % 4),
                )
            }
        })
        .collect()
}

const NOW_AFTER: &str = "2026-11-12T12:00:00Z";

fn workdir() -> Workdir {
    let mut w = Workdir::new();
    w.now = NOW_AFTER.to_string();
    w.ingest("events.ndjson", &events());
    w
}

#[test]
fn another_zone_is_refused_naming_both_and_changes_nothing() {
    let w = workdir();
    w.backfill("2026-11-01", "2026-11-10", "UTC");
    let before = w.rollup_table();
    for (bin, args) in [
        (
            "backfill",
            &["--start", "2026-11-01", "--end", "2026-11-10"][..],
        ),
        ("aggregate", &[][..]),
        ("export-metrics", &["--days", "3"][..]),
        ("snapshot", &[][..]),
    ] {
        let out = w
            .cmd(bin)
            .args(args)
            .args(["--tz", "America/Los_Angeles"])
            .output()
            .unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(
            &out,
            &[
                "this run's zone America/Los_Angeles",
                "UTC, in which its days are counted",
                "backfill --rezone America/Los_Angeles",
            ],
        );
    }
    assert_eq!(
        w.rollup_table(),
        before,
        "nothing was rolled up in the other zone"
    );
}

#[test]
fn a_run_without_a_zone_uses_the_stores() {
    let w = workdir();
    w.backfill("2026-11-01", "2026-11-10", "America/Los_Angeles");
    // No --tz, no CRONLYTICS_TZ: yesterday is the 11th in Los Angeles too,
    // and the snapshot says which zone it counted in.
    let out = w
        .cmd("snapshot")
        .args(["--date", "2026-11-10"])
        .output()
        .unwrap();
    assert!(out.status.code() != Some(2), "{}", stderr(&out));
    let snap: serde_json::Value =
        serde_json::from_str(&w.read("artifacts/snapshots/2026-11-10.json")).unwrap();
    assert_eq!(snap["timezone"], "America/Los_Angeles");
    assert_eq!(
        w.sql_rows("SELECT DISTINCT tz FROM daily_rollups"),
        vec![vec!["America/Los_Angeles".to_string()]]
    );
}

#[test]
fn rezone_gives_the_rows_of_a_fresh_store_rolled_up_in_the_new_zone() {
    let w = workdir();
    w.backfill("2026-10-31", "2026-11-11", "UTC");
    let out = w
        .cmd("backfill")
        .args(["--rezone", "America/Los_Angeles"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["the store's zone is now America/Los_Angeles (was UTC)"],
    );

    let fresh = workdir();
    fresh.backfill("2026-10-30", "2026-11-11", "America/Los_Angeles");
    let query = "SELECT s.name, r.date, r.pageviews, r.custom_events, r.orders, r.revenue_cents, \
                 r.unique_visitors, r.unique_sessions, r.converting_sessions, r.top_pages, \
                 r.top_referrers, r.top_events, r.events, r.complete, r.tz \
                 FROM daily_rollups r JOIN sites s ON s.id = r.site_id ORDER BY r.date, s.name";
    let rezoned = w.sql_rows(query);
    assert!(rezoned.len() >= 20, "{rezoned:?}");
    assert_eq!(rezoned, fresh.sql_rows(query));
    // The fall-back day has 25 hours in its new zone: 5 events, not 4 or 6.
    assert_eq!(
        w.sql_i64("SELECT sum(events) FROM daily_rollups WHERE date = '2026-11-01'"),
        5
    );
    // From now on the store counts in Los Angeles without being told.
    w.cmd("aggregate").assert().code(0);
    let out = w.cmd("aggregate").args(["--tz", "UTC"]).output().unwrap();
    assert_exit(&out, 2);
}

#[test]
fn an_older_store_adopts_the_zone_of_its_rollups_and_says_so() {
    let w = workdir();
    w.backfill("2026-11-01", "2026-11-10", "America/Los_Angeles");
    // A store from before cronlytics recorded its zone.
    w.db()
        .execute("DELETE FROM meta WHERE key = 'tz'", [])
        .unwrap();
    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["records no zone yet (it predates this cronlytics): it keeps America/Los_Angeles"],
    );
    assert_eq!(
        w.sql_rows("SELECT value FROM meta WHERE key = 'tz'"),
        vec![vec!["America/Los_Angeles".to_string()]]
    );
    let out = w
        .cmd("backfill")
        .args(["--days", "2", "--tz", "UTC"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["not the zone of the store", "America/Los_Angeles"]);
}

#[test]
fn rezone_refuses_a_range_or_a_second_zone() {
    let w = workdir();
    w.backfill("2026-11-01", "2026-11-10", "UTC");
    let out = w
        .cmd("backfill")
        .args(["--rezone", "Europe/Berlin", "--days", "3"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["--rezone rolls up the store's whole history again"]);
    let out = w
        .cmd("backfill")
        .args(["--rezone", "Europe/Berlin", "--tz", "Asia/Tokyo"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["name two zones"]);
    assert_eq!(
        w.sql_rows("SELECT value FROM meta WHERE key = 'tz'"),
        vec![vec!["UTC".to_string()]]
    );
}
