//! The two worker threads of ingest: one reads, parses and checks lines
//! into chunks, one resolves chunks into batches of rows for the writer
//! (the calling thread). Bounded channels between them keep memory flat.
//!
//! The end of the input is said, never inferred from a closed channel: a
//! worker that panics or fails closes its channel without saying it, the
//! thread downstream joins it and turns its panic into an error naming the
//! thread, and the writer commits nothing after that.

use std::any::Any;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};

use super::chunk::Chunk;
use super::inputs::FileRecord;
use super::logs::LogLines;
use super::rejects::Reject;
use super::resolve::Resolver;
use super::sink::{ParseSink, Parsed};
use super::source::Source;
use crate::log::Logger;
use crate::store::batch::ResolvedBatch;
use crate::store::logs::LogVisitor;
use crate::util::thousands;

/// What the writer commits in one transaction: a batch of events (none
/// when only files are left) and the input files whose last event it holds.
pub(crate) struct Commit {
    pub(crate) batch: Option<ResolvedBatch>,
    pub(crate) files: Vec<FileRecord>,
    /// Log visitors' latest sessions, moved by lines up to this batch's.
    pub(crate) visitors: Vec<LogVisitor>,
}

/// What the resolving thread sends the writer.
pub(crate) enum Msg {
    Rejects(Vec<Reject>, u64),
    /// Boxed: a batch is large, and most messages are.
    Commit(Box<Commit>, u64),
    /// Reading or resolving failed; nothing more will come.
    Failed(anyhow::Error),
    /// Everything is sent: the input is read to its end.
    End,
}

/// The running workers, seen from the writer.
pub(crate) struct Workers {
    pub(crate) rx: Receiver<Msg>,
    /// Committed batches, back to the resolving thread for reuse.
    pub(crate) spent: Sender<ResolvedBatch>,
    resolving: Option<JoinHandle<()>>,
}

impl Workers {
    /// Start the parsing and resolving threads over `sources`.
    pub(crate) fn start(
        sources: Vec<Source>,
        mut resolver: Resolver,
        batch_size: usize,
        purged_before: Option<i64>,
        logs: Option<LogLines>,
        log: Logger,
    ) -> Result<Workers> {
        let (tx, rx) = sync_channel::<Msg>(2);
        // Chunks go back to the parsing thread to be filled again.
        let (chunks_tx, chunks_rx) = sync_channel::<Parsed>(4);
        let (recycle_tx, recycle_rx) = channel::<Chunk>();
        let (spent_tx, spent_rx) = channel::<ResolvedBatch>();
        let parsing = std::thread::Builder::new()
            .name("ingest-parse".into())
            .spawn(move || {
                let mut sink = ParseSink::new(chunks_tx, recycle_rx, purged_before, logs);
                for source in sources {
                    match source.read_into(&mut sink) {
                        Ok(file) => sink.files.extend(file),
                        Err(e) => {
                            let _ = sink.tx.send(Parsed::Failed(e));
                            return;
                        }
                    }
                    // A file's record leaves with its last lines.
                    if !(sink.files.is_empty() && sink.visitors.is_empty())
                        && sink.send_chunk().is_err()
                    {
                        return;
                    }
                }
                if sink.send_chunk().is_ok() {
                    let _ = sink.tx.send(Parsed::End);
                }
            })?;
        let resolving = std::thread::Builder::new()
            .name("ingest-resolve".into())
            .spawn(move || {
                let mut sink = BatchSink {
                    tx: &tx,
                    spent: spent_rx,
                    resolver: &mut resolver,
                    batch_size,
                    bytes: 0,
                    files: Vec::new(),
                    visitors: Vec::new(),
                };
                let mut ended = false;
                for parsed in chunks_rx {
                    let result = match parsed {
                        Parsed::Chunk {
                            mut chunk,
                            rejects,
                            bytes,
                            files,
                            visitors,
                        } => {
                            sink.bytes += bytes;
                            let result = sink.resolve_chunk(&mut chunk, rejects, files, visitors);
                            let _ = recycle_tx.send(chunk);
                            result
                        }
                        Parsed::Failed(e) => Err(e),
                        Parsed::End => {
                            ended = true;
                            Ok(())
                        }
                    };
                    if let Err(e) = result {
                        let _ = tx.send(Msg::Failed(e));
                        return;
                    }
                    crate::fault::inject("ingest-resolve");
                }
                let result = match parsing.join() {
                    Err(panic) => Err(panicked("parsing", panic)),
                    Ok(()) if !ended => Err(anyhow!(
                        "the parsing thread stopped before the end of the input: run ingest again"
                    )),
                    Ok(()) => sink.flush(),
                };
                match result {
                    Ok(()) => {
                        let _ = tx.send(Msg::End);
                    }
                    Err(e) => {
                        let _ = tx.send(Msg::Failed(e));
                        return;
                    }
                }
                let (looked_up, found) = sink.resolver.lookups();
                log.debug(format!(
                    "looked up {} keys the cache did not hold; the store had {}",
                    thousands(looked_up),
                    thousands(found)
                ));
            })?;
        Ok(Workers {
            rx,
            spent: spent_tx,
            resolving: Some(resolving),
        })
    }

