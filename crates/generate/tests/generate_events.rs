//! The `generate-events` binary: same options, same bytes, and a bad
//! option named. (Its presence also makes `cargo test` build the binary
//! that the cronlytics tests, the demo and the benchmarks run.)

use assert_cmd::Command;

fn generate(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("generate-events")
        .expect("the generate-events binary")
        .args([
            "--now",
            "2026-11-22T06:00:00Z",
            "--days",
            "2",
            "--events-per-day",
            "500",
        ])
        .args(args)
        .env_remove("CRONLYTICS_TZ")
        .output()
        .expect("run generate-events")
}

#[test]
fn same_seed_same_bytes_and_every_line_is_json() {
    let a = generate(&["--seed", "7"]);
    let b = generate(&["--seed", "7"]);
    assert_eq!(
        a.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, generate(&["--seed", "8"]).stdout);
    let text = String::from_utf8(a.stdout).unwrap();
    assert!(text.lines().count() > 500);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert!(v["ts"].is_string() && v["site"].is_string(), "{line}");
    }
}

#[test]
fn a_bad_incident_exits_2_naming_it() {
    let out = generate(&["--incident", "2026-13-01:outage"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2026-13-01"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
