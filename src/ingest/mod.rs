//! `ingest`: load NDJSON or CSV events into the store.
//!
//! Three threads in a pipeline (`pipeline`): one reads, parses and checks
//! lines into chunks (`source`, `parse`), one resolves chunks into rows
//! (`resolve`), and the calling thread writes batches, one transaction each
//! (`writer`); bounded channels between them keep memory flat whatever the
//! input size. The state lives across the job runner's attempts: a batch
//! whose commit failed (store busy) is written again on the next attempt,
//! and nothing is read twice, so even stdin can be retried exactly.

pub mod keycache;
pub mod keyfilter;
pub mod parse;
mod pipeline;
mod rejects;
pub mod resolve;
mod source;
pub mod writer;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::job::{JobContext, JobOutcome, Severity, usage};
use crate::util::thousands;
use pipeline::{Msg, Workers};
use rejects::RejectsFile;
use resolve::{KeysUpto, ResolvedBatch, Resolver};
use source::Source;

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    /// By file extension: `.csv` is CSV, anything else NDJSON.
    fn for_path(path: &str) -> Format {
        if path.to_ascii_lowercase().ends_with(".csv") {
            Format::Csv
        } else {
            Format::Ndjson
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
}

/// State that outlives one attempt.
pub struct IngestRun {
    options: IngestOptions,
    started: Option<Started>,
    /// A batch received but not yet committed.
    pending: Option<ResolvedBatch>,
    rejects: Option<RejectsFile>,
    stored: u64,
    duplicates: u64,
    rejected: u64,
    marked: std::collections::BTreeSet<(i64, chrono::NaiveDate)>,
    reader_error: Option<String>,
    finished_reading: bool,
    /// New sessions and visitors committed since the last key flush.
    unflushed: writer::KeyEntries,
}

struct Started {
    workers: Workers,
    progress: ProgressBar,
    committed: Arc<AtomicU64>,
    keys_upto: Arc<KeysUpto>,
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
            unflushed: writer::KeyEntries::default(),
        }
    }

    /// One attempt of the job: continue where the last one stopped.
    pub fn attempt(&mut self, ctx: &JobContext) -> Result<JobOutcome> {
        if let Some(e) = &self.reader_error {
            return Err(anyhow::anyhow!("{e}"));
        }
        let mut store = ctx.open_store()?;
        // Checkpoint less often while loading: pages rewritten by several
        // batches (the session and visitor indexes) reach the file once.
        store
            .conn
            .execute_batch("PRAGMA wal_autocheckpoint = 16384; PRAGMA cache_size = -131072;")?;
        if self.started.is_none() {
            // Key entries a killed run left unwritten, before the resolver
            // relies on them.
            let upto = writer::flush_keys(&mut store.conn, None)?;
            self.start(ctx, &store, upto)?;
        }
        let started = self.started.as_mut().expect("started above");
        loop {
            if let Some(batch) = &self.pending {
                let counts = writer::write_batch(&mut store.conn, batch)?;
                started.committed.store(batch.number, Ordering::Release);
                self.stored += counts.stored;
                self.duplicates += counts.duplicates;
                self.marked.extend(counts.marked);
                self.unflushed.add(batch);
                // Its vectors go back to be filled again: a fresh batch
                // of this size costs page faults and zeroed pages.
                if let Some(written) = self.pending.take() {
                    let _ = started.workers.spent.send(written);
                }
                if self.unflushed.len() >= writer::KEY_FLUSH_LIMIT {
                    started
                        .keys_upto
                        .set(flush_keys(ctx, &mut store.conn, &mut self.unflushed)?);
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
                Ok(Msg::Batch(batch, bytes)) => {
                    started.progress.inc(bytes);
                    self.pending = Some(batch);
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
                .set(flush_keys(ctx, &mut store.conn, &mut self.unflushed)?);
        }
        // Leave a short WAL behind for the next job; a busy reader only
        // makes this partial, which is fine.
        let _ = store
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        self.finish(ctx)
    }

    /// Open every input before storing anything, so that a missing file
    /// stops the run with nothing half-stored, then start the reader.
    fn start(
        &mut self,
        ctx: &JobContext,
        store: &crate::store::Store,
        keys_upto: (i64, i64),
    ) -> Result<()> {
        let mut sources = Vec::new();
        let mut total_bytes = 0u64;
        let mut stdin_used = false;
        for input in &self.options.inputs {
            let format = self
                .options
                .format
                .unwrap_or_else(|| Format::for_path(input));
            let reader: Box<dyn BufRead + Send> = if input == "-" {
                if stdin_used {
                    return Err(usage("'-' (stdin) is given twice"));
                }
                stdin_used = true;
                Box::new(BufReader::with_capacity(1 << 20, std::io::stdin()))
            } else {
                let file = File::open(input)
                    .map_err(|e| usage(format!("cannot read the input file {input}: {e}")))?;
                if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                    return Err(usage(format!(
                        "the input {input} is a directory: give the files in it"
                    )));
                }
                total_bytes += file.metadata().map(|m| m.len()).unwrap_or(0);
                Box::new(BufReader::with_capacity(1 << 20, file))
            };
            let name = if input == "-" { "-" } else { input.as_str() }.to_string();
            let source = match format {
                Format::Ndjson => Source::Ndjson { name, reader },
                Format::Csv => Source::csv(name, reader)?,
            };
            sources.push(source);
        }
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
            ctx.log.clone(),
        )?;
        self.started = Some(Started {
            workers,
            progress,
            committed,
            keys_upto: upto,
        });
        Ok(())
    }

    fn finish(&mut self, ctx: &JobContext) -> Result<JobOutcome> {
        let rejects_path = match self.rejects.take() {
            Some(r) => r.finish()?,
            None => None,
        };
        let marked = self.marked.len();
        let mut message = format!(
            "stored {} events, {} duplicates, {} rejected, {} days marked for re-aggregation",
            thousands(self.stored),
            thousands(self.duplicates),
            thousands(self.rejected),
            marked
        );
        if let Some(path) = &rejects_path {
            message.push_str(&format!(" (rejected lines in {})", path.display()));
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

impl Drop for IngestRun {
    fn drop(&mut self) {
        // A final failure still keeps the rejects of what was read.
        if let Some(r) = self.rejects.take() {
            let _ = r.finish();
        }
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

/// [`writer::flush_keys`] of this run's new keys, saying with `--verbose`
/// how long it took.
fn flush_keys(
    ctx: &JobContext,
    conn: &mut rusqlite::Connection,
    entries: &mut writer::KeyEntries,
) -> Result<(i64, i64)> {
    let started = std::time::Instant::now();
    let (sessions, visitors) = (entries.sessions.len(), entries.visitors.len());
    let upto = writer::flush_keys(conn, Some(entries))?;
    ctx.log.debug(format!(
        "wrote the key entries of {} sessions and {} visitors in {:.2} s",
        thousands(sessions as u64),
        thousands(visitors as u64),
        started.elapsed().as_secs_f64()
    ));
    Ok(upto)
}
