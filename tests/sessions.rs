//! `cleanup-sessions`: the idle boundary, durations, a closed session
//! reopened by a later event, idempotence, bad values and the run log.

use crate::common::*;

/// `(key, started_ts, last_ts, ended_ts)` of every session, by key.
fn sessions(w: &Workdir) -> Vec<Vec<String>> {
    w.sql_rows("SELECT key, started_ts, last_ts, ended_ts FROM sessions ORDER BY key")
}

fn row(key: &str, started: &str, last: &str, ended: Option<&str>) -> Vec<String> {
    vec![
        key.to_string(),
        ms(started).to_string(),
        ms(last).to_string(),
        ended.map_or("NULL".to_string(), |e| ms(e).to_string()),
    ]
}

/// The last run-log row of `job`: status, exit code, records, message.
fn last_run(w: &Workdir, job: &str) -> Vec<String> {
    w.sql_rows(&format!(
        "SELECT status, exit_code, records, message FROM job_runs WHERE job = '{job}' ORDER BY id DESC LIMIT 1"
    ))
    .remove(0)
}

#[test]
fn idle_for_31_minutes_closes_29_and_30_stay_open() {
    let w = Workdir::new();
    // NOW is 06:00: last activity 31, 30 and 29 minutes before it.
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-22T05:20:00Z", "shop", "s31", "v1", "/a"),
            pageview("2026-11-22T05:29:00Z", "shop", "s31", "v1", "/b"),
            pageview("2026-11-22T05:30:00Z", "shop", "s30", "v2", "/a"),
            pageview("2026-11-22T05:31:00Z", "shop", "s29", "v3", "/a"),
        ],
    );
    let out = w.cmd("cleanup-sessions").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["closed 1 sessions idle for more than 30 minutes; 2 still open"],
    );
    assert_eq!(
        sessions(&w),
        vec![
            row("s29", "2026-11-22T05:31:00Z", "2026-11-22T05:31:00Z", None),
            row("s30", "2026-11-22T05:30:00Z", "2026-11-22T05:30:00Z", None),
            row(
                "s31",
                "2026-11-22T05:20:00Z",
                "2026-11-22T05:29:00Z",
                Some("2026-11-22T05:29:00Z")
            ),
        ]
    );
    assert_eq!(
        last_run(&w, "cleanup-sessions"),
        vec![
            "success",
            "0",
            "1",
            "closed 1 sessions idle for more than 30 minutes; 2 still open"
        ]
    );
}

#[test]
fn idle_minutes_come_from_the_flag_or_the_config() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-22T05:45:00Z", "shop", "s15", "v1", "/a"),
            pageview("2026-11-22T05:55:00Z", "shop", "s5", "v2", "/a"),
        ],
    );
    w.write("c.toml", "[sessions]\nidle_minutes = 10\n");
    for (flag, closed) in [
        (
            vec![],
            "closed 1 sessions idle for more than 10 minutes; 1 still open",
        ),
        (
            vec!["--idle-minutes", "4"],
            "closed 1 sessions idle for more than 4 minutes; 0 still open",
        ),
    ] {
        let out = w
            .cmd("cleanup-sessions")
            .args(["--config", "c.toml"])
            .args(flag)
            .output()
            .unwrap();
        assert_exit(&out, 0);
        assert_stderr_has(&out, &[closed]);
    }
}

#[test]
fn durations_are_last_minus_first_activity_in_seconds() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-22T04:00:00Z", "shop", "long", "v1", "/a"),
            custom("2026-11-22T04:05:00Z", "shop", "long", "v1", "play"),
            order("2026-11-22T04:12:30.900Z", "shop", "long", "v1", Some(100)),
            pageview("2026-11-22T04:30:00Z", "blog", "single", "v2", "/p"),
        ],
    );
    assert_exit(&w.cmd("cleanup-sessions").output().unwrap(), 0);
    assert_eq!(
        w.sql_rows(
            "SELECT s.key, d.duration_s FROM session_durations d JOIN sessions s ON s.id = d.id ORDER BY s.key"
        ),
        vec![vec!["long", "750"], vec!["single", "0"]]
    );
}

