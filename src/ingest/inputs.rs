//! The input files ingest has read to the end, remembered in the store
//! (`ingested_files`) by their content, so that a file given again (left in
//! the incoming directory after a run with rejects, renamed, copied) is
//! skipped instead of counted twice, and a file that grew is read from
//! where the last run stopped.
//!
//! A file is known by the xxh3-128 hash of its content (its fingerprint),
//! computed while it is read, so knowing it costs no extra pass. Its row is
//! written in the same transaction as the batch that holds its last event
//! (`store::writer::write_batch`). Looking a file up reads at most the prefix that
//! a stored file may share with it: the candidates are the stored files with
//! the same first line and at most its size; the hash of their first 4 KiB
//! rules out most of them, and one pass over the file compares the hash at
//! each remaining candidate's size. Stdin is never remembered.

pub(crate) use crate::store::files::FileInfo;
use crate::store::files::{self, StoredFile};
use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::Result;
use rusqlite::Connection;
use xxhash_rust::xxh3::{Xxh3Default, xxh3_128};

/// Bytes of a file's start kept for the `head` and `first_line` hashes.
pub(crate) const HEAD_BYTES: usize = 4096;

/// The hash of a file's content as it is read, with the counts a lookup
/// and a later resumption need.
#[derive(Clone, Default)]
pub(crate) struct ContentDigest {
    /// Boxed: its state is about 500 bytes, moved with every input.
    hasher: Box<Xxh3Default>,
    size: u64,
    lines: u64,
    /// The first [`HEAD_BYTES`] bytes.
    head: Vec<u8>,
    last: Option<u8>,
}

impl ContentDigest {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        if self.head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.lines += memchr::memchr_iter(b'\n', bytes).count() as u64;
        if let Some(&b) = bytes.last() {
            self.last = Some(b);
        }
    }

    /// Bytes hashed so far.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Line ends (`\n`) in the bytes hashed so far.
    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }

    fn fingerprint(&self) -> String {
        hex(self.hasher.digest128())
    }

    fn head_hash(&self) -> String {
        hex(xxh3_128(&self.head))
    }

    /// The hash of the first line with its `\n`, or of the first
    /// [`HEAD_BYTES`] bytes when no line ends within them.
    fn first_line_hash(&self) -> String {
        let end = memchr::memchr(b'\n', &self.head).map_or(self.head.len(), |i| i + 1);
        hex(xxh3_128(&self.head[..end]))
    }
}

fn hex(hash: u128) -> String {
    format!("{hash:032x}")
}

/// What to do with an input file.
pub(crate) enum Plan {
    /// Its whole content is stored already.
    Skip,
    /// Read it from `offset` (0: from the start); `digest` holds the bytes
    /// before it, whose lines are already stored.
    Read { offset: u64, digest: ContentDigest },
}

impl Plan {
    /// The whole file, whatever the store remembers (`--force`).
    pub(crate) fn whole() -> Plan {
        Plan::Read {
            offset: 0,
            digest: ContentDigest::default(),
        }
    }
}

/// Decide how to read `file` (at its start, `size` bytes long): skip it
/// when the store has its content, continue it when the store has a prefix
/// of it that ends at a line end, else read it whole. Leaves the file
/// positioned at the offset to read from.
pub(crate) fn plan(conn: &Connection, file: &mut File, size: u64) -> Result<Plan> {
    let mut start = ContentDigest::default();
    let mut head = vec![0; HEAD_BYTES.min(size as usize)];
    file.read_exact(&mut head)?;
    start.update(&head);
    let head_hash = start.head_hash();
    let candidates: Vec<(String, u64)> = files::prefixes(conn, &start.first_line_hash(), size)?
        .into_iter()
        // A longer file shares our first 4 KiB or is not ours.
        .filter(|(_, len, head)| *len <= HEAD_BYTES as u64 || *head == head_hash)
        .map(|(fingerprint, len, _)| (fingerprint, len))
        .collect();
    // One pass from the start, comparing at each candidate's size; the
    // longest stored prefix wins.
    file.seek(SeekFrom::Start(0))?;
    let mut digest = ContentDigest::default();
    let mut best: Option<ContentDigest> = None;
    let mut buf = vec![0u8; 1 << 20];
    'candidates: for (fingerprint, len) in candidates {
        while digest.size() < len {
            let want = ((len - digest.size()) as usize).min(buf.len());
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                // The file shrank while we looked.
                break 'candidates;
            }
            digest.update(&buf[..n]);
        }
        if digest.fingerprint() == fingerprint {
            best = Some(digest.clone());
        }
    }
    let plan = match best {
        Some(done) if done.size() == size => Plan::Skip,
        // A prefix that ends inside a line cannot be continued: the line's
        // rest would be read as a line of its own.
        Some(done) if done.last == Some(b'\n') => Plan::Read {
            offset: done.size(),
            digest: done,
        },
        _ => Plan::whole(),
    };
    if let Plan::Read { offset, .. } = &plan {
        file.seek(SeekFrom::Start(*offset))?;
    }
    Ok(plan)
}

