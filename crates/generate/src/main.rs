//! `generate-events`: realistic synthetic events as NDJSON, seeded.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use cronlytics::job::{self, JobSpec};
use cronlytics::settings::CommonArgs;
use cronlytics_generate::{GenerateOptions, Incident, OutputFormat};

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Write realistic synthetic events (several sites, weekly seasonality,
/// sessions, orders, referrers, optional incidents) as NDJSON for the demo,
/// tests and benchmarks. Same options, same bytes.
#[derive(Parser)]
#[command(name = "generate-events", version)]
struct Args {
    /// Seed of all randomness.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Comma-separated site names (shop, blog and saas have their own character).
    #[arg(long, value_delimiter = ',', default_value = "shop,blog,saas")]
    sites: Vec<String>,
    /// First day (YYYY-MM-DD); default: so that the last day is yesterday.
    #[arg(long, value_name = "YYYY-MM-DD")]
    start: Option<String>,
    /// Number of days.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Events per average day, over all sites.
    #[arg(long, default_value_t = 10_000)]
    events_per_day: u64,
    /// Leave out the per-event `id`.
    #[arg(long)]
    no_ids: bool,
    /// Give every event 2-3 custom properties: `plan` (per visitor),
    /// `campaign` (per session), and the page's `author` on page views or
    /// a number of `items` on orders.
    #[arg(long)]
    props: bool,
    /// Plant an incident: DATE:KIND[:FACTOR][@SITE], KIND one of outage,
    /// traffic:FACTOR, checkout-break, bot-flood:FACTOR. Repeatable.
    #[arg(long, value_name = "SPEC")]
    incident: Vec<Incident>,
    /// Share of events emitted late, behind later ones (0..1).
    #[arg(long, default_value_t = 0.0)]
    late_fraction: f64,
    /// What to write: NDJSON events, or the same traffic as a web server's
    /// access log (combined for one site, vhost-combined for several, with
    /// assets, crawlers, errors and redirects around the page views).
    #[arg(long, value_enum, default_value = "ndjson")]
    format: FormatArg,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Ndjson,
    AccessLog,
}

fn main() -> ExitCode {
    let args = Args::parse();
    job::run(
        JobSpec::without_store("generate-events"),
        &args.common,
        |ctx| {
            let opts = GenerateOptions {
                seed: args.seed,
                sites: args.sites.clone(),
                start: cronlytics_generate::default_start(
                    args.start.as_deref(),
                    args.days,
                    ctx.settings.now,
                    ctx.settings.tz,
                )?,
                days: args.days,
                events_per_day: args.events_per_day,
                tz: ctx.settings.tz,
                with_ids: !args.no_ids,
                with_props: args.props,
                incidents: args.incident.clone(),
                late_fraction: args.late_fraction,
                format: match args.format {
                    FormatArg::Ndjson => OutputFormat::Ndjson,
                    FormatArg::AccessLog => OutputFormat::AccessLog,
                },
            };
            cronlytics_generate::run(&opts, args.output.as_deref())
        },
    )
}
