//! The rows of breakdowns, goals and gauges: made from a site's counts
//! (the top values kept, the rest merged into `(other)`, label ids turned
//! into text), written with the day's daily rows, and read back for the
//! export, the snapshot and the guard.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rusqlite::{Connection, Transaction, params};

use super::breakdown::{BreakdownCounts, ValueCounts};
use super::sessions::SessionRows;
use super::{CustomSpec, SiteCustom, ValueKey};
use crate::settings::props::BreakdownConfig;
use crate::store::events::label_text;
use crate::store::props::number_text;

/// The value that the breakdown values past `top` are merged into.
pub(crate) const OTHER: &str = "(other)";

/// A breakdown row of one site and day.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BreakdownRow {
    pub(crate) breakdown: String,
    pub(crate) value: String,
    pub(crate) events: u64,
    pub(crate) pageviews: u64,
    pub(crate) custom_events: u64,
    pub(crate) orders: u64,
    pub(crate) revenue_cents: i64,
    pub(crate) unique_visitors: u64,
    pub(crate) unique_sessions: u64,
    /// (numeric prop, total), in the config's order.
    pub(crate) sums: Vec<(String, f64)>,
}

/// A goal row of one site and day.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GoalRow {
    pub(crate) goal: String,
    pub(crate) conversions: u64,
    pub(crate) events: u64,
    /// The day's unique sessions (the rate's denominator).
    pub(crate) sessions: u64,
    pub(crate) revenue_cents: i64,
}

impl GoalRow {
    pub(crate) fn conversion_rate(&self) -> f64 {
        crate::store::rollups::conversion_rate(self.conversions, self.sessions)
    }
}

/// A gauge row of one site and day.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GaugeRow {
    pub(crate) gauge: String,
    pub(crate) last: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) samples: u64,
}

/// Everything custom of one site and day.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CustomFigures {
    pub(crate) breakdowns: Vec<BreakdownRow>,
    pub(crate) goals: Vec<GoalRow>,
    pub(crate) gauges: Vec<GaugeRow>,
}

/// A value's text: strings as stored, numbers as JSON writes them,
/// booleans `true`/`false`.
fn value_text(conn: &Connection, key: ValueKey) -> Result<String> {
    Ok(match key {
        ValueKey::Label(id) => label_text(conn, id)?,
        ValueKey::Int(i) => i.to_string(),
        ValueKey::Num(bits) => number_text(f64::from_bits(bits)),
        ValueKey::Bool(b) => b.to_string(),
    })
}

/// A breakdown's rows: the `top` values by events (ties by text, only the
/// candidates' text looked up), then the rest merged into `(other)`.
fn breakdown_rows(
    conn: &Connection,
    config: &BreakdownConfig,
    counts: &mut BreakdownCounts,
    (rows, b): (&mut SessionRows, usize),
    out: &mut Vec<BreakdownRow>,
) -> Result<()> {
    let top = usize::try_from(config.top).unwrap_or(usize::MAX);
    let mut slots: Vec<usize> = (0..counts.values.len()).collect();
    let events = |slot: &usize| counts.values[*slot].1.events;
    slots.sort_unstable_by_key(|s| std::cmp::Reverse(events(s)));
    // The candidates: the first `top` and whatever ties with the last.
    let mut end = slots.len().min(top);
    while end > 0 && end < slots.len() && events(&slots[end]) == events(&slots[end - 1]) {
        end += 1;
    }
    let rest = slots.split_off(end);
    let mut kept = Vec::with_capacity(slots.len());
    for slot in slots {
        kept.push((value_text(conn, counts.values[slot].0)?, slot));
    }
    kept.sort_by(|a, b| {
        events(&b.1)
            .cmp(&events(&a.1))
            .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
    });
    let mut merged = rest;
    if kept.len() > top {
        merged.extend(kept.drain(top..).map(|k| k.1));
    }
    // A value spelled "(other)" joins the merged row when there is one.
    if !merged.is_empty()
        && let Some(at) = kept.iter().position(|k| k.0 == OTHER)
    {
        merged.push(kept.remove(at).1);
    }
    // Group i is the i-th kept value; the merged ones share the last.
    let mut group = vec![0u32; counts.values.len()];
    for (i, (_, slot)) in kept.iter().enumerate() {
        group[*slot] = i as u32;
    }
    for slot in &merged {
        group[*slot] = kept.len() as u32;
    }
    let distinct = counts.distinct(&group, kept.len() + 1, rows, b);
    let row = |value: String, v: &ValueCounts, (visitors, sessions): (u64, u64)| BreakdownRow {
        breakdown: config.name.clone(),
        value,
        events: v.events,
        pageviews: v.pageviews,
        custom_events: v.custom_events,
        orders: v.orders,
        revenue_cents: v.revenue_cents,
        unique_visitors: visitors,
        unique_sessions: sessions,
        sums: config
            .sums
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), v.sums.get(i).copied().unwrap_or(0.0)))
            .collect(),
    };
    for (i, (text, slot)) in kept.iter().enumerate() {
        out.push(row(text.clone(), &counts.values[*slot].1, distinct[i]));
    }
    if !merged.is_empty() {
        let mut other = ValueCounts::default();
        for slot in &merged {
            other.merge(&counts.values[*slot].1);
        }
        out.push(row(OTHER.to_string(), &other, distinct[kept.len()]));
    }
    Ok(())
}

