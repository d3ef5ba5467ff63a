//! `export-metrics --breakdown NAME | --goals | --gauges`: those rows
//! instead of the daily rollup, with the contract's CSV columns; JSON and
//! NDJSON objects carry the same names, `revenue_cents` for `revenue` and
//! `sums` as an object.

use std::io::Write;

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;
use serde::ser::SerializeMap;

use super::{ExportFormat, ExportRows, cents_to_units, write_table};
use crate::job::{JobContext, usage};
use crate::settings::props::BreakdownConfig;
use crate::store::custom::rows::{self, BreakdownRow, Dated, GaugeRow, GoalRow};
use crate::store::props::{json_number as number, number_text};
use crate::time::DayRange;

/// The custom rows asked for.
pub(super) enum Selection {
    Breakdown(BreakdownConfig),
    Goals,
    Gauges,
}

impl Selection {
    /// `None` for the daily rollup; a breakdown must be configured.
    pub(super) fn resolve(ctx: &JobContext, rows: &ExportRows) -> Result<Option<Selection>> {
        Ok(match rows {
            ExportRows::Daily => None,
            ExportRows::Goals => Some(Selection::Goals),
            ExportRows::Gauges => Some(Selection::Gauges),
            ExportRows::Breakdown(name) => {
                let configured = &ctx.settings.file.breakdown;
                match configured.iter().find(|b| &b.name == name) {
                    Some(b) => Some(Selection::Breakdown(b.clone())),
                    None if configured.is_empty() => {
                        return Err(usage(format!(
                            "--breakdown {name:?} names no configured breakdown: the config has no [[breakdown]] (see the README, \"Properties, goals and gauges\")"
                        )));
                    }
                    None => {
                        let names: Vec<String> =
                            configured.iter().map(|b| format!("{:?}", b.name)).collect();
                        return Err(usage(format!(
                            "--breakdown {name:?} names no configured breakdown; the config has {}",
                            names.join(", ")
                        )));
                    }
                }
            }
        })
    }

    /// The rows, for messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Selection::Goals => "goals".to_string(),
            Selection::Gauges => "gauges".to_string(),
            Selection::Breakdown(b) => format!("breakdown {:?}", b.name),
        }
    }

    /// What `--output-dir`'s file name says after the dates (only letters,
    /// digits, `-` and `_` of a breakdown's name, so it never makes a path).
    pub(super) fn file_tag(&self) -> String {
        match self {
            Selection::Goals => "goals".to_string(),
            Selection::Gauges => "gauges".to_string(),
            Selection::Breakdown(b) => {
                let safe: String = b
                    .name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                format!("breakdown-{safe}")
            }
        }
    }

    pub(super) fn load(
        &self,
        conn: &Connection,
        range: &DayRange,
        site: Option<i64>,
    ) -> Result<Rows> {
        Ok(match self {
            Selection::Breakdown(b) => Rows::Breakdown {
                sums: b.sums.clone(),
                rows: rows::load_breakdown(conn, &b.name, range.start, range.end, site)?,
            },
            Selection::Goals => Rows::Goals(rows::load_goals(conn, range.start, range.end, site)?),
            Selection::Gauges => {
                Rows::Gauges(rows::load_gauges(conn, range.start, range.end, site)?)
            }
        })
    }
}

/// Loaded custom rows.
pub(super) enum Rows {
    Breakdown {
        /// The configured sums: one `sum_<prop>` column each.
        sums: Vec<String>,
        rows: Vec<Dated<BreakdownRow>>,
    },
    Goals(Vec<Dated<GoalRow>>),
    Gauges(Vec<Dated<GaugeRow>>),
}

/// `sums` as a JSON object, in the config's order.
struct Sums<'a>(&'a [(String, f64)]);

impl Serialize for Sums<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, &number(*v))?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct BreakdownJson<'a> {
    date: String,
    site: &'a str,
    breakdown: &'a str,
    value: &'a str,
    events: u64,
    pageviews: u64,
    custom_events: u64,
    unique_visitors: u64,
    unique_sessions: u64,
    orders: u64,
    revenue_cents: i64,
    sums: Sums<'a>,
}

#[derive(Serialize)]
struct GoalJson<'a> {
    date: String,
    site: &'a str,
    goal: &'a str,
    conversions: u64,
    events: u64,
    conversion_rate: f64,
    revenue_cents: i64,
}

