//! Reading one input (a file or stdin, NDJSON or CSV) into the parsing
//! sink, line by line, each line or record with its line number.

use std::io::BufRead;

use anyhow::{Context, Result};

use super::parse::{parse_csv_record, parse_json_line};
use super::pipeline::{Item, ParseSink};
use super::rejects::Reject;
use crate::job::usage;

/// One input, opened and ready to read.
pub enum Source {
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
    pub fn csv(name: String, reader: Box<dyn BufRead + Send>) -> Result<Source> {
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
    pub fn read_into(self, sink: &mut ParseSink) -> Result<()> {
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
                                Err(reason) => Item::Reject(Reject::new(
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
                                Item::Reject(Reject::new(
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
            Err(reason) => Item::Reject(Reject::new(name, line_no, reason, text)),
        },
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
