//! `export-metrics`: daily rollups as CSV, JSON or NDJSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use cronlytics::export::{ExportFormat, ExportOptions, ExportRows, export};
use cronlytics::job::{self, JobSpec};
use cronlytics::settings::{CommonArgs, RangeArgs};

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Csv,
    Json,
    Ndjson,
}

/// Write daily rollups over a range (default: the 7 days ending yesterday)
/// as CSV, JSON or NDJSON.
#[derive(Parser)]
#[command(name = "export-metrics", version)]
struct Args {
    #[arg(long, value_enum, default_value = "csv")]
    format: FormatArg,
    /// Output file; - or none writes to stdout.
    #[arg(long, value_name = "PATH")]
    output: Option<String>,
    /// Write DIR/metrics-<start>-<end>.<format> (no % needed in crontab).
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    output_dir: Option<PathBuf>,
    /// Export this configured breakdown's rows (per value) instead.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["goals", "gauges"])]
    breakdown: Option<String>,
    /// Export the goals' rows instead.
    #[arg(long, conflicts_with = "gauges")]
    goals: bool,
    /// Export the gauges' rows instead.
    #[arg(long)]
    gauges: bool,
    #[command(flatten)]
    range: RangeArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = ExportOptions {
        format: match args.format {
            FormatArg::Csv => ExportFormat::Csv,
            FormatArg::Json => ExportFormat::Json,
            FormatArg::Ndjson => ExportFormat::Ndjson,
        },
        output: args.output,
        output_dir: args.output_dir,
        start: args.range.start,
        end: args.range.end,
        days: args.range.days,
        site: args.range.site,
        rows: match (args.breakdown, args.goals, args.gauges) {
            (Some(name), _, _) => ExportRows::Breakdown(name),
            (None, true, _) => ExportRows::Goals,
            (None, false, true) => ExportRows::Gauges,
            (None, false, false) => ExportRows::Daily,
        },
    };
    let spec = JobSpec::reading("export-metrics");
    job::run(spec, &args.common, |ctx| export(ctx, &opts))
}
