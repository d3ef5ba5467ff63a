//! One lock per job, so that two runs of the same job never overlap.
//!
//! The lock is an advisory file lock (`File::try_lock`) on
//! `<db>.locks/<job>.lock`. The kernel drops it when the process dies, so a
//! killed run never blocks the next one; the pid written inside only serves
//! the message of the run that finds the lock taken.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A held job lock; released on drop.
#[derive(Debug)]
pub(crate) struct JobLock {
    file: File,
}

/// The result of trying to take a lock.
#[derive(Debug)]
pub(crate) enum LockAttempt {
    Acquired(JobLock),
    /// Another run holds it; `holder` is what it wrote (its pid and start).
    Busy {
        path: PathBuf,
        holder: String,
    },
}

/// The directory of the lock files of the store at `db`: `<db>.locks`.
pub(crate) fn lock_dir(db: &Path) -> PathBuf {
    let mut dir = db.as_os_str().to_owned();
    dir.push(".locks");
    PathBuf::from(dir)
}

/// The lock file of `job` for the store at `db`.
pub(crate) fn lock_path(db: &Path, job: &str) -> PathBuf {
    lock_dir(db).join(format!("{job}.lock"))
}

/// Try to take the lock of `job` without waiting.
pub(crate) fn try_lock(db: &Path, job: &str, started: &str) -> Result<LockAttempt> {
    let path = lock_path(db, job);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the lock directory {}", dir.display()))?;
    }
    // Not truncated on open: the holder's pid must stay readable.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            write!(file, "pid {} since {started}", std::process::id())?;
            file.flush()?;
            Ok(LockAttempt::Acquired(JobLock { file }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = if holder.trim().is_empty() {
                "an unknown process".to_string()
            } else {
                holder.trim().to_string()
            };
            Ok(LockAttempt::Busy { path, holder })
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// The lock that `ingest` holds for its whole run and `retention` while it
/// deletes sessions and visitors: ingest keeps the ids of sessions and
/// visitors in memory and adds rows that refer to them in transactions
/// retention cannot see, so retention must not delete such a row under it
/// (an orphan, and later a second id for the same visitor).
pub(crate) const KEYS_LOCK: &str = "keys";

/// Take the lock `name`, waiting up to `max_wait` for its holder; `waiting`
/// is called once with the holder when the lock is taken at first try.
/// `None` when the wait ran out.
pub(crate) fn wait_for(
    db: &Path,
    name: &str,
    started: &str,
    max_wait: std::time::Duration,
    waiting: impl FnOnce(&str),
) -> Result<Option<JobLock>> {
    let deadline = std::time::Instant::now() + max_wait;
    let mut waiting = Some(waiting);
    loop {
        match try_lock(db, name, started)? {
            LockAttempt::Acquired(lock) => return Ok(Some(lock)),
            LockAttempt::Busy { holder, .. } => {
                if let Some(report) = waiting.take() {
                    report(&holder);
                }
                if std::time::Instant::now() >= deadline {
                    return Ok(None);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_busy_and_names_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let first = try_lock(&db, "aggregate", "now").unwrap();
        assert!(matches!(first, LockAttempt::Acquired(_)));
        match try_lock(&db, "aggregate", "now").unwrap() {
            LockAttempt::Busy { holder, .. } => {
                assert!(holder.contains(&std::process::id().to_string()))
            }
            LockAttempt::Acquired(_) => panic!("lock taken twice"),
        }
        assert!(matches!(
            try_lock(&db, "ingest", "now").unwrap(),
            LockAttempt::Acquired(_)
        ));
        drop(first);
        assert!(matches!(
            try_lock(&db, "aggregate", "now").unwrap(),
            LockAttempt::Acquired(_)
        ));
    }
}
