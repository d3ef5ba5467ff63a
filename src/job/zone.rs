//! A store keeps the zone its days are counted in. A day's rollup in one
//! zone and the next day's in another would overlap or leave hours out, and
//! cron's `CRONLYTICS_TZ` and a shell's may well differ: so the first run
//! records its zone in the store, later runs without a zone of their own use
//! it, and a run given another zone exits 2 naming both. `backfill --rezone`
//! changes it on purpose (`rollup::jobs`).

use anyhow::Result;

use super::{JobContext, StoreUse, usage};
use crate::store::Store;
use crate::time::parse_zone;

/// Settle the run's zone against the store's before any work: adopt the
/// store's when the run was given none, refuse a different one. Nothing is
/// written here.
/// Returns whether it could: a store that cannot be opened now is left to
/// the work, which reports it in its own way (health-check as a check) or
/// fails the same way, and the next attempt settles again.
pub(super) fn settle(ctx: &mut JobContext) -> Result<bool> {
    if ctx.spec.store == StoreUse::Unused || ctx.spec.rezone {
        return Ok(true);
    }
    let opened = match ctx.spec.store {
        StoreUse::Creates => ctx.open_store(),
        _ => ctx.open_store_read_only(),
    };
    let Ok(store) = opened else {
        return Ok(false);
    };
    let run_zone = ctx.settings.tz.name();
    check(ctx, &store, run_zone)?;
    Ok(true)
}

fn check(ctx: &mut JobContext, store: &Store, run_zone: &str) -> Result<()> {
    match store.zone()? {
        Some(stored) if stored == run_zone => Ok(()),
        Some(stored) if ctx.settings.tz_given => Err(usage(format!(
            "this run's zone {run_zone} (from --tz, CRONLYTICS_TZ or the config's tz) is not the zone of the store {}, {stored}, in which its days are counted: run with --tz {stored}, or change the store's zone on purpose with `backfill --rezone {run_zone}`",
            ctx.settings.db.display()
        ))),
        Some(stored) => {
            ctx.settings.tz = parse_zone(&stored).map_err(|e| {
                e.context(format!(
                    "the store {} records the zone {stored}",
                    ctx.settings.db.display()
                ))
            })?;
            Ok(())
        }
        None => {
            // An older store's rollups say which zone they were made in;
            // without rollups the first rollup records its zone
            // (`rollup::engine`), in the transaction that writes it.
            let made_in = crate::store::rollups::zone_of_newest(&store.conn)?;
            match made_in {
                None => Ok(()),
                Some(made_in) if made_in == run_zone => Ok(()),
                Some(made_in) if ctx.settings.tz_given => Err(usage(format!(
                    "this run's zone {run_zone} (from --tz, CRONLYTICS_TZ or the config's tz) is not the zone of the rollups in the store {}, {made_in}: run with --tz {made_in}, or change the store's zone on purpose with `backfill --rezone {run_zone}`",
                    ctx.settings.db.display()
                ))),
                Some(made_in) => {
                    ctx.log.info(format!(
                        "the store {} records no zone yet (it predates this cronlytics): it keeps {made_in}, the zone of its rollups, and records it with the next rollup",
                        ctx.settings.db.display()
                    ));
                    ctx.settings.tz = parse_zone(&made_in)?;
                    Ok(())
                }
            }
        }
    }
}
