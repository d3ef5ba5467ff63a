//! Reading one input (a file or stdin, NDJSON or CSV) into the parsing
//! sink, line by line, with the physical line number of every line or
//! record whatever its line ends (LF, CRLF), a leading UTF-8 byte order
//! mark, or quoted CSV fields spanning lines; a file that grew since an
//! earlier run is read from where that run stopped, with its line numbers.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use anyhow::{Context, Result};

use super::inputs::{ContentDigest, DigestHandle, FileInfo, FileRecord, HashedFile};
use super::logs::Prepared;
use super::parse::{parse_csv_record, parse_json_line_with};
use super::rejects::Reject;
use super::sink::{Item, ParseSink};
use crate::job::usage;

/// The bytes of an input.
pub(crate) enum Input {
    Stdin(std::io::Stdin),
    File(HashedFile),
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::Stdin(s) => s.read(buf),
            Input::File(f) => f.read(buf),
        }
    }
}

enum Reader {
    Ndjson(BufReader<Input>),
    /// An access log: its text (decompressed), after the first lines that
    /// chose its parser.
    Log {
        reader: Box<dyn BufRead + Send>,
        prepared: Prepared,
        /// The file's digest, taken once it is read (not stdin).
        digest: Option<DigestHandle>,
    },
    Csv {
        reader: Box<csv::Reader<LineEnds<Input>>>,
        headers: Vec<String>,
    },
}

/// One input, opened and ready to read.
pub(crate) struct Source {
    /// As given (`-` for stdin): the `file` of its rejects.
    name: String,
    reader: Reader,
    /// Physical lines before the first one read (a file continued).
    lines_before: u64,
    /// A file to remember once read to its end (not stdin).
    file: Option<FileInfo>,
}

impl Source {
    pub(crate) fn stdin(csv: bool) -> Result<Source> {
        let input = Input::Stdin(std::io::stdin());
        Source::new("-".to_string(), input, csv, None, 0)
    }

    /// `file`, positioned after the bytes that `digest` holds (the part an
    /// earlier run stored, or none).
    pub(crate) fn file(file: File, info: FileInfo, digest: ContentDigest) -> Result<Source> {
        let lines_before = digest.lines();
        let csv = info.format == "csv";
        let continued = digest.size() > 0;
        let input = Input::File(HashedFile::new(file, digest));
        let mut source = Source::new(
            info.name.clone(),
            input,
            csv,
            continued.then(|| info.name.clone()),
            lines_before,
        )?;
        source.file = Some(info);
        Ok(source)
    }

    /// An access log (a file when `file` is given, else stdin): `reader` is
    /// its text, after the lines `prepared` holds; a continued file's
    /// lines are numbered after `lines_before`.
    pub(crate) fn log(
        name: String,
        reader: Box<dyn BufRead + Send>,
        prepared: Prepared,
        file: Option<(FileInfo, DigestHandle)>,
        lines_before: u64,
    ) -> Source {
        let (file, digest) = match file {
            Some((info, digest)) => (Some(info), Some(digest)),
            None => (None, None),
        };
        Source {
            name,
            reader: Reader::Log {
                reader,
                prepared,
                digest,
            },
            lines_before,
            file,
        }
    }

    pub(crate) fn is_log(&self) -> bool {
        matches!(self.reader, Reader::Log { .. })
    }

