//! `backfill`: roll up a range of days, each committed on its own.

use std::process::ExitCode;

use clap::Parser;
use cronlytics::job::{self, JobSpec};
use cronlytics::rollup::jobs::{Backfill, BackfillOptions, backfill_dry_run};
use cronlytics::settings::{CommonArgs, RangeArgs};

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Roll up a range of days: --start/--end (inclusive) or --days N (the N
/// days ending yesterday). Safe to repeat; a killed run keeps its finished
/// days.
#[derive(Parser)]
#[command(name = "backfill", version)]
struct Args {
    #[command(flatten)]
    range: RangeArgs,
    /// Print each day with its UTC bounds and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Change the zone the store counts its days in to ZONE, and roll up
    /// its whole history again in it.
    #[arg(long, value_name = "ZONE", conflicts_with = "dry_run")]
    rezone: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Some(zone) = &args.rezone {
        if args.common.tz.as_ref().is_some_and(|tz| tz != zone) {
            eprintln!(
                "backfill: --rezone {zone} and --tz (or CRONLYTICS_TZ) name two zones: give only --rezone"
            );
            return ExitCode::from(2);
        }
        args.common.tz = Some(zone.clone());
    }
    let opts = BackfillOptions {
        start: args.range.start,
        end: args.range.end,
        days: args.range.days,
        site: args.range.site,
        dry_run: args.dry_run,
        rezone: args.rezone.is_some(),
    };
    if opts.dry_run {
        return job::run(JobSpec::read_only("backfill"), &args.common, |ctx| {
            backfill_dry_run(ctx, &opts)
        });
    }
    let mut backfill = Backfill::default();
    let spec = if opts.rezone {
        JobSpec::new("backfill").rezoning()
    } else {
        JobSpec::new("backfill")
    };
    job::run(spec, &args.common, |ctx| backfill.attempt(ctx, &opts))
}
