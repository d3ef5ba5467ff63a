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

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use anyhow::{Context, Result, ensure};
use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, Exp1, LogNormal, Normal};

/// A planted anomaly: something unusual that happens on one local day.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The site it hits; `None` hits every site.
    pub site: Option<String>,
    /// The local calendar date (in `GenerateOptions::tz`) it happens on.
    pub date: NaiveDate,
    /// What happens.
    pub kind: IncidentKind,
}

/// What an [`Incident`] does to its day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IncidentKind {
    /// No events at all that day (tracking was down).
    Outage,
    /// Sessions are multiplied by the factor: 0.35 is a dip, 2.5 a spike.
    Traffic(f64),
    /// No orders that day: sessions that would have bought stop at checkout.
    CheckoutBreak,
    /// Extra bot sessions, the factor times the day's normal sessions: one
    /// pageview each, no referrer, never an order.
    BotFlood(f64),
}

/// Why an incident spec did not parse; the message is one sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIncidentError(String);

impl fmt::Display for ParseIncidentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseIncidentError {}

const INCIDENT_FORMS: &str = "expected DATE:KIND[:FACTOR][@SITE] with DATE as YYYY-MM-DD and \
     KIND one of outage, traffic:FACTOR, checkout-break, bot-flood:FACTOR \
     (e.g. 2026-11-10:traffic:0.35@shop)";

impl FromStr for Incident {
    type Err = ParseIncidentError;

    /// Parses `DATE:KIND[:FACTOR][@SITE]`, e.g. `2026-11-10:outage`,
    /// `2026-11-10:traffic:0.35@shop`, `2026-11-12:checkout-break`,
    /// `2026-11-14:bot-flood:3`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |what: String| {
            ParseIncidentError(format!(
                "invalid incident \"{spec}\": {what}; {INCIDENT_FORMS}"
            ))
        };
        let (body, site) = match spec.split_once('@') {
            Some((body, site)) => {
                if !valid_site_name(site) {
                    return Err(bad(format!(
                        "site \"{site}\" must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
                    )));
                }
                (body, Some(site.to_string()))
            }
            None => (spec, None),
        };
        let mut parts = body.split(':');
        let date_part = parts.next().unwrap_or_default();
        let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
            .map_err(|_| bad(format!("\"{date_part}\" is not a date")))?;
        let kind_part = parts
            .next()
            .ok_or_else(|| bad("the kind is missing".to_string()))?;
        let factor_part = parts.next();
        if let Some(extra) = parts.next() {
            return Err(bad(format!("\"{extra}\" is one part too many")));
        }
        let factor = |name: &str| -> Result<f64, ParseIncidentError> {
            let text = factor_part.ok_or_else(|| bad(format!("{name} needs a factor")))?;
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 => Ok(f),
                _ => Err(bad(format!("factor \"{text}\" is not a number >= 0"))),
            }
        };
        let no_factor = |name: &str| match factor_part {
            Some(text) => Err(bad(format!(
                "{name} takes no factor, but \"{text}\" was given"
            ))),
            None => Ok(()),
        };
        let kind = match kind_part {
            "outage" => no_factor("outage").map(|_| IncidentKind::Outage)?,
            "checkout-break" => no_factor("checkout-break").map(|_| IncidentKind::CheckoutBreak)?,
            "traffic" => IncidentKind::Traffic(factor("traffic")?),
            "bot-flood" => IncidentKind::BotFlood(factor("bot-flood")?),
            other => return Err(bad(format!("kind \"{other}\" is unknown"))),
        };
        Ok(Incident { site, date, kind })
    }
}

impl fmt::Display for Incident {
    /// The same `DATE:KIND[:FACTOR][@SITE]` form that `from_str` reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.date.format("%Y-%m-%d"))?;
        match self.kind {
            IncidentKind::Outage => f.write_str("outage")?,
            IncidentKind::Traffic(x) => write!(f, "traffic:{x}")?,
            IncidentKind::CheckoutBreak => f.write_str("checkout-break")?,
            IncidentKind::BotFlood(x) => write!(f, "bot-flood:{x}")?,
        }
        match &self.site {
            Some(site) => write!(f, "@{site}"),
            None => Ok(()),
        }
    }
}

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
    /// Anomalies to plant; each must name a generated site and date.
    pub incidents: Vec<Incident>,
    /// Share (0..=1) of events emitted late, a minute to four hours after
    /// their `ts`, behind later events.
    pub late_fraction: f64,
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
            incidents: Vec::new(),
            late_fraction: 0.0,
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
    let mut writer = NdjsonWriter::new(out, opts.with_ids);
    let mut summary = GenerateSummary::default();
    let mut batch: Vec<Event> = Vec::new();
    let mut carry: Vec<Event> = Vec::new();
    let mid = (f64::from(opts.days) - 1.0) / 2.0;

    for day in 0..opts.days {
        let date = opts.start + Days::new(u64::from(day));
        let day_start = start_of_day(date, opts.tz);
        let day_end = start_of_day(date + Days::new(1), opts.tz);
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
    writer.finish()?;
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
        Some(text) => crate::time::parse_date("--start", text)
            .map_err(|e| crate::job::usage(format!("{e:#}"))),
        None => {
            let yesterday = crate::time::yesterday(now, tz);
            Ok(yesterday - Days::new(u64::from(days.max(1) - 1)))
        }
    }
}

