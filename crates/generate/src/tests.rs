//! The generator's unit tests: determinism, shapes, volumes, incidents,
//! daylight saving, bad options.

use super::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn small() -> GenerateOptions {
    GenerateOptions {
        start: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        days: 14,
        events_per_day: 3_000,
        ..GenerateOptions::default()
    }
}

fn run(opts: &GenerateOptions) -> (Vec<u8>, GenerateSummary) {
    let mut out = Vec::new();
    let summary = generate(opts, &mut out).expect("generate succeeds");
    (out, summary)
}

fn events(opts: &GenerateOptions) -> Vec<Value> {
    let (out, _) = run(opts);
    out.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).expect("every line is JSON"))
        .collect()
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn ts(event: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(event["ts"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn local_date(event: &Value, tz: Tz) -> NaiveDate {
    ts(event).with_timezone(&tz).date_naive()
}

fn on(events: &[Value], site: &str, day: NaiveDate, tz: Tz) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["site"] == site && local_date(e, tz) == day)
        .cloned()
        .collect()
}

fn sessions(events: &[Value]) -> usize {
    events
        .iter()
        .map(|e| e["session"].as_str().unwrap())
        .collect::<HashSet<_>>()
        .len()
}

#[test]
fn same_seed_same_bytes_and_another_seed_other_bytes() {
    let opts = small();
    assert_eq!(run(&opts), run(&opts));
    let other = GenerateOptions { seed: 7, ..small() };
    assert_ne!(run(&opts).0, run(&other).0);
}

#[test]
fn every_line_has_the_fields_its_kind_needs() {
    let opts = GenerateOptions {
        late_fraction: 0.02,
        ..small()
    };
    let (out, summary) = run(&opts);
    let lines: Vec<&[u8]> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len() as u64, summary.events);
    let mut ids = HashSet::new();
    let (mut orders, mut revenue) = (0, 0);
    for line in lines {
        let e: Value = serde_json::from_slice(line).expect("valid JSON");
        let text = e["ts"].as_str().unwrap();
        assert_eq!(text.len(), 24, "{text}");
        assert!(text.ends_with('Z'), "{text}");
        let _ = ts(&e);
        assert!(opts.sites.iter().any(|s| e["site"] == s.as_str()));
        for field in ["session", "visitor", "id"] {
            let value = e[field].as_str().unwrap();
            assert!((1..=128).contains(&value.len()), "{field}: {value}");
        }
        assert!(
            ids.insert((e["site"].to_string(), e["id"].to_string())),
            "duplicate id"
        );
        match e["kind"].as_str().unwrap() {
            "pageview" => {
                assert!(e["path"].as_str().unwrap().starts_with('/'));
                assert!(e.get("referrer").is_none_or(Value::is_string));
            }
            "event" => assert!(!e["name"].as_str().unwrap().is_empty()),
            "order" => {
                orders += 1;
                revenue += e["revenue_cents"]
                    .as_u64()
                    .expect("revenue is an integer >= 0");
            }
            other => panic!("unexpected kind {other}"),
        }
    }
    assert!(orders > 0);
    assert_eq!((orders, revenue), (summary.orders, summary.revenue_cents));
}

#[test]
fn ids_are_left_out_when_not_wanted() {
    let opts = GenerateOptions {
        with_ids: false,
        days: 2,
        ..small()
    };
    assert!(events(&opts).iter().all(|e| e.get("id").is_none()));
}

#[test]
fn props_are_two_or_three_per_event_and_leave_the_rest_alone() {
    let plain = events(&GenerateOptions { days: 2, ..small() });
    let with = events(&GenerateOptions {
        days: 2,
        with_props: true,
        ..small()
    });
    assert_eq!(plain.len(), with.len());
    for (a, b) in plain.iter().zip(&with) {
        let mut b = b.clone();
        let props = b
            .as_object_mut()
            .unwrap()
            .remove("props")
            .expect("every event has props");
        assert_eq!(a, &b);
        let props = props.as_object().unwrap();
        let want = match a["kind"].as_str().unwrap() {
            "event" => 2,
            _ => 3,
        };
        assert_eq!(props.len(), want, "{props:?}");
        assert!(["free", "pro", "team"].contains(&props["plan"].as_str().unwrap()));
    }
}

