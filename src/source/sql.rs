//! The SQL a remote engine runs: one statement per day that returns the
//! rollup as rows of one shape (`part`, `site`, `item`, n0..n8), in the
//! PostgreSQL and the ClickHouse dialect (18.16 too: no window functions,
//! no `FILTER`, no common table expressions of subqueries).
//!
//! Paths and referrers are normalised in SQL exactly as ingest does
//! (`ingest::parse::normalize_path` and `normalize_referrer`); the tests
//! run both against the embedded engine on tricky values.

use anyhow::Result;

use crate::errors::usage;
use crate::settings::source::SourceConfig;
use crate::time::rfc3339_millis;

/// Which SQL to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    ClickHouse,
}

/// How the source stores its timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TsType {
    /// An instant: PostgreSQL `timestamptz`.
    Instant,
    /// A UTC wall time: PostgreSQL `timestamp`, ClickHouse `DateTime`.
    Utc,
    /// Integer Unix milliseconds.
    Millis,
}

/// The source's columns as found by the engine's check: quoted identifiers,
/// `None` for an optional column the source does not have.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub(crate) dialect: Dialect,
    /// The quoted table, or `(query) AS src`.
    pub(crate) from: String,
    pub(crate) ts: String,
    pub(crate) ts_type: TsType,
    pub(crate) site: String,
    pub(crate) kind: String,
    pub(crate) session: String,
    pub(crate) visitor: String,
    pub(crate) path: Option<String>,
    pub(crate) referrer: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) revenue: Option<String>,
    pub(crate) updated_at: Option<String>,
    /// Their values of pageview, event, order.
    pub(crate) kinds: [String; 3],
}

/// How an engine reads its column types (by the type's name).
pub(crate) struct Types {
    /// The timestamp's kind, `None` for a type we cannot read.
    pub(crate) ts: fn(&str) -> Option<TsType>,
    /// Whether a revenue column of this type holds numbers.
    pub(crate) number: fn(&str) -> bool,
    /// The timestamp types to name when it is none of them.
    pub(crate) ts_help: &'static str,
}

impl Mapping {
    /// Find our columns among the source's `(name, type)` (from an empty
    /// result of the table or query): exit 2 naming a required column that
    /// is missing (or an optional one mapped by name), a timestamp or
    /// revenue of a type we cannot read.
    pub(crate) fn resolve(
        dialect: Dialect,
        config: &SourceConfig,
        columns: &[(String, String)],
        types: &Types,
    ) -> Result<Mapping> {
        let find = |ours: &str, required: bool| -> Result<Option<(String, &str)>> {
            let theirs = config.column(ours);
            match columns.iter().find(|(n, _)| n == theirs) {
                Some((n, t)) => Ok(Some((dialect.ident(n), t.as_str()))),
                None if required || config.columns.contains_key(ours) => {
                    let names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
                    Err(usage(format!(
                        "the source has no column {theirs}{}: its columns are {}; map it with source.columns.{ours}",
                        if theirs == ours {
                            String::new()
                        } else {
                            format!(" (source.columns.{ours})")
                        },
                        names.join(", ")
                    )))
                }
                None => Ok(None),
            }
        };
        let required = |ours: &str| -> Result<String> {
            Ok(find(ours, true)?.map(|c| c.0).unwrap_or_default())
        };
        let optional =
            |ours: &str| -> Result<Option<String>> { Ok(find(ours, false)?.map(|c| c.0)) };
        let (ts, ts_name) = find("ts", true)?.unwrap_or_default();
        let Some(ts_type) = (types.ts)(ts_name) else {
            return Err(usage(format!(
                "the source's timestamp column {} is of type {ts_name}: give {} in source.columns.ts",
                config.column("ts"),
                types.ts_help
            )));
        };
        if let Some((_, t)) = find("revenue_cents", false)?
            && !(types.number)(t)
        {
            return Err(usage(format!(
                "the source's revenue column {} is of type {t}: give an integer number of cents",
                config.column("revenue_cents")
            )));
        }
        Ok(Mapping {
            dialect,
            from: dialect.from(config),
            ts,
            ts_type,
            site: required("site")?,
            kind: required("kind")?,
            session: required("session")?,
            visitor: required("visitor")?,
            path: optional("path")?,
            referrer: optional("referrer")?,
            name: optional("name")?,
            revenue: optional("revenue_cents")?,
            updated_at: optional("updated_at")?,
            kinds: ["pageview", "event", "order"].map(|k| config.kind(k).to_string()),
        })
    }
}

