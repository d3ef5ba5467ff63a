//! What a report page shows, gathered from the rollups, the custom rows,
//! the proofs, the snapshot and the run log: figures as numbers, turned
//! into HTML by `page.rs` and into text by `text.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use chrono::{Days, NaiveDate};
use rusqlite::Connection;

use super::period::Period;
use crate::settings::props::BreakdownConfig;
use crate::store::custom::rows::{load_breakdown, load_gauges, load_goals};
use crate::store::rollups::{DailyRollup, TopItem, conversion_rate};

/// The figures of a scope over some days: sums of the daily rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) visitors: u64,
    pub(crate) sessions: u64,
    pub(crate) pageviews: u64,
    pub(crate) orders: u64,
    pub(crate) revenue_cents: u64,
    pub(crate) converting: u64,
    /// Days with a row.
    pub(crate) days: u64,
}

impl Totals {
    fn add(&mut self, r: &DailyRollup) {
        self.visitors += r.unique_visitors;
        self.sessions += r.unique_sessions;
        self.pageviews += r.pageviews;
        self.orders += r.orders;
        self.revenue_cents += r.revenue_cents;
        self.converting += r.converting_sessions;
        self.days += 1;
    }

    pub(crate) fn conversion_rate(&self) -> f64 {
        conversion_rate(self.converting, self.sessions)
    }
}

/// The six tiles, in page order: (metric, label).
pub(crate) const METRICS: [(&str, &str); 6] = [
    ("visitors", "Visitors"),
    ("sessions", "Sessions"),
    ("pageviews", "Pageviews"),
    ("orders", "Orders"),
    ("revenue", "Revenue"),
    ("conversion_rate", "Conversion rate"),
];

/// A tile's value as a number (revenue in currency units).
pub(crate) fn metric_value(t: &Totals, metric: &str) -> f64 {
    match metric {
        "visitors" => t.visitors as f64,
        "sessions" => t.sessions as f64,
        "pageviews" => t.pageviews as f64,
        "orders" => t.orders as f64,
        "revenue" => t.revenue_cents as f64 / 100.0,
        _ => t.conversion_rate(),
    }
}

/// A tile's exact value as the contract writes it in `data-value`.
pub(crate) fn data_value(t: &Totals, metric: &str) -> String {
    match metric {
        "revenue" => format!("{}.{:02}", t.revenue_cents / 100, t.revenue_cents % 100),
        "conversion_rate" => format!("{:.4}", t.conversion_rate()),
        _ => format!("{}", metric_value(t, metric) as u64),
    }
}

/// A list item over the period with its count before.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TopLine {
    pub(crate) item: String,
    pub(crate) count: u64,
    pub(crate) before: Option<u64>,
}

/// A goal over the period and the period before.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct GoalLine {
    pub(crate) name: String,
    pub(crate) conversions: u64,
    pub(crate) sessions: u64,
    pub(crate) revenue_cents: i64,
    pub(crate) before: Option<(u64, u64)>,
}

/// A breakdown value over the period.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct BreakdownLine {
    pub(crate) value: String,
    pub(crate) events: u64,
    pub(crate) pageviews: u64,
    pub(crate) orders: u64,
    pub(crate) revenue_cents: i64,
    pub(crate) before: Option<u64>,
}

/// A gauge over the period: its last level, the lowest and highest, and
/// the last level of the period before.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GaugeLine {
    pub(crate) name: String,
    pub(crate) last: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) samples: u64,
    pub(crate) before: Option<f64>,
}

/// One site's part of the page, or all sites together (`site` = "all").
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) site: String,
    pub(crate) now: Totals,
    pub(crate) previous: Option<Totals>,
    pub(crate) earlier: Option<Totals>,
    /// The chart days: (date, totals of that day if rolled up).
    pub(crate) series: Vec<(NaiveDate, Option<Totals>)>,
    /// (name, lines) for top pages, referrers and events (sites only).
    pub(crate) tops: Vec<(&'static str, Vec<TopLine>)>,
    pub(crate) goals: Vec<GoalLine>,
    pub(crate) breakdowns: Vec<(String, Vec<BreakdownLine>)>,
    pub(crate) gauges: Vec<GaugeLine>,
}

/// Which top list of a daily rollup.
type PickTop = fn(&DailyRollup) -> &Vec<TopItem>;

/// The rollups the page needs, by site and date.
pub(crate) struct Rollups {
    pub(crate) by_site: BTreeMap<String, BTreeMap<NaiveDate, DailyRollup>>,
}

impl Rollups {
    pub(crate) fn load(
        conn: &Connection,
        from: NaiveDate,
        to: NaiveDate,
        site: Option<i64>,
    ) -> Result<Rollups> {
        let mut by_site: BTreeMap<String, BTreeMap<NaiveDate, DailyRollup>> = BTreeMap::new();
        for r in crate::store::rollups::load(conn, from, to, site)? {
            by_site.entry(r.site.clone()).or_default().insert(r.date, r);
        }
        Ok(Rollups { by_site })
    }

