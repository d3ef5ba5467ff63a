//! `report`: the page rendered by a real, headless Chromium with the
//! network off (the tiles' data-values against export-metrics, every chart
//! and tile there, nothing fetched), the week's and month's sums, mail
//! through a stand-in sendmail parsed back, and the bad inputs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::*;

/// Chromium on PATH; a test that needs it fails loudly without it.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!(
        "chromium is not installed: apt-get install chromium (the report is tested in a real browser)"
    );
}

/// Render `page` headless with every host unresolvable and no proxy
/// reachable: the DOM after load, and a screenshot's size in bytes.
fn render(page: &Path, dir: &Path) -> (String, u64) {
    let shot = dir.join("shot.png");
    let common = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join("chromium").display()
        ));
    };
    let mut dump = Command::new(chromium());
    common(&mut dump);
    let out = dump
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium --dump-dom");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut snap = Command::new(chromium());
    common(&mut snap);
    let status = snap
        .arg("--window-size=1000,1600")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium --screenshot");
    assert!(status.status.success());
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    (String::from_utf8_lossy(&out.stdout).into_owned(), size)
}

/// (site, metric, value) of every figure tile in a DOM.
fn tiles(dom: &str) -> Vec<(String, String, String)> {
    let re = regex::Regex::new(r#"data-site="([^"]*)" data-metric="([^"]*)" data-value="([^"]*)""#)
        .unwrap();
    re.captures_iter(dom)
        .map(|c| (c[1].to_string(), c[2].to_string(), c[3].to_string()))
        .collect()
}

/// Six weeks of a shop and a blog, rolled up, guarded and captured up to
/// 2026-11-21 (yesterday for NOW), built once and copied.
fn store() -> Workdir {
    static STORE: OnceLock<Vec<u8>> = OnceLock::new();
    let bytes = STORE.get_or_init(|| {
        let w = Workdir::new();
        let events = w.path("events.ndjson");
        let out = w
            .cmd("generate-events")
            .args([
                "--days",
                "42",
                "--events-per-day",
                "800",
                "--sites",
                "shop,blog",
                "--no-ids",
                "--output",
            ])
            .arg(&events)
            .output()
            .unwrap();
        assert_exit(&out, 0);
        assert_exit(&w.cmd("ingest").arg(&events).output().unwrap(), 0);
        w.backfill("2026-10-11", "2026-11-21", "UTC");
        w.db()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        std::fs::read(&w.db).unwrap()
    });
    let w = Workdir::new();
    std::fs::write(&w.db, bytes).unwrap();
    w
}

fn guard_and_snapshot(w: &Workdir, date: &str) {
    let out = w
        .cmd("sampling-guard")
        .args(["--date", date])
        .output()
        .unwrap();
    assert!(out.status.code() != Some(2), "{}", stderr(&out));
    assert_exit(
        &w.cmd("snapshot").args(["--date", date]).output().unwrap(),
        0,
    );
}

/// export-metrics' JSON rows of `[start, end]`.
fn exported(w: &Workdir, start: &str, end: &str) -> Vec<Value> {
    w.rollups(start, end)
}

/// The tile values export-metrics gives for `rows` (summed), per site and
/// for all.
fn expected_tiles(rows: &[Value]) -> Vec<(String, String, String)> {
    let mut sites: Vec<String> = rows
        .iter()
        .map(|r| r["site"].as_str().unwrap().to_string())
        .collect();
    sites.sort();
    sites.dedup();
    let mut out = Vec::new();
    for scope in std::iter::once("all".to_string()).chain(sites) {
        let mine: Vec<&Value> = rows
            .iter()
            .filter(|r| scope == "all" || r["site"] == scope.as_str())
            .collect();
        let sum = |k: &str| mine.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
        let sessions = sum("unique_sessions");
        // The rate of summed sessions: converting = rate * sessions per row.
        let converting: f64 = mine
            .iter()
            .map(|r| {
                (r["conversion_rate"].as_f64().unwrap() * r["unique_sessions"].as_f64().unwrap())
                    .round()
            })
            .sum();
        let cents = sum("revenue_cents");
        let rate = if sessions == 0 {
            0.0
        } else {
            converting / sessions as f64
        };
        for (metric, value) in [
            ("visitors", sum("unique_visitors").to_string()),
            ("sessions", sessions.to_string()),
            ("pageviews", sum("pageviews").to_string()),
            ("orders", sum("orders").to_string()),
            ("revenue", format!("{}.{:02}", cents / 100, cents % 100)),
            ("conversion_rate", format!("{rate:.4}")),
        ] {
            out.push((scope.clone(), metric.to_string(), value));
        }
    }
    out
}

#[test]
fn the_daily_page_loads_offline_with_every_tile_and_chart_and_the_export_figures() {
    let w = store();
    guard_and_snapshot(&w, "2026-11-21");
    let out = w.cmd("report").output().unwrap();
    assert_exit(&out, 0);
    let page = w.artifacts.join("reports/2026-11-21.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html, w.read("artifacts/reports/latest.html"));
    // Self-contained: nothing to fetch, nothing to run.
    for banned in ["<script", "src=", "<link", "@import", "url("] {
        assert!(!html.contains(banned), "the page has {banned}");
    }
    let (dom, shot) = render(&page, w.root());
    assert!(
        shot > 20_000,
        "the screenshot is {shot} bytes: the page did not render"
    );
    assert!(dom.contains("Daily report: Saturday 21 November 2026"));
    // Three scopes (all, blog, shop), six tiles and three charts each.
    assert_eq!(
        tiles(&dom),
        expected_tiles(&exported(&w, "2026-11-21", "2026-11-21"))
    );
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 9);
    assert_eq!(
        dom.matches("<details>").count(),
        9,
        "a table behind every chart"
    );
    assert!(dom.contains("Top pages") && dom.contains("Top referrers"));
    assert!(dom.contains("Can these numbers be trusted?"));
    assert!(dom.contains("sampling-guard") && dom.contains("Returning visitors"));
}

#[test]
fn the_week_and_month_pages_sum_their_days() {
    let w = store();
    guard_and_snapshot(&w, "2026-11-21");
    let out = w.cmd("report").args(["--period", "week"]).output().unwrap();
    // The week's other days have no proof: the page says so, exit 1.
    assert_exit(&out, 1);
    assert_stderr_has(
        &out,
        &["No sampling proof for 6 days (2026-11-15 to 2026-11-20)"],
    );
    let page = w.artifacts.join("reports/week-2026-11-21.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        tiles(&html),
        expected_tiles(&exported(&w, "2026-11-15", "2026-11-21"))
    );
    let out = w
        .cmd("report")
        .args(["--period", "month", "--date", "2026-10-31"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let html = w.read("artifacts/reports/month-2026-10.html");
    // October from its first rolled-up day (the 11th) to the 31st.
    assert_eq!(
        tiles(&html),
        expected_tiles(&exported(&w, "2026-10-01", "2026-10-31"))
    );
    assert!(html.contains("Monthly report: October 2026"));
    // 90 days of chart by default for a month (gaps where nothing was rolled up).
    let (dom, _) = render(&w.artifacts.join("reports/month-2026-10.html"), w.root());
    assert!(dom.contains("The last 90 days"));
    assert_eq!(w.read("artifacts/reports/latest.html"), html);
}

/// A stand-in sendmail that keeps its arguments and the message.
fn fake_sendmail(w: &Workdir, exit: i32) -> PathBuf {
    let bin = w.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("sendmail");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" > \"{0}/args\"\ncat > \"{0}/message\"\necho 'relay refused' >&2\nexit {exit}\n",
            w.root().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn mail_goes_through_sendmail_t_with_both_parts() {
    let w = store();
    guard_and_snapshot(&w, "2026-11-21");
    let bin = fake_sendmail(&w, 0);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mail = || {
        w.cmd("report")
            .env("PATH", &path)
            .args(["--mail-to", "owner@example.com"])
            .output()
            .unwrap()
    };
    let out = mail();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["mailed to owner@example.com through"]);
    assert_eq!(w.read("args").trim(), "-t");
    let message = w.read("message");
    assert!(message.contains("To: owner@example.com"), "{message}");
    assert!(message.contains("Subject: cronlytics: Daily report: Saturday 21 November 2026"));
    assert!(message.contains("Content-Type: multipart/alternative"));
    assert!(message.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(message.contains("Content-Type: text/html; charset=utf-8"));
    // A failed send is exit 1 with the reason, and the page is still written.
    std::fs::remove_dir_all(w.artifacts.join("reports")).unwrap();
    fake_sendmail(&w, 75);
    let out = mail();
    assert_exit(&out, 1);
    assert_stderr_has(
        &out,
        &["mailing it to owner@example.com failed", "relay refused"],
    );
    assert!(w.artifacts.join("reports/2026-11-21.html").exists());
    // A bad address is refused before anything.
    let out = w
        .cmd("report")
        .args(["--mail-to", "not an address"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["--mail-to \"not an address\" is not a mail address"],
    );
}

#[test]
fn bad_inputs_exit_2_or_say_what_is_missing() {
    let w = store();
    // No rollups for the date.
    let out = w
        .cmd("report")
        .args(["--date", "2026-12-01"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["no rollups for 2026-12-01: run aggregate first"]);
    // A site that does not exist.
    let out = w.cmd("report").args(["--site", "nope"]).output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["nope"]);
    // No proof and no snapshot: the page says so in their places, exit 1.
    let out = w.cmd("report").output().unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(
        &out,
        &[
            "No sampling proof for 2026-11-21: run sampling-guard --date 2026-11-21",
            "No snapshot for 2026-11-21: run snapshot --date 2026-11-21",
        ],
    );
    let html = w.read("artifacts/reports/2026-11-21.html");
    assert!(html.contains("No sampling proof for 2026-11-21"));
    assert!(html.contains("No snapshot for 2026-11-21"));
    // An unwritable reports directory: exit 2 naming it, nothing half-written.
    std::fs::remove_dir_all(w.artifacts.join("reports")).unwrap();
    std::fs::write(w.artifacts.join("reports"), "a file where the folder goes").unwrap();
    let out = w.cmd("report").output().unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &["cannot write the report", "reports/2026-11-21.html"],
    );
    // --site narrows the page to one site.
    std::fs::remove_file(w.artifacts.join("reports")).unwrap();
    let out = w.cmd("report").args(["--site", "blog"]).output().unwrap();
    assert_exit(&out, 1);
    let sites: Vec<String> = tiles(&w.read("artifacts/reports/2026-11-21.html"))
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(sites, ["blog"; 6]);
}

/// A stand-in SMTP server on localhost: answers every command and keeps
/// what came after DATA. Returns its port and the message when done.
fn smtp_server() -> (u16, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream);
        out.write_all(b"220 localhost ESMTP stand-in\r\n").unwrap();
        let (mut data, mut in_data) = (String::new(), false);
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    out.write_all(b"250 2.0.0 queued\r\n").unwrap();
                } else {
                    data.push_str(&line);
                }
            } else {
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" => b"250-localhost\r\n250 8BITMIME\r\n",
                    "DATA" => b"354 go on\r\n",
                    "QUIT" => b"221 bye\r\n",
                    _ => b"250 ok\r\n",
                };
                in_data = verb == "DATA";
                out.write_all(reply).unwrap();
                if verb == "QUIT" {
                    break;
                }
            }
            line.clear();
        }
        data
    });
    (port, handle)
}

