//! Compressed input: gzip (every member, as `cat a.gz b.gz` and logrotate's
//! `delaycompress` leave them), bzip2 and zstd, recognised by their magic
//! bytes whatever the file is called, and decompressed as a stream.
//!
//! A stream that ends early (a `.gz` still being written, a copy cut
//! short) gives every line before the cut and then an error saying where
//! it stopped, in lines and bytes; the caller drops the incomplete last
//! line that `read_until` leaves in its buffer with the error.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Read buffer for files and decoders: large enough that a syscall or a
/// decoder call is rare per line.
const BUFFER_BYTES: usize = 256 * 1024;

/// What a stream's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Zstd,
}

impl Compression {
    /// By magic bytes: gzip `1f 8b`, bzip2 `BZh` and a block size digit,
    /// zstd `28 b5 2f fd`.
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [b'B', b'Z', b'h', b'1'..=b'9', ..] => Compression::Bzip2,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Zstd => "zstd",
        }
    }
}

/// Counts the compressed bytes a decoder takes, for the error that says
/// where a stream stopped.
struct CountingSource<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingSource<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.consumed.fetch_add(amount as u64, Ordering::Relaxed);
        self.inner.consume(amount);
    }
}

/// A decoder's output, counted in bytes and complete lines, turning a
/// decoder's error into one that says where the stream stopped.
struct Decoded<D> {
    decoder: D,
    compression: Compression,
    consumed: Arc<AtomicU64>,
    bytes_out: u64,
    lines_out: u64,
}

impl<D: Read> Read for Decoded<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.decoder.read(buf) {
            Ok(n) => {
                let out = buf.get(..n).unwrap_or_default();
                self.bytes_out += n as u64;
                self.lines_out += memchr::memchr_iter(b'\n', out).count() as u64;
                Ok(n)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Err(err),
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!(
                    "the {} data stops after line {} (byte {} decompressed, byte {} of the \
                     compressed input): {err}; a truncated or damaged file?",
                    self.compression.name(),
                    self.lines_out,
                    self.bytes_out,
                    self.consumed.load(Ordering::Relaxed),
                ),
            )),
        }
    }
}

fn decoded<D: Read + Send + 'static>(
    decoder: D,
    compression: Compression,
    consumed: Arc<AtomicU64>,
) -> Box<dyn BufRead + Send> {
    Box::new(BufReader::with_capacity(
        BUFFER_BYTES,
        Decoded {
            decoder,
            compression,
            consumed,
            bytes_out: 0,
            lines_out: 0,
        },
    ))
}

/// A reader of the decompressed text of `reader` (a file, stdin), and what
/// compression it had.
pub fn open_reader<R: BufRead + Send + 'static>(
    mut reader: R,
) -> io::Result<(Box<dyn BufRead + Send>, Compression)> {
    let compression = Compression::sniff(reader.fill_buf()?);
    let consumed = Arc::new(AtomicU64::new(0));
    let source = CountingSource {
        inner: reader,
        consumed: Arc::clone(&consumed),
    };
    let input: Box<dyn BufRead + Send> = match compression {
        Compression::None => Box::new(source.inner),
        Compression::Gzip => decoded(
            flate2::bufread::MultiGzDecoder::new(source),
            compression,
            consumed,
        ),
        Compression::Bzip2 => decoded(
            bzip2::bufread::MultiBzDecoder::new(source),
            compression,
            consumed,
        ),
        Compression::Zstd => decoded(
            // Reads every frame, as `cat a.zst b.zst` concatenates them.
            zstd::stream::read::Decoder::with_buffer(source)?,
            compression,
            consumed,
        ),
    };
    Ok((input, compression))
}

/// Opens an input file, decompressing it when its first bytes say so.
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (reader, _) = open_reader(BufReader::with_capacity(BUFFER_BYTES, file))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn text(lines: usize, from: usize) -> String {
        (from..from + lines)
            .map(|i| format!("10.0.0.{} - - [06/Feb/2019:15:30:25 +0000] \"GET /page/{i} HTTP/1.1\" 200 {i}\n", i % 250))
            .collect()
    }

    fn gzip(data: &str) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    fn read_all(bytes: Vec<u8>) -> (String, Compression) {
        let (mut reader, compression) = open_reader(io::Cursor::new(bytes)).unwrap();
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        (out, compression)
    }

    #[test]
    fn every_gzip_member_is_read() {
        let (a, b) = (text(500, 0), text(700, 500));
        let mut both = gzip(&a);
        both.extend(gzip(&b));
        let (out, compression) = read_all(both);
        assert_eq!(compression, Compression::Gzip);
        assert_eq!(out, a + &b);
    }

    #[test]
    fn bzip2_and_zstd_and_plain() {
        let data = text(1000, 0);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(data.as_bytes()).unwrap();
        let mut bz = bz.finish().unwrap();
        // Two bzip2 streams one after the other, as two concatenated files.
        bz.extend(bz.clone());
        assert_eq!(read_all(bz), (data.repeat(2), Compression::Bzip2));
        let mut zst = zstd::stream::encode_all(data.as_bytes(), 3).unwrap();
        zst.extend(zstd::stream::encode_all(data.as_bytes(), 3).unwrap());
        assert_eq!(read_all(zst), (data.repeat(2), Compression::Zstd));
        assert_eq!(
            read_all(data.clone().into_bytes()),
            (data, Compression::None)
        );
        assert_eq!(read_all(Vec::new()), (String::new(), Compression::None));
    }

    #[test]
    fn magic_bytes_not_names() {
        let dir = tempfile::tempdir().unwrap();
        let data = text(10, 0);
        let path = dir.path().join("access.log");
        std::fs::write(&path, gzip(&data)).unwrap();
        let mut out = String::new();
        open_input(&path).unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, data);
        let missing = open_input(&dir.path().join("nope.log")).err().unwrap();
        assert!(
            format!("{missing:#}").contains("cannot open"),
            "{missing:#}"
        );
    }

    #[test]
    fn truncated_gzip_gives_its_complete_lines_then_says_where() {
        let data = text(5000, 0);
        let whole = gzip(&data);
        let cut = whole[..whole.len() / 2].to_vec();
        let (mut reader, _) = open_reader(io::Cursor::new(cut)).unwrap();
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        let err = loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => panic!("a truncated stream must end in an error"),
                Ok(_) => lines.push(String::from_utf8(buf.clone()).unwrap()),
                Err(err) => break err,
            }
        };
        assert!(lines.len() > 100, "{} lines", lines.len());
        assert_eq!(
            lines.concat(),
            data.lines()
                .take(lines.len())
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!("stops after line {}", lines.len())),
            "{message}"
        );
        assert!(message.contains("compressed input"), "{message}");
    }

    #[test]
    fn garbage_after_a_gzip_magic_is_an_error_not_a_panic() {
        let mut bytes = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        bytes.extend([0xffu8; 64]);
        let (mut reader, _) = open_reader(io::Cursor::new(bytes)).unwrap();
        assert!(reader.read_to_string(&mut String::new()).is_err());
    }
}
