//! Following a log through its rotation. The crontab line names the live
//! file (`ingest /var/log/nginx/access.log`); when the file under that name
//! is no longer the one the last run read (logrotate renamed it, or
//! copied and truncated it, or a new file replaced it), the lines written
//! between the last run and the rotation are in the rotated file next to
//! it (`access.log.1`, `access.log-20261203`, compressed or not). That file
//! is read first: from where the last run stopped when it is the same
//! content grown (`inputs::plan`), else whole, its lines already stored
//! being duplicates by their ids.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::Connection;

use crate::ingest::inputs;
use crate::store::logs;

/// The rotated predecessor of the log at `path` (as stored: absolute) to
/// read before it, if the file there is not the one last read: another
/// file (renamed away, replaced), or the same one whose content no longer
/// starts with what was read (`continues` false: truncated in place).
pub(crate) fn predecessor(
    conn: &Connection,
    path: &str,
    meta: &Metadata,
    continues: bool,
) -> Result<Option<PathBuf>> {
    let Some((dev, inode, _size, mtime_ms)) = logs::last_read(conn, path)? else {
        return Ok(None);
    };
    if inputs::identity(meta) == (dev, inode) && continues {
        // The same file, grown or not.
        return Ok(None);
    }
    let path = Path::new(path);
    let (Some(dir), Some(base)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(None);
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut renamed = None;
    let mut rotated_since: Option<(i64, PathBuf)> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(base) else {
            continue;
        };
        if !(rest.starts_with('.') || rest.starts_with('-')) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        if inputs::identity(&meta) == (dev, inode) {
            renamed = Some(entry.path());
            break;
        }
        let modified =
            inputs::FileInfo::new(&entry.path().display().to_string(), &meta, "").mtime_ms;
        if modified >= mtime_ms && rotated_since.as_ref().is_none_or(|(m, _)| modified < *m) {
            // The oldest file written since the last read: the one
            // rotated out of the way right after it.
            rotated_since = Some((modified, entry.path()));
        }
    }
    Ok(renamed.or(rotated_since.map(|(_, p)| p)))
}
