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
//! are opened; the rows above the runs' contiguous coverage from the
//! table's lowest row are read from the table and hashed again by the next
//! ingest (`keyflush`).
//! Entries of rows deleted since are harmless: a lookup reads the row by
//! id and compares the key.

mod file;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};

use file::{Entries, Run, RunWriter, load};

/// Which table a run indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyTable {
    Sessions = 0,
    Visitors = 1,
}

impl KeyTable {
    pub(super) fn name(self) -> &'static str {
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

/// Runs are merged up to this many entries (64 MB): beyond it, a run stays
/// as it is until retention has deleted all its rows.
const MAX_MERGED: u64 = 4 << 20;

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
            // A crash between a merge's rename and its removal of the two
            // runs merged leaves them beside the merged one, which holds
            // all their entries.
            list.sort_by_key(|r| (r.from, std::cmp::Reverse(r.upto)));
            let mut kept: Vec<Arc<Run>> = Vec::with_capacity(list.len());
            for run in list.drain(..) {
                if kept
                    .iter()
                    .any(|k| k.from <= run.from && run.upto <= k.upto)
                {
                    fs::remove_file(&run.path)
                        .with_context(|| format!("cannot remove {}", run.path.display()))?;
                } else {
                    kept.push(run);
                }
            }
            *list = kept;
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
        // A merge cut short by a crash can leave an entry in two runs.
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Every entry's mix (for ingest's key filter).
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64)) -> Result<()> {
        let runs = self.runs.read().unwrap_or_else(|e| e.into_inner()).clone();
        for run in runs.iter().flatten() {
            let mut entries = Entries::open(run)?;
            while let Some((mix, _)) = entries.next()? {
                f(mix);
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
        let mut writer = RunWriter::create(&self.dir, self.store_id, table, (from, upto))?;
        for entry in entries {
            writer.push(entry)?;
        }
        let run = writer.finish()?;
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
            // Lookups in progress keep the files they opened. (A merged run
            // has the name of neither: its span is wider than each.)
            for gone in [&older, &newer] {
                fs::remove_file(&gone.path)
                    .with_context(|| format!("cannot remove {}", gone.path.display()))?;
            }
        }
        Ok(())
    }

    /// Merge two runs into one (equal entries once), streaming.
    fn merge(&self, table: KeyTable, a: &Run, b: &Run) -> Result<Run> {
        let span = (a.from.min(b.from), a.upto.max(b.upto));
        let mut out = RunWriter::create(&self.dir, self.store_id, table, span)?;
        let (mut sa, mut sb) = (Entries::open(a)?, Entries::open(b)?);
        let (mut ea, mut eb) = (sa.next()?, sb.next()?);
        let mut last = None;
        loop {
            let e = match (ea, eb) {
                (Some(x), Some(y)) if x <= y => {
                    ea = sa.next()?;
                    x
                }
                (_, Some(y)) => {
                    eb = sb.next()?;
                    y
                }
                (Some(x), None) => {
                    ea = sa.next()?;
                    x
                }
                (None, None) => break,
            };
            if last != Some(e) {
                out.push(e)?;
                last = Some(e);
            }
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(runs: &KeyRuns, mix: u64) -> Vec<i64> {
        let mut ids = runs.find(KeyTable::Sessions, mix).unwrap();
        ids.sort();
        ids
    }

    /// A crash between a merge's rename and its removals leaves the two
    /// runs beside the merged one: opening keeps the merged run only.
    #[test]
    fn runs_a_merge_left_behind_are_removed_on_opening() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        fs::create_dir_all(dir_of(&db)).unwrap();
        let t = KeyTable::Sessions;
        for (span, entries) in [
            ((0, 10), vec![(1, 5)]),
            ((10, 20), vec![(2, 15)]),
            ((0, 20), vec![(1, 5), (2, 15)]),
        ] {
            let mut w = RunWriter::create(&dir_of(&db), 7, t, span).unwrap();
            for e in entries {
                w.push(e).unwrap();
            }
            w.finish().unwrap();
        }
        let runs = KeyRuns::open(&db, 7, [0, 0]).unwrap();
        assert_eq!(fs::read_dir(dir_of(&db)).unwrap().count(), 1);
        assert_eq!((ids(&runs, 1), ids(&runs, 2)), (vec![5], vec![15]));
        assert_eq!(runs.covered(t), 20);
        runs.add(t, 20, 30, vec![(3, 25)]).unwrap();
        assert_eq!(fs::read_dir(dir_of(&db)).unwrap().count(), 1);
        assert_eq!(ids(&runs, 3), [25]);
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
        runs.for_each(|_| all += 1).unwrap();
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
