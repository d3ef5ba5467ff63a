//! The read side of the embedded store: the events of a time range counted
//! per site, which every rollup is made of, and the text of label ids.
//!
//! A day of all sites is one range of the events' rowid (`ts * 16384 + n`),
//! so a scan is a sequential read; distinct visitors and sessions are sets
//! of integer ids (`idset.rs`: bits over the dense ids, a hash set for the
//! rest); top lists count integer label ids and only the winners are
//! turned back into text.

use anyhow::{Context, Result};
use rusqlite::Connection;
use rustc_hash::{FxHashMap, FxHashSet};

use super::custom::{CustomSpec, Plan, SiteCustom};
use super::encoding::Kind;
use super::idset::IdSet;
use super::props::{RowProps, SetCache};
use super::propscol::PropsColumn;
use super::rollups::TopItem;

/// The counts of one site over one range.
#[derive(Debug, Default, Clone)]
pub(crate) struct SiteCounts {
    pub(crate) events: u64,
    pub(crate) pageviews: u64,
    pub(crate) custom_events: u64,
    pub(crate) orders: u64,
    pub(crate) revenue_cents: i64,
    pub(crate) visitors: IdSet,
    pub(crate) sessions: IdSet,
    pub(crate) converting: FxHashSet<i64>,
    pub(crate) pages: FxHashMap<i64, u64>,
    pub(crate) referrers: FxHashMap<i64, u64>,
    pub(crate) event_names: FxHashMap<i64, u64>,
    /// Breakdowns, goals and gauges.
    pub(crate) custom: SiteCustom,
}

impl SiteCounts {
    /// Add another part of the same day.
    pub(crate) fn merge(&mut self, other: SiteCounts) {
        self.events += other.events;
        self.pageviews += other.pageviews;
        self.custom_events += other.custom_events;
        self.orders += other.orders;
        self.revenue_cents += other.revenue_cents;
        self.visitors.merge(other.visitors);
        self.sessions.merge(other.sessions);
        self.converting.extend(other.converting);
        self.custom.merge(other.custom);
        for (mine, theirs) in [
            (&mut self.pages, other.pages),
            (&mut self.referrers, other.referrers),
            (&mut self.event_names, other.event_names),
        ] {
            for (k, v) in theirs {
                *mine.entry(k).or_default() += v;
            }
        }
    }
}

/// Counts per site id over one range, plus the event sequence number the
/// scan saw (every event with a lower `seq` was visible to it).
#[derive(Debug, Default)]
pub(crate) struct RangeCounts {
    pub(crate) sites: FxHashMap<i64, SiteCounts>,
    pub(crate) seq_seen: i64,
}

impl RangeCounts {
    pub(crate) fn merge(&mut self, other: RangeCounts) {
        for (site, counts) in other.sites {
            self.sites.entry(site).or_default().merge(counts);
        }
        // Parts are scanned in separate snapshots: trust the oldest.
        self.seq_seen = if self.seq_seen == 0 {
            other.seq_seen
        } else {
            self.seq_seen.min(other.seq_seen)
        };
    }
}

/// The scan of a range, with the props (column 9) when breakdowns or
/// goals' filters read them.
const WITH_PROPS: &str =
    "SELECT site_id, kind, session_id, visitor_id, label_id, referrer_id, revenue_cents,
        id, value, props
 FROM events WHERE id >= ?1 * 16384 AND id < ?2 * 16384";
const WITHOUT_PROPS: &str =
    "SELECT site_id, kind, session_id, visitor_id, label_id, referrer_id, revenue_cents,
        id, value
 FROM events WHERE id >= ?1 * 16384 AND id < ?2 * 16384";

/// Count the events with `start_ms <= ts < end_ms` (of one site, or all);
/// `whole`: the range is a whole day, no other part of it will be merged
/// into its counts.
pub(crate) fn scan_range(
    conn: &Connection,
    (start_ms, end_ms): (i64, i64),
    site: Option<i64>,
    spec: &CustomSpec,
    whole: bool,
) -> Result<RangeCounts> {
    // One read transaction: the sequence number and the rows come from the
    // same snapshot.
    conn.execute_batch("BEGIN DEFERRED")?;
    let result = scan_in_snapshot(conn, (start_ms, end_ms), site, spec, whole);
    let _ = conn.execute_batch("COMMIT");
    result.with_context(|| "cannot read events from the store".to_string())
}

