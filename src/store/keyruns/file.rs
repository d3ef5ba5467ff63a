//! A key run's file: a 64-byte header (magic, table, the store's id, the
//! id range `(from, upto]`, the entry count and the entries' xxh3
//! checksum), then the sorted 16-byte entries `(mix, id)`, little-endian.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::KeyTable;

const MAGIC: &[u8; 8] = b"CRLYKEY1";
const HEADER: usize = 64;
const ENTRY: usize = 16;
/// Entries per block of the in-memory index (one 4 KiB read per lookup).
const BLOCK: usize = 256;
/// One run file, open for lookups.
pub(super) struct Run {
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) from: i64,
    pub(super) upto: i64,
    pub(super) count: u64,
    /// The first mix of each block of [`BLOCK`] entries.
    index: Vec<u64>,
}

impl Run {
    /// The ids of the entries whose mix is `mix`.
    pub(super) fn find(&self, mix: u64, ids: &mut Vec<i64>) -> Result<()> {
        if self.index.first().is_none_or(|&first| mix < first) {
            return Ok(());
        }
        // The last block starting at or before the mix: equal mixes may
        // begin in the block before the first block that starts with it.
        let mut block = self.index.partition_point(|&m| m < mix).saturating_sub(1);
        let mut buf = vec![0u8; BLOCK * ENTRY];
        while block < self.index.len() {
            let first = block as u64 * BLOCK as u64;
            let n = (self.count - first).min(BLOCK as u64) as usize;
            let at = HEADER as u64 + first * ENTRY as u64;
            self.file
                .read_exact_at(&mut buf[..n * ENTRY], at)
                .with_context(|| format!("cannot read {}", self.path.display()))?;
            let mut past = false;
            for e in buf[..n * ENTRY].chunks_exact(ENTRY) {
                let (m, id) = decode(e);
                if m == mix {
                    ids.push(id);
                } else if m > mix {
                    past = true;
                    break;
                }
            }
            if past {
                break;
            }
            block += 1;
        }
        Ok(())
    }
}

fn decode(e: &[u8]) -> (u64, i64) {
    let mut m = [0u8; 8];
    let mut id = [0u8; 8];
    m.copy_from_slice(&e[..8]);
    id.copy_from_slice(&e[8..16]);
    (u64::from_le_bytes(m), i64::from_le_bytes(id))
}

/// A run being written: its sorted entries of the rows `(from, upto]` go
/// to a temporary name, renamed into place when finished.
pub(super) struct RunWriter {
    out: BufWriter<File>,
    temp: PathBuf,
    path: PathBuf,
    table: KeyTable,
    store_id: i64,
    span: (i64, i64),
    hasher: xxhash_rust::xxh3::Xxh3,
    index: Vec<u64>,
    count: u64,
}

impl RunWriter {
    pub(super) fn create(
        dir: &Path,
        store_id: i64,
        table: KeyTable,
        span: (i64, i64),
    ) -> Result<RunWriter> {
        let name = format!("{}-{:020}-{:020}", table.name(), span.0, span.1);
        let temp = dir.join(format!("{name}.tmp"));
        let file = File::create(&temp)
            .with_context(|| format!("cannot write the key run {}", temp.display()))?;
        let mut writer = RunWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            path: dir.join(format!("{name}.run")),
            temp,
            table,
            store_id,
            span,
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            index: Vec::new(),
            count: 0,
        };
        writer.write(&[0u8; HEADER])?;
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .with_context(|| format!("cannot write the key run {}", self.temp.display()))
    }

    /// Add the next entry (in order).
    pub(super) fn push(&mut self, (mix, id): (u64, i64)) -> Result<()> {
        if self.count.is_multiple_of(BLOCK as u64) {
            self.index.push(mix);
        }
        let mut e = [0u8; ENTRY];
        e[..8].copy_from_slice(&mix.to_le_bytes());
        e[8..].copy_from_slice(&id.to_le_bytes());
        self.hasher.update(&e);
        self.count += 1;
        self.write(&e)
    }

    /// Write the header, rename the file into place and open it.
    pub(super) fn finish(self) -> Result<Run> {
        let fail = || format!("cannot write the key run {}", self.temp.display());
        let (from, upto) = self.span;
        let sum = self.hasher.digest();
        let header = header(self.table, self.store_id, from, upto, self.count, sum);
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(fail)?;
        file.write_all_at(&header, 0).with_context(fail)?;
        file.flush().with_context(fail)?;
        fs::rename(&self.temp, &self.path).with_context(fail)?;
        Ok(Run {
            file: File::open(&self.path).with_context(fail)?,
            path: self.path,
            from,
            upto,
            count: self.count,
            index: self.index,
        })
    }
}

