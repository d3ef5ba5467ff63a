//! The daily rollups in the store: the row type every job reads, loading a
//! range of them, and writing one day's rows with its re-aggregation marks
//! in one transaction.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

/// An entry of a top-10 list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TopItem {
    pub(crate) item: String,
    pub(crate) count: u64,
}

/// One site's figures for one day, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DailyRollup {
    pub(crate) date: NaiveDate,
    pub(crate) site: String,
    pub(crate) pageviews: u64,
    pub(crate) custom_events: u64,
    pub(crate) orders: u64,
    pub(crate) revenue_cents: u64,
    pub(crate) unique_visitors: u64,
    pub(crate) unique_sessions: u64,
    pub(crate) conversion_rate: f64,
    pub(crate) top_pages: Vec<TopItem>,
    pub(crate) top_referrers: Vec<TopItem>,
    pub(crate) top_events: Vec<TopItem>,
    /// Sessions with at least one order (the numerator of the rate).
    #[serde(skip)]
    pub(crate) converting_sessions: u64,
    /// False for a day that had not ended when it was rolled up.
    #[serde(skip)]
    pub(crate) complete: bool,
}

/// `converting / sessions`, 0 when there are no sessions.
pub(crate) fn conversion_rate(converting: u64, sessions: u64) -> f64 {
    if sessions == 0 {
        0.0
    } else {
        converting as f64 / sessions as f64
    }
}

/// Read the stored rollups of `[start, end]`, ordered by date then site.
pub(crate) fn load(
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

/// One site's figures of one day, as an engine computed them: what a rollup
/// row stores.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SiteFigures {
    pub(crate) site_id: i64,
    pub(crate) events: u64,
    pub(crate) pageviews: u64,
    pub(crate) custom_events: u64,
    pub(crate) orders: u64,
    pub(crate) revenue_cents: i64,
    pub(crate) unique_visitors: u64,
    pub(crate) unique_sessions: u64,
    pub(crate) converting_sessions: u64,
    pub(crate) top_pages: Vec<TopItem>,
    pub(crate) top_referrers: Vec<TopItem>,
    pub(crate) top_events: Vec<TopItem>,
    /// Breakdowns, goals and gauges.
    pub(crate) custom: super::custom::rows::CustomFigures,
}

/// A rolled-up day to write.
#[derive(Debug, Clone)]
pub(crate) struct DayWrite<'a> {
    pub(crate) date: NaiveDate,
    /// Its UTC bounds, `[start_ms, end_ms)`.
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    /// The zone the day is counted in, recorded with the rows.
    pub(crate) tz: &'a str,
    /// False for a day not over yet (`aggregate --today`).
    pub(crate) complete: bool,
    pub(crate) rolled_at_ms: i64,
    /// Only this site's rows and marks; `None` for all.
    pub(crate) site: Option<i64>,
    /// The ingest batch sequence number the figures saw: marks up to it are
    /// served by this write.
    pub(crate) seq_seen: i64,
    /// The custom rows of a site without events that day (goals at zero).
    pub(crate) empty_custom: &'a super::custom::rows::CustomFigures,
}

/// What writing one day did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DayReport {
    pub(crate) sites: usize,
    pub(crate) events: u64,
}

/// Write one day's rows (every site with events by the day's end gets one,
/// zeros included), clear the re-aggregation marks the figures covered, and
/// record the store's zone if it has none, in one transaction.
pub(crate) fn write_day(
    conn: &mut Connection,
    day: &DayWrite,
    figures: &[SiteFigures],
) -> Result<DayReport> {
    let date = day.date.to_string();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Sites are read here, not before the scan, so a site created while we
    // scanned still gets its row (or its mark below).
    let sites: Vec<i64> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id FROM sites WHERE first_ts < ?1 AND (?2 IS NULL OR id = ?2) ORDER BY id",
        )?;
        stmt.query_map(params![day.end_ms, day.site], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut report = DayReport::default();
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO daily_rollups (site_id, date, pageviews, custom_events, orders,
                 revenue_cents, unique_visitors, unique_sessions, converting_sessions,
                 top_pages, top_referrers, top_events, events, complete, tz, rolled_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (site_id, date) DO UPDATE SET
                 pageviews = excluded.pageviews, custom_events = excluded.custom_events,
                 orders = excluded.orders, revenue_cents = excluded.revenue_cents,
                 unique_visitors = excluded.unique_visitors,
                 unique_sessions = excluded.unique_sessions,
                 converting_sessions = excluded.converting_sessions,
                 top_pages = excluded.top_pages, top_referrers = excluded.top_referrers,
                 top_events = excluded.top_events, events = excluded.events,
                 complete = excluded.complete, tz = excluded.tz, rolled_at = excluded.rolled_at",
        )?;
        let zero = SiteFigures::default();
        let json = |items: &[TopItem]| serde_json::to_string(items).unwrap_or_default();
        for site in &sites {
            let f = figures.iter().find(|f| f.site_id == *site).unwrap_or(&zero);
            upsert.execute(params![
                site,
                date,
                f.pageviews as i64,
                f.custom_events as i64,
                f.orders as i64,
                f.revenue_cents,
                f.unique_visitors as i64,
                f.unique_sessions as i64,
                f.converting_sessions as i64,
                json(&f.top_pages),
                json(&f.top_referrers),
                json(&f.top_events),
                f.events as i64,
                day.complete,
                day.tz,
                day.rolled_at_ms,
            ])?;
            let custom = if figures.iter().any(|f| f.site_id == *site) {
                &f.custom
            } else {
                day.empty_custom
            };
            super::custom::rows::write(&tx, *site, &date, custom)?;
            report.sites += 1;
            report.events += f.events;
        }
    }
    tx.execute(
        "DELETE FROM dirty_days WHERE date = ?1 AND mark <= ?2 AND (?3 IS NULL OR site_id = ?3)",
        params![date, day.seq_seen, day.site],
    )?;
    // An ingest that committed into this day after our snapshot found the
    // day not yet rolled up and so left no mark: leave one for it.
    let next_seq: i64 = tx.query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
        r.get(0)
    })?;
    if next_seq > day.seq_seen {
        tx.execute(
            "INSERT INTO dirty_days (site_id, date, mark)
             SELECT DISTINCT site_id, ?3, ?4 FROM events
             WHERE id >= ?1 * 16384 AND id < ?2 * 16384 AND batch >= ?5 AND (?6 IS NULL OR site_id = ?6)
             ON CONFLICT (site_id, date) DO UPDATE SET mark = excluded.mark",
            params![day.start_ms, day.end_ms, date, next_seq, day.seq_seen, day.site],
        )?;
    }
    // The first rollup records the store's zone (`job::zone`); later ones
    // find it already there.
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('tz', ?1) ON CONFLICT (key) DO NOTHING",
        [day.tz],
    )?;
    crate::fault::inject("rollup-write");
    tx.commit()?;
    Ok(report)
}

