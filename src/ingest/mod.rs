//! `ingest`: load NDJSON or CSV events into the store.
//!
//! A reader thread parses and checks lines while the calling thread writes
//! batches, one transaction each; a bounded channel between them keeps
//! memory flat whatever the input size. The state lives across the job
//! runner's attempts: a batch whose commit failed (store busy) is written
//! again on the next attempt, and nothing is read twice, so even stdin can be
//! retried exactly.

pub mod parse;
mod rejects;
pub mod writer;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::job::{JobContext, JobOutcome, Severity, usage};
use crate::util::thousands;
use parse::{ParsedEvent, parse_csv_record, parse_json_line};
use rejects::RejectsFile;
use writer::StoreWriter;

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

/// Lines per message from the reader thread.
const CHUNK_LINES: usize = 4096;

enum Item {
    Event(ParsedEvent),
    Reject(rejects::Reject),
}

struct Chunk {
    items: Vec<Item>,
    bytes: u64,
}

/// State that outlives one attempt.
pub struct IngestRun {
    options: IngestOptions,
    started: Option<Started>,
    pending: Vec<ParsedEvent>,
    writer: Option<StoreWriter>,
    rejects: Option<RejectsFile>,
    stored: u64,
    duplicates: u64,
    rejected: u64,
    finished_reading: bool,
}

struct Started {
    rx: Receiver<Result<Chunk>>,
    reader: Option<JoinHandle<()>>,
    progress: ProgressBar,
}

impl IngestRun {
    pub fn new(options: IngestOptions) -> IngestRun {
        IngestRun {
            options,
            started: None,
            pending: Vec::new(),
            writer: None,
            rejects: None,
            stored: 0,
            duplicates: 0,
            rejected: 0,
            finished_reading: false,
        }
    }

    /// One attempt of the job: continue where the last one stopped.
    pub fn attempt(&mut self, ctx: &JobContext) -> Result<JobOutcome> {
        if self.started.is_none() {
            self.start(ctx)?;
        }
        let writer = self
            .writer
            .get_or_insert_with(|| StoreWriter::new(ctx.settings.tz));
        let mut store = ctx.open_store()?;
        // Checkpoint less often while loading: pages rewritten by several
        // batches (the session and visitor indexes) reach the file once.
        store
            .conn
            .execute_batch("PRAGMA wal_autocheckpoint = 16384; PRAGMA cache_size = -131072;")?;
        let batch_size = ctx.settings.file.ingest.batch_size;
        let started = self.started.as_mut().expect("started above");
        loop {
            // Fill the pending batch unless a failed attempt left one.
            while !self.finished_reading && self.pending.len() < batch_size {
                match started.rx.recv() {
                    Ok(Ok(chunk)) => {
                        started.progress.inc(chunk.bytes);
                        for item in chunk.items {
                            match item {
                                Item::Event(e) => self.pending.push(e),
                                Item::Reject(r) => {
                                    self.rejected += 1;
                                    self.rejects
                                        .as_mut()
                                        .expect("rejects file set at start")
                                        .write(&r)?;
                                }
                            }
                        }
                    }
                    Ok(Err(e)) => {
                        self.finished_reading = true;
                        return Err(e);
                    }
                    Err(_) => self.finished_reading = true,
                }
            }
            if self.pending.is_empty() {
                break;
            }
            // Chunks arrive in thousands of lines: commit exactly batch_size
            // events, keep the rest for the next batch.
            let n = self.pending.len().min(batch_size);
            let counts = writer.write_batch(&mut store.conn, &self.pending[..n])?;
            self.stored += counts.stored;
            self.duplicates += counts.duplicates;
            self.pending.drain(..n);
            started
                .progress
                .set_message(format!("{} events", thousands(self.stored)));
        }
        started.progress.finish_and_clear();
        // Leave a short WAL behind for the next job; a busy reader only
        // makes this partial, which is fine.
        let _ = store
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Some(handle) = started.reader.take() {
            let _ = handle.join();
        }
        self.finish(ctx)
    }

    /// Open every input before storing anything, so that a missing file
    /// stops the run with nothing half-stored, then start the reader.
    fn start(&mut self, ctx: &JobContext) -> Result<()> {
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

        let (tx, rx) = sync_channel::<Result<Chunk>>(4);
        let reader = std::thread::spawn(move || {
            for source in sources {
                if !source.read_into(&tx) {
                    return;
                }
            }
        });
        self.started = Some(Started {
            rx,
            reader: Some(reader),
            progress,
        });
        Ok(())
    }