#[derive(Serialize)]
struct GaugeJson<'a> {
    date: String,
    site: &'a str,
    gauge: &'a str,
    last: serde_json::Value,
    min: serde_json::Value,
    max: serde_json::Value,
    samples: u64,
}

/// One exported object.
#[derive(Serialize)]
#[serde(untagged)]
enum JsonRow<'a> {
    Breakdown(BreakdownJson<'a>),
    Goal(GoalJson<'a>),
    Gauge(GaugeJson<'a>),
}

fn cents(c: i64) -> String {
    let units = cents_to_units(c.unsigned_abs());
    if c < 0 { format!("-{units}") } else { units }
}

impl Rows {
    pub(super) fn len(&self) -> usize {
        match self {
            Rows::Breakdown { rows, .. } => rows.len(),
            Rows::Goals(rows) => rows.len(),
            Rows::Gauges(rows) => rows.len(),
        }
    }

    /// Every row as a CSV record (after the header) or a JSON object.
    fn records(&self) -> (Vec<String>, Vec<Vec<String>>, Vec<JsonRow<'_>>) {
        let mut csv = Vec::new();
        let mut json = Vec::new();
        let header: Vec<String>;
        match self {
            Rows::Breakdown { sums, rows } => {
                header = [
                    "date",
                    "site",
                    "breakdown",
                    "value",
                    "events",
                    "pageviews",
                    "custom_events",
                    "unique_visitors",
                    "unique_sessions",
                    "orders",
                    "revenue",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain(sums.iter().map(|s| format!("sum_{s}")))
                .collect();
                for Dated { date, site, row } in rows {
                    let mut rec = vec![
                        date.to_string(),
                        site.clone(),
                        row.breakdown.clone(),
                        row.value.clone(),
                        row.events.to_string(),
                        row.pageviews.to_string(),
                        row.custom_events.to_string(),
                        row.unique_visitors.to_string(),
                        row.unique_sessions.to_string(),
                        row.orders.to_string(),
                        cents(row.revenue_cents),
                    ];
                    for sum in sums {
                        rec.push(
                            row.sums
                                .iter()
                                .find(|s| &s.0 == sum)
                                .map(|s| number_text(s.1))
                                .unwrap_or_default(),
                        );
                    }
                    csv.push(rec);
                    json.push(JsonRow::Breakdown(BreakdownJson {
                        date: date.to_string(),
                        site,
                        breakdown: &row.breakdown,
                        value: &row.value,
                        events: row.events,
                        pageviews: row.pageviews,
                        custom_events: row.custom_events,
                        unique_visitors: row.unique_visitors,
                        unique_sessions: row.unique_sessions,
                        orders: row.orders,
                        revenue_cents: row.revenue_cents,
                        sums: Sums(&row.sums),
                    }));
                }
            }
            Rows::Goals(rows) => {
                header = [
                    "date",
                    "site",
                    "goal",
                    "conversions",
                    "events",
                    "conversion_rate",
                    "revenue",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                for Dated { date, site, row } in rows {
                    csv.push(vec![
                        date.to_string(),
                        site.clone(),
                        row.goal.clone(),
                        row.conversions.to_string(),
                        row.events.to_string(),
                        format!("{:.4}", row.conversion_rate()),
                        cents(row.revenue_cents),
                    ]);
                    json.push(JsonRow::Goal(GoalJson {
                        date: date.to_string(),
                        site,
                        goal: &row.goal,
                        conversions: row.conversions,
                        events: row.events,
                        conversion_rate: row.conversion_rate(),
                        revenue_cents: row.revenue_cents,
                    }));
                }
            }
            Rows::Gauges(rows) => {
                header = ["date", "site", "gauge", "last", "min", "max", "samples"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                for Dated { date, site, row } in rows {
                    csv.push(vec![
                        date.to_string(),
                        site.clone(),
                        row.gauge.clone(),
                        number_text(row.last),
                        number_text(row.min),
                        number_text(row.max),
                        row.samples.to_string(),
                    ]);
                    json.push(JsonRow::Gauge(GaugeJson {
                        date: date.to_string(),
                        site,
                        gauge: &row.gauge,
                        last: number(row.last),
                        min: number(row.min),
                        max: number(row.max),
                        samples: row.samples,
                    }));
                }
            }
        }
        (header, csv, json)
    }

    pub(super) fn render(&self, format: ExportFormat, out: &mut dyn Write) -> Result<()> {
        let (header, records, objects) = self.records();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        write_table(format, &header, records.into_iter(), &objects, out)
    }
}
