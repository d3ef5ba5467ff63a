//! `[sink]`: after `aggregate` and `backfill`, every rollup row they wrote
//! is upserted into a PostgreSQL table an application's dashboard reads,
//! in one transaction per run.

use anyhow::Result;
use chrono::NaiveDate;

use super::sql::Dialect;
use crate::settings::source::SinkConfig;
use crate::store::rollups::DailyRollup;

/// The table's columns: the JSON export's, top lists as `jsonb`.
fn create_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
    date date NOT NULL,
    site text NOT NULL,
    pageviews bigint NOT NULL,
    custom_events bigint NOT NULL,
    orders bigint NOT NULL,
    revenue_cents bigint NOT NULL,
    unique_visitors bigint NOT NULL,
    unique_sessions bigint NOT NULL,
    conversion_rate double precision NOT NULL,
    top_pages jsonb NOT NULL,
    top_referrers jsonb NOT NULL,
    top_events jsonb NOT NULL,
    PRIMARY KEY (date, site)
)"
    )
}

fn upsert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} (date, site, pageviews, custom_events, orders, revenue_cents,
    unique_visitors, unique_sessions, conversion_rate, top_pages, top_referrers, top_events)
VALUES ($1::text::date, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::jsonb, $11::text::jsonb, $12::text::jsonb)
ON CONFLICT (date, site) DO UPDATE SET
    pageviews = excluded.pageviews, custom_events = excluded.custom_events,
    orders = excluded.orders, revenue_cents = excluded.revenue_cents,
    unique_visitors = excluded.unique_visitors, unique_sessions = excluded.unique_sessions,
    conversion_rate = excluded.conversion_rate, top_pages = excluded.top_pages,
    top_referrers = excluded.top_referrers, top_events = excluded.top_events"
    )
}

/// Upsert `rows` (the days just rolled up) into the sink's table, creating
/// it when missing. Returns how many rows went.
pub(crate) fn write(
    config: &SinkConfig,
    timeout_seconds: u64,
    rows: &[DailyRollup],
) -> Result<usize> {
    let table = Dialect::Postgres.table(&config.table);
    let what = format!("the sink table {}", config.table);
    let url = config.url.as_deref().unwrap_or_default();
    let (mut client, name) = super::postgres::connect(url, timeout_seconds, &what)?;
    let run = |client: &mut postgres::Client| -> Result<usize> {
        let mut tx = client.transaction()?;
        tx.batch_execute(&create_sql(&table))?;
        let stmt = tx.prepare(&upsert_sql(&table))?;
        for r in rows {
            let json = |v| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
            tx.execute(
                &stmt,
                &[
                    &r.date.to_string(),
                    &r.site,
                    &(r.pageviews as i64),
                    &(r.custom_events as i64),
                    &(r.orders as i64),
                    &(r.revenue_cents as i64),
                    &(r.unique_visitors as i64),
                    &(r.unique_sessions as i64),
                    &r.conversion_rate,
                    &json(&r.top_pages),
                    &json(&r.top_referrers),
                    &json(&r.top_events),
                ],
            )?;
        }
        tx.commit()?;
        Ok(rows.len())
    };
    run(&mut client).map_err(|e| super::postgres::classify(e, &name))
}

/// The rows of `days` among `rows`.
pub(crate) fn of_days(rows: Vec<DailyRollup>, days: &[NaiveDate]) -> Vec<DailyRollup> {
    rows.into_iter()
        .filter(|r| days.binary_search(&r.date).is_ok())
        .collect()
}
