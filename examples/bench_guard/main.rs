//! Quality benchmark of the sampling-guard detector: synthetic sites with
//! incidents of known dates and sizes, every day of every site checked with
//! all prior days as history, and tables of recall, false alerts, detection
//! delay and runtime: one for a mix of site sizes, one per site size (small,
//! medium, large shops).
//!
//! Run: `cargo run --release --example bench_guard [-- --series N --days D --seed S]`
//! The output is deterministic for a seed (runtimes aside).

mod report;
mod synth;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cronlytics::guard::detect::*;

use synth::{KINDS, Kind, MIXED, Population, SIZES, generate_site, site_rng};

/// Days before this are the cold start, reported apart.
const COLD_START_DAYS: usize = 28;

pub struct Options {
    series: usize,
    days: usize,
    seed: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        series: 100,
        days: 300,
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or(format!("{flag} needs a value"))?
                .parse::<u64>()
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--series" => options.series = value()? as usize,
            "--days" => options.days = value()? as usize,
            "--seed" => options.seed = value()?,
            "-h" | "--help" => {
                return Err("usage: bench_guard [--series N] [--days D] [--seed S]".into());
            }
            other => return Err(format!("unknown option {other}; try --help")),
        }
    }
    if options.series == 0 {
        return Err("--series must be at least 1".into());
    }
    if options.days < 120 {
        return Err("--days must be at least 120 to fit the incidents".into());
    }
    Ok(options)
}

#[derive(Default)]
pub struct KindStats {
    count: usize,
    detected: usize,
    detected_primary: usize,
    /// Detected at fail level.
    failed: usize,
    delays: Vec<usize>,
}

impl KindStats {
    fn recall(&self, detected: usize) -> Option<f64> {
        (self.count > 0).then(|| detected as f64 / self.count as f64)
    }
}

#[derive(Default)]
pub struct FalseAlerts {
    days: usize,
    warn: usize,
    fail: usize,
}

impl FalseAlerts {
    fn per_100(&self, n: usize) -> f64 {
        if self.days == 0 {
            0.0
        } else {
            100.0 * n as f64 / self.days as f64
        }
    }
}

/// What one population's sites gave.
#[derive(Default)]
pub struct PopulationStats {
    by_kind: Vec<KindStats>,
    cold: FalseAlerts,
    warm: FalseAlerts,
    /// Check name, false warns, false fails after the cold start.
    by_check: Vec<(&'static str, usize, usize)>,
    in_detector: Duration,
    calls: usize,
    /// Time of the call with the longest history, per site.
    longest: Vec<Duration>,
}

/// A check that may see the incident: its own metric, and revenue.
fn relevant(kind: Kind, metric: Metric, primary_only: bool) -> bool {
    metric == kind.primary() || (!primary_only && metric == Metric::Revenue)
}

/// Checks every day of every site of a population with default settings.
fn run_population(options: &Options, index: usize, population: &Population) -> PopulationStats {
    let settings = GuardSettings::default();
    let mut stats = PopulationStats {
        by_kind: KINDS.iter().map(|_| KindStats::default()).collect(),
        ..PopulationStats::default()
    };
    for s in 0..options.series {
        let mut rng = site_rng(options.seed, index, s);
        let site = generate_site(&mut rng, population, options.days);
        let mut results = Vec::with_capacity(options.days);
        for t in 0..site.days.len() {
            let clock = Instant::now();
            let checks = check_day(&site.days[..t], &site.days[t], &settings);
            let spent = clock.elapsed();
            stats.in_detector += spent;
            if t + 1 == site.days.len() {
                stats.longest.push(spent);
            }
            stats.calls += 1;
            results.push(checks);
        }

        for incident in &site.incidents {
            let kind_stats =
                &mut stats.by_kind[KINDS.iter().position(|&k| k == incident.kind).unwrap()];
            kind_stats.count += 1;
            let window = incident.start..incident.start + incident.kind.days();
            // First day in the window with a relevant check at `level` or worse.
            let alerted = |primary_only: bool, level: Status| {
                window.clone().find(|&t| {
                    results[t].iter().any(|c| {
                        relevant(incident.kind, c.metric, primary_only) && c.status >= level
                    })
                })
            };
            if let Some(t) = alerted(false, Status::Warn) {
                kind_stats.detected += 1;
                kind_stats.delays.push(t - incident.start);
            }
            if alerted(true, Status::Warn).is_some() {
                kind_stats.detected_primary += 1;
            }
            if alerted(false, Status::Fail).is_some() {
                kind_stats.failed += 1;
            }
        }

        for (t, checks) in results.iter().enumerate() {
            let affected = site
                .incidents
                .iter()
                .any(|i| (i.start..i.start + i.kind.days() + i.kind.recovery_days()).contains(&t));
            if affected {
                continue;
            }
            let bucket = if t < COLD_START_DAYS {
                &mut stats.cold
            } else {
                &mut stats.warm
            };
            bucket.days += 1;
            match checks.iter().map(|c| c.status).max() {
                Some(Status::Warn) => bucket.warn += 1,
                Some(Status::Fail) => bucket.fail += 1,
                _ => {}
            }
            if t >= COLD_START_DAYS {
                for c in checks {
                    let entry = match stats.by_check.iter().position(|e| e.0 == c.name) {
                        Some(i) => &mut stats.by_check[i],
                        None => {
                            stats.by_check.push((c.name, 0, 0));
                            stats.by_check.last_mut().unwrap()
                        }
                    };
                    match c.status {
                        Status::Warn => entry.1 += 1,
                        Status::Fail => entry.2 += 1,
                        _ => {}
                    }
                }
            }
        }
    }
    stats
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench_guard: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mixed = run_population(&options, 0, &MIXED);
    report::print_mixed(&options, &mixed);
    let sizes: Vec<PopulationStats> = SIZES
        .iter()
        .enumerate()
        .map(|(i, population)| run_population(&options, i + 1, population))
        .collect();
    report::print_sizes(&options, &sizes);
    report::print_runtime(&options, &mixed, started.elapsed());
    ExitCode::SUCCESS
}
