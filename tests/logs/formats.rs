//! Every format on a few real-looking lines, request classes, referrers,
//! sites, goals and bad input.

use super::*;
use crate::common::*;

/// Combined lines with IPv6, a missing Referer, escaped quotes in a user
/// agent, a multi-byte path and a request line that is not HTTP (rejected,
/// naming the field).
#[test]
fn combined_lines_of_every_shape() {
    let w = Workdir::new();
    let log = lines(&[
        combined(
            "2001:db8::1",
            "21/Nov/2026:10:00:00 +0000",
            "GET /caf%C3%A9 HTTP/1.1",
            200,
            "-",
            FIREFOX,
        ),
        combined(
            "10.0.0.2",
            "21/Nov/2026:10:00:01 +0100",
            "GET /ünïcode/页 HTTP/2.0",
            200,
            "https://www.Google.com/search?q=x",
            r#"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \"Chrome\"/120.0 Safari/537.36"#,
        ),
        combined(
            "10.0.0.3",
            "21/Nov/2026:10:00:02 +0000",
            r"\x16\x03\x01\x00",
            400,
            "-",
            "-",
        ),
        combined(
            "10.0.0.4",
            "21/Nov/2026:10:00:03 +0000",
            "GET /pricing?utm_source=newsletter HTTP/1.1",
            200,
            "-",
            SAFARI,
        ),
    ]);
    w.write("access.log", &log);
    let out = w.ingest_log(&["access.log", "--site", "example.org", "--keep", "errors"]);
    assert_exit(&out, 1);
    assert_stderr_has(
        &out,
        &[
            "stored 3 events, 0 duplicates, 1 rejected",
            "read access.log as combined (3 of the first 4 lines fit)",
        ],
    );
    assert_eq!(
        pageviews(&w),
        vec![
            (
                "example.org".into(),
                "/ünïcode/页".into(),
                "google.com".into()
            ),
            ("example.org".into(), "/caf%C3%A9".into(), "direct".into()),
            ("example.org".into(), "/pricing".into(), "newsletter".into()),
        ]
    );
    let rejected = rejects_text(&w);
    let reject: serde_json::Value = serde_json::from_str(rejected.trim()).unwrap();
    assert_eq!(reject["line"], 3);
    assert!(
        reject["reason"].as_str().unwrap().starts_with("request:"),
        "{reject}"
    );
}

