//! Daily rollups: one row per site per day (contract, "Daily rollup").
//!
//! `engine` rolls up many days on both cores (each scanning a range of
//! events through `store::events`) and writes each day in its own
//! transaction (`store::rollups::write_day`); `jobs` holds the `aggregate`
//! and `backfill` jobs built on it, `rezone` `backfill --rezone`.

pub(crate) mod engine;
mod events;
pub mod jobs;
mod remote;
mod rezone;
