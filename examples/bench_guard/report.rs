//! The benchmark's tables: recall, false alerts and delay for the mixed
//! population; recall and false alerts side by side for the site sizes;
//! the detector's runtime.

use std::time::Duration;

use super::synth::{KINDS, SIZES};
use super::{FalseAlerts, Options, PopulationStats};

fn fmt_recall(recall: Option<f64>) -> String {
    recall.map_or_else(|| "-".to_string(), |r| format!("{r:.2}"))
}

pub fn print_mixed(options: &Options, stats: &PopulationStats) {
    println!(
        "sampling-guard detector benchmark: {} series x {} days, seed {}, default settings",
        options.series, options.days, options.seed
    );
    println!();
    println!("mixed sizes: 300 to 30,000 sessions a day, conversion 1-4%");
    println!(
        "{:<25} {:>8} {:>5} {:>7} {:>8} {:>8} {:>7}",
        "incident", "window", "n", "recall", "primary", "as fail", "delay"
    );
    for (kind, k) in KINDS.iter().zip(&stats.by_kind) {
        let mut delays = k.delays.clone();
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
            k.count,
            fmt_recall(k.recall(k.detected)),
            fmt_recall(k.recall(k.detected_primary)),
            fmt_recall(k.recall(k.failed)),
            delay
        );
    }
    println!(
        "recall: share of incidents with a warn or fail of a relevant check (sessions or revenue;\n\
         conversion rate or revenue for the conversion and checkout breaks) within the window\n\
         from the first incident day; primary: sessions checks only (conversion checks for the\n\
         breaks); as fail: the same at fail level; delay: median days from the first incident\n\
         day to the first alert (0 = on the day)."
    );
    println!();
    println!("false alerts per 100 clean site-days (a site-day counts once, at its worst check)");
    println!("{:<24} {:>10} {:>7} {:>7}", "", "site-days", "warn", "fail");
    for (label, f) in [
        ("cold start (day < 28)", &stats.cold),
        ("after day 28", &stats.warm),
    ] {
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
    for (name, warn, fail) in &stats.by_check {
        println!("  {name:<24} {warn:>5} / {fail}");
    }
    println!();
}

/// One column per size: "recall / as fail" per incident, then false warns
/// and fails per 100 clean site-days.
pub fn print_sizes(options: &Options, sizes: &[PopulationStats]) {
    println!(
        "by site size: {} sites of each size, the size at mid-series (trends of -30..+60% a\n\
         year around it), conversion noise of 3-8% a day beyond binomial; recall / as fail",
        options.series
    );
    let mut head = format!("{:<25}", "incident");
    let mut sub = format!("{:<25}", "");
    for population in &SIZES {
        head.push_str(&format!(" {:>18}", population.name));
        sub.push_str(&format!(" {:>18}", population.size_label()));
    }
    println!("{head}\n{sub}");
    for (i, kind) in KINDS.iter().enumerate() {
        let mut line = format!("{:<25}", kind.label());
        for stats in sizes {
            let k = &stats.by_kind[i];
            let cell = format!(
                "{} / {}",
                fmt_recall(k.recall(k.detected)),
                fmt_recall(k.recall(k.failed))
            );
            line.push_str(&format!(" {cell:>18}"));
        }
        println!("{line}");
    }
    let false_row = |label: &str, pick: fn(&PopulationStats) -> &FalseAlerts| {
        let mut line = format!("{label:<25}");
        for stats in sizes {
            let f = pick(stats);
            let cell = format!("{:.2} / {:.2}", f.per_100(f.warn), f.per_100(f.fail));
            line.push_str(&format!(" {cell:>18}"));
        }
        println!("{line}");
    };
    println!("false warn / fail per 100 clean site-days:");
    false_row("  cold start (day < 28)", |s| &s.cold);
    false_row("  after day 28", |s| &s.warm);
    println!("false alerts after day 28 by check (count of warn / fail):");
    for (c, (name, _, _)) in sizes[0].by_check.iter().enumerate() {
        let mut line = format!("  {name:<23}");
        for stats in sizes {
            let (_, warn, fail) = stats.by_check[c];
            line.push_str(&format!(" {:>18}", format!("{warn} / {fail}")));
        }
        println!("{line}");
    }
    println!();
}

pub fn print_runtime(options: &Options, stats: &PopulationStats, total: Duration) {
    let mut longest = stats.longest.clone();
    longest.sort_unstable();
    println!(
        "runtime (mixed sizes): {} calls of check_day in {:.2} s ({:.0} µs a call on average;\n\
         with {} days of history: median {:.0} µs, max {:.0} µs); whole benchmark {:.2} s",
        stats.calls,
        stats.in_detector.as_secs_f64(),
        stats.in_detector.as_secs_f64() * 1e6 / stats.calls.max(1) as f64,
        options.days - 1,
        longest[longest.len() / 2].as_secs_f64() * 1e6,
        longest[longest.len() - 1].as_secs_f64() * 1e6,
        total.as_secs_f64()
    );
}
