//! `ingest`: load NDJSON or CSV events into the store.
//!
//! Three threads in a pipeline (`pipeline`): one reads, parses and checks
//! lines into chunks (`source`, `parse`), one resolves chunks into rows
//! (`resolve`), and the calling thread writes batches, one transaction each
//! (`writer`); bounded channels between them keep memory flat whatever the
//! input size. The state lives across the job runner's attempts: a batch
//! whose commit failed (store busy) is written again on the next attempt,
//! and nothing is read twice, so even stdin can be retried exactly. Input
//! files read to their end are remembered (`inputs`), so that a file given
//! again is skipped and one that grew is read from where it stopped.

mod chunk;
pub mod formats;
pub(crate) mod inputs;
pub(crate) mod keycache;
pub(crate) mod keyfilter;
pub(crate) mod logs;
mod open;
pub(crate) mod parse;
mod pipeline;
pub(crate) mod props;
mod propsets;
mod rejects;
pub(crate) mod resolve;
mod sink;
mod source;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::job::{JobContext, JobOutcome, Severity};
use crate::store::keyruns::KeyRuns;
use crate::store::{keyflush, writer};
use crate::util::thousands;
use logs::sessions::Sessionizer;
use logs::{LogLines, LogOptions, LogStats};
use open::Opener;
use pipeline::{Commit, Msg, Workers};
use rejects::RejectsFile;
use resolve::{KeysUpto, Resolver};
use source::Source;

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
    AccessLog,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::AccessLog => "access-log",
        }
    }
}

/// What the user asked of `ingest`.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Files, or `-` for stdin.
    pub inputs: Vec<String>,
    /// Overrides detection by extension.
    pub format: Option<Format>,
    /// Where rejected lines go (default under the artifacts).
    pub rejects: Option<PathBuf>,
    /// Read files whose content is stored already again, whole.
    pub force: bool,
    /// `--log-format`: `auto` or absent decides from each log's first lines.
    pub log_format: Option<String>,
    /// `--keep`: request classes counted although left out by default.
    pub keep: Option<String>,
    /// `--site`: the site of every request of an access log.
    pub site: Option<String>,
}

/// State that outlives one attempt.
pub struct IngestRun {
    options: IngestOptions,
    started: Option<Started>,
    /// Received but not yet committed.
    pending: Option<Box<Commit>>,
    rejects: Option<RejectsFile>,
    stored: u64,
    duplicates: u64,
    rejected: u64,
    marked: std::collections::BTreeSet<(i64, chrono::NaiveDate)>,
    reader_error: Option<String>,
    finished_reading: bool,
    /// New sessions and visitors committed since the last key flush.
    unflushed: keyflush::KeyEntries,
    /// Files left unread: their content is stored already.
    skipped: Vec<String>,
    /// Files that grew since an earlier run, with the first line read.
    continued: Vec<(String, u64)>,
    /// Access logs with no new line, and rotated ones read first.
    unchanged: Vec<String>,
    rotated: Vec<(String, String)>,
    /// What the access logs read held.
    log_stats: Arc<Mutex<LogStats>>,
}

struct Started {
    workers: Workers,
    progress: ProgressBar,
    committed: Arc<AtomicU64>,
    keys_upto: Arc<KeysUpto>,
    /// The key entries of the store's sessions and visitors.
    runs: Arc<KeyRuns>,
}

impl IngestRun {
    pub fn new(options: IngestOptions) -> IngestRun {
        IngestRun {
            options,
            started: None,
            pending: None,
            rejects: None,
            stored: 0,
            duplicates: 0,
            rejected: 0,
            marked: Default::default(),
            reader_error: None,
            finished_reading: false,
            unflushed: keyflush::KeyEntries::default(),
            skipped: Vec::new(),
            continued: Vec::new(),
            unchanged: Vec::new(),
            rotated: Vec::new(),
            log_stats: Arc::default(),
        }
    }

