//! Props in and out of bounds: CSV's props column and gauge values, the
//! rejects that name the field, and config mistakes that exit 2 naming the
//! key.

use super::*;

#[test]
fn csv_input_carries_props_as_a_json_column_and_gauges_with_value() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\nsums = [\"seats\"]\n",
    );
    w.write(
        "events.csv",
        "ts,site,kind,session,visitor,path,name,value,props\n\
         2026-11-20T10:00:00Z,shop,pageview,s1,v1,/a,,,\"{\"\"plan\"\":\"\"pro\"\",\"\"seats\"\":3}\"\n\
         2026-11-20T10:01:00Z,shop,pageview,s2,v2,/b,,,\"{\"\"plan\"\":\"\"pro\"\",\"\"seats\"\":2}\"\n\
         2026-11-20T10:02:00Z,shop,gauge,sys,sys,,subscribers,41.5,\n\
         2026-11-20T10:03:00Z,shop,pageview,s3,v3,/c,,,\"[1]\"\n\
         2026-11-20T10:04:00Z,shop,gauge,sys,sys,,subscribers,lots,\n",
    );
    let out = w.cmd("ingest").arg("events.csv").output().unwrap();
    assert_exit(&out, 1);
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--breakdown", "plan"]),
        "\
date,site,breakdown,value,events,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,sum_seats
2026-11-20,shop,plan,pro,2,2,0,2,2,0,0.00,5
",
    );
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--gauges"]),
        "date,site,gauge,last,min,max,samples\n2026-11-20,shop,subscribers,41.5,41.5,41.5,1\n",
    );
    let rejects = rejects_of(&w);
    let reasons: Vec<(u64, &str)> = rejects
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                5,
                "props must be an object of strings, numbers and booleans"
            ),
            (6, "value must be a number, got 'lots'"),
        ]
    );
}

/// The rejects of the only ingest run that had some.
fn rejects_of(w: &Workdir) -> Vec<Value> {
    let dir = w.artifacts.join("rejects");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    parse_ndjson(&std::fs::read_to_string(files.remove(0)).unwrap())
}

