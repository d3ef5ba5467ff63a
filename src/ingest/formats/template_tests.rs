//! Tests of the template matcher with lines shaped like real nginx and
//! Apache logs.

use std::borrow::Cow;

use super::*;
use crate::ingest::formats::LogFormat;

fn opts() -> ParserOptions {
    ParserOptions::default()
}

const NGINX_LINE: &str = r#"203.0.113.9 - - [06/Feb/2019:15:30:25 +0100] "GET /blog/post-1?utm_source=news HTTP/1.1" 200 5316 "https://www.google.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:65.0) Gecko/20100101 Firefox/65.0""#;

#[test]
fn combined_line() {
    let r = Template::combined(&opts()).parse(NGINX_LINE).unwrap();
    assert_eq!(r.remote_addr.as_deref(), Some("203.0.113.9"));
    assert_eq!(r.ts_ms, 1_549_463_425_000);
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/blog/post-1");
    assert_eq!(r.query.as_deref(), Some("utm_source=news"));
    assert_eq!(r.protocol.as_deref(), Some("HTTP/1.1"));
    assert_eq!((r.status, r.bytes), (200, Some(5316)));
    assert_eq!(r.referer.as_deref(), Some("https://www.google.com/"));
    assert!(r.user_agent.as_deref().unwrap().ends_with("Firefox/65.0"));
    assert_eq!(r.host, None);
    // Nothing was unescaped, so nothing was copied.
    assert!(matches!(r.path, Cow::Borrowed(_)) && matches!(r.user_agent, Some(Cow::Borrowed(_))));
}