    /// One attempt of the job: continue where the last one stopped.
    pub fn attempt(&mut self, ctx: &JobContext) -> Result<JobOutcome> {
        if let Some(e) = &self.reader_error {
            return Err(anyhow::anyhow!("{e}"));
        }
        let engine = ctx.settings.file.source.engine;
        if engine != crate::settings::source::Engine::Sqlite {
            return Err(crate::errors::usage(format!(
                "the config's [source] engine is {}: aggregate and backfill read the events there, so events ingested into the store would never be rolled up; ingest with a config without [source]",
                engine.name()
            )));
        }
        let mut store = ctx.open_store()?;
        // Checkpoint less often while loading: pages rewritten by several
        // batches (the session and visitor indexes) reach the file once.
        // A page cache of 32 MB, half the store's: 128 MB was no faster (3M
        // NDJSON events: 6.4-7.9 s with it, 6.1-6.9 s without) and cost 75
        // MB of peak memory; 32 MB against 64 MB cost 0-3% (9M NDJSON
        // events, a 10M-line log) and saved 35-90 MB of it, which keeps a
        // large log's ingest under 500 MB.
        store
            .conn
            .execute_batch("PRAGMA wal_autocheckpoint = 16384; PRAGMA cache_size = -32768;")?;
        if self.started.is_none() {
            // Key entries a killed run left unwritten, before the resolver
            // relies on them.
            let runs = Arc::new(store.key_runs()?);
            let upto = keyflush::recover_keys(&store.conn, &runs)?;
            self.start(ctx, &store, runs, upto)?;
        }
        let started = self.started.as_mut().expect("started above");
        loop {
            if let Some(commit) = &self.pending {
                let rejects = self.rejects.as_mut().expect("rejects file set at start");
                if !commit.files.is_empty() {
                    // The rejects of a file reach the disk before the
                    // store says the file is read.
                    rejects.flush()?;
                }
                let files: Vec<_> = commit.files.iter().map(|f| f.stored()).collect();
                let counts = writer::write_batch(
                    &mut store.conn,
                    commit.batch.as_ref(),
                    &files,
                    &commit.visitors,
                    ctx.now_ms(),
                )?;
                self.stored += counts.stored;
                self.duplicates += counts.duplicates;
                self.marked.extend(counts.marked);
                if let Some(written) = self.pending.take().and_then(|c| c.batch) {
                    started.committed.store(written.number, Ordering::Release);
                    self.unflushed.add(&written);
                    // Its vectors go back to be filled again: a fresh batch
                    // of this size costs page faults and zeroed pages.
                    let _ = started.workers.spent.send(written);
                }
                if self.unflushed.len() >= keyflush::KEY_FLUSH_LIMIT {
                    started
                        .keys_upto
                        .set(flush_keys(ctx, &started.runs, &mut self.unflushed)?);
                }
                started
                    .progress
                    .set_message(format!("{} events", thousands(self.stored)));
            }
            if self.finished_reading {
                break;
            }
            let failure = match started.workers.rx.recv() {
                Ok(Msg::Rejects(rejects, bytes)) => {
                    started.progress.inc(bytes);
                    let file = self.rejects.as_mut().expect("rejects file set at start");
                    for r in &rejects {
                        self.rejected += 1;
                        file.write(r)?;
                    }
                    None
                }
                Ok(Msg::Commit(commit, bytes)) => {
                    started.progress.inc(bytes);
                    self.pending = Some(commit);
                    None
                }
                Ok(Msg::End) => {
                    self.finished_reading = true;
                    started.workers.join(true).err()
                }
                Ok(Msg::Failed(e)) => Some(e),
                // Closed without saying the input ended: the resolving
                // thread died.
                Err(_) => Some(
                    started
                        .workers
                        .join(false)
                        .err()
                        .unwrap_or_else(|| anyhow::anyhow!("the resolving thread stopped")),
                ),
            };
            if let Some(e) = failure {
                // Not retried: the input cannot be read again from where
                // it failed.
                let text = format!("{e:#}");
                self.reader_error = Some(text.clone());
                self.finished_reading = true;
                started.progress.finish_and_clear();
                return Err(anyhow::anyhow!("{text}"));
            }
        }
        started.progress.finish_and_clear();
        if !self.unflushed.is_empty() {
            started
                .keys_upto
                .set(flush_keys(ctx, &started.runs, &mut self.unflushed)?);
        }
        // Leave a short WAL behind for the next job; a busy reader only
        // makes this partial, which is fine.
        let _ = store
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        self.finish(ctx)
    }

