//! `snapshot`: one day's dashboard metrics as one JSON file (contract,
//! "Snapshot"), for a person, `jq` or a dashboard.
//!
//! Revenue, conversion and traffic come from the daily rollups; engagement
//! also reads the day's events and the visitor and session tables
//! (`engagement.rs`). Each category is computed on its own: one that fails
//! is named in `errors` and left out, the others are still written, and
//! the run exits 1. `figures.rs` holds the value-and-change arithmetic.

mod custom;
pub(crate) mod engagement;
pub(crate) mod figures;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use rusqlite::Connection;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::artifacts::write_json;
use crate::job::{JobContext, JobOutcome, Severity, usage};
use crate::store::rollups::{DailyRollup, TopItem, load};
use crate::time::{parse_date, rfc3339, yesterday};
use engagement::{NamedCount, add_engagement, events_by_name};
use figures::{Counts, Figure, History, Metric, Scope, ratio};

/// What the user asked of `snapshot`.
#[derive(Debug, Clone, Default)]
pub struct SnapshotOptions {
    /// The day (`YYYY-MM-DD`); default yesterday.
    pub date: Option<String>,
}

/// The file, as the contract shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Snapshot {
    pub(crate) date: String,
    pub(crate) timezone: String,
    pub(crate) generated_at: String,
    /// Category name -> its figures, in the contract's order.
    pub(crate) metrics: Ordered<CategoryFigures>,
    pub(crate) summary: Summary,
    pub(crate) errors: Vec<CategoryError>,
}

/// A JSON object whose keys keep the order they were added in (serde_json's
/// map sorts them): a category reads value first, sites in name order.
#[derive(Debug, Clone)]
pub(crate) struct Ordered<V>(pub Vec<(String, V)>);

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One field of a category's row: a figure (null when the day has nothing
/// to measure it on), or a day-only list.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Field {
    Figure(Option<Figure>),
    Top(Vec<TopItem>),
    Names(Vec<NamedCount>),
    /// Named fields (goals, gauges, breakdowns by name).
    Map(Ordered<Field>),
    /// A breakdown's rows of the day.
    Breakdown(Vec<custom::BreakdownItem>),
    /// A plain number.
    Value(serde_json::Value),
}

/// A category: a row for all sites together and one per site.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CategoryFigures {
    pub(crate) all: Ordered<Field>,
    pub(crate) sites: Ordered<Ordered<Field>>,
}

/// The totals over all sites: each equals the sum of the sites' figures
/// (the conversion rate is that of the summed sessions).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) revenue: f64,
    pub(crate) orders: u64,
    pub(crate) sessions: u64,
    pub(crate) visitors: u64,
    pub(crate) pageviews: u64,
    pub(crate) conversion_rate: f64,
}

/// A category left out, and why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CategoryError {
    pub(crate) category: &'static str,
    pub(crate) message: String,
}

const REVENUE: &[Metric] = &[
    Metric::new("revenue", |c| Some(c.revenue_cents as f64 / 100.0)),
    Metric::new("orders", |c| Some(c.orders as f64)),
    Metric::new("average_order_value", |c| {
        Some(ratio(c.revenue_cents as f64 / 100.0, c.orders))
    }),
];

const CONVERSION: &[Metric] = &[
    Metric::new("conversion_rate", |c| {
        Some(ratio(c.converting_sessions as f64, c.sessions))
    }),
    Metric::new("converting_sessions", |c| {
        Some(c.converting_sessions as f64)
    }),
];

const TRAFFIC: &[Metric] = &[
    Metric::new("sessions", |c| Some(c.sessions as f64)),
    Metric::new("visitors", |c| Some(c.visitors as f64)),
    Metric::new("pageviews", |c| Some(c.pageviews as f64)),
    Metric::new("pages_per_session", |c| {
        Some(ratio(c.pageviews as f64, c.sessions))
    }),
];

