//! Where `aggregate` and `backfill` read the events: the embedded store
//! (`store::events`, scanned here on both cores) or another database that
//! computes each day's rollup itself (`[source]`): PostgreSQL or ClickHouse.
//!
//! A remote engine gets one SQL statement per day (`sql.rs`, one text for
//! both dialects) that returns the day's counts per site and its three
//! top-10 lists as rows of one shape ([`Row`]); [`assemble`] turns them into
//! the `SiteFigures` the embedded engine produces, and `rollup::engine`
//! writes them with the same `store::rollups::write_day`.

pub(crate) mod clickhouse;
mod pgpass;
pub(crate) mod postgres;
pub(crate) mod sink;
mod sql;

use anyhow::Result;

use crate::settings::source::{Engine, SourceConfig};
use crate::store::rollups::{SiteFigures, TopItem};
use sql::Mapping;

/// A remote engine: a client that runs a statement of its dialect on the
/// checked mapping. What the statements are and how their rows become a
/// day's sites is the same for every engine ([`roll_day`],
/// [`changed_since`]).
pub(crate) trait EventSource: Send {
    /// "postgres analytics@db.internal:5432/shop, table events": for messages.
    fn describe(&self) -> String;
    /// The source's columns as checked on connecting.
    fn mapping(&self) -> &Mapping;
    /// Run one statement; its rows' cells.
    fn query(&mut self, sql: &str) -> Result<Vec<Vec<Cell>>>;
}

/// A result cell of a remote engine.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    /// An integer, or 0 (ClickHouse may send 64-bit integers as text).
    fn int(&self) -> i64 {
        match self {
            Cell::Int(i) => *i,
            Cell::Text(t) => t.parse().unwrap_or(0),
            Cell::Null => 0,
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Int(i) => Some(i.to_string()),
            Cell::Text(t) => Some(t.clone()),
        }
    }
}

/// The statement that rolls up `[start_ms, end_ms)` (of one site, or all).
pub(crate) fn day_sql(
    source: &dyn EventSource,
    start_ms: i64,
    end_ms: i64,
    site: Option<&str>,
) -> String {
    source.mapping().day_sql(start_ms, end_ms, site)
}

/// Roll up `[start_ms, end_ms)`: one entry per site with rows in it.
pub(crate) fn roll_day(
    source: &mut dyn EventSource,
    start_ms: i64,
    end_ms: i64,
    site: Option<&str>,
) -> Result<Vec<RemoteSite>> {
    let sql = day_sql(source, start_ms, end_ms, site);
    let rows = source
        .query(&sql)?
        .iter()
        .map(|cells| {
            let cell = |i: usize| cells.get(i).unwrap_or(&Cell::Null);
            let mut n = [0i64; 9];
            for (i, v) in n.iter_mut().enumerate() {
                *v = cell(3 + i).int();
            }
            Row {
                part: cell(0).text().unwrap_or_default(),
                site: cell(1).text(),
                item: cell(2).text(),
                n,
            }
        })
        .collect();
    let mut skipped = Vec::new();
    let sites = assemble(rows, &mut skipped);
    if !skipped.is_empty() {
        return Err(crate::errors::usage(format!(
            "the source has rows whose site is not a site name (1..64 characters of A-Z a-z 0-9 . _ -): {}; map source.columns.site to a column of site names, or filter them out with source.query",
            skipped.join(", ")
        )));
    }
    Ok(sites)
}

/// With `updated_at` mapped: where the rows changed after `since` lie
/// (their days are rolled up again), and the newest change; without
/// `since` (the first run) only the newest change.
pub(crate) fn changed_since(source: &mut dyn EventSource, since: Option<&str>) -> Result<Changed> {
    let Some(newest_sql) = source.mapping().newest_update_sql() else {
        return Ok(Changed::default());
    };
    let newest = source
        .query(&newest_sql)?
        .first()
        .and_then(|r| r.first())
        .and_then(Cell::text);
    // An empty ClickHouse table's max() is the type's zero, not NULL.
    let Some(newest) = newest.filter(|n| !n.is_empty() && n != "0" && !n.starts_with("0000"))
    else {
        return Ok(Changed::default());
    };
    let Some(since) = since else {
        return Ok(Changed {
            slots_ms: Vec::new(),
            newest: Some(newest),
        });
    };
    let sql = source
        .mapping()
        .changed_slots_sql(Some(since), &newest)
        .unwrap_or_default();
    let slots_ms = source
        .query(&sql)?
        .iter()
        .filter_map(|r| r.first().map(Cell::int))
        .map(|slot| slot * 900_000)
        .collect();
    Ok(Changed {
        slots_ms,
        newest: Some(newest),
    })
}

/// What changed in the source since the last run.
#[derive(Debug, Default)]
pub(crate) struct Changed {
    /// The starts (UTC ms) of the 15-minute slots holding changed rows:
    /// each lies in one local day of any zone.
    pub(crate) slots_ms: Vec<i64>,
    /// The newest `updated_at` seen, as text the engine reads back.
    pub(crate) newest: Option<String>,
}