/// The `generate-events` job: write to `output` (atomically) or stdout. A
/// closed stdout pipe (`| head`) ends the run successfully.
pub fn run(
    opts: &GenerateOptions,
    output: Option<&std::path::Path>,
) -> Result<crate::job::JobOutcome> {
    let summary = match output {
        Some(path) => {
            let mut summary = GenerateSummary::default();
            crate::artifacts::write_atomic(path, |w| {
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
    Ok(crate::job::JobOutcome::ok(
        summary.events,
        format!(
            "generated {} events ({} sessions, {} orders, revenue {}) for {} days from {}",
            crate::util::thousands(summary.events),
            crate::util::thousands(summary.sessions),
            crate::util::thousands(summary.orders),
            crate::export::cents_to_units(summary.revenue_cents),
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
            valid_site_name(name),
            "site name \"{name}\" is invalid: use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
        );
        ensure!(
            !opts.sites[..i].contains(name),
            "site \"{name}\" is listed twice: give each site once"
        );
    }
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

fn valid_site_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The longest session, in events; longer draws are redrawn.
const MAX_SESSION_EVENTS: u32 = 15;
/// Sessions are squeezed into this span so they stay within one visit.
const MAX_SESSION_SPAN_MS: f64 = 29.0 * 60_000.0;
const HOUR_MS: i64 = 3_600_000;
/// Standard deviation of the day-to-day noise, in log space.
const DAILY_NOISE: f64 = 0.06;

/// Where a visit came from; decides landing-page query strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Direct,
    Search,
    Social,
    News,
    Newsletter,
    Other,
}

/// Referrer strings with their source and weight within the source. `None`
/// leaves the field out; most direct visits do, some send an empty string.
const REFERRERS: &[(Option<&str>, Source, f64)] = &[
    (None, Source::Direct, 0.8),
    (Some(""), Source::Direct, 0.2),
    (Some("https://www.google.com/"), Source::Search, 0.5),
    (
        Some("https://www.google.com/search?q=best+price"),
        Source::Search,
        0.08,
    ),
    (
        Some("https://www.google.com/search?q=how+to+x"),
        Source::Search,
        0.07,
    ),
    (Some("https://www.google.co.uk/"), Source::Search, 0.06),
    (
        Some("https://www.bing.com/search?q=review"),
        Source::Search,
        0.12,
    ),
    (Some("https://duckduckgo.com/"), Source::Search, 0.1),
    (Some("https://search.yahoo.com/"), Source::Search, 0.04),
    (Some("https://www.ecosia.org/"), Source::Search, 0.03),
    (Some("https://t.co/x7Yq2Lm9"), Source::Social, 0.2),
    (Some("https://www.facebook.com/"), Source::Social, 0.15),
    (
        Some("https://l.facebook.com/l.php?u=x"),
        Source::Social,
        0.1,
    ),
    (
        Some("https://www.reddit.com/r/programming/"),
        Source::Social,
        0.15,
    ),
    (Some("https://www.linkedin.com/feed/"), Source::Social, 0.1),
    (Some("android-app://com.slack"), Source::Social, 0.1),
    (Some("https://www.instagram.com/"), Source::Social, 0.1),
    (Some("https://www.youtube.com/"), Source::Social, 0.1),
    (
        Some("https://news.ycombinator.com/item?id=1"),
        Source::News,
        0.45,
    ),
    (Some("https://news.ycombinator.com/"), Source::News, 0.2),
    (Some("https://lobste.rs/s/abc123"), Source::News, 0.15),
    (
        Some("https://www.producthunt.com/posts/x"),
        Source::News,
        0.2,
    ),
    (Some("newsletter"), Source::Newsletter, 0.7),
    (Some("email"), Source::Newsletter, 0.3),
    (Some("https://github.com/"), Source::Other, 0.4),
    (
        Some("https://stackoverflow.com/questions/123"),
        Source::Other,
        0.3,
    ),
    (
        Some("https://en.wikipedia.org/wiki/Cron"),
        Source::Other,
        0.3,
    ),
];

/// Query strings appended to some paths; index 0 is none.
const QUERIES: &[&str] = &[
    "",
    "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly",
    "?utm_source=social&utm_medium=referral",
    "?utm_source=news",
    "?page=2",
    "?sort=price_asc",
    "?ref=bookmark",
];

/// What makes a kind of site look like itself.
struct Profile {
    /// Relative size among the sites.
    weight: f64,
    /// Traffic by local weekday, Monday first (normalised to mean 1).
    weekly: [f64; 7],
    /// Traffic by local hour.
    diurnal: [f64; 24],
    /// Growth per day, in log space.
    trend_per_day: f64,
    /// Mean of the geometric number of events after the first.
    mean_extra_events: f64,
    /// Share of non-landing events that are custom events.
    custom_event_share: f64,
    /// Share of sessions that end in an order.
    conversion: f64,
    /// Converting sessions have at least this many events.
    min_converting_events: u32,
    revenue_median_cents: f64,
    /// Log-space spread of the order value.
    revenue_sigma: f64,
    /// Share of sessions by a visitor seen before.
    returning_share: f64,
    /// Weights of direct, search, social, news, newsletter, other.
    source_mix: [f64; 6],
    /// Custom event names and weights; the first is the step before checkout.
    event_names: &'static [(&'static str, f64)],
    /// The page just before an order; also where broken checkouts end.
    checkout_path: &'static str,
    paths: fn() -> Vec<String>,
}

const SHOP: Profile = Profile {
    weight: 5.0,
    weekly: [0.95, 0.92, 0.94, 0.96, 1.0, 1.2, 1.25],
    diurnal: [
        2.0, 1.2, 0.8, 0.6, 0.5, 0.6, 1.2, 2.5, 3.5, 4.0, 4.2, 4.5, 5.0, 4.8, 4.5, 4.5, 4.7, 5.0,
        5.8, 6.8, 7.2, 6.5, 4.8, 3.2,
    ],
    trend_per_day: 0.002,
    mean_extra_events: 3.6,
    custom_event_share: 0.15,
    conversion: 0.025,
    min_converting_events: 3,
    revenue_median_cents: 4000.0,
    revenue_sigma: 0.75,
    returning_share: 0.28,
    source_mix: [40.0, 32.0, 15.0, 2.0, 8.0, 3.0],
    event_names: &[
        ("add_to_cart", 40.0),
        ("search", 25.0),
        ("product_zoom", 15.0),
        ("wishlist_add", 10.0),
        ("newsletter_signup", 5.0),
        ("coupon_applied", 5.0),
    ],
    checkout_path: "/checkout",
    paths: shop_paths,
};

const BLOG: Profile = Profile {
    weight: 3.0,
    weekly: [1.05, 1.08, 1.07, 1.05, 0.98, 0.85, 0.9],
    diurnal: [
        1.5, 1.0, 0.7, 0.5, 0.5, 0.8, 1.8, 3.5, 5.0, 5.5, 5.2, 5.0, 5.5, 5.2, 4.8, 4.5, 4.2, 4.0,
        3.8, 3.8, 3.6, 3.2, 2.6, 2.0,
    ],
    trend_per_day: -0.001,
    mean_extra_events: 2.8,
    custom_event_share: 0.3,
    conversion: 0.002,
    min_converting_events: 2,
    revenue_median_cents: 1500.0,
    revenue_sigma: 0.5,
    returning_share: 0.25,
    source_mix: [35.0, 25.0, 18.0, 12.0, 7.0, 3.0],
    event_names: &[
        ("donate_click", 2.0),
        ("scroll_75", 30.0),
        ("share", 25.0),
        ("newsletter_signup", 20.0),
        ("copy_code", 15.0),
        ("comment", 8.0),
    ],
    checkout_path: "/support",
    paths: blog_paths,
};

const SAAS: Profile = Profile {
    weight: 2.0,
    weekly: [1.15, 1.18, 1.16, 1.12, 1.0, 0.62, 0.6],
    diurnal: [
        0.6, 0.4, 0.3, 0.3, 0.3, 0.5, 1.0, 2.5, 5.0, 6.5, 7.0, 7.0, 6.0, 6.5, 7.0, 6.8, 6.0, 4.5,
        3.0, 2.2, 1.8, 1.5, 1.2, 0.9,
    ],
    trend_per_day: 0.004,
    mean_extra_events: 4.2,
    custom_event_share: 0.25,
    conversion: 0.008,
    min_converting_events: 4,
    revenue_median_cents: 12000.0,
    revenue_sigma: 0.6,
    returning_share: 0.4,
    source_mix: [45.0, 25.0, 8.0, 8.0, 6.0, 8.0],
    event_names: &[
        ("upgrade_click", 5.0),
        ("login", 30.0),
        ("feature_used", 25.0),
        ("signup", 12.0),
        ("export", 10.0),
        ("trial_start", 8.0),
        ("invite_sent", 8.0),
    ],
    checkout_path: "/billing",
    paths: saas_paths,
};

/// `shop`, `blog` and `saas` by name; other names take the three in turn.
fn profile_for(name: &str, index: usize) -> &'static Profile {
    match name {
        "shop" => &SHOP,
        "blog" => &BLOG,
        "saas" => &SAAS,
        _ => [&SHOP, &BLOG, &SAAS][index % 3],
    }
}

const TOPICS: &[&str] = &[
    "cron-jobs",
    "time-zones",
    "sqlite-indexes",
    "rust-errors",
    "backups",
    "dashboards",
    "caching",
    "logging",
    "testing",
    "deploys",
    "queues",
    "retries",
    "metrics",
    "alerts",
    "migrations",
    "json",
    "csv",
    "rate-limits",
    "sessions",
    "pagination",
    "search",
    "webhooks",
    "oauth",
    "docker",
    "linux",
    "git",
    "shell-scripts",
    "monitoring",
    "performance",
    "memory",
];

// Catalogs list pages roughly from most to least popular, because the page
// sampler gives rank k a weight of 1/k.

fn shop_paths() -> Vec<String> {
    let mut paths: Vec<String> = ["/", "/products", "/sale", "/search", "/cart"]
        .map(String::from)
        .to_vec();
    let categories = [
        "shoes", "shirts", "bags", "hats", "socks", "jackets", "gifts", "kids",
    ];
    let statics = [
        "/about",
        "/contact",
        "/shipping",
        "/returns",
        "/faq",
        "/checkout",
    ];
    for k in 0..280 {
        paths.push(format!("/products/{}", (k * 97) % 280 + 1));
        if k % 35 == 3 {
            paths.push(format!("/category/{}", categories[k / 35]));
        }
        if k % 45 == 10 {
            paths.push(statics[(k / 45) % statics.len()].to_string());
        }
    }
    paths
}

fn blog_paths() -> Vec<String> {
    let mut paths: Vec<String> = ["/", "/blog", "/newsletter"].map(String::from).to_vec();
    let prefixes = [
        "how-to",
        "why",
        "a-guide-to",
        "notes-on",
        "lessons-from",
        "debugging",
        "scaling",
        "hello",
    ];
    for k in 0..240 {
        let topic = TOPICS[(k * 7) % TOPICS.len()];
        // 7 is coprime with the 30 topics, so each block of 30 posts covers
        // every topic once under its own prefix: all slugs differ.
        paths.push(format!("/blog/{}-{topic}", prefixes[k / TOPICS.len()]));
        if k % 20 == 5 {
            paths.push(format!("/tags/{}", TOPICS[k / 20]));
        }
    }
    paths.extend(["/about", "/support", "/archive", "/blog/page/2"].map(String::from));
    paths
}

fn saas_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        "/",
        "/pricing",
        "/login",
        "/app/dashboard",
        "/features",
        "/signup",
        "/docs",
    ]
    .map(String::from)
    .to_vec();
    let features = [
        "reports",
        "alerts",
        "exports",
        "api",
        "teams",
        "integrations",
        "sso",
        "audit-log",
    ];
    for k in 0..120 {
        paths.push(format!("/app/projects/{}", (k * 37) % 120 + 1));
        if k < TOPICS.len() {
            paths.push(format!("/docs/{}", TOPICS[k]));
        }
        if k % 4 == 1 {
            paths.push(format!("/docs/api/{}", TOPICS[k / 4]));
        }
        if k % 15 == 2 {
            paths.push(format!("/features/{}", features[k / 15]));
        }
        if k % 4 == 3 {
            paths.push(format!("/blog/{}", TOPICS[(k / 4) % TOPICS.len()]));
        }
    }
    paths.extend(
        [
            "/app/settings",
            "/billing",
            "/changelog",
            "/status",
            "/security",
        ]
        .map(String::from),
    );
    paths
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pageview,
    Custom,
    Order,
}

