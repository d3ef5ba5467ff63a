//! `ingest`: load NDJSON or CSV events into the store.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use cronlytics::ingest::{Format, IngestOptions, IngestRun};
use cronlytics::job::{self, JobSpec};
use cronlytics::settings::CommonArgs;

/// The allocator of every job (ARCHITECTURE.md says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Ndjson,
    Csv,
    AccessLog,
}

/// Load raw events (NDJSON or CSV) or web-server access logs (files, or - for stdin) into the store.
#[derive(Parser)]
#[command(name = "ingest", version)]
struct Args {
    /// Input files; - reads stdin.
    #[arg(required = true, value_name = "FILE")]
    inputs: Vec<String>,
    /// Input format (default: by name: .csv is CSV; *.log, *.log.N, access.log*, access_log* are access logs unless their first line is an NDJSON event; else NDJSON).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Access-log format: auto (default), common, combined, vhost-combined, nginx-json, caddy, traefik, w3c, or the server's own log_format / LogFormat string.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Request classes to count although left out by default (comma list of bots, static, errors, redirects, methods; or all).
    #[arg(long, value_name = "CLASSES")]
    keep: Option<String>,
    /// The site of every access-log request (default: the request's host, else [logs] site).
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Where rejected lines go (default: <artifacts>/rejects/ingest-<UTC timestamp>.ndjson).
    #[arg(long, value_name = "PATH")]
    rejects: Option<PathBuf>,
    /// Read files again whose content an earlier run has stored (by default they are skipped, and a file that grew is read from where it stopped).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut run = IngestRun::new(IngestOptions {
        inputs: args.inputs,
        format: args.format.map(|f| match f {
            FormatArg::Ndjson => Format::Ndjson,
            FormatArg::Csv => Format::Csv,
            FormatArg::AccessLog => Format::AccessLog,
        }),
        rejects: args.rejects,
        force: args.force,
        log_format: args.log_format,
        keep: args.keep,
        site: args.site,
    });
    job::run(JobSpec::creating("ingest"), &args.common, |ctx| {
        run.attempt(ctx)
    })
}