impl Dialect {
    pub(crate) fn ident(self, name: &str) -> String {
        match self {
            Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Dialect::ClickHouse => format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`")),
        }
    }

    pub(crate) fn string(self, text: &str) -> String {
        match self {
            Dialect::Postgres => format!("'{}'", text.replace('\'', "''")),
            Dialect::ClickHouse => format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'")),
        }
    }

    /// A table name as written in the config (`schema.table`, each part
    /// quoted; a name with quotes in it is taken as written).
    pub(crate) fn table(self, name: &str) -> String {
        if name.contains(['"', '`']) {
            return name.to_string();
        }
        name.split('.')
            .map(|p| self.ident(p.trim()))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// `FROM` of the configured table or query.
    pub(crate) fn from(self, config: &SourceConfig) -> String {
        match (&config.table, &config.query) {
            (Some(t), _) => self.table(t),
            (None, Some(q)) => format!("({}) AS src", q.trim().trim_end_matches(';')),
            (None, None) => String::new(),
        }
    }

    /// A bound of the day as a literal of the column's type.
    fn bound(self, ts_type: TsType, ms: i64) -> String {
        match (self, ts_type) {
            (_, TsType::Millis) => ms.to_string(),
            (Dialect::Postgres, TsType::Instant) => {
                format!("'{}'::timestamptz", rfc3339_millis(ms))
            }
            (Dialect::Postgres, TsType::Utc) => format!(
                "'{}'::timestamp",
                rfc3339_millis(ms).trim_end_matches('Z').replace('T', " ")
            ),
            (Dialect::ClickHouse, _) => format!("toDateTime({})", ms.div_euclid(1000)),
        }
    }

    /// The earliest timestamp of a group in UTC ms.
    fn min_ms(self, ts_type: TsType, ts: &str) -> String {
        match (self, ts_type) {
            (Dialect::Postgres, TsType::Millis) => format!("min({ts})::bigint"),
            (Dialect::Postgres, _) => {
                format!("floor(extract(epoch FROM min({ts})) * 1000)::bigint")
            }
            (Dialect::ClickHouse, TsType::Millis) => format!("toInt64(min({ts}))"),
            (Dialect::ClickHouse, _) => format!("toInt64(min({ts})) * 1000"),
        }
    }

    /// A column as text (NULL stays NULL).
    fn text(self, col: &str) -> String {
        match self {
            Dialect::Postgres => format!("{col}::text"),
            Dialect::ClickHouse => format!("toString({col})"),
        }
    }
}

/// What `trim` removes at the ends, ASCII: PostgreSQL has no `\v` escape
/// (`E'\v'` is the letter v), so the vertical tab is `\x0b`.
const WHITESPACE_PG: &str = "E' \\t\\n\\r\\f\\x0b'";

impl Mapping {
    /// The `WHERE` of a day: its UTC bounds, our three kinds, the site.
    fn day_filter(&self, start_ms: i64, end_ms: i64, site: Option<&str>) -> String {
        let d = self.dialect;
        let kinds: Vec<String> = self.kinds.iter().map(|k| d.string(k)).collect();
        let mut w = format!(
            "{ts} >= {lo} AND {ts} < {hi} AND {kind} IN ({kinds})",
            ts = self.ts,
            lo = d.bound(self.ts_type, start_ms),
            hi = d.bound(self.ts_type, end_ms),
            kind = d.text(&self.kind),
            kinds = kinds.join(", ")
        );
        if let Some(site) = site {
            w.push_str(&format!(" AND {} = {}", d.text(&self.site), d.string(site)));
        }
        w
    }

    /// The statement that rolls up `[start_ms, end_ms)`.
    pub(crate) fn day_sql(&self, start_ms: i64, end_ms: i64, site: Option<&str>) -> String {
        match self.dialect {
            Dialect::Postgres => self.pg_day(start_ms, end_ms, site),
            Dialect::ClickHouse => self.ch_day(start_ms, end_ms, site),
        }
    }

