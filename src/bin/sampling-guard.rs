//! `sampling-guard`: six anomaly checks per site on one day's rollups.

use std::process::ExitCode;

use clap::Parser;
use cronlytics::guard::{GuardOptions, run};
use cronlytics::job::{self, JobSpec};
use cronlytics::settings::{CommonArgs, SiteArg};

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Check each site's day (default: yesterday) for anomalies in revenue,
/// conversion rate and sessions (range and trend), and write the proof
/// sampling-proofs/sampling-proof-YYYYMMDD.json. Exit 1 on a warning, 2 on a
/// failure. --start/--end judges past days, printing what would have alerted.
#[derive(Parser)]
#[command(name = "sampling-guard", version)]
struct Args {
    /// The day to check (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
    /// First day of a range to judge (with --end).
    #[arg(long, value_name = "YYYY-MM-DD")]
    start: Option<String>,
    /// Last day of the range, inclusive.
    #[arg(long, value_name = "YYYY-MM-DD")]
    end: Option<String>,
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = GuardOptions {
        date: args.date,
        start: args.start,
        end: args.end,
        site: args.site.name,
    };
    let spec = JobSpec::reading("sampling-guard");
    job::run(spec, &args.common, |ctx| run(ctx, &opts))
}
