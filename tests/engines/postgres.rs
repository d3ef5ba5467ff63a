//! `[source] engine = "postgres"` and `[sink]` against a real PostgreSQL
//! started by the tests (`pg.rs`).

use serde_json::{Value, json};

use super::pg::{self, APP_PASSWORD, APP_USER, load};
use super::{
    Layout, TZ, assert_retried_then_alerted, dead_port, embedded_rollups, events, last_aggregate,
    rolled_up, with_config,
};
use crate::common::*;

fn source_config(w: &Workdir, url: &str, from: &str, extra: &str) -> std::path::PathBuf {
    w.short_retry_config(&format!(
        "[source]\nengine = \"postgres\"\nurl = \"{url}\"\n{from}\n{extra}"
    ))
}

#[test]
fn every_rollup_field_equals_the_embedded_engines_for_tables_queries_and_mappings() {
    let w = Workdir::new();
    let events = events(&w);
    let expected = embedded_rollups(&events);
    assert!(expected.len() > 30, "{} rows", expected.len());
    let server = pg::server();
    let db = server.database();
    let mut client = server.client(&db);
    let layouts = [
        Layout {
            table: "events",
            ts_type: "timestamptz",
            names: &[],
            kinds: &[],
        },
        Layout {
            table: "app_events",
            ts_type: "timestamp(3)",
            names: &[
                ("ts", "created_at"),
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
        Layout {
            table: "raw_events",
            ts_type: "bigint",
            names: &[],
            kinds: &[],
        },
    ];
    for layout in &layouts {
        load(&mut client, layout, &events);
    }
    let url = server.socket_url(&db);
    let configs = [
        ("table = \"events\"".to_string(), String::new()),
        (
            "table = \"public.app_events\"".to_string(),
            layouts[1].mapping_toml(),
        ),
        (
            "query = \"SELECT * FROM raw_events WHERE session <> 'no-such-session'\"".to_string(),
            String::new(),
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
fn the_sink_table_receives_every_rollup_row_and_a_rerun_updates_them() {
    let w = Workdir::new();
    let events = events(&w);
    let server = pg::server();
    let db = server.database();
    let mut client = server.client(&db);
    load(
        &mut client,
        &Layout {
            table: "events",
            ts_type: "timestamptz",
            names: &[],
            kinds: &[],
        },
        &events,
    );
    let r = Workdir::new();
    let url = server.socket_url(&db);
    let config = source_config(
        &r,
        &url,
        "table = \"events\"",
        &format!(
            "[sink]\nengine = \"postgres\"\nurl = \"{url}\"\ntable = \"analytics_daily_stats\"\n"
        ),
    );
    let expected = rolled_up(&r, Some(&config));
    let rows = client
        .query(
            "SELECT to_char(date, 'YYYY-MM-DD'), site, pageviews, custom_events, orders, revenue_cents,
                    unique_visitors, unique_sessions, conversion_rate,
                    top_pages::text, top_referrers::text, top_events::text
             FROM analytics_daily_stats ORDER BY date, site",
            &[],
        )
        .expect("read the sink table");
    assert_eq!(rows.len(), expected.len());
    for (row, e) in rows.iter().zip(&expected) {
        let json_of = |i: usize| -> Value { serde_json::from_str(row.get::<_, &str>(i)).unwrap() };
        let actual = json!({
            "date": row.get::<_, String>(0),
            "site": row.get::<_, String>(1),
            "pageviews": row.get::<_, i64>(2),
            "custom_events": row.get::<_, i64>(3),
            "orders": row.get::<_, i64>(4),
            "revenue_cents": row.get::<_, i64>(5),
            "unique_visitors": row.get::<_, i64>(6),
            "unique_sessions": row.get::<_, i64>(7),
            "conversion_rate": row.get::<_, f64>(8),
            "top_pages": json_of(9),
            "top_referrers": json_of(10),
            "top_events": json_of(11),
        });
        assert_json(&actual, e);
    }
    // A late order changes a day: the next aggregate (re-rolling the 3 days
    // before the one asked) updates its row in the store and the sink.
    client
        .batch_execute(
            "INSERT INTO events (ts, site, kind, session, visitor, revenue_cents)
             VALUES ('2026-11-01T15:00:00-05:00', 'edge', 'order', 'late', 'v-late', 5000)",
        )
        .expect("insert a late order");
    let before = r.rollup("2026-11-01", "edge");
    let out = with_config(
        &r,
        "aggregate",
        &config,
        &["--date", "2026-11-02", "--tz", TZ],
    )
    .output()
    .expect("run aggregate");
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "re-rolled 3 earlier days: 2026-10-30, 2026-10-31, 2026-11-01",
            "upserted into analytics_daily_stats",
        ],
    );
    let after = r.rollup("2026-11-01", "edge");
    assert_eq!(
        after["orders"],
        json!(before["orders"].as_i64().unwrap() + 1)
    );
    assert_eq!(
        after["revenue_cents"],
        json!(before["revenue_cents"].as_i64().unwrap() + 5000)
    );
    let sink_revenue: i64 = client
        .query_one(
            "SELECT revenue_cents FROM analytics_daily_stats WHERE date = '2026-11-01' AND site = 'edge'",
            &[],
        )
        .expect("read the sink")
        .get(0);
    assert_eq!(json!(sink_revenue), after["revenue_cents"]);
}

#[test]
fn a_changed_row_is_found_by_updated_at_and_its_day_rolled_up_again() {
    let server = pg::server();
    let db = server.database();
    let mut client = server.client(&db);
    client
        .batch_execute(
            "CREATE TABLE events (ts timestamptz, site text, kind text, session text, visitor text,
                                  path text, updated_at timestamptz NOT NULL DEFAULT now());
             INSERT INTO events (ts, site, kind, session, visitor, path, updated_at) VALUES
               ('2026-11-01T10:00:00-05:00', 'shop', 'pageview', 's1', 'v1', '/a', '2026-11-02T01:00:00Z'),
               ('2026-11-10T10:00:00-05:00', 'shop', 'pageview', 's2', 'v2', '/b', '2026-11-11T01:00:00Z');",
        )
        .expect("create the table");
    let r = Workdir::new();
    let config = source_config(
        &r,
        &server.socket_url(&db),
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
    assert_eq!(r.rollup("2026-11-01", "shop")["pageviews"], json!(1));
    // A row of 1 November changes weeks later: the next aggregate of
    // another day rolls 1 November up again, and only that day.
    client
        .batch_execute(
            "INSERT INTO events (ts, site, kind, session, visitor, path, updated_at)
             VALUES ('2026-11-01T23:30:00-05:00', 'shop', 'pageview', 's3', 'v3', '/c', '2026-11-20T00:00:00Z')",
        )
        .expect("insert a changed row");
    let out = aggregate("2026-11-21");
    assert_stderr_has(&out, &["re-rolled 1 changed day: 2026-11-01"]);
    assert_eq!(r.rollup("2026-11-01", "shop")["pageviews"], json!(2));
    // Nothing changed since: only the day asked for.
    let out = aggregate("2026-11-21");
    assert!(!stderr(&out).contains("re-rolled"), "{}", stderr(&out));
}

#[test]
fn the_dry_run_prints_each_days_sql_and_writes_nothing() {
    let server = pg::server();
    let db = server.database();
    server
        .client(&db)
        .batch_execute(
            "CREATE TABLE events (ts bigint, site text, kind text, session text, visitor text)",
        )
        .expect("create the table");
    let r = Workdir::new();
    let config = source_config(&r, &server.socket_url(&db), "table = \"events\"", "");
    let out = r
        .cmd("backfill")
        .args([
            "--start",
            "2026-03-08",
            "--end",
            "2026-03-08",
            "--tz",
            TZ,
            "--dry-run",
            "--config",
        ])
        .arg(&config)
        .output()
        .expect("run backfill --dry-run");
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with("2026-03-08\t2026-03-08T05:00:00Z\t2026-03-09T04:00:00Z\t23h\n"),
        "{text}"
    );
    assert!(
        text.contains("\"ts\" >= 1772946000000 AND \"ts\" < 1773028800000"),
        "{text}"
    );
    assert!(text.contains("count(DISTINCT visitor)"), "{text}");
    assert!(!r.db.exists(), "the dry run created the store");
}

#[test]
fn a_missing_column_a_wrong_password_and_a_server_down_fail_as_they_should() {
    let server = pg::server();
    let db = server.database();
    let mut client = server.client(&db);
    client
        .batch_execute(&format!(
            "CREATE TABLE events (created_at timestamptz, site text, kind text, session text);
             GRANT SELECT ON events TO {APP_USER};"
        ))
        .expect("create the table");
    let r = Workdir::new();
    // The visitor column is missing: exit 2 at once, naming it.
    let config = source_config(
        &r,
        &server.socket_url(&db),
        "table = \"events\"",
        "[source.columns]\nts = \"created_at\"\n",
    );
    let out = with_config(&r, "aggregate", &config, &[])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            "the source has no column visitor",
            "created_at, site, kind, session",
            "source.columns.visitor",
        ],
    );
    // A missing table: exit 2 at once, naming server, database and table.
    let config = source_config(&r, &server.socket_url(&db), "table = \"evnets\"", "");
    let out = with_config(&r, "aggregate", &config, &[])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            &format!("cronlytics@{}:{}/{db}", server.dir.display(), server.port),
            "table evnets",
            "relation \"evnets\" does not exist",
        ],
    );
    assert_eq!(
        last_aggregate(&r),
        vec![vec!["failed".to_string(), "1".into()]]
    );

    // A wrong password: exit 2 without a retry, the password nowhere.
    let alert = r.path("alert.json");
    let textfiles = r.path("textfile");
    std::fs::create_dir_all(&textfiles).unwrap();
    let config = source_config(
        &r,
        &server.app_url(&db),
        "table = \"events\"",
        &format!(
            "[source.columns]\nts = \"created_at\"\n[alert]\ncommand = \"cat > {}\"\n",
            alert.display()
        ),
    );
    let wrong = "not-the-Password-42";
    let out = with_config(&r, "aggregate", &config, &[])
        .arg("--textfile-dir")
        .arg(&textfiles)
        .env("PGPASSWORD", wrong)
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["refused the login", "app@127.0.0.1", "PGPASSWORD"]);
    assert_eq!(
        r.sql_rows("SELECT status, exit_code, attempts FROM job_runs WHERE job = 'aggregate' ORDER BY id DESC LIMIT 1"),
        vec![vec!["failed".to_string(), "2".into(), "1".into()]]
    );
    let mut everywhere = stderr(&out) + &stdout(&out);
    everywhere += &std::fs::read_to_string(&alert).unwrap_or_default();
    for f in std::fs::read_dir(&textfiles).unwrap().flatten() {
        everywhere += &std::fs::read_to_string(f.path()).unwrap_or_default();
    }
    everywhere += &format!("{:?}", r.sql_rows("SELECT * FROM job_runs"));
    for secret in [wrong, APP_PASSWORD] {
        assert!(
            !everywhere.contains(secret),
            "the password leaked: {everywhere}"
        );
    }
    // The right password from ~/.pgpass logs in.
    let home = r.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let pgpass = home.join(".pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{}:{db}:{APP_USER}:{APP_PASSWORD}\n", server.port),
    )
    .unwrap();
    let out = with_config(&r, "aggregate", &config, &[])
        .env("HOME", &home)
        .env_remove("PGPASSWORD")
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["no column visitor"]);

    // Nothing listens on the port: retried, then the alert and exit 2.
    let port = dead_port();
    let config = source_config(
        &r,
        &format!("postgresql://{APP_USER}@127.0.0.1:{port}/{db}"),
        "table = \"events\"",
        &format!("[alert]\ncommand = \"cat > {}\"\n", alert.display()),
    );
    assert_retried_then_alerted(
        &r,
        &config,
        &alert,
        &["cannot reach postgres", &format!("127.0.0.1:{port}/{db}")],
    );
}