    fn finish(&mut self, ctx: &JobContext) -> Result<JobOutcome> {
        let rejects_path = match self.rejects.take() {
            Some(r) => r.finish()?,
            None => None,
        };
        let writer = self.writer.as_ref();
        let marked = writer.map(|w| w.marked_total.len()).unwrap_or(0);
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

enum Source {
    Ndjson {
        name: String,
        reader: Box<dyn BufRead + Send>,
    },
    Csv {
        name: String,
        reader: csv::Reader<Box<dyn BufRead + Send>>,
        headers: Vec<String>,
    },
}

impl Source {
    fn csv(name: String, reader: Box<dyn BufRead + Send>) -> Result<Source> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(reader);
        let headers: Vec<String> = reader
            .headers()
            .with_context(|| format!("cannot read the CSV header of {name}"))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        for required in ["ts", "site", "kind", "session", "visitor"] {
            if !headers.iter().any(|h| h == required) {
                return Err(usage(format!(
                    "the CSV input {name} has no '{required}' column: its header must name the event fields (ts,site,kind,session,visitor,...)"
                )));
            }
        }
        Ok(Source::Csv {
            name,
            reader,
            headers,
        })
    }

    /// Read the whole source into the channel; false when the receiver is
    /// gone or reading failed (the error was sent).
    fn read_into(self, tx: &std::sync::mpsc::SyncSender<Result<Chunk>>) -> bool {
        let mut chunk = Chunk {
            items: Vec::with_capacity(CHUNK_LINES),
            bytes: 0,
        };
        let send = |chunk: &mut Chunk| {
            let full = std::mem::replace(
                chunk,
                Chunk {
                    items: Vec::with_capacity(CHUNK_LINES),
                    bytes: 0,
                },
            );
            tx.send(Ok(full)).is_ok()
        };
        match self {
            Source::Ndjson { name, mut reader } => {
                let mut buf = Vec::with_capacity(4096);
                let mut line_no = 0u64;
                loop {
                    buf.clear();
                    let n = match reader.read_until(b'\n', &mut buf) {
                        Ok(n) => n,
                        Err(e) => {
                            let _ = tx.send(Err(anyhow::Error::new(e)
                                .context(format!("cannot read {name} after line {line_no}"))));
                            return false;
                        }
                    };
                    if n == 0 {
                        break;
                    }
                    line_no += 1;
                    chunk.bytes += n as u64;
                    let mut line = &buf[..];
                    while let [rest @ .., b'\n' | b'\r'] = line {
                        line = rest;
                    }
                    if line.iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    let item = match std::str::from_utf8(line) {
                        Ok(text) => match parse_json_line(text) {
                            Ok(e) => Item::Event(e),
                            Err(reason) => {
                                Item::Reject(rejects::Reject::new(&name, line_no, reason, text))
                            }
                        },
                        Err(_) => Item::Reject(rejects::Reject::new(
                            &name,
                            line_no,
                            "the line is not valid UTF-8".to_string(),
                            &String::from_utf8_lossy(line),
                        )),
                    };
                    chunk.items.push(item);
                    if chunk.items.len() >= CHUNK_LINES && !send(&mut chunk) {
                        return false;
                    }
                }
            }
            Source::Csv {
                name,
                mut reader,
                headers,
            } => {
                let mut record = csv::StringRecord::new();
                let mut last_pos = reader.position().byte();
                loop {
                    match reader.read_record(&mut record) {
                        Ok(false) => break,
                        Ok(true) => {
                            let line_no = record.position().map(|p| p.line()).unwrap_or(0);
                            let pos = reader.position().byte();
                            chunk.bytes += pos.saturating_sub(last_pos);
                            last_pos = pos;
                            let item = match parse_csv_record(&headers, &record) {
                                Ok(e) => Item::Event(e),
                                Err(reason) => Item::Reject(rejects::Reject::new(
                                    &name,
                                    line_no,
                                    reason,
                                    &csv_line(&record),
                                )),
                            };
                            chunk.items.push(item);
                        }
                        Err(e) => {
                            let line_no = e.position().map(|p| p.line()).unwrap_or(0);
                            if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                                let _ = tx.send(Err(anyhow::Error::new(e)
                                    .context(format!("cannot read {name} near line {line_no}"))));
                                return false;
                            }
                            chunk.items.push(Item::Reject(rejects::Reject::new(
                                &name,
                                line_no,
                                format!("not a valid CSV record: {e}"),
                                "",
                            )));
                        }
                    }
                    if chunk.items.len() >= CHUNK_LINES && !send(&mut chunk) {
                        return false;
                    }
                }
            }
        }
        chunk.items.is_empty() || send(&mut chunk)
    }
}

/// A CSV record written back as one line, for the rejects file.
fn csv_line(record: &csv::StringRecord) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(record);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}