#[test]
fn a_later_event_reopens_a_closed_session_and_an_earlier_one_does_not() {
    let mut w = Workdir::new();
    w.ingest(
        "day.ndjson",
        &[
            pageview("2026-11-22T04:00:00Z", "shop", "s1", "v1", "/a"),
            pageview("2026-11-22T04:10:00Z", "shop", "s1", "v1", "/b"),
        ],
    );
    assert_exit(&w.cmd("cleanup-sessions").output().unwrap(), 0);
    let id = w.sql_i64("SELECT id FROM sessions WHERE key = 's1'");

    // A late event from inside the session's span leaves it closed.
    w.ingest(
        "late.ndjson",
        &[pageview(
            "2026-11-22T04:05:00Z",
            "shop",
            "s1",
            "v1",
            "/late",
        )],
    );
    assert_eq!(
        sessions(&w),
        vec![row(
            "s1",
            "2026-11-22T04:00:00Z",
            "2026-11-22T04:10:00Z",
            Some("2026-11-22T04:10:00Z")
        )]
    );

    // Activity after the close reopens the same session.
    w.ingest(
        "again.ndjson",
        &[pageview("2026-11-22T05:50:00Z", "shop", "s1", "v1", "/c")],
    );
    assert_eq!(
        sessions(&w),
        vec![row(
            "s1",
            "2026-11-22T04:00:00Z",
            "2026-11-22T05:50:00Z",
            None
        )]
    );
    assert_eq!(w.sql_i64("SELECT count(*) FROM sessions"), 1);
    assert_eq!(w.sql_i64("SELECT id FROM sessions WHERE key = 's1'"), id);

    // Closed again later: its duration spans the pause.
    w.now = "2026-11-22T07:00:00Z".to_string();
    let out = w.cmd("cleanup-sessions").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["closed 1 sessions"]);
    assert_eq!(
        w.sql_i64("SELECT duration_s FROM session_durations WHERE id IN (SELECT id FROM sessions WHERE key = 's1')"),
        110 * 60
    );
}

#[test]
fn a_second_run_closes_nothing_more() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-21T10:00:00Z", "shop", "a", "v1", "/a"),
            pageview("2026-11-21T11:00:00Z", "shop", "b", "v2", "/a"),
            pageview("2026-11-22T05:59:00Z", "shop", "c", "v3", "/a"),
        ],
    );
    let first = w.cmd("cleanup-sessions").output().unwrap();
    assert_exit(&first, 0);
    assert_stderr_has(&first, &["closed 2 sessions", "1 still open"]);
    let after_first = sessions(&w);
    let second = w.cmd("cleanup-sessions").output().unwrap();
    assert_exit(&second, 0);
    assert_stderr_has(&second, &["closed 0 sessions", "1 still open"]);
    assert_eq!(sessions(&w), after_first);
    assert_eq!(
        w.sql_rows(
            "SELECT status, exit_code, records FROM job_runs WHERE job = 'cleanup-sessions' ORDER BY id"
        ),
        vec![vec!["success", "0", "2"], vec!["success", "0", "0"]]
    );
}

#[test]
fn bad_idle_minutes_exit_2_with_the_reason() {
    let w = Workdir::new();
    w.create_store();
    w.write("zero.toml", "[sessions]\nidle_minutes = 0\n");
    w.write("typo.toml", "[sessions]\nidle_minute = 10\n");
    assert_refused(
        &w,
        "cleanup-sessions",
        &[
            (
                &["--idle-minutes", "0"],
                "--idle-minutes must be a number of minutes from 1",
            ),
            (&["--idle-minutes", "-5"], "(got -5)"),
            (&["--idle-minutes", "9999999999"], "(got 9999999999)"),
            (&["--idle-minutes", "ten"], "invalid value 'ten'"),
            (
                &["--config", "zero.toml"],
                "sessions.idle_minutes in the config file must be",
            ),
            (&["--config", "typo.toml"], "idle_minute"),
        ],
    );
    // The run with the bad config value is logged; the unreadable config
    // stops before the run log.
    let run = last_run(&w, "cleanup-sessions");
    assert_eq!(run[..2], ["failed", "2"]);
}
