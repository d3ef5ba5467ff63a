//! `report`: the day's, week's or month's numbers as one HTML page.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use cronlytics::job::{self, JobSpec};
use cronlytics::report::{PeriodKind, ReportOptions, report};
use cronlytics::settings::CommonArgs;

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, ValueEnum)]
enum PeriodArg {
    Day,
    Week,
    Month,
}

/// Write the day's, week's or month's numbers as one self-contained HTML
/// page, <artifacts>/reports/..., and replace reports/latest.html; mail it
/// with --mail-to.
#[derive(Parser)]
#[command(name = "report", version)]
struct Args {
    /// The day (YYYY-MM-DD); for a week the last of its 7 days, for a month
    /// any day of it. Default: yesterday.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
    #[arg(long, value_enum, default_value = "day")]
    period: PeriodArg,
    /// Days in the charts (default 30; 90 for a month).
    #[arg(long, value_name = "N")]
    days: Option<i64>,
    /// Only this site.
    #[arg(long, value_name = "SITE")]
    site: Option<String>,
    /// Mail the page to this address (HTML and plain text).
    #[arg(long, value_name = "ADDR")]
    mail_to: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = ReportOptions {
        date: args.date,
        period: match args.period {
            PeriodArg::Day => PeriodKind::Day,
            PeriodArg::Week => PeriodKind::Week,
            PeriodArg::Month => PeriodKind::Month,
        },
        days: args.days,
        site: args.site,
        mail_to: args.mail_to,
    };
    let spec = JobSpec::reading("report");
    job::run(spec, &args.common, |ctx| report(ctx, &opts))
}
