//! The store's integrity check. `PRAGMA quick_check` reads every page of
//! the file, so its cost grows with the store (about 4 ms per MB on the
//! demo machine: a second for the demo's store, minutes for a store of many
//! GB). A monitor polling every few minutes must not pay that each time, so
//! a passing result is kept for `[health] quick_check_every_hours` in
//! `<db>.locks/health-quick-check.json` (next to the job locks, which
//! health-check writes anyway); a failing one is never kept, so a damaged
//! store stays critical until a check passes again. A check that is due
//! runs under a time budget and is interrupted past it, rather than making
//! the whole run time out.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::input::CheckInput;
use super::report::{Check, human_duration};
use crate::job::Severity;
use crate::store::Store;
use crate::time::rfc3339_ms;

/// The last passing quick_check, as kept between runs.
#[derive(Debug, Serialize, Deserialize)]
struct LastPass {
    passed_at_ms: i64,
    duration_ms: u64,
}

fn state_path(db: &Path) -> PathBuf {
    crate::job::lock::lock_dir(db).join("health-quick-check.json")
}

/// How a quick_check run ended.
enum QuickCheck {
    Passed(Duration),
    Failed(Vec<String>),
    OutOfTime,
}

/// The `store` check: readable (the caller opened it already) and
/// passing quick_check, now or within the configured interval.
pub(crate) fn store_check(input: &CheckInput) -> Check {
    let path = input.db.display();
    let check = |status, message: String| Check::new("store", status, message);
    if !input.quick_check {
        let message = format!("{path} is readable (quick_check is off in the config)");
        return check(Severity::Ok, message);
    }
    let state = state_path(&input.db);
    let now_ms = input.now.timestamp_millis();
    let every_ms = (input.quick_check_every_hours * 3_600_000.0) as i64;
    let last: Option<LastPass> = std::fs::read_to_string(&state)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    if let Some(last) = last.filter(|l| now_ms - l.passed_at_ms < every_ms) {
        let ago = human_duration((now_ms - last.passed_at_ms).max(0) / 1000);
        let message = format!(
            "{path} is readable and passed quick_check {ago} ago, at {} (checked every {} h)",
            rfc3339_ms(last.passed_at_ms),
            input.quick_check_every_hours
        );
        return check(Severity::Ok, message);
    }
    match quick_check(input) {
        Ok(QuickCheck::Passed(took)) => {
            let last = LastPass {
                passed_at_ms: now_ms,
                duration_ms: took.as_millis() as u64,
            };
            // Not keeping it only costs the next run another check.
            let _ = crate::artifacts::write_json(&state, &last);
            let message = format!(
                "{path} is readable and passes quick_check (in {:.2} s)",
                took.as_secs_f64()
            );
            check(Severity::Ok, message)
        }
        Ok(QuickCheck::Failed(lines)) => {
            let _ = std::fs::remove_file(&state);
            let message = format!(
                "{path} fails quick_check: {}: restore it from a backup",
                lines.join("; ")
            );
            check(Severity::Critical, message)
        }
        Ok(QuickCheck::OutOfTime) => {
            let size_mb = std::fs::metadata(&input.db).map_or(0, |m| m.len()) / 1_000_000;
            let message = format!(
                "quick_check of {path} ({size_mb} MB) did not finish within {:.1} s: run health-check once with a longer --timeout (a pass is kept for {} h), or set [health] quick_check = false",
                input.quick_check_budget.as_secs_f64(),
                input.quick_check_every_hours
            );
            check(Severity::Warning, message)
        }
        Err(e) => check(
            Severity::Critical,
            format!("cannot run quick_check on {path}: {e:#}"),
        ),
    }
}

/// Run `PRAGMA quick_check` on a connection of its own, interrupted when it
/// outlasts the budget.
fn quick_check(input: &CheckInput) -> anyhow::Result<QuickCheck> {
    let store = Store::open_existing(&input.db, input.busy_timeout_ms, true)?;
    let interrupt = store.conn.get_interrupt_handle();
    let started = Instant::now();
    let (done, finished) = mpsc::channel::<()>();
    let result = std::thread::scope(|scope| {
        scope.spawn(move || {
            // Dropping `done` below wakes this thread at once.
            if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(input.quick_check_budget)
            {
                interrupt.interrupt();
            }
        });
        let result = store
            .conn
            .prepare("PRAGMA quick_check(5)")
            .and_then(|mut stmt| {
                stmt.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            });
        drop(done);
        result
    });
    match result {
        Ok(lines) if lines == ["ok"] => Ok(QuickCheck::Passed(started.elapsed())),
        Ok(lines) => Ok(QuickCheck::Failed(lines)),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) => {
            Ok(QuickCheck::OutOfTime)
        }
        Err(e) => Err(e.into()),
    }
}
