//! `snapshot`: one day's dashboard metrics as one JSON file.

use std::process::ExitCode;

use clap::Parser;
use cronlytics::job::{self, JobSpec};
use cronlytics::settings::CommonArgs;
use cronlytics::snapshot::{SnapshotOptions, snapshot};

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Capture one day's dashboard metrics (revenue, conversion, traffic,
/// engagement; per site and for all sites, with changes) as
/// <artifacts>/snapshots/YYYY-MM-DD.json.
#[derive(Parser)]
#[command(name = "snapshot", version)]
struct Args {
    /// The day to capture (YYYY-MM-DD). Default: yesterday.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = SnapshotOptions { date: args.date };
    // It reads the store: a missing one is an error, not a new empty store.
    let spec = JobSpec::reading("snapshot");
    job::run(spec, &args.common, |ctx| snapshot(ctx, &opts))
}