/// One event, compact so that a day of a million fits easily in memory.
#[derive(Debug, Clone, Copy)]
struct Event {
    ts_ms: i64,
    /// When it is written: `ts_ms`, or later for late events.
    emit_ms: i64,
    session: u64,
    visitor: u64,
    revenue_cents: u32,
    /// Path index for pageviews, name index for custom events.
    detail: u16,
    site: u8,
    kind: Kind,
    /// Position in its session, for the id.
    seq: u8,
    /// Index into `REFERRERS`.
    referrer: u8,
    /// Index into `QUERIES`.
    query: u8,
}

/// The facts about one local day that every site shares.
struct DayContext {
    index: u32,
    start_ms: i64,
    len_ms: i64,
    weekday: usize,
    /// Days from the middle of the range, so the trend averages out.
    trend_offset: f64,
    /// Local hour of each elapsed hour of the day (23 to 25 of them).
    hours: Vec<(u32, i64)>,
}

/// The incidents of one site and day, folded together.
#[derive(Debug, Clone, Copy)]
struct DayEffects {
    outage: bool,
    traffic: f64,
    checkout_break: bool,
    bot_flood: f64,
}

fn day_effects(incidents: &[Incident], site: &str, date: NaiveDate) -> DayEffects {
    let mut effects = DayEffects {
        outage: false,
        traffic: 1.0,
        checkout_break: false,
        bot_flood: 0.0,
    };
    for incident in incidents {
        if incident.date != date || incident.site.as_deref().is_some_and(|s| s != site) {
            continue;
        }
        match incident.kind {
            IncidentKind::Outage => effects.outage = true,
            IncidentKind::Traffic(f) => effects.traffic *= f,
            IncidentKind::CheckoutBreak => effects.checkout_break = true,
            IncidentKind::BotFlood(f) => effects.bot_flood += f,
        }
    }
    effects
}