    /// Open every input before storing anything, so that a missing file
    /// stops the run with nothing half-stored, decide which files (or which
    /// of their parts) are new, then start the workers.
    fn start(
        &mut self,
        ctx: &JobContext,
        store: &crate::store::Store,
        runs: Arc<KeyRuns>,
        keys_upto: (i64, i64),
    ) -> Result<()> {
        let log_options = self.log_options(ctx)?;
        let mut opener = Opener::new(
            &store.conn,
            self.options.force,
            log_options.as_ref(),
            &self.log_stats,
        );
        for input in &open::oldest_first(&self.options.inputs, self.options.format) {
            if input == "-" {
                opener.stdin(self.options.format.unwrap_or(Format::Ndjson))?;
            } else {
                opener.file(input, self.options.format)?;
            }
        }
        let Opener {
            sources,
            total_bytes,
            stdin_used,
            skipped,
            unchanged,
            continued,
            rotated,
            ..
        } = opener;
        self.skipped = skipped;
        self.unchanged = unchanged;
        self.continued = continued;
        self.rotated = rotated;
        let log_lines = match log_options {
            Some(options) if sources.iter().any(Source::is_log) => {
                let sessions = Sessionizer::new(
                    crate::store::logs::secret(&store.conn)?,
                    ctx.settings.file.sessions.idle_minutes,
                    store.reopen_read_only(ctx.settings.file.store.busy_timeout_ms)?,
                )?;
                Some(LogLines::new(options, sessions, self.log_stats.clone()))
            }
            _ => None,
        };
        let rejects_path =
            self.options.rejects.clone().unwrap_or_else(|| {
                rejects::default_path(&ctx.settings.artifacts, ctx.settings.now)
            });
        self.rejects = Some(RejectsFile::new(rejects_path));

        let progress = if ctx.log.show_progress() && (stdin_used || total_bytes > 8 << 20) {
            let bar = if stdin_used {
                ProgressBar::new_spinner()
            } else {
                ProgressBar::new(total_bytes)
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {msg} (eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        } else {
            ProgressBar::hidden()
        };

        let committed = Arc::new(AtomicU64::new(0));
        let upto = Arc::new(KeysUpto::default());
        upto.set(keys_upto);
        let resolver = Resolver::new(
            store.reopen_read_only(ctx.settings.file.store.busy_timeout_ms)?,
            runs.clone(),
            ctx.settings.tz,
            committed.clone(),
            upto.clone(),
            expected_new_keys(total_bytes),
        )?;
        let workers = Workers::start(
            sources,
            resolver,
            ctx.settings.file.ingest.batch_size,
            store.purged_before()?,
            log_lines,
            ctx.log.clone(),
        )?;
        self.started = Some(Started {
            workers,
            progress,
            committed,
            keys_upto: upto,
            runs,
        });
        Ok(())
    }

    /// How access logs are read: the flags over `[logs]`, checked.
    fn log_options(&self, ctx: &JobContext) -> Result<Option<LogOptions>> {
        let o = &self.options;
        LogOptions::resolve(
            o.log_format.as_deref(),
            o.keep.as_deref(),
            o.site.as_deref(),
            &ctx.settings.file.logs,
        )
        .map(Some)
    }

    fn finish(&mut self, ctx: &JobContext) -> Result<JobOutcome> {
        let rejects_path = match self.rejects.take() {
            Some(r) => r.finish()?,
            None => None,
        };
        let marked = self.marked.len();
        let mut message = format!(
            "stored {} events, {} duplicates, {} rejected, {} marked for re-aggregation",
            thousands(self.stored),
            thousands(self.duplicates),
            thousands(self.rejected),
            crate::util::counted(marked as u64, "day")
        );
        if let Some(path) = &rejects_path {
            message.push_str(&format!(" (rejected lines in {})", path.display()));
        }
        if !self.continued.is_empty() {
            let files: Vec<String> = self
                .continued
                .iter()
                .map(|(name, line)| format!("{name} from line {line}"))
                .collect();
            message.push_str(&format!(
                "; continued {} that grew since it was ingested: {}",
                plural(files.len(), "file"),
                files.join(", ")
            ));
        }
        message.push_str(
            &self
                .log_stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .summary(&self.rotated, &self.unchanged),
        );
        if !self.skipped.is_empty() {
            let n = self.skipped.len();
            message.push_str(&format!(
                "; skipped {} already ingested: {} (use --force to read {} again)",
                plural(n, "file"),
                self.skipped.join(", "),
                if n == 1 { "it" } else { "them" }
            ));
        }
        if marked > 0 {
            ctx.log
                .debug("marked days will be rolled up again by the next aggregate");
        }
        let outcome = JobOutcome::ok(self.stored, message).with_errors(self.rejected);
        Ok(if self.rejected > 0 {
            outcome.with_severity(Severity::Warning)
        } else {
            outcome
        })
    }
}

/// "1 file", "2 files".
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// About how many new session and visitor keys `bytes` of input bring, for
/// sizing the key filter once instead of rebuilding it as it fills: one
/// per 256 bytes (an event line is commonly 150-300 bytes, and a session
/// has several events), at most 32M (a 48 MB filter); beyond that the
/// filter grows as it fills. Stdin counts 0.
fn expected_new_keys(bytes: u64) -> usize {
    (bytes / 256).min(32 << 20) as usize
}

impl Drop for IngestRun {
    fn drop(&mut self) {
        // A final failure still keeps the rejects of what was read.
        if let Some(r) = self.rejects.take() {
            let _ = r.finish();
        }
    }
}

/// [`keyflush::flush_keys`] of this run's new keys, saying with `--verbose`
/// how long it took.
fn flush_keys(
    ctx: &JobContext,
    runs: &KeyRuns,
    entries: &mut keyflush::KeyEntries,
) -> Result<(i64, i64)> {
    let started = std::time::Instant::now();
    let (sessions, visitors) = (entries.sessions.len(), entries.visitors.len());
    let upto = keyflush::flush_keys(runs, entries)?;
    ctx.log.debug(format!(
        "wrote the key entries of {} sessions and {} visitors in {:.2} s",
        thousands(sessions as u64),
        thousands(visitors as u64),
        started.elapsed().as_secs_f64()
    ));
    Ok(upto)
}
