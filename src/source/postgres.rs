//! `[source] engine = "postgres"`: the events in an application's
//! PostgreSQL, rolled up there one day per statement.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use postgres::types::Type;
use postgres::{Client, Config};

use super::sql::{Dialect, Mapping, TsType, Types};
use super::{Cell, EventSource};
use crate::errors::{Unreachable, usage};
use crate::settings::source::SourceConfig;

/// A connected PostgreSQL source with its checked mapping.
pub(crate) struct PgSource {
    client: Client,
    mapping: Mapping,
    /// "analytics@db.internal:5432/shop, table events".
    name: String,
}

impl PgSource {
    /// Connect (password from `PGPASSWORD` or `~/.pgpass`, TLS when the
    /// URL asks for it, the statement timeout) and check the mapping.
    pub(crate) fn connect(config: &SourceConfig) -> Result<PgSource> {
        let url = config.url.as_deref().unwrap_or_default();
        let (mut client, name) = connect(url, config.timeout_seconds, &super::reads(config))?;
        let mapping = check_mapping(&mut client, config).map_err(|e| classify(e, &name))?;
        Ok(PgSource {
            client,
            mapping,
            name,
        })
    }
}

impl EventSource for PgSource {
    fn describe(&self) -> String {
        format!("postgres {}", self.name)
    }

    fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Vec<Cell>>> {
        let rows = self
            .client
            .query(sql, &[])
            .map_err(|e| classify(e.into(), &self.name))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                cells.push(
                    match *column.type_() {
                        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Cell::Int),
                        Type::INT4 => row
                            .try_get::<_, Option<i32>>(i)?
                            .map(|v| Cell::Int(v.into())),
                        _ => row.try_get::<_, Option<String>>(i)?.map(Cell::Text),
                    }
                    .unwrap_or(Cell::Null),
                );
            }
            out.push(cells);
        }
        Ok(out)
    }
}

/// The URL as the crate's config, with `sslmode` values it does not know
/// (`verify-ca`, `verify-full`, `allow`) read as ours.
fn parse(url: &str) -> Result<Config> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let params: Vec<String> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("sslrootcert="))
        .map(|kv| match kv {
            "sslmode=verify-full" | "sslmode=verify-ca" => "sslmode=require".to_string(),
            "sslmode=allow" => "sslmode=prefer".to_string(),
            other => other.to_string(),
        })
        .collect();
    let cleaned = if params.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", params.join("&"))
    };
    cleaned.parse::<Config>().map_err(|e| {
        usage(format!(
            "source.url is not a PostgreSQL URL the client understands ({e}): give postgresql://user@host:port/database"
        ))
    })
}

/// "user@host:port/database" for messages (never the password).
fn server_name(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or("?"),
        config.get_dbname().unwrap_or("?")
    )
}

/// Open a connection for `what` ("table events", "the sink table x"),
/// with its name for messages ("user@host:port/database, what").
pub(crate) fn connect(url: &str, timeout_seconds: u64, what: &str) -> Result<(Client, String)> {
    let mut config = parse(url)?;
    if config.get_user().is_none()
        && let Ok(user) = std::env::var("PGUSER").or_else(|_| std::env::var("USER"))
    {
        config.user(&user);
    }
    if config.get_dbname().is_none()
        && let Some(user) = config.get_user().map(str::to_string)
    {
        config.dbname(&user);
    }
    let name = format!("{}, {what}", server_name(&config));
    if config.get_password().is_none()
        && let Some(password) = super::pgpass::password(&config)
    {
        config.password(password);
    }
    config.connect_timeout(Duration::from_secs(timeout_seconds.min(30)));
    config.options(&format!("-c statement_timeout={}", timeout_seconds * 1000));
    config.application_name("cronlytics");
    // TLS when the URL asks for it (sslmode=require, verify-ca or
    // verify-full): the certificate is then always verified.
    let result = if config.get_ssl_mode() == postgres::config::SslMode::Require {
        config.connect(tls(url)?)
    } else {
        config.ssl_mode(postgres::config::SslMode::Disable);
        config.connect(postgres::NoTls)
    };
    match result {
        Ok(client) => Ok((client, name)),
        Err(e) => Err(classify(e.into(), &name)),
    }
}

/// rustls with the Mozilla roots, or the `sslrootcert` file's.
fn tls(url: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let root_file = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("sslrootcert="));
    let Some(file) = root_file else {
        return Ok(tokio_postgres_rustls::MakeRustlsConnect::with_webpki_roots());
    };
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file)
        .with_context(|| format!("cannot read sslrootcert {file}"))?
    {
        roots.add(cert.with_context(|| format!("sslrootcert {file} holds a bad certificate"))?)?;
    }
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// A PostgreSQL error as the job runner should see it: the server or
/// network gone is a passing failure; bad credentials, a missing database,
/// table or column are the user's to fix (exit 2 at once).
pub(crate) fn classify(err: anyhow::Error, name: &str) -> anyhow::Error {
    let Some(pg) = err
        .chain()
        .find_map(|c| c.downcast_ref::<postgres::Error>())
    else {
        return err;
    };
    if let Some(db) = pg.as_db_error() {
        let code = db.code().code();
        let message = db.message();
        return match code {
            "57014" => Unreachable(format!(
                "the postgres source {name} did not answer in time (statement timeout: {message}): raise source.timeout_seconds or create the index the README names"
            ))
            .into(),
            c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") || c == "40001" || c == "40P01" => {
                Unreachable(format!("the postgres server {name} failed: {message}")).into()
            }
            c if c.starts_with("28") => usage(format!(
                "postgres {name} refused the login: {message}; check the user in source.url and the password in PGPASSWORD or ~/.pgpass"
            )),
            "3D000" => usage(format!("postgres {name}: {message}; check the database in the URL")),
            "42P01" | "42703" | "42501" | "42601" | "42883" | "42804" => {
                usage(format!("postgres {name}: {message}"))
            }
            _ => anyhow!("postgres {name}: {message} (SQLSTATE {code})"),
        };
    }
    let text = error_text(pg);
    if text.contains("TLS")
        || text.contains("certificate")
        || text.contains("server does not support TLS")
    {
        // Waiting does not fix a certificate or a server without TLS.
        return usage(format!(
            "postgres {name}: {text}; check sslmode and sslrootcert in the URL"
        ));
    }
    Unreachable(format!("cannot reach postgres {name}: {text}")).into()
}

/// The client error's text with its cause (the crate's Display alone says
/// "error connecting to server").
fn error_text(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// The mapping checked against the columns of an empty result.
fn check_mapping(client: &mut Client, config: &SourceConfig) -> Result<Mapping> {
    let from = Dialect::Postgres.from(config);
    let stmt = client
        .prepare(&format!("SELECT * FROM {from} LIMIT 0"))
        .map_err(anyhow::Error::from)?;
    let columns: Vec<(String, String)> = stmt
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_().name().to_string()))
        .collect();
    Mapping::resolve(
        Dialect::Postgres,
        config,
        &columns,
        &Types {
            ts: |t| match t {
                "timestamptz" => Some(TsType::Instant),
                "timestamp" => Some(TsType::Utc),
                "int8" | "numeric" => Some(TsType::Millis),
                _ => None,
            },
            number: |t| {
                matches!(
                    t,
                    "int2" | "int4" | "int8" | "numeric" | "float4" | "float8"
                )
            },
            ts_help: "a timestamptz, timestamp (UTC) or bigint (Unix ms) column",
        },
    )
}
