//! Options every job takes, and the config file, resolved into checked
//! [`Settings`] before any work starts.
//!
//! Precedence (contract, "Options every binary takes"): command line, then
//! environment, then the config file, then the built-in default. clap already
//! merges the first two (each flag names its env variable), so the flags
//! arrive as `Option`s and the file only fills what they left empty.

pub mod guard;
pub(crate) mod logs;
pub(crate) mod props;
pub(crate) mod report;
pub(crate) mod source;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::Args;
use serde::Deserialize;

use crate::time::{parse_now, parse_zone};

/// The options of the contract's "Options every binary takes", shared by all
/// binaries through `#[command(flatten)]`.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Config file (TOML). Default: ./cronlytics.toml when it exists.
    #[arg(long, env = "CRONLYTICS_CONFIG", value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
    /// The SQLite store. Default: analytics.db
    #[arg(long, env = "CRONLYTICS_DB", value_name = "PATH", global = true)]
    pub db: Option<PathBuf>,
    /// Directory of the artifacts. Default: artifacts/analytics
    #[arg(long, env = "CRONLYTICS_ARTIFACTS", value_name = "DIR", global = true)]
    pub artifacts: Option<PathBuf>,
    /// Time zone of the days (IANA name, e.g. Europe/Berlin). Default: UTC
    #[arg(long, env = "CRONLYTICS_TZ", value_name = "ZONE", global = true)]
    pub tz: Option<String>,
    /// Fix "now" (RFC 3339), for tests and replays. Default: the real clock
    #[arg(long, env = "CRONLYTICS_NOW", value_name = "RFC3339", global = true)]
    pub now: Option<String>,
    /// Write Prometheus textfile metrics into this directory.
    #[arg(
        long,
        env = "CRONLYTICS_TEXTFILE_DIR",
        value_name = "DIR",
        global = true
    )]
    pub textfile_dir: Option<PathBuf>,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// `--start/--end/--days` and `--site`: the days and sites a backfill or an
/// export covers, flattened into those binaries.
#[derive(Debug, Clone, Default, Args)]
pub struct RangeArgs {
    /// First day (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub start: Option<String>,
    /// Last day, inclusive (YYYY-MM-DD; default yesterday).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub end: Option<String>,
    /// The N days ending yesterday.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub days: Option<i64>,
    /// Only this site.
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
}

/// `--site`: only this site, flattened into the jobs that take it.
#[derive(Debug, Clone, Default, Args)]
pub struct SiteArg {
    /// Only this site.
    #[arg(long = "site", value_name = "SITE")]
    pub name: Option<String>,
}

/// The config file. Every table denies unknown keys, so a typo is an error
/// that names the key instead of a setting silently ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    pub(crate) db: Option<PathBuf>,
    pub(crate) artifacts: Option<PathBuf>,
    pub(crate) tz: Option<String>,
    pub(crate) textfile_dir: Option<PathBuf>,
    pub(crate) store: StoreConfig,
    pub(crate) retry: RetryConfig,
    pub(crate) alert: AlertConfig,
    pub(crate) ingest: IngestConfig,
    /// `[guard]`: thresholds of sampling-guard's checks.
    pub(crate) guard: guard::GuardSettings,
    pub(crate) sessions: SessionsConfig,
    pub(crate) retention: RetentionConfig,
    pub(crate) trending: TrendingConfig,
    pub(crate) health: HealthConfig,
    /// `[logs]`: reading web-server access logs.
    pub(crate) logs: logs::LogsConfig,
    /// `[[breakdown]]`: rollups per property value.
    pub(crate) breakdown: Vec<props::BreakdownConfig>,
    /// `[[goal]]`: conversions per goal.
    pub(crate) goal: Vec<props::GoalConfig>,
    /// `[report]`: mailing the report.
    pub(crate) report: report::ReportConfig,
    /// `[source]`: where `aggregate` and `backfill` read the events.
    pub(crate) source: source::SourceConfig,
    /// `[sink]`: a PostgreSQL table that receives every rollup row.
    pub(crate) sink: source::SinkConfig,
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StoreConfig {
    /// How long a statement waits for another writer before SQLite gives up
    /// with "database is locked" (then the job runner retries).
    pub(crate) busy_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            busy_timeout_ms: 5_000,
        }
    }
}

/// `[retry]`: the contract's default is 3 more attempts after waits of 2, 4
/// and 8 seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetryConfig {
    /// Attempts after the first one, on a passing failure.
    pub(crate) retries: u32,
    /// Wait before the first retry; each later wait doubles.
    pub(crate) backoff_seconds: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            retries: 3,
            backoff_seconds: 2.0,
        }
    }
}

/// `[alert]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertConfig {
    /// Run with `sh -c` when a job fails; a JSON description is on its stdin.
    pub(crate) command: Option<String>,
    /// The alert command is killed after this long.
    pub(crate) timeout_seconds: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            command: None,
            timeout_seconds: 30,
        }
    }
}

