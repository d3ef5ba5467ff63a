//! `[source] engine = "clickhouse"` against a real two-shard ClickHouse
//! cluster (`ch.rs`), queried through its `Distributed` tables.

use super::ch::{self, CH_PASSWORD, CH_USER};
use super::{
    Layout, TZ, assert_retried_then_alerted, dead_port, embedded_rollups, events, last_aggregate,
    rolled_up, with_config,
};
use crate::common::*;

fn source_config(w: &Workdir, url: &str, from: &str, extra: &str) -> std::path::PathBuf {
    w.short_retry_config(&format!(
        "[source]\nengine = \"clickhouse\"\nurl = \"{url}\"\n{from}\n{extra}"
    ))
}

#[test]
fn every_rollup_field_equals_the_embedded_engines_over_a_distributed_table() {
    let w = Workdir::new();
    let events = events(&w);
    let expected = embedded_rollups(&events);
    let server = ch::server();
    let db = server.database();
    let layouts = [
        Layout {
            table: "events",
            ts_type: "DateTime",
            names: &[],
            kinds: &[],
        },
        Layout {
            table: "app_events",
            ts_type: "Int64",
            names: &[
                ("ts", "created_ms"),
                ("site", "website_id"),
                ("kind", "type"),
                ("session", "user_session"),
                ("visitor", "user_id"),
                ("path", "page_path"),
                ("referrer", "ref"),
                ("name", "event_name"),
                ("revenue_cents", "amount_cents"),
            ],
            kinds: &[
                ("pageview", "page_view"),
                ("event", "custom"),
                ("order", "purchase"),
            ],
        },
    ];
    for layout in &layouts {
        server.load(&db, layout, &events);
    }
    let url = server.url(&db);
    let configs = [
        ("table = \"events\"".to_string(), String::new()),
        (
            "query = \"SELECT * FROM app_events WHERE user_session != 'no-such-session'\""
                .to_string(),
            layouts[1].mapping_toml(),
        ),
    ];
    for (from, mapping) in configs {
        let r = Workdir::new();
        let config = source_config(&r, &url, &from, &mapping);
        let actual = rolled_up(&r, Some(&config));
        assert_eq!(actual.len(), expected.len(), "rows for {from}");
        for (a, e) in actual.iter().zip(&expected) {
            assert_json(a, e);
        }
    }
}

#[test]
fn a_missing_column_a_wrong_password_and_a_server_down_fail_as_they_should() {
    let server = ch::server();
    let db = server.database();
    server.sql(
        0,
        &format!("CREATE TABLE {db}.events (ts DateTime, site String, kind String, session String) ENGINE = Memory"),
    );
    let r = Workdir::new();
    let out = with_config(
        &r,
        "aggregate",
        &source_config(&r, &server.url(&db), "table = \"events\"", ""),
        &[],
    )
    .output()
    .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            "the source has no column visitor",
            "ts, site, kind, session",
        ],
    );
    // A missing table: exit 2 at once, naming server, database and table.
    let out = with_config(
        &r,
        "aggregate",
        &source_config(&r, &server.url(&db), "table = \"evnets\"", ""),
        &[],
    )
    .output()
    .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            &format!(
                "http://127.0.0.1:{} database {db}, table evnets",
                server.http[0]
            ),
            "evnets doesn't exist",
        ],
    );
    assert_eq!(
        last_aggregate(&r),
        vec![vec!["failed".to_string(), "1".into()]]
    );

    // A wrong password: exit 2 at once, the password nowhere.
    let alert = r.path("alert.json");
    let config = source_config(
        &r,
        &server.url(&db),
        "table = \"events\"",
        &format!(
            "user = \"{CH_USER}\"\n[alert]\ncommand = \"cat > {}\"\n",
            alert.display()
        ),
    );
    let wrong = "not-the-Password-42";
    let out = with_config(&r, "aggregate", &config, &[])
        .env("CLICKHOUSE_PASSWORD", wrong)
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["refused the login", "CLICKHOUSE_PASSWORD"]);
    assert_eq!(
        last_aggregate(&r),
        vec![vec!["failed".to_string(), "1".into()]]
    );
    let everywhere = stderr(&out) + &format!("{:?}", r.sql_rows("SELECT * FROM job_runs"));
    assert!(
        !everywhere.contains(wrong),
        "the password leaked: {everywhere}"
    );
    // The right one gets in (and finds the column missing).
    let out = with_config(&r, "aggregate", &config, &[])
        .env("CLICKHOUSE_PASSWORD", CH_PASSWORD)
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["no column visitor"]);
    assert!(!stderr(&out).contains(CH_PASSWORD));

    // Nothing listens: retried, then the alert and exit 2.
    let port = dead_port();
    let config = source_config(
        &r,
        &format!("http://127.0.0.1:{port}/?database={db}"),
        "table = \"events\"",
        &format!("[alert]\ncommand = \"cat > {}\"\n", alert.display()),
    );
    assert_retried_then_alerted(
        &r,
        &config,
        &alert,
        &["cannot reach clickhouse", &format!("127.0.0.1:{port}")],
    );
}