#[test]
fn common_line_and_what_it_refuses() {
    let common = Template::common(&opts());
    let r = common
        .parse(r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#)
        .unwrap();
    assert_eq!(
        (r.path.as_ref(), r.status, r.bytes),
        ("/apache_pb.gif", 200, Some(2326))
    );
    assert_eq!(r.ts_ms, 971_211_336_000);
    // A combined line does not fit common: its byte count runs on.
    assert_eq!(common.parse(NGINX_LINE).unwrap_err().field, "bytes");
}

#[test]
fn ipv6_dashes_crlf_and_no_bytes() {
    let line = "2001:db8::8a2e:370:7334 - - [06/Feb/2019:15:30:25 +0000] \"HEAD / HTTP/2.0\" 304 - \"-\" \"-\"\r";
    let r = Template::combined(&opts()).parse(line).unwrap();
    assert_eq!(r.remote_addr.as_deref(), Some("2001:db8::8a2e:370:7334"));
    assert_eq!(
        (r.method.as_ref(), r.path.as_ref(), r.status),
        ("HEAD", "/", 304)
    );
    assert_eq!((r.bytes, r.referer, r.user_agent), (Some(0), None, None));
}

#[test]
fn escapes_in_request_and_user_agent() {
    // Apache escapes `"` and `\` with a backslash, nginx as \x22 and \x5C.
    let apache = r#"10.0.0.1 - - [06/Feb/2019:15:30:25 +0000] "GET /q?s=\"x\" HTTP/1.1" 200 1 "-" "Evil \"UA\" \\o/""#;
    let r = Template::combined(&opts()).parse(apache).unwrap();
    assert_eq!(r.query.as_deref(), Some("s=\"x\""));
    assert_eq!(r.user_agent.as_deref(), Some(r#"Evil "UA" \o/"#));
    let nginx = r#"10.0.0.1 - - [06/Feb/2019:15:30:25 +0000] "GET /caf\xC3\xA9/%C3%A9 HTTP/1.1" 200 1 "-" "a\x22b\x5Cc""#;
    let r = Template::combined(&opts()).parse(nginx).unwrap();
    assert_eq!(r.path, "/café/%C3%A9");
    assert_eq!(r.user_agent.as_deref(), Some("a\"b\\c"));
    // An escaped backslash just before the closing quote ends the field.
    let backslash =
        r#"10.0.0.1 - - [06/Feb/2019:15:30:25 +0000] "GET / HTTP/1.1" 200 1 "ref\\" "ua""#;
    let r = Template::combined(&opts()).parse(backslash).unwrap();
    assert_eq!(
        (r.referer.as_deref(), r.user_agent.as_deref()),
        (Some("ref\\"), Some("ua"))
    );
    // A raw UTF-8 path (Apache logs bytes above 127 as they are).
    let raw =
        "10.0.0.1 - - [06/Feb/2019:15:30:25 +0000] \"GET /страница HTTP/1.1\" 200 1 \"-\" \"ua\"";
    assert_eq!(
        Template::combined(&opts()).parse(raw).unwrap().path,
        "/страница"
    );
}

#[test]
fn requests_that_are_not_http_name_request() {
    let combined = Template::combined(&opts());
    for request in [
        r"-",
        r"\x16\x03\x01\x00\xF4\x01\x00\x00\xF0\x03\x03",
        "\u{fffd}\u{fffd}PRI",
        "",
    ] {
        let line =
            format!(r#"198.51.100.4 - - [06/Feb/2019:15:30:25 +0000] "{request}" 400 157 "-" "-""#);
        assert_eq!(
            combined.parse(&line).unwrap_err().field,
            "request",
            "{request}"
        );
    }
}

#[test]
fn broken_lines_name_their_field() {
    let combined = Template::combined(&opts());
    let cases = [
        (
            r#"1.2.3.4 - - [06/Feb/2019:15:30:25 +0000] "GET / HTTP/1.1" - 0 "-" "-""#,
            "status",
        ),
        (
            r#"1.2.3.4 - - [06/Feb/2019:25:30:25 +0000] "GET / HTTP/1.1" 200 0 "-" "-""#,
            "time",
        ),
        (
            r#"1.2.3.4 - - [06/Feb/2019:15:30:25 +0000] "GET / HTTP/1.1" 200 x "-" "-""#,
            "bytes",
        ),
        // Cut short before the user agent.
        (
            r#"1.2.3.4 - - [06/Feb/2019:15:30:25 +0000] "GET / HTTP/1.1" 200 0 "-""#,
            "referer",
        ),
        ("", "remote_addr"),
        ("#Fields: date time", "user"),
    ];
    for (line, field) in cases {
        let err = combined.parse(line).unwrap_err();
        assert_eq!(err.field, field, "{line}: {err}");
    }
}

/// A line cut short inside its last quoted field keeps what it has (GoAccess
/// counts it too).
#[test]
fn a_line_cut_inside_its_last_quoted_field_is_read() {
    let combined = Template::combined(&opts());
    let line = r#"1.2.3.4 - - [06/Feb/2019:15:30:25 +0000] "GET / HTTP/1.1" 200 0 "-" "Googlebot/2.1 (+http://www.google.com/bot.html"#;
    let request = combined.parse(line).unwrap();
    assert_eq!(
        request.user_agent.as_deref(),
        Some("Googlebot/2.1 (+http://www.google.com/bot.html")
    );
}

#[test]
fn long_lines_and_junk_never_panic() {
    let combined = Template::combined(&opts());
    let ua = "A".repeat(1 << 20);
    let line =
        format!(r#"1.2.3.4 - - [06/Feb/2019:15:30:25 +0000] "GET / HTTP/1.1" 200 0 "-" "{ua}""#);
    assert_eq!(
        combined.parse(&line).unwrap().user_agent.unwrap().len(),
        1 << 20
    );
    let junk = "\"\\".repeat(10_000) + "é[]\u{0}";
    assert!(combined.parse(&junk).is_err());
    for cut in 0..NGINX_LINE.len() {
        if let Some(prefix) = NGINX_LINE.get(..cut) {
            let _ = combined.parse(prefix);
        }
    }
}

#[test]
fn extra_fields_after_combined_are_ignored() {
    let line = format!(r#"{NGINX_LINE} "198.51.100.7" rt=0.002"#);
    let r = Template::combined(&opts()).parse(&line).unwrap();
    assert!(r.user_agent.unwrap().ends_with("Firefox/65.0"));
}

#[test]
fn custom_nginx_log_format() {
    let options = ParserOptions {
        forwarded_for: Some("X-Forwarded-For".into()),
    };
    let definition = r#"log_format main '$host $remote_addr - $remote_user [$time_iso8601] '
        '"$request_method $request_uri $server_protocol" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" "$http_x_forwarded_for" $request_time $msec';"#;
    let parser = LogFormat::from_arg(definition)
        .unwrap()
        .parser(&options)
        .unwrap();
    assert_eq!(parser.name(), "nginx log_format");
    let line = r#"shop.example.com 10.0.0.2 - alice [2019-02-06T16:30:25+01:00] "POST /cart/add?id=7 HTTP/2.0" 302 0 "https://shop.example.com/p/7" "Mozilla/5.0 (iPhone)" "203.0.113.50, 10.0.0.1" 0.013 1549467025.120"#;
    let r = parser.parse(line).unwrap();
    assert_eq!(r.host.as_deref(), Some("shop.example.com"));
    assert_eq!(r.remote_addr.as_deref(), Some("10.0.0.2"));
    assert_eq!(r.client_addr(), Some("203.0.113.50"));
    // Two times: the later field ($msec, with milliseconds) is kept.
    assert_eq!(r.ts_ms, 1_549_467_025_120);
    assert_eq!((r.method.as_ref(), r.path.as_ref()), ("POST", "/cart/add"));
    assert_eq!(r.query.as_deref(), Some("id=7"));
    assert_eq!((r.status, r.bytes), (302, Some(0)));
}

#[test]
fn nginx_msec_uri_args_and_server_name() {
    let parser = Template::nginx(
        "$msec|$server_name|$remote_addr|$request_method|$uri|$args|$status",
        &opts(),
    )
    .unwrap();
    let r = parser
        .parse("1549467025.123|Example.org|::1|GET|/a%20b|x=1|404")
        .unwrap();
    assert_eq!(r.ts_ms, 1_549_467_025_123);
    assert_eq!(r.host.as_deref(), Some("Example.org"));
    assert_eq!(
        (r.path.as_ref(), r.query.as_deref(), r.status),
        ("/a%20b", Some("x=1"), 404)
    );
    let r = parser.parse("1549467025.123|-|::1|GET|/|-|200").unwrap();
    assert_eq!((r.host, r.query), (None, None));
}

#[test]
fn custom_apache_log_format() {
    let options = ParserOptions {
        forwarded_for: Some("x-forwarded-for".into()),
    };
    let definition = r#"LogFormat "%V %a %l %u %t \"%r\" %>s %B %D %T \"%{Referer}i\" \"%{User-Agent}i\" \"%{X-Forwarded-For}i\"" proxied"#;
    let parser = LogFormat::from_arg(definition)
        .unwrap()
        .parser(&options)
        .unwrap();
    assert_eq!(parser.name(), "apache LogFormat");
    let line = r#"www.example.com [2001:db8::1] - - [06/Feb/2019:15:30:25 +0000] "GET /index.html HTTP/1.1" 200 4521 1532 0 "-" "curl/7.64.0" "198.51.100.23""#;
    let r = parser.parse(line).unwrap();
    assert_eq!(r.host.as_deref(), Some("www.example.com"));
    assert_eq!(r.remote_addr.as_deref(), Some("[2001:db8::1]"));
    assert_eq!(r.client_addr(), Some("198.51.100.23"));
    assert_eq!((r.status, r.bytes), (200, Some(4521)));
    assert_eq!(r.user_agent.as_deref(), Some("curl/7.64.0"));
}

#[test]
fn apache_epoch_times() {
    let parser = Template::apache("%{msec}t %h \"%r\" %s", &opts()).unwrap();
    let r = parser
        .parse("1549467025123 1.2.3.4 \"GET / HTTP/1.1\" 200")
        .unwrap();
    assert_eq!(r.ts_ms, 1_549_467_025_123);
    let parser = Template::apache("%{usec}t %h \"%m %U%q %H\" %s", &opts()).unwrap();
    let r = parser
        .parse("1549467025123456 1.2.3.4 \"GET /p?a=b HTTP/1.1\" 200")
        .unwrap();
    assert_eq!(
        (r.ts_ms, r.path.as_ref(), r.query.as_deref()),
        (1_549_467_025_123, "/p", Some("a=b"))
    );
    // nginx's way of writing the same: $uri$is_args$args.
    let parser = Template::nginx(
        "$msec $remote_addr \"$request_method $uri$is_args$args\" $status",
        &opts(),
    )
    .unwrap();
    let r = parser.parse("1549467025.5 ::1 \"GET /p?a=b\" 200").unwrap();
    assert_eq!((r.path.as_ref(), r.query.as_deref()), ("/p", Some("a=b")));
    let r = parser.parse("1549467025.5 ::1 \"GET /p\" 200").unwrap();
    assert_eq!((r.path.as_ref(), r.query.as_deref()), ("/p", None));
}

#[test]
fn definitions_that_cannot_work_are_refused() {
    let no_time = Template::nginx("$remote_addr \"$request\" $status", &opts()).unwrap_err();
    assert!(no_time.contains("no field for a time"), "{no_time}");
    let no_status = Template::apache("%h %t \"%r\"", &opts()).unwrap_err();
    assert!(no_status.contains("status"), "{no_status}");
    let adjacent =
        Template::nginx("$remote_addr$status [$time_local] \"$request\"", &opts()).unwrap_err();
    assert!(adjacent.contains("no text between them"), "{adjacent}");
}

#[test]
fn vhost_combined_with_and_without_port() {
    let parser = VhostCombined::new(&opts());
    for vhost in ["Example.com", "Example.com:443"] {
        let line = format!("{vhost} {NGINX_LINE}");
        let r = parser.parse(&line).unwrap();
        assert_eq!(r.host.as_deref(), Some("Example.com"));
        assert_eq!(r.remote_addr.as_deref(), Some("203.0.113.9"));
    }
    // A combined line does not fit, nor does combined take a vhost line.
    assert!(parser.parse(NGINX_LINE).is_err());
    let vhost_line = format!("example.com:80 {NGINX_LINE}");
    assert_eq!(
        Template::combined(&opts())
            .parse(&vhost_line)
            .unwrap_err()
            .field,
        "user"
    );
}
