//! `[source] engine = "clickhouse"`: the events in a ClickHouse table (a
//! `Distributed` table over shards too), rolled up there one day per
//! statement over the HTTP interface.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::sql::{Dialect, Mapping, TsType, Types};
use super::{Cell, EventSource};
use crate::errors::{Unreachable, usage};
use crate::settings::source::SourceConfig;

/// A ClickHouse source: its client and the checked mapping.
pub(crate) struct ChSource {
    client: Client,
    mapping: Mapping,
}

/// The HTTP interface of one server.
struct Client {
    agent: ureq::Agent,
    /// The URL without its query; the query's settings go in `params`.
    base: String,
    params: Vec<(String, String)>,
    user: Option<String>,
    password: Option<String>,
    /// "user@http://host:8123 database web, table events".
    name: String,
}

/// A `FORMAT JSONCompact` answer: column names and types, rows of values.
#[derive(serde::Deserialize)]
struct Answer {
    #[serde(default)]
    meta: Vec<Column>,
    #[serde(default)]
    data: Vec<Vec<Value>>,
}

#[derive(serde::Deserialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    type_: String,
}

impl ChSource {
    pub(crate) fn connect(config: &SourceConfig) -> Result<ChSource> {
        let url = config.url.as_deref().unwrap_or_default();
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut params: Vec<(String, String)> = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        let mut user = config.user.clone();
        if let Some(i) = params.iter().position(|(k, _)| k == "user") {
            user = Some(params.remove(i).1);
        }
        params.push((
            "max_execution_time".into(),
            config.timeout_seconds.to_string(),
        ));
        params.push(("output_format_json_quote_64bit_integers".into(), "0".into()));
        // An error after the answer started would otherwise come as HTTP 200
        // with half a body.
        params.push(("wait_end_of_query".into(), "1".into()));
        let database = params
            .iter()
            .find(|(k, _)| k == "database")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "default".into());
        let name = format!(
            "{}{} database {database}, {}",
            user.as_ref().map(|u| format!("{u}@")).unwrap_or_default(),
            base.trim_end_matches('/'),
            super::reads(config)
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(config.timeout_seconds + 30)))
            .http_status_as_error(false)
            .build()
            .into();
        let client = Client {
            agent,
            base: base.to_string(),
            params,
            user,
            password: std::env::var("CLICKHOUSE_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty()),
            name,
        };
        let mapping = client.check_mapping(config)?;
        Ok(ChSource { client, mapping })
    }
}

impl Client {
    /// Run one statement and read its `JSONCompact` result.
    fn run(&self, sql: &str) -> Result<Answer> {
        let mut request = self.agent.post(&self.base);
        for (k, v) in &self.params {
            request = request.query(k, v);
        }
        if let Some(user) = &self.user {
            request = request.header("X-ClickHouse-User", user);
        }
        if let Some(password) = &self.password {
            request = request.header("X-ClickHouse-Key", password);
        }
        let body = format!("{sql}\nFORMAT JSONCompact");
        let mut response = match request.send(body.as_bytes()) {
            Ok(r) => r,
            Err(e) => {
                return Err(
                    Unreachable(format!("cannot reach clickhouse {}: {e}", self.name)).into(),
                );
            }
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| {
                Unreachable(format!(
                    "clickhouse {} broke off its answer: {e}",
                    self.name
                ))
            })?;
        if status != 200 {
            return Err(self.classify(status, &text));
        }
        serde_json::from_str(&text).with_context(|| {
            format!(
                "clickhouse {} answered something that is not JSON",
                self.name
            )
        })
    }

    /// An error answer as the job runner should see it, by ClickHouse's
    /// exception code.
    fn classify(&self, status: u16, text: &str) -> anyhow::Error {
        let code = text
            .strip_prefix("Code: ")
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(0);
        let message = text.lines().next().unwrap_or(text).trim();
        let message = message
            .split_once("DB::Exception: ")
            .map(|(_, m)| m)
            .unwrap_or(message);
        let name = &self.name;
        match code {
            // Wrong password, unknown user, required password, no access.
            192 | 193 | 194 | 195 | 497 | 516 => usage(format!(
                "clickhouse {name} refused the login: {message}; check source.user and CLICKHOUSE_PASSWORD"
            )),
            // Unknown database, table, column, function; syntax; types.
            81 | 60 | 47 | 16 | 46 | 62 | 43 | 53 | 386 => {
                usage(format!("clickhouse {name}: {message}"))
            }
            // Timeout, network, a shard down, too many queries.
            159 | 209 | 210 | 279 | 202 | 203 | 3 | 32 | 394 => {
                Unreachable(format!("clickhouse {name} failed for now: {message}")).into()
            }
            _ if status >= 500 && code == 0 => Unreachable(format!(
                "clickhouse {name} answered HTTP {status}: {message}"
            ))
            .into(),
            _ => anyhow!("clickhouse {name}: {message} (code {code}, HTTP {status})"),
        }
    }

    /// The mapping checked against the columns of an empty result.
    fn check_mapping(&self, config: &SourceConfig) -> Result<Mapping> {
        let from = Dialect::ClickHouse.from(config);
        let columns: Vec<(String, String)> = self
            .run(&format!("SELECT * FROM {from} LIMIT 0"))?
            .meta
            .into_iter()
            .map(|c| (c.name, base_type(&c.type_).to_string()))
            .collect();
        Mapping::resolve(
            Dialect::ClickHouse,
            config,
            &columns,
            &Types {
                ts: |t| {
                    if t.starts_with("DateTime") && !t.starts_with("DateTime64") {
                        Some(TsType::Utc)
                    } else if matches!(t, "Int64" | "UInt64") {
                        Some(TsType::Millis)
                    } else {
                        None
                    }
                },
                number: |t| {
                    ["Int", "UInt", "Float", "Decimal"]
                        .iter()
                        .any(|p| t.starts_with(p))
                },
                ts_help: "a DateTime or an Int64/UInt64 (Unix ms) column",
            },
        )
    }
}

/// `Nullable(X)` / `LowCardinality(X)` as `X`.
fn base_type(t: &str) -> &str {
    let mut t = t;
    for wrapper in ["Nullable(", "LowCardinality("] {
        if let Some(inner) = t.strip_prefix(wrapper).and_then(|i| i.strip_suffix(')')) {
            t = inner;
        }
    }
    t
}

impl EventSource for ChSource {
    fn describe(&self) -> String {
        format!("clickhouse {}", self.client.name)
    }

    fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Vec<Cell>>> {
        Ok(self
            .client
            .run(sql)?
            .data
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        Value::Null => Cell::Null,
                        Value::Number(n) => Cell::Int(
                            n.as_i64()
                                .or_else(|| n.as_f64().map(|f| f as i64))
                                .unwrap_or(0),
                        ),
                        Value::String(s) => Cell::Text(s),
                        other => Cell::Text(other.to_string()),
                    })
                    .collect()
            })
            .collect())
    }
}
