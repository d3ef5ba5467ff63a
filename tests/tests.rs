//! The one integration-test binary: real binaries on fresh stores in temp
//! directories, the clock fixed with --now. A module per job.

mod common;

mod aggregate;
mod backfill;
mod export;
mod ingest;
mod runner;