/// One site's day as a remote engine computed it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RemoteSite {
    pub(crate) name: String,
    /// Its earliest event of the day (UTC ms).
    pub(crate) first_ms: i64,
    /// `site_id` is 0 until the store gives the site its id.
    pub(crate) figures: SiteFigures,
}

/// One row of a day's result: `part` `n` carries the counts of a site in
/// `n`, `p`/`r`/`e` a top list's entry (`item`, count in `n[0]`).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) part: String,
    pub(crate) site: Option<String>,
    pub(crate) item: Option<String>,
    pub(crate) n: [i64; 9],
}

/// Open the configured remote source; `None` for the embedded store.
pub(crate) fn open(config: &SourceConfig) -> Result<Option<Box<dyn EventSource>>> {
    Ok(match config.engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(Box::new(postgres::PgSource::connect(config)?)),
        Engine::Clickhouse => Some(Box::new(clickhouse::ChSource::connect(config)?)),
    })
}

/// "table events" or "the configured query": what a source reads, for
/// messages.
pub(crate) fn reads(config: &SourceConfig) -> String {
    match &config.table {
        Some(t) => format!("table {t}"),
        None => "the configured query".to_string(),
    }
}

/// The result rows of a day into sites, in name order. A site whose name
/// breaks the site rule is left out and named in `skipped`.
pub(crate) fn assemble(rows: Vec<Row>, skipped: &mut Vec<String>) -> Vec<RemoteSite> {
    let mut sites: std::collections::BTreeMap<String, RemoteSite> = Default::default();
    let mut lists: Vec<(String, String, String, u64)> = Vec::new();
    for row in rows {
        let Some(site) = row.site else {
            if !skipped.iter().any(|s| s == "(null)") {
                skipped.push("(null)".to_string());
            }
            continue;
        };
        if !crate::store::encoding::is_site_name(&site) {
            if !skipped.contains(&site) {
                skipped.push(site);
            }
            continue;
        }
        let u = |v: i64| v.max(0) as u64;
        if row.part == "n" {
            let n = row.n;
            sites.insert(
                site.clone(),
                RemoteSite {
                    name: site,
                    first_ms: n[8],
                    figures: SiteFigures {
                        site_id: 0,
                        events: u(n[0]),
                        pageviews: u(n[1]),
                        custom_events: u(n[2]),
                        orders: u(n[3]),
                        revenue_cents: n[4],
                        unique_visitors: u(n[5]),
                        unique_sessions: u(n[6]),
                        converting_sessions: u(n[7]),
                        ..SiteFigures::default()
                    },
                },
            );
        } else if let Some(item) = row.item {
            lists.push((site, row.part, item, u(row.n[0])));
        }
    }
    for (site, part, item, count) in lists {
        let Some(s) = sites.get_mut(&site) else {
            continue;
        };
        let list = match part.as_str() {
            "p" => &mut s.figures.top_pages,
            "r" => &mut s.figures.top_referrers,
            _ => &mut s.figures.top_events,
        };
        list.push(TopItem { item, count });
    }
    // Ties in byte order whatever the server's collation did.
    for s in sites.values_mut() {
        for list in [
            &mut s.figures.top_pages,
            &mut s.figures.top_referrers,
            &mut s.figures.top_events,
        ] {
            list.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then_with(|| a.item.as_bytes().cmp(b.item.as_bytes()))
            });
            list.truncate(crate::store::events::TOP_N);
        }
    }
    sites.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(part: &str, site: &str, item: Option<&str>, n: [i64; 9]) -> Row {
        Row {
            part: part.into(),
            site: Some(site.into()),
            item: item.map(Into::into),
            n,
        }
    }

    #[test]
    fn rows_become_sites_with_their_lists_in_byte_order() {
        let mut skipped = Vec::new();
        let sites = assemble(
            vec![
                row("p", "shop", Some("/b"), [2, 0, 0, 0, 0, 0, 0, 0, 0]),
                row("n", "shop", None, [5, 4, 1, 1, 250, 3, 4, 1, 1000]),
                row("p", "shop", Some("/a"), [2, 0, 0, 0, 0, 0, 0, 0, 0]),
                row("p", "shop", Some("/B"), [2, 0, 0, 0, 0, 0, 0, 0, 0]),
                row("e", "shop", Some("signup"), [1, 0, 0, 0, 0, 0, 0, 0, 0]),
                row("n", "bad site", None, [1, 1, 0, 0, 0, 1, 1, 0, 0]),
            ],
            &mut skipped,
        );
        assert_eq!(skipped, vec!["bad site".to_string()]);
        assert_eq!(sites.len(), 1);
        let f = &sites[0].figures;
        assert_eq!((f.events, f.pageviews, f.revenue_cents), (5, 4, 250));
        assert_eq!(sites[0].first_ms, 1000);
        let pages: Vec<&str> = f.top_pages.iter().map(|t| t.item.as_str()).collect();
        assert_eq!(pages, ["/B", "/a", "/b"]);
        assert_eq!(f.top_events[0].item, "signup");
    }
}