/// `[ingest]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct IngestConfig {
    /// Events per transaction.
    pub(crate) batch_size: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { batch_size: 50_000 }
    }
}

/// `[health]`: what `health-check` holds the store and the artifacts to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HealthConfig {
    /// Critical above this size of the artifacts directory (MB = 10^6
    /// bytes); warning above 90 % of it.
    pub(crate) artifacts_max_mb: f64,
    /// Critical when the newest complete rollup's day ended longer ago.
    pub(crate) rollup_max_lag_hours: f64,
    /// Check the store with `PRAGMA quick_check`.
    pub(crate) quick_check: bool,
    /// quick_check reads the whole file: a pass is kept this long before
    /// the next run checks again (0: every run).
    pub(crate) quick_check_every_hours: f64,
    /// Per-job overrides of the built-in schedule (`job::spec::SCHEDULE`).
    pub(crate) jobs: HealthJobsConfig,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            artifacts_max_mb: 500.0,
            rollup_max_lag_hours: 36.0,
            quick_check: true,
            quick_check_every_hours: 24.0,
            jobs: HealthJobsConfig::default(),
        }
    }
}

/// `[health.jobs.<job>]`, one named field per scheduled job so that a
/// misspelt job name is an error naming it, like any unknown key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub(crate) struct HealthJobsConfig {
    pub(crate) ingest: Option<JobHealthConfig>,
    pub(crate) aggregate: Option<JobHealthConfig>,
    pub(crate) sampling_guard: Option<JobHealthConfig>,
    pub(crate) snapshot: Option<JobHealthConfig>,
    pub(crate) export_metrics: Option<JobHealthConfig>,
    pub(crate) cleanup_sessions: Option<JobHealthConfig>,
    pub(crate) retention: Option<JobHealthConfig>,
    pub(crate) trending: Option<JobHealthConfig>,
}

impl HealthJobsConfig {
    /// The override of `job` (its binary name), if the file has one.
    pub(crate) fn get(&self, job: &str) -> Option<&JobHealthConfig> {
        match job {
            "ingest" => self.ingest.as_ref(),
            "aggregate" => self.aggregate.as_ref(),
            "sampling-guard" => self.sampling_guard.as_ref(),
            "snapshot" => self.snapshot.as_ref(),
            "export-metrics" => self.export_metrics.as_ref(),
            "cleanup-sessions" => self.cleanup_sessions.as_ref(),
            "retention" => self.retention.as_ref(),
            "trending" => self.trending.as_ref(),
            _ => None,
        }
    }
}

/// One job's entry under `[health.jobs]`; what is left out keeps the
/// built-in default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobHealthConfig {
    /// The age of the last successful run beyond which the job is stale.
    pub(crate) max_age_hours: Option<f64>,
    /// `false`: this installation does not run the job; it is not checked.
    pub(crate) enabled: Option<bool>,
}

/// `[sessions]`: `cleanup-sessions`. Values are checked by the job, so
/// that a bad one is named with the reason (exit 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SessionsConfig {
    /// A session with no activity for more than this many minutes is closed.
    pub(crate) idle_minutes: i64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig { idle_minutes: 30 }
    }
}

/// `[retention]`: what `retention` keeps and how gently it deletes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetentionConfig {
    /// Raw events and closed sessions of days older than this are deleted.
    pub(crate) days: i64,
    /// Rows per delete transaction.
    pub(crate) batch_size: i64,
    /// Pause between two delete transactions, so that a waiting ingest
    /// gets the store.
    pub(crate) pause_ms: i64,
    /// Also remove cronlytics' artifact files older than this many days;
    /// none: artifacts are kept.
    pub(crate) artifacts_days: Option<i64>,
    /// Directories outside the artifacts where `export-metrics
    /// --output-dir` writes: its files there go with the artifacts.
    pub(crate) export_dirs: Vec<PathBuf>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            days: 90,
            batch_size: 1000,
            pause_ms: 50,
            artifacts_days: None,
            export_dirs: Vec::new(),
        }
    }
}

/// `[trending]`: the decay, the normalisation and the write threshold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TrendingConfig {
    pub(crate) window_hours: i64,
    pub(crate) half_life_hours: f64,
    /// Entries per site in the artifact.
    pub(crate) top: i64,
    /// The raw score that normalises to 500: `1000 * s / (s + saturation)`.
    pub(crate) saturation: f64,
    /// A stored score is rewritten only when it moved by more than this
    /// (on the 0..1000 scale).
    pub(crate) threshold: f64,
    pub(crate) weights: TrendingWeights,
    /// Property keys whose (string) values are scored too.
    pub(crate) properties: Vec<String>,
}

impl Default for TrendingConfig {
    fn default() -> Self {
        TrendingConfig {
            window_hours: 168,
            half_life_hours: 24.0,
            top: 20,
            saturation: 100.0,
            threshold: 0.5,
            weights: TrendingWeights::default(),
            properties: Vec::new(),
        }
    }
}