fn header(table: KeyTable, store: i64, from: i64, upto: i64, count: u64, sum: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&(table as u64).to_le_bytes());
    h[16..24].copy_from_slice(&store.to_le_bytes());
    h[24..32].copy_from_slice(&from.to_le_bytes());
    h[32..40].copy_from_slice(&upto.to_le_bytes());
    h[40..48].copy_from_slice(&count.to_le_bytes());
    h[48..56].copy_from_slice(&sum.to_le_bytes());
    h
}

/// A run's entries read in order.
pub(super) struct Entries<'r> {
    run: &'r Run,
    reader: BufReader<File>,
    left: u64,
}

impl<'r> Entries<'r> {
    pub(super) fn open(run: &'r Run) -> Result<Entries<'r>> {
        let fail = || format!("cannot read {}", run.path.display());
        let mut reader =
            BufReader::with_capacity(1 << 20, File::open(&run.path).with_context(fail)?);
        let mut skip = [0u8; HEADER];
        reader.read_exact(&mut skip).with_context(fail)?;
        Ok(Entries {
            run,
            reader,
            left: run.count,
        })
    }

    /// The next entry; `None` after the last.
    pub(super) fn next(&mut self) -> Result<Option<(u64, i64)>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut e = [0u8; ENTRY];
        self.reader
            .read_exact(&mut e)
            .with_context(|| format!("cannot read {}", self.run.path.display()))?;
        Ok(Some(decode(&e)))
    }
}

/// A run file checked whole: its header, size, order and checksum; `None`
/// when anything is wrong or it belongs to another store.
pub(super) fn load(path: &Path, store_id: i64) -> Option<(KeyTable, Run)> {
    let file = File::open(path).ok()?;
    let mut reader = BufReader::with_capacity(1 << 20, file.try_clone().ok()?);
    let mut h = [0u8; HEADER];
    reader.read_exact(&mut h).ok()?;
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&h[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    if &h[..8] != MAGIC || word(2) as i64 != store_id {
        return None;
    }
    let table = match word(1) {
        0 => KeyTable::Sessions,
        1 => KeyTable::Visitors,
        _ => return None,
    };
    let (from, upto, count, sum) = (word(3) as i64, word(4) as i64, word(5), word(6));
    let size = file.metadata().ok()?.len();
    if size != HEADER as u64 + count * ENTRY as u64 || upto < from {
        return None;
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut index = Vec::with_capacity(count.div_ceil(BLOCK as u64) as usize);
    let mut last = (0u64, i64::MIN);
    let mut e = [0u8; ENTRY];
    for i in 0..count {
        reader.read_exact(&mut e).ok()?;
        hasher.update(&e);
        let entry = decode(&e);
        if i > 0 && entry < last {
            return None;
        }
        if i.is_multiple_of(BLOCK as u64) {
            index.push(entry.0);
        }
        last = entry;
    }
    if hasher.digest() != sum {
        return None;
    }
    Some((
        table,
        Run {
            path: path.to_path_buf(),
            file,
            from,
            upto,
            count,
            index,
        },
    ))
}