    /// Totals of a site (or all, `None`) over a period; `None` when no day
    /// of it was rolled up.
    pub(crate) fn totals(&self, site: Option<&str>, p: &Period) -> Option<Totals> {
        let mut t = Totals::default();
        for (name, days) in &self.by_site {
            if site.is_some_and(|s| s != name) {
                continue;
            }
            for (_, r) in days.range(p.start..=p.end) {
                t.add(r);
            }
        }
        (t.days > 0).then_some(t)
    }

    fn tops(&self, site: &str, now: &Period, before: &Period) -> Vec<(&'static str, Vec<TopLine>)> {
        let days = &self.by_site[site];
        let sum = |p: &Period, pick: PickTop| {
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for (_, r) in days.range(p.start..=p.end) {
                for item in pick(r) {
                    *counts.entry(item.item.clone()).or_default() += item.count;
                }
            }
            counts
        };
        let lists: [(&str, PickTop); 3] = [
            ("Top pages", |r| &r.top_pages),
            ("Top referrers", |r| &r.top_referrers),
            ("Top custom events", |r| &r.top_events),
        ];
        lists
            .into_iter()
            .map(|(name, pick)| {
                let counts = sum(now, pick);
                let earlier = sum(before, pick);
                let mut lines: Vec<TopLine> = counts
                    .into_iter()
                    .map(|(item, count)| TopLine {
                        before: earlier.get(&item).copied(),
                        item,
                        count,
                    })
                    .collect();
                lines.sort_by(|a, b| {
                    b.count
                        .cmp(&a.count)
                        .then_with(|| a.item.as_bytes().cmp(b.item.as_bytes()))
                });
                lines.truncate(10);
                (name, lines)
            })
            .collect()
    }
}

/// Everything per scope: all sites first, then each site by name.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scopes(
    conn: &Connection,
    rollups: &Rollups,
    period: &Period,
    chart_days: i64,
    site_id: Option<i64>,
    goal_names: &[String],
    breakdowns: &[BreakdownConfig],
) -> Result<Vec<Scope>> {
    let previous = period.previous();
    let earlier = period.earlier();
    let first_chart = period
        .end
        .checked_sub_days(Days::new(chart_days.max(1) as u64 - 1))
        .unwrap_or(period.end);
    let chart: Vec<NaiveDate> = first_chart
        .iter_days()
        .take_while(|d| *d <= period.end)
        .collect();
    let goals_now = load_goals(conn, period.start, period.end, site_id)?;
    let goals_before = load_goals(conn, previous.start, previous.end, site_id)?;
    // With --site the page is that site's: "all" would repeat it.
    let mut names: Vec<Option<String>> = Vec::new();
    if site_id.is_none() {
        names.push(None);
    }
    names.extend(rollups.by_site.keys().cloned().map(Some));
    let mut out = Vec::new();
    for site in names {
        let s = site.as_deref();
        let Some(now) = rollups.totals(s, period) else {
            continue;
        };
        let series = chart
            .iter()
            .map(|d| {
                (
                    *d,
                    rollups.totals(
                        s,
                        &Period {
                            start: *d,
                            end: *d,
                            ..*period
                        },
                    ),
                )
            })
            .collect();
        let mut goals: Vec<GoalLine> = Vec::new();
        for name in goal_names {
            let mut line = GoalLine {
                name: name.clone(),
                ..GoalLine::default()
            };
            let mut any = false;
            for g in goals_now
                .iter()
                .filter(|g| &g.row.goal == name && s.is_none_or(|s| s == g.site))
            {
                line.conversions += g.row.conversions;
                line.sessions += g.row.sessions;
                line.revenue_cents += g.row.revenue_cents;
                any = true;
            }
            let mut before = (0, 0);
            let mut any_before = false;
            for g in goals_before
                .iter()
                .filter(|g| &g.row.goal == name && s.is_none_or(|s| s == g.site))
            {
                before.0 += g.row.conversions;
                before.1 += g.row.sessions;
                any_before = true;
            }
            line.before = any_before.then_some(before);
            if any {
                goals.push(line);
            }
        }
        let (tops, breakdown_lines, gauge_lines) = match s {
            None => (Vec::new(), Vec::new(), Vec::new()),
            Some(name) => {
                let mut lines = Vec::new();
                for b in breakdowns {
                    lines.push((
                        b.name.clone(),
                        breakdown(conn, b, name, period, &previous, site_id)?,
                    ));
                }
                let gauges = gauges(conn, name, period, &previous, site_id)?;
                (rollups.tops(name, period, &previous), lines, gauges)
            }
        };
        out.push(Scope {
            site: site.clone().unwrap_or_else(|| "all".to_string()),
            now,
            previous: rollups.totals(s, &previous),
            earlier: rollups.totals(s, &earlier),
            series,
            tops,
            goals,
            breakdowns: breakdown_lines,
            gauges: gauge_lines,
        });
    }
    Ok(out)
}

