//! `ingest --format access-log`: every format on real-looking lines, the
//! request classes, visitors, sessions and referrers, goals, exactly-once
//! reading through growth, rotation, truncation and copies, bad input, and
//! the counts against GoAccess.

mod formats;
mod goaccess;
mod incremental;

use std::process::Output;

use crate::common::*;

/// A combined-format line at `time` (`06/Feb/2026:15:30:25 +0000`).
pub fn combined(
    addr: &str,
    time: &str,
    request: &str,
    status: u16,
    referer: &str,
    agent: &str,
) -> String {
    format!(r#"{addr} - - [{time}] "{request}" {status} 512 "{referer}" "{agent}""#)
}

pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
pub const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
pub const GOOGLEBOT: &str =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// A page request of `path` by a Firefox visitor at 10.0.0.`n` on
/// 2026-11-21 at `hh:mm:ss` UTC.
pub fn page(n: u8, hms: &str, path: &str) -> String {
    combined(
        &format!("10.0.0.{n}"),
        &format!("21/Nov/2026:{hms} +0000"),
        &format!("GET {path} HTTP/1.1"),
        200,
        "-",
        FIREFOX,
    )
}

/// Lines joined with a final line end.
pub fn lines(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

impl Workdir {
    /// Run ingest with `args` (the files and flags); returns the output.
    pub fn ingest_log(&self, args: &[&str]) -> Output {
        self.cmd("ingest").args(args).output().expect("run ingest")
    }
}

/// Stored pageviews as (site, path, referrer), in time order.
pub fn pageviews(w: &Workdir) -> Vec<(String, String, String)> {
    w.sql_rows(
        "SELECT s.name, l.value, r.value FROM events e
         JOIN sites s ON s.id = e.site_id
         JOIN labels l ON l.id = e.label_id
         JOIN labels r ON r.id = e.referrer_id
         WHERE e.kind = 0 ORDER BY e.id",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
    .collect()
}

pub fn count(w: &Workdir, query: &str) -> i64 {
    w.sql_i64(query)
}

/// Every rejects file of the run(s), concatenated.
pub fn rejects_text(w: &Workdir) -> String {
    std::fs::read_dir(w.artifacts.join("rejects"))
        .expect("a rejects folder")
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}
