//! The parsing side's output: every input (whatever its format) pushes its
//! parsed events and rejected lines into a [`ParseSink`], which gathers them
//! into chunks for the resolving thread.

use std::sync::mpsc::{Receiver, SyncSender};

use anyhow::{Result, anyhow};

use super::chunk::Chunk;
use super::inputs::FileRecord;
use super::logs::LogLines;
use super::parse::ParsedEvent;
use super::propsets::SeenProps;
use super::rejects::Reject;
use crate::store::logs::LogVisitor;

/// Lines per message from the parsing thread. The chunks in flight stay
/// in the second-level cache at this size: copying an event into a chunk
/// of 4096 (about 800 KB, five or six of them cycling) wrote to lines
/// that had left it, and cost the parsing thread of a 10M-line log 5%.
const CHUNK_LINES: usize = 1024;
/// Bytes of event text above which a chunk is resolved early.
const CHUNK_TEXT_BYTES: usize = 1 << 30;

/// A parsed line: an event, or a line that broke a rule.
pub(crate) enum Item<'a> {
    Event(ParsedEvent<'a>),
    Reject(Reject),
}

/// What the parsing thread sends the resolving one.
pub(super) enum Parsed {
    /// Parsed events, the rejected lines read before their end, the input
    /// bytes they took, and the files whose last line is in the chunk.
    Chunk {
        chunk: Chunk,
        rejects: Vec<Reject>,
        bytes: u64,
        files: Vec<FileRecord>,
        /// The latest sessions of the log visitors the chunk's lines moved.
        visitors: Vec<LogVisitor>,
    },
    /// Reading failed; nothing more will come.
    Failed(anyhow::Error),
    /// Every source is read.
    End,
}

/// Collects parsed lines into chunks on the parsing thread.
pub(crate) struct ParseSink {
    pub(super) tx: SyncSender<Parsed>,
    /// Chunks the resolving thread is done with, to fill again.
    recycle: Receiver<Chunk>,
    /// Input bytes read since the last chunk (for the progress bar).
    pub(crate) bytes: u64,
    /// Events before this instant are rejected (see [`ParseSink::admit`]).
    purged_before: Option<i64>,
    chunk: Chunk,
    rejects: Vec<Reject>,
    /// Files read to their end since the last chunk.
    pub(super) files: Vec<FileRecord>,
    /// Log visitors whose latest session moved, since the last chunk.
    pub(super) visitors: Vec<LogVisitor>,
    /// Turns access-log lines into events (a run reading logs).
    pub(super) logs: Option<LogLines>,
    /// The `props` texts checked so far.
    pub(super) seen_props: SeenProps<()>,
}

impl ParseSink {
    pub(super) fn new(
        tx: SyncSender<Parsed>,
        recycle: Receiver<Chunk>,
        purged_before: Option<i64>,
        logs: Option<LogLines>,
    ) -> ParseSink {
        ParseSink {
            tx,
            recycle,
            bytes: 0,
            purged_before,
            chunk: Chunk::default(),
            rejects: Vec::new(),
            files: Vec::new(),
            visitors: Vec::new(),
            logs,
            seen_props: SeenProps::default(),
        }
    }

    /// Refuse an event for a day whose raw events retention has deleted:
    /// that day's rollup is final.
    pub(crate) fn admit<'e>(
        &self,
        e: ParsedEvent<'e>,
    ) -> std::result::Result<ParsedEvent<'e>, String> {
        match self.purged_before {
            Some(floor) if e.ts_ms < floor => Err(format!(
                "ts {} is before {}, whose days' raw events retention has deleted: their rollups are final",
                crate::time::rfc3339_ms(e.ts_ms),
                crate::time::rfc3339_ms(floor)
            )),
            _ => Ok(e),
        }
    }

    pub(crate) fn push(&mut self, item: Item, bytes: u64) -> Result<()> {
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
    pub(super) fn send_chunk(&mut self) -> Result<()> {
        let mut next = self.recycle.try_recv().unwrap_or_default();
        next.clear();
        let chunk = std::mem::replace(&mut self.chunk, next);
        self.tx
            .send(Parsed::Chunk {
                chunk,
                rejects: std::mem::take(&mut self.rejects),
                bytes: std::mem::take(&mut self.bytes),
                files: std::mem::take(&mut self.files),
                visitors: std::mem::take(&mut self.visitors),
            })
            .map_err(|_| anyhow!("the writer stopped"))?;
        crate::fault::inject("ingest-parse");
        Ok(())
    }
}