    /// `header_from`: a continued CSV file whose header is read from its
    /// start, not from the input.
    fn new(
        name: String,
        input: Input,
        csv: bool,
        header_from: Option<String>,
        lines_before: u64,
    ) -> Result<Source> {
        let reader = if csv {
            let mut builder = csv::ReaderBuilder::new();
            builder.flexible(true).buffer_capacity(1 << 16);
            let mut reader = Box::new(
                builder
                    .has_headers(header_from.is_none())
                    .from_reader(LineEnds::new(input)),
            );
            let headers = match &header_from {
                None => reader.headers().cloned(),
                Some(path) => File::open(path)
                    .map_err(csv::Error::from)
                    .and_then(|f| builder.has_headers(true).from_reader(f).headers().cloned()),
            }
            .with_context(|| format!("cannot read the CSV header of {name}"))?;
            let headers: Vec<String> = headers.iter().map(|h| h.trim().to_string()).collect();
            for required in ["ts", "site", "kind", "session", "visitor"] {
                if !headers.iter().any(|h| h == required) {
                    return Err(usage(format!(
                        "the CSV input {name} has no '{required}' column: its header must name the event fields (ts,site,kind,session,visitor,...)"
                    )));
                }
            }
            Reader::Csv { reader, headers }
        } else {
            Reader::Ndjson(BufReader::with_capacity(1 << 20, input))
        };
        Ok(Source {
            name,
            reader,
            lines_before,
            file: None,
        })
    }

