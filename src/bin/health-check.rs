//! `health-check`: are the jobs running and their artifacts fresh.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use cronlytics::health::report::HealthFormat;
use cronlytics::health::{DEFAULT_TIMEOUT_SECONDS, HealthOptions, health_check};
use cronlytics::job::{self, JobSpec};
use cronlytics::settings::CommonArgs;

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Nagios,
}

/// Check that every scheduled job ran on time and left readable artifacts;
/// exits 0 (ok), 1 (warning) or 2 (critical) by the worst check.
#[derive(Parser)]
#[command(name = "health-check", version)]
struct Args {
    /// text (a line per check), json (for Zabbix and scripts) or nagios
    /// (Monitoring Plugins output).
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Give up after this many seconds: critical, exit 2.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT_SECONDS)]
    timeout: f64,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = HealthOptions {
        format: match args.format {
            FormatArg::Text => HealthFormat::Text,
            FormatArg::Json => HealthFormat::Json,
            FormatArg::Nagios => HealthFormat::Nagios,
        },
        timeout_seconds: args.timeout,
    };
    // Never create the store it may have to report missing.
    let spec = JobSpec::reading("health-check");
    job::run(spec, &args.common, |ctx| health_check(ctx, &opts))
}