    fn pg_day(&self, start_ms: i64, end_ms: i64, site: Option<&str>) -> String {
        let d = Dialect::Postgres;
        let opt = |c: &Option<String>| {
            c.as_ref()
                .map(|c| format!("{c}::text"))
                .unwrap_or_else(|| "NULL::text".into())
        };
        let revenue = self
            .revenue
            .as_ref()
            .map(|c| format!("COALESCE({c}, 0)::bigint"))
            .unwrap_or_else(|| "0::bigint".into());
        let [pv, ev, or] = [0, 1, 2].map(|i| d.string(&self.kinds[i]));
        let ws = WHITESPACE_PG;
        let lower = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'";
        let top = |part: &str, cte: &str| {
            format!(
                "SELECT '{part}', site, item, n, 0, 0, 0, 0, 0, 0, 0, 0 FROM (
    SELECT site, item, n, row_number() OVER (PARTITION BY site ORDER BY n DESC, item COLLATE \"C\") AS rank
    FROM {cte}) t WHERE rank <= 10"
            )
        };
        format!(
            "WITH e AS MATERIALIZED (
  SELECT {site}::text AS site, {kind}::text AS kind, {session}::text AS session,
         {visitor}::text AS visitor, {path} AS path, {referrer} AS referrer, {name} AS name,
         {revenue} AS revenue, {ts} AS ts
  FROM {from}
  WHERE {filter}),
pages AS (
  SELECT site, COALESCE(NULLIF(btrim(substring(path FROM '^[^?#]*'), {ws}), ''), '/') AS item, count(*) AS n
  FROM e WHERE kind = {pv} AND path IS NOT NULL GROUP BY 1, 2),
raw_referrers AS (
  SELECT site, btrim(referrer, {ws}) AS r, count(*) AS n FROM e WHERE kind = {pv} GROUP BY 1, 2),
referrers AS (
  SELECT site,
         CASE WHEN r IS NULL OR r = '' THEN 'direct'
              WHEN strpos(r, '://') = 0 THEN r
              ELSE COALESCE(NULLIF(translate(regexp_replace(h, '^[wW][wW][wW]\\.', ''), {lower}), ''), 'direct')
         END AS item,
         sum(n)::bigint AS n
  FROM raw_referrers,
       LATERAL (SELECT regexp_replace(substring(substr(r, strpos(r, '://') + 3) FROM '^[^/?#]*'), '^.*@', '') AS hp) a,
       LATERAL (SELECT CASE WHEN hp LIKE '[%' THEN substring(hp FROM '^\\[[^]]*]?') ELSE split_part(hp, ':', 1) END AS h) b
  GROUP BY 1, 2),
names AS (
  SELECT site, name AS item, count(*) AS n FROM e WHERE kind = {ev} AND name IS NOT NULL GROUP BY 1, 2)
SELECT 'n' AS part, site, NULL::text AS item, count(*) AS n0,
       count(*) FILTER (WHERE kind = {pv}), count(*) FILTER (WHERE kind = {ev}),
       count(*) FILTER (WHERE kind = {or}), COALESCE(sum(revenue) FILTER (WHERE kind = {or}), 0)::bigint,
       count(DISTINCT visitor), count(DISTINCT session),
       count(DISTINCT session) FILTER (WHERE kind = {or}), {min_ms}
FROM e GROUP BY site
UNION ALL
{pages}
UNION ALL
{referrers}
UNION ALL
{names}",
            site = self.site,
            kind = self.kind,
            session = self.session,
            visitor = self.visitor,
            path = opt(&self.path),
            referrer = opt(&self.referrer),
            name = opt(&self.name),
            ts = self.ts,
            from = self.from,
            filter = self.day_filter(start_ms, end_ms, site),
            min_ms = d.min_ms(self.ts_type, "ts"),
            pages = top("p", "pages"),
            referrers = top("r", "referrers"),
            names = top("e", "names"),
        )
    }