/// One site's rows from its counts; `unique_sessions` is the day's.
pub(crate) fn figures(
    conn: &Connection,
    spec: &CustomSpec,
    c: &mut SiteCustom,
    unique_sessions: u64,
) -> Result<CustomFigures> {
    let mut out = CustomFigures::default();
    for (b, (config, counts)) in spec.breakdowns.iter().zip(&mut c.breakdowns).enumerate() {
        breakdown_rows(
            conn,
            config,
            counts,
            (&mut c.sessions, b),
            &mut out.breakdowns,
        )?;
    }
    for (config, g) in spec.goals.iter().zip(&c.goals) {
        let revenue_cents = g
            .sessions
            .iter()
            .filter_map(|s| c.order_revenue.get(s))
            .sum();
        out.goals.push(GoalRow {
            goal: config.name.clone(),
            conversions: g.sessions.len() as u64,
            events: g.events,
            sessions: unique_sessions,
            revenue_cents,
        });
    }
    // A site whose events matched no goal still gets a row per goal.
    for config in spec.goals.iter().skip(c.goals.len()) {
        out.goals.push(GoalRow {
            goal: config.name.clone(),
            conversions: 0,
            events: 0,
            sessions: unique_sessions,
            revenue_cents: 0,
        });
    }
    let mut gauges: Vec<_> = c.gauges.iter().collect();
    gauges.sort_by_key(|g| *g.0);
    for (name, g) in gauges {
        out.gauges.push(GaugeRow {
            gauge: label_text(conn, *name)?,
            last: g.last,
            min: g.min,
            max: g.max,
            samples: g.samples,
        });
    }
    out.gauges.sort_by(|a, b| a.gauge.cmp(&b.gauge));
    Ok(out)
}

/// The custom rows present in a day's figures for a site with no events
/// (goals at zero), so that a silent day shows as zero.
pub(crate) fn empty(spec: &CustomSpec) -> CustomFigures {
    CustomFigures {
        goals: spec
            .goals
            .iter()
            .map(|g| GoalRow {
                goal: g.name.clone(),
                conversions: 0,
                events: 0,
                sessions: 0,
                revenue_cents: 0,
            })
            .collect(),
        ..CustomFigures::default()
    }
}