impl FileInfo {
    pub(crate) fn new(name: &str, meta: &Metadata, format: &'static str) -> FileInfo {
        let path = std::fs::canonicalize(name)
            .unwrap_or_else(|_| Path::new(name).to_path_buf())
            .display()
            .to_string();
        let mtime_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        let (dev, inode) = identity(meta);
        FileInfo {
            name: name.to_string(),
            path,
            dev,
            inode,
            mtime_ms,
            format,
        }
    }
}

/// Device and inode number: the same file given twice has the same pair.
#[cfg(unix)]
pub(crate) fn identity(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
pub(crate) fn identity(_meta: &Metadata) -> (u64, u64) {
    (0, 0)
}

/// A file being read: its content is hashed as it passes, up to a limit
/// (an access log is read to its last complete line). The digest is
/// shared, so that a reader built over the file (a decompressor) can be
/// dropped and the digest still taken.
pub(crate) struct HashedFile {
    file: File,
    digest: std::sync::Arc<std::sync::Mutex<ContentDigest>>,
    left: u64,
}

impl HashedFile {
    /// `file` positioned after the bytes `digest` holds.
    pub(crate) fn new(file: File, digest: ContentDigest) -> HashedFile {
        HashedFile {
            file,
            digest: std::sync::Arc::new(std::sync::Mutex::new(digest)),
            left: u64::MAX,
        }
    }

    /// Read no more than `bytes`.
    pub(crate) fn limit(mut self, bytes: u64) -> HashedFile {
        self.left = bytes;
        self
    }

    /// A handle on the digest, to take it once the reading is done.
    pub(crate) fn digest_handle(&self) -> DigestHandle {
        DigestHandle(self.digest.clone())
    }

    pub(crate) fn into_digest(self) -> ContentDigest {
        self.digest_handle().take()
    }
}

/// The digest of a [`HashedFile`] being read by someone else.
pub(crate) struct DigestHandle(std::sync::Arc<std::sync::Mutex<ContentDigest>>);

impl DigestHandle {
    pub(crate) fn take(&self) -> ContentDigest {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Read for HashedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.file.read(&mut buf[..want])?;
        self.left -= n as u64;
        self.digest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .update(&buf[..n]);
        Ok(n)
    }
}

/// A file read to its end, to be remembered.
pub(crate) struct FileRecord {
    pub(crate) info: FileInfo,
    pub(crate) digest: ContentDigest,
}

impl FileRecord {
    /// The row the store keeps of it.
    pub(crate) fn stored(&self) -> StoredFile {
        let d = &self.digest;
        StoredFile {
            fingerprint: d.fingerprint(),
            size: d.size(),
            lines: d.lines(),
            first_line: d.first_line_hash(),
            head: d.head_hash(),
            at: self.info.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(bytes: &[u8]) -> ContentDigest {
        let mut d = ContentDigest::default();
        d.update(bytes);
        d
    }

    /// Hashing in pieces gives the hash of the whole; the first line is
    /// the same for a file and the file it grew into.
    #[test]
    fn digests_do_not_depend_on_how_the_bytes_come() {
        let text: Vec<u8> = (0..10_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let mut pieces = ContentDigest::default();
        for chunk in text.chunks(777) {
            pieces.update(chunk);
        }
        let whole = digest_of(&text);
        assert_eq!(pieces.fingerprint(), whole.fingerprint());
        assert_eq!(pieces.head_hash(), whole.head_hash());
        assert_eq!(whole.lines(), 10_000);
        let prefix = digest_of(&text[..60]);
        assert_eq!(prefix.first_line_hash(), whole.first_line_hash());
        assert_ne!(prefix.fingerprint(), whole.fingerprint());
    }
}
