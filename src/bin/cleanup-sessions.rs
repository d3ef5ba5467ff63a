//! `cleanup-sessions`: close the sessions idle for longer than the idle time.

use std::process::ExitCode;

use clap::Parser;
use cronlytics::job::{self, JobSpec};
use cronlytics::sessions::{CleanupOptions, cleanup_sessions};
use cronlytics::settings::CommonArgs;

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Close every open session whose last activity is more than the idle time
/// before now (ended = last activity). Idempotent; meant for every 10
/// minutes.
#[derive(Parser)]
#[command(name = "cleanup-sessions", version)]
struct Args {
    /// Idle time in minutes (default 30, or [sessions] idle_minutes).
    #[arg(long, value_name = "MINUTES", allow_negative_numbers = true)]
    idle_minutes: Option<i64>,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = CleanupOptions {
        idle_minutes: args.idle_minutes,
    };
    job::run(JobSpec::new("cleanup-sessions"), &args.common, |ctx| {
        cleanup_sessions(ctx, &opts)
    })
}
