//! Daily rollups: one row per site per day (contract, "Daily rollup").
//!
//! `scan` counts a range of events, `engine` rolls up many days on both
//! cores and writes each day in its own transaction, `jobs` holds the
//! `aggregate` and `backfill` jobs built on it.

pub mod engine;
pub mod jobs;
mod rezone;
pub mod scan;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

/// An entry of a top-10 list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopItem {
    pub item: String,
    pub count: u64,
}

/// One site's figures for one day, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyRollup {
    pub date: NaiveDate,
    pub site: String,
    pub pageviews: u64,
    pub custom_events: u64,
    pub orders: u64,
    pub revenue_cents: u64,
    pub unique_visitors: u64,
    pub unique_sessions: u64,
    pub conversion_rate: f64,
    pub top_pages: Vec<TopItem>,
    pub top_referrers: Vec<TopItem>,
    pub top_events: Vec<TopItem>,
    /// Sessions with at least one order (the numerator of the rate).
    #[serde(skip)]
    pub converting_sessions: u64,
    /// False for a day that had not ended when it was rolled up.
    #[serde(skip)]
    pub complete: bool,
}

/// `converting / sessions`, 0 when there are no sessions.
pub fn conversion_rate(converting: u64, sessions: u64) -> f64 {
    if sessions == 0 {
        0.0
    } else {
        converting as f64 / sessions as f64
    }
}

/// How many entries a top list keeps.
pub const TOP_N: usize = 10;

/// The top [`TOP_N`] of `counts` (label id -> count): most counted first,
/// ties by the label's text in ascending byte order. Only the candidates
/// that can make the list are looked up.
pub fn top_list(
    conn: &Connection,
    counts: &rustc_hash::FxHashMap<i64, u64>,
) -> Result<Vec<TopItem>> {
    let mut entries: Vec<(i64, u64)> = counts.iter().map(|(k, v)| (*k, *v)).collect();
    entries.sort_unstable_by_key(|e| std::cmp::Reverse(e.1));
    if entries.len() > TOP_N {
        let cutoff = entries[TOP_N - 1].1;
        entries.retain(|e| e.1 >= cutoff);
    }
    let mut stmt = conn.prepare_cached("SELECT value FROM labels WHERE id = ?1")?;
    let mut items = Vec::with_capacity(entries.len());
    for (id, count) in entries {
        let item: String = stmt
            .query_row([id], |r| r.get(0))
            .with_context(|| format!("label {id} is missing from the store"))?;
        items.push(TopItem { item, count });
    }
    items.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.item.as_bytes().cmp(b.item.as_bytes()))
    });
    items.truncate(TOP_N);
    Ok(items)
}

/// Read the stored rollups of `[start, end]`, ordered by date then site.
pub fn load(
    conn: &Connection,
    start: NaiveDate,
    end: NaiveDate,
    site: Option<i64>,
) -> Result<Vec<DailyRollup>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.date, s.name, r.pageviews, r.custom_events, r.orders, r.revenue_cents,
                r.unique_visitors, r.unique_sessions, r.converting_sessions,
                r.top_pages, r.top_referrers, r.top_events, r.complete
         FROM daily_rollups r JOIN sites s ON s.id = r.site_id
         WHERE r.date >= ?1 AND r.date <= ?2 AND (?3 IS NULL OR r.site_id = ?3)
         ORDER BY r.date, s.name",
    )?;
    let rows = stmt.query_map(params![start.to_string(), end.to_string(), site], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            [
                r.get::<_, i64>(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ],
            [
                r.get::<_, String>(9)?,
                r.get::<_, String>(10)?,
                r.get::<_, String>(11)?,
            ],
            r.get::<_, bool>(12)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (date, site, n, tops, complete) = row?;
        let date = date
            .parse()
            .with_context(|| format!("a rollup row has a bad date '{date}'"))?;
        let top = |text: &str| -> Result<Vec<TopItem>> {
            serde_json::from_str(text).context("a rollup row has a malformed top list")
        };
        let u = |v: i64| v.max(0) as u64;
        out.push(DailyRollup {
            date,
            site,
            pageviews: u(n[0]),
            custom_events: u(n[1]),
            orders: u(n[2]),
            revenue_cents: u(n[3]),
            unique_visitors: u(n[4]),
            unique_sessions: u(n[5]),
            conversion_rate: conversion_rate(u(n[6]), u(n[5])),
            top_pages: top(&tops[0])?,
            top_referrers: top(&tops[1])?,
            top_events: top(&tops[2])?,
            converting_sessions: u(n[6]),
            complete,
        });
    }
    Ok(out)
}