/// `[trending.weights]`: what one event of each kind adds before decay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TrendingWeights {
    pub(crate) pageview: f64,
    pub(crate) event: f64,
}

impl Default for TrendingWeights {
    fn default() -> Self {
        TrendingWeights {
            pageview: 1.0,
            event: 1.0,
        }
    }
}

/// Everything a job needs to know about where and when it runs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub db: PathBuf,
    pub artifacts: PathBuf,
    pub tz: Tz,
    /// Whether a flag, the environment or the config file named the zone
    /// (else the store's own zone, or UTC for a new store, applies).
    pub tz_given: bool,
    pub now: DateTime<Utc>,
    pub textfile_dir: Option<PathBuf>,
    pub quiet: bool,
    pub verbose: bool,
    /// The config file that was read, if any (for messages).
    pub config_path: Option<PathBuf>,
    pub file: ConfigFile,
}

impl Settings {
    /// Merge flags/env with the config file and defaults, and check them.
    pub(crate) fn resolve(args: &CommonArgs) -> Result<Settings> {
        let (file, config_path) = load_config(args.config.as_deref())?;
        let given_tz = args.tz.clone().or_else(|| file.tz.clone());
        let tz_given = given_tz.is_some();
        let tz_name = given_tz.unwrap_or_else(|| "UTC".to_string());
        let tz = parse_zone(&tz_name)?;
        let now = match &args.now {
            Some(text) => parse_now(text)?,
            None => Utc::now(),
        };
        file.check_bounds()?;
        Ok(Settings {
            db: args
                .db
                .clone()
                .or_else(|| file.db.clone())
                .unwrap_or_else(|| PathBuf::from("analytics.db")),
            artifacts: args
                .artifacts
                .clone()
                .or_else(|| file.artifacts.clone())
                .unwrap_or_else(|| PathBuf::from("artifacts/analytics")),
            tz,
            tz_given,
            now,
            textfile_dir: args
                .textfile_dir
                .clone()
                .or_else(|| file.textfile_dir.clone()),
            quiet: args.quiet,
            verbose: args.verbose,
            config_path,
            file,
        })
    }
}

impl ConfigFile {
    /// The numbers every job uses, within bounds that keep waits, buffers
    /// and durations sane (a typo of a few zeros is an error, not an hour's
    /// wait or an overflow). Each job checks its own table's numbers.
    fn check_bounds(&self) -> Result<()> {
        in_bounds(
            "store.busy_timeout_ms",
            self.store.busy_timeout_ms as f64,
            0.0,
            600_000.0,
            "milliseconds",
        )?;
        in_bounds(
            "retry.retries",
            self.retry.retries as f64,
            0.0,
            10.0,
            "retries",
        )?;
        in_bounds(
            "retry.backoff_seconds",
            self.retry.backoff_seconds,
            0.0,
            600.0,
            "seconds",
        )?;
        in_bounds(
            "alert.timeout_seconds",
            self.alert.timeout_seconds as f64,
            1.0,
            3600.0,
            "seconds",
        )?;
        in_bounds(
            "ingest.batch_size",
            self.ingest.batch_size as f64,
            1.0,
            1_000_000.0,
            "events",
        )?;
        props::check(&self.breakdown, &self.goal).map_err(|e| anyhow::anyhow!("{e}"))?;
        self.source
            .check(!self.breakdown.is_empty() || !self.goal.is_empty())?;
        self.sink.check()?;
        Ok(())
    }
}

/// `value` of config key `key` must lie in `lo..=hi` (NaN never does).
pub(crate) fn in_bounds(key: &str, value: f64, lo: f64, hi: f64, unit: &str) -> Result<()> {
    if !(value >= lo && value <= hi) {
        bail!("{key} in the config file is {value}: give a number of {unit} from {lo} to {hi}");
    }
    Ok(())
}

/// Read the config file: the one named, else `./cronlytics.toml` when it
/// exists, else the defaults.
fn load_config(explicit: Option<&Path>) -> Result<(ConfigFile, Option<PathBuf>)> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from("cronlytics.toml");
            if !default.exists() {
                return Ok((ConfigFile::default(), None));
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read the config file {}: check the path given to --config or CRONLYTICS_CONFIG",
            path.display()
        )
    })?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the config file {} is not valid: {}",
            path.display(),
            e.message().trim_end()
        )
    })?;
    Ok((file, Some(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let err = toml::from_str::<ConfigFile>("[retry]\nretires = 2\n").unwrap_err();
        assert!(err.message().contains("retires"), "{}", err.message());
    }

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "db = \"file.db\"\ntz = \"Europe/Berlin\"\n").unwrap();
        let args = CommonArgs {
            config: Some(cfg),
            db: Some(PathBuf::from("flag.db")),
            ..CommonArgs::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.db, PathBuf::from("flag.db"));
        assert_eq!(s.tz, chrono_tz::Europe::Berlin);
        assert_eq!(s.artifacts, PathBuf::from("artifacts/analytics"));
    }
}