const ENGAGEMENT: &[Metric] = &[
    Metric::new("custom_events", |c| Some(c.custom_events as f64)),
    Metric::new("returning_visitors", |c| Some(c.returning_visitors as f64)),
    Metric::new("new_visitors", |c| {
        Some(c.visitors.saturating_sub(c.returning_visitors) as f64)
    }),
    // Only sessions that cleanup-sessions closed have a duration; without
    // any the figure is null rather than a misleading 0.
    Metric::new("average_session_seconds", |c| {
        (c.closed_sessions > 0)
            .then(|| c.closed_session_ms as f64 / 1000.0 / c.closed_sessions as f64)
    }),
];

/// Extra, day-only fields of a category's row (top lists, names).
type Extras<'a> = dyn Fn(Scope) -> Vec<(String, Field)> + 'a;

/// A category: every metric as a figure, for all sites and per site.
fn category(
    history: &History,
    date: NaiveDate,
    metrics: &[Metric],
    extras: &Extras,
) -> CategoryFigures {
    let row = |scope: Scope| {
        let mut fields: Vec<(String, Field)> = metrics
            .iter()
            .map(|m| {
                let figure = history.figure(date, scope, m);
                (m.name.to_string(), Field::Figure(figure))
            })
            .collect();
        fields.extend(extras(scope));
        Ordered(fields)
    };
    let sites = history
        .days
        .get(&date)
        .into_iter()
        .flat_map(|sites| sites.keys())
        .map(|site| (site.clone(), row(Scope::Site(site))))
        .collect();
    CategoryFigures {
        all: row(Scope::All),
        sites: Ordered(sites),
    }
}

/// The target day and the 7 before it from the rollups, plus the target
/// day's rollups by site (for the top lists).
fn load_history(
    conn: &Connection,
    date: NaiveDate,
) -> Result<(History, BTreeMap<String, DailyRollup>)> {
    let start = date.checked_sub_days(Days::new(7)).unwrap_or(date);
    let mut history = History::default();
    let mut day = BTreeMap::new();
    for r in load(conn, start, date, None)? {
        let counts = Counts {
            revenue_cents: r.revenue_cents,
            orders: r.orders,
            sessions: r.unique_sessions,
            converting_sessions: r.converting_sessions,
            visitors: r.unique_visitors,
            pageviews: r.pageviews,
            custom_events: r.custom_events,
            ..Counts::default()
        };
        history
            .days
            .entry(r.date)
            .or_default()
            .insert(r.site.clone(), counts);
        if r.date == date {
            day.insert(r.site.clone(), r);
        }
    }
    if day.is_empty() {
        return Err(usage(format!(
            "no rollups for {date}: run aggregate first (aggregate --date {date})"
        )));
    }
    Ok((history, day))
}

/// The named top lists of a site's rollup of the day.
fn top_lists(rollup: Option<&DailyRollup>, lists: &[&str]) -> Vec<(String, Field)> {
    let Some(r) = rollup else {
        return Vec::new();
    };
    lists
        .iter()
        .map(|&name| {
            let list = match name {
                "top_pages" => &r.top_pages,
                "top_referrers" => &r.top_referrers,
                _ => &r.top_events,
            };
            (name.to_string(), Field::Top(list.clone()))
        })
        .collect()
}

/// Engagement: the rollups' custom events, plus returning visitors,
/// session durations and event names from the store's other tables.
fn engagement(
    conn: &Connection,
    tz: Tz,
    history: &History,
    date: NaiveDate,
    day: &BTreeMap<String, DailyRollup>,
    custom: &Result<custom::CustomHistory>,
) -> Result<CategoryFigures> {
    let custom = custom
        .as_ref()
        .map_err(|e| anyhow::anyhow!("cannot read breakdowns and gauges: {e:#}"))?;
    let mut history = history.clone();
    add_engagement(conn, tz, date, &mut history)
        .context("cannot read returning visitors and session durations")?;
    let names = events_by_name(conn, date, tz).context("cannot count custom events by name")?;
    let extras = |scope: Scope| {
        let (mut m, list) = match scope {
            Scope::Site(s) => (
                top_lists(day.get(s), &["top_events"]),
                names.sites.get(s).cloned().unwrap_or_default(),
            ),
            Scope::All => (Vec::new(), names.all.clone()),
        };
        m.push(("events_by_name".to_string(), Field::Names(list)));
        m.extend(custom.engagement_fields(date, scope));
        m
    };
    Ok(category(&history, date, ENGAGEMENT, &extras))
}

