//! Seeded generator of realistic synthetic analytics events, written as NDJSON
//! in the input format of `ingest`.
//!
//! It feeds the demo, the tests, the performance benchmark and the anomaly
//! detector, so the data has to look like real traffic (sites of different
//! size and character, weekly and daily rhythms, multi-event sessions,
//! returning visitors, Zipf-like pages, a realistic referrer mix, log-normal
//! order values), has to carry planted incidents on demand, and has to be cheap
//! to produce in bulk: days are generated one at a time so memory does not grow
//! with `days`, and lines and timestamps are formatted by hand.
//!
//! Shape of the output: `session`, `visitor` and the `id` suffix are 16 hex
//! digits, unique by construction (a bijective mix of a counter), so ids never
//! collide. Every pageview of a session carries the session's referrer
//! (session-level attribution; direct visits mostly leave the field out,
//! some send `""`), custom events carry `name`, orders `revenue_cents`.
//! A session stays within its local day, so a day's events are exactly the
//! events whose `ts` falls in it.
//!
//! Same options give byte-identical output on the same platform (the float
//! maths behind the distributions comes from the platform's libm).

mod access_log;
mod incident;
mod ndjson;
mod profile;
mod sampling;
mod site;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use anyhow::{Context, Result, ensure};
use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, Exp1, LogNormal, Normal};

use access_log::AccessLogWriter;
pub use incident::{Incident, IncidentKind, ParseIncidentError};
use ndjson::*;
use profile::*;
use sampling::*;
use site::*;
/// Everything that shapes the generated events.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Seed of all randomness: same options, same bytes.
    pub seed: u64,
    /// Site names (1..64 of `[A-Za-z0-9._-]`). `shop`, `blog` and `saas` get
    /// their own character; other names take those characters in turn.
    pub sites: Vec<String>,
    /// First local date generated.
    pub start: NaiveDate,
    /// Number of local days generated.
    pub days: u32,
    /// Approximate number of events per average day, over all sites.
    pub events_per_day: u64,
    /// Time zone of the days and of the daily rhythm.
    pub tz: Tz,
    /// Give every event a unique `id` (`<site>-<session>-<n>`).
    pub with_ids: bool,
    /// Give every event 2-3 custom properties (`plan` per visitor,
    /// `campaign` per session, the page's `author` on page views and a
    /// number of `items` on orders).
    pub with_props: bool,
    /// Anomalies to plant; each must name a generated site and date.
    pub incidents: Vec<Incident>,
    /// Share (0..=1) of events emitted late, a minute to four hours after
    /// their `ts`, behind later events.
    pub late_fraction: f64,
    /// What is written: NDJSON events, or the access log of the same
    /// traffic.
    pub format: OutputFormat,
}

/// What `generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Ndjson,
    /// A web server's access log: combined for one site, vhost-combined
    /// for several.
    AccessLog,
}

/// The writer of the chosen format.
enum Writer<'a> {
    Ndjson(NdjsonWriter<'a>),
    AccessLog(AccessLogWriter<'a>),
}

impl Writer<'_> {
    fn write_events(
        &mut self,
        events: &[Event],
        sites: &[SiteGen],
        summary: &mut GenerateSummary,
    ) -> Result<()> {
        match self {
            Writer::Ndjson(w) => w.write_events(events, sites, summary),
            Writer::AccessLog(w) => w.write_events(events, sites, summary),
        }
    }

    fn finish(self, summary: &mut GenerateSummary) -> Result<()> {
        match self {
            Writer::Ndjson(w) => w.finish(),
            Writer::AccessLog(w) => w.finish(summary),
        }
    }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            seed: 42,
            sites: vec!["shop".into(), "blog".into(), "saas".into()],
            start: NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date"),
            days: 30,
            events_per_day: 10_000,
            tz: Tz::UTC,
            with_ids: true,
            with_props: false,
            incidents: Vec::new(),
            late_fraction: 0.0,
            format: OutputFormat::Ndjson,
        }
    }
}

