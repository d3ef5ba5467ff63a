//! The engines (`[source]`): the same events in the embedded store and in
//! a real PostgreSQL (and ClickHouse) give the same rollups, field by
//! field, on both DST days of New York, at midnight edges and with ties in
//! the top lists.

mod ch;
mod clickhouse;
mod pg;
mod postgres;

use serde_json::{Value, json};

use crate::common::*;

/// The zone of the engine tests: 2026-03-08 has 23 hours, 2026-11-01 25.
pub const TZ: &str = "America/New_York";

/// The day ranges compared: each DST change with a day either side.
pub const RANGES: [(&str, &str); 2] = [("2026-03-06", "2026-03-10"), ("2026-10-30", "2026-11-02")];

/// Generated traffic around both DST changes plus hand-made edge cases:
/// local midnights to the millisecond, the repeated hour of November,
/// ties in every top list, referrers and paths that need normalising.
pub fn events(w: &Workdir) -> Vec<Value> {
    let mut events = Vec::new();
    for start in ["2026-03-06", "2026-10-30"] {
        let out = w
            .cmd("generate-events")
            .args(["--start", start, "--days", "4", "--events-per-day", "1500"])
            .args(["--tz", TZ, "--seed", "7", "--no-ids"])
            .output()
            .expect("run generate-events");
        assert_exit(&out, 0);
        events.extend(parse_ndjson(&String::from_utf8_lossy(&out.stdout)));
    }
    let edge = |ts: &str, kind: &str, session: &str, extra: Value| {
        let mut e = json!({"ts": ts, "site": "edge", "kind": kind, "session": session,
                           "visitor": format!("v-{session}")});
        for (k, v) in extra.as_object().expect("object") {
            e[k] = v.clone();
        }
        e
    };
    // Midnights: the first and last millisecond of each local day.
    for (i, ts) in [
        "2026-03-07T23:59:59.999-05:00",
        "2026-03-08T00:00:00.000-05:00",
        "2026-03-08T23:59:59.999-04:00",
        "2026-03-09T00:00:00.000-04:00",
        "2026-11-01T00:00:00.000-04:00",
        "2026-11-01T01:30:00.000-04:00",
        "2026-11-01T01:30:00.000-05:00",
        "2026-11-01T23:59:59.999-05:00",
        "2026-11-02T00:00:00.000-05:00",
    ]
    .iter()
    .enumerate()
    {
        events.push(edge(
            ts,
            "pageview",
            &format!("m{i}"),
            json!({"path": "/midnight"}),
        ));
        events.push(edge(
            ts,
            "order",
            &format!("m{i}"),
            json!({"revenue_cents": 100 + i}),
        ));
    }
    // Ties: 12 pages, referrers and event names with 2 hits each, so the
    // 10th place is decided by byte order ("/B" < "/a" < "/ä").
    let items = [
        "/a", "/B", "/ä", "/b", "/c", "/C", "/d", "/e", "/f", "/g", "/h", "/_",
    ];
    for (i, item) in items.iter().enumerate() {
        for j in 0..2 {
            let ts = format!("2026-03-08T12:{:02}:{j:02}.000-04:00", i);
            events.push(edge(
                &ts,
                "pageview",
                &format!("t{i}"),
                json!({"path": item,
                "referrer": format!("https://{}.example/", item.trim_start_matches('/'))}),
            ));
            events.push(edge(
                &ts,
                "event",
                &format!("t{i}"),
                json!({"name": format!("ev{item}")}),
            ));
        }
    }
    // Referrers and paths the rollup normalises.
    let referrers = [
        "https://WWW.Example.com:8080/x?y=1",
        "http://user:pw@www.example.com/",
        "HTTP://[::1]:8080/a",
        "google",
        "  Bing  ",
        "",
        "https:///nohost",
        "android-app://com.google.android.gm",
        "www.foo.com",
        "https://wWw.News.Example.ORG#top",
        "https://vimeo.com/v",
        "\tvideo\x0b",
        "https://a\nb@Host.com/",
    ];
    let paths = [
        "/a?x=1", "/a#frag", "  /c  ", "?q=1", "", "/p/Ä?x", "/x y", "/nav", "v/v\t",
    ];
    for (i, r) in referrers.iter().enumerate() {
        let path = paths[i % paths.len()];
        let ts = format!("2026-11-01T10:{i:02}:00.000-05:00");
        events.push(edge(
            &ts,
            "pageview",
            &format!("r{i}"),
            json!({"path": path, "referrer": r}),
        ));
    }
    events.push(edge(
        "2026-11-01T11:00:00.000-05:00",
        "pageview",
        "nor",
        json!({"path": "/no-referrer"}),
    ));
    // A gauge: not an event, left out by every engine.
    events.push(edge(
        "2026-11-01T12:00:00.000-05:00",
        "gauge",
        "g",
        json!({"name": "followers", "value": 10}),
    ));
    events
}

