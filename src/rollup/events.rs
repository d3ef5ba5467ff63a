//! Where a rollup reads its events: the one interface `aggregate` and
//! `backfill` roll up through, with three implementations: the embedded
//! store (scanned on worker threads by `engine.rs`, as before engines
//! existed) and the remote engines of `[source]`, PostgreSQL and ClickHouse
//! (one statement per day, `remote.rs`). Each writes its days with
//! `store::rollups::write_day`.

use std::collections::BTreeSet;

use anyhow::Result;
use chrono::NaiveDate;

use super::engine::{DayReport, RollupOptions};
use crate::job::{JobContext, usage};
use crate::source::EventSource;
use crate::store::{Store, rollups};
use crate::time::day_bounds_ms;

/// The events a rollup reads.
pub(crate) enum Events {
    /// The embedded store.
    Store,
    /// A remote engine of `[source]`.
    Remote(Box<dyn EventSource>),
}

/// Which site a run rolls up: all, or the one `--site` names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// Its id in the store (a remote source's site may not be there yet).
    pub(crate) id: Option<i64>,
    pub(crate) name: Option<String>,
}

/// The days `aggregate` rolls up besides the one asked for.
pub(crate) struct Extra {
    pub(crate) days: Vec<NaiveDate>,
    /// What they are, for the summary ("marked day", "changed day"...).
    pub(crate) what: &'static str,
    /// A remote source's newest change, recorded once they are rolled up.
    newest: Option<String>,
}

impl Events {
    /// The configured events: a remote source is connected to and its
    /// mapping checked.
    pub(crate) fn open(ctx: &JobContext) -> Result<Events> {
        Ok(match crate::source::open(&ctx.settings.file.source)? {
            Some(source) => Events::Remote(source),
            None => Events::Store,
        })
    }

    /// " from postgres ..." for a remote source's summary.
    pub(crate) fn source_words(&self) -> String {
        match self {
            Events::Store => String::new(),
            Events::Remote(s) => format!(" from {}", s.describe()),
        }
    }

    /// `--site S`: the store must know S (ingest put it there), while a
    /// remote source is the one that knows it (a valid name is enough).
    pub(crate) fn scope(&self, store: &Store, name: Option<&str>) -> Result<Scope> {
        let Some(name) = name else {
            return Ok(Scope::default());
        };
        let id = match self {
            Events::Store => store.site_filter(Some(name))?,
            Events::Remote(_) => {
                if !crate::store::encoding::is_site_name(name) {
                    return Err(usage(format!(
                        "--site {name}: not a site name (1..64 characters of A-Z a-z 0-9 . _ -)"
                    )));
                }
                store.site_id(name)?
            }
        };
        Ok(Scope {
            id,
            name: Some(name.to_string()),
        })
    }

    /// The days `aggregate` rolls up again besides `target`: the days
    /// ingest marked (store), or a remote source's changed days
    /// (`updated_at` mapped) or the `reroll_days` before `target`.
    pub(crate) fn extra_days(
        &mut self,
        ctx: &JobContext,
        store: &Store,
        scope: &Scope,
        target: NaiveDate,
    ) -> Result<Extra> {
        let config = &ctx.settings.file.source;
        match self {
            Events::Store => Ok(Extra {
                days: rollups::marked_days(&store.conn, scope.id)?,
                what: "marked day",
                newest: None,
            }),
            Events::Remote(source) => {
                let (days, newest) = super::remote::changed_days(
                    store,
                    source.as_mut(),
                    target,
                    config.reroll_days,
                    config.tracks_updates(),
                    ctx.settings.tz,
                )?;
                Ok(Extra {
                    days,
                    what: if config.tracks_updates() {
                        "changed day"
                    } else {
                        "earlier day"
                    },
                    newest,
                })
            }
        }
    }

    /// Record what `extra_days` found once its days are rolled up.
    pub(crate) fn finish(&self, store: &Store, extra: &Extra) -> Result<()> {
        match &extra.newest {
            Some(newest) => store.set_source_mark(newest),
            None => Ok(()),
        }
    }

    /// The days that can be rolled up (again): in the store, not those
    /// whose raw events retention deleted (their rollups are final).
    pub(crate) fn rollable(
        &self,
        ctx: &JobContext,
        store: &Store,
        days: Vec<NaiveDate>,
    ) -> Result<Vec<NaiveDate>> {
        match self {
            Events::Store => keep_unpurged(ctx, store, days),
            Events::Remote(_) => Ok(days),
        }
    }

    /// Roll up `days` of `scope`, calling `on_day` as each is written or
    /// fails; returns the failures.
    pub(crate) fn roll_days<F>(
        &mut self,
        ctx: &JobContext,
        store: &mut Store,
        days: &[NaiveDate],
        scope: &Scope,
        on_day: F,
    ) -> Vec<(NaiveDate, anyhow::Error)>
    where
        F: FnMut(NaiveDate, &Result<DayReport>),
    {
        let opts = super::jobs::rollup_options(ctx, scope.id);
        match self {
            Events::Store => super::engine::roll_days(store, days, opts, on_day),
            Events::Remote(source) => super::remote::roll_days(
                store,
                source.as_mut(),
                &ctx.settings.file.source,
                days,
                &RollupOptions { site: None, ..opts },
                scope.name.as_deref(),
                on_day,
            ),
        }
    }
}

/// Leave out the days whose raw events retention has deleted: their
/// rollups are final, and rolling them up again would replace them with
/// zeros (or with the few events that arrived since).
fn keep_unpurged(ctx: &JobContext, store: &Store, days: Vec<NaiveDate>) -> Result<Vec<NaiveDate>> {
    let Some(purged) = store.purged_before()? else {
        return Ok(days);
    };
    let (kept, skipped): (Vec<NaiveDate>, Vec<NaiveDate>) = days
        .into_iter()
        .partition(|d| day_bounds_ms(*d, ctx.settings.tz).1 > purged);
    if let (Some(first), Some(last)) = (skipped.first(), skipped.last()) {
        ctx.log.warn(format!(
            "{} day(s) from {first} to {last} are not rolled up again: retention deleted their raw events, their rollups are kept as they are",
            skipped.len()
        ));
        // Their marks can never be served: clear them.
        for d in &skipped {
            rollups::clear_marks(&store.conn, *d)?;
        }
    }
    Ok(kept)
}

/// The days of `extra` and `target`, in order.
pub(crate) fn with_target(extra: &Extra, target: NaiveDate) -> Vec<NaiveDate> {
    let mut days: BTreeSet<NaiveDate> = extra.days.iter().copied().collect();
    days.insert(target);
    days.into_iter().collect()
}
