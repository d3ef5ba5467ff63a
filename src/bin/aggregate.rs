//! `aggregate`: roll up one day (default yesterday) and every marked day.

use std::process::ExitCode;

use clap::Parser;
use cronlytics::job::{self, JobSpec};
use cronlytics::rollup::jobs::{AggregateOptions, aggregate};
use cronlytics::settings::{CommonArgs, SiteArg};

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Roll up one day (default: yesterday in the configured zone) for every
/// site, plus every day that ingest marked for re-aggregation.
#[derive(Parser)]
#[command(name = "aggregate", version)]
struct Args {
    /// The day to roll up (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "today")]
    date: Option<String>,
    /// Refresh today's running totals.
    #[arg(long)]
    today: bool,
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = AggregateOptions {
        date: args.date,
        today: args.today,
        site: args.site.name,
    };
    job::run(JobSpec::new("aggregate"), &args.common, |ctx| {
        aggregate(ctx, &opts)
    })
}