/// The days ingest marked for re-aggregation (of one site, or all).
pub(crate) fn marked_days(conn: &Connection, site: Option<i64>) -> Result<Vec<NaiveDate>> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT date FROM dirty_days WHERE (?1 IS NULL OR site_id = ?1) ORDER BY date",
    )?;
    let dates: Vec<String> = stmt
        .query_map([site], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(dates.iter().filter_map(|d| d.parse().ok()).collect())
}

/// Forget the marks of `date`: its rollups can never be made again.
pub(crate) fn clear_marks(conn: &Connection, date: NaiveDate) -> Result<()> {
    conn.execute("DELETE FROM dirty_days WHERE date = ?1", [date.to_string()])?;
    Ok(())
}

/// The zone the newest rollups were made in (a store from before the
/// store kept its zone), if there are rollups.
pub(crate) fn zone_of_newest(conn: &Connection) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT tz FROM daily_rollups ORDER BY rolled_at DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Drop the rollups of `from` on (all when `None`) and every mark: the
/// store's zone changes and they are made again (`backfill --rezone`).
pub(crate) fn drop_for_rezone(conn: &Connection, from: Option<&str>) -> Result<usize> {
    let dropped = conn.execute(
        "DELETE FROM daily_rollups WHERE ?1 IS NULL OR date >= ?1",
        params![from],
    )?;
    conn.execute("DELETE FROM dirty_days", [])?;
    super::custom::rows::drop_from(conn, from)?;
    Ok(dropped)
}

/// The newest day whose rollup is complete (`aggregate --today` rows are
/// not), through the date index read backwards.
pub(crate) fn newest_complete_date(conn: &Connection) -> rusqlite::Result<Option<String>> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT date FROM daily_rollups WHERE complete = 1 ORDER BY date DESC LIMIT 1",
        [],
        |r| r.get::<_, String>(0),
    )
    .optional()
}

/// The newest day with a rollup row, complete or not.
pub(crate) fn newest_date(conn: &Connection) -> Result<Option<NaiveDate>> {
    let newest: Option<String> =
        conn.query_row("SELECT max(date) FROM daily_rollups", [], |r| r.get(0))?;
    Ok(newest.and_then(|d| d.parse().ok()))
}

/// The days before `before` that are marked for re-aggregation or whose
/// rollup is incomplete.
pub(crate) fn unsettled_before(
    conn: &Connection,
    before: NaiveDate,
) -> Result<std::collections::BTreeSet<NaiveDate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT date FROM dirty_days WHERE date < ?1
         UNION SELECT date FROM daily_rollups WHERE date < ?1 AND complete = 0",
    )?;
    let rows = stmt.query_map([before.to_string()], |r| r.get::<_, String>(0))?;
    Ok(rows
        .filter_map(|d| d.map(|d| d.parse().ok()).transpose())
        .collect::<rusqlite::Result<_>>()?)
}

/// Whether a site that had started before `end_ms` has no row for `day`.
pub(crate) fn some_site_lacks_row(conn: &Connection, day: NaiveDate, end_ms: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sites s WHERE s.first_ts < ?1 AND NOT EXISTS
                 (SELECT 1 FROM daily_rollups r WHERE r.site_id = s.id AND r.date = ?2))",
        )?
        .query_row((end_ms, day.to_string()), |r| r.get(0))?)
}
