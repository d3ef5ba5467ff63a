//! The Prometheus textfile each job writes (contract, "Metrics").

use super::*;

/// A parsed Prometheus textfile: gauge name -> (help, type, labels, value).
fn parse_prom(text: &str) -> BTreeMap<String, (String, String, String, f64)> {
    let mut help = BTreeMap::new();
    let mut kind = BTreeMap::new();
    let mut gauges = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').expect("HELP name text");
            assert!(!gauges.contains_key(name), "HELP after the sample: {line}");
            assert!(help.insert(name.to_string(), text.to_string()).is_none());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').expect("TYPE name type");
            assert!(help.contains_key(name), "TYPE before HELP: {line}");
            assert!(kind.insert(name.to_string(), t.to_string()).is_none());
        } else {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(
                parts.len(),
                2,
                "a sample is `name{{labels}} value`, no timestamp: {line:?}"
            );
            let (name, labels) = parts[0].split_once('{').expect("labels");
            let labels = labels.strip_suffix('}').expect("closing brace");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "metric name {name:?}"
            );
            let value: f64 = parts[1]
                .parse()
                .unwrap_or_else(|_| panic!("value of {line:?}"));
            let h = help
                .get(name)
                .unwrap_or_else(|| panic!("no HELP for {name}"));
            let t = kind
                .get(name)
                .unwrap_or_else(|| panic!("no TYPE for {name}"));
            let old = gauges.insert(
                name.to_string(),
                (h.clone(), t.clone(), labels.to_string(), value),
            );
            assert!(old.is_none(), "{name} twice");
        }
    }
    gauges
}

const GAUGES: [&str; 5] = [
    "cronlytics_job_duration_seconds",
    "cronlytics_job_exit_code",
    "cronlytics_job_last_run_timestamp_seconds",
    "cronlytics_job_last_success_timestamp_seconds",
    "cronlytics_job_records_processed",
];

fn check_prom(text: &str, job: &str) -> BTreeMap<String, f64> {
    let gauges = parse_prom(text);
    assert_eq!(
        gauges.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        GAUGES,
        "{text}"
    );
    gauges
        .into_iter()
        .map(|(name, (help, kind, labels, value))| {
            assert!(!help.trim().is_empty(), "{name} has an empty HELP");
            assert_eq!(kind, "gauge", "{name}");
            assert_eq!(labels, format!("job=\"{job}\""), "{name}");
            (name, value)
        })
        .collect()
}

#[test]
fn textfile_dir_gets_a_prometheus_file_per_job() {
    let w = Workdir::new();
    one_day(&w);
    let now_s = ms(NOW) as f64 / 1000.0;
    let out = w
        .cmd("aggregate")
        .args(["--textfile-dir", "metrics"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let ok = check_prom(&w.read("metrics/cronlytics_aggregate.prom"), "aggregate");
    let last_run = ok["cronlytics_job_last_run_timestamp_seconds"];
    assert!(
        (now_s..now_s + 60.0).contains(&last_run),
        "last run {last_run} is not at --now {now_s}"
    );
    assert_eq!(
        ok["cronlytics_job_last_success_timestamp_seconds"],
        last_run
    );
    assert_eq!(ok["cronlytics_job_exit_code"], 0.0);
    assert_eq!(ok["cronlytics_job_records_processed"], 2.0);
    assert!((0.0..60.0).contains(&ok["cronlytics_job_duration_seconds"]));

    // A job name with '-' becomes '_' in the file name, not in the label.
    let out = w
        .cmd("export-metrics")
        .args(["--days", "1", "--textfile-dir", "metrics"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let export = check_prom(
        &w.read("metrics/cronlytics_export_metrics.prom"),
        "export-metrics",
    );
    assert_eq!(export["cronlytics_job_records_processed"], 1.0);

    // A failed run reports exit 2 and carries the last success over.
    let out = w
        .cmd("aggregate")
        .args(["--textfile-dir", "metrics", "--site", "nope"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let failed = check_prom(&w.read("metrics/cronlytics_aggregate.prom"), "aggregate");
    assert_eq!(failed["cronlytics_job_exit_code"], 2.0);
    assert_eq!(failed["cronlytics_job_records_processed"], 0.0);
    assert_eq!(
        failed["cronlytics_job_last_success_timestamp_seconds"],
        last_run
    );
    let mut files: Vec<String> = std::fs::read_dir(w.path("metrics"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "cronlytics_aggregate.prom",
            "cronlytics_export_metrics.prom"
        ],
        "no temporary file left"
    );
}