/// One site's generator: its tables and its visitor pool.
struct SiteGen {
    name: String,
    index: u8,
    profile: &'static Profile,
    /// Sessions on an average day.
    base_sessions: f64,
    ln_continue: f64,
    paths: Vec<String>,
    path_table: AliasTable,
    referrer_table: AliasTable,
    event_table: AliasTable,
    checkout_path: u16,
    revenue: LogNormal<f64>,
    /// Visitors ever created; indexes below it are returning candidates.
    visitors_created: u64,
    /// How far back (in visitors) a returning visitor is drawn from.
    visitor_window: u64,
    /// `","site":"<name>","kind":"`, written with every event.
    site_field: Vec<u8>,
}

impl SiteGen {
    fn new(name: &str, index: usize, events_per_weight: f64) -> Self {
        let profile = profile_for(name, index);
        let mut paths = (profile.paths)();
        let checkout_path = match paths.iter().position(|p| p == profile.checkout_path) {
            Some(i) => i,
            None => {
                paths.push(profile.checkout_path.to_string());
                paths.len() - 1
            }
        };
        let ranks: Vec<f64> = (0..paths.len())
            .map(|k| 1.0 / (k as f64 + 1.0).powf(1.05))
            .collect();
        let referrer_weights: Vec<f64> = REFERRERS
            .iter()
            .map(|&(_, source, w)| w * profile.source_mix[source as usize])
            .collect();
        let names: Vec<f64> = profile.event_names.iter().map(|&(_, w)| w).collect();
        let base_sessions =
            events_per_weight * profile.weight / expected_events_per_session(profile);
        // About two weeks of new visitors, pre-filled so day one has regulars.
        let visitor_window =
            (base_sessions * (1.0 - profile.returning_share) * 14.0).max(1.0) as u64;
        SiteGen {
            name: name.to_string(),
            index: index as u8,
            profile,
            base_sessions,
            ln_continue: (profile.mean_extra_events / (1.0 + profile.mean_extra_events)).ln(),
            path_table: AliasTable::new(&ranks),
            paths,
            referrer_table: AliasTable::new(&referrer_weights),
            event_table: AliasTable::new(&names),
            checkout_path: checkout_path as u16,
            revenue: LogNormal::new(profile.revenue_median_cents.ln(), profile.revenue_sigma)
                .expect("valid log-normal parameters"),
            visitors_created: visitor_window,
            visitor_window,
            site_field: format!("\",\"site\":\"{name}\",\"kind\":\"").into_bytes(),
        }
    }

    /// Appends one day's events to `batch`; returns the number of sessions.
    fn generate_day(
        &mut self,
        ctx: &DayContext,
        effects: DayEffects,
        seed_key: u64,
        rng: &mut StdRng,
        batch: &mut Vec<Event>,
    ) -> u64 {
        let p = self.profile;
        let noise: f64 = Normal::new(0.0, DAILY_NOISE)
            .expect("valid normal")
            .sample(rng);
        if effects.outage {
            return 0;
        }
        let mean = self.base_sessions
            * p.weekly[ctx.weekday]
            // Capped so that ranges of years stay mild rather than explode.
            * ((p.trend_per_day * ctx.trend_offset).clamp(-0.7, 0.7) + noise).exp()
            * effects.traffic;
        let sessions = (mean + rng.random::<f64>()).floor() as u64;
        let weights: Vec<f64> = ctx
            .hours
            .iter()
            .map(|&(hour, len)| p.diurnal[hour as usize] * len as f64)
            .collect();
        let hour_table = AliasTable::new(&weights);
        let returning_from = self.visitors_created;
        let site_bits = u64::from(self.index) << 56 | u64::from(ctx.index) << 32;
        let mut offsets = Vec::with_capacity(MAX_SESSION_EVENTS as usize);

        for i in 0..sessions {
            let bucket = hour_table.sample(rng) as i64;
            let bucket_len = ctx.hours[bucket as usize].1;
            let start = bucket * HOUR_MS + rng.random_range(0..bucket_len);
            let visitor = if rng.random_bool(p.returning_share) {
                // Recent visitors come back more often than old ones.
                let u: f64 = rng.random();
                let back = ((self.visitor_window as f64 * u * u) as u64).min(returning_from - 1);
                returning_from - 1 - back
            } else {
                self.visitors_created += 1;
                self.visitors_created - 1
            };
            let session = mix64(seed_key ^ site_bits ^ i);
            let visitor = mix64(seed_key ^ u64::from(self.index) << 56 ^ 1 << 55 ^ visitor);
            self.session(
                ctx,
                effects,
                start,
                session,
                visitor,
                rng,
                &mut offsets,
                batch,
            );
        }

        let bots = (sessions as f64 * effects.bot_flood).round() as u64;
        for i in 0..bots {
            let ts_ms = ctx.start_ms + rng.random_range(0..ctx.len_ms);
            let path = rng.random_range(0..self.paths.len()) as u16;
            let bits = site_bits ^ 1 << 54 ^ i;
            batch.push(Event {
                ts_ms,
                emit_ms: ts_ms,
                session: mix64(seed_key ^ bits),
                visitor: mix64(seed_key ^ bits ^ 1 << 55),
                revenue_cents: 0,
                detail: path,
                site: self.index,
                kind: Kind::Pageview,
                seq: 0,
                referrer: 0,
                query: 0,
            });
        }
        sessions + bots
    }

