//! The one integration-test binary: real binaries on fresh stores in temp
//! directories, the clock fixed with --now. A module per job.

mod common;
mod concurrency;

mod aggregate;
mod backfill;
mod engines;
mod export;
mod failures;
mod guard;
mod health;
mod ingest;
mod logs;
mod ops;
mod props;
mod report;
mod retention;
mod runner;
mod sessions;
mod snapshot;
mod trending;
mod zone;