/// The embedded engine's rollups of `events` over [`RANGES`].
pub fn embedded_rollups(events: &[Value]) -> Vec<Value> {
    let w = Workdir::new();
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    w.write("events.ndjson", &text);
    let out = w
        .cmd("ingest")
        .arg("events.ndjson")
        .output()
        .expect("run ingest");
    assert_exit(&out, 0);
    rolled_up(&w, None)
}

/// Backfill [`RANGES`] in [`TZ`] (with `config`) and export every row.
pub fn rolled_up(w: &Workdir, config: Option<&std::path::Path>) -> Vec<Value> {
    let mut rows = Vec::new();
    for (start, end) in RANGES {
        let mut cmd = w.cmd("backfill");
        cmd.args(["--start", start, "--end", end, "--tz", TZ]);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let out = cmd.output().expect("run backfill");
        assert_exit(&out, 0);
        rows.extend(w.rollups(start, end));
    }
    rows
}

/// An event's timestamp in UTC milliseconds.
pub fn ts_ms(e: &Value) -> i64 {
    match &e["ts"] {
        Value::Number(n) => n.as_i64().expect("integer ms"),
        Value::String(s) => ms(s),
        other => panic!("bad ts {other}"),
    }
}

/// How a test table names and types the events' columns.
pub struct Layout<'a> {
    pub table: &'a str,
    /// "timestamptz", "timestamp(3)" or "bigint" (Unix ms).
    pub ts_type: &'a str,
    /// Our name -> theirs, for the columns that differ.
    pub names: &'a [(&'a str, &'a str)],
    /// Our kind -> theirs.
    pub kinds: &'a [(&'a str, &'a str)],
}

pub const OURS: [&str; 9] = [
    "ts",
    "site",
    "kind",
    "session",
    "visitor",
    "path",
    "referrer",
    "name",
    "revenue_cents",
];

impl Layout<'_> {
    pub fn col(&self, ours: &str) -> String {
        self.names
            .iter()
            .find(|(o, _)| *o == ours)
            .map(|(_, t)| t.to_string())
            .unwrap_or_else(|| ours.to_string())
    }

    pub fn kind(&self, ours: &str) -> String {
        self.kinds
            .iter()
            .find(|(o, _)| *o == ours)
            .map(|(_, t)| t.to_string())
            .unwrap_or_else(|| ours.to_string())
    }

    /// `[source.columns]` and `[source.kinds]` for this layout.
    pub fn mapping_toml(&self) -> String {
        let mut t = String::from("[source.columns]\n");
        for (o, theirs) in self.names {
            t.push_str(&format!("{o} = \"{theirs}\"\n"));
        }
        t.push_str("[source.kinds]\n");
        for (o, theirs) in self.kinds {
            t.push_str(&format!("{o} = \"{theirs}\"\n"));
        }
        t
    }
}

/// `bin` with `--config config` and `args`.
pub fn with_config(
    w: &Workdir,
    bin: &str,
    config: &std::path::Path,
    args: &[&str],
) -> assert_cmd::Command {
    let mut cmd = w.cmd(bin);
    cmd.args(args).arg("--config").arg(config);
    cmd
}

/// Run `stop` (shell) once this test process has exited: the servers the
/// tests started go with it, however it ends.
pub fn when_tests_exit(stop: &str) -> Result<(), String> {
    let watcher = format!(
        "while [ -d /proc/{} ]; do sleep 1; done; {stop}",
        std::process::id()
    );
    std::process::Command::new("setsid")
        .args(["sh", "-c", &watcher])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("start the watcher: {e}"))
}

/// A port nothing listens on.
pub fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The status and attempts of the last aggregate run.
pub fn last_aggregate(w: &Workdir) -> Vec<Vec<String>> {
    w.sql_rows(
        "SELECT status, attempts FROM job_runs WHERE job = 'aggregate' ORDER BY id DESC LIMIT 1",
    )
}

/// `aggregate` with `config`, whose server is down: retried twice, then
/// the alert (written to `alert`) and exit 2, stderr naming `fragments`.
pub fn assert_retried_then_alerted(
    w: &Workdir,
    config: &std::path::Path,
    alert: &std::path::Path,
    fragments: &[&str],
) {
    let out = with_config(w, "aggregate", config, &[])
        .output()
        .expect("run aggregate");
    assert_exit(&out, 2);
    assert_stderr_has(&out, fragments);
    assert_eq!(
        last_aggregate(w),
        vec![vec!["failed".to_string(), "3".into()]]
    );
    let alert: Value =
        serde_json::from_str(&std::fs::read_to_string(alert).expect("the alert ran"))
            .expect("the alert's JSON");
    assert_eq!(alert["job"], "aggregate");
}