    /// Appends one session's events, starting `start` ms into the day.
    #[allow(clippy::too_many_arguments)]
    fn session(
        &self,
        ctx: &DayContext,
        effects: DayEffects,
        start: i64,
        session: u64,
        visitor: u64,
        rng: &mut StdRng,
        offsets: &mut Vec<f64>,
        batch: &mut Vec<Event>,
    ) {
        let p = self.profile;
        let mut len = loop {
            let u = 1.0 - rng.random::<f64>();
            let extra = (u.ln() / self.ln_continue) as u32;
            if extra < MAX_SESSION_EVENTS {
                break extra + 1;
            }
        };
        let converts = rng.random_bool(p.conversion);
        if converts {
            len = len.max(p.min_converting_events);
        }
        let referrer = self.referrer_table.sample(rng) as u8;
        let landing_query = match REFERRERS[referrer as usize].1 {
            Source::Newsletter => 1,
            Source::Social if rng.random_bool(0.3) => 2,
            Source::News if rng.random_bool(0.2) => 3,
            Source::Direct if rng.random_bool(0.03) => 6,
            _ => 0,
        };

        // Kinds first, then gaps that fit them: a custom event follows its
        // page within seconds, a page is read for tens of seconds.
        let first = batch.len();
        offsets.clear();
        let mut t = 0.0;
        for seq in 0..len {
            let kind;
            let mut detail = 0;
            let mut revenue_cents = 0;
            if converts && seq + 1 == len {
                if effects.checkout_break {
                    kind = Kind::Pageview; // the order fails; the buyer reloads checkout
                    detail = self.checkout_path;
                } else {
                    kind = Kind::Order;
                    revenue_cents = self.revenue.sample(rng).round().clamp(1.0, 1e9) as u32;
                }
            } else if converts && seq + 2 == len {
                kind = Kind::Pageview;
                detail = self.checkout_path;
            } else if converts && seq + 3 == len && seq > 0 {
                kind = Kind::Custom; // the funnel step, e.g. add_to_cart
            } else if seq > 0 && rng.random_bool(p.custom_event_share) {
                kind = Kind::Custom;
                detail = self.event_table.sample(rng) as u16;
            } else {
                kind = Kind::Pageview;
                detail = self.path_table.sample(rng) as u16;
            }
            let query = match kind {
                Kind::Pageview if seq == 0 => landing_query,
                Kind::Pageview if rng.random_bool(0.03) => 4 + rng.random_range(0..2u8),
                _ => 0,
            };
            if seq > 0 {
                let e: f64 = Exp1.sample(rng);
                t += match kind {
                    Kind::Custom => 1_000.0 + e * 8_000.0,
                    Kind::Pageview => 3_000.0 + e * 45_000.0,
                    Kind::Order => 15_000.0 + e * 60_000.0,
                };
            }
            offsets.push(t);
            batch.push(Event {
                ts_ms: 0,
                emit_ms: 0,
                session,
                visitor,
                revenue_cents,
                detail,
                site: self.index,
                kind,
                seq: seq as u8,
                referrer,
                query,
            });
        }
        // Squeeze long sessions into one visit and keep the last event inside
        // the day, so that each day's events belong to that local day.
        let scale = if t > MAX_SESSION_SPAN_MS {
            MAX_SESSION_SPAN_MS / t
        } else {
            1.0
        };
        let span_ms = (t * scale) as i64;
        let start = start.min(ctx.len_ms - 1 - span_ms).max(0);
        for (event, &offset) in batch[first..].iter_mut().zip(offsets.iter()) {
            event.ts_ms = ctx.start_ms + start + (offset * scale) as i64;
            event.emit_ms = event.ts_ms;
        }
    }
}

/// Mean events per session of a profile, for turning events into sessions.
fn expected_events_per_session(p: &Profile) -> f64 {
    let q = p.mean_extra_events / (1.0 + p.mean_extra_events);
    let (mut norm, mut plain, mut converting) = (0.0, 0.0, 0.0);
    for len in 1..=MAX_SESSION_EVENTS {
        let w = q.powi(len as i32 - 1);
        norm += w;
        plain += w * f64::from(len);
        converting += w * f64::from(len.max(p.min_converting_events));
    }
    ((1.0 - p.conversion) * plain + p.conversion * converting) / norm
}

/// Makes `fraction` of the events late by a minute to four hours
/// (log-uniform: most are a little late, a few very late).
fn delay_some(events: &mut [Event], fraction: f64, rng: &mut StdRng) {
    let (lo, hi) = ((60_000f64).ln(), ((4 * HOUR_MS) as f64).ln());
    for event in events {
        if rng.random::<f64>() < fraction {
            event.emit_ms = event.ts_ms + (lo + (hi - lo) * rng.random::<f64>()).exp() as i64;
        }
    }
}

/// Sorts by emission time; ties keep their order in the batch, so the result
/// does not depend on the sort algorithm.
fn sort_for_emission(events: &mut [Event], base_ms: i64) {
    // Pack into one u64: 28 bits of ms after `base_ms` (74 h) and 36 of position.
    let mut keyed: Vec<(u64, Event)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let rel = (e.emit_ms - base_ms) as u64;
            debug_assert!(rel < 1 << 28 && (i as u64) < 1 << 36);
            (rel << 36 | i as u64, *e)
        })
        .collect();
    keyed.sort_unstable_by_key(|&(key, _)| key);
    for (slot, (_, e)) in events.iter_mut().zip(keyed) {
        *slot = e;
    }
}