#[test]
fn timestamps_ascend_without_late_events() {
    let times: Vec<_> = events(&small()).iter().map(ts).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn late_events_reorder_the_same_events() {
    let on_time = events(&small());
    let late = events(&GenerateOptions {
        late_fraction: 0.05,
        ..small()
    });
    let behind = late.windows(2).filter(|w| ts(&w[1]) < ts(&w[0])).count();
    assert!(behind > on_time.len() / 100, "{behind} events out of order");
    let key = |e: &Value| (ts(e), e["id"].as_str().unwrap().to_string());
    let mut late_keys: Vec<_> = late.iter().map(key).collect();
    let mut on_time_keys: Vec<_> = on_time.iter().map(key).collect();
    late_keys.sort();
    on_time_keys.sort();
    assert!(late_keys == on_time_keys, "lateness changed the events");
    // A few hours late at most.
    let mut latest = ts(&late[0]);
    for e in &late {
        latest = latest.max(ts(e));
        assert!(latest - ts(e) <= Duration::hours(4));
    }
}

#[test]
fn volume_and_sessions_look_like_traffic() {
    let all = events(&small());
    let per_day = all.len() as f64 / 14.0;
    assert!(
        (2_500.0..3_500.0).contains(&per_day),
        "{per_day} events per day"
    );
    let mut by_site: HashMap<&str, Vec<&Value>> = HashMap::new();
    for e in &all {
        by_site
            .entry(e["site"].as_str().unwrap())
            .or_default()
            .push(e);
    }
    let (shop, blog, saas) = (
        by_site["shop"].len(),
        by_site["blog"].len(),
        by_site["saas"].len(),
    );
    assert!(shop > blog && blog > saas, "{shop} {blog} {saas}");
    let mean_len = all.len() as f64 / sessions(&all) as f64;
    assert!(
        (3.5..5.5).contains(&mean_len),
        "{mean_len} events per session"
    );

    let shop: Vec<Value> = by_site["shop"].iter().map(|e| (*e).clone()).collect();
    let buying: HashSet<_> = shop
        .iter()
        .filter(|e| e["kind"] == "order")
        .map(|e| &e["session"])
        .collect();
    let conversion = buying.len() as f64 / sessions(&shop) as f64;
    assert!(
        (0.015..0.04).contains(&conversion),
        "shop conversion {conversion}"
    );
    let mut revenue: Vec<u64> = shop
        .iter()
        .filter_map(|e| e["revenue_cents"].as_u64())
        .collect();
    revenue.sort();
    let median = revenue[revenue.len() / 2];
    assert!(
        (2_500..6_500).contains(&median),
        "shop median order {median}"
    );

    // One visitor per session, at most 30 minutes, and some visitors come
    // back on another day.
    let mut seen: HashMap<&str, (&str, DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for e in &all {
        let entry = seen.entry(e["session"].as_str().unwrap()).or_insert((
            e["visitor"].as_str().unwrap(),
            ts(e),
            ts(e),
        ));
        assert_eq!(entry.0, e["visitor"].as_str().unwrap());
        entry.2 = ts(e);
        assert!(entry.2 - entry.1 <= Duration::minutes(30));
    }
    let mut days_of: HashMap<&str, HashSet<NaiveDate>> = HashMap::new();
    for (visitor, start, _) in seen.values() {
        days_of
            .entry(visitor)
            .or_default()
            .insert(start.date_naive());
    }
    let regulars = days_of.values().filter(|d| d.len() > 1).count();
    assert!(
        regulars * 10 > days_of.len(),
        "{regulars} of {} visitors return",
        days_of.len()
    );
    let direct = all
        .iter()
        .filter(|e| e["kind"] == "pageview")
        .filter(|e| e.get("referrer").is_none_or(|r| r == ""))
        .count() as f64
        / all.iter().filter(|e| e["kind"] == "pageview").count() as f64;
    assert!((0.3..0.5).contains(&direct), "direct share {direct}");
}

#[test]
fn incidents_leave_their_marks() {
    let tz = Tz::UTC;
    let incidents = [
        "2026-11-09:outage@shop",
        "2026-11-10:checkout-break",
        "2026-11-11:traffic:0.35@blog",
        "2026-11-12:bot-flood:2@saas",
    ];
    let opts = GenerateOptions {
        incidents: incidents.iter().map(|s| s.parse().unwrap()).collect(),
        ..small()
    };
    let with = events(&opts);
    let without = events(&small());

    assert!(on(&with, "shop", date("2026-11-09"), tz).is_empty());
    assert!(!on(&with, "blog", date("2026-11-09"), tz).is_empty());
    assert!(!on(&with, "shop", date("2026-11-10"), tz).is_empty());

    let day = date("2026-11-10");
    assert!(
        with.iter()
            .filter(|e| local_date(e, tz) == day)
            .all(|e| e["kind"] != "order")
    );
    assert!(
        without
            .iter()
            .any(|e| local_date(e, tz) == day && e["kind"] == "order")
    );

    let day = date("2026-11-11");
    let (dip, normal) = (
        sessions(&on(&with, "blog", day, tz)) as f64,
        sessions(&on(&without, "blog", day, tz)) as f64,
    );
    assert!((0.25..0.45).contains(&(dip / normal)), "{dip} vs {normal}");

    let day = date("2026-11-12");
    let flooded = on(&with, "saas", day, tz);
    let normal = sessions(&on(&without, "saas", day, tz)) as f64;
    let ratio = sessions(&flooded) as f64 / normal;
    assert!((2.7..3.3).contains(&ratio), "{ratio}");
    let direct_single = flooded
        .iter()
        .filter(|e| e.get("referrer").is_none())
        .count();
    assert!(direct_single as f64 > 2.0 * normal);
}

#[test]
fn local_days_hold_across_daylight_saving() {
    // America/Los_Angeles leaves DST on 2026-11-01: a 25-hour day.
    let tz: Tz = "America/Los_Angeles".parse().unwrap();
    let opts = GenerateOptions {
        tz,
        start: date("2026-10-30"),
        days: 4,
        incidents: vec!["2026-11-01:outage".parse().unwrap()],
        ..small()
    };
    let all = events(&opts);
    let times: Vec<_> = all.iter().map(ts).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let days: HashSet<NaiveDate> = all.iter().map(|e| local_date(e, tz)).collect();
    assert_eq!(
        days,
        HashSet::from([date("2026-10-30"), date("2026-10-31"), date("2026-11-02")])
    );
    // The daily rhythm follows local clocks: the small hours are quiet.
    let at = |hours: std::ops::Range<u32>| {
        all.iter()
            .filter(|e| hours.contains(&ts(e).with_timezone(&tz).hour()))
            .count()
    };
    assert!(at(2..5) * 5 < at(12..15));
}

#[test]
fn incidents_parse_and_print_back() {
    let cases = [
        ("2026-11-10:outage", None, IncidentKind::Outage),
        (
            "2026-11-10:traffic:0.35@shop",
            Some("shop"),
            IncidentKind::Traffic(0.35),
        ),
        (
            "2026-11-10:checkout-break",
            None,
            IncidentKind::CheckoutBreak,
        ),
        (
            "2026-11-10:bot-flood:3@blog",
            Some("blog"),
            IncidentKind::BotFlood(3.0),
        ),
    ];
    for (text, site, kind) in cases {
        let incident: Incident = text.parse().unwrap();
        assert_eq!(incident.site.as_deref(), site);
        assert_eq!(incident.date, date("2026-11-10"));
        assert_eq!(incident.kind, kind);
        assert_eq!(incident.to_string(), text);
    }
}

#[test]
fn bad_incidents_say_what_is_wrong() {
    let cases = [
        ("", "\"\" is not a date"),
        ("2026-13-01:outage", "\"2026-13-01\" is not a date"),
        ("2026-11-10", "the kind is missing"),
        ("2026-11-10:meltdown", "kind \"meltdown\" is unknown"),
        ("2026-11-10:traffic", "traffic needs a factor"),
        ("2026-11-10:traffic:lots", "factor \"lots\" is not a number"),
        ("2026-11-10:bot-flood:-1", "factor \"-1\" is not a number"),
        ("2026-11-10:outage:2", "outage takes no factor"),
        ("2026-11-10:traffic:2:3", "\"3\" is one part too many"),
        ("2026-11-10:outage@", "site \"\" must be"),
        ("2026-11-10:outage@a b", "site \"a b\" must be"),
    ];
    for (text, part) in cases {
        let message = text.parse::<Incident>().unwrap_err().to_string();
        assert!(message.contains(part), "{text}: {message}");
        assert!(message.contains("DATE:KIND[:FACTOR][@SITE]"), "{message}");
    }
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    let cases = [
        (
            GenerateOptions {
                sites: vec![],
                ..small()
            },
            "no sites",
        ),
        (
            GenerateOptions {
                sites: vec!["my shop".into()],
                ..small()
            },
            "\"my shop\" is invalid",
        ),
        (
            GenerateOptions {
                sites: vec!["a".into(), "a".into()],
                ..small()
            },
            "listed twice",
        ),
        (
            GenerateOptions {
                late_fraction: 1.5,
                ..small()
            },
            "late fraction",
        ),
        (
            GenerateOptions {
                incidents: vec!["2026-11-03:outage@shoe".parse().unwrap()],
                ..small()
            },
            "not generated",
        ),
        (
            GenerateOptions {
                incidents: vec!["2027-01-01:outage".parse().unwrap()],
                ..small()
            },
            "outside the generated days",
        ),
    ];
    for (opts, part) in cases {
        let message = generate(&opts, &mut Vec::new()).unwrap_err().to_string();
        assert!(message.contains(part), "{message}");
    }
}

#[test]
fn other_site_names_borrow_the_known_characters() {
    let opts = GenerateOptions {
        sites: vec!["a".into(), "b.example".into()],
        days: 3,
        ..small()
    };
    let all = events(&opts);
    assert!(all.iter().any(|e| e["site"] == "a") && all.iter().any(|e| e["site"] == "b.example"));
    assert!(
        all.iter()
            .any(|e| e["site"] == "a" && e["id"].as_str().unwrap().starts_with("a-"))
    );
}

#[test]
fn timestamps_match_chrono() {
    let mut writer_out = Vec::new();
    let mut writer = NdjsonWriter::new(&mut writer_out, false, false);
    for ms in [
        0,
        999,
        951_782_400_123,
        1_795_000_000_000,
        4_102_444_799_999,
        1_782_777_600_000,
    ] {
        writer.buf.clear();
        writer.push_ts(ms);
        let expected = DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        assert_eq!(String::from_utf8(writer.buf.clone()).unwrap(), expected);
    }
}

#[test]
fn catalogs_have_a_few_hundred_distinct_pages() {
    for profile in [&SHOP, &BLOG, &SAAS] {
        let paths = (profile.paths)();
        let distinct: HashSet<_> = paths.iter().collect();
        assert_eq!(distinct.len(), paths.len(), "duplicate paths");
        assert!((200..400).contains(&paths.len()), "{} paths", paths.len());
    }
}

#[test]
fn empty_ranges_write_nothing() {
    let (out, summary) = run(&GenerateOptions { days: 0, ..small() });
    assert!(out.is_empty());
    assert_eq!(summary, GenerateSummary::default());
}

fn access_log(opts: &GenerateOptions) -> (String, GenerateSummary) {
    let (out, summary) = run(&GenerateOptions {
        format: OutputFormat::AccessLog,
        ..opts.clone()
    });
    (String::from_utf8(out).expect("a log is UTF-8"), summary)
}

/// The access log: deterministic, one combined line per request in time
/// order, the orders' totals adding up to the revenue, IPv6 clients, and
/// the noise a real log has in plausible shares.
#[test]
fn access_logs_look_like_a_servers() {
    let opts = GenerateOptions {
        sites: vec!["shop".into()],
        ..small()
    };
    let (log, summary) = access_log(&opts);
    assert_eq!(access_log(&opts).0, log);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len() as u64, summary.events);
    let mut last = String::new();
    let (mut bots, mut assets, mut errors, mut redirects, mut posts, mut ipv6, mut twice) =
        (0, 0, 0, 0, 0, 0, 0);
    let mut revenue_cents = 0u64;
    let mut previous = "";
    for line in &lines {
        // addr - - [dd/Mon/yyyy:HH:MM:SS +0000] "METHOD target HTTP/1.1" status bytes "referer" "agent"
        let (head, rest) = line.split_once(" [").expect("a time");
        let (time, rest) = rest.split_once("] \"").expect("a request");
        assert!(head.ends_with(" - -"), "{line}");
        assert_eq!(time.len(), 26, "{line}");
        // November 2026 throughout: the day, then the time.
        assert_eq!(&time[2..12], "/Nov/2026:", "{line}");
        let stamp = format!("{}{}", &time[0..2], &time[12..20]);
        assert!(stamp >= last, "out of order: {line}");
        last = stamp;
        let fields: Vec<&str> = rest.splitn(2, "\" ").collect();
        let request = fields[0];
        let status: u16 = fields[1]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .expect("a status");
        assert!(line.ends_with('"'), "{line}");
        ipv6 += usize::from(head.contains(':'));
        bots += usize::from(
            line.contains("bot") || line.contains("curl/") || line.contains("python-requests"),
        );
        assets += usize::from(
            request.contains("/static/")
                || request.contains("/img/")
                || request.contains("/fonts/")
                || request.contains("favicon"),
        );
        errors += usize::from(status >= 400);
        redirects += usize::from(status == 301);
        posts += usize::from(request.starts_with("POST"));
        twice += usize::from(*line == previous);
        previous = line;
        if let Some(total) = request.split("total=").nth(1) {
            let total = total.split(' ').next().unwrap();
            let (units, cents) = total.split_once('.').unwrap();
            revenue_cents += units.parse::<u64>().unwrap() * 100 + cents.parse::<u64>().unwrap();
        }
    }
    assert_eq!(revenue_cents, summary.revenue_cents);
    assert!(summary.orders > 0);
    let share = |n: usize| n as f64 / lines.len() as f64;
    assert!((0.05..0.15).contains(&share(ipv6)), "ipv6 {ipv6}");
    assert!((0.02..0.15).contains(&share(bots)), "bots {bots}");
    assert!((0.3..0.7).contains(&share(assets)), "assets {assets}");
    assert!((0.002..0.05).contains(&share(errors)), "errors {errors}");
    assert!(
        redirects > 0 && posts > 0 && twice > 0,
        "{redirects} {posts} {twice}"
    );
    // Several sites: the site is the virtual host in front.
    let (log, _) = access_log(&small());
    assert!(
        log.lines()
            .all(|l| ["shop ", "blog ", "saas "].iter().any(|s| l.starts_with(s)))
    );
    // Late events belong to NDJSON.
    let late = GenerateOptions {
        format: OutputFormat::AccessLog,
        late_fraction: 0.1,
        ..small()
    };
    let err = generate(&late, &mut Vec::new()).unwrap_err().to_string();
    assert!(err.contains("--late-fraction is for NDJSON"), "{err}");
}
