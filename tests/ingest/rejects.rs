//! Bad lines: every rule a line can break goes to the rejects file with
//! its physical line number and a reason naming the field.

use super::*;

/// One input line and, when it breaks a rule, the word its reason must name.
fn validation_cases() -> Vec<(String, Option<&'static str>)> {
    let ok = || pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a");
    let site64 = "a.b_c-D9".repeat(8);
    let site65 = format!("{site64}x");
    vec![
        (ok().with("ts", "2026-11-21T11:00:00+01:00").line(), None),
        (ok().with("ts", 1_795_255_200_000i64).line(), None),
        (ok().with("ts", "2026-11-21T10:00:00").line(), Some("ts")),
        (ok().with("ts", "yesterday").line(), Some("ts")),
        (ok().with("ts", true).line(), Some("ts")),
        (ok().without("ts").line(), Some("ts")),
        (String::new(), None), // a blank line is skipped but counted
        (ok().with("site", "my shop").line(), Some("site")),
        (ok().with("site", "shop/eu").line(), Some("site")),
        (ok().with("site", "café").line(), Some("site")),
        (ok().with("site", site65).line(), Some("site")),
        (ok().with("site", site64).line(), None),
        (ok().with("site", "").line(), Some("site")),
        (ok().without("site").line(), Some("site")),
        (ok().with("kind", "click").line(), Some("kind")),
        (ok().without("kind").line(), Some("kind")),
        (
            ok().with("session", "s".repeat(129)).line(),
            Some("session"),
        ),
        (ok().with("session", "s".repeat(128)).line(), None),
        (ok().with("session", "é".repeat(128)).line(), None),
        (ok().with("session", "").line(), Some("session")),
        (ok().with("session", 5).line(), Some("session")),
        (
            ok().with("visitor", "v".repeat(129)).line(),
            Some("visitor"),
        ),
        (ok().with("visitor", "v".repeat(128)).line(), None),
        (ok().with("visitor", "").line(), Some("visitor")),
        (ok().without("visitor").line(), Some("visitor")),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", Some(-5)).line(),
            Some("revenue_cents"),
        ),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", None)
                .with("revenue_cents", 1.5)
                .line(),
            Some("revenue_cents"),
        ),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", None)
                .with("revenue_cents", "100")
                .line(),
            Some("revenue_cents"),
        ),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", Some(0)).line(),
            None,
        ),
        (
            order("2026-11-21T10:00:00Z", "shop", "s1", "v1", None).line(),
            None,
        ),
        (
            custom("2026-11-21T10:00:00Z", "shop", "s1", "v1", "x")
                .without("name")
                .line(),
            Some("name"),
        ),
        (
            custom("2026-11-21T10:00:00Z", "shop", "s1", "v1", "").line(),
            Some("name"),
        ),
        (ok().without("path").line(), Some("path")),
        (
            r#"{"ts":"2026-11-21T10:00:00Z","site":"#.to_string(),
            Some("JSON"),
        ),
        ("[1,2,3]".to_string(), Some("JSON object")),
    ]
}

/// Check a rejects file against the cases: exactly the bad lines, in order,
/// with 1-based line numbers, the raw line and a reason naming the field.
fn check_rejects(text: &str, file: &str, cases: &[(String, Option<&str>)]) {
    let rejects = parse_ndjson(text);
    let expected: Vec<(usize, &String, &str)> = cases
        .iter()
        .enumerate()
        .filter_map(|(i, (line, field))| field.map(|f| (i + 1, line, f)))
        .collect();
    let got_lines: Vec<u64> = rejects
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    let want_lines: Vec<u64> = expected.iter().map(|e| e.0 as u64).collect();
    assert_eq!(got_lines, want_lines, "rejected line numbers\n{text}");
    for (reject, (line_no, raw, field)) in rejects.iter().zip(&expected) {
        let obj = reject.as_object().expect("a reject is an object");
        let mut keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["file", "line", "raw", "reason"], "line {line_no}");
        assert_eq!(reject["file"], file, "line {line_no}");
        assert_eq!(reject["raw"].as_str(), Some(raw.as_str()), "line {line_no}");
        let reason = reject["reason"].as_str().unwrap();
        assert!(
            reason.contains(field),
            "line {line_no}: the reason {reason:?} does not name {field:?}"
        );
    }
}