/// The UTC instant a local day starts. Where midnight does not exist (a DST
/// jump at 00:00) the day starts at the first local time that does.
fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight is a valid time");
    (0..=24 * 4)
        .find_map(|quarter| {
            tz.from_local_datetime(&(midnight + Duration::minutes(15 * quarter)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// The local hour and length of each elapsed hour of the day, so the daily
/// rhythm follows local clocks on 23- and 25-hour days too.
fn local_hours(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> Vec<(u32, i64)> {
    let len = (end - start).num_milliseconds();
    (0..(len + HOUR_MS - 1) / HOUR_MS)
        .map(|b| {
            let bucket_len = HOUR_MS.min(len - b * HOUR_MS);
            let middle = start + Duration::milliseconds(b * HOUR_MS + bucket_len / 2);
            (middle.with_timezone(&tz).hour(), bucket_len)
        })
        .collect()
}

/// SplitMix64's finaliser: a bijection on u64, so distinct inputs give
/// distinct ids, and it scatters seeds well.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Walker's alias method: O(1) sampling from a fixed discrete distribution,
/// cheaper than binary search in the hot loop.
struct AliasTable {
    /// Chance (scaled to 2^32) of keeping slot i rather than its alias.
    keep: Vec<u32>,
    alias: Vec<u32>,
}

impl AliasTable {
    fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let sum: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / sum).collect();
        let mut keep = vec![u32::MAX; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            keep[s] = (scaled[s] * 4_294_967_296.0) as u32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        AliasTable { keep, alias }
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let r = rng.next_u64();
        let i = (((r >> 32) * self.keep.len() as u64) >> 32) as usize;
        if (r as u32) < self.keep[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

/// Formats events as NDJSON into a large buffer and hands it to the output
/// in big writes.
struct NdjsonWriter<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    with_ids: bool,
    /// UTC day number and its `YYYY-MM-DDT` text, recomputed on change.
    date_cache: (i64, [u8; 11]),
}

const FLUSH_AT: usize = 1 << 20;

impl<'a> NdjsonWriter<'a> {
    fn new(out: &'a mut dyn Write, with_ids: bool) -> Self {
        NdjsonWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            with_ids,
            date_cache: (i64::MIN, [0; 11]),
        }
    }

    fn write_events(
        &mut self,
        events: &[Event],
        sites: &[SiteGen],
        summary: &mut GenerateSummary,
    ) -> Result<()> {
        for event in events {
            self.push_event(event, &sites[event.site as usize]);
            summary.events += 1;
            if event.kind == Kind::Order {
                summary.orders += 1;
                summary.revenue_cents += u64::from(event.revenue_cents);
            }
            if self.buf.len() >= FLUSH_AT {
                self.flush_buf()?;
            }
        }
        Ok(())
    }

    fn push_event(&mut self, e: &Event, site: &SiteGen) {
        self.buf.extend_from_slice(b"{\"ts\":\"");
        self.push_ts(e.ts_ms);
        let b = &mut self.buf;
        b.extend_from_slice(&site.site_field);
        b.extend_from_slice(match e.kind {
            Kind::Pageview => b"pageview",
            Kind::Custom => b"event",
            Kind::Order => b"order",
        });
        b.extend_from_slice(b"\",\"session\":\"");
        push_hex(b, e.session);
        b.extend_from_slice(b"\",\"visitor\":\"");
        push_hex(b, e.visitor);
        if self.with_ids {
            b.extend_from_slice(b"\",\"id\":\"");
            b.extend_from_slice(site.name.as_bytes());
            b.push(b'-');
            push_hex(b, e.session);
            b.push(b'-');
            push_decimal(b, u64::from(e.seq));
        }
        match e.kind {
            Kind::Pageview => {
                b.extend_from_slice(b"\",\"path\":\"");
                b.extend_from_slice(site.paths[e.detail as usize].as_bytes());
                b.extend_from_slice(QUERIES[e.query as usize].as_bytes());
                b.push(b'"');
                if let Some(referrer) = REFERRERS[e.referrer as usize].0 {
                    b.extend_from_slice(b",\"referrer\":\"");
                    b.extend_from_slice(referrer.as_bytes());
                    b.push(b'"');
                }
            }
            Kind::Custom => {
                b.extend_from_slice(b"\",\"name\":\"");
                b.extend_from_slice(site.profile.event_names[e.detail as usize].0.as_bytes());
                b.push(b'"');
            }
            Kind::Order => {
                b.extend_from_slice(b"\",\"revenue_cents\":");
                push_decimal(b, u64::from(e.revenue_cents));
            }
        }
        b.extend_from_slice(b"}\n");
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` without chrono in the hot loop: the date
    /// part is cached per UTC day, the time is plain digit arithmetic.
    fn push_ts(&mut self, ms: i64) {
        let day = ms.div_euclid(86_400_000);
        if day != self.date_cache.0 {
            let (y, m, d) = civil_from_days(day);
            let mut text = [0u8; 11];
            let digits = format!("{y:04}-{m:02}-{d:02}T");
            text.copy_from_slice(digits.as_bytes());
            self.date_cache = (day, text);
        }
        self.buf.extend_from_slice(&self.date_cache.1);
        let in_day = ms.rem_euclid(86_400_000) as u32;
        let (secs, millis) = (in_day / 1000, in_day % 1000);
        let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
        let [h1, h2] = two(h);
        let [m1, m2] = two(mi);
        let [s1, s2] = two(s);
        self.buf.extend_from_slice(&[
            h1,
            h2,
            b':',
            m1,
            m2,
            b':',
            s1,
            s2,
            b'.',
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
            b'Z',
        ]);
    }

    fn flush_buf(&mut self) -> Result<()> {
        self.out
            .write_all(&self.buf)
            .context("could not write the generated events")?;
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.flush_buf()?;
        self.out
            .flush()
            .context("could not flush the generated events")
    }
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn push_hex(buf: &mut Vec<u8>, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 16];
    for (i, slot) in text.iter_mut().enumerate() {
        *slot = HEX[(v >> (60 - 4 * i) & 0xf) as usize];
    }
    buf.extend_from_slice(&text);
}

fn push_decimal(buf: &mut Vec<u8>, mut v: u64) {
    let mut text = [0u8; 20];
    let mut at = text.len();
    loop {
        at -= 1;
        text[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&text[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::{HashMap, HashSet};

    fn small() -> GenerateOptions {
        GenerateOptions {
            start: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            days: 14,
            events_per_day: 3_000,
            ..GenerateOptions::default()
        }
    }

    fn run(opts: &GenerateOptions) -> (Vec<u8>, GenerateSummary) {
        let mut out = Vec::new();
        let summary = generate(opts, &mut out).expect("generate succeeds");
        (out, summary)
    }

    fn events(opts: &GenerateOptions) -> Vec<Value> {
        let (out, _) = run(opts);
        out.split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).expect("every line is JSON"))
            .collect()
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn ts(event: &Value) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(event["ts"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc)
    }

    fn local_date(event: &Value, tz: Tz) -> NaiveDate {
        ts(event).with_timezone(&tz).date_naive()
    }

    fn on(events: &[Value], site: &str, day: NaiveDate, tz: Tz) -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["site"] == site && local_date(e, tz) == day)
            .cloned()
            .collect()
    }

    fn sessions(events: &[Value]) -> usize {
        events
            .iter()
            .map(|e| e["session"].as_str().unwrap())
            .collect::<HashSet<_>>()
            .len()
    }

    #[test]
    fn same_seed_same_bytes_and_another_seed_other_bytes() {
        let opts = small();
        assert_eq!(run(&opts), run(&opts));
        let other = GenerateOptions { seed: 7, ..small() };
        assert_ne!(run(&opts).0, run(&other).0);
    }

    #[test]
    fn every_line_has_the_fields_its_kind_needs() {
        let opts = GenerateOptions {
            late_fraction: 0.02,
            ..small()
        };
        let (out, summary) = run(&opts);
        let lines: Vec<&[u8]> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len() as u64, summary.events);
        let mut ids = HashSet::new();
        let (mut orders, mut revenue) = (0, 0);
        for line in lines {
            let e: Value = serde_json::from_slice(line).expect("valid JSON");
            let text = e["ts"].as_str().unwrap();
            assert_eq!(text.len(), 24, "{text}");
            assert!(text.ends_with('Z'), "{text}");
            let _ = ts(&e);
            assert!(opts.sites.iter().any(|s| e["site"] == s.as_str()));
            for field in ["session", "visitor", "id"] {
                let value = e[field].as_str().unwrap();
                assert!((1..=128).contains(&value.len()), "{field}: {value}");
            }
            assert!(
                ids.insert((e["site"].to_string(), e["id"].to_string())),
                "duplicate id"
            );
            match e["kind"].as_str().unwrap() {
                "pageview" => {
                    assert!(e["path"].as_str().unwrap().starts_with('/'));
                    assert!(e.get("referrer").is_none_or(Value::is_string));
                }
                "event" => assert!(!e["name"].as_str().unwrap().is_empty()),
                "order" => {
                    orders += 1;
                    revenue += e["revenue_cents"]
                        .as_u64()
                        .expect("revenue is an integer >= 0");
                }
                other => panic!("unexpected kind {other}"),
            }
        }
        assert!(orders > 0);
        assert_eq!((orders, revenue), (summary.orders, summary.revenue_cents));
    }

    #[test]
    fn ids_are_left_out_when_not_wanted() {
        let opts = GenerateOptions {
            with_ids: false,
            days: 2,
            ..small()
        };
        assert!(events(&opts).iter().all(|e| e.get("id").is_none()));
    }

    #[test]
    fn timestamps_ascend_without_late_events() {
        let times: Vec<_> = events(&small()).iter().map(ts).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn late_events_reorder_the_same_events() {
        let on_time = events(&small());
        let late = events(&GenerateOptions {
            late_fraction: 0.05,
            ..small()
        });
        let behind = late.windows(2).filter(|w| ts(&w[1]) < ts(&w[0])).count();
        assert!(behind > on_time.len() / 100, "{behind} events out of order");
        let key = |e: &Value| (ts(e), e["id"].as_str().unwrap().to_string());
        let mut late_keys: Vec<_> = late.iter().map(key).collect();
        let mut on_time_keys: Vec<_> = on_time.iter().map(key).collect();
        late_keys.sort();
        on_time_keys.sort();
        assert!(late_keys == on_time_keys, "lateness changed the events");
        // A few hours late at most.
        let mut latest = ts(&late[0]);
        for e in &late {
            latest = latest.max(ts(e));
            assert!(latest - ts(e) <= Duration::hours(4));
        }
    }

    #[test]
    fn volume_and_sessions_look_like_traffic() {
        let all = events(&small());
        let per_day = all.len() as f64 / 14.0;
        assert!(
            (2_500.0..3_500.0).contains(&per_day),
            "{per_day} events per day"
        );
        let mut by_site: HashMap<&str, Vec<&Value>> = HashMap::new();
        for e in &all {
            by_site
                .entry(e["site"].as_str().unwrap())
                .or_default()
                .push(e);
        }
        let (shop, blog, saas) = (
            by_site["shop"].len(),
            by_site["blog"].len(),
            by_site["saas"].len(),
        );
        assert!(shop > blog && blog > saas, "{shop} {blog} {saas}");
        let mean_len = all.len() as f64 / sessions(&all) as f64;
        assert!(
            (3.5..5.5).contains(&mean_len),
            "{mean_len} events per session"
        );

        let shop: Vec<Value> = by_site["shop"].iter().map(|e| (*e).clone()).collect();
        let buying: HashSet<_> = shop
            .iter()
            .filter(|e| e["kind"] == "order")
            .map(|e| &e["session"])
            .collect();
        let conversion = buying.len() as f64 / sessions(&shop) as f64;
        assert!(
            (0.015..0.04).contains(&conversion),
            "shop conversion {conversion}"
        );
        let mut revenue: Vec<u64> = shop
            .iter()
            .filter_map(|e| e["revenue_cents"].as_u64())
            .collect();
        revenue.sort();
        let median = revenue[revenue.len() / 2];
        assert!(
            (2_500..6_500).contains(&median),
            "shop median order {median}"
        );

        // One visitor per session, at most 30 minutes, and some visitors come
        // back on another day.
        let mut seen: HashMap<&str, (&str, DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
        for e in &all {
            let entry = seen.entry(e["session"].as_str().unwrap()).or_insert((
                e["visitor"].as_str().unwrap(),
                ts(e),
                ts(e),
            ));
            assert_eq!(entry.0, e["visitor"].as_str().unwrap());
            entry.2 = ts(e);
            assert!(entry.2 - entry.1 <= Duration::minutes(30));
        }
        let mut days_of: HashMap<&str, HashSet<NaiveDate>> = HashMap::new();
        for (visitor, start, _) in seen.values() {
            days_of
                .entry(visitor)
                .or_default()
                .insert(start.date_naive());
        }
        let regulars = days_of.values().filter(|d| d.len() > 1).count();
        assert!(
            regulars * 10 > days_of.len(),
            "{regulars} of {} visitors return",
            days_of.len()
        );
        let direct = all
            .iter()
            .filter(|e| e["kind"] == "pageview")
            .filter(|e| e.get("referrer").is_none_or(|r| r == ""))
            .count() as f64
            / all.iter().filter(|e| e["kind"] == "pageview").count() as f64;
        assert!((0.3..0.5).contains(&direct), "direct share {direct}");
    }

    #[test]
    fn incidents_leave_their_marks() {
        let tz = Tz::UTC;
        let incidents = [
            "2026-11-09:outage@shop",
            "2026-11-10:checkout-break",
            "2026-11-11:traffic:0.35@blog",
            "2026-11-12:bot-flood:2@saas",
        ];
        let opts = GenerateOptions {
            incidents: incidents.iter().map(|s| s.parse().unwrap()).collect(),
            ..small()
        };
        let with = events(&opts);
        let without = events(&small());

        assert!(on(&with, "shop", date("2026-11-09"), tz).is_empty());
        assert!(!on(&with, "blog", date("2026-11-09"), tz).is_empty());
        assert!(!on(&with, "shop", date("2026-11-10"), tz).is_empty());

        let day = date("2026-11-10");
        assert!(
            with.iter()
                .filter(|e| local_date(e, tz) == day)
                .all(|e| e["kind"] != "order")
        );
        assert!(
            without
                .iter()
                .any(|e| local_date(e, tz) == day && e["kind"] == "order")
        );

        let day = date("2026-11-11");
        let (dip, normal) = (
            sessions(&on(&with, "blog", day, tz)) as f64,
            sessions(&on(&without, "blog", day, tz)) as f64,
        );
        assert!((0.25..0.45).contains(&(dip / normal)), "{dip} vs {normal}");

        let day = date("2026-11-12");
        let flooded = on(&with, "saas", day, tz);
        let normal = sessions(&on(&without, "saas", day, tz)) as f64;
        let ratio = sessions(&flooded) as f64 / normal;
        assert!((2.7..3.3).contains(&ratio), "{ratio}");
        let direct_single = flooded
            .iter()
            .filter(|e| e.get("referrer").is_none())
            .count();
        assert!(direct_single as f64 > 2.0 * normal);
    }

    #[test]
    fn local_days_hold_across_daylight_saving() {
        // America/Los_Angeles leaves DST on 2026-11-01: a 25-hour day.
        let tz: Tz = "America/Los_Angeles".parse().unwrap();
        let opts = GenerateOptions {
            tz,
            start: date("2026-10-30"),
            days: 4,
            incidents: vec!["2026-11-01:outage".parse().unwrap()],
            ..small()
        };
        let all = events(&opts);
        let times: Vec<_> = all.iter().map(ts).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let days: HashSet<NaiveDate> = all.iter().map(|e| local_date(e, tz)).collect();
        assert_eq!(
            days,
            HashSet::from([date("2026-10-30"), date("2026-10-31"), date("2026-11-02")])
        );
        // The daily rhythm follows local clocks: the small hours are quiet.
        let at = |hours: std::ops::Range<u32>| {
            all.iter()
                .filter(|e| hours.contains(&ts(e).with_timezone(&tz).hour()))
                .count()
        };
        assert!(at(2..5) * 5 < at(12..15));
    }

    #[test]
    fn incidents_parse_and_print_back() {
        let cases = [
            ("2026-11-10:outage", None, IncidentKind::Outage),
            (
                "2026-11-10:traffic:0.35@shop",
                Some("shop"),
                IncidentKind::Traffic(0.35),
            ),
            (
                "2026-11-10:checkout-break",
                None,
                IncidentKind::CheckoutBreak,
            ),
            (
                "2026-11-10:bot-flood:3@blog",
                Some("blog"),
                IncidentKind::BotFlood(3.0),
            ),
        ];
        for (text, site, kind) in cases {
            let incident: Incident = text.parse().unwrap();
            assert_eq!(incident.site.as_deref(), site);
            assert_eq!(incident.date, date("2026-11-10"));
            assert_eq!(incident.kind, kind);
            assert_eq!(incident.to_string(), text);
        }
    }

    #[test]
    fn bad_incidents_say_what_is_wrong() {
        let cases = [
            ("", "\"\" is not a date"),
            ("2026-13-01:outage", "\"2026-13-01\" is not a date"),
            ("2026-11-10", "the kind is missing"),
            ("2026-11-10:meltdown", "kind \"meltdown\" is unknown"),
            ("2026-11-10:traffic", "traffic needs a factor"),
            ("2026-11-10:traffic:lots", "factor \"lots\" is not a number"),
            ("2026-11-10:bot-flood:-1", "factor \"-1\" is not a number"),
            ("2026-11-10:outage:2", "outage takes no factor"),
            ("2026-11-10:traffic:2:3", "\"3\" is one part too many"),
            ("2026-11-10:outage@", "site \"\" must be"),
            ("2026-11-10:outage@a b", "site \"a b\" must be"),
        ];
        for (text, part) in cases {
            let message = text.parse::<Incident>().unwrap_err().to_string();
            assert!(message.contains(part), "{text}: {message}");
            assert!(message.contains("DATE:KIND[:FACTOR][@SITE]"), "{message}");
        }
    }

    #[test]
    fn bad_options_are_refused_with_a_reason() {
        let cases = [
            (
                GenerateOptions {
                    sites: vec![],
                    ..small()
                },
                "no sites",
            ),
            (
                GenerateOptions {
                    sites: vec!["my shop".into()],
                    ..small()
                },
                "\"my shop\" is invalid",
            ),
            (
                GenerateOptions {
                    sites: vec!["a".into(), "a".into()],
                    ..small()
                },
                "listed twice",
            ),
            (
                GenerateOptions {
                    late_fraction: 1.5,
                    ..small()
                },
                "late fraction",
            ),
            (
                GenerateOptions {
                    incidents: vec!["2026-11-03:outage@shoe".parse().unwrap()],
                    ..small()
                },
                "not generated",
            ),
            (
                GenerateOptions {
                    incidents: vec!["2027-01-01:outage".parse().unwrap()],
                    ..small()
                },
                "outside the generated days",
            ),
        ];
        for (opts, part) in cases {
            let message = generate(&opts, &mut Vec::new()).unwrap_err().to_string();
            assert!(message.contains(part), "{message}");
        }
    }

    #[test]
    fn other_site_names_borrow_the_known_characters() {
        let opts = GenerateOptions {
            sites: vec!["a".into(), "b.example".into()],
            days: 3,
            ..small()
        };
        let all = events(&opts);
        assert!(
            all.iter().any(|e| e["site"] == "a") && all.iter().any(|e| e["site"] == "b.example")
        );
        assert!(
            all.iter()
                .any(|e| e["site"] == "a" && e["id"].as_str().unwrap().starts_with("a-"))
        );
    }

    #[test]
    fn timestamps_match_chrono() {
        let mut writer_out = Vec::new();
        let mut writer = NdjsonWriter::new(&mut writer_out, false);
        for ms in [
            0,
            999,
            951_782_400_123,
            1_795_000_000_000,
            4_102_444_799_999,
            1_782_777_600_000,
        ] {
            writer.buf.clear();
            writer.push_ts(ms);
            let expected = DateTime::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            assert_eq!(String::from_utf8(writer.buf.clone()).unwrap(), expected);
        }
    }

    #[test]
    fn catalogs_have_a_few_hundred_distinct_pages() {
        for profile in [&SHOP, &BLOG, &SAAS] {
            let paths = (profile.paths)();
            let distinct: HashSet<_> = paths.iter().collect();
            assert_eq!(distinct.len(), paths.len(), "duplicate paths");
            assert!((200..400).contains(&paths.len()), "{} paths", paths.len());
        }
    }

    #[test]
    fn empty_ranges_write_nothing() {
        let (out, summary) = run(&GenerateOptions { days: 0, ..small() });
        assert!(out.is_empty());
        assert_eq!(summary, GenerateSummary::default());
    }
}
