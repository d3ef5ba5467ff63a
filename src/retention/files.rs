//! The artifact files `retention --artifacts-days N` may remove: only the
//! names cronlytics gives its own files, each dated by its name, so that
//! nothing else an operator keeps in the directory is ever touched.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::artifacts::{EXPORTS, PROOFS, REJECTS, SNAPSHOTS, TRENDING};
use chrono::NaiveDate;

/// A cronlytics artifact and the date its name carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DatedFile {
    pub(crate) path: PathBuf,
    pub(crate) date: NaiveDate,
}

/// Parse `text` with `format` and accept it only if formatting the date
/// back gives the same text, so that `2026-1-5` or `20261301` never match.
fn exact_date(text: &str, format: &str) -> Option<NaiveDate> {
    let date = NaiveDate::parse_from_str(text, format).ok()?;
    (date.format(format).to_string() == text).then_some(date)
}

/// The date in the name of a file cronlytics writes into `folder` (a
/// folder of the artifacts directory, "" for the directory itself), or
/// `None` for any other name.
pub(crate) fn artifact_date(folder: &str, name: &str) -> Option<NaiveDate> {
    match folder {
        // sampling-guard: sampling-proof-YYYYMMDD.json
        PROOFS => exact_date(
            name.strip_prefix("sampling-proof-")?
                .strip_suffix(".json")?,
            "%Y%m%d",
        ),
        // snapshot: YYYY-MM-DD.json
        SNAPSHOTS => exact_date(name.strip_suffix(".json")?, "%Y-%m-%d"),
        // trending: YYYY-MM-DDTHH.json (the hour in UTC)
        TRENDING => {
            let (date, hour) = name.strip_suffix(".json")?.split_once('T')?;
            let hour_ok = hour.len() == 2 && hour.parse::<u8>().is_ok_and(|h| h < 24);
            exact_date(date, "%Y-%m-%d").filter(|_| hour_ok)
        }
        // ingest: ingest-YYYYMMDDTHHMMSSZ.ndjson (UTC), and -N before the
        // extension for a second run in the same second.
        REJECTS => {
            let stem = name.strip_prefix("ingest-")?.strip_suffix(".ndjson")?;
            let stamp = match stem.split_once('-') {
                Some((stamp, n))
                    if n.parse::<u32>().is_ok_and(|n| n >= 2) && !n.starts_with('0') =>
                {
                    stamp
                }
                Some(_) => return None,
                None => stem,
            };
            chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
                .ok()
                .filter(|t| t.format("%Y%m%dT%H%M%SZ").to_string() == stamp)
                .map(|t| t.date())
        }
        // export-metrics --output-dir: metrics-<start>-<end>.<format>,
        // dated by its last day.
        "" | EXPORTS => {
            let stem = ["csv", "json", "ndjson"]
                .iter()
                .find_map(|ext| name.strip_suffix(&format!(".{ext}")))?;
            let (start, end) = stem.strip_prefix("metrics-")?.split_once('-')?;
            // A breakdown's, the goals' or the gauges' export has a tag.
            let (end, tag) = end.split_at_checked(8)?;
            let tagged = ["-goals", "-gauges"].contains(&tag)
                || tag
                    .strip_prefix("-breakdown-")
                    .is_some_and(|n| !n.is_empty());
            if !(tag.is_empty() || tagged) {
                return None;
            }
            exact_date(start, "%Y%m%d")?;
            exact_date(end, "%Y%m%d")
        }
        _ => None,
    }
}

/// The folders of the artifacts directory that hold cronlytics' files.
const FOLDERS: [&str; 6] = ["", EXPORTS, PROOFS, SNAPSHOTS, TRENDING, REJECTS];

/// Every cronlytics artifact under `artifacts`, and every export in
/// `export_dirs` (where `export-metrics --output-dir` writes outside the
/// artifacts), dated before `before`, sorted by path. Missing folders are
/// skipped; links and directories are never candidates.
pub(crate) fn expired_artifacts(
    artifacts: &Path,
    export_dirs: &[PathBuf],
    before: NaiveDate,
) -> Result<Vec<DatedFile>> {
    let mut found = Vec::new();
    let places = FOLDERS
        .iter()
        .map(|folder| (artifacts.join(folder), *folder))
        .chain(export_dirs.iter().map(|dir| (dir.clone(), "exports")));
    for (dir, folder) in places {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("cannot list {}", dir.display()));
            }
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let Some(date) = entry
                .file_name()
                .to_str()
                .and_then(|n| artifact_date(folder, n))
            else {
                continue;
            };
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && date < before {
                found.push(DatedFile {
                    path: entry.path(),
                    date,
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<NaiveDate> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn only_cronlytics_names_are_dated() {
        let cases = [
            (
                "sampling-proofs",
                "sampling-proof-20260101.json",
                d("2026-01-01"),
            ),
            ("sampling-proofs", "sampling-proof-20261301.json", None),
            ("sampling-proofs", "sampling-proof-20260101.json.bak", None),
            ("snapshots", "2026-01-02.json", d("2026-01-02")),
            ("snapshots", "2026-1-2.json", None),
            ("snapshots", "notes.json", None),
            ("trending", "2026-01-03T07.json", d("2026-01-03")),
            ("trending", "2026-01-03T24.json", None),
            ("trending", "2026-01-03T7.json", None),
            ("rejects", "ingest-20260104T101500Z.ndjson", d("2026-01-04")),
            ("rejects", "mine-20260104T101500Z.ndjson", None),
            (
                "rejects",
                "ingest-20260104T101500Z-2.ndjson",
                d("2026-01-04"),
            ),
            (
                "rejects",
                "ingest-20260104T101500Z-17.ndjson",
                d("2026-01-04"),
            ),
            ("rejects", "ingest-20260104T101500Z-1.ndjson", None),
            ("rejects", "ingest-20260104T101500Z-02.ndjson", None),
            ("rejects", "ingest-20260104T101500Z-x.ndjson", None),
            ("", "metrics-20260101-20260107.csv", d("2026-01-07")),
            (
                "exports",
                "metrics-20260101-20260107.ndjson",
                d("2026-01-07"),
            ),
            ("", "metrics-20260101-20260107.xlsx", None),
            ("", "metrics-20260101-20260107-goals.csv", d("2026-01-07")),
            ("", "metrics-20260101-20260107-gauges.json", d("2026-01-07")),
            (
                "exports",
                "metrics-20260101-20260107-breakdown-plan_x.csv",
                d("2026-01-07"),
            ),
            ("", "metrics-20260101-20260107-breakdown-.csv", None),
            ("", "metrics-20260101-20260107-notes.csv", None),
            ("", "metrics-20260101-202601070.csv", None),
            ("", "2026-01-02.json", None),
            ("elsewhere", "metrics-20260101-20260107.csv", None),
        ];
        for (folder, name, want) in cases {
            assert_eq!(artifact_date(folder, name), want, "{folder}/{name}");
        }
    }
}
