//! The key entries of sessions and visitors, outside SQLite: how ingest
//! finds the row of a session or visitor key it has not cached.
//!
//! An entry is `(mix, id)`: 64 well-spread bits of `(table, site_id,
//! key_hash)` and the row's id, 16 bytes. Entries live in *runs*, files
//! sorted by entry under `<db>.keys/`, each holding the rows of one id range
//! `(from, upto]` of one table. Ingest writes a run for each flush of its
//! new keys (a sort and one sequential write, where SQLite's index took a
//! root-to-leaf insert per entry and rewrote most of its pages each flush:
//! a quarter of a large load's time) and merges runs of similar size, up to
//! [`MAX_MERGED`] entries, so that a lookup probes few runs.
//!
//! The rows are the truth, the runs only an index of them: a run is
//! written to a temporary name and renamed; one that fails its checksum,
//! belongs to another store (`meta.store_id`) or lies wholly below the
//! table's lowest id (retention deleted its rows) is removed when the runs
//! are opened; the rows above the runs' contiguous coverage from id 0 are
//! read from the table and hashed again by the next ingest (`keyflush`).
//! Entries of rows deleted since are harmless: a lookup reads the row by
//! id and compares the key.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};

/// Which table a run indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyTable {
    Sessions = 0,
    Visitors = 1,
}

impl KeyTable {
    const ALL: [KeyTable; 2] = [KeyTable::Sessions, KeyTable::Visitors];

    fn name(self) -> &'static str {
        match self {
            KeyTable::Sessions => "sessions",
            KeyTable::Visitors => "visitors",
        }
    }
}