#[test]
fn every_rule_breaking_line_goes_to_the_rejects_file() {
    let w = Workdir::new();
    let cases = validation_cases();
    let text: String = cases.iter().map(|(l, _)| format!("{l}\n")).collect();
    w.write("events.ndjson", &text);
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 1);

    let good = cases
        .iter()
        .filter(|(l, f)| f.is_none() && !l.is_empty())
        .count();
    let bad = cases.iter().filter(|(_, f)| f.is_some()).count();
    let default_path = w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson");
    assert_stderr_has(
        &out,
        &[
            &format!("stored {good} events, 0 duplicates, {bad} rejected, 0 days marked"),
            &default_path.display().to_string(),
        ],
    );
    assert_eq!(events_count(&w), good as i64, "every good line is stored");
    let files: Vec<_> = std::fs::read_dir(w.artifacts.join("rejects"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        files,
        ["ingest-20261122T060000Z.ndjson"],
        "no temp file left"
    );
    check_rejects(
        &std::fs::read_to_string(&default_path).unwrap(),
        "events.ndjson",
        &cases,
    );
    let run = w.sql_rows("SELECT status, exit_code, records, errors FROM job_runs");
    assert_eq!(
        run,
        vec![row(&["warning", "1", &good.to_string(), &bad.to_string()])]
    );
}

