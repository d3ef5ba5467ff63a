//! `ingest`: load NDJSON or CSV events into the store.
//!
//! Three threads in a pipeline: one reads, parses and checks lines into
//! chunks, one resolves chunks into rows (`resolve`), and the calling thread
//! writes batches, one transaction each (`writer`); bounded channels between
//! them keep memory flat whatever the input size. The state lives across the job runner's attempts: a batch
//! whose commit failed (store busy) is written again on the next attempt, and
//! nothing is read twice, so even stdin can be retried exactly.

pub mod formats;
pub mod keycache;
pub mod keyfilter;
pub mod parse;
mod rejects;
pub mod resolve;
pub mod writer;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::job::{JobContext, JobOutcome, Severity, usage};
use crate::util::thousands;
use parse::{ParsedEvent, parse_csv_record, parse_json_line};
use rejects::RejectsFile;
use resolve::{Chunk, KeysUpto, ResolvedBatch, Resolver};

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
/// Bytes of event text above which a chunk is resolved early.
const CHUNK_TEXT_BYTES: usize = 1 << 30;

enum Item<'a> {
    Event(ParsedEvent<'a>),
    Reject(rejects::Reject),
}

/// What the reader thread sends the writer.
enum Msg {
    Rejects(Vec<rejects::Reject>, u64),
    Batch(ResolvedBatch, u64),
    /// Reading or resolving failed; nothing more will come.
    Failed(anyhow::Error),
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
    rx: Receiver<Msg>,
    /// Committed batches, back to the resolving thread for reuse.
    spent: Sender<ResolvedBatch>,
    reader: Option<JoinHandle<()>>,
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
                    let _ = started.spent.send(written);
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
            match started.rx.recv() {
                Ok(Msg::Rejects(rejects, bytes)) => {
                    started.progress.inc(bytes);
                    let file = self.rejects.as_mut().expect("rejects file set at start");
                    for r in &rejects {
                        self.rejected += 1;
                        file.write(r)?;
                    }
                }
                Ok(Msg::Batch(batch, bytes)) => {
                    started.progress.inc(bytes);
                    self.pending = Some(batch);
                }
                Ok(Msg::Failed(e)) => {
                    // Not retried: the input cannot be read again from where
                    // it failed.
                    let text = format!("{e:#}");
                    self.reader_error = Some(text.clone());
                    self.finished_reading = true;
                    return Err(anyhow::anyhow!("{text}"));
                }
                Err(_) => self.finished_reading = true,
            }
        }
        started.progress.finish_and_clear();
        if let Some(handle) = started.reader.take() {
            let _ = handle.join();
        }
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
        let mut resolver = Resolver::new(
            store.reopen_read_only(ctx.settings.file.store.busy_timeout_ms)?,
            ctx.settings.tz,
            committed.clone(),
            upto.clone(),
            expected_new_keys(total_bytes),
        )?;
        let batch_size = ctx.settings.file.ingest.batch_size;
        let purged_before = store.purged_before()?;
        let (tx, rx) = sync_channel::<Msg>(2);
        // Two threads beside the writer: one reads and parses, one resolves;
        // chunks go back to the reader to be filled again.
        let (chunks_tx, chunks_rx) = sync_channel::<Parsed>(4);
        let (recycle_tx, recycle_rx) = channel::<Chunk>();
        let (spent_tx, spent_rx) = channel::<ResolvedBatch>();
        let parser = std::thread::spawn(move || {
            let mut sink = ParseSink {
                tx: chunks_tx,
                recycle: recycle_rx,
                bytes: 0,
                purged_before,
                chunk: Chunk::default(),
                rejects: Vec::new(),
            };
            for source in sources {
                if let Err(e) = source.read_into(&mut sink) {
                    let _ = sink.tx.send(Parsed::Failed(e));
                    return;
                }
            }
            let _ = sink.send_chunk();
        });
        let log = ctx.log.clone();
        let reader = std::thread::spawn(move || {
            let mut sink = BatchSink {
                tx: &tx,
                spent: spent_rx,
                resolver: &mut resolver,
                batch_size,
                bytes: 0,
            };
            for parsed in chunks_rx {
                let result = match parsed {
                    Parsed::Chunk {
                        mut chunk,
                        rejects,
                        bytes,
                    } => {
                        sink.bytes += bytes;
                        let result = sink.resolve_chunk(&mut chunk, rejects);
                        let _ = recycle_tx.send(chunk);
                        result
                    }
                    Parsed::Failed(e) => Err(e),
                };
                if let Err(e) = result {
                    let _ = tx.send(Msg::Failed(e));
                    return;
                }
            }
            if let Err(e) = sink.flush() {
                let _ = tx.send(Msg::Failed(e));
            }
            let _ = parser.join();
            let (looked_up, found) = sink.resolver.lookups();
            log.debug(format!(
                "looked up {} keys the cache did not hold; the store had {}",
                thousands(looked_up),
                thousands(found)
            ));
        });
        self.started = Some(Started {
            rx,
            spent: spent_tx,
            reader: Some(reader),
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

    /// Read the whole source into `sink`.
    fn read_into(self, sink: &mut ParseSink) -> Result<()> {
        match self {
            Source::Ndjson { name, mut reader } => {
                let mut line_no = 0u64;
                let read = for_each_line(&mut *reader, |raw| {
                    line_no += 1;
                    ndjson_line(sink, &name, line_no, raw)
                });
                match read {
                    Ok(result) => result?,
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("cannot read {name} after line {line_no}")));
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
                            let bytes = pos.saturating_sub(last_pos);
                            last_pos = pos;
                            let item = match parse_csv_record(&headers, &record)
                                .and_then(|e| sink.admit(e))
                            {
                                Ok(e) => Item::Event(e),
                                Err(reason) => Item::Reject(rejects::Reject::new(
                                    &name,
                                    line_no,
                                    reason,
                                    &csv_line(&record),
                                )),
                            };
                            sink.push(item, bytes)?;
                        }
                        Err(e) => {
                            let line_no = e.position().map(|p| p.line()).unwrap_or(0);
                            if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                                return Err(anyhow::Error::new(e)
                                    .context(format!("cannot read {name} near line {line_no}")));
                            }
                            sink.push(
                                Item::Reject(rejects::Reject::new(
                                    &name,
                                    line_no,
                                    format!("not a valid CSV record: {e}"),
                                    "",
                                )),
                                0,
                            )?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// What the parsing thread sends the resolving one.
enum Parsed {
    /// Parsed events, the rejected lines read before their end, and the
    /// input bytes they took.
    Chunk {
        chunk: Chunk,
        rejects: Vec<rejects::Reject>,
        bytes: u64,
    },
    /// Reading failed; nothing more will come.
    Failed(anyhow::Error),
}

/// Collects parsed lines into chunks on the parsing thread.
struct ParseSink {
    tx: SyncSender<Parsed>,
    /// Chunks the resolving thread is done with, to fill again.
    recycle: Receiver<Chunk>,
    /// Input bytes read since the last chunk (for the progress bar).
    bytes: u64,
    /// Events before this instant are rejected (see [`ParseSink::admit`]).
    purged_before: Option<i64>,
    chunk: Chunk,
    rejects: Vec<rejects::Reject>,
}

impl ParseSink {
    /// Refuse an event for a day whose raw events retention has deleted:
    /// that day's rollup is final.
    fn admit<'e>(&self, e: ParsedEvent<'e>) -> std::result::Result<ParsedEvent<'e>, String> {
        match self.purged_before {
            Some(floor) if e.ts_ms < floor => Err(format!(
                "ts {} is before {}, whose days' raw events retention has deleted: their rollups are final",
                crate::time::rfc3339_ms(e.ts_ms),
                crate::time::rfc3339_ms(floor)
            )),
            _ => Ok(e),
        }
    }

    fn push(&mut self, item: Item, bytes: u64) -> Result<()> {
        self.bytes += bytes;
        match item {
            Item::Event(e) => self.chunk.push(e),
            Item::Reject(r) => self.rejects.push(r),
        }
        // Text offsets are 32-bit: resolve long before they could overflow.
        if self.chunk.len() + self.rejects.len() >= CHUNK_LINES
            || self.chunk.text_len() >= CHUNK_TEXT_BYTES
        {
            self.send_chunk()?;
        }
        Ok(())
    }

    /// Hand the chunk to the resolving thread.
    fn send_chunk(&mut self) -> Result<()> {
        let mut next = self.recycle.try_recv().unwrap_or_default();
        next.clear();
        let chunk = std::mem::replace(&mut self.chunk, next);
        self.tx
            .send(Parsed::Chunk {
                chunk,
                rejects: std::mem::take(&mut self.rejects),
                bytes: std::mem::take(&mut self.bytes),
            })
            .map_err(|_| anyhow::anyhow!("the writer stopped"))
    }
}

/// Resolves chunks on the resolving thread and sends exactly `batch_size`
/// events per batch to the writer.
struct BatchSink<'a> {
    tx: &'a SyncSender<Msg>,
    /// Batches the writer has committed, to be reused.
    spent: Receiver<ResolvedBatch>,
    resolver: &'a mut Resolver,
    batch_size: usize,
    /// Input bytes read since the last message (for the progress bar).
    bytes: u64,
}

