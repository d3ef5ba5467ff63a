//! Rolling up days whose events live in a remote engine (`[source]`): one
//! statement per day computed there, its figures written with the same
//! `store::rollups::write_day` as the embedded engine's, one transaction
//! per day.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::channel;

use anyhow::{Context, Result};
use chrono::NaiveDate;

use super::engine::{DayReport, RollupOptions};
use crate::settings::source::SourceConfig;
use crate::source::{EventSource, RemoteSite};
use crate::store::Store;
use crate::store::rollups;
use crate::time::{day_bounds_ms, local_date};

/// Roll up `days` from `source` (of the site named `site`, or all),
/// calling `on_day` for each. Two statements run at a time, on `source`
/// and a second connection opened from `config` (a PostgreSQL server gives
/// each its own core; the other's rows are written meanwhile); the calling
/// thread writes, in day order. After a failure no new day is started
/// (the next ones would ask the same server) and none after it is written.
pub(crate) fn roll_days<F>(
    store: &mut Store,
    source: &mut dyn EventSource,
    config: &SourceConfig,
    days: &[NaiveDate],
    opts: &RollupOptions,
    site: Option<&str>,
    mut on_day: F,
) -> Vec<(NaiveDate, anyhow::Error)>
where
    F: FnMut(NaiveDate, &Result<DayReport>),
{
    let described = source.describe();
    let mut second = if days.len() > 1 {
        crate::source::open(config).ok().flatten()
    } else {
        None
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = channel::<(usize, Result<Vec<RemoteSite>>)>();
    let mut failures = Vec::new();
    std::thread::scope(|scope| {
        let mut workers: Vec<&mut dyn EventSource> = vec![source];
        if let Some(s) = second.as_deref_mut() {
            workers.push(s);
        }
        for worker in workers {
            let (tx, next, stop) = (tx.clone(), &next, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(date) = days.get(i) else {
                        return;
                    };
                    let (start_ms, end_ms) = day_bounds_ms(*date, opts.tz);
                    let result = crate::source::roll_day(worker, start_ms, end_ms, site);
                    if tx.send((i, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        // Days are written in order, so that a site's zero rows start on
        // the day of its first event, as the embedded engine's do.
        let mut pending = std::collections::BTreeMap::new();
        let mut written = 0;
        for (i, sites) in rx {
            pending.insert(i, sites);
            while failures.is_empty()
                && let Some(sites) = pending.remove(&written)
            {
                let date = days[written];
                written += 1;
                let result = sites
                    .and_then(|sites| write_day(store, sites, date, opts, site))
                    .with_context(|| format!("rolling up {date} from {described} failed"));
                on_day(date, &result);
                if let Err(e) = result {
                    stop.store(true, Ordering::Relaxed);
                    failures.push((date, e));
                }
            }
        }
    });
    failures.sort_by_key(|f| f.0);
    failures
}

/// Write one day's sites: each site found (or created) in the store, then
/// the rows in one transaction.
fn write_day(
    store: &mut Store,
    sites: Vec<RemoteSite>,
    date: NaiveDate,
    opts: &RollupOptions,
    site: Option<&str>,
) -> Result<DayReport> {
    let mut figures = Vec::with_capacity(sites.len());
    for s in sites {
        let mut f = s.figures;
        f.site_id = store.remote_site(&s.name, s.first_ms)?;
        figures.push(f);
    }
    let site_id = match site {
        Some(name) => match store.site_id(name)? {
            Some(id) => Some(id),
            // Not in the source yet either: nothing to write.
            None => return Ok(DayReport::default()),
        },
        None => None,
    };
    // The store has no events of its own: every mark is served.
    let seq_seen = store.next_seq()?;
    let empty = crate::store::custom::rows::empty(&opts.custom);
    let day = opts.day_write(date, site_id, seq_seen, &empty);
    rollups::write_day(&mut store.conn, &day, &figures)
}

/// The days `aggregate` rolls up besides the one asked for: with
/// `updated_at` mapped, the days of the rows changed since the last run
/// (and the newest change, to record once they are rolled up); else the
/// `reroll_days` days before it.
pub(crate) fn changed_days(
    store: &Store,
    source: &mut dyn EventSource,
    target: NaiveDate,
    reroll_days: u32,
    tracks_updates: bool,
    tz: chrono_tz::Tz,
) -> Result<(Vec<NaiveDate>, Option<String>)> {
    if !tracks_updates {
        let days = (1..=i64::from(reroll_days))
            .rev()
            .filter_map(|back| target.checked_sub_signed(chrono::Duration::days(back)))
            .collect();
        return Ok((days, None));
    }
    let since = store.source_mark()?;
    let changed = crate::source::changed_since(source, since.as_deref())?;
    let mut days: Vec<NaiveDate> = changed
        .slots_ms
        .iter()
        .map(|ms| local_date(*ms, tz))
        .collect();
    days.sort();
    days.dedup();
    Ok((days, changed.newest))
}
