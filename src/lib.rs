//! cronlytics: one-shot analytics jobs for plain system cron.
//!
//! Each binary in `src/bin/` is a thin shell over this library: it parses
//! its flags and hands a work function to [`job::run`], which owns settings,
//! locking, the run log, retries, alerts, metrics and the exit code.

pub mod artifacts;
pub(crate) mod errors;
pub mod export;
pub(crate) mod fault;
pub mod guard;
pub mod health;
pub mod ingest;
pub mod job;
pub(crate) mod log;
pub mod report;
pub mod retention;
pub mod rollup;
pub mod sessions;
pub mod settings;
pub mod snapshot;
pub(crate) mod source;
pub mod store;
pub mod time;
pub mod trending;
pub mod util;
