//! The rejects file: every line that broke a rule, as one NDJSON object
//! `{"file", "line", "reason", "raw"}`, so that nothing given is lost.
//!
//! It is written to a temporary file beside its final path and renamed into
//! place when the run ends; a run without rejects leaves no file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tempfile::NamedTempFile;

/// One rejected line.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Reject {
    pub(crate) file: String,
    pub(crate) line: u64,
    pub(crate) reason: String,
    pub(crate) raw: String,
}

impl Reject {
    pub(crate) fn new(file: &str, line: u64, reason: String, raw: &str) -> Reject {
        Reject {
            file: file.to_string(),
            line,
            reason,
            raw: raw.to_string(),
        }
    }
}

/// `<artifacts>/rejects/ingest-<UTC timestamp>.ndjson`.
pub(crate) fn default_path(artifacts: &Path, now: DateTime<Utc>) -> PathBuf {
    crate::artifacts::rejects_path(artifacts, now)
}

/// The rejects of one run, opened at the first reject.
pub(crate) struct RejectsFile {
    path: PathBuf,
    out: Option<BufWriter<NamedTempFile>>,
}

impl RejectsFile {
    pub(crate) fn new(path: PathBuf) -> RejectsFile {
        RejectsFile { path, out: None }
    }

    pub(crate) fn write(&mut self, reject: &Reject) -> Result<()> {
        if self.out.is_none() {
            let dir = self
                .path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            std::fs::create_dir_all(&dir).with_context(|| {
                format!("cannot create the rejects directory {}", dir.display())
            })?;
            let tmp = tempfile::Builder::new()
                .prefix(".ingest-rejects.")
                .tempfile_in(&dir)
                .with_context(|| format!("cannot create a rejects file in {}", dir.display()))?;
            self.out = Some(BufWriter::new(tmp));
        }
        let out = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *out, reject)?;
        out.write_all(b"\n")
            .with_context(|| format!("cannot write the rejects file {}", self.path.display()))?;
        Ok(())
    }

    /// Push what is written so far to the (temporary) file.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.flush().with_context(|| {
                format!("cannot write the rejects file {}", self.path.display())
            })?;
        }
        Ok(())
    }

    /// Move the file into place; returns its path when there were rejects.
    /// An existing file of that name (a run in the same second) is kept:
    /// the new one gets a numbered name.
    pub(crate) fn finish(mut self) -> Result<Option<PathBuf>> {
        let Some(out) = self.out.take() else {
            return Ok(None);
        };
        let tmp = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write the rejects file {}", self.path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = tmp
                .as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644));
        }
        let mut target = self.path.clone();
        let mut n = 1;
        while target.exists() {
            n += 1;
            let stem = self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            target = self.path.with_file_name(format!("{stem}-{n}.ndjson"));
        }
        tmp.persist_noclobber(&target)
            .map_err(|e| e.error)
            .with_context(|| {
                format!(
                    "cannot move the rejects file into place at {}",
                    target.display()
                )
            })?;
        Ok(Some(target))
    }
}