    /// Read the whole source into `sink`; a file read to its end comes
    /// back to be remembered.
    pub(crate) fn read_into(self, sink: &mut ParseSink) -> Result<Option<FileRecord>> {
        let Source {
            name,
            reader,
            lines_before,
            file,
        } = self;
        let input = match reader {
            Reader::Ndjson(mut reader) => {
                let mut line_no = lines_before;
                let read = for_each_line(&mut reader, |raw| {
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
                reader.into_inner()
            }
            Reader::Csv {
                mut reader,
                headers,
            } => {
                read_csv(&mut reader, &headers, sink, &name, lines_before)?;
                reader.into_inner().inner
            }
            Reader::Log {
                reader,
                prepared,
                digest,
            } => return read_log(sink, name, reader, prepared, digest, lines_before, file),
        };
        Ok(match (input, file) {
            (Input::File(f), Some(info)) => Some(FileRecord {
                info,
                digest: f.into_digest(),
            }),
            _ => None,
        })
    }
}

/// Read an access log into `sink`. A read error (a compressed file cut
/// short) keeps the complete lines read before it and is a rejected line
/// saying where the file stopped; such a file is not remembered, so that
/// a later run reads it whole (its stored lines are duplicates by id).
fn read_log(
    sink: &mut ParseSink,
    name: String,
    reader: Box<dyn BufRead + Send>,
    prepared: Prepared,
    digest: Option<DigestHandle>,
    lines_before: u64,
    file: Option<FileInfo>,
) -> Result<Option<FileRecord>> {
    let Prepared { prefix, mut parser } = prepared;
    let mut lines = sink
        .logs
        .take()
        .ok_or_else(|| anyhow::anyhow!("an access log without the log options"))?;
    lines.start_file();
    let mut text = std::io::Cursor::new(prefix).chain(reader);
    let mut line_no = lines_before;
    let read = for_each_line(&mut text, |raw| {
        line_no += 1;
        lines.line(sink, parser.as_mut(), &name, line_no, raw)
    });
    // The sessions it moved leave with its last lines.
    sink.visitors.extend(lines.end_file());
    sink.logs = Some(lines);
    let complete = match read {
        Ok(result) => {
            result?;
            true
        }
        Err(e) => {
            let reason = format!(
                "the file stops after line {line_no}: {e}; the lines before it are read, and the file is read again (without counting them twice) when it is whole"
            );
            sink.push(Item::Reject(Reject::new(&name, line_no + 1, reason, "")), 0)?;
            false
        }
    };
    Ok(match (file, digest) {
        (Some(info), Some(digest)) if complete => Some(FileRecord {
            info,
            digest: digest.take(),
        }),
        _ => None,
    })
}

/// Passes bytes through, remembering where the line ends (`\n`) of the
/// bytes read but not yet parsed are: the csv crate's line count is that
/// of the `\n`s it has consumed, and it ends a CRLF record at its `\r`.
struct LineEnds<R> {
    inner: R,
    read: u64,
    ends: VecDeque<u64>,
}

impl<R> LineEnds<R> {
    fn new(inner: R) -> LineEnds<R> {
        LineEnds {
            inner,
            read: 0,
            ends: VecDeque::new(),
        }
    }

    /// Whether the byte at `offset` is a `\n`; forgets the line ends
    /// before it (offsets are asked in increasing order).
    fn is_line_end(&mut self, offset: u64) -> bool {
        while self.ends.front().is_some_and(|&at| at < offset) {
            self.ends.pop_front();
        }
        self.ends.front() == Some(&offset)
    }
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let base = self.read;
        self.ends
            .extend(memchr::memchr_iter(b'\n', &buf[..n]).map(|i| base + i as u64));
        self.read += n as u64;
        Ok(n)
    }
}

/// Read CSV records into `sink`, each with the physical line it starts on.
fn read_csv<R: Read>(
    reader: &mut csv::Reader<LineEnds<R>>,
    headers: &[String],
    sink: &mut ParseSink,
    name: &str,
    lines_before: u64,
) -> Result<()> {
    let mut record = csv::ByteRecord::new();
    let mut last_pos = reader.position().byte();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let end = reader.position().clone();
                let bytes = end.byte().saturating_sub(last_pos);
                last_pos = end.byte();
                // The csv crate's line is one past the record's last line
                // when a `\n` ended it, that line when a `\r` or the end
                // of the input did; the line ends inside quoted fields
                // lead back to its first line.
                let ended_by_lf = end.byte() > 0 && reader.get_mut().is_line_end(end.byte() - 1);
                let inside: u64 = record
                    .iter()
                    .map(|f| memchr::memchr_iter(b'\n', f).count() as u64)
                    .sum();
                let line_no = lines_before + end.line() - u64::from(ended_by_lf) - inside;
                match csv::StringRecord::from_byte_record(std::mem::take(&mut record)) {
                    Ok(text) => {
                        let item = match parse_csv_record(headers, &text)
                            .and_then(|e| sink.admit(e))
                        {
                            Ok(e) => Item::Event(e),
                            Err(reason) => {
                                Item::Reject(Reject::new(name, line_no, reason, &csv_line(&text)))
                            }
                        };
                        let pushed = sink.push(item, bytes);
                        // The record's buffers are reused for the next one.
                        record = text.into_byte_record();
                        pushed?;
                    }
                    Err(e) => {
                        record = e.into_byte_record();
                        let raw = record.iter().collect::<Vec<_>>().join(&b","[..]);
                        let reject = Reject::new(
                            name,
                            line_no,
                            "the record is not valid UTF-8".to_string(),
                            &String::from_utf8_lossy(&raw),
                        );
                        sink.push(Item::Reject(reject), bytes)?;
                    }
                }
            }
            Err(e) => {
                let line_no = lines_before + e.position().map(|p| p.line()).unwrap_or(0);
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot read {name} near line {line_no}")));
            }
        }
    }
    Ok(())
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
/// one) into `sink`: an event, a reject, or nothing for a blank line. The
/// first line of an input may start with a UTF-8 byte order mark.
fn ndjson_line(sink: &mut ParseSink, name: &str, line_no: u64, raw: &[u8]) -> Result<()> {
    let n = raw.len() as u64;
    let mut line = raw;
    if line_no == 1 {
        line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    }
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        sink.bytes += n;
        return Ok(());
    }
    let item = match std::str::from_utf8(line) {
        Ok(text) => {
            match parse_json_line_with(text, &mut sink.seen_props).and_then(|e| sink.admit(e)) {
                Ok(e) => Item::Event(e),
                Err(reason) => Item::Reject(Reject::new(name, line_no, reason, text)),
            }
        }
        Err(_) => Item::Reject(Reject::new(
            name,
            line_no,
            "the line is not valid UTF-8".to_string(),
            &String::from_utf8_lossy(line),
        )),
    };
    sink.push(item, n)
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
