//! Opening every input before anything is stored (a missing file stops the
//! run with nothing half-stored): which format each is, what the store
//! already has of it (`inputs::plan`), and, for an access log, its
//! rotated predecessor and the parser its first lines choose.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::Mutex;

use anyhow::Result;
use rusqlite::Connection;

use super::Format;
use super::formats::open_reader;
use super::inputs::{self, FileInfo, HashedFile, Plan};
use super::logs::{self, LogOptions, LogStats, rotation};
use super::source::Source;
use crate::job::usage;

/// Bytes read at once from a log file (and its decompressor's input).
const LOG_BUFFER: usize = 1 << 20;

/// The inputs opened so far and what the summary says of them.
pub(super) struct Opener<'a> {
    pub(super) conn: &'a Connection,
    pub(super) force: bool,
    pub(super) logs: Option<&'a LogOptions>,
    pub(super) stats: &'a Mutex<LogStats>,
    opened: Vec<((u64, u64), String)>,
    pub(super) sources: Vec<Source>,
    pub(super) total_bytes: u64,
    pub(super) stdin_used: bool,
    /// Files whose content is stored already.
    pub(super) skipped: Vec<String>,
    /// Access logs with no new line.
    pub(super) unchanged: Vec<String>,
    /// Files that grew, with the first line read.
    pub(super) continued: Vec<(String, u64)>,
    /// Rotated logs read before the file given: (rotated, given).
    pub(super) rotated: Vec<(String, String)>,
    /// Every rotated predecessor opened, read or not.
    predecessors: Vec<String>,
}

impl<'a> Opener<'a> {
    pub(super) fn new(
        conn: &'a Connection,
        force: bool,
        logs: Option<&'a LogOptions>,
        stats: &'a Mutex<LogStats>,
    ) -> Opener<'a> {
        Opener {
            conn,
            force,
            logs,
            stats,
            opened: Vec::new(),
            sources: Vec::new(),
            total_bytes: 0,
            stdin_used: false,
            skipped: Vec::new(),
            unchanged: Vec::new(),
            continued: Vec::new(),
            rotated: Vec::new(),
            predecessors: Vec::new(),
        }
    }

    pub(super) fn stdin(&mut self, format: Format) -> Result<()> {
        if self.stdin_used {
            return Err(usage("'-' (stdin) is given twice"));
        }
        self.stdin_used = true;
        let source = match format {
            Format::AccessLog => {
                let (mut reader, _) =
                    open_reader(BufReader::with_capacity(LOG_BUFFER, std::io::stdin()))?;
                let prepared = logs::prepare("-", &mut reader, self.log_options()?, self.stats)?;
                Source::log("-".to_string(), reader, prepared, None, 0)
            }
            other => Source::stdin(other == Format::Csv)?,
        };
        self.sources.push(source);
        Ok(())
    }

    fn log_options(&self) -> Result<&'a LogOptions> {
        self.logs
            .ok_or_else(|| anyhow::anyhow!("an access log without the log options"))
    }

    /// Open the file `input`, of `format` if given, else by its name (and
    /// first line).
    pub(super) fn file(&mut self, input: &str, format: Option<Format>) -> Result<()> {
        let cannot = |e: std::io::Error| usage(format!("cannot read the input file {input}: {e}"));
        let mut file = File::open(input).map_err(cannot)?;
        let meta = file.metadata().map_err(cannot)?;
        if meta.is_dir() {
            return Err(usage(format!(
                "the input {input} is a directory: give the files in it"
            )));
        }
        let format = match format {
            Some(format) => format,
            None => by_name(input, &mut file).map_err(cannot)?,
        };
        let info = FileInfo::new(input, &meta, format.name());
        let identity = inputs::identity(&meta);
        if let Some((_, first)) = self.opened.iter().find(|(id, _)| *id == identity) {
            if self.predecessors.contains(first) {
                // Read already as a rotated predecessor.
                return Ok(());
            }
            return Err(usage(format!(
                "the input file {input} is given twice (also as {first}): give it once"
            )));
        }
        self.opened.push((identity, input.to_string()));
        let mut plan = if self.force {
            Plan::whole()
        } else {
            inputs::plan(self.conn, &mut file, meta.len())
                .map_err(|e| e.context(format!("cannot read the input file {input}")))?
        };
        if format == Format::AccessLog && !self.force {
            let continues = matches!(plan, Plan::Skip | Plan::Read { offset: 1.., .. });
            if let Some(rotated) = rotation::predecessor(self.conn, &info.path, &meta, continues)? {
                // Named as the input was given (relative stays relative).
                let name = match rotated.file_name() {
                    Some(file) => std::path::Path::new(input)
                        .with_file_name(file)
                        .display()
                        .to_string(),
                    None => rotated.display().to_string(),
                };
                let rotated_meta = std::fs::metadata(&rotated).map_err(cannot)?;
                if !self.is_open(inputs::identity(&rotated_meta)) {
                    self.predecessors.push(name.clone());
                    let before = self.sources.len();
                    self.file(&name, Some(Format::AccessLog))?;
                    if self.sources.len() > before {
                        self.rotated.push((name, input.to_string()));
                    }
                }
            }
        }
        if format == Format::AccessLog {
            return self.log_file(input, file, meta.len(), info, &mut plan);
        }
        let Plan::Read { offset, digest } = plan else {
            self.skipped.push(input.to_string());
            return Ok(());
        };
        if offset > 0 {
            self.continued.push((input.to_string(), digest.lines() + 1));
        }
        self.total_bytes += meta.len().saturating_sub(offset);
        self.sources.push(Source::file(file, info, digest)?);
        Ok(())
    }

    fn is_open(&self, identity: (u64, u64)) -> bool {
        self.opened.iter().any(|(id, _)| *id == identity)
    }

    /// An access log: a plain one is read to its last complete line (the
    /// server may be writing the next), a compressed one whole or not at
    /// all.
    fn log_file(
        &mut self,
        input: &str,
        mut file: File,
        size: u64,
        info: FileInfo,
        plan: &mut Plan,
    ) -> Result<()> {
        let (offset, digest) = match std::mem::replace(plan, Plan::Skip) {
            Plan::Skip => {
                self.unchanged.push(input.to_string());
                return Ok(());
            }
            Plan::Read { offset, digest } => (offset, digest),
        };
        let mut head = [0u8; 6];
        file.seek(SeekFrom::Start(0))?;
        let head_len = read_up_to(&mut file, &mut head)?;
        let compressed = super::formats::Compression::sniff(&head[..head_len])
            != super::formats::Compression::None;
        let (offset, digest, limit) = if compressed {
            (0, inputs::ContentDigest::default(), size)
        } else {
            let end = last_line_end(&mut file, size)?;
            if end <= offset {
                self.unchanged.push(input.to_string());
                return Ok(());
            }
            (offset, digest, end - offset)
        };
        file.seek(SeekFrom::Start(offset))?;
        if offset > 0 {
            self.continued.push((input.to_string(), digest.lines() + 1));
        }
        let lines_before = digest.lines();
        self.total_bytes += limit;
        let hashed = HashedFile::new(file, digest).limit(limit);
        let handle = hashed.digest_handle();
        let (mut reader, _) = open_reader(BufReader::with_capacity(LOG_BUFFER, hashed))
            .map_err(|e| usage(format!("cannot read the input file {input}: {e}")))?;
        let prepared = logs::prepare(input, &mut reader, self.log_options()?, self.stats)?;
        self.sources.push(Source::log(
            input.to_string(),
            reader,
            prepared,
            Some((info, handle)),
            lines_before,
        ));
        Ok(())
    }
}