/// Counts over what was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Lines written.
    pub events: u64,
    /// Sessions, bot sessions included.
    pub sessions: u64,
    /// Events of kind `order`.
    pub orders: u64,
    /// Sum of `revenue_cents` over the orders.
    pub revenue_cents: u64,
}

/// Writes the events described by `opts` to `out` as NDJSON, in ascending
/// `ts` order except for the `late_fraction` share, and returns the counts.
///
/// Output is buffered here; `out` needs no `BufWriter`. Write errors
/// (including a broken pipe) are returned as they come.
pub fn generate(opts: &GenerateOptions, out: &mut dyn Write) -> Result<GenerateSummary> {
    validate(opts)?;
    let seed_key = mix64(opts.seed ^ 0x243f_6a88_85a3_08d3);
    let total_weight: f64 = opts
        .sites
        .iter()
        .enumerate()
        .map(|(i, s)| profile_for(s, i).weight)
        .sum();
    let mut sites: Vec<SiteGen> = opts
        .sites
        .iter()
        .enumerate()
        .map(|(i, name)| SiteGen::new(name, i, opts.events_per_day as f64 / total_weight))
        .collect();
    let mut writer = match opts.format {
        OutputFormat::Ndjson => {
            Writer::Ndjson(NdjsonWriter::new(out, opts.with_ids, opts.with_props))
        }
        OutputFormat::AccessLog => {
            Writer::AccessLog(AccessLogWriter::new(out, opts.tz, opts.sites.len()))
        }
    };
    let mut summary = GenerateSummary::default();
    let mut batch: Vec<Event> = Vec::new();
    let mut carry: Vec<Event> = Vec::new();
    let mid = (f64::from(opts.days) - 1.0) / 2.0;

    for day in 0..opts.days {
        let date = opts.start + Days::new(u64::from(day));
        let day_start = cronlytics::time::start_of(date, opts.tz);
        let day_end = cronlytics::time::start_of(date + Days::new(1), opts.tz);
        let ctx = DayContext {
            index: day,
            start_ms: day_start.timestamp_millis(),
            len_ms: (day_end - day_start).num_milliseconds(),
            weekday: date.weekday().num_days_from_monday() as usize,
            trend_offset: f64::from(day) - mid,
            hours: local_hours(day_start, day_end, opts.tz),
        };
        // Late events of the previous day that are not due yet go first, so
        // that their positions (the sort's tie-breaker) stay deterministic.
        batch.clear();
        batch.append(&mut carry);
        let carried = batch.len();
        for site in &mut sites {
            let effects = day_effects(&opts.incidents, &site.name, date);
            let stream = u64::from(site.index) << 56 | u64::from(day) << 8;
            let mut rng = StdRng::seed_from_u64(mix64(seed_key ^ stream));
            summary.sessions += site.generate_day(&ctx, effects, seed_key, &mut rng, &mut batch);
        }
        if opts.late_fraction > 0.0 {
            // A stream of its own, so that lateness reorders the same events
            // rather than changing them.
            let stream = u64::from(day) << 8 | 0xff;
            let mut rng = StdRng::seed_from_u64(mix64(seed_key ^ stream));
            delay_some(&mut batch[carried..], opts.late_fraction, &mut rng);
        }
        sort_for_emission(&mut batch, ctx.start_ms);
        let due = batch.partition_point(|e| e.emit_ms < day_end.timestamp_millis());
        carry.extend_from_slice(&batch[due..]);
        writer.write_events(&batch[..due], &sites, &mut summary)?;
    }
    if let Some(base) = carry.iter().map(|e| e.emit_ms).min() {
        sort_for_emission(&mut carry, base);
        writer.write_events(&carry, &sites, &mut summary)?;
    }
    writer.finish(&mut summary)?;
    Ok(summary)
}