/// The `snapshot` job.
pub fn snapshot(ctx: &JobContext, opts: &SnapshotOptions) -> Result<JobOutcome> {
    let (tz, now) = (ctx.settings.tz, ctx.settings.now);
    let date = match &opts.date {
        Some(d) => parse_date("--date", d).map_err(|e| usage(format!("{e:#}")))?,
        None => yesterday(now, tz),
    };
    let store = ctx.open_store_read_only()?;
    let conn = &store.conn;
    let (history, day) = load_history(conn, date)?;
    let breakdowns: Vec<String> = ctx
        .settings
        .file
        .breakdown
        .iter()
        .map(|b| b.name.clone())
        .collect();
    let custom = custom::CustomHistory::load(conn, date, &breakdowns);
    let none = |_: Scope| Vec::new();
    // Paths and referrers of different sites are different things: the
    // top lists are per site only.
    let traffic_tops = |scope: Scope| match scope {
        Scope::Site(s) => top_lists(day.get(s), &["top_pages", "top_referrers"]),
        Scope::All => Vec::new(),
    };
    let categories: [(&'static str, Result<CategoryFigures>); 4] = [
        ("revenue", Ok(category(&history, date, REVENUE, &none))),
        (
            "conversion",
            match &custom {
                Ok(c) => Ok(category(&history, date, CONVERSION, &|scope| {
                    c.goals_field(date, scope)
                })),
                Err(e) => Err(anyhow::anyhow!("cannot read the goals: {e:#}")),
            },
        ),
        (
            "traffic",
            Ok(category(&history, date, TRAFFIC, &traffic_tops)),
        ),
        (
            "engagement",
            engagement(conn, tz, &history, date, &day, &custom),
        ),
    ];
    let mut metrics = Ordered(Vec::new());
    let mut errors = Vec::new();
    for (name, result) in categories {
        match result {
            Ok(v) => metrics.0.push((name.to_string(), v)),
            Err(e) => errors.push(CategoryError {
                category: name,
                message: format!("{e:#}"),
            }),
        }
    }
    let total = history.counts(date, Scope::All).unwrap_or_default();
    let snapshot = Snapshot {
        date: date.to_string(),
        timezone: tz.name().to_string(),
        generated_at: rfc3339(now),
        metrics,
        summary: Summary {
            revenue: figures::round(total.revenue_cents as f64 / 100.0),
            orders: total.orders,
            sessions: total.sessions,
            visitors: total.visitors,
            pageviews: total.pageviews,
            conversion_rate: figures::round(ratio(
                total.converting_sessions as f64,
                total.sessions,
            )),
        },
        errors,
    };
    let path = crate::artifacts::snapshot_path(&ctx.settings.artifacts, date);
    write_json(&path, &snapshot)?;
    let mut message = format!(
        "snapshot of {date}: {}, {} of 4 categories, written to {}",
        crate::util::counted(day.len() as u64, "site"),
        snapshot.metrics.0.len(),
        path.display()
    );
    for e in &snapshot.errors {
        message.push_str(&format!("; {} left out: {}", e.category, e.message));
    }
    let severity = if snapshot.errors.is_empty() {
        Severity::Ok
    } else {
        Severity::Warning
    };
    Ok(JobOutcome::ok(day.len() as u64, message)
        .with_severity(severity)
        .with_errors(snapshot.errors.len() as u64))
}