/// The inputs in the order to read them: access logs oldest first (by
/// modification time), as `ingest access.log*` lists the live file before
/// the rotated ones and sessions are built in time order; any other input
/// (NDJSON, CSV, stdin) keeps the order given.
pub(super) fn oldest_first(inputs: &[String], format: Option<Format>) -> Vec<String> {
    let is_log = |input: &String| {
        input != "-"
            && match format {
                Some(f) => f == Format::AccessLog,
                None => logs::is_log_name(input),
            }
    };
    if !inputs.iter().all(is_log) {
        return inputs.to_vec();
    }
    let mtime = |input: &String| std::fs::metadata(input).and_then(|m| m.modified()).ok();
    let mut sorted: Vec<(Option<std::time::SystemTime>, String)> =
        inputs.iter().map(|i| (mtime(i), i.clone())).collect();
    // Stable: files of one modification time keep the order given.
    sorted.sort_by_key(|(t, _)| *t);
    sorted.into_iter().map(|(_, i)| i).collect()
}

/// The format of a file given without `--format`: `.csv` is CSV; an
/// access log's name (`*.log`, `access.log*`...) is an access log unless
/// its first line is an NDJSON event; else NDJSON.
fn by_name(input: &str, file: &mut File) -> std::io::Result<Format> {
    if input.to_ascii_lowercase().ends_with(".csv") {
        return Ok(Format::Csv);
    }
    if !logs::is_log_name(input) {
        return Ok(Format::Ndjson);
    }
    let mut head = vec![0u8; 64 << 10];
    let n = read_up_to(file, &mut head)?;
    file.seek(SeekFrom::Start(0))?;
    let first = head[..n].split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = std::str::from_utf8(first).unwrap_or("").trim();
    let first = first.strip_prefix('\u{feff}').unwrap_or(first);
    Ok(if super::parse::parse_json_line(first).is_ok() {
        Format::Ndjson
    } else {
        Format::AccessLog
    })
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The offset just after the last `\n` of the first `size` bytes (0 when
/// there is none).
fn last_line_end(file: &mut File, size: u64) -> std::io::Result<u64> {
    let mut end = size;
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let len = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..len])?;
        if let Some(at) = memchr::memrchr(b'\n', &buf[..len]) {
            return Ok(start + at as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}
