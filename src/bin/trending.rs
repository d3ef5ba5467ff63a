//! `trending`: time-decayed trending scores for pages and custom events.

use std::process::ExitCode;

use clap::Parser;
use cronlytics::job::{self, JobSpec};
use cronlytics::settings::CommonArgs;
use cronlytics::trending::{TrendingOptions, trending};

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Score every site's pages and custom events by recent activity with
/// exponential time decay (0..1000), store the current scores and write
/// trending/YYYY-MM-DDTHH.json with the top entries. Meant for every hour.
#[derive(Parser)]
#[command(name = "trending", version)]
struct Args {
    /// Events of the last N hours count (default 168).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    window_hours: Option<i64>,
    /// An event counts half as much after this many hours (default 24).
    #[arg(long, value_name = "H", allow_negative_numbers = true)]
    half_life_hours: Option<f64>,
    /// Entries per site in the artifact (default 20).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    top: Option<i64>,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = TrendingOptions {
        window_hours: args.window_hours,
        half_life_hours: args.half_life_hours,
        top: args.top,
    };
    job::run(JobSpec::new("trending"), &args.common, |ctx| {
        trending(ctx, &opts)
    })
}