impl BatchSink<'_> {
    fn send(&self, msg: Msg) -> Result<()> {
        self.tx
            .send(msg)
            .map_err(|_| anyhow::anyhow!("the writer stopped"))
    }

    /// Resolve a chunk (its rejected lines, read before its end, go
    /// first), sending each full batch.
    fn resolve_chunk(&mut self, chunk: &mut Chunk, rejects: Vec<rejects::Reject>) -> Result<()> {
        if !rejects.is_empty() {
            self.send(Msg::Rejects(rejects, 0))?;
        }
        let mut start = 0;
        while start < chunk.len() {
            let room = self.batch_size - self.resolver.len();
            let end = chunk.len().min(start + room);
            let mut events = std::mem::take(&mut chunk.events);
            let added = self.resolver.add(chunk, &mut events[start..end]);
            chunk.events = events;
            added?;
            start = end;
            if self.resolver.len() >= self.batch_size {
                let bytes = std::mem::take(&mut self.bytes);
                let spent = self.spent.try_recv().ok();
                let batch = self.resolver.take_batch(spent)?;
                self.send(Msg::Batch(batch, bytes))?;
            }
        }
        Ok(())
    }

    /// Send what is left at the end of the input.
    fn flush(&mut self) -> Result<()> {
        let bytes = std::mem::take(&mut self.bytes);
        if !self.resolver.is_empty() {
            let batch = self.resolver.take_batch(None)?;
            self.send(Msg::Batch(batch, bytes))?;
        } else if bytes > 0 {
            self.send(Msg::Rejects(Vec::new(), bytes))?;
        }
        Ok(())
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

/// Call `on_line` with each line of `reader` (with its `\n`, the last one
/// without if the input lacks it) where it lies in the reader's buffer:
/// only a line cut by the buffer's end is copied, to be completed by the
/// next read. A read error is the outer error; the first error of
/// `on_line` stops the reading and is the inner one.
fn for_each_line(
    reader: &mut dyn BufRead,
    mut on_line: impl FnMut(&[u8]) -> Result<()>,
) -> std::io::Result<Result<()>> {
    let mut cut: Vec<u8> = Vec::new();
    loop {
        let buf = reader.fill_buf()?;
        let len = buf.len();
        if len == 0 {
            return Ok(if cut.is_empty() {
                Ok(())
            } else {
                on_line(&cut)
            });
        }
        let mut start = 0;
        if !cut.is_empty() {
            let Some(at) = memchr::memchr(b'\n', buf) else {
                cut.extend_from_slice(buf);
                reader.consume(len);
                continue;
            };
            cut.extend_from_slice(&buf[..=at]);
            if let Err(e) = on_line(&cut) {
                return Ok(Err(e));
            }
            cut.clear();
            start = at + 1;
        }
        let from = start;
        for at in memchr::memchr_iter(b'\n', &buf[from..]) {
            let end = from + at + 1;
            if let Err(e) = on_line(&buf[start..end]) {
                return Ok(Err(e));
            }
            start = end;
        }
        cut.extend_from_slice(&buf[start..]);
        reader.consume(len);
    }
}

/// Parse and check one NDJSON line (`raw`, with its line end if it has
/// one) into `sink`: an event, a reject, or nothing for a blank line.
fn ndjson_line(sink: &mut ParseSink, name: &str, line_no: u64, raw: &[u8]) -> Result<()> {
    let n = raw.len() as u64;
    let mut line = raw;
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        sink.bytes += n;
        return Ok(());
    }
    let item = match std::str::from_utf8(line) {
        Ok(text) => match parse_json_line(text).and_then(|e| sink.admit(e)) {
            Ok(e) => Item::Event(e),
            Err(reason) => Item::Reject(rejects::Reject::new(name, line_no, reason, text)),
        },
        Err(_) => Item::Reject(rejects::Reject::new(
            name,
            line_no,
            "the line is not valid UTF-8".to_string(),
            &String::from_utf8_lossy(line),
        )),
    };
    sink.push(item, n)
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

/// A CSV record written back as one line, for the rejects file.
fn csv_line(record: &csv::StringRecord) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(record);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines cut by the buffer's end at every position, a CRLF line, an
    /// empty line and a last line without `\n` come out whole.
    #[test]
    fn lines_come_out_whole_whatever_the_buffer_size() {
        let text = "first line\n\nsecond, longer than the buffer\r\nx\nlast without end";
        let expected: Vec<&str> = text.split_inclusive('\n').collect();
        for capacity in 1..=text.len() + 1 {
            let mut reader = std::io::BufReader::with_capacity(capacity, text.as_bytes());
            let mut lines = Vec::new();
            let read = for_each_line(&mut reader, |line| {
                lines.push(String::from_utf8(line.to_vec())?);
                Ok(())
            });
            read.unwrap().unwrap();
            assert_eq!(lines, expected, "buffer of {capacity} bytes");
        }
    }

    #[test]
    fn the_first_error_of_a_line_stops_the_reading() {
        let mut reader = std::io::BufReader::with_capacity(4, "a\nb\nc\n".as_bytes());
        let mut seen = 0;
        let read = for_each_line(&mut reader, |line| {
            seen += 1;
            if line == b"b\n" {
                anyhow::bail!("bad line");
            }
            Ok(())
        });
        assert_eq!(read.unwrap().unwrap_err().to_string(), "bad line");
        assert_eq!(seen, 2);
    }
}
