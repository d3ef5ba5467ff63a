//! `retention`: delete raw events and sessions older than the cutoff.

use std::process::ExitCode;

use clap::Parser;
use cronlytics::job::{self, JobSpec};
use cronlytics::retention::{RetentionOptions, retention, retention_dry_run};
use cronlytics::settings::CommonArgs;

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Delete raw events, closed sessions, dedupe keys and forgotten visitors
/// of the days before the cutoff (default: 90 days before today), in
/// batches; daily rollups are kept forever, and days not rolled up yet are
/// rolled up first. Meant for once a week.
#[derive(Parser)]
#[command(name = "retention", version)]
struct Args {
    /// Keep this many days before today (default 90).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    days: Option<i64>,
    /// Rows per delete transaction (default 1000).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    batch_size: Option<i64>,
    /// Pause between delete transactions (default 50).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pause_ms: Option<i64>,
    /// Also remove cronlytics' artifact files dated more than N days ago.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    artifacts_days: Option<i64>,
    /// A directory where export-metrics --output-dir writes outside the
    /// artifacts: its exports go with the artifacts (repeatable).
    #[arg(long, value_name = "DIR")]
    export_dir: Vec<std::path::PathBuf>,
    /// Print what would go and change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = RetentionOptions {
        days: args.days,
        batch_size: args.batch_size,
        pause_ms: args.pause_ms,
        artifacts_days: args.artifacts_days,
        export_dirs: args.export_dir,
        dry_run: args.dry_run,
    };
    if opts.dry_run {
        return job::run(JobSpec::read_only("retention"), &args.common, |ctx| {
            retention_dry_run(ctx, &opts)
        });
    }
    job::run(JobSpec::new("retention"), &args.common, |ctx| {
        retention(ctx, &opts)
    })
}