fn sums_json(sums: &[(String, f64)]) -> String {
    serde_json::to_string(
        &sums
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default()
}

/// Replace the site's rows of `date` with `f` (in the day's transaction).
pub(crate) fn write(tx: &Transaction, site: i64, date: &str, f: &CustomFigures) -> Result<()> {
    for table in ["breakdown_rollups", "goal_rollups", "gauge_rollups"] {
        tx.prepare_cached(&format!(
            "DELETE FROM {table} WHERE site_id = ?1 AND date = ?2"
        ))?
        .execute(params![site, date])?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO breakdown_rollups (site_id, date, breakdown, value, events, pageviews,
             custom_events, orders, revenue_cents, unique_visitors, unique_sessions, sums)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for b in &f.breakdowns {
        stmt.execute(params![
            site,
            date,
            b.breakdown,
            b.value,
            b.events as i64,
            b.pageviews as i64,
            b.custom_events as i64,
            b.orders as i64,
            b.revenue_cents,
            b.unique_visitors as i64,
            b.unique_sessions as i64,
            sums_json(&b.sums),
        ])?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO goal_rollups (site_id, date, goal, conversions, events, sessions, revenue_cents)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for g in &f.goals {
        stmt.execute(params![
            site,
            date,
            g.goal,
            g.conversions as i64,
            g.events as i64,
            g.sessions as i64,
            g.revenue_cents,
        ])?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO gauge_rollups (site_id, date, gauge, last, min, max, samples)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for g in &f.gauges {
        stmt.execute(params![
            site,
            date,
            g.gauge,
            g.last,
            g.min,
            g.max,
            g.samples as i64
        ])?;
    }
    Ok(())
}

/// A stored row with its day and site.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dated<T> {
    pub(crate) date: NaiveDate,
    pub(crate) site: String,
    pub(crate) row: T,
}

fn date_of(text: &str) -> Result<NaiveDate> {
    text.parse()
        .with_context(|| format!("a rollup row has a bad date '{text}'"))
}

/// The breakdown `name`'s rows of `[start, end]`, by date, site, then
/// events (most first) and value, `(other)` last.
pub(crate) fn load_breakdown(
    conn: &Connection,
    name: &str,
    start: NaiveDate,
    end: NaiveDate,
    site: Option<i64>,
) -> Result<Vec<Dated<BreakdownRow>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.date, s.name, r.value, r.events, r.pageviews, r.custom_events, r.orders,
                r.revenue_cents, r.unique_visitors, r.unique_sessions, r.sums
         FROM breakdown_rollups r JOIN sites s ON s.id = r.site_id
         WHERE r.breakdown = ?1 AND r.date >= ?2 AND r.date <= ?3 AND (?4 IS NULL OR r.site_id = ?4)
         ORDER BY r.date, s.name, r.value = '(other)', r.events DESC, CAST(r.value AS BLOB)",
    )?;
    let mut rows = stmt.query(params![name, start.to_string(), end.to_string(), site])?;
    let mut out = Vec::new();
    let u = |v: i64| v.max(0) as u64;
    while let Some(r) = rows.next()? {
        let sums: String = r.get(10)?;
        let sums: Vec<(String, f64)> =
            serde_json::from_str(&sums).context("a breakdown row has malformed sums")?;
        out.push(Dated {
            date: date_of(&r.get::<_, String>(0)?)?,
            site: r.get(1)?,
            row: BreakdownRow {
                breakdown: name.to_string(),
                value: r.get(2)?,
                events: u(r.get(3)?),
                pageviews: u(r.get(4)?),
                custom_events: u(r.get(5)?),
                orders: u(r.get(6)?),
                revenue_cents: r.get(7)?,
                unique_visitors: u(r.get(8)?),
                unique_sessions: u(r.get(9)?),
                sums,
            },
        });
    }
    Ok(out)
}

/// The goal rows of `[start, end]`, by date, site and goal.
pub(crate) fn load_goals(
    conn: &Connection,
    start: NaiveDate,
    end: NaiveDate,
    site: Option<i64>,
) -> Result<Vec<Dated<GoalRow>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.date, s.name, r.goal, r.conversions, r.events, r.sessions, r.revenue_cents
         FROM goal_rollups r JOIN sites s ON s.id = r.site_id
         WHERE r.date >= ?1 AND r.date <= ?2 AND (?3 IS NULL OR r.site_id = ?3)
         ORDER BY r.date, s.name, CAST(r.goal AS BLOB)",
    )?;
    let mut rows = stmt.query(params![start.to_string(), end.to_string(), site])?;
    let mut out = Vec::new();
    let u = |v: i64| v.max(0) as u64;
    while let Some(r) = rows.next()? {
        out.push(Dated {
            date: date_of(&r.get::<_, String>(0)?)?,
            site: r.get(1)?,
            row: GoalRow {
                goal: r.get(2)?,
                conversions: u(r.get(3)?),
                events: u(r.get(4)?),
                sessions: u(r.get(5)?),
                revenue_cents: r.get(6)?,
            },
        });
    }
    Ok(out)
}

/// The gauge rows of `[start, end]`, by date, site and gauge.
pub(crate) fn load_gauges(
    conn: &Connection,
    start: NaiveDate,
    end: NaiveDate,
    site: Option<i64>,
) -> Result<Vec<Dated<GaugeRow>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.date, s.name, r.gauge, r.last, r.min, r.max, r.samples
         FROM gauge_rollups r JOIN sites s ON s.id = r.site_id
         WHERE r.date >= ?1 AND r.date <= ?2 AND (?3 IS NULL OR r.site_id = ?3)
         ORDER BY r.date, s.name, CAST(r.gauge AS BLOB)",
    )?;
    let mut rows = stmt.query(params![start.to_string(), end.to_string(), site])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(Dated {
            date: date_of(&r.get::<_, String>(0)?)?,
            site: r.get(1)?,
            row: GaugeRow {
                gauge: r.get(2)?,
                last: r.get(3)?,
                min: r.get(4)?,
                max: r.get(5)?,
                samples: r.get::<_, i64>(6)?.max(0) as u64,
            },
        });
    }
    Ok(out)
}

/// Drop the custom rows of `from` on (all when `None`): the store's zone
/// changes (`backfill --rezone`).
pub(crate) fn drop_from(conn: &Connection, from: Option<&str>) -> Result<()> {
    for table in ["breakdown_rollups", "goal_rollups", "gauge_rollups"] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE ?1 IS NULL OR date >= ?1"),
            params![from],
        )?;
    }
    Ok(())
}
