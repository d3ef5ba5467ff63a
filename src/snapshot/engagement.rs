//! The engagement sources: what the rollups do not hold, read from the
//! events of a day and the visitor and session tables.
//!
//! Each query reads one day as one range of the events' primary key (the
//! table is clustered by time), so a day costs the same however long the
//! store's history is.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use chrono_tz::Tz;
use rusqlite::Connection;
use serde::Serialize;

use super::figures::History;
use crate::time::day_bounds_ms;

/// The most custom event names listed per site (a client sending a new
/// name per event must not blow up the snapshot).
pub(crate) const EVENTS_BY_NAME_MAX: usize = 100;

/// A custom event name and how often it was sent that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct NamedCount {
    pub(crate) name: String,
    pub(crate) count: u64,
}

/// Add returning visitors and closed sessions to every rolled-up day of
/// `history` (sites without such events keep 0). A day whose raw events
/// retention has deleted is dropped from the comparison; for `date` itself
/// that is an error.
pub(crate) fn add_engagement(
    conn: &Connection,
    tz: Tz,
    date: NaiveDate,
    history: &mut History,
) -> Result<()> {
    let mut any_event = conn.prepare(
        "SELECT EXISTS (SELECT 1 FROM events WHERE id >= ?1 * 16384 AND id < ?2 * 16384)",
    )?;
    let mut purged = Vec::new();
    for (day, sites) in &history.days {
        let rolled_up = sites.values().any(|c| c.sessions > 0);
        let (start, end) = day_bounds_ms(*day, tz);
        if rolled_up && !any_event.query_row([start, end], |r| r.get::<_, bool>(0))? {
            if *day == date {
                bail!(
                    "the raw events of {date} are gone (retention keeps only recent days): only the rollups' figures remain"
                );
            }
            purged.push(*day);
        }
    }
    for day in purged {
        history.days.remove(&day);
    }
    let mut returning = conn.prepare(
        "SELECT s.name, count(*)
         FROM (SELECT DISTINCT site_id, visitor_id FROM events WHERE id >= ?1 * 16384 AND id < ?2 * 16384) d
         JOIN visitors v ON v.id = d.visitor_id
         JOIN sites s ON s.id = d.site_id
         WHERE v.first_ts < ?1
         GROUP BY s.name",
    )?;
    // A session belongs to the day it started; cleanup-sessions closes it
    // with ended_ts = its last activity.
    let mut closed = conn.prepare(
        "SELECT st.name, count(*), sum(s.ended_ts - s.started_ts)
         FROM (SELECT DISTINCT session_id FROM events WHERE id >= ?1 * 16384 AND id < ?2 * 16384) d
         JOIN sessions s ON s.id = d.session_id
         JOIN sites st ON st.id = s.site_id
         WHERE s.ended_ts IS NOT NULL AND s.started_ts >= ?1 AND s.started_ts < ?2
         GROUP BY st.name",
    )?;
    for (day, sites) in history.days.iter_mut() {
        let (start, end) = day_bounds_ms(*day, tz);
        let rows = returning.query_map([start, end], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (site, n) = row?;
            if let Some(c) = sites.get_mut(&site) {
                c.returning_visitors = n.max(0) as u64;
            }
        }
        let rows = closed.query_map([start, end], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?;
        for row in rows {
            let (site, n, ms) = row?;
            if let Some(c) = sites.get_mut(&site) {
                c.closed_sessions = n.max(0) as u64;
                c.closed_session_ms = ms.unwrap_or(0).max(0) as u64;
            }
        }
    }
    Ok(())
}

/// The custom events of one day by name: per site and for all sites,
/// most sent first (ties by name), at most [`EVENTS_BY_NAME_MAX`] each.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventsByName {
    pub(crate) sites: BTreeMap<String, Vec<NamedCount>>,
    /// The same name on several sites added up.
    pub(crate) all: Vec<NamedCount>,
}

/// Count the custom events of `date` by name.
pub(crate) fn events_by_name(conn: &Connection, date: NaiveDate, tz: Tz) -> Result<EventsByName> {
    let (start, end) = day_bounds_ms(date, tz);
    let mut stmt = conn.prepare(
        "SELECT s.name, l.value, count(*)
         FROM events e
         JOIN labels l ON l.id = e.label_id
         JOIN sites s ON s.id = e.site_id
         WHERE e.id >= ?1 * 16384 AND e.id < ?2 * 16384 AND e.kind = 1
         GROUP BY e.site_id, e.label_id",
    )?;
    let rows = stmt.query_map([start, end], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut sites: BTreeMap<String, Vec<NamedCount>> = BTreeMap::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for row in rows {
        let (site, name, count) = row.context("cannot count the custom events by name")?;
        let count = count.max(0) as u64;
        *totals.entry(name.clone()).or_default() += count;
        sites
            .entry(site)
            .or_default()
            .push(NamedCount { name, count });
    }
    for list in sites.values_mut() {
        sort_and_cap(list);
    }
    let mut all: Vec<NamedCount> = totals
        .into_iter()
        .map(|(name, count)| NamedCount { name, count })
        .collect();
    sort_and_cap(&mut all);
    Ok(EventsByName { sites, all })
}

fn sort_and_cap(list: &mut Vec<NamedCount>) {
    list.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
    });
    list.truncate(EVENTS_BY_NAME_MAX);
}