fn scan_in_snapshot(
    conn: &Connection,
    (start_ms, end_ms): (i64, i64),
    site: Option<i64>,
    spec: &CustomSpec,
    whole: bool,
) -> Result<RangeCounts> {
    let mut plan = Plan::new(conn, spec)?;
    let seq_seen: i64 =
        conn.query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
            r.get(0)
        })?;
    // Props are read only when a breakdown's property or a goal's filter
    // names a key some event has (and a goal's filter reads them only for
    // the events it matches): the daily rollup alone, or with goals of
    // events and paths, scans as it did before props existed.
    let counts_custom = !plan.is_empty();
    let reads_props = counts_custom && plan.reads_props();
    let mut stmt = conn.prepare_cached(if reads_props {
        WITH_PROPS
    } else {
        WITHOUT_PROPS
    })?;
    let mut rows = stmt.query([start_ms, end_ms])?;
    // Found at the first row (the statement runs from then).
    let mut props_column: Option<PropsColumn> = None;
    // Site ids are small dense integers: index a vector rather than hash.
    let mut by_site: Vec<Option<SiteCounts>> = Vec::new();
    while let Some(row) = rows.next()? {
        let site_id = row.get_ref(0)?.as_i64()?;
        if let Some(wanted) = site
            && wanted != site_id
        {
            continue;
        }
        let slot = usize::try_from(site_id).unwrap_or(0);
        if slot >= by_site.len() {
            by_site.resize_with(slot + 1, || None);
        }
        let counts = by_site[slot].get_or_insert_with(SiteCounts::default);
        let kind = Kind::from_code(row.get_ref(1)?.as_i64()?);
        let label = row.get_ref(4)?.as_i64_or_null()?;
        if kind == Some(Kind::Gauge) {
            // A level, not an event: only its gauge counts it.
            if let (Some(name), Some(value)) = (label, row.get_ref(8)?.as_f64_or_null()?) {
                Plan::gauge(&mut counts.custom, name, row.get_ref(7)?.as_i64()?, value);
            }
            continue;
        }
        let session = row.get_ref(2)?.as_i64()?;
        let visitor = row.get_ref(3)?.as_i64()?;
        let revenue = if kind == Some(Kind::Order) {
            row.get_ref(6)?.as_i64_or_null()?.unwrap_or(0)
        } else {
            0
        };
        counts.events += 1;
        let met_before = !counts.visitors.insert(visitor);
        counts.sessions.insert(session);
        match kind {
            Some(Kind::Pageview) => {
                counts.pageviews += 1;
                if let Some(label) = label {
                    *counts.pages.entry(label).or_default() += 1;
                }
                if let Some(referrer) = row.get_ref(5)?.as_i64_or_null()? {
                    *counts.referrers.entry(referrer).or_default() += 1;
                }
            }
            Some(Kind::Event) => {
                counts.custom_events += 1;
                if let Some(label) = label {
                    *counts.event_names.entry(label).or_default() += 1;
                }
            }
            Some(Kind::Order) => {
                counts.orders += 1;
                counts.revenue_cents += revenue;
                counts.converting.insert(session);
            }
            Some(Kind::Gauge) | None => {}
        }
        if let Some(kind) = kind
            && counts_custom
        {
            let column = match reads_props {
                true => Some(
                    &*props_column.get_or_insert_with(|| PropsColumn::find(conn, WITH_PROPS, 9)),
                ),
                false => None,
            };
            let props = || -> Result<RowProps<'_>> {
                match column {
                    Some(c) => c.get(row),
                    None => Ok(RowProps::None),
                }
            };
            plan.count(
                conn,
                site_id,
                &mut counts.custom,
                kind,
                session,
                (visitor, met_before),
                label,
                revenue,
                props,
            )?;
        }
    }
    if counts_custom {
        let sites = (by_site.iter_mut().enumerate())
            .filter_map(|(id, c)| c.as_mut().map(|c| (id as i64, &mut c.custom)));
        plan.finish(sites, whole);
    }
    let sites = by_site
        .into_iter()
        .enumerate()
        .filter_map(|(id, c)| c.map(|c| (id as i64, c)))
        .collect();
    Ok(RangeCounts { sites, seq_seen })
}

/// How many entries a top list keeps.
pub(crate) const TOP_N: usize = 10;

/// The top [`TOP_N`] of `counts` (label id -> count): most counted first,
/// ties by the label's text in ascending byte order. Only the candidates
/// that can make the list are looked up.
pub(crate) fn top_list(
    conn: &Connection,
    counts: &rustc_hash::FxHashMap<i64, u64>,
) -> Result<Vec<TopItem>> {
    let mut entries: Vec<(i64, u64)> = counts.iter().map(|(k, v)| (*k, *v)).collect();
    crate::util::keep_top_candidates(&mut entries, TOP_N, |a, b| b.1.cmp(&a.1));
    let mut items = Vec::with_capacity(entries.len());
    for (id, count) in entries {
        items.push(TopItem {
            item: label_text(conn, id)?,
            count,
        });
    }
    items.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.item.as_bytes().cmp(b.item.as_bytes()))
    });
    items.truncate(TOP_N);
    Ok(items)
}

/// The instant (UTC ms) of the first stored event, if any.
pub(crate) fn first_event_ms(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn.query_row("SELECT min(id) >> 14 FROM events", [], |r| r.get(0))?)
}

