//! `trending`: the README's worked example to the digit, a rising page
//! above a big fading one, change since the last run with the rewrite
//! threshold, bad arguments and the run log.

use serde_json::{Value, json};

use crate::common::*;

/// The instant `minutes` before NOW, as RFC 3339.
fn ago(minutes: f64) -> String {
    let t = ms(NOW) - (minutes * 60_000.0).round() as i64;
    chrono::DateTime::from_timestamp_millis(t)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn hours_ago(hours: f64) -> String {
    ago(hours * 60.0)
}

/// Run trending (must exit 0) and read the artifact of the run's hour.
fn run(w: &Workdir, args: &[&str], hour: &str) -> Value {
    let out = w.cmd("trending").args(args).output().unwrap();
    assert_exit(&out, 0);
    let text = w.read(&format!("artifacts/trending/{hour}.json"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"))
}

#[test]
fn the_readme_worked_example_to_the_digit() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview(&hours_ago(0.0), "shop", "s1", "v1", "/pricing"),
            pageview(&hours_ago(12.0), "shop", "s2", "v2", "/pricing"),
            pageview(&hours_ago(24.0), "shop", "s3", "v3", "/pricing"),
            pageview(&hours_ago(144.0), "shop", "s4", "v4", "/pricing"),
            custom(&hours_ago(2.0), "shop", "s1", "v1", "signup"),
            custom(&hours_ago(30.0), "shop", "s5", "v5", "signup"),
            // Outside the window: older than 168 hours, and after now.
            pageview(&hours_ago(170.0), "shop", "s6", "v6", "/old"),
            pageview(&hours_ago(-1.0), "shop", "s7", "v7", "/future"),
        ],
    );
    let file = run(&w, &[], "2026-11-22T06");
    assert_json(
        &file,
        &json!({
            "generated_at": "2026-11-22T06:00:00Z",
            "window_hours": 168,
            "half_life_hours": 24.0,
            "saturation": 100.0,
            "weights": {"pageview": 1.0, "event": 1.0},
            "sites": {"shop": [
                {"item": "/pricing", "kind": "page", "score": 21.74, "rank": 1, "change": null},
                {"item": "signup", "kind": "event", "score": 13.46, "rank": 2, "change": null}
            ]}
        }),
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    for line in [
        "s = 1 + 2^(-12/24) + 2^(-24/24) + 2^(-144/24) = 2.22273",
        "score = 1000 · 2.22273 / (2.22273 + 100) = 21.74",
        "s = 2^(-2/24) + 2^(-30/24) = 1.36432",
        "score = 1000 · 1.36432 / (1.36432 + 100) = 13.46",
    ] {
        assert!(
            readme.contains(line),
            "README.md lacks the worked example line {line:?}"
        );
    }
}

#[test]
fn a_rising_page_outranks_a_big_fading_one() {
    let w = Workdir::new();
    let mut events = Vec::new();
    // 300 views five days ago, 20 in the last three hours.
    for i in 0..300 {
        let t = hours_ago(120.0 + f64::from(i) * 0.1);
        events.push(pageview(
            &t,
            "news",
            &format!("o{i}"),
            &format!("v{i}"),
            "/old-hit",
        ));
    }
    for i in 0..20 {
        let t = ago(f64::from(i) * 9.0);
        events.push(pageview(
            &t,
            "news",
            &format!("n{i}"),
            &format!("w{i}"),
            "/rising",
        ));
    }
    w.ingest("events.ndjson", &events);
    let file = run(&w, &[], "2026-11-22T06");
    assert_json(
        &file["sites"]["news"],
        &json!([
            {"item": "/rising", "kind": "page", "score": 161.07, "rank": 1, "change": null},
            {"item": "/old-hit", "kind": "page", "score": 59.09, "rank": 2, "change": null}
        ]),
    );
}

#[test]
fn change_since_the_last_run_and_the_rewrite_threshold() {
    let mut w = Workdir::new();
    let config = w.write("c.toml", "[trending]\nthreshold = 1.0\n");
    let config = config.to_str().unwrap();
    w.ingest(
        "first.ndjson",
        &[
            pageview(&hours_ago(1.0), "shop", "s1", "v1", "/a"),
            pageview(&hours_ago(2.0), "shop", "s2", "v2", "/a"),
            pageview(&hours_ago(100.0), "shop", "s3", "v3", "/b"),
            custom(&hours_ago(1.0), "shop", "s1", "v1", "play"),
        ],
    );
    let first = run(&w, &["--config", config], "2026-11-22T06");
    assert_json(
        &first["sites"]["shop"],
        &json!([
            {"item": "/a", "kind": "page", "score": 18.79, "rank": 1, "change": null},
            {"item": "play", "kind": "event", "score": 9.62, "rank": 2, "change": null},
            {"item": "/b", "kind": "page", "score": 0.56, "rank": 3, "change": null}
        ]),
    );

    // An hour later /a has three more views and /c is new.
    w.ingest(
        "second.ndjson",
        &[
            pageview("2026-11-22T06:30:00Z", "shop", "s4", "v4", "/a"),
            pageview("2026-11-22T06:30:00Z", "shop", "s5", "v5", "/a"),
            pageview("2026-11-22T06:30:00Z", "shop", "s6", "v6", "/a"),
            pageview("2026-11-22T06:45:00Z", "shop", "s7", "v7", "/c"),
        ],
    );
    w.now = "2026-11-22T07:00:00Z".to_string();
    let out = w
        .cmd("trending")
        .args(["--config", config])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["scored 4 items of 1 site; rewrote 2 stored scores, removed 0; wrote "],
    );
    let second: Value =
        serde_json::from_str(&w.read("artifacts/trending/2026-11-22T07.json")).unwrap();
    assert_json(
        &second["sites"]["shop"],
        &json!([
            {"item": "/a", "kind": "page", "score": 45.96, "rank": 1, "change": 27.17},
            {"item": "/c", "kind": "page", "score": 9.83, "rank": 2, "change": null},
            {"item": "play", "kind": "event", "score": 9.35, "rank": 3, "change": -0.27},
            {"item": "/b", "kind": "page", "score": 0.54, "rank": 4, "change": -0.02}
        ]),
    );
    // play and /b moved by less than the threshold: their rows keep the
    // first run's score and time.
    assert_eq!(
        w.sql_rows(
            "SELECT l.value, t.updated_at FROM trending_scores t JOIN labels l ON l.id = t.label_id ORDER BY l.value"
        ),
        [
            ["/a", &ms("2026-11-22T07:00:00Z").to_string()],
            ["/b", &ms(NOW).to_string()],
            ["/c", &ms("2026-11-22T07:00:00Z").to_string()],
            ["play", &ms(NOW).to_string()],
        ]
    );

    // A week later everything has left the window.
    w.now = "2026-12-01T00:00:00Z".to_string();
    let out = w.cmd("trending").arg("--top").arg("1").output().unwrap();
    assert_exit(&out, 0);
    assert_stderr_has(
        &out,
        &["scored 0 items of 1 site; rewrote 0 stored scores, removed 4"],
    );
    let quiet: Value =
        serde_json::from_str(&w.read("artifacts/trending/2026-12-01T00.json")).unwrap();
    assert_json(&quiet["sites"], &json!({"shop": []}));
    assert_eq!(
        w.sql_rows(
            "SELECT status, exit_code, records FROM job_runs WHERE job = 'trending' ORDER BY id"
        ),
        [
            ["success", "0", "3"],
            ["success", "0", "4"],
            ["success", "0", "0"]
        ]
    );
}