#[test]
fn mail_goes_through_the_configured_smtp_server() {
    let w = store();
    guard_and_snapshot(&w, "2026-11-21");
    let (port, server) = smtp_server();
    w.write(
        "cronlytics.toml",
        &format!(
            "[report]\nmail_to = \"owner@example.com\"\nfrom = \"reports@example.com\"\n\n[report.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n"
        ),
    );
    let out = w.cmd("report").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(&out, &["mailed to owner@example.com through 127.0.0.1"]);
    let message = server.join().unwrap();
    assert!(message.contains("From: reports@example.com"), "{message}");
    assert!(message.contains("To: owner@example.com"));
    assert!(message.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(message.contains("Content-Type: text/html; charset=utf-8"));
    // Nobody listening: exit 1 with the reason; the page is written.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    w.write(
        "cronlytics.toml",
        &format!("[report]\nmail_to = \"owner@example.com\"\n\n[report.smtp]\nhost = \"127.0.0.1\"\nport = {closed}\ntls = \"none\"\n"),
    );
    let out = w.cmd("report").output().unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(
        &out,
        &["mailing it to owner@example.com failed", "127.0.0.1"],
    );
    // A user without the password in the environment is named.
    w.write(
        "cronlytics.toml",
        &format!("[report]\nmail_to = \"owner@example.com\"\n\n[report.smtp]\nhost = \"127.0.0.1\"\nport = {closed}\ntls = \"none\"\nuser = \"me\"\n"),
    );
    let out = w
        .cmd("report")
        .env_remove("CRONLYTICS_SMTP_PASSWORD")
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(&out, &["the environment has no CRONLYTICS_SMTP_PASSWORD"]);
}

