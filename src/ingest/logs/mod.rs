//! Access logs into events: each request that no `--keep` class leaves out
//! becomes a pageview of its path (or a goal's custom event or order) of its
//! site, with a visitor and a session from `sessions`, a referrer by the
//! contract's rules, and an id from the line's content (the same line read
//! again from a copy is a duplicate; identical lines in one file are
//! numbered, so each counts). The events go into the same sink as NDJSON's.

pub(crate) mod goals;
pub(crate) mod rotation;
pub(crate) mod sessions;

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use rustc_hash::FxBuildHasher;
use xxhash_rust::xxh3::xxh3_64;

use super::formats::{
    ClassSet, Classifier, LogFormat, LogParser, ParserOptions, Request, RequestClass, SAMPLE_LINES,
    detect, site_from_host,
};
use super::parse::{ParsedEvent, normalize_referrer};
use super::rejects::Reject;
use super::sink::{Item, ParseSink};
use crate::job::usage;
use crate::settings::logs::LogsConfig;
use crate::store::encoding::Kind;
use crate::util::thousands;
use goals::{GoalHit, Goals};
use sessions::Sessionizer;

/// How this run reads access logs (flags over `[logs]`).
pub(crate) struct LogOptions {
    /// `None`: decided from each file's first lines.
    pub(crate) format: Option<LogFormat>,
    pub(crate) keep: ClassSet,
    /// `--site`: the site of every request.
    pub(crate) site: Option<String>,
    /// `[logs] site`: the site of a request without a host.
    pub(crate) fallback_site: Option<String>,
    pub(crate) parser: ParserOptions,
    pub(crate) goals: Goals,
}

impl LogOptions {
    /// The flags (`--log-format`, `--keep`, `--site`) over `[logs]`,
    /// checked: a mistake is a usage error naming it.
    pub(crate) fn resolve(
        log_format: Option<&str>,
        keep: Option<&str>,
        site: Option<&str>,
        config: &LogsConfig,
    ) -> Result<LogOptions> {
        config.check().map_err(usage)?;
        let format = match log_format.map(str::trim) {
            None | Some("auto") => None,
            Some(text) => {
                Some(LogFormat::from_arg(text).map_err(|e| usage(format!("--log-format: {e}")))?)
            }
        };
        let keep = match keep {
            None => ClassSet::EMPTY,
            Some(list) => ClassSet::parse_keep(list).map_err(usage)?,
        };
        if let Some(site) = site
            && !crate::store::encoding::is_site_name(site)
        {
            return Err(usage(format!(
                "--site {site:?} is not a site name (1 to 64 of A-Z a-z 0-9 . _ -)"
            )));
        }
        Ok(LogOptions {
            format,
            keep,
            site: site.map(str::to_string),
            fallback_site: config.site.clone(),
            parser: ParserOptions {
                forwarded_for: config.forwarded_for.clone(),
            },
            goals: Goals::new(&config.goal),
        })
    }
}

/// What the summary says of the logs read.
#[derive(Debug, Default)]
pub(crate) struct LogStats {
    /// Each log file read and the format it was read as.
    pub(crate) formats: Vec<(String, String)>,
    pub(crate) requests: u64,
    pub(crate) left_out: [u64; RequestClass::ALL.len()],
}

impl LogStats {
    /// The summary's words on access logs: the format of each, the
    /// requests each class left out, the rotated files read first
    /// (rotated, given) and the logs with nothing new.
    pub(crate) fn summary(&self, rotated: &[(String, String)], unchanged: &[String]) -> String {
        let mut text = String::new();
        for (name, format) in &self.formats {
            text.push_str(&format!("; read {name} as {format}"));
        }
        if !self.formats.is_empty() {
            let left: Vec<String> = RequestClass::ALL
                .iter()
                .map(|class| {
                    let n = self.left_out[*class as usize];
                    format!("{} {}", thousands(n), class.name())
                })
                .collect();
            text.push_str(&format!(
                "; {} requests, left out: {}",
                thousands(self.requests),
                left.join(", ")
            ));
        }
        for (rotated, given) in rotated {
            text.push_str(&format!("; read {rotated} first ({given} was rotated)"));
        }
        if !unchanged.is_empty() {
            text.push_str(&format!("; nothing new in {}", unchanged.join(", ")));
        }
        text
    }
}