/// The first day: `--start` when given, else so that the last of `days`
/// days is yesterday in `tz`.
pub fn default_start(
    start: Option<&str>,
    days: u32,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<NaiveDate> {
    match start {
        Some(text) => cronlytics::time::parse_date("--start", text)
            .map_err(|e| cronlytics::job::usage(format!("{e:#}"))),
        None => {
            let yesterday = cronlytics::time::yesterday(now, tz);
            Ok(yesterday - Days::new(u64::from(days.max(1) - 1)))
        }
    }
}

/// The `generate-events` job: write to `output` (atomically) or stdout. A
/// closed stdout pipe (`| head`) ends the run successfully.
pub fn run(
    opts: &GenerateOptions,
    output: Option<&std::path::Path>,
) -> Result<cronlytics::job::JobOutcome> {
    let summary = match output {
        Some(path) => {
            let mut summary = GenerateSummary::default();
            cronlytics::artifacts::write_atomic(path, |w| {
                summary = generate(opts, w)?;
                Ok(())
            })?;
            summary
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match generate(opts, &mut out) {
                Ok(s) => s,
                Err(e) if is_broken_pipe(&e) => GenerateSummary::default(),
                Err(e) => return Err(e.context("cannot write the events to stdout")),
            }
        }
    };
    Ok(cronlytics::job::JobOutcome::ok(
        summary.events,
        format!(
            "generated {} {} ({} sessions, {} orders, revenue {}) for {} days from {}",
            cronlytics::util::thousands(summary.events),
            match opts.format {
                OutputFormat::Ndjson => "events",
                OutputFormat::AccessLog => "access-log lines",
            },
            cronlytics::util::thousands(summary.sessions),
            cronlytics::util::thousands(summary.orders),
            cronlytics::export::cents_to_units(summary.revenue_cents),
            opts.days,
            opts.start
        ),
    ))
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn validate(opts: &GenerateOptions) -> Result<()> {
    ensure!(
        !opts.sites.is_empty(),
        "no sites to generate: give at least one site name"
    );
    ensure!(
        opts.sites.len() <= 255,
        "too many sites ({}): at most 255 are supported",
        opts.sites.len()
    );
    for (i, name) in opts.sites.iter().enumerate() {
        ensure!(
            cronlytics::store::encoding::is_site_name(name),
            "site name \"{name}\" is invalid: use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
        );
        ensure!(
            !opts.sites[..i].contains(name),
            "site \"{name}\" is listed twice: give each site once"
        );
    }
    ensure!(
        !(opts.format == OutputFormat::AccessLog && opts.late_fraction > 0.0),
        "--late-fraction is for NDJSON: a web server writes its access log in time order"
    );
    ensure!(
        opts.late_fraction.is_finite() && (0.0..=1.0).contains(&opts.late_fraction),
        "late fraction {} is out of range: use a number from 0 to 1",
        opts.late_fraction
    );
    ensure!(
        opts.events_per_day <= 1_000_000_000,
        "{} events per day is too many: at most 1000000000 are supported",
        opts.events_per_day
    );
    let end = opts
        .start
        .checked_add_days(Days::new(u64::from(opts.days)))
        .filter(|end| opts.start.year() >= 1970 && end.year() <= 9999)
        .with_context(|| {
            format!(
                "dates from {} for {} days are out of range: stay within 1970 to 9999",
                opts.start, opts.days
            )
        })?;
    for incident in &opts.incidents {
        if let Some(site) = &incident.site {
            ensure!(
                opts.sites.contains(site),
                "incident {incident} names site \"{site}\", which is not generated: use one of {}",
                opts.sites.join(", ")
            );
        }
        ensure!(
            incident.date >= opts.start && incident.date < end,
            "incident {incident} is outside the generated days {} to {}: move it or widen the range",
            opts.start,
            end - Days::new(1)
        );
        if let IncidentKind::Traffic(f) | IncidentKind::BotFlood(f) = incident.kind {
            ensure!(
                f.is_finite() && f >= 0.0,
                "incident {incident} has a bad factor: use a number >= 0"
            );
        }
    }
    Ok(())
}
