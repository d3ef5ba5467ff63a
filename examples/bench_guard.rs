//! Quality benchmark of the sampling-guard detector: synthetic sites with
//! incidents of known dates and sizes, every day of every site checked with
//! all prior days as history, and a table of recall, false alerts, detection
//! delay and runtime.
//!
//! Run: `cargo run --release --example bench_guard [-- --series N --days D --seed S]`
//! The output is deterministic for a seed (runtimes aside).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use cronlytics::guard::detect::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Binomial, Distribution, LogNormal, Normal, Poisson};

/// Days before this are the cold start, reported apart.
const COLD_START_DAYS: usize = 28;
/// No incident before this day: trend checks start at day 35.
const FIRST_INCIDENT_DAY: usize = 35;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Spike16,
    Spike25,
    Spike30,
    Dip60,
    Dip35,
    Zero,
    Shift70,
    Drift2,
    ConversionBreak,
}

const KINDS: [Kind; 9] = [
    Kind::Spike16,
    Kind::Spike25,
    Kind::Spike30,
    Kind::Dip60,
    Kind::Dip35,
    Kind::Zero,
    Kind::Shift70,
    Kind::Drift2,
    Kind::ConversionBreak,
];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Spike16 => "spike x1.6",
            Kind::Spike25 => "spike x2.5",
            Kind::Spike30 => "spike x3",
            Kind::Dip60 => "dip x0.6",
            Kind::Dip35 => "dip x0.35",
            Kind::Zero => "zero day",
            Kind::Shift70 => "shift x0.7, 14 days",
            Kind::Drift2 => "drift -2%/day, 14 days",
            Kind::ConversionBreak => "conversion x0.4, 7 days",
        }
    }

    /// Days the incident lasts: also its detection window.
    fn days(self) -> usize {
        match self {
            Kind::Shift70 | Kind::Drift2 => 14,
            Kind::ConversionBreak => 7,
            _ => 1,
        }
    }

    /// Clean days excluded after the incident ends: the trend's recent week
    /// still holds it, and after a 14-day move the range level has adapted
    /// and legitimately sees the return as a change.
    fn recovery_days(self) -> usize {
        match self {
            Kind::Shift70 | Kind::Drift2 => 14,
            _ => 7,
        }
    }

    /// Multiplier of traffic on day `k` (0-based) of the incident.
    fn traffic(self, k: usize) -> f64 {
        match self {
            Kind::Spike16 => 1.6,
            Kind::Spike25 => 2.5,
            Kind::Spike30 => 3.0,
            Kind::Dip60 => 0.6,
            Kind::Dip35 => 0.35,
            Kind::Zero => 0.0,
            Kind::Shift70 => 0.7,
            Kind::Drift2 => 0.98f64.powi(k as i32 + 1),
            Kind::ConversionBreak => 1.0,
        }
    }

    fn conversion(self) -> f64 {
        if self == Kind::ConversionBreak {
            0.4
        } else {
            1.0
        }
    }

    /// The metric the incident is about; revenue moves with both.
    fn primary(self) -> Metric {
        if self == Kind::ConversionBreak {
            Metric::ConversionRate
        } else {
            Metric::Sessions
        }
    }
}

struct Incident {
    kind: Kind,
    start: usize,
}

struct Site {
    days: Vec<DailyPoint>,
    incidents: Vec<Incident>,
}