#[test]
fn rejects_flag_chooses_the_file() {
    let w = Workdir::new();
    let cases = validation_cases();
    let text: String = cases.iter().map(|(l, _)| format!("{l}\n")).collect();
    w.write("in/events.ndjson", &text);
    let out = w
        .cmd("ingest")
        .args(["--rejects", "out/bad.ndjson", "in/events.ndjson"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    check_rejects(&w.read("out/bad.ndjson"), "in/events.ndjson", &cases);
    assert!(!w.artifacts.join("rejects").exists());
}

#[test]
fn csv_rejects_carry_file_line_numbers() {
    let w = Workdir::new();
    w.write(
        "events.csv",
        "ts,site,kind,session,visitor,path,revenue_cents\n\
         2026-11-21T10:00:00Z,shop,pageview,s1,v1,/a,\n\
         2026-11-21T10:00:00Z,shop,click,s1,v1,/a,\n\
         2026-11-21T10:00:00Z,shop,pageview\n\
         2026-11-21T10:00:00Z,shop,order,s1,v1,,abc\n\
         2026-11-21T10:00:00,shop,order,s1,v1,,\n\
         2026-11-21T10:00:00Z,shop,order,s1,v1,,250\n",
    );
    let out = w.cmd("ingest").arg("events.csv").output().unwrap();
    assert_exit(&out, 1);
    assert_eq!(events_count(&w), 2);
    let rejects = parse_ndjson(
        &std::fs::read_to_string(w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson"))
            .unwrap(),
    );
    let summary: Vec<(u64, String)> = rejects
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["raw"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (3, "2026-11-21T10:00:00Z,shop,click,s1,v1,/a,".to_string()),
            (4, "2026-11-21T10:00:00Z,shop,pageview".to_string()),
            (5, "2026-11-21T10:00:00Z,shop,order,s1,v1,,abc".to_string()),
            (6, "2026-11-21T10:00:00,shop,order,s1,v1,,".to_string()),
        ]
    );
    for (r, field) in rejects
        .iter()
        .zip(["kind", "fields", "revenue_cents", "ts"])
    {
        assert!(r["reason"].as_str().unwrap().contains(field), "{r}");
        assert_eq!(r["file"], "events.csv");
    }
}

#[test]
fn integer_ts_in_unix_seconds_is_rejected_with_the_reason() {
    let w = Workdir::new();
    let ok = pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a");
    w.write(
        "events.ndjson",
        &ndjson(&[
            ok.clone().with("ts", 1_793_613_600i64),
            ok.clone().with("ts", 99_999_999_999i64),
            ok.clone().with("ts", 100_000_000_000i64),
            ok.with("ts", 1_793_613_600_000i64),
        ]),
    );
    w.write(
        "events.csv",
        "ts,site,kind,session,visitor,path\n1793613600,shop,pageview,s1,v1,/a\n1793613600000,shop,pageview,s1,v1,/a\n",
    );
    let out = w
        .cmd("ingest")
        .args(["events.ndjson", "events.csv"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert_stderr_has(&out, &["stored 3 events, 0 duplicates, 3 rejected"]);
    let rejects = parse_ndjson(
        &std::fs::read_to_string(w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson"))
            .unwrap(),
    );
    let got: Vec<(String, u64, String)> = rejects
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let seconds = "ts: 1793613600 looks like Unix seconds; ts must be RFC 3339 or Unix milliseconds (1793613600000)";
    assert_eq!(
        got,
        vec![
            ("events.ndjson".to_string(), 1, seconds.to_string()),
            (
                "events.ndjson".to_string(),
                2,
                "ts: 99999999999 looks like Unix seconds; ts must be RFC 3339 or Unix milliseconds (99999999999000)".to_string()
            ),
            ("events.csv".to_string(), 2, seconds.to_string()),
        ]
    );
}

/// The line number of every reject of `file` in the run's rejects file.
fn rejected_lines(w: &Workdir, file: &str) -> Vec<u64> {
    let path = w.artifacts.join("rejects/ingest-20261122T060000Z.ndjson");
    parse_ndjson(&std::fs::read_to_string(path).unwrap())
        .iter()
        .filter(|r| r["file"] == file)
        .map(|r| r["line"].as_u64().unwrap())
        .collect()
}

#[test]
fn rejects_carry_physical_line_numbers_whatever_the_line_ends() {
    let w = Workdir::new();
    let good = "2026-11-21T10:00:00Z,shop,pageview,s1,v1,/a";
    let bad = "2026-11-21T10:00:00Z,shop,click,s1,v1,/a";
    // Lines: 1 header, 2 good, 3 bad, 4 blank, 5-6 a good record with a
    // quoted path over two lines, 7-8 a bad one, 9 bad, without a line end.
    let csv_lines = |end: &str| {
        let multi = |kind: &str| format!("2026-11-21T10:00:00Z,shop,{kind},s1,v1,\"/x{end}y\"");
        let (good_multi, bad_multi) = (multi("pageview"), multi("click"));
        format!(
            "ts,site,kind,session,visitor,path{end}{good}{end}{bad}{end}{end}{good_multi}{end}{bad_multi}{end}{bad}"
        )
    };
    let ndjson_lines = |end: &str| {
        let good = pageview("2026-11-21T10:00:00Z", "shop", "s1", "v1", "/a").line();
        format!("{good}{end}not json{end}{end}{good}{end}{{\"ts\":1}}{end}")
    };
    let mut inputs = Vec::new();
    for (name, bom, end) in [
        ("lf", "", "\n"),
        ("crlf", "", "\r\n"),
        ("bom-lf", "\u{feff}", "\n"),
        ("bom-crlf", "\u{feff}", "\r\n"),
    ] {
        let csv = format!("{name}.csv");
        w.write(&csv, &format!("{bom}{}", csv_lines(end)));
        let nd = format!("{name}.ndjson");
        w.write(&nd, &format!("{bom}{}", ndjson_lines(end)));
        inputs.push(csv);
        inputs.push(nd);
    }
    let out = w.cmd("ingest").args(&inputs).output().unwrap();
    assert_exit(&out, 1);
    for input in &inputs {
        let want: &[u64] = if input.ends_with(".csv") {
            &[3, 7, 9]
        } else {
            &[2, 5]
        };
        assert_eq!(rejected_lines(&w, input), want, "{input}");
    }
    // Every good line or record is stored, two per input, the first line
    // after a BOM too.
    assert_eq!(events_count(&w), 16);
}
