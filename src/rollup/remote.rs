//! Rolling up days whose events live in a remote engine (`[source]`): one
//! statement per day computed there, its figures written with the same
//! `store::rollups::write_day` as the embedded engine's, one transaction
//! per day.

use anyhow::{Context, Result};
use chrono::NaiveDate;

use super::engine::{DayReport, RollupOptions};
use crate::source::EventSource;
use crate::store::Store;
use crate::store::rollups;
use crate::time::{day_bounds_ms, local_date};

/// The meta key holding the newest `updated_at` an aggregate has seen.
const UPDATED_KEY: &str = "source_updated_at";

/// Roll up `days` from `source` (of the site named `site`, or all),
/// calling `on_day` for each. Stops at the first failure: the next days
/// would ask the same server.
pub(crate) fn roll_days<F>(
    store: &mut Store,
    source: &mut dyn EventSource,
    days: &[NaiveDate],
    opts: &RollupOptions,
    site: Option<&str>,
    mut on_day: F,
) -> Vec<(NaiveDate, anyhow::Error)>
where
    F: FnMut(NaiveDate, &Result<DayReport>),
{
    for &date in days {
        let result = roll_day(store, source, date, opts, site)
            .with_context(|| format!("rolling up {date} from {} failed", source.describe()));
        on_day(date, &result);
        if let Err(e) = result {
            return vec![(date, e)];
        }
    }
    Vec::new()
}

fn roll_day(
    store: &mut Store,
    source: &mut dyn EventSource,
    date: NaiveDate,
    opts: &RollupOptions,
    site: Option<&str>,
) -> Result<DayReport> {
    let (start_ms, end_ms) = day_bounds_ms(date, opts.tz);
    let sites = crate::source::roll_day(source, start_ms, end_ms, site)?;
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
    let seq_seen: i64 =
        store
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
                r.get(0)
            })?;
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
    let since: Option<String> = store
        .conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [UPDATED_KEY],
            |r| {
                // meta.value has integer affinity: an integer mark comes back
                // as one.
                Ok(match r.get_ref(0)? {
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    other => {
                        String::from_utf8_lossy(other.as_bytes().unwrap_or_default()).into_owned()
                    }
                })
            },
        )
        .ok();
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

/// Remember the newest `updated_at` whose days are rolled up.
pub(crate) fn record_update_mark(store: &Store, newest: &str) -> Result<()> {
    store.conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [UPDATED_KEY, newest],
    )?;
    Ok(())
}