/// A log input's first lines, read to choose its parser, and the parser.
pub(crate) struct Prepared {
    pub(crate) prefix: Vec<u8>,
    pub(crate) parser: Box<dyn LogParser>,
}

/// Read the first lines of `reader` (up to [`SAMPLE_LINES`] that are not
/// blank or comments) and choose the parser: the one named, or the best
/// fit. None of them fitting is a usage error naming the file, the
/// formats tried, its first line and `--log-format`.
pub(crate) fn prepare(
    name: &str,
    reader: &mut dyn BufRead,
    options: &LogOptions,
    stats: &Mutex<LogStats>,
) -> Result<Prepared> {
    let mut prefix = Vec::new();
    let mut sampled = 0;
    while sampled < SAMPLE_LINES {
        let before = prefix.len();
        let n = reader.read_until(b'\n', &mut prefix)?;
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&prefix[before..]);
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            sampled += 1;
        }
    }
    let text = String::from_utf8_lossy(&prefix);
    let lines: Vec<&str> = text.lines().collect();
    let (format, chosen) = match &options.format {
        None => match detect(&lines, &options.parser) {
            Ok(found) => (found.format.clone(), found.to_string()),
            Err(e) => return Err(usage(format!("cannot read {name} as an access log: {e}"))),
        },
        Some(format) => {
            let (fits, seen) = fits(format, &lines, options)?;
            if seen > 0 && fits == 0 {
                let first = lines
                    .iter()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| l.chars().take(200).collect::<String>())
                    .unwrap_or_default();
                return Err(usage(format!(
                    "cannot read {name} as an access log: none of its first {seen} lines fits the format {format}; its first line is {first:?}; name the right one with --log-format (auto, common, combined, vhost-combined, nginx-json, caddy, traefik, w3c, or the server's own log_format/LogFormat string)"
                )));
            }
            (
                format.clone(),
                format!("{format} ({fits} of the first {seen} lines fit)"),
            )
        }
    };
    if options.site.is_none() && options.fallback_site.is_none() {
        let mut probe = format.parser(&options.parser).map_err(usage)?;
        let hostless = lines.iter().find_map(|line| {
            if probe.directive(line) {
                return None;
            }
            probe.parse(line).ok().map(|r| r.host.is_none())
        });
        if hostless == Some(true) {
            return Err(usage(format!(
                "the access log {name} names no host ({chosen}): give the site of its requests with --site NAME (or [logs] site in the config)"
            )));
        }
    }
    // A fresh parser: the W3C one keeps the `#Fields:` state.
    let parser = format.parser(&options.parser).map_err(usage)?;
    stats
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .formats
        .push((name.to_string(), chosen));
    Ok(Prepared { prefix, parser })
}

/// How many of `lines` (not blank, comments or directives) `format` reads.
fn fits(format: &LogFormat, lines: &[&str], options: &LogOptions) -> Result<(usize, usize)> {
    let mut parser = format.parser(&options.parser).map_err(usage)?;
    let (mut fits, mut seen) = (0, 0);
    for line in lines {
        if parser.directive(line) || line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        seen += 1;
        fits += usize::from(parser.parse(line).is_ok());
    }
    Ok((fits, seen))
}

/// Identical lines remembered for numbering, per generation.
const SEEN_LINES: usize = 1 << 16;

/// Turns the requests of every log input of a run into events (on the
/// parsing thread).
pub(crate) struct LogLines {
    options: LogOptions,
    classifier: Classifier,
    sessions: Sessionizer,
    stats: Arc<Mutex<LogStats>>,
    left_out: [u64; RequestClass::ALL.len()],
    requests: u64,
    /// How often each line content was met: the current and the previous
    /// generation of [`SEEN_LINES`] lines (identical lines of a real log
    /// are the same request twice in one second, so they lie close).
    seen: [HashMap<u64, u32, FxBuildHasher>; 2],
}

impl LogLines {
    pub(crate) fn new(
        options: LogOptions,
        sessions: Sessionizer,
        stats: Arc<Mutex<LogStats>>,
    ) -> LogLines {
        LogLines {
            options,
            classifier: Classifier::new(),
            sessions,
            stats,
            left_out: Default::default(),
            requests: 0,
            seen: Default::default(),
        }
    }

