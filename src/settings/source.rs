//! `[source]` (where `aggregate` and `backfill` read the events) and
//! `[sink]` (a PostgreSQL table that receives every rollup row), checked.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Deserialize;

/// Where the events live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Engine {
    /// The embedded store itself.
    #[default]
    Sqlite,
    Postgres,
    Clickhouse,
}

impl Engine {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Clickhouse => "clickhouse",
        }
    }
}

/// The columns a source maps (our names).
pub(crate) const COLUMNS: [&str; 10] = [
    "ts",
    "site",
    "kind",
    "session",
    "visitor",
    "path",
    "referrer",
    "name",
    "revenue_cents",
    "updated_at",
];

/// The kinds a source's `kind` column is matched against.
pub(crate) const KINDS: [&str; 3] = ["pageview", "event", "order"];

/// `[source]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SourceConfig {
    pub(crate) engine: Engine,
    /// `postgresql://user@host/db?sslmode=require` or
    /// `http://host:8123/?database=web`; never with a password.
    pub(crate) url: Option<String>,
    /// A table (schema-qualified or not; a ClickHouse Distributed table too).
    pub(crate) table: Option<String>,
    /// Or any query giving the columns.
    pub(crate) query: Option<String>,
    /// Our column name -> theirs; unnamed ones are our names.
    pub(crate) columns: BTreeMap<String, String>,
    /// Our kind -> their value, when they differ.
    pub(crate) kinds: BTreeMap<String, String>,
    /// `aggregate` also rolls up the days before the one asked for, this
    /// many, for late and changed rows (not when `updated_at` is mapped).
    pub(crate) reroll_days: u32,
    /// A query running longer is cancelled (a passing failure).
    pub(crate) timeout_seconds: u64,
    /// ClickHouse: the user (the password comes from `CLICKHOUSE_PASSWORD`).
    pub(crate) user: Option<String>,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            engine: Engine::Sqlite,
            url: None,
            table: None,
            query: None,
            columns: BTreeMap::new(),
            kinds: BTreeMap::new(),
            reroll_days: 3,
            timeout_seconds: 600,
            user: None,
        }
    }
}

/// `[sink]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinkConfig {
    pub(crate) engine: Option<Engine>,
    pub(crate) url: Option<String>,
    #[serde(default = "default_sink_table")]
    pub(crate) table: String,
}

fn default_sink_table() -> String {
    "analytics_daily_stats".to_string()
}

impl SourceConfig {
    /// Their column for our `name` (quoted by the engine).
    pub(crate) fn column<'a>(&'a self, name: &'a str) -> &'a str {
        self.columns.get(name).map(String::as_str).unwrap_or(name)
    }

    /// Their value for our kind.
    pub(crate) fn kind<'a>(&'a self, kind: &'a str) -> &'a str {
        self.kinds.get(kind).map(String::as_str).unwrap_or(kind)
    }

    /// Whether `updated_at` is mapped: then changed days are found by it.
    pub(crate) fn tracks_updates(&self) -> bool {
        self.columns.contains_key("updated_at")
    }

    /// The checks that need no server: exit 2 naming the key.
    pub(crate) fn check(&self, has_custom: bool) -> Result<()> {
        if self.engine == Engine::Sqlite {
            if self.url.is_some() || self.table.is_some() || self.query.is_some() {
                bail!(
                    "source.url, source.table and source.query in the config file need source.engine = \"postgres\" or \"clickhouse\""
                );
            }
            return Ok(());
        }
        let engine = self.engine.name();
        let Some(url) = &self.url else {
            bail!("source.url is missing from the config file: the {engine} source needs one");
        };
        check_url(self.engine, url, "source.url")?;
        match (&self.table, &self.query) {
            (Some(_), Some(_)) => {
                bail!("source.table and source.query are both in the config file: give one")
            }
            (None, None) => bail!(
                "the {engine} source needs source.table (a table) or source.query (a query giving the columns)"
            ),
            (Some(t), None) if t.trim().is_empty() => {
                bail!("source.table in the config file is empty")
            }
            (None, Some(q)) if q.trim().is_empty() => {
                bail!("source.query in the config file is empty")
            }
            _ => {}
        }
        for (ours, theirs) in &self.columns {
            if !COLUMNS.contains(&ours.as_str()) {
                bail!(
                    "source.columns.{ours} in the config file is not a column we read: use {}",
                    COLUMNS.join(", ")
                );
            }
            if theirs.trim().is_empty() {
                bail!("source.columns.{ours} in the config file is empty: name their column");
            }
        }
        for (ours, theirs) in &self.kinds {
            if !KINDS.contains(&ours.as_str()) {
                bail!(
                    "source.kinds.{ours} in the config file is not a kind: use {}",
                    KINDS.join(", ")
                );
            }
            if theirs.is_empty() {
                bail!("source.kinds.{ours} in the config file is empty");
            }
        }
        super::in_bounds(
            "source.reroll_days",
            self.reroll_days as f64,
            0.0,
            366.0,
            "days",
        )?;
        super::in_bounds(
            "source.timeout_seconds",
            self.timeout_seconds as f64,
            1.0,
            86_400.0,
            "seconds",
        )?;
        if has_custom {
            bail!(
                "[[breakdown]] and [[goal]] are rolled up by the embedded engine only: remove them, or source.engine = \"{engine}\", from the config file"
            );
        }
        Ok(())
    }
}