/// Ingest `text` as NDJSON, which rejects some lines (exit 1): the
/// rejects' reasons in order.
fn ingest_rejecting(w: &Workdir, text: &str) -> Vec<String> {
    w.write("events.ndjson", text);
    let out = w.cmd("ingest").arg("events.ndjson").output().unwrap();
    assert_exit(&out, 1);
    rejects_of(w)
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn bad_props_values_and_gauges_are_rejected_naming_the_field() {
    let w = Workdir::new();
    let pv = || pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/");
    let many: serde_json::Map<String, Value> =
        (0..31).map(|i| (format!("k{i:02}"), json!(i))).collect();
    let events = [
        pv().props(json!([1, 2])),
        pv().props(json!({"a": [1]})),
        pv().props(json!({"a": null})),
        pv().props(Value::Object(many)),
        pv().props(json!({"k".repeat(65): 1})),
        pv().props(json!({"a": "v".repeat(257)})),
        gauge("2026-11-20T10:00:00Z", "shop", "followers", 1.0).without("value"),
        gauge("2026-11-20T10:00:00Z", "shop", "followers", 1.0).with("value", "12"),
        gauge("2026-11-20T10:00:00Z", "shop", "followers", 1.0).without("name"),
        pv().props(json!({"ok": true, "n": -2.5, "s": "x"})),
        pageview("2026-11-20T10:00:00Z", "shop", "s1", "v1", "/").with("ts", 1_763_600_000),
    ];
    let reasons = ingest_rejecting(&w, &ndjson(&events));
    let want = [
        "props must be an object of strings, numbers and booleans",
        "props.a must be a string, a number or a boolean",
        "props.a must be a string, a number or a boolean",
        "props has more than 30 keys; at most 30 are allowed",
        "props key 'kkkkkkkkkkkkkkkkkkkk...' is 65 characters long; keys are 1 to 64",
        "props.a is 257 characters long; at most 256 are allowed",
        "value is required for a gauge",
        "value must be a number",
        "name is required for a gauge",
        "ts: 1763600000 looks like Unix seconds; ts must be RFC 3339 or Unix milliseconds (1763600000000)",
    ];
    assert_eq!(reasons, want);
    assert_eq!(w.sql_i64("SELECT count(*) FROM events"), 1);
}

#[test]
fn config_mistakes_exit_2_naming_the_key() {
    let w = Workdir::new();
    w.create_store();
    let cases = [
        (
            "[[breakdown]]\nname = \"a\"\n",
            "[[breakdown]] \"a\" names no property",
        ),
        (
            "[[breakdown]]\nname = \"a\"\nproperty = \"p\"\ntop = 0\n",
            "[[breakdown]] \"a\": top = 0 keeps no values",
        ),
        (
            "[[breakdown]]\nname = \"a\"\nproperty = \"p\"\n[[breakdown]]\nname = \"a\"\nproperty = \"q\"\n",
            "[[breakdown]] name \"a\" is used twice",
        ),
        (
            "[[goal]]\nname = \"g\"\n",
            "[[goal]] \"g\" names nothing to match",
        ),
        (
            "[[goal]]\nname = \"g\"\nevent = \"e\"\npath = \"/p\"\n",
            "[[goal]] \"g\" gives both event and path",
        ),
        (
            "[[goal]]\nname = \"g\"\nevent = \"e\"\n[[goal]]\nname = \"g\"\npath = \"/p\"\n",
            "[[goal]] name \"g\" is used twice",
        ),
    ];
    for (config, want) in cases {
        w.write("cronlytics.toml", config);
        for job in ["aggregate", "export-metrics"] {
            let out = w.cmd(job).output().unwrap();
            assert_exit(&out, 2);
            assert_stderr_has(&out, &[want]);
        }
    }
    w.write(
        "cronlytics.toml",
        "[[breakdown]]\nname = \"plan\"\nproperty = \"plan\"\n[[breakdown]]\nname = \"model\"\nproperty = \"model\"\n",
    );
    let out = w
        .cmd("export-metrics")
        .args(["--breakdown", "author"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            "--breakdown \"author\" names no configured breakdown; the config has \"plan\", \"model\"",
        ],
    );
    std::fs::remove_file(w.path("cronlytics.toml")).unwrap();
    let out = w
        .cmd("export-metrics")
        .args(["--breakdown", "author"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["the config has no [[breakdown]]"]);
}

/// A props text met again is stored as it was the first time (then once,
/// as a set), whichever thread remembers it: also when the first line
/// carrying it was rejected for another field (the parser had checked the
/// text, the resolver never saw it), and an invalid text is rejected each
/// time.
#[test]
fn props_met_again_are_stored_as_the_first_time() {
    let w = Workdir::new();
    let line = |sec: u32, kind: &str, props: &str| {
        format!(
            r#"{{"ts":"2026-11-20T10:00:{sec:02}Z","site":"shop","kind":"{kind}","session":"s1","visitor":"v1","path":"/","props":{props}}}"#
        )
    };
    let good = r#"{"plan":"pro","n":3,"ok":true,"who":"b\u00e9a"}"#;
    let lines = [
        // Rejected once the whole line is read: its props were checked.
        line(0, "view", good),
        line(1, "pageview", good),
        line(2, "pageview", good),
        line(
            3,
            "pageview",
            r#"{ "plan" : "pro", "n" : 3, "ok" : true, "who" : "béa" }"#,
        ),
        line(4, "pageview", r#"{"plan":[1]}"#),
        line(5, "pageview", r#"{"plan":[1]}"#),
        line(6, "pageview", "null"),
        line(7, "pageview", "{}"),
        line(8, "pageview", "{}"),
    ];
    let reasons = ingest_rejecting(&w, &(lines.join("\n") + "\n"));
    assert_eq!(
        reasons,
        [
            "kind 'view' is not one of pageview, event, order, gauge",
            "props.plan must be a string, a number or a boolean",
            "props.plan must be a string, a number or a boolean",
        ]
    );
    let props = w.sql_rows("SELECT quote(props) FROM events ORDER BY id");
    let props: Vec<&str> = props.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(props.len(), 6);
    // The same four props each time (keys and strings as label ids): in
    // the first event's row; the next event with the same text gets them
    // stored once, as a set whose label holds the same encoding; the third
    // text, spelled otherwise, is met for the first time. None for null
    // and {}.
    let blob = props[0];
    assert!(blob.starts_with("X'"), "{props:?}");
    let set = w.sql_rows(&format!(
        "SELECT value = 'props-set:' || lower(hex({blob})) FROM labels WHERE id = {}",
        props[1]
    ));
    assert_eq!(set, [["1"]], "{props:?}");
    assert_eq!(props[2], blob);
    assert_eq!(&props[3..], ["NULL"; 3]);
    for text in ["plan", "pro", "n", "ok", "who", "béa"] {
        let query = format!("SELECT count(*) FROM labels WHERE value = '{text}'");
        assert_eq!(w.sql_i64(&query), 1, "{text}");
    }
}

/// Props met again are stored once, as a set that their events name by
/// id, while the first event with a text keeps them in its row. A
/// breakdown and a goal's property filter read both alike: with every set
/// written back into its events' rows, the store rolls up the same rows.
#[test]
fn props_stored_as_sets_roll_up_as_props_kept_in_the_row() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        r#"
[[breakdown]]
name = "plan"
property = "plan"
sums = ["seats"]

[[goal]]
name = "Pro welcome"
path = "/welcome*"
props = { plan = "pro" }
"#,
    );
    // Six texts (plan by i % 3, seats by i % 2), each met twice.
    let events: Vec<Ev> = (0..12u32)
        .map(|i| {
            let plan = ["pro", "free", "team"][i as usize % 3];
            let path = if i % 4 == 0 { "/pricing" } else { "/welcome" };
            let (session, visitor) = (format!("s{}", i % 5), format!("v{}", i % 5));
            pageview(
                &format!("2026-11-20T10:{i:02}:00Z"),
                "shop",
                &session,
                &visitor,
                path,
            )
            .props(json!({"plan": plan, "seats": i % 2 + 1}))
        })
        .collect();
    w.ingest("events.ndjson", &events);
    let stored = "SELECT typeof(props), count(*) FROM events GROUP BY 1 ORDER BY 1";
    assert_eq!(w.sql_rows(stored), [["blob", "6"], ["integer", "6"]]);
    let sets = "SELECT count(*) FROM labels WHERE value LIKE 'props-set:%'";
    assert_eq!(w.sql_i64(sets), 6);
    let rows = |w: &Workdir| {
        w.backfill("2026-11-20", "2026-11-20", "UTC");
        let breakdown = export_csv(w, "2026-11-20", "2026-11-20", &["--breakdown", "plan"]);
        let goals = export_csv(w, "2026-11-20", "2026-11-20", &["--goals"]);
        (breakdown, goals)
    };
    let (breakdown, goals) = rows(&w);
    // Per plan: 4 events; pro (i = 0, 3, 6, 9) in sessions 0, 3, 1, 4
    // with seats 1, 2, 1, 2; free (1, 4, 7, 10) in 1, 4, 2, 0 (2, 1, 2, 1);
    // team (2, 5, 8, 11) in 2, 0, 3, 1 (1, 2, 1, 2).
    assert_text(
        &breakdown,
        "\
date,site,breakdown,value,events,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,sum_seats
2026-11-20,shop,plan,free,4,4,0,4,4,0,0.00,6
2026-11-20,shop,plan,pro,4,4,0,4,4,0,0.00,6
2026-11-20,shop,plan,team,4,4,0,4,4,0,0.00,6
",
    );
    // Pro on /welcome*: i = 3, 6 and 9 (0 is on /pricing), sessions 3, 1
    // and 4 of the day's 5.
    assert_text(
        &goals,
        "\
date,site,goal,conversions,events,conversion_rate,revenue
2026-11-20,shop,Pro welcome,3,3,0.6000,0.00
",
    );
    w.db()
        .execute_batch(
            "UPDATE events SET props = (SELECT unhex(substr(value, 11)) FROM labels
                                        WHERE id = events.props)
             WHERE typeof(props) = 'integer'",
        )
        .unwrap();
    assert_eq!(w.sql_rows(stored), [["blob", "12"]]);
    assert_eq!(rows(&w), (breakdown, goals));
}