    /// A log input starts: numbering of identical lines starts again.
    pub(crate) fn start_file(&mut self) {
        self.seen = Default::default();
    }

    /// The input just read ends: the sessions it moved, to be kept with its
    /// file record; the counts go to the summary.
    pub(crate) fn end_file(&mut self) -> Vec<crate::store::logs::LogVisitor> {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.requests += std::mem::take(&mut self.requests);
        for (total, n) in stats.left_out.iter_mut().zip(self.left_out.iter_mut()) {
            *total += std::mem::take(n);
        }
        drop(stats);
        self.sessions.take_moved()
    }

    /// One line of a log (with its line end, if any) into `sink`.
    pub(crate) fn line(
        &mut self,
        sink: &mut ParseSink,
        parser: &mut dyn LogParser,
        name: &str,
        line_no: u64,
        raw: &[u8],
    ) -> Result<()> {
        let n = raw.len() as u64;
        let mut line = raw;
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        // Valid UTF-8 is the rule; a server that logs raw bytes gets them
        // replaced, as GoAccess shows them.
        let text = match std::str::from_utf8(line) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(line),
        };
        if text.trim().is_empty() || parser.directive(&text) {
            sink.bytes += n;
            return Ok(());
        }
        let request = match parser.parse(&text) {
            Ok(request) => request,
            Err(e) => {
                let reject = Reject::new(name, line_no, e.to_string(), &text);
                return sink.push(Item::Reject(reject), n);
            }
        };
        self.requests += 1;
        let mut keep = self.options.keep;
        if !parser.has_user_agent() {
            // No request of a format without user agents is a bot's.
            keep.insert(RequestClass::Bots);
        }
        if let Some(class) = self.classifier.left_out_by(&request, keep) {
            self.left_out[class as usize] += 1;
            sink.bytes += n;
            return Ok(());
        }
        let id = self.line_hash(line);
        let item = match self.event(&request, id) {
            Ok(event) => match sink.admit(event) {
                Ok(event) => Item::Event(event),
                Err(reason) => Item::Reject(Reject::new(name, line_no, reason, &text)),
            },
            Err(reason) => Item::Reject(Reject::new(name, line_no, reason, &text)),
        };
        sink.push(item, n)?;
        // After the event, which borrows the visitor's and session's keys.
        sink.visitors.extend(self.sessions.evict_idle());
        Ok(())
    }

    /// The line's dedupe hash: 64 bits of its content's hash, mixed with
    /// N for the N-th identical line of the file (the store's key adds the
    /// line's time and site).
    fn line_hash(&mut self, line: &[u8]) -> i64 {
        let hash = xxh3_64(line);
        if self.seen[0].len() >= SEEN_LINES {
            self.seen.swap(0, 1);
            self.seen[0].clear();
        }
        let before = self.seen[1].get(&hash).copied().unwrap_or(0);
        let count = self.seen[0].entry(hash).or_insert(before);
        *count += 1;
        (hash ^ u64::from(*count).wrapping_mul(0x9e37_79b9_7f4a_7c15)) as i64
    }

    /// The event of a request that is counted, or why the line is rejected.
    fn event<'r>(
        &'r mut self,
        request: &'r Request<'r>,
        line: i64,
    ) -> std::result::Result<ParsedEvent<'r>, String> {
        let host_site = request.host.as_deref().map(|host| {
            site_from_host(host).ok_or_else(|| {
                format!(
                    "host: {host:?} is not a site name (1 to 64 of A-Z a-z 0-9 . _ - after the port and a leading www. are taken off); give the site with --site"
                )
            })
        });
        let site: Cow<'r, str> = match (&self.options.site, host_site) {
            (Some(site), _) => Cow::Borrowed(site),
            (None, Some(found)) => found?,
            (None, None) => match &self.options.fallback_site {
                Some(site) => Cow::Borrowed(site),
                None => {
                    return Err(
                        "host: the request names no host and no --site is given".to_string()
                    );
                }
            },
        };
        let addr = request.client_addr().unwrap_or("-");
        let agent = request.user_agent.as_deref().unwrap_or("");
        let (visitor, session) = self
            .sessions
            .assign(&site, addr, agent, request.ts_ms)
            .map_err(|e| format!("cannot look up the visitor's session: {e:#}"))?;
        let hit = if self.options.goals.is_empty() {
            None
        } else {
            self.options
                .goals
                .hit(&request.path, request.query.as_deref())?
        };
        let (kind, label, revenue_cents) = match hit {
            None => (Kind::Pageview, Some(page_path(&request.path)), None),
            Some(GoalHit::Event(name)) => (Kind::Event, Some(Cow::Owned(name.to_string())), None),
            Some(GoalHit::Order(cents)) => (Kind::Order, None, Some(cents)),
        };
        let referrer = (kind == Kind::Pageview).then(|| referrer(request, &site));
        Ok(ParsedEvent {
            ts_ms: request.ts_ms,
            site,
            kind,
            session: Cow::Borrowed(session),
            visitor: Cow::Borrowed(visitor),
            id: None,
            label,
            referrer,
            revenue_cents,
            line: Some(line),
            props: Vec::new(),
            props_text: None,
            value: None,
            extra: None,
        })
    }
}