#[test]
fn the_page_shows_each_sites_goals_breakdowns_and_gauges() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\n\n[[goal]]\nname = \"Signup\"\nevent = \"signup\"\n",
    );
    let plan = |p: &str| serde_json::json!({ "plan": p });
    w.ingest(
        "events.ndjson",
        &[
            pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/").props(plan("pro")),
            custom("2026-11-21T10:01:00Z", "shop", "s1", "v1", "signup").props(plan("pro")),
            pageview("2026-11-21T11:00:00Z", "shop", "s2", "v2", "/").props(plan("free")),
            pageview("2026-11-21T12:00:00Z", "shop", "s3", "v3", "/").props(plan("free")),
            gauge("2026-11-20T12:00:00Z", "shop", "followers", 1200.0),
            gauge("2026-11-21T12:00:00Z", "shop", "followers", 1250.0),
        ],
    );
    w.backfill("2026-11-20", "2026-11-21", "UTC");
    let out = w.cmd("report").output().unwrap();
    assert_exit(&out, 1);
    let (dom, _) = render(&w.artifacts.join("reports/2026-11-21.html"), w.root());
    let text = regex::Regex::new(r"<[^>]+>")
        .unwrap()
        .replace_all(&dom, "|");
    let text = regex::Regex::new(r"\|+").unwrap().replace_all(&text, "|");
    for want in [
        "|Goals|",
        "|Signup|1|33.33%|0.00|",
        "|By plan|",
        "|free|2|2|0|0.00|▲ new|",
        "|pro|2|1|0|0.00|▲ new|",
        "|Gauges|",
        "|followers|1,250|1,250|1,250|1|▲ 4.2%|",
    ] {
        assert!(text.contains(want), "{want} is not on the page: {text}");
    }
}
