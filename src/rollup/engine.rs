//! Rolling up many days: worker threads scan day ranges on their own
//! read-only connections (WAL lets them read while we write) and the calling
//! thread writes each finished day in its own transaction, so a run killed
//! half-way keeps every day it finished.
//!
//! Dirty marks are cleared only up to the event sequence number the scan
//! saw; an ingest that commits into the day while we scan leaves its mark
//! (or gets one from the check in `store::rollups::write_day`), so no late event is missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::store::Store;
use crate::store::custom::CustomSpec;
use crate::store::events::{RangeCounts, scan_range, site_figures};
pub(crate) use crate::store::rollups::DayReport;
use crate::store::rollups::{self, DayWrite};
use crate::time::day_bounds_ms;

/// Worker threads for scans: every core up to 4 (the benchmark's two cores
/// both scan).
pub(crate) fn scan_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
}

/// How to roll up.
#[derive(Debug, Clone)]
pub(crate) struct RollupOptions {
    pub(crate) tz: Tz,
    /// Only this site (its rows and marks); `None` for all.
    pub(crate) site: Option<i64>,
    /// "now" in UTC ms: a day not ended by then is stored as incomplete.
    pub(crate) now_ms: i64,
    pub(crate) threads: usize,
    pub(crate) busy_timeout_ms: u64,
    /// The configured breakdowns and goals.
    pub(crate) custom: Arc<CustomSpec>,
}

/// Roll up `days`, calling `on_day` as each one is written or fails.
/// Returns the failures (the other days are done).
pub(crate) fn roll_days<F>(
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
            let opts = &opts;
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
                    let counts = scan_range(&conn, (s, e), opts.site, &opts.custom, parts == 1);
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
                Ok(counts) => write_day(store, date, counts, &opts),
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

/// Write one scanned day: label ids to text, then the rows and marks in
/// one transaction.
fn write_day(
    store: &mut Store,
    date: NaiveDate,
    mut counts: RangeCounts,
    opts: &RollupOptions,
) -> Result<DayReport> {
    let figures = counts
        .sites
        .iter_mut()
        .map(|(site, c)| site_figures(&store.conn, *site, c, &opts.custom))
        .collect::<Result<Vec<_>>>()?;
    let empty = crate::store::custom::rows::empty(&opts.custom);
    let day = opts.day_write(date, opts.site, counts.seq_seen, &empty);
    rollups::write_day(&mut store.conn, &day, &figures)
}

impl RollupOptions {
    /// The write of `date`'s rows (of `site`, or all) that served the
    /// marks up to `seq_seen`.
    pub(crate) fn day_write<'a>(
        &self,
        date: NaiveDate,
        site: Option<i64>,
        seq_seen: i64,
        empty_custom: &'a crate::store::custom::rows::CustomFigures,
    ) -> DayWrite<'a> {
        let (start_ms, end_ms) = day_bounds_ms(date, self.tz);
        DayWrite {
            date,
            start_ms,
            end_ms,
            tz: self.tz.name(),
            complete: end_ms <= self.now_ms,
            rolled_at_ms: self.now_ms,
            site,
            seq_seen,
            empty_custom,
        }
    }
}