/// The path of a pageview: as requested (without its query), `/` when
/// empty (`OPTIONS *` and the like keep what they have).
fn page_path<'r>(path: &Cow<'r, str>) -> Cow<'r, str> {
    if path.is_empty() {
        Cow::Borrowed("/")
    } else {
        path.clone()
    }
}

/// The contract's referrer: the Referer's host, unless it is the site
/// itself (internal, `direct`); then `utm_source` or `ref` from the query;
/// else `direct`.
fn referrer<'r>(request: &Request<'r>, site: &str) -> Cow<'r, str> {
    if let Some(referer) = request.referer.as_deref()
        && referer != "-"
        && !referer.trim().is_empty()
    {
        let host = normalize_referrer(referer);
        let own = request
            .host
            .as_deref()
            .and_then(site_from_host)
            .is_some_and(|h| h.eq_ignore_ascii_case(&host));
        if host != "direct" && !own && !host.eq_ignore_ascii_case(site) {
            return Cow::Owned(host.into_owned());
        }
    }
    if let Some(query) = request.query.as_deref() {
        for param in ["utm_source", "ref"] {
            if let Some(source) = goals::query_param(query, param)
                && !source.trim().is_empty()
            {
                return Cow::Owned(normalize_referrer(source.trim()).into_owned());
            }
        }
    }
    Cow::Borrowed("direct")
}

/// The inputs `ingest` reads as access logs without `--format`: `*.log`,
/// `*.log.N`, `access_log*`, `access.log*` (compressed or not).
pub(crate) fn is_log_name(path: &str) -> bool {
    let name = std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = ["gz", "bz2", "zst"]
        .iter()
        .find_map(|ext| name.strip_suffix(&format!(".{ext}")))
        .unwrap_or(&name);
    if name.starts_with("access_log") || name.starts_with("access.log") || name.ends_with(".log") {
        return true;
    }
    // `*.log.N`
    match name.rsplit_once('.') {
        Some((stem, n)) => {
            stem.ends_with(".log") && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names() {
        for name in [
            "/var/log/nginx/access.log",
            "access.log.1",
            "access.log.2.gz",
            "site.log",
            "site.log.3.zst",
            "access_log",
            "access_log-20261203.bz2",
        ] {
            assert!(is_log_name(name), "{name}");
        }
        for name in [
            "events.ndjson",
            "x.csv",
            "log",
            "catalog.txt",
            "blog.ndjson",
        ] {
            assert!(!is_log_name(name), "{name}");
        }
    }

    #[test]
    fn referrers_follow_the_contract() {
        let mut r = Request {
            referer: Some("https://www.Google.com/search?q=x".into()),
            host: Some("shop.example".into()),
            ..Request::default()
        };
        assert_eq!(referrer(&r, "shop.example"), "google.com");
        r.referer = Some("https://shop.example/cart".into());
        assert_eq!(referrer(&r, "shop.example"), "direct");
        r.query = Some("utm_source=newsletter&x=1".into());
        assert_eq!(referrer(&r, "shop.example"), "newsletter");
        r.referer = Some("-".into());
        r.query = Some("ref=producthunt".into());
        assert_eq!(referrer(&r, "shop.example"), "producthunt");
        r.query = None;
        assert_eq!(referrer(&r, "shop.example"), "direct");
    }
}