#[test]
fn top_keeps_the_best_n_per_site() {
    let w = Workdir::new();
    w.ingest(
        "events.ndjson",
        &[
            pageview(&hours_ago(1.0), "shop", "s1", "v1", "/b"),
            pageview(&hours_ago(1.0), "shop", "s1", "v1", "/a"),
            pageview(&hours_ago(5.0), "shop", "s1", "v1", "/c"),
            pageview(&hours_ago(1.0), "blog", "s1", "v1", "/post"),
        ],
    );
    let file = run(&w, &["--top", "2"], "2026-11-22T06");
    let items = |site: &str| -> Vec<(String, u64)> {
        file["sites"][site]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["item"].as_str().unwrap().to_string(),
                    e["rank"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // Equal scores rank by item text.
    assert_eq!(
        items("shop"),
        [("/a".to_string(), 1), ("/b".to_string(), 2)]
    );
    assert_eq!(items("blog"), [("/post".to_string(), 1)]);
}

#[test]
fn bad_arguments_exit_2_with_the_reason() {
    let w = Workdir::new();
    w.create_store();
    w.write("saturation.toml", "[trending]\nsaturation = 0\n");
    w.write("weight.toml", "[trending.weights]\nevent = -1\n");
    w.write("typo.toml", "[trending]\nweights = { page = 2 }\n");
    assert_refused(
        &w,
        "trending",
        &[
            (
                &["--half-life-hours", "0"],
                "--half-life-hours must be a number > 0 (got 0)",
            ),
            (
                &["--half-life-hours", "-2"],
                "--half-life-hours must be a number > 0",
            ),
            (
                &["--window-hours", "0"],
                "--window-hours must be a number of hours from 1",
            ),
            (
                &["--top", "0"],
                "--top must be from 1 to 10000 entries (got 0)",
            ),
            (
                &["--config", "saturation.toml"],
                "trending.saturation in the config file must be a number > 0",
            ),
            (
                &["--config", "weight.toml"],
                "trending.weights.event in the config file must be a number >= 0",
            ),
            (&["--config", "typo.toml"], "page"),
        ],
    );
    assert_eq!(
        w.sql_rows(
            "SELECT status, exit_code FROM job_runs WHERE job = 'trending' ORDER BY id DESC LIMIT 1"
        ),
        [["failed", "2"]]
    );
}

#[test]
fn a_propertys_values_are_scored_when_configured() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        "[trending]\nproperties = [\"subreddit\"]\n",
    );
    let sub = |name: &str| json!({"subreddit": name, "views": 5});
    w.ingest(
        "events.ndjson",
        &[
            pageview(&hours_ago(0.0), "shop", "s1", "v1", "/").props(sub("rust")),
            pageview(&hours_ago(24.0), "shop", "s2", "v2", "/").props(sub("rust")),
            order(&hours_ago(0.0), "shop", "s1", "v1", Some(100)).props(sub("go")),
            custom(&hours_ago(48.0), "shop", "s3", "v3", "vote").props(sub("go")),
        ],
    );
    let file = run(&w, &[], "2026-11-22T06");
    // rust 1 + 0.5 = 1.5 -> 1000 * 1.5 / 101.5; go (an order weighs as a
    // custom event) 1 + 0.25 -> 12.35; a tie goes to the page.
    assert_json(
        &file["sites"]["shop"],
        &json!([
            {"item": "/", "kind": "page", "score": 14.78, "rank": 1, "change": null},
            {"item": "rust", "kind": "property", "property": "subreddit", "score": 14.78,
             "rank": 2, "change": null},
            {"item": "go", "kind": "property", "property": "subreddit", "score": 12.35,
             "rank": 3, "change": null},
            {"item": "vote", "kind": "event", "score": 2.49, "rank": 4, "change": null}
        ]),
    );
    // Stored like the other items: a second run measures its change.
    let file = run(&w, &[], "2026-11-22T06");
    assert_eq!(file["sites"]["shop"][1]["change"], 0.0);
}
