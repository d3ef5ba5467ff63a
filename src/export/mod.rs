//! `export-metrics`: daily rollups over a range as CSV (for spreadsheets),
//! JSON or NDJSON (for `jq`), to stdout or a file written atomically; or
//! instead a breakdown's, the goals' or the gauges' rows (`custom.rs`).

mod custom;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::artifacts::write_atomic;
use crate::job::{JobContext, JobOutcome, Severity, usage};
use crate::store::rollups::{DailyRollup, load};
use crate::time::DayRange;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
    Ndjson,
}

impl ExportFormat {
    pub(crate) fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::Ndjson => "ndjson",
        }
    }
}

/// What the user asked of `export-metrics`.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// A file, or `-` for stdout (the default).
    pub output: Option<String>,
    /// Write `DIR/metrics-<start>-<end>.<format>` instead.
    pub output_dir: Option<PathBuf>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub days: Option<i64>,
    pub site: Option<String>,
    /// Which rows: the daily rollup, or a breakdown's, the goals' or the
    /// gauges'.
    pub rows: ExportRows,
}

/// What `export-metrics` exports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ExportRows {
    #[default]
    Daily,
    /// `--breakdown NAME`
    Breakdown(String),
    /// `--goals`
    Goals,
    /// `--gauges`
    Gauges,
}

/// Days exported when no range is given: the last week, ending yesterday.
pub(crate) const DEFAULT_DAYS: i64 = 7;

/// The CSV columns, exactly as the contract lists them.
pub(crate) const CSV_HEADER: [&str; 9] = [
    "date",
    "site",
    "pageviews",
    "custom_events",
    "unique_visitors",
    "unique_sessions",
    "orders",
    "revenue",
    "conversion_rate",
];

/// Cents as currency units with two decimals, exactly (no float rounding).
pub fn cents_to_units(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Write a table in `format`: CSV as `header` and `records`, JSON as one
/// array of `objects`, NDJSON as one object per line.
pub(crate) fn write_table<T: serde::Serialize>(
    format: ExportFormat,
    header: &[&str],
    records: impl Iterator<Item = Vec<String>>,
    objects: &[T],
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(header)?;
            for r in records {
                w.write_record(&r)?;
            }
            w.flush()?;
        }
        ExportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, objects)?;
            out.write_all(b"\n")?;
        }
        ExportFormat::Ndjson => {
            for o in objects {
                serde_json::to_writer(&mut *out, o)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

/// Render rollups in `format`.
pub(crate) fn render(
    rows: &[DailyRollup],
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let records = rows.iter().map(|r| {
        vec![
            r.date.to_string(),
            r.site.clone(),
            r.pageviews.to_string(),
            r.custom_events.to_string(),
            r.unique_visitors.to_string(),
            r.unique_sessions.to_string(),
            r.orders.to_string(),
            cents_to_units(r.revenue_cents),
            format!("{:.4}", r.conversion_rate),
        ]
    });
    write_table(format, &CSV_HEADER, records, rows, out)
}

/// The rows an export writes.
enum Rendered {
    Daily(Vec<DailyRollup>),
    Custom(custom::Rows),
}

impl Rendered {
    fn len(&self) -> usize {
        match self {
            Rendered::Daily(rows) => rows.len(),
            Rendered::Custom(rows) => rows.len(),
        }
    }

    fn render(&self, format: ExportFormat, out: &mut dyn Write) -> Result<()> {
        match self {
            Rendered::Daily(rows) => render(rows, format, out),
            Rendered::Custom(rows) => rows.render(format, out),
        }
    }
}

/// The `export-metrics` job.
pub fn export(ctx: &JobContext, opts: &ExportOptions) -> Result<JobOutcome> {
    if opts.output.is_some() && opts.output_dir.is_some() {
        return Err(usage("give either --output or --output-dir, not both"));
    }
    let range = DayRange::from_options(
        opts.start.as_deref(),
        opts.end.as_deref(),
        opts.days,
        Some(DEFAULT_DAYS),
        ctx.settings.now,
        ctx.settings.tz,
    )
    .map_err(|e| usage(format!("{e:#}")))?;
    let custom = custom::Selection::resolve(ctx, &opts.rows)?;
    let store = ctx.open_store_read_only()?;
    let site = store.site_filter(opts.site.as_deref())?;
    let rows = match &custom {
        None => Rendered::Daily(load(&store.conn, range.start, range.end, site)?),
        Some(selection) => Rendered::Custom(selection.load(&store.conn, &range, site)?),
    };
    let target = match (&opts.output, &opts.output_dir) {
        (_, Some(dir)) => Some(dir.join(crate::artifacts::export_name(
            range.start,
            range.end,
            custom.as_ref().map(|c| c.file_tag()).as_deref(),
            opts.format.extension(),
        ))),
        (Some(path), None) if path != "-" => Some(PathBuf::from(path)),
        _ => None,
    };
    let written_to = match &target {
        Some(path) => {
            write_atomic(path, |w| rows.render(opts.format, w))?;
            path.display().to_string()
        }
        None => {
            let mut buf = Vec::new();
            rows.render(opts.format, &mut buf)?;
            crate::util::print_stdout(&String::from_utf8(buf).context("export is not UTF-8")?)?;
            "stdout".to_string()
        }
    };
    let message = format!(
        "exported {} rows ({} to {}) to {written_to}",
        rows.len(),
        range.start,
        range.end
    );
    let outcome = JobOutcome::ok(rows.len() as u64, message);
    if rows.len() == 0 {
        let what = match &custom {
            None => {
                "there are no rollups in that range: run aggregate or backfill first".to_string()
            }
            Some(c) => format!(
                "no rows of {} in that range: run aggregate, or backfill the past days",
                c.describe()
            ),
        };
        return Ok(JobOutcome {
            message: format!("{}; {what}", outcome.message),
            ..outcome.with_severity(Severity::Warning)
        });
    }
    Ok(outcome)
}
