//! Jobs at the same time: ingest, aggregate and retention run together on
//! one store, and afterwards its invariants hold: no duplicate session or
//! visitor key, no row referring to a deleted one, every event stored once.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const VISITORS: usize = 400;

/// Old events (about 120 days before NOW, due for retention) and new ones
/// (yesterday) by the same visitors with the same session keys, so that
/// ingest finds old sessions and visitors and refers to them while
/// retention deletes them.
fn old_and_new() -> (String, String) {
    let mut old = Vec::new();
    let mut new = Vec::new();
    for v in 0..VISITORS {
        for date in ["2026-07-20", "2026-07-25"] {
            old.push(pageview(
                &format!("{date}T10:{:02}:00Z", v % 60),
                "shop",
                &format!("s{v}"),
                &format!("v{v}"),
                "/old",
            ));
        }
        for n in 0..60 {
            new.push(
                pageview(
                    &format!("2026-11-21T{:02}:{:02}:{:02}Z", n % 24, v % 60, n % 60),
                    "shop",
                    &format!("s{}", (v + n) % VISITORS),
                    &format!("v{v}"),
                    &format!("/p{}", n % 7),
                )
                .id(&format!("e{v}-{n}")),
            );
        }
    }
    (ndjson(&old), ndjson(&new))
}

fn spawn(w: &Workdir, bin: &str, args: &[&str], config: &std::path::Path) -> Child {
    w.process(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait(child: Child, bin: &str) {
    let out = child.wait_with_output().unwrap();
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "{bin} exited {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ingest_aggregate_and_retention_together_keep_the_store_consistent() {
    let w = Workdir::new();
    let (old, new) = old_and_new();
    let old = w.write("old.ndjson", &old);
    w.cmd("ingest").arg(old).assert().code(0);
    w.backfill("2026-07-20", "2026-11-20", "UTC");
    // Close the old sessions, so that retention may delete them.
    w.cmd("cleanup-sessions").assert().code(0);
    let new = w.write("new.ndjson", &new);
    let config = w.write(
        "small-batches.toml",
        "[ingest]\nbatch_size = 500\n[retention]\nbatch_size = 50\npause_ms = 0\n[store]\nbusy_timeout_ms = 20000\n",
    );

    let ingest = spawn(&w, "ingest", &[new.to_str().unwrap()], &config);
    // Start the others once ingest is writing.
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.sql_i64("SELECT count(*) FROM events") <= (2 * VISITORS) as i64 {
        assert!(Instant::now() < deadline, "ingest stored nothing in 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    let retention = spawn(&w, "retention", &[], &config);
    let aggregate = spawn(&w, "aggregate", &[], &config);
    wait(ingest, "ingest");
    wait(retention, "retention");
    wait(aggregate, "aggregate");

    let orphans = [
        (
            "sessions without their visitor",
            "SELECT count(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM visitors v WHERE v.id = s.visitor_id)",
        ),
        (
            "events without their session",
            "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = e.session_id)",
        ),
        (
            "events without their visitor",
            "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM visitors v WHERE v.id = e.visitor_id)",
        ),
        (
            "duplicate visitor keys",
            "SELECT count(*) FROM (SELECT site_id, key FROM visitors GROUP BY site_id, key HAVING count(*) > 1)",
        ),
        (
            "duplicate session keys",
            "SELECT count(*) FROM (SELECT site_id, key FROM sessions GROUP BY site_id, key HAVING count(*) > 1)",
        ),
    ];
    for (what, query) in orphans {
        assert_eq!(w.sql_i64(query), 0, "{what}");
    }
    // Every row has its key entry (entries of deleted rows may stay).
    for table in ["sessions", "visitors"] {
        let entries = w.key_entry_ids(table);
        let rows = w.sql_rows(&format!("SELECT id FROM {table}"));
        let missing: Vec<_> = rows
            .iter()
            .filter(|r| !entries.contains(&r[0].parse::<i64>().unwrap()))
            .collect();
        assert!(
            missing.is_empty(),
            "{table} without a key entry: {missing:?}"
        );
    }
    // The old events are gone, every new one is stored once, and the new
    // day's rollup counts them all.
    let new_events = (VISITORS * 60) as i64;
    assert_eq!(w.sql_i64("SELECT count(*) FROM events"), new_events);
    w.cmd("aggregate").assert().code(0);
    assert_eq!(w.rollup("2026-11-21", "shop")["pageviews"], new_events);
    assert_eq!(
        w.rollup("2026-11-21", "shop")["unique_visitors"],
        VISITORS as i64
    );
}