/// A breakdown's top 10 values of a site over the period (summed daily
/// rows), with their events in the period before.
fn breakdown(
    conn: &Connection,
    config: &BreakdownConfig,
    site: &str,
    now: &Period,
    before: &Period,
    site_id: Option<i64>,
) -> Result<Vec<BreakdownLine>> {
    let sum = |p: &Period| -> Result<BTreeMap<String, BreakdownLine>> {
        let mut lines: BTreeMap<String, BreakdownLine> = BTreeMap::new();
        for r in load_breakdown(conn, &config.name, p.start, p.end, site_id)? {
            if r.site != site {
                continue;
            }
            let line = lines.entry(r.row.value.clone()).or_default();
            line.value = r.row.value;
            line.events += r.row.events;
            line.pageviews += r.row.pageviews;
            line.orders += r.row.orders;
            line.revenue_cents += r.row.revenue_cents;
        }
        Ok(lines)
    };
    let earlier = sum(before)?;
    let mut lines: Vec<BreakdownLine> = sum(now)?
        .into_values()
        .map(|mut l| {
            l.before = earlier.get(&l.value).map(|b| b.events);
            l
        })
        .collect();
    lines.sort_by(|a, b| {
        b.events
            .cmp(&a.events)
            .then_with(|| a.value.as_bytes().cmp(b.value.as_bytes()))
    });
    lines.truncate(10);
    Ok(lines)
}

/// A site's gauges over the period (rows come by date).
fn gauges(
    conn: &Connection,
    site: &str,
    now: &Period,
    before: &Period,
    site_id: Option<i64>,
) -> Result<Vec<GaugeLine>> {
    let mut lines: BTreeMap<String, GaugeLine> = BTreeMap::new();
    for r in load_gauges(conn, now.start, now.end, site_id)? {
        if r.site != site {
            continue;
        }
        let g = r.row;
        let line = lines.entry(g.gauge.clone()).or_insert(GaugeLine {
            name: g.gauge.clone(),
            last: g.last,
            min: g.min,
            max: g.max,
            samples: 0,
            before: None,
        });
        line.last = g.last;
        line.min = line.min.min(g.min);
        line.max = line.max.max(g.max);
        line.samples += g.samples;
    }
    for r in load_gauges(conn, before.start, before.end, site_id)? {
        if let Some(line) = lines.get_mut(&r.row.gauge).filter(|_| r.site == site) {
            line.before = Some(r.row.last);
        }
    }
    Ok(lines.into_values().collect())
}

/// A warn or fail of the guard.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Flag {
    pub(crate) date: NaiveDate,
    pub(crate) site: String,
    pub(crate) check: String,
    pub(crate) status: String,
    pub(crate) message: String,
}

/// The proofs of the chart's days: every warn and fail, and the days of
/// the period that have no proof.
pub(crate) fn guard_flags(
    artifacts: &Path,
    days: impl Iterator<Item = NaiveDate>,
    period: &Period,
) -> (Vec<Flag>, Vec<NaiveDate>) {
    let mut flags = Vec::new();
    let mut missing = Vec::new();
    for day in days {
        let path = crate::artifacts::proof_path(artifacts, day);
        let proof: Option<serde_json::Value> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let Some(proof) = proof else {
            if period.contains(day) {
                missing.push(day);
            }
            continue;
        };
        for c in proof["anomalies"].as_array().into_iter().flatten() {
            flags.push(Flag {
                date: day,
                site: c["site"].as_str().unwrap_or_default().to_string(),
                check: c["name"].as_str().unwrap_or_default().to_string(),
                status: c["status"].as_str().unwrap_or_default().to_string(),
                message: c["message"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    (flags, missing)
}

/// A job's runs as the page shows them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JobLine {
    pub(crate) job: &'static str,
    pub(crate) last_success_ms: Option<i64>,
    pub(crate) failures_since: u64,
    pub(crate) newest_failure: Option<String>,
}

pub(crate) fn job_health(conn: &Connection) -> Result<Vec<JobLine>> {
    let mut out = Vec::new();
    for (job, _) in crate::job::spec::SCHEDULE {
        let h = crate::store::runs::history(conn, job)?;
        out.push(JobLine {
            job,
            last_success_ms: h.last_success_ms,
            failures_since: h.failures_since,
            newest_failure: h.newest_failure.map(|f| f.1),
        });
    }
    Ok(out)
}

/// The snapshot's summary and engagement of all sites, when it exists.
pub(crate) fn snapshot_lines(artifacts: &Path, date: NaiveDate) -> Option<Vec<(String, String)>> {
    let path = crate::artifacts::snapshot_path(artifacts, date);
    let snap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let mut lines = Vec::new();
    let engagement = &snap["metrics"]["engagement"]["all"];
    for (key, label) in [
        ("returning_visitors", "Returning visitors"),
        ("new_visitors", "New visitors"),
        ("custom_events", "Custom events"),
        ("average_session_seconds", "Average session (seconds)"),
    ] {
        let value = &engagement[key]["value"];
        let text = match value.as_f64() {
            Some(v) => crate::util::thousands(v.round() as u64),
            None => "not measured".to_string(),
        };
        lines.push((label.to_string(), text));
    }
    if let Some(errors) = snap["errors"].as_array().filter(|e| !e.is_empty()) {
        for e in errors {
            lines.push((
                format!(
                    "{} left out",
                    e["category"].as_str().unwrap_or("a category")
                ),
                e["message"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    Some(lines)
}
