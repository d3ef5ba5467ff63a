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
use crate::store::events;
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
    let mut purged = Vec::new();
    for (day, sites) in &history.days {
        let rolled_up = sites.values().any(|c| c.sessions > 0);
        let (start, end) = day_bounds_ms(*day, tz);
        if rolled_up && !events::any_between(conn, start, end)? {
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
    for (day, sites) in history.days.iter_mut() {
        let (start, end) = day_bounds_ms(*day, tz);
        for (site, n) in events::returning_visitors(conn, start, end)? {
            if let Some(c) = sites.get_mut(&site) {
                c.returning_visitors = n;
            }
        }
        for (site, n, ms) in events::closed_sessions(conn, start, end)? {
            if let Some(c) = sites.get_mut(&site) {
                c.closed_sessions = n;
                c.closed_session_ms = ms;
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
    let rows = events::custom_events_by_name(conn, start, end)
        .context("cannot count the custom events by name")?;
    let mut sites: BTreeMap<String, Vec<NamedCount>> = BTreeMap::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (site, name, count) in rows {
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
