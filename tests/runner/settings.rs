//! How a job finds its settings and its store: unknown keys, flag over
//! environment over config file, stores it refuses, and what it says on
//! stderr.

use super::*;

#[test]
fn an_unknown_config_key_exits_2_naming_it() {
    for (text, key) in [
        ("[retry]\nretires = 2\n", "retires"),
        ("dbpath = \"x.db\"\n", "dbpath"),
        ("[alerts]\ncommand = \"true\"\n", "alerts"),
    ] {
        let w = Workdir::new();
        let config = w.write("cronlytics.toml", text);
        let out = w
            .cmd("aggregate")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(&out, &[key, &config.display().to_string()]);
        assert!(
            !w.db.exists(),
            "a bad config must stop the job before any work"
        );
    }
}

/// Ingest one event with the given extra args/env; returns which of the
/// candidate stores received it.
fn store_used(
    w: &Workdir,
    config: Option<&str>,
    env_db: Option<&str>,
    flag_db: Option<&str>,
) -> Vec<String> {
    let mut cmd = w.bare_cmd("ingest");
    cmd.args(["--now", NOW]);
    if let Some(c) = config {
        cmd.args(["--config", c]);
    }
    if let Some(e) = env_db {
        cmd.env("CRONLYTICS_DB", e);
    }
    if let Some(f) = flag_db {
        cmd.args(["--db", f]);
    }
    assert_exit(&cmd.arg("events.ndjson").output().unwrap(), 0);
    ["analytics.db", "auto.db", "file.db", "env.db", "flag.db"]
        .iter()
        .filter(|name| w.path(name).exists())
        .map(|name| name.to_string())
        .collect()
}

#[test]
fn flag_beats_environment_beats_config_file() {
    let events = ndjson(&[pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a")]);

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    assert_eq!(
        store_used(&w, None, None, None),
        ["analytics.db"],
        "the default"
    );

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    w.write("cronlytics.toml", "db = \"auto.db\"\n");
    assert_eq!(
        store_used(&w, None, None, None),
        ["auto.db"],
        "./cronlytics.toml"
    );

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    w.write("cronlytics.toml", "db = \"auto.db\"\n");
    w.write("other.toml", "db = \"file.db\"\n");
    assert_eq!(
        store_used(&w, Some("other.toml"), None, None),
        ["file.db"],
        "--config"
    );

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    w.write("other.toml", "db = \"file.db\"\n");
    assert_eq!(
        store_used(&w, Some("other.toml"), Some("env.db"), None),
        ["env.db"],
        "env beats the file"
    );

    let w = Workdir::new();
    w.write("events.ndjson", &events);
    w.write("other.toml", "db = \"file.db\"\n");
    assert_eq!(
        store_used(&w, Some("other.toml"), Some("env.db"), Some("flag.db")),
        ["flag.db"],
        "the flag beats env"
    );

    // The same for the zone, seen in a dry run's UTC bounds; and the config
    // file named by CRONLYTICS_CONFIG.
    let w = Workdir::new();
    w.write("zone.toml", "tz = \"Asia/Tokyo\"\n");
    let first_bound = |env_tz: Option<&str>, flag_tz: Option<&str>| -> String {
        let mut cmd = w.bare_cmd("backfill");
        cmd.env("CRONLYTICS_CONFIG", "zone.toml")
            .env("CRONLYTICS_NOW", NOW);
        cmd.args(["--dry-run", "--days", "1"]);
        if let Some(tz) = env_tz {
            cmd.env("CRONLYTICS_TZ", tz);
        }
        if let Some(tz) = flag_tz {
            cmd.args(["--tz", tz]);
        }
        let out = cmd.output().unwrap();
        assert_exit(&out, 0);
        stdout(&out).split('\t').nth(1).unwrap().to_string()
    };
    assert_eq!(first_bound(None, None), "2026-11-20T15:00:00Z");
    assert_eq!(
        first_bound(Some("Europe/Berlin"), None),
        "2026-11-20T23:00:00Z"
    );
    assert_eq!(
        first_bound(Some("Europe/Berlin"), Some("America/New_York")),
        "2026-11-21T05:00:00Z"
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let mut w = Workdir::new();
    w.db = w.path("notes.db");
    let junk = "These are my notes, not a database. ".repeat(20);
    w.write("notes.db", &junk);
    w.write(
        "events.ndjson",
        &ndjson(&[pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a")]),
    );
    let jobs: [&[&str]; 4] = [
        &["ingest", "events.ndjson"],
        &["aggregate"],
        &["backfill", "--days", "1"],
        &["export-metrics"],
    ];
    for args in jobs {
        let out = w.cmd(args[0]).args(&args[1..]).output().unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(
            &out,
            &[&format!(
                "{} is not an SQLite database",
                w.path("notes.db").display()
            )],
        );
        assert_eq!(w.read("notes.db"), junk, "{} changed the file", args[0]);
    }

    // An SQLite file of another application is refused too.
    let other = w.path("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE recipes (name TEXT)")
        .unwrap();
    w.db = other;
    let out = w.cmd("aggregate").output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["not a cronlytics store", "other.db"]);
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let w = Workdir::new();
    one_day(&w);
    w.db().execute_batch("PRAGMA user_version = 999").unwrap();
    for args in [
        vec!["aggregate"],
        vec!["export-metrics"],
        vec!["ingest", "events.ndjson"],
    ] {
        let out = w.cmd(args[0]).args(&args[1..]).output().unwrap();
        assert_exit(&out, 2);
        assert_stderr_has(
            &out,
            &[&format!(
                "the store {} was written by a newer cronlytics",
                w.db.display()
            )],
        );
    }
    assert_eq!(w.sql_i64("PRAGMA user_version"), 999);
    assert_eq!(w.sql_i64("SELECT count(*) FROM events"), 2);
    assert_eq!(w.sql_i64("SELECT count(*) FROM daily_rollups"), 0);
}

#[test]
fn quiet_leaves_only_warnings_and_errors() {
    let w = Workdir::new();
    one_day(&w);
    let out = w.cmd("aggregate").arg("-q").output().unwrap();
    assert_exit(&out, 0);
    assert_text(&stderr(&out), "");

    w.write("bad.ndjson", "{}\n");
    let out = w
        .cmd("ingest")
        .args(["--quiet", "bad.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(" ingest warning: stored 0 events"), "{err}");
}

#[test]
fn stderr_has_one_timestamped_line_per_event() {
    let w = Workdir::new();
    one_day(&w);
    let out = w.cmd("aggregate").arg("--verbose").output().unwrap();
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.lines().count() >= 2, "{err}");
    for line in err.lines() {
        let mut parts = line.splitn(4, ' ');
        let ts = parts.next().unwrap();
        assert!(
            ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
            "{line:?} does not start with an RFC 3339 UTC time"
        );
        assert_eq!(parts.next(), Some("aggregate"), "{line:?}");
        let level = parts.next().unwrap();
        assert!(
            ["debug:", "info:", "warning:", "error:"].contains(&level),
            "{line:?}"
        );
    }
}