#[test]
fn ingest_refuses_a_store_fed_by_a_remote_source() {
    let r = Workdir::new();
    let config = source_config(&r, "postgresql://a@localhost/db", "table = \"events\"", "");
    r.write("e.ndjson", "");
    let out = r
        .cmd("ingest")
        .arg("e.ndjson")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run ingest");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["[source] engine is postgres", "never be rolled up"]);
    // The other jobs say who creates the store.
    let fresh = Workdir::new();
    let out = with_config(&fresh, "export-metrics", &config, &[])
        .output()
        .expect("run export-metrics");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["does not exist", "run aggregate or backfill first"]);
}

#[test]
fn a_statement_over_the_timeout_is_cancelled_and_retried_as_a_passing_failure() {
    let server = pg::server();
    let db = server.database();
    server
        .client(&db)
        .batch_execute(
            "CREATE TABLE events (ts timestamptz, site text, kind text, session text, visitor text);
             INSERT INTO events VALUES ('2026-11-21T12:00:00Z', 'shop', 'pageview', 's', 'v');",
        )
        .expect("create the table");
    let r = Workdir::new();
    let config = source_config(
        &r,
        &server.socket_url(&db),
        "query = \"SELECT e.*, pg_sleep(3) AS slow FROM events e\"",
        "timeout_seconds = 1\n",
    );
    let out = with_config(&r, "aggregate", &config, &[])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["did not answer in time", "source.timeout_seconds"]);
    assert_eq!(
        last_aggregate(&r),
        vec![vec!["failed".to_string(), "3".into()]]
    );
}