struct Options {
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

/// One synthetic site: 300..30,000 sessions a day at the start (log-uniform), a
/// weekend effect of 10-40% up or down plus a small weekday pattern, a trend
/// of -30%..+60% a year, a yearly wave, AR(1) noise of 4-12% in log space,
/// Poisson sessions, a conversion rate of 1-4% with binomial converting
/// sessions, log-normal order values; and one incident of each kind at
/// random, non-overlapping dates.
fn generate_site(rng: &mut StdRng, days: usize) -> Site {
    let level = rng.random_range(300f64.ln()..30_000f64.ln());
    let weekend = rng.random_range(0.10..0.40) * if rng.random_bool(0.5) { 1.0 } else { -1.0 };
    let mut weekday = [0.0; 7];
    for w in weekday.iter_mut().take(5) {
        *w = rng.random_range(-0.05..0.05);
    }
    weekday[5] = (1.0f64 + weekend).ln();
    weekday[6] = (1.0f64 + weekend * rng.random_range(0.7..1.0)).ln();
    let trend = (1.0f64 + rng.random_range(-0.3..0.6)).ln() / 365.0;
    let wave = rng.random_range(0.0..0.10);
    let wave_phase = rng.random_range(0.0..std::f64::consts::TAU);
    let phi: f64 = rng.random_range(0.3..0.7);
    let sigma: f64 = rng.random_range(0.04..0.12);
    let innovation = Normal::new(0.0, sigma * (1.0 - phi * phi).sqrt()).unwrap();
    let conversion: f64 = rng.random_range(0.01..0.04);
    let weekend_conversion = rng.random_range(0.85..1.15);
    let conversion_noise: Normal<f64> = Normal::new(0.0, 0.03).unwrap();
    let order_sigma: f64 = rng.random_range(0.4..0.9);
    let order_mean: f64 = rng.random_range(20.0..150.0);
    let order_value = LogNormal::new(
        order_mean.ln() - order_sigma * order_sigma / 2.0,
        order_sigma,
    )
    .unwrap();

    let incidents = place_incidents(rng, days);
    let first = NaiveDate::from_ymd_opt(2025, 1, 6).unwrap(); // a Monday
    let mut noise = Normal::new(0.0, sigma).unwrap().sample(rng);
    let mut points = Vec::with_capacity(days);
    for t in 0..days {
        noise = phi * noise + innovation.sample(rng);
        let dow = t % 7;
        let (mut traffic, mut conversion_factor) = (1.0, 1.0);
        for incident in &incidents {
            if (incident.start..incident.start + incident.kind.days()).contains(&t) {
                traffic *= incident.kind.traffic(t - incident.start);
                conversion_factor *= incident.kind.conversion();
            }
        }
        let seasonal = wave * (std::f64::consts::TAU * t as f64 / 365.0 + wave_phase).sin();
        let lambda = (level + trend * t as f64 + seasonal + weekday[dow] + noise).exp() * traffic;
        let sessions = if lambda > 0.0 {
            Poisson::new(lambda).unwrap().sample(rng) as u64
        } else {
            0
        };
        let mut rate = conversion * conversion_noise.sample(rng).exp() * conversion_factor;
        if dow >= 5 {
            rate *= weekend_conversion;
        }
        let converting = if sessions > 0 {
            Binomial::new(sessions, rate.min(1.0)).unwrap().sample(rng)
        } else {
            0
        };
        let revenue: f64 = (0..converting).map(|_| order_value.sample(rng)).sum();
        points.push(DailyPoint {
            date: first + chrono::Duration::days(t as i64),
            sessions,
            converting_sessions: converting,
            revenue: (revenue * 100.0).round() / 100.0,
        });
    }
    Site {
        days: points,
        incidents,
    }
}

/// Every kind once, in random order, with 14-24 quiet days between them.
fn place_incidents(rng: &mut StdRng, days: usize) -> Vec<Incident> {
    let mut kinds = KINDS.to_vec();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.random_range(0..=i));
    }
    let mut incidents = Vec::new();
    let mut day = FIRST_INCIDENT_DAY + rng.random_range(0..7);
    for kind in kinds {
        if day + kind.days() > days {
            break;
        }
        incidents.push(Incident { kind, start: day });
        day += kind.days() + rng.random_range(14..=24);
    }
    incidents
}

#[derive(Default)]
struct KindStats {
    count: usize,
    detected: usize,
    detected_primary: usize,
    /// Detected at fail level.
    failed: usize,
    delays: Vec<usize>,
}