    fn ch_day(&self, start_ms: i64, end_ms: i64, site: Option<&str>) -> String {
        let d = Dialect::ClickHouse;
        let filter = self.day_filter(start_ms, end_ms, site);
        let text = |c: &str| d.text(c);
        let [pv, ev, or] = [0, 1, 2].map(|i| d.string(&self.kinds[i]));
        let kind = text(&self.kind);
        let site_col = text(&self.site);
        let revenue = self
            .revenue
            .as_ref()
            .map(|c| format!("toInt64(ifNull({c}, 0))"))
            .unwrap_or_else(|| "toInt64(0)".into());
        let zeros = "toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0), toInt64(0)";
        let top = |part: &str, item: &str, cond: &str| {
            format!(
                "SELECT '{part}' AS part, site, toNullable(item) AS item, toInt64(n) AS n0, {zeros}
FROM (SELECT {site_col} AS site, {item} AS item, count() AS n FROM {from}
      WHERE {filter} AND {cond} GROUP BY site, item
      ORDER BY site, n DESC, item LIMIT 10 BY site)",
                from = self.from,
            )
        };
        let ws = "'^[ \\\\t\\\\n\\\\r\\\\f\\\\v]+|[ \\\\t\\\\n\\\\r\\\\f\\\\v]+$'";
        let trim = |x: &str| format!("replaceRegexpAll({x}, {ws}, '')");
        let pages = self.path.as_ref().map(|p| {
            let cut = format!("extract(assumeNotNull({p}), '^[^?#]*')");
            let t = trim(&cut);
            top(
                "p",
                &format!("if({t} = '', '/', {t})"),
                &format!("{kind} = {pv} AND isNotNull({p})"),
            )
        });
        let referrers = {
            let r = match &self.referrer {
                Some(c) => trim(&format!("ifNull(toString({c}), '')")),
                None => "''".to_string(),
            };
            let rest = format!("substring({r}, position({r}, '://') + 3)");
            let authority = format!("extract({rest}, '^[^/?#]*')");
            // After the last `@` (a regex `.` would stop at a newline).
            let host_port = format!("splitByChar('@', {authority})[-1]");
            let host = format!(
                "if(startsWith({host_port}, '['), extract({host_port}, '^\\\\[[^\\\\]]*\\\\]?'), extract({host_port}, '^[^:]*'))"
            );
            let bare = format!("lower(replaceRegexpOne({host}, '^[wW][wW][wW]\\\\.', ''))");
            let item = format!(
                "if({r} = '', 'direct', if(position({r}, '://') = 0, {r}, if({bare} = '', 'direct', {bare})))"
            );
            Some(top("r", &item, &format!("{kind} = {pv}")))
        };
        let names = self.name.as_ref().map(|n| {
            top(
                "e",
                &format!("toString(assumeNotNull({n}))"),
                &format!("{kind} = {ev} AND isNotNull({n})"),
            )
        });
        let mut sql = format!(
            "SELECT 'n' AS part, {site_col} AS site, toNullable('') AS item,
       toInt64(count()) AS n0, toInt64(countIf({kind} = {pv})), toInt64(countIf({kind} = {ev})),
       toInt64(countIf({kind} = {or})), toInt64(sumIf({revenue}, {kind} = {or})),
       toInt64(uniqExact({visitor})), toInt64(uniqExact({session})),
       toInt64(uniqExactIf({session}, {kind} = {or})), {min_ms}
FROM {from} WHERE {filter} GROUP BY site",
            visitor = text(&self.visitor),
            session = text(&self.session),
            min_ms = d.min_ms(self.ts_type, &self.ts),
            from = self.from,
        );
        for part in [pages, referrers, names].into_iter().flatten() {
            sql.push_str("\nUNION ALL\n");
            sql.push_str(&part);
        }
        sql
    }

    /// The newest `updated_at` as text (`None` when the source is empty).
    pub(crate) fn newest_update_sql(&self) -> Option<String> {
        let u = self.updated_at.as_ref()?;
        Some(format!(
            "SELECT {} FROM {}",
            match self.dialect {
                Dialect::Postgres => format!("max({u})::text"),
                Dialect::ClickHouse => format!("toString(max({u}))"),
            },
            self.from
        ))
    }

    /// The 15-minute slots (UTC seconds / 900) holding rows changed in
    /// `(since, newest]`: every zone's midnight falls on a slot's edge, so
    /// each slot lies in one local day, found here, not by the server's
    /// time-zone database.
    pub(crate) fn changed_slots_sql(&self, since: Option<&str>, newest: &str) -> Option<String> {
        let u = self.updated_at.as_ref()?;
        let d = self.dialect;
        let slot = match (d, self.ts_type) {
            (Dialect::Postgres, TsType::Millis) => format!("floor({} / 900000.0)::bigint", self.ts),
            (Dialect::Postgres, _) => {
                format!("floor(extract(epoch FROM {}) / 900)::bigint", self.ts)
            }
            (Dialect::ClickHouse, TsType::Millis) => {
                format!("intDiv(toInt64({}), 900000)", self.ts)
            }
            (Dialect::ClickHouse, _) => format!("intDiv(toInt64({}), 900)", self.ts),
        };
        let since = since
            .map(|s| format!("{u} > {} AND ", d.string(s)))
            .unwrap_or_default();
        Some(format!(
            "SELECT DISTINCT {slot} AS slot FROM {from} WHERE {since}{u} <= {newest}",
            from = self.from,
            newest = d.string(newest)
        ))
    }
}