/// Each predefined format and the server's own definitions read a line
/// into the same pageview.
#[test]
fn every_format_reads_its_lines() {
    let cases: Vec<(&str, Vec<&str>, String)> = vec![
        (
            "common",
            vec!["--site", "example.org"],
            r#"203.0.113.9 - - [21/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 512"#.to_string(),
        ),
        (
            "vhost-combined",
            vec![],
            format!(r#"www.Example.org:443 {}"#, page(9, "10:00:00", "/a")),
        ),
        (
            "nginx-json",
            vec![],
            r#"{"time_iso8601":"2026-11-21T11:00:00+01:00","remote_addr":"203.0.113.9","request":"GET /a?x=1 HTTP/1.1","status":"200","body_bytes_sent":"612","http_referer":"-","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0","host":"example.org"}"#.to_string(),
        ),
        (
            "caddy",
            vec![],
            r#"{"level":"info","ts":1795255200.5,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"203.0.113.9","remote_port":"41342","client_ip":"203.0.113.9","proto":"HTTP/2.0","method":"GET","host":"example.org","uri":"/a","headers":{"User-Agent":["Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"]}},"size":10900,"status":200}"#.to_string(),
        ),
        (
            "traefik",
            vec![],
            r#"{"ClientHost":"2001:db8::5","DownstreamStatus":200,"RequestHost":"example.org","RequestMethod":"GET","RequestPath":"/a?x=1","RequestProtocol":"HTTP/1.1","StartUTC":"2026-11-21T10:00:00.5Z","request_User-Agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15","request_Referer":"-"}"#.to_string(),
        ),
        (
            "w3c",
            vec!["--site", "example.org"],
            "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n2026-11-21 10:00:00 10.0.0.1 GET /a x=1 443 - 203.0.113.9 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/126.0.0.0+Safari/537.36 - 200 0 0 15".to_string(),
        ),
        (
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$host""#,
            vec![],
            format!(r#"{} "example.org""#, page(9, "10:00:00", "/a")),
        ),
        (
            r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %v"#,
            vec![],
            format!(r#"{} example.org"#, page(9, "10:00:00", "/a")),
        ),
    ];
    for (format, extra, line) in cases {
        for log_format in [format, "auto"] {
            if log_format == "auto" && (format.contains('$') || format.contains('%')) {
                continue;
            }
            let w = Workdir::new();
            w.write("access.log", &format!("{line}\n"));
            let mut args = vec!["access.log", "--log-format", log_format];
            args.extend(extra.iter().copied());
            let out = w.ingest_log(&args);
            assert_exit(&out, 0);
            assert_stderr_has(&out, &["stored 1 events, 0 duplicates, 0 rejected"]);
            let views = pageviews(&w);
            assert_eq!(views.len(), 1, "{format}");
            assert_eq!(
                (views[0].0.as_str(), views[0].1.as_str()),
                ("example.org", "/a"),
                "{format} as {log_format}"
            );
            if log_format == "auto" {
                assert_stderr_has(
                    &out,
                    &[&format!(
                        "read access.log as {format} (1 of the first 1 lines fit)"
                    )],
                );
            }
        }
    }
}

/// A bot, an asset, a 404, a redirect and a POST are left out by default;
/// `--keep` switches each class back on, one by one, and the summary
/// counts what each class left out.
#[test]
fn request_classes_are_left_out_unless_kept() {
    let log = lines(&[
        page(1, "10:00:00", "/"),
        combined(
            "10.0.0.2",
            "21/Nov/2026:10:00:01 +0000",
            "GET / HTTP/1.1",
            200,
            "-",
            GOOGLEBOT,
        ),
        page(3, "10:00:02", "/static/app.css"),
        combined(
            "10.0.0.4",
            "21/Nov/2026:10:00:03 +0000",
            "GET /wp-login.php HTTP/1.1",
            404,
            "-",
            FIREFOX,
        ),
        combined(
            "10.0.0.5",
            "21/Nov/2026:10:00:04 +0000",
            "GET /old HTTP/1.1",
            301,
            "-",
            FIREFOX,
        ),
        combined(
            "10.0.0.6",
            "21/Nov/2026:10:00:05 +0000",
            "POST /api/cart HTTP/1.1",
            200,
            "-",
            FIREFOX,
        ),
        combined(
            "10.0.0.7",
            "21/Nov/2026:10:00:06 +0000",
            "GET /cached HTTP/1.1",
            304,
            "-",
            FIREFOX,
        ),
    ]);
    for (keep, stored, paths) in [
        (None, 2, vec!["/", "/cached"]),
        (Some("bots"), 3, vec!["/", "/", "/cached"]),
        (Some("static"), 3, vec!["/", "/static/app.css", "/cached"]),
        (Some("errors"), 3, vec!["/", "/wp-login.php", "/cached"]),
        (Some("redirects"), 3, vec!["/", "/old", "/cached"]),
        (Some("methods"), 3, vec!["/", "/api/cart", "/cached"]),
        (
            Some("all"),
            7,
            vec![
                "/",
                "/",
                "/static/app.css",
                "/wp-login.php",
                "/old",
                "/api/cart",
                "/cached",
            ],
        ),
    ] {
        let w = Workdir::new();
        w.write("access.log", &log);
        let mut args = vec!["access.log", "--site", "example.org"];
        if let Some(keep) = keep {
            args.extend(["--keep", keep]);
        }
        let out = w.ingest_log(&args);
        assert_exit(&out, 0);
        assert_stderr_has(&out, &[&format!("stored {stored} events")]);
        let got: Vec<String> = pageviews(&w).into_iter().map(|p| p.1).collect();
        assert_eq!(got, paths, "--keep {keep:?}");
        if keep.is_none() {
            assert_stderr_has(
                &out,
                &["7 requests, left out: 1 bots, 1 methods, 1 errors, 1 redirects, 1 static"],
            );
        }
    }
}

/// Visitors are (site, address, user agent) hashed under the store's
/// secret: the address is stored nowhere; a Referer on the site itself is
/// internal (`direct`); the host makes the site; a host that breaks the
/// site rule is rejected, naming it.
#[test]
fn visitors_sites_and_internal_referrers() {
    let w = Workdir::new();
    let vhost = |host: &str, n: u8, hms: &str, path: &str, referer: &str, agent: &str| {
        format!(
            "{host} {}",
            combined(
                &format!("10.0.0.{n}"),
                &format!("21/Nov/2026:{hms} +0000"),
                &format!("GET {path} HTTP/1.1"),
                200,
                referer,
                agent
            )
        )
    };
    w.write(
        "access.log",
        &lines(&[
            vhost(
                "www.shop.example",
                1,
                "10:00:00",
                "/",
                "https://duckduckgo.com/",
                FIREFOX,
            ),
            vhost(
                "shop.example:443",
                1,
                "10:01:00",
                "/cart",
                "https://www.shop.example/",
                FIREFOX,
            ),
            vhost("shop.example", 1, "10:02:00", "/", "-", SAFARI),
            vhost("blog.example", 1, "10:03:00", "/post", "-", FIREFOX),
            vhost("bad_host!", 2, "10:04:00", "/", "-", FIREFOX),
        ]),
    );
    let out = w.ingest_log(&["access.log", "--log-format", "vhost-combined"]);
    assert_exit(&out, 1);
    assert_eq!(
        pageviews(&w),
        vec![
            ("shop.example".into(), "/".into(), "duckduckgo.com".into()),
            ("shop.example".into(), "/cart".into(), "direct".into()),
            ("shop.example".into(), "/".into(), "direct".into()),
            ("blog.example".into(), "/post".into(), "direct".into()),
        ]
    );
    // Same address: one visitor with Firefox, another with Safari, another
    // on the other site; all Firefox requests on the shop in one session.
    assert_eq!(count(&w, "SELECT count(*) FROM visitors"), 3);
    assert_eq!(count(&w, "SELECT count(*) FROM sessions"), 3);
    assert_eq!(
        count(
            &w,
            "SELECT count(*) FROM visitors WHERE key LIKE '%10.0.0%'"
        ),
        0
    );
    assert_eq!(
        count(&w, "SELECT count(*) FROM meta WHERE key = 'log_secret'"),
        1
    );
    let rejected = rejects_text(&w);
    assert!(
        rejected.contains(r#"host: \"bad_host!\" is not a site name"#),
        "{rejected}"
    );
    assert!(rejected.contains(r#""line":5"#), "{rejected}");
}

/// `[logs] forwarded_for` takes the client from a header field; the
/// proxy's address alone would make one visitor.
#[test]
fn forwarded_for_names_the_client_behind_a_proxy() {
    let w = Workdir::new();
    let line = |client: &str, hms: &str| format!(r#"{} "{client}""#, page(1, hms, "/"));
    w.write(
        "access.log",
        &lines(&[
            line("203.0.113.1, 10.0.0.1", "10:00:00"),
            line("203.0.113.2", "10:00:01"),
        ]),
    );
    let config = w.write(
        "logs.toml",
        "[logs]\nsite = \"example.org\"\nforwarded_for = \"X-Forwarded-For\"\n",
    );
    let format = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#;
    let out = w.ingest_log(&[
        "access.log",
        "--config",
        config.to_str().unwrap(),
        "--log-format",
        format,
    ]);
    assert_exit(&out, 0);
    assert_eq!(count(&w, "SELECT count(*) FROM visitors"), 2);
}

/// Goals turn requests into custom events and orders (revenue from the
/// query), so the conversion rate works from the log alone.
#[test]
fn goals_make_orders_and_a_conversion_rate() {
    let w = Workdir::new();
    w.write(
        "access.log",
        &lines(&[
            page(1, "10:00:00", "/"),
            page(1, "10:05:00", "/checkout/thank-you?order=17&total=49.90"),
            page(2, "11:00:00", "/"),
            page(2, "11:01:00", "/signup/done"),
            page(3, "12:00:00", "/"),
            page(4, "13:00:00", "/checkout/thank-you?order=18&total=ten"),
        ]),
    );
    // The config every job reads: the log's goals make events and orders,
    // which a [[goal]] counts like those of any other input.
    let config = w.write(
        "cronlytics.toml",
        "[[logs.goal]]\npath = \"/checkout/thank-you*\"\nkind = \"order\"\nrevenue_param = \"total\"\n\n[[logs.goal]]\npath = \"/signup/*\"\nkind = \"event\"\nname = \"signup\"\n\n[[goal]]\nname = \"Signup\"\nevent = \"signup\"\n",
    );
    let out = w.ingest_log(&[
        "access.log",
        "--site",
        "shop",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_exit(&out, 1);
    assert_stderr_has(&out, &["stored 5 events, 0 duplicates, 1 rejected"]);
    w.backfill("2026-11-21", "2026-11-21", "UTC");
    let r = w.rollup("2026-11-21", "shop");
    assert_eq!(r["pageviews"], 3);
    assert_eq!(r["custom_events"], 1);
    assert_eq!(r["orders"], 1);
    assert_eq!(r["revenue_cents"], 4990);
    assert_eq!(r["unique_sessions"], 3);
    let rate = r["conversion_rate"].as_f64().unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-4, "{rate}");
    let out = w
        .cmd("export-metrics")
        .args(["--days", "1", "--goals"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_text(
        &stdout(&out),
        "date,site,goal,conversions,events,conversion_rate,revenue\n2026-11-21,shop,Signup,1,1,0.3333,0.00\n",
    );
}

/// A file whose first lines fit no format is not read: exit 2 naming the
/// file, the formats tried, its first line and --log-format; with the
/// format named, the same.
#[test]
fn a_file_in_no_known_format_is_not_read() {
    let w = Workdir::new();
    w.write(
        "app.log",
        "2026-11-21 10:00:00 INFO started\n2026-11-21 10:00:01 INFO ready\n",
    );
    let out = w.ingest_log(&["app.log"]);
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            "cannot read app.log as an access log",
            "tried caddy, traefik, nginx-json, w3c, vhost-combined, combined, common",
            "its first line is \"2026-11-21 10:00:00 INFO started\"",
            "--log-format",
        ],
    );
    let out = w.ingest_log(&["app.log", "--log-format", "combined", "--site", "x"]);
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        &[
            "none of its first 2 lines fits the format combined",
            "--log-format",
        ],
    );
    assert!(!w.db.exists() || count(&w, "SELECT count(*) FROM events") == 0);
    // A combined log needs a site.
    w.write("access.log", &lines(&[page(1, "10:00:00", "/")]));
    let out = w.ingest_log(&["access.log"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["names no host", "--site NAME"]);
    // A bad --keep or --log-format is named.
    let out = w.ingest_log(&["access.log", "--site", "x", "--keep", "robots"]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, &["--keep"]);
}