#[test]
fn a_shard_down_writes_nothing_and_fails_after_the_retries_then_the_day_rolls_up() {
    let w = Workdir::new();
    let server = ch::server();
    let db = server.database();
    let layout = Layout {
        table: "events",
        ts_type: "DateTime",
        names: &[],
        kinds: &[],
    };
    let events = events(&w);
    server.load(&db, &layout, &events);
    // New York's 1 November, 25 hours.
    let (start, end) = (
        ms("2026-11-01T00:00:00-04:00"),
        ms("2026-11-02T00:00:00-05:00"),
    );
    // The same shards through remote(), the second one on a dead port.
    let dead = dead_port();
    let shards = |second: u16| {
        format!(
            "query = \"SELECT * FROM remote('127.0.0.1:{},127.0.0.1:{second}', {db}, events_local)\"",
            server.tcp[0]
        )
    };
    let r = Workdir::new();
    let alert = r.path("alert.json");
    let extra = format!("[alert]\ncommand = \"cat > {}\"\n", alert.display());
    let down = source_config(&r, &server.url(&db), &shards(dead), &extra);
    let out = with_config(
        &r,
        "aggregate",
        &down,
        &["--date", "2026-11-01", "--tz", TZ],
    )
    .output()
    .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["clickhouse", "failed for now"]);
    assert_eq!(
        last_aggregate(&r),
        vec![vec!["failed".to_string(), "3".into()]]
    );
    assert_eq!(
        r.sql_i64("SELECT count(*) FROM daily_rollups"),
        0,
        "a short day was written"
    );
    assert!(alert.exists(), "no alert");
    // Both shards back: the day rolls up whole.
    let up = source_config(&r, &server.url(&db), &shards(server.tcp[1]), "");
    let out = with_config(&r, "aggregate", &up, &["--date", "2026-11-01", "--tz", TZ])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 0);
    let pageviews = events
        .iter()
        .filter(|e| e["kind"] == "pageview" && e["site"] == "shop")
        .filter(|e| (start..end).contains(&super::ts_ms(e)))
        .count();
    assert_eq!(
        r.rollup("2026-11-01", "shop")["pageviews"],
        serde_json::json!(pageviews)
    );
}

#[test]
fn rows_added_late_are_found_by_updated_at_and_their_day_rolled_up_again() {
    let server = ch::server();
    let db = server.database();
    server.sql(
        0,
        &format!(
            "CREATE TABLE {db}.events (ts DateTime, site String, kind String, session String, visitor String,
                                       path Nullable(String), updated_at DateTime) ENGINE = MergeTree() ORDER BY ts"
        ),
    );
    let insert = |rows: &str| {
        server.sql(
            0,
            &format!("INSERT INTO {db}.events (ts, site, kind, session, visitor, path, updated_at) VALUES {rows}"),
        );
    };
    insert(
        "('2026-11-01 15:00:00', 'shop', 'pageview', 's1', 'v1', '/a', '2026-11-02 01:00:00'),
         ('2026-11-10 15:00:00', 'shop', 'pageview', 's2', 'v2', '/b', '2026-11-11 01:00:00')",
    );
    let r = Workdir::new();
    let config = source_config(
        &r,
        &server.url(&db),
        "table = \"events\"",
        "[source.columns]\nupdated_at = \"updated_at\"\n",
    );
    let aggregate = |date: &str| {
        let out = with_config(&r, "aggregate", &config, &["--date", date, "--tz", TZ])
            .output()
            .expect("run aggregate");
        assert_exit(&out, 0);
        out
    };
    aggregate("2026-11-01");
    aggregate("2026-11-10");
    // A row of 1 November (04:30 UTC on the 2nd is 23:30 in New York)
    // arrives weeks later.
    insert("('2026-11-02 04:30:00', 'shop', 'pageview', 's3', 'v3', '/c', '2026-11-20 00:00:00')");
    let out = aggregate("2026-11-21");
    assert_stderr_has(&out, &["re-rolled 1 changed day: 2026-11-01"]);
    assert_eq!(
        r.rollup("2026-11-01", "shop")["pageviews"],
        serde_json::json!(2)
    );
    let out = aggregate("2026-11-21");
    assert!(!stderr(&out).contains("re-rolled"), "{}", stderr(&out));
}
