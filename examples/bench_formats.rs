//! Parse rate of the access-log layer: a real Apache combined log repeated
//! to about a million lines in memory, parsed (and then also classified)
//! on one thread, the best of five rounds. Reading and decompressing are
//! not timed.
//!
//! Run: `cargo run --release --example bench_formats [-- PATH]`
//! (PATH defaults to `../shared/data/apache_logs`).

use std::hint::black_box;
use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use cronlytics::ingest::formats::{ClassSet, Classifier, LogFormat, ParserOptions, open_input};

const TARGET_LINES: usize = 1_000_000;
const ROUNDS: usize = 5;

fn main() -> ExitCode {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/apache_logs").into()
    });
    let mut text = String::new();
    let read = open_input(std::path::Path::new(&path)).and_then(|mut input| {
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(())
    });
    if let Err(err) = read {
        eprintln!("bench_formats: {err:#}");
        return ExitCode::from(2);
    }
    let one: Vec<&str> = text.lines().collect();
    if one.is_empty() {
        eprintln!("bench_formats: {path} has no lines");
        return ExitCode::from(2);
    }
    let lines: Vec<&str> = one
        .iter()
        .copied()
        .cycle()
        .take(TARGET_LINES.max(one.len()))
        .collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let parser = match LogFormat::Combined.parser(&ParserOptions::default()) {
        Ok(parser) => parser,
        Err(err) => {
            eprintln!("bench_formats: {err}");
            return ExitCode::from(2);
        }
    };

    // The best of five rounds: this machine is shared, and the slower
    // rounds measure the neighbours.
    let mut fits = 0usize;
    let mut parse_secs = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        fits = 0;
        for line in &lines {
            if let Ok(request) = parser.parse(line) {
                fits += 1;
                black_box(&request);
            }
        }
        parse_secs = parse_secs.min(start.elapsed().as_secs_f64());
    }

    let mut classifier = Classifier::new();
    let mut counted = 0usize;
    let mut classify_secs = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        counted = 0;
        for line in &lines {
            if let Ok(request) = parser.parse(line)
                && classifier.left_out_by(&request, ClassSet::EMPTY).is_none()
            {
                counted += 1;
            }
        }
        classify_secs = classify_secs.min(start.elapsed().as_secs_f64());
    }

    let n = lines.len() as f64;
    println!(
        "{} lines ({:.0} MB), {fits} fit the combined format",
        lines.len(),
        bytes as f64 / 1e6
    );
    println!(
        "parse:            {:.3} s, {:.2}M lines/s, {:.0} MB/s",
        parse_secs,
        n / parse_secs / 1e6,
        bytes as f64 / parse_secs / 1e6
    );
    println!(
        "parse + classify: {:.3} s, {:.2}M lines/s ({counted} counted)",
        classify_secs,
        n / classify_secs / 1e6
    );
    ExitCode::SUCCESS
}
