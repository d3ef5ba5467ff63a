//! The snapshot's custom figures: goals under conversion (conversions,
//! conversion rate and revenue, each with its changes, per site and for
//! all sites), breakdowns and gauges under engagement (a breakdown's rows
//! of the day per site; a gauge's last level with its changes, and the
//! day's min, max and samples).

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Days, NaiveDate};
use rusqlite::Connection;
use serde::Serialize;

use super::figures::{Scope, figure_of, ratio, round};
use super::{Field, Ordered};
use crate::store::custom::rows::{self, BreakdownRow, GaugeRow, GoalRow};
use crate::store::props::json_number;

/// A goal figure's name and how it is computed from the goal's row.
type GoalMetric = (&'static str, fn(&GoalRow) -> f64);

/// A breakdown value's figures of the day.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BreakdownItem {
    pub(crate) value: String,
    pub(crate) events: u64,
    pub(crate) pageviews: u64,
    pub(crate) custom_events: u64,
    pub(crate) orders: u64,
    pub(crate) revenue: f64,
    pub(crate) unique_visitors: u64,
    pub(crate) unique_sessions: u64,
    pub(crate) sums: Ordered<serde_json::Value>,
}

/// Goal, gauge and breakdown rows of the day and the 7 before it.
#[derive(Debug, Default)]
pub(crate) struct CustomHistory {
    /// (date, site, goal) -> row
    goals: BTreeMap<(NaiveDate, String, String), GoalRow>,
    /// (date, site, gauge) -> row
    gauges: BTreeMap<(NaiveDate, String, String), GaugeRow>,
    /// site -> breakdown name -> the day's rows
    breakdowns: BTreeMap<String, Vec<(String, Vec<BreakdownRow>)>>,
    goal_names: Vec<String>,
    gauge_names: BTreeMap<String, Vec<String>>,
}

impl CustomHistory {
    /// Load what the snapshot of `date` shows; `breakdowns` are the
    /// configured names, in config order.
    pub(crate) fn load(
        conn: &Connection,
        date: NaiveDate,
        breakdowns: &[String],
    ) -> Result<CustomHistory> {
        let start = date.checked_sub_days(Days::new(7)).unwrap_or(date);
        let mut h = CustomHistory::default();
        for r in rows::load_goals(conn, start, date, None)? {
            if !h.goal_names.contains(&r.row.goal) {
                h.goal_names.push(r.row.goal.clone());
            }
            h.goals.insert((r.date, r.site, r.row.goal.clone()), r.row);
        }
        h.goal_names.sort();
        for r in rows::load_gauges(conn, start, date, None)? {
            if r.date == date {
                let names = h.gauge_names.entry(r.site.clone()).or_default();
                names.push(r.row.gauge.clone());
            }
            h.gauges
                .insert((r.date, r.site, r.row.gauge.clone()), r.row);
        }
        for name in breakdowns {
            for r in rows::load_breakdown(conn, name, date, date, None)? {
                let site = h.breakdowns.entry(r.site).or_default();
                match site.iter_mut().find(|b| &b.0 == name) {
                    Some(b) => b.1.push(r.row),
                    None => site.push((name.clone(), vec![r.row])),
                }
            }
        }
        Ok(h)
    }

    /// A goal's row of a day for a scope (all sites: summed).
    fn goal(&self, day: NaiveDate, scope: Scope, goal: &str) -> Option<GoalRow> {
        let mut total: Option<GoalRow> = None;
        for ((d, site, g), row) in self.goals.range((day, String::new(), String::new())..) {
            if *d != day {
                break;
            }
            if g != goal || matches!(scope, Scope::Site(s) if s != site) {
                continue;
            }
            let t = total.get_or_insert_with(|| GoalRow {
                goal: goal.to_string(),
                conversions: 0,
                events: 0,
                sessions: 0,
                revenue_cents: 0,
            });
            t.conversions += row.conversions;
            t.events += row.events;
            t.sessions += row.sessions;
            t.revenue_cents += row.revenue_cents;
        }
        total
    }

    /// The `goals` field of the conversion category's row for `scope`.
    pub(crate) fn goals_field(&self, date: NaiveDate, scope: Scope) -> Vec<(String, Field)> {
        if self.goal_names.is_empty() {
            return Vec::new();
        }
        let metrics: [GoalMetric; 4] = [
            ("conversions", |g| g.conversions as f64),
            ("events", |g| g.events as f64),
            ("conversion_rate", |g| {
                ratio(g.conversions as f64, g.sessions)
            }),
            ("revenue", |g| g.revenue_cents as f64 / 100.0),
        ];
        let mut goals = Vec::new();
        for name in &self.goal_names {
            if self.goal(date, scope, name).is_none() {
                continue;
            }
            let fields = metrics
                .iter()
                .map(|(metric, value)| {
                    let figure = figure_of(date, |d| self.goal(d, scope, name).map(|g| value(&g)));
                    (metric.to_string(), Field::Figure(figure))
                })
                .collect();
            goals.push((name.clone(), Field::Map(Ordered(fields))));
        }
        vec![("goals".to_string(), Field::Map(Ordered(goals)))]
    }

    /// The `breakdowns` and `gauges` fields of the engagement category's
    /// row of a site.
    pub(crate) fn engagement_fields(&self, date: NaiveDate, scope: Scope) -> Vec<(String, Field)> {
        let Scope::Site(site) = scope else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(breakdowns) = self.breakdowns.get(site) {
            let lists = breakdowns
                .iter()
                .map(|(name, rows)| {
                    let items = rows
                        .iter()
                        .map(|r| BreakdownItem {
                            value: r.value.clone(),
                            events: r.events,
                            pageviews: r.pageviews,
                            custom_events: r.custom_events,
                            orders: r.orders,
                            revenue: round(r.revenue_cents as f64 / 100.0),
                            unique_visitors: r.unique_visitors,
                            unique_sessions: r.unique_sessions,
                            sums: Ordered(
                                r.sums
                                    .iter()
                                    .map(|(k, v)| (k.clone(), json_number(*v)))
                                    .collect(),
                            ),
                        })
                        .collect();
                    (name.clone(), Field::Breakdown(items))
                })
                .collect();
            out.push(("breakdowns".to_string(), Field::Map(Ordered(lists))));
        }
        if let Some(names) = self.gauge_names.get(site) {
            let gauges = names
                .iter()
                .map(|name| {
                    let key = |d: NaiveDate| (d, site.to_string(), name.clone());
                    let row = &self.gauges[&key(date)];
                    let fields = vec![
                        (
                            "last".to_string(),
                            Field::Figure(figure_of(date, |d| {
                                self.gauges.get(&key(d)).map(|g| g.last)
                            })),
                        ),
                        ("min".to_string(), Field::Value(json_number(row.min))),
                        ("max".to_string(), Field::Value(json_number(row.max))),
                        (
                            "samples".to_string(),
                            Field::Value(json_number(row.samples as f64)),
                        ),
                    ];
                    (name.clone(), Field::Map(Ordered(fields)))
                })
                .collect();
            out.push(("gauges".to_string(), Field::Map(Ordered(gauges))));
        }
        out
    }
}
