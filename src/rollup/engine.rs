//! Rolling up many days: worker threads scan day ranges on their own
//! read-only connections (WAL lets them read while we write) and the calling
//! thread writes each finished day in its own transaction, so a run killed
//! half-way keeps every day it finished.
//!
//! Dirty marks are cleared only up to the event sequence number the scan
//! saw; an ingest that commits into the day while we scan leaves its mark
//! (or gets one from the check in [`write_day`]), so no late event is missed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use chrono_tz::Tz;
use rusqlite::{Connection, params};

use super::scan::{RangeCounts, scan_range};
use super::{TopItem, top_list};
use crate::store::Store;
use crate::time::day_bounds_ms;

/// How to roll up.
#[derive(Debug, Clone, Copy)]
pub struct RollupOptions {
    pub tz: Tz,
    /// Only this site (its rows and marks); `None` for all.
    pub site: Option<i64>,
    /// "now" in UTC ms: a day not ended by then is stored as incomplete.
    pub now_ms: i64,
    pub threads: usize,
    pub busy_timeout_ms: u64,
}

/// What rolling up one day did.
#[derive(Debug, Clone, Copy, Default)]
pub struct DayReport {
    pub sites: usize,
    pub events: u64,
}

/// Roll up `days`, calling `on_day` as each one is written or fails.
/// Returns the failures (the other days are done).
pub fn roll_days<F>(
    store: &mut Store,
    days: &[NaiveDate],
    opts: RollupOptions,
    mut on_day: F,
) -> Vec<(NaiveDate, anyhow::Error)>
where
    F: FnMut(NaiveDate, &Result<DayReport>),
{
    if days.is_empty() {
        return Vec::new();
    }
    let threads = opts.threads.max(1);
    // Few days: split each day in parts so that every core has work.
    let parts = if days.len() < threads { threads } else { 1 };
    let mut units = Vec::with_capacity(days.len() * parts);
    for (i, day) in days.iter().enumerate() {
        let (start, end) = day_bounds_ms(*day, opts.tz);
        let step = (end - start) / parts as i64;
        for p in 0..parts {
            let s = start + step * p as i64;
            let e = if p + 1 == parts { end } else { s + step };
            units.push((i, s, e));
        }
    }
    let next = AtomicUsize::new(0);
    let mut failures = Vec::new();
    let (tx, rx) = channel::<(usize, Result<RangeCounts>)>();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(units.len()) {
            let tx = tx.clone();
            let units = &units;
            let next = &next;
            let conn = store.reopen_read_only(opts.busy_timeout_ms);
            scope.spawn(move || {
                let conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        // Fail every unit this worker would have taken.
                        let mut err = Some(e);
                        loop {
                            let u = next.fetch_add(1, Ordering::Relaxed);
                            if u >= units.len() {
                                return;
                            }
                            let e = err
                                .take()
                                .unwrap_or_else(|| anyhow::anyhow!("cannot open the store"));
                            if tx.send((units[u].0, Err(e))).is_err() {
                                return;
                            }
                        }
                    }
                };
                loop {
                    let u = next.fetch_add(1, Ordering::Relaxed);
                    if u >= units.len() {
                        return;
                    }
                    let (day, s, e) = units[u];
                    let counts = scan_range(&conn, s, e, opts.site);
                    if tx.send((day, counts)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: Vec<(usize, Option<Result<RangeCounts>>)> =
            (0..days.len()).map(|_| (0, None)).collect();
        for (day, counts) in rx {
            let slot = &mut pending[day];
            slot.0 += 1;
            slot.1 = Some(match (slot.1.take(), counts) {
                (None, c) => c,
                (Some(Err(e)), _) | (Some(Ok(_)), Err(e)) => Err(e),
                (Some(Ok(mut a)), Ok(b)) => {
                    a.merge(b);
                    Ok(a)
                }
            });
            if slot.0 < parts {
                continue;
            }
            let date = days[day];
            let result = match slot.1.take().expect("set above") {
                Ok(counts) => write_day(&mut store.conn, date, counts, opts),
                Err(e) => Err(e),
            };
            let result = result.with_context(|| format!("rolling up {date} failed"));
            on_day(date, &result);
            if let Err(e) = result {
                failures.push((date, e));
            }
        }
    });
    failures.sort_by_key(|f| f.0);
    failures
}

/// Write one day's rows, clear the marks the scan covered, in one
/// transaction.
fn write_day(
    conn: &mut Connection,
    date: NaiveDate,
    counts: RangeCounts,
    opts: RollupOptions,
) -> Result<DayReport> {
    let (start_ms, end_ms) = day_bounds_ms(date, opts.tz);
    let day = date.to_string();
    let tz_name = opts.tz.name();
    let complete = end_ms <= opts.now_ms;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Sites are read here, not before the scan, so a site created while we
    // scanned still gets its row (or its mark below).
    let sites: Vec<i64> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id FROM sites WHERE first_ts < ?1 AND (?2 IS NULL OR id = ?2) ORDER BY id",
        )?;
        stmt.query_map(params![end_ms, opts.site], |r| r.get(0))?
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
        let empty = super::scan::SiteCounts::default();
        for site in &sites {
            let c = counts.sites.get(site).unwrap_or(&empty);
            let json = |items: Vec<TopItem>| serde_json::to_string(&items).unwrap_or_default();
            upsert.execute(params![
                site,
                day,
                c.pageviews as i64,
                c.custom_events as i64,
                c.orders as i64,
                c.revenue_cents,
                c.visitors.len() as i64,
                c.sessions.len() as i64,
                c.converting.len() as i64,
                json(top_list(&tx, &c.pages)?),
                json(top_list(&tx, &c.referrers)?),
                json(top_list(&tx, &c.event_names)?),
                c.events as i64,
                complete,
                tz_name,
                opts.now_ms,
            ])?;
            report.sites += 1;
            report.events += c.events;
        }
    }
    tx.execute(
        "DELETE FROM dirty_days WHERE date = ?1 AND mark <= ?2 AND (?3 IS NULL OR site_id = ?3)",
        params![day, counts.seq_seen, opts.site],
    )?;
    // An ingest that committed into this day after our snapshot found the
    // day not yet rolled up and so left no mark: leave one for it.
    let next_seq: i64 = tx.query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
        r.get(0)
    })?;
    if next_seq > counts.seq_seen {
        tx.execute(
            "INSERT INTO dirty_days (site_id, date, mark)
             SELECT DISTINCT site_id, ?3, ?4 FROM events
             WHERE id >= ?1 * 16384 AND id < ?2 * 16384 AND batch >= ?5 AND (?6 IS NULL OR site_id = ?6)
             ON CONFLICT (site_id, date) DO UPDATE SET mark = excluded.mark",
            params![start_ms, end_ms, day, next_seq, counts.seq_seen, opts.site],
        )?;
    }
    // The first rollup records the store's zone (`job::zone`); later
    // ones find it already there.
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('tz', ?1) ON CONFLICT (key) DO NOTHING",
        [tz_name],
    )?;
    crate::fault::inject("rollup-write");
    tx.commit()?;
    Ok(report)
}
