//! Files a job leaves behind: their names (contract, "Artifacts"), built
//! here once for the jobs that write them, health-check that reads them and
//! retention that removes them; and how they are written, so that no reader
//! ever sees half of one: into a temporary file in the same directory,
//! flushed, then renamed.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use crate::time::compact_date;

use anyhow::{Context, Result};

/// The artifact folders, by job.
pub(crate) const PROOFS: &str = "sampling-proofs";
pub(crate) const SNAPSHOTS: &str = "snapshots";
pub(crate) const TRENDING: &str = "trending";
pub(crate) const REJECTS: &str = "rejects";
pub(crate) const EXPORTS: &str = "exports";

/// `sampling-proofs/sampling-proof-YYYYMMDD.json` (the checked date).
pub(crate) fn proof_path(artifacts: &Path, date: NaiveDate) -> PathBuf {
    artifacts
        .join(PROOFS)
        .join(format!("sampling-proof-{}.json", compact_date(date)))
}

/// `snapshots/YYYY-MM-DD.json` (the captured date).
pub(crate) fn snapshot_path(artifacts: &Path, date: NaiveDate) -> PathBuf {
    artifacts.join(SNAPSHOTS).join(format!("{date}.json"))
}

/// `trending/YYYY-MM-DDTHH.json` (the hour of the run, UTC).
pub(crate) fn trending_path(artifacts: &Path, now: DateTime<Utc>) -> PathBuf {
    artifacts
        .join(TRENDING)
        .join(format!("{}.json", now.format("%Y-%m-%dT%H")))
}

/// `rejects/ingest-<UTC timestamp>.ndjson`, ingest's default rejects file.
pub(crate) fn rejects_path(artifacts: &Path, now: DateTime<Utc>) -> PathBuf {
    artifacts
        .join(REJECTS)
        .join(format!("ingest-{}.ndjson", now.format("%Y%m%dT%H%M%SZ")))
}

/// `metrics-<start>-<end>.<ext>` with compact dates, in `--output-dir`.
pub(crate) fn export_name(
    start: NaiveDate,
    end: NaiveDate,
    tag: Option<&str>,
    ext: &str,
) -> String {
    let tag = tag.map(|t| format!("-{t}")).unwrap_or_default();
    format!(
        "metrics-{}-{}{tag}.{ext}",
        compact_date(start),
        compact_date(end)
    )
}

/// Write `path` atomically with whatever `fill` writes; creates the directory.
pub fn write_atomic<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> Result<()>,
{
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    // tempfile creates 0600; an artifact is for other readers too (a
    // monitoring user, node_exporter), like any file the job would create.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    {
        let mut out = BufWriter::new(tmp.as_file());
        fill(&mut out).with_context(|| format!("cannot write {}", path.display()))?;
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot move the new file into place at {}", path.display()))?;
    Ok(())
}

/// Write a value as pretty JSON (with a final newline) atomically.
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        w.write_all(b"\n")?;
        Ok(())
    })
}