/// The entry's search key for a key of `site` whose FNV-1a hash is
/// `key_hash`: the three mixed into 64 well-spread bits (the hash alone
/// spreads its high bits poorly for short keys). Ingest's key filter uses
/// the same bits.
pub(crate) fn mix(table: KeyTable, site: i64, key_hash: i64) -> u64 {
    let mut h = (key_hash as u64)
        ^ (site as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (table as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    // splitmix64's finaliser.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

const MAGIC: &[u8; 8] = b"CRLYKEY1";
const HEADER: usize = 64;
const ENTRY: usize = 16;
/// Entries per block of the in-memory index (one 4 KiB read per lookup).
const BLOCK: usize = 256;
/// Runs are merged up to this many entries (64 MB): beyond it, a run stays
/// as it is until retention has deleted all its rows.
const MAX_MERGED: u64 = 4 << 20;

/// One run file, open for lookups.
struct Run {
    path: PathBuf,
    file: File,
    from: i64,
    upto: i64,
    count: u64,
    /// The first mix of each block of [`BLOCK`] entries.
    index: Vec<u64>,
}

impl Run {
    /// The ids of the entries whose mix is `mix`.
    fn find(&self, mix: u64, ids: &mut Vec<i64>) -> Result<()> {
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

/// The runs of a store, shared by ingest's writer (which adds them) and
/// resolver (which looks keys up in them).
pub(crate) struct KeyRuns {
    dir: PathBuf,
    store_id: i64,
    /// Per table, in id order.
    runs: RwLock<[Vec<Arc<Run>>; 2]>,
    /// Per table, the id below the lowest row's (when opened): coverage
    /// starts there.
    floor: [i64; 2],
}

/// The directory of the runs of the store at `db`: `<db>.keys`.
pub(crate) fn dir_of(db: &Path) -> PathBuf {
    let mut dir = db.as_os_str().to_owned();
    dir.push(".keys");
    PathBuf::from(dir)
}

impl KeyRuns {
    /// Open the runs of the store at `db` (whose `meta.store_id` is
    /// `store_id`), removing those that fail their checksum, belong to
    /// another store or hold only ids below `lowest` (per table).
    pub(crate) fn open(db: &Path, store_id: i64, lowest: [i64; 2]) -> Result<KeyRuns> {
        let dir = dir_of(db);
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the key directory {}", dir.display()))?;
        let mut runs: [Vec<Arc<Run>>; 2] = Default::default();
        let listing =
            fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for item in listing {
            let path = item?.path();
            if path.extension().is_none_or(|e| e != "run") {
                // A temporary file a killed run left behind.
                let _ = fs::remove_file(&path);
                continue;
            }
            match load(&path, store_id) {
                Some((table, run)) => runs[table as usize].push(Arc::new(run)),
                None => fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?,
            }
        }
        for (list, lowest) in runs.iter_mut().zip(lowest) {
            list.sort_by_key(|r| (r.from, r.upto));
            // Runs wholly below the lowest row's id hold only entries of
            // deleted rows, except the newest: its end keeps the ids that
            // ingest gives above every id given before.
            while list.len() > 1 && list[0].upto < lowest {
                let gone = list.remove(0);
                fs::remove_file(&gone.path)
                    .with_context(|| format!("cannot remove {}", gone.path.display()))?;
            }
        }
        Ok(KeyRuns {
            dir,
            store_id,
            runs: RwLock::new(runs),
            floor: lowest.map(|id| (id - 1).max(0)),
        })
    }

    /// The highest id up to which the runs cover `table` without a gap
    /// from its lowest row (the rows above need their entries written).
    pub(crate) fn covered(&self, table: KeyTable) -> i64 {
        let runs = self.runs.read().unwrap_or_else(|e| e.into_inner());
        let mut upto = self.floor[table as usize];
        for run in &runs[table as usize] {
            if run.from > upto {
                break;
            }
            upto = upto.max(run.upto);
        }
        upto
    }

    /// The ids of `table`'s entries with `mix`, newest runs first.
    pub(crate) fn find(&self, table: KeyTable, mix: u64) -> Result<Vec<i64>> {
        let runs = self.runs.read().unwrap_or_else(|e| e.into_inner())[table as usize].clone();
        let mut ids = Vec::new();
        for run in runs.iter().rev() {
            run.find(mix, &mut ids)?;
        }
        ids.dedup();
        Ok(ids)
    }

    /// Every entry's table and mix (for ingest's key filter).
    pub(crate) fn for_each(&self, mut f: impl FnMut(KeyTable, u64)) -> Result<()> {
        let runs = self.runs.read().unwrap_or_else(|e| e.into_inner()).clone();
        for table in KeyTable::ALL {
            for run in &runs[table as usize] {
                let mut reader = entries(&run.path)?;
                for _ in 0..run.count {
                    f(table, next_entry(&mut reader, &run.path)?.0);
                }
            }
        }
        Ok(())
    }

    /// Add the entries `(mix, id)` of `table`'s rows `(from, upto]` as a
    /// run, then merge the newest runs while the newer is at least half the
    /// older's size (up to [`MAX_MERGED`] entries).
    pub(crate) fn add(
        &self,
        table: KeyTable,
        from: i64,
        upto: i64,
        mut entries: Vec<(u64, i64)>,
    ) -> Result<()> {
        if upto <= from {
            return Ok(());
        }
        entries.sort_unstable();
        let count = entries.len() as u64;
        let run = self.write(table, from, upto, count, entries.into_iter().map(Ok))?;
        {
            let mut runs = self.runs.write().unwrap_or_else(|e| e.into_inner());
            let list = &mut runs[table as usize];
            list.push(Arc::new(run));
            list.sort_by_key(|r| (r.from, r.upto));
        }
        loop {
            let (older, newer) = {
                let runs = self.runs.read().unwrap_or_else(|e| e.into_inner());
                let list = &runs[table as usize];
                match list.as_slice() {
                    [.., a, b]
                        if b.count * 2 >= a.count
                            && a.count + b.count <= MAX_MERGED
                            && b.from <= a.upto =>
                    {
                        (a.clone(), b.clone())
                    }
                    _ => break,
                }
            };
            let merged = self.merge(table, &older, &newer)?;
            {
                let mut runs = self.runs.write().unwrap_or_else(|e| e.into_inner());
                let list = &mut runs[table as usize];
                list.retain(|r| !Arc::ptr_eq(r, &older) && !Arc::ptr_eq(r, &newer));
                list.push(Arc::new(merged));
                list.sort_by_key(|r| (r.from, r.upto));
            }
            // Lookups in progress keep the files they opened.
            for gone in [&older, &newer] {
                fs::remove_file(&gone.path)
                    .with_context(|| format!("cannot remove {}", gone.path.display()))?;
            }
        }
        Ok(())
    }

    /// Merge two runs into one (equal entries once).
    fn merge(&self, table: KeyTable, a: &Run, b: &Run) -> Result<Run> {
        let (mut ra, mut rb) = (entries(&a.path)?, entries(&b.path)?);
        let (mut na, mut nb) = (a.count, b.count);
        let mut ea = (na > 0).then(|| next_entry(&mut ra, &a.path)).transpose()?;
        let mut eb = (nb > 0).then(|| next_entry(&mut rb, &b.path)).transpose()?;
        na = na.saturating_sub(1);
        nb = nb.saturating_sub(1);
        let mut out = Vec::with_capacity((a.count + b.count) as usize);
        while ea.is_some() || eb.is_some() {
            let take_a = match (ea, eb) {
                (Some(x), Some(y)) => x <= y,
                (Some(_), None) => true,
                _ => false,
            };
            let e = if take_a { ea } else { eb }.expect("one side has an entry");
            if out.last() != Some(&e) {
                out.push(e);
            }
            if take_a {
                ea = (na > 0).then(|| next_entry(&mut ra, &a.path)).transpose()?;
                na = na.saturating_sub(1);
            } else {
                eb = (nb > 0).then(|| next_entry(&mut rb, &b.path)).transpose()?;
                nb = nb.saturating_sub(1);
            }
        }
        let count = out.len() as u64;
        let (from, upto) = (a.from.min(b.from), a.upto.max(b.upto));
        self.write(table, from, upto, count, out.into_iter().map(Ok))
    }

    /// Write a run of `count` sorted entries under a temporary name, then
    /// rename it into place; open it for lookups.
    fn write(
        &self,
        table: KeyTable,
        from: i64,
        upto: i64,
        count: u64,
        sorted: impl Iterator<Item = Result<(u64, i64)>>,
    ) -> Result<Run> {
        let name = format!("{}-{from:020}-{upto:020}", table.name());
        let path = self.dir.join(format!("{name}.run"));
        let temp = self.dir.join(format!("{name}.tmp"));
        let fail = || format!("cannot write the key run {}", temp.display());
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&temp).with_context(fail)?);
        out.write_all(&[0u8; HEADER]).with_context(fail)?;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut index = Vec::with_capacity(count.div_ceil(BLOCK as u64) as usize);
        let mut written = 0u64;
        for entry in sorted {
            let (m, id) = entry?;
            if written.is_multiple_of(BLOCK as u64) {
                index.push(m);
            }
            let mut e = [0u8; ENTRY];
            e[..8].copy_from_slice(&m.to_le_bytes());
            e[8..].copy_from_slice(&id.to_le_bytes());
            hasher.update(&e);
            out.write_all(&e).with_context(fail)?;
            written += 1;
        }
        anyhow::ensure!(
            written == count,
            "a key run of {count} entries had {written}"
        );
        let header = header(table, self.store_id, from, upto, count, hasher.digest());
        let mut file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(fail)?;
        file.write_all_at(&header, 0).with_context(fail)?;
        file.flush().with_context(fail)?;
        fs::rename(&temp, &path).with_context(fail)?;
        Ok(Run {
            file: File::open(&path).with_context(fail)?,
            path,
            from,
            upto,
            count,
            index,
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

/// A reader of a run's entries (past its header).
fn entries(path: &Path) -> Result<BufReader<File>> {
    let mut reader = BufReader::with_capacity(
        1 << 20,
        File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
    );
    let mut skip = [0u8; HEADER];
    reader
        .read_exact(&mut skip)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(reader)
}

fn next_entry(reader: &mut impl Read, path: &Path) -> Result<(u64, i64)> {
    let mut e = [0u8; ENTRY];
    reader
        .read_exact(&mut e)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(decode(&e))
}

/// A run file checked whole: its header, size, order and checksum; `None`
/// when anything is wrong or it belongs to another store.
fn load(path: &Path, store_id: i64) -> Option<(KeyTable, Run)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(runs: &KeyRuns, mix: u64) -> Vec<i64> {
        let mut ids = runs.find(KeyTable::Sessions, mix).unwrap();
        ids.sort();
        ids
    }

    /// Runs are found again after a reopen, merged when of similar size,
    /// and their coverage has no gap; a damaged run, another store's run
    /// and a run below the lowest id are removed on opening.
    #[test]
    fn runs_find_merge_reopen_and_drop_what_they_must() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let runs = KeyRuns::open(&db, 7, [0, 0]).unwrap();
        assert_eq!(runs.covered(KeyTable::Sessions), 0);
        // 600 entries, mixes repeating across block boundaries.
        let first: Vec<(u64, i64)> = (1..=600).map(|id| ((id % 300) as u64, id)).collect();
        runs.add(KeyTable::Sessions, 0, 600, first).unwrap();
        assert_eq!(ids(&runs, 5), [5, 305]);
        assert_eq!(ids(&runs, 0), [300, 600]);
        assert_eq!(ids(&runs, 1000), Vec::<i64>::new());
        // A newer run of similar size is merged with it.
        let second: Vec<(u64, i64)> = (601..=1000).map(|id| (5, id)).collect();
        runs.add(KeyTable::Sessions, 600, 1000, second).unwrap();
        assert_eq!(runs.runs.read().unwrap()[0].len(), 1);
        assert_eq!(ids(&runs, 5).len(), 402);
        assert_eq!(runs.covered(KeyTable::Sessions), 1000);
        // A small run stays apart; a visitors' run is another list.
        runs.add(KeyTable::Sessions, 1000, 1001, vec![(9999, 1001)])
            .unwrap();
        runs.add(KeyTable::Visitors, 0, 3, vec![(9, 3)]).unwrap();
        assert_eq!(runs.runs.read().unwrap()[0].len(), 2);
        assert_eq!(runs.find(KeyTable::Visitors, 9).unwrap(), [3]);
        let mut all = 0;
        runs.for_each(|_, _| all += 1).unwrap();
        assert_eq!(all, 1000 + 1 + 1);
        drop(runs);

        let again = KeyRuns::open(&db, 7, [0, 0]).unwrap();
        assert_eq!(again.covered(KeyTable::Sessions), 1001);
        assert_eq!(ids(&again, 9999), [1001]);
        drop(again);
        // Another store's runs are not ours.
        assert_eq!(
            KeyRuns::open(&db, 8, [0, 0])
                .unwrap()
                .covered(KeyTable::Sessions),
            0
        );
        assert_eq!(fs::read_dir(dir_of(&db)).unwrap().count(), 0);

        let runs = KeyRuns::open(&db, 7, [0, 0]).unwrap();
        runs.add(KeyTable::Sessions, 0, 10, vec![(1, 10)]).unwrap();
        runs.add(KeyTable::Sessions, 20, 30, vec![(2, 30)]).unwrap();
        // A gap: covered stops before it.
        assert_eq!(runs.covered(KeyTable::Sessions), 10);
        drop(runs);
        // Rows from id 5 on, runs from 10: the rows 5-10 need entries.
        fs::rename(
            dir_of(&db).join(format!("sessions-{:020}-{:020}.run", 0, 10)),
            dir_of(&db).join("elsewhere"),
        )
        .unwrap();
        let runs = KeyRuns::open(&db, 7, [5, 0]).unwrap();
        assert_eq!(runs.covered(KeyTable::Sessions), 4);
        drop(runs);
        let runs = KeyRuns::open(&db, 7, [0, 0]).unwrap();
        runs.add(KeyTable::Sessions, 0, 10, vec![(1, 10)]).unwrap();
        drop(runs);
        // A damaged run is dropped.
        let path = dir_of(&db).join(format!("sessions-{:020}-{:020}.run", 20, 30));
        let mut bytes = fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        fs::write(&path, bytes).unwrap();
        let runs = KeyRuns::open(&db, 7, [0, 0]).unwrap();
        assert_eq!(runs.runs.read().unwrap()[0].len(), 1);
        drop(runs);
        fs::remove_dir_all(dir_of(&db)).unwrap();
        let runs = KeyRuns::open(&db, 7, [0, 0]).unwrap();
        let ten: Vec<(u64, i64)> = (1..=10).map(|id| (id as u64, id)).collect();
        runs.add(KeyTable::Sessions, 0, 10, ten).unwrap();
        runs.add(KeyTable::Sessions, 10, 20, vec![(30, 20)])
            .unwrap();
        runs.add(KeyTable::Sessions, 20, 30, vec![(40, 30)])
            .unwrap();
        assert_eq!(runs.runs.read().unwrap()[0].len(), 2);
        drop(runs);
        // Runs wholly below the lowest id go, but for the newest.
        let runs = KeyRuns::open(&db, 7, [31, 0]).unwrap();
        assert_eq!(runs.covered(KeyTable::Sessions), 30);
        assert_eq!(ids(&runs, 40), [30]);
        assert_eq!(ids(&runs, 1), Vec::<i64>::new());
    }
}