#[derive(Default)]
struct FalseAlerts {
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

/// A check that may see the incident: its own metric, and revenue.
fn relevant(kind: Kind, metric: Metric, primary_only: bool) -> bool {
    metric == kind.primary() || (!primary_only && metric == Metric::Revenue)
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
    let settings = GuardSettings::default();
    let mut by_kind: Vec<KindStats> = KINDS.iter().map(|_| KindStats::default()).collect();
    let mut cold = FalseAlerts::default();
    let mut warm = FalseAlerts::default();
    let mut by_check: Vec<(&'static str, usize, usize)> = Vec::new();
    let mut in_detector = Duration::ZERO;
    let mut calls = 0usize;
    // Time of the call with the longest history, per site.
    let mut longest = Vec::with_capacity(options.series);

    for s in 0..options.series {
        let mut rng =
            StdRng::seed_from_u64(options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ s as u64);
        let site = generate_site(&mut rng, options.days);
        let mut results = Vec::with_capacity(options.days);
        for t in 0..site.days.len() {
            let clock = Instant::now();
            let checks = check_day(&site.days[..t], &site.days[t], &settings);
            let spent = clock.elapsed();
            in_detector += spent;
            if t + 1 == site.days.len() {
                longest.push(spent);
            }
            calls += 1;
            results.push(checks);
        }

        for incident in &site.incidents {
            let stats = &mut by_kind[KINDS.iter().position(|&k| k == incident.kind).unwrap()];
            stats.count += 1;
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
                stats.detected += 1;
                stats.delays.push(t - incident.start);
            }
            if alerted(true, Status::Warn).is_some() {
                stats.detected_primary += 1;
            }
            if alerted(false, Status::Fail).is_some() {
                stats.failed += 1;
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
                &mut cold
            } else {
                &mut warm
            };
            bucket.days += 1;
            match checks.iter().map(|c| c.status).max() {
                Some(Status::Warn) => bucket.warn += 1,
                Some(Status::Fail) => bucket.fail += 1,
                _ => {}
            }
            if t >= COLD_START_DAYS {
                for c in checks {
                    let entry = match by_check.iter().position(|e| e.0 == c.name) {
                        Some(i) => &mut by_check[i],
                        None => {
                            by_check.push((c.name, 0, 0));
                            by_check.last_mut().unwrap()
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

    print_report(&options, &by_kind, &cold, &warm, &by_check);
    longest.sort_unstable();
    println!(
        "runtime: {calls} calls of check_day in {:.2} s ({:.0} µs a call on average; with {} days of\n\
         history: median {:.0} µs, max {:.0} µs); whole benchmark {:.2} s",
        in_detector.as_secs_f64(),
        in_detector.as_secs_f64() * 1e6 / calls.max(1) as f64,
        options.days - 1,
        longest[longest.len() / 2].as_secs_f64() * 1e6,
        longest[longest.len() - 1].as_secs_f64() * 1e6,
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

fn print_report(
    options: &Options,
    by_kind: &[KindStats],
    cold: &FalseAlerts,
    warm: &FalseAlerts,
    by_check: &[(&'static str, usize, usize)],
) {
    println!(
        "sampling-guard detector benchmark: {} series x {} days, seed {}, default settings",
        options.series, options.days, options.seed
    );
    println!();
    println!(
        "{:<25} {:>8} {:>5} {:>7} {:>8} {:>8} {:>7}",
        "incident", "window", "n", "recall", "primary", "as fail", "delay"
    );
    for (kind, stats) in KINDS.iter().zip(by_kind) {
        let recall = |d: usize| {
            if stats.count == 0 {
                "-".to_string()
            } else {
                format!("{:.2}", d as f64 / stats.count as f64)
            }
        };
        let mut delays = stats.delays.clone();
        delays.sort_unstable();
        let delay = if kind.days() > 1 && !delays.is_empty() {
            format!("{} d", delays[delays.len() / 2])
        } else {
            "-".to_string()
        };
        let window = if kind.days() == 1 {
            "the day".to_string()
        } else {
            format!("{} days", kind.days())
        };
        println!(
            "{:<25} {:>8} {:>5} {:>7} {:>8} {:>8} {:>7}",
            kind.label(),
            window,
            stats.count,
            recall(stats.detected),
            recall(stats.detected_primary),
            recall(stats.failed),
            delay
        );
    }
    println!(
        "recall: share of incidents with a warn or fail of a relevant check (sessions or revenue;\n\
         conversion rate or revenue for the conversion break) within the window from the first\n\
         incident day; primary: sessions checks only (conversion checks for the break);\n\
         as fail: the same at fail level; delay: median days from the first incident day to\n\
         the first alert (0 = on the day)."
    );
    println!();
    println!("false alerts per 100 clean site-days (a site-day counts once, at its worst check)");
    println!("{:<24} {:>10} {:>7} {:>7}", "", "site-days", "warn", "fail");
    for (label, f) in [("cold start (day < 28)", cold), ("after day 28", warm)] {
        println!(
            "{:<24} {:>10} {:>7.2} {:>7.2}",
            label,
            f.days,
            f.per_100(f.warn),
            f.per_100(f.fail)
        );
    }
    println!(
        "clean: no incident that day and none within the 7 days before (14 after a shift or\n\
         drift ends), since the trend week still holds it and a 14-day move legitimately\n\
         shifts the range level."
    );
    println!();
    println!("false alerts after day 28 by check (count of warn / fail):");
    for (name, warn, fail) in by_check {
        println!("  {name:<24} {warn:>5} / {fail}");
    }
    println!();
}