#[test]
fn sslmode_require_connects_over_tls_and_verifies_the_certificate() {
    let server = pg::server();
    let db = server.database();
    server
        .client(&db)
        .batch_execute(
            "CREATE TABLE events (ts timestamptz, site text, kind text, session text, visitor text);
             INSERT INTO events VALUES ('2026-11-21T12:00:00Z', 'shop', 'pageview', 's', 'v');",
        )
        .expect("create the table");
    let r = Workdir::new();
    let ca = format!("&sslrootcert={}", server.dir.join("ca.crt").display());
    // The TLS user may only connect over TLS (pg_hba hostssl): rows prove it.
    let config = source_config(&r, &server.tls_url(&db, &ca), "table = \"events\"", "");
    let out = with_config(&r, "aggregate", &config, &[])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 0);
    assert_eq!(r.rollup("2026-11-21", "shop")["pageviews"], json!(1));
    // Without the test CA the certificate is not trusted: exit 2 at once.
    let config = source_config(&r, &server.tls_url(&db, ""), "table = \"events\"", "");
    let out = with_config(&r, "aggregate", &config, &[])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["certificate", "sslrootcert"]);
    assert_eq!(
        last_aggregate(&r),
        vec![vec!["failed".to_string(), "1".into()]]
    );
    // Without sslmode the connection is plain, which pg_hba rejects.
    let plain = format!(
        "postgresql://{}@localhost:{}/{db}",
        pg::TLS_USER,
        server.port
    );
    let config = source_config(&r, &plain, "table = \"events\"", "");
    let out = with_config(&r, "aggregate", &config, &[])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["refused the login", "no encryption"]);
}

