//! `backfill --rezone ZONE`: change the zone a store counts its days in, on
//! purpose. The store's zone is set and every rollup that can be made again
//! (its raw events are still stored) is dropped in one transaction; then the
//! whole stored history is rolled up again in the new zone, a day per
//! transaction like any backfill. A run killed halfway leaves the new zone
//! and some days without rows; running `backfill --rezone ZONE` again
//! finishes them (and a plain backfill of the range does too).

use anyhow::Result;

use crate::job::JobContext;
use crate::store::{Store, events, rollups};
use crate::time::{DayRange, local_date, yesterday};

/// Switch the store to the run's zone and return the days to roll up again
/// (none when the store has no events up to yesterday).
pub(super) fn switch_zone(ctx: &JobContext, store: &mut Store) -> Result<Option<DayRange>> {
    let tz = ctx.settings.tz;
    let old = store.zone()?;
    // Days whose raw events retention deleted keep their rollups: they
    // cannot be made again, in any zone.
    let final_before = store
        .purged_before()?
        .map(|ms| local_date(ms, tz).to_string());
    let tx = store.conn.transaction()?;
    Store::set_zone(&tx, tz.name())?;
    let dropped = rollups::drop_for_rezone(&tx, final_before.as_deref())?;
    let first_ts = events::first_event_ms(&tx)?;
    tx.commit()?;
    ctx.log.info(format!(
        "the store's zone is now {} (was {}); {dropped} rollup row(s) dropped to be made again{}",
        tz.name(),
        old.as_deref().unwrap_or("not recorded"),
        final_before
            .map(|d| format!(", those before {d} kept: retention deleted their raw events"))
            .unwrap_or_default()
    ));
    let end = yesterday(ctx.settings.now, tz);
    Ok(first_ts
        .map(|ts| local_date(ts, tz))
        .filter(|start| *start <= end)
        .map(|start| DayRange { start, end }))
}