/// One site's figures from its counts: the top lists' label ids turned into
/// text.
pub(crate) fn site_figures(
    conn: &Connection,
    site_id: i64,
    c: &mut SiteCounts,
    spec: &CustomSpec,
) -> Result<super::rollups::SiteFigures> {
    Ok(super::rollups::SiteFigures {
        site_id,
        events: c.events,
        pageviews: c.pageviews,
        custom_events: c.custom_events,
        orders: c.orders,
        revenue_cents: c.revenue_cents,
        unique_visitors: c.visitors.len() as u64,
        unique_sessions: c.sessions.len() as u64,
        converting_sessions: c.converting.len() as u64,
        top_pages: top_list(conn, &c.pages)?,
        top_referrers: top_list(conn, &c.referrers)?,
        top_events: top_list(conn, &c.event_names)?,
        custom: super::custom::rows::figures(conn, spec, &mut c.custom, c.sessions.len() as u64)?,
    })
}

/// Whether any event lies in `[start_ms, end_ms)` (retention may have
/// deleted a rolled-up day's raw events).
pub(crate) fn any_between(conn: &Connection, start_ms: i64, end_ms: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events WHERE id >= ?1 * 16384 AND id < ?2 * 16384)",
        )?
        .query_row([start_ms, end_ms], |r| r.get(0))?)
}

/// Per site name: the visitors of `[start_ms, end_ms)` first seen before it.
pub(crate) fn returning_visitors(
    conn: &Connection,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, count(*)
         FROM (SELECT DISTINCT site_id, visitor_id FROM events
               WHERE id >= ?1 * 16384 AND id < ?2 * 16384 AND kind < 3) d
         JOIN visitors v ON v.id = d.visitor_id
         JOIN sites s ON s.id = d.site_id
         WHERE v.first_ts < ?1
         GROUP BY s.name",
    )?;
    let rows = stmt.query_map([start_ms, end_ms], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Per site name: the closed sessions that started in `[start_ms, end_ms)`
/// (a session belongs to the day it started; cleanup-sessions closes it
/// with `ended_ts` = its last activity), and their summed duration in ms.
pub(crate) fn closed_sessions(
    conn: &Connection,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<(String, u64, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT st.name, count(*), sum(s.ended_ts - s.started_ts)
         FROM (SELECT DISTINCT session_id FROM events
               WHERE id >= ?1 * 16384 AND id < ?2 * 16384 AND kind < 3) d
         JOIN sessions s ON s.id = d.session_id
         JOIN sites st ON st.id = s.site_id
         WHERE s.ended_ts IS NOT NULL AND s.started_ts >= ?1 AND s.started_ts < ?2
         GROUP BY st.name",
    )?;
    let rows = stmt.query_map([start_ms, end_ms], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?.max(0) as u64,
            r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// (site name, event name, count) of the custom events in `[start_ms,
/// end_ms)`.
pub(crate) fn custom_events_by_name(
    conn: &Connection,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<(String, String, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, l.value, count(*)
         FROM events e
         JOIN labels l ON l.id = e.label_id
         JOIN sites s ON s.id = e.site_id
         WHERE e.id >= ?1 * 16384 AND e.id < ?2 * 16384 AND e.kind = 1
         GROUP BY e.site_id, e.label_id",
    )?;
    let rows = stmt.query_map([start_ms, end_ms], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?.max(0) as u64,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Call `f(site_id, kind, label_id, ts_ms)` for every pageview and custom
/// event with a label in `(start_ms, end_ms]`, in time order.
pub(crate) fn for_each_labelled(
    conn: &Connection,
    start_ms: i64,
    end_ms: i64,
    mut f: impl FnMut(i64, i64, i64, i64),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT site_id, kind, label_id, id >> 14 FROM events
         WHERE id >= (?1 + 1) * 16384 AND id < (?2 + 1) * 16384
           AND kind IN (0, 1) AND label_id IS NOT NULL",
    )?;
    let mut rows = stmt.query([start_ms, end_ms])?;
    while let Some(row) = rows.next()? {
        f(row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    }
    Ok(())
}

/// Call `f(site_id, kind, ts_ms, props)` for every event with props in
/// `(start_ms, end_ms]` (gauges left out), in time order; a stored set's
/// encoding is read once.
pub(crate) fn for_each_with_props(
    conn: &Connection,
    start_ms: i64,
    end_ms: i64,
    mut f: impl FnMut(i64, i64, i64, &[u8]),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT site_id, kind, id >> 14, props FROM events
         WHERE id >= (?1 + 1) * 16384 AND id < (?2 + 1) * 16384
           AND kind < 3 AND props IS NOT NULL",
    )?;
    let mut rows = stmt.query([start_ms, end_ms])?;
    let mut sets = SetCache::default();
    while let Some(row) = rows.next()? {
        let props = RowProps::from_value(row.get_ref(3)?);
        if let Some(props) = sets.resolve(conn, props)? {
            f(row.get(0)?, row.get(1)?, row.get(2)?, props);
        }
    }
    Ok(())
}

/// The text of a label (a path, referrer host or event name).
pub(crate) fn label_text(conn: &Connection, id: i64) -> Result<String> {
    conn.prepare_cached("SELECT value FROM labels WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .with_context(|| format!("label {id} is missing from the store"))
}