#[test]
fn today_and_one_site_roll_up_from_the_source_as_from_the_store() {
    let server = pg::server();
    let db = server.database();
    server
        .client(&db)
        .batch_execute(
            "CREATE TABLE events (ts timestamptz, site text, kind text, session text, visitor text, path text);
             INSERT INTO events VALUES
               ('2026-11-22T04:00:00Z', 'shop', 'pageview', 's1', 'v1', '/a'),
               ('2026-11-22T05:00:00Z', 'shop', 'pageview', 's1', 'v1', '/b'),
               ('2026-11-22T05:30:00Z', 'blog', 'pageview', 's2', 'v2', '/p');",
        )
        .expect("create the table");
    let r = Workdir::new();
    let config = source_config(&r, &server.socket_url(&db), "table = \"events\"", "");
    // --now is 06:00 UTC on 22 November: today's running totals, of shop only.
    let out = with_config(&r, "aggregate", &config, &["--today", "--site", "shop"])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &[
            "rolled up 2026-11-22 (running totals) from postgres",
            "1 site, 2 events",
        ],
    );
    assert_eq!(
        r.sql_rows("SELECT s.name, r.pageviews, r.complete FROM daily_rollups r JOIN sites s ON s.id = r.site_id"),
        vec![vec!["shop".to_string(), "2".into(), "0".into()]]
    );
    // A site the source has no rows of is no error: nothing to roll up.
    let out = with_config(&r, "aggregate", &config, &["--today", "--site", "news"])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 0);
    // A name that cannot be a site is refused.
    let out = with_config(&r, "aggregate", &config, &["--site", "no site"])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["--site no site: not a site name"]);
}