impl SinkConfig {
    pub(crate) fn check(&self) -> Result<()> {
        match self.engine {
            None => {
                if self.url.is_some() {
                    bail!("sink.url in the config file needs sink.engine = \"postgres\"");
                }
                Ok(())
            }
            Some(Engine::Postgres) => {
                let Some(url) = &self.url else {
                    bail!("sink.url is missing from the config file: the postgres sink needs one");
                };
                check_url(Engine::Postgres, url, "sink.url")?;
                if self.table.trim().is_empty() {
                    bail!("sink.table in the config file is empty");
                }
                Ok(())
            }
            Some(other) => bail!(
                "sink.engine = \"{}\" in the config file: the sink can only be \"postgres\"",
                other.name()
            ),
        }
    }
}

/// A URL of the engine's kind, without a password in it.
fn check_url(engine: Engine, url: &str, key: &str) -> Result<()> {
    let schemes: &[&str] = match engine {
        Engine::Postgres => &["postgresql://", "postgres://"],
        Engine::Clickhouse => &["http://", "https://"],
        Engine::Sqlite => &[],
    };
    if !schemes.iter().any(|s| url.starts_with(s)) {
        bail!(
            "{key} in the config file does not start with {}: give a URL such as {}",
            schemes.join(" or "),
            match engine {
                Engine::Clickhouse => "http://host:8123/?database=web",
                _ => "postgresql://analytics@db.internal/shop",
            }
        );
    }
    let rest = &url[url.find("://").map(|i| i + 3).unwrap_or(0)..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let userinfo = authority.rfind('@').map(|i| &authority[..i]);
    let query_has_password = url
        .split(['?', '&'])
        .skip(1)
        .any(|kv| kv.starts_with("password="));
    if userinfo.is_some_and(|u| u.contains(':')) || query_has_password {
        let var = match engine {
            Engine::Clickhouse => "CLICKHOUSE_PASSWORD",
            _ => "PGPASSWORD (or ~/.pgpass)",
        };
        bail!(
            "{key} in the config file holds a password: remove it from the URL and give it in {var}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(toml_text: &str) -> SourceConfig {
        toml::from_str(toml_text).expect("parses")
    }

    #[test]
    fn a_source_needs_a_url_and_one_of_table_or_query() {
        let s = source("engine = \"postgres\"\ntable = \"events\"");
        assert!(format!("{}", s.check(false).unwrap_err()).contains("source.url is missing"));
        let s = source("engine = \"postgres\"\nurl = \"postgresql://a@h/db\"");
        assert!(format!("{}", s.check(false).unwrap_err()).contains("source.table"));
        let s = source(
            "engine = \"postgres\"\nurl = \"postgresql://a@h/db\"\ntable = \"e\"\nquery = \"SELECT 1\"",
        );
        assert!(format!("{}", s.check(false).unwrap_err()).contains("both"));
        let s = source("engine = \"postgres\"\nurl = \"postgresql://a@h/db\"\ntable = \"e\"");
        s.check(false).unwrap();
        assert!(format!("{}", s.check(true).unwrap_err()).contains("[[breakdown]]"));
    }

    #[test]
    fn passwords_stay_out_of_the_url() {
        for url in [
            "postgresql://a:secret@h/db",
            "postgresql://h/db?user=a&password=secret",
        ] {
            let e = check_url(Engine::Postgres, url, "source.url").unwrap_err();
            assert!(format!("{e}").contains("PGPASSWORD"), "{e}");
            assert!(!format!("{e}").contains("secret"));
        }
        let e = check_url(Engine::Clickhouse, "http://u:p@h:8123/", "source.url").unwrap_err();
        assert!(format!("{e}").contains("CLICKHOUSE_PASSWORD"));
        check_url(
            Engine::Clickhouse,
            "http://h:8123/?database=web",
            "source.url",
        )
        .unwrap();
        check_url(
            Engine::Postgres,
            "postgresql://a@%2Ftmp%2Fpg/db",
            "source.url",
        )
        .unwrap();
    }

    #[test]
    fn unknown_columns_and_kinds_are_named() {
        let s = source(
            "engine = \"clickhouse\"\nurl = \"http://h:8123/\"\ntable = \"e\"\n[columns]\ntimestamp = \"x\"",
        );
        assert!(format!("{}", s.check(false).unwrap_err()).contains("source.columns.timestamp"));
        let s = source(
            "engine = \"clickhouse\"\nurl = \"http://h:8123/\"\ntable = \"e\"\n[kinds]\nview = \"x\"",
        );
        assert!(format!("{}", s.check(false).unwrap_err()).contains("source.kinds.view"));
    }
}