    /// Join the resolving thread once its channel is closed: its panic, or
    /// its end without [`Msg::End`], is the run's error.
    pub(crate) fn join(&mut self, ended: bool) -> Result<()> {
        let Some(handle) = self.resolving.take() else {
            return Ok(());
        };
        match handle.join() {
            Err(panic) => Err(panicked("resolving", panic)),
            Ok(()) if !ended => Err(anyhow!(
                "the resolving thread stopped before the end of the input: run ingest again"
            )),
            Ok(()) => Ok(()),
        }
    }
}

/// The error of a worker that panicked.
fn panicked(thread: &str, panic: Box<dyn Any + Send>) -> anyhow::Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    anyhow!(
        "the {thread} thread panicked: {what}; the batches committed before it are kept and its input files are not marked as read: run ingest again (events with ids are not counted twice) and report the panic"
    )
}

/// Resolves chunks on the resolving thread and sends exactly `batch_size`
/// events per batch to the writer. A full batch is sent only when the next
/// event comes, so that a file read to its end is committed with the batch
/// that holds its last event.
struct BatchSink<'a> {
    tx: &'a SyncSender<Msg>,
    /// Batches the writer has committed, to be reused.
    spent: Receiver<ResolvedBatch>,
    resolver: &'a mut Resolver,
    batch_size: usize,
    /// Input bytes read since the last message (for the progress bar).
    bytes: u64,
    /// Files whose last event is in the current batch.
    files: Vec<FileRecord>,
    /// Log visitors' sessions moved by lines up to the current batch's.
    visitors: Vec<LogVisitor>,
}

impl BatchSink<'_> {
    fn send(&self, msg: Msg) -> Result<()> {
        self.tx.send(msg).map_err(|_| anyhow!("the writer stopped"))
    }

    /// Resolve a chunk (its rejected lines, read before its end, go
    /// first); the files read to their end go with the current batch.
    fn resolve_chunk(
        &mut self,
        chunk: &mut Chunk,
        rejects: Vec<Reject>,
        files: Vec<FileRecord>,
        visitors: Vec<LogVisitor>,
    ) -> Result<()> {
        if !rejects.is_empty() {
            self.send(Msg::Rejects(rejects, 0))?;
        }
        let mut start = 0;
        while start < chunk.len() {
            if self.resolver.len() >= self.batch_size {
                self.send_batch()?;
            }
            let room = self.batch_size - self.resolver.len();
            let end = chunk.len().min(start + room);
            let mut events = std::mem::take(&mut chunk.events);
            let added = self.resolver.add(chunk, &mut events[start..end]);
            chunk.events = events;
            added?;
            start = end;
        }
        self.files.extend(files);
        self.visitors.extend(visitors);
        Ok(())
    }

    fn send_batch(&mut self) -> Result<()> {
        let spent = self.spent.try_recv().ok();
        let batch = self.resolver.take_batch(spent)?;
        let commit = Box::new(Commit {
            batch: Some(batch),
            files: std::mem::take(&mut self.files),
            visitors: std::mem::take(&mut self.visitors),
        });
        let bytes = std::mem::take(&mut self.bytes);
        self.send(Msg::Commit(commit, bytes))
    }

    /// Send what is left at the end of the input.
    fn flush(&mut self) -> Result<()> {
        let bytes = self.bytes;
        if !self.resolver.is_empty() {
            self.send_batch()?;
        } else if !(self.files.is_empty() && self.visitors.is_empty()) {
            let commit = Box::new(Commit {
                batch: None,
                files: std::mem::take(&mut self.files),
                visitors: std::mem::take(&mut self.visitors),
            });
            self.bytes = 0;
            self.send(Msg::Commit(commit, bytes))?;
        } else if bytes > 0 {
            self.bytes = 0;
            self.send(Msg::Rejects(Vec::new(), bytes))?;
        }
        Ok(())
    }
}
