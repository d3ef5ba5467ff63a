//! Tests of the JSON formats with lines shaped like what nginx, Caddy and
//! Traefik write.

use std::borrow::Cow;

use super::*;

fn xff() -> ParserOptions {
    ParserOptions {
        forwarded_for: Some("X-Forwarded-For".into()),
    }
}

pub const NGINX_JSON: &str = r#"{"time_iso8601":"2019-02-06T16:30:25+01:00","remote_addr":"203.0.113.9","remote_user":"","request":"GET /docs/?page=2 HTTP/1.1","status": "200","body_bytes_sent":"612","request_time":"0.000","http_referrer":"","http_referer":"-","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64)","host":"docs.example.com","http_x_forwarded_for":"198.51.100.1"}"#;

pub const CADDY: &str = r#"{"level":"info","ts":1646861401.5241024,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"10.0.0.5","remote_port":"41342","client_ip":"203.0.113.77","proto":"HTTP/2.0","method":"GET","host":"www.example.com","uri":"/caf%C3%A9?lang=fr","headers":{"User-Agent":["Mozilla/5.0 (Macintosh)"],"Accept":["*/*"],"Referer":["https://news.ycombinator.com/"],"X-Forwarded-For":["203.0.113.77"]},"tls":{"resumed":false,"version":772,"cipher_suite":4865,"proto":"h2","server_name":"www.example.com"}},"bytes_read":0,"user_id":"","duration":0.000929675,"size":10900,"status":200,"resp_headers":{"Server":["Caddy"],"Content-Type":["text/html; charset=utf-8"]}}"#;

pub const TRAEFIK: &str = r#"{"ClientAddr":"[2001:db8::5]:51234","ClientHost":"2001:db8::5","ClientPort":"51234","ClientUsername":"-","DownstreamContentSize":1437,"DownstreamStatus":404,"Duration":1250302,"OriginContentSize":1437,"OriginDuration":1182420,"OriginStatus":404,"Overhead":67882,"RequestAddr":"app.example.com","RequestContentSize":0,"RequestCount":27,"RequestHost":"app.example.com","RequestMethod":"GET","RequestPath":"/missing?x=1","RequestPort":"-","RequestProtocol":"HTTP/1.1","RequestScheme":"https","RetryAttempts":0,"RouterName":"app@docker","StartLocal":"2019-02-06T16:30:25.541433098+01:00","StartUTC":"2019-02-06T15:30:25.541433098Z","entryPointName":"websecure","level":"info","msg":"","request_Referer":"https://app.example.com/","request_User-Agent":"curl/7.64.0","time":"2019-02-06T16:30:25+01:00"}"#;

#[test]
fn nginx_json_line() {
    let r = NginxJson::new(&xff()).parse(NGINX_JSON).unwrap();
    assert_eq!(r.ts_ms, 1_549_467_025_000);
    assert_eq!(r.remote_addr.as_deref(), Some("203.0.113.9"));
    assert_eq!(r.client_addr(), Some("198.51.100.1"));
    assert_eq!((r.method.as_ref(), r.path.as_ref()), ("GET", "/docs/"));
    assert_eq!(r.query.as_deref(), Some("page=2"));
    assert_eq!((r.status, r.bytes), (200, Some(612)));
    assert_eq!(r.referer, None);
    assert_eq!(r.host.as_deref(), Some("docs.example.com"));
    assert!(matches!(r.user_agent, Some(Cow::Borrowed(_))));
}

#[test]
fn nginx_json_variants() {
    let parser = NginxJson::new(&ParserOptions::default());
    let split = r#"{"msec":"1549467025.250","remote_addr":"::1","request_method":"POST","request_uri":"/api/v1/items?id=3","status":201,"http_user_agent":"say \"hi\" caf\u00e9","server_name":"api.example.com"}"#;
    let r = parser.parse(split).unwrap();
    assert_eq!(r.ts_ms, 1_549_467_025_250);
    assert_eq!(
        (r.method.as_ref(), r.path.as_ref(), r.query.as_deref()),
        ("POST", "/api/v1/items", Some("id=3"))
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.user_agent.as_deref(), Some("say \"hi\" café"));
    assert_eq!(r.host.as_deref(), Some("api.example.com"));
    let local = r#"{"time_local":"06/Feb/2019:15:30:25 +0000","remote_addr":"1.2.3.4","request":"GET / HTTP/1.0","status":"304"}"#;
    assert_eq!(parser.parse(local).unwrap().ts_ms, 1_549_467_025_000);
}

#[test]
fn nginx_json_rejects_name_the_field() {
    let parser = NginxJson::new(&ParserOptions::default());
    let cases = [
        (
            r#"{"remote_addr":"1.2.3.4","request":"GET / HTTP/1.1","status":"200"}"#,
            "time",
        ),
        (
            r#"{"msec":"1549467025.250","request":"-","status":"200"}"#,
            "request",
        ),
        (
            r#"{"msec":"1549467025.250","request":"\u0016\u0003\u0001","status":"400"}"#,
            "request",
        ),
        (
            r#"{"msec":"1549467025.250","request":"GET / HTTP/1.1","status":"-"}"#,
            "status",
        ),
        (
            r#"{"msec":"x","request":"GET / HTTP/1.1","status":"200"}"#,
            "time",
        ),
        (
            r#"{"msec":"1549467025","request":"GET / HTTP/1.1","status":"200","body_bytes_sent":"-1"}"#,
            "bytes",
        ),
        (
            r#"{"msec":"1549467025","request_uri":"/","status":"200"}"#,
            "method",
        ),
        (r#"{"msec":"1549467025","#, "json"),
        ("not json", "json"),
        ("[1,2]", "json"),
        ("", "json"),
    ];
    for (line, field) in cases {
        let err = parser.parse(line).unwrap_err();
        assert_eq!(err.field, field, "{line}: {err}");
    }
}

#[test]
fn caddy_line() {
    let r = Caddy::new(&xff()).parse(CADDY).unwrap();
    assert_eq!(r.ts_ms, 1_646_861_401_524);
    assert_eq!(r.remote_addr.as_deref(), Some("203.0.113.77"));
    assert_eq!(r.forwarded_for.as_deref(), Some("203.0.113.77"));
    assert_eq!((r.method.as_ref(), r.path.as_ref()), ("GET", "/caf%C3%A9"));
    assert_eq!(r.query.as_deref(), Some("lang=fr"));
    assert_eq!(r.protocol.as_deref(), Some("HTTP/2.0"));
    assert_eq!((r.status, r.bytes), (200, Some(10900)));
    assert_eq!(r.referer.as_deref(), Some("https://news.ycombinator.com/"));
    assert_eq!(r.user_agent.as_deref(), Some("Mozilla/5.0 (Macintosh)"));
    assert_eq!(r.host.as_deref(), Some("www.example.com"));
}

#[test]
fn caddy_older_and_iso_time() {
    let older = r#"{"level":"info","ts":"2019-02-06T15:30:25.123Z","msg":"handled request","request":{"remote_addr":"[::1]:5000","proto":"HTTP/1.1","method":"GET","host":"localhost:2015","uri":"/","headers":{}},"status":200,"size":0}"#;
    let r = Caddy::new(&ParserOptions::default()).parse(older).unwrap();
    assert_eq!(r.ts_ms, 1_549_467_025_123);
    assert_eq!(r.remote_addr.as_deref(), Some("::1"));
    assert_eq!((r.user_agent, r.referer), (None, None));
    // A Caddy log line that is not an access log entry.
    let other =
        r#"{"level":"info","ts":1646861401.5,"logger":"tls","msg":"cleaning storage unit"}"#;
    assert_eq!(
        Caddy::new(&ParserOptions::default())
            .parse(other)
            .unwrap_err()
            .field,
        "request"
    );
}

#[test]
fn traefik_line() {
    let r = Traefik::new(&ParserOptions::default())
        .parse(TRAEFIK)
        .unwrap();
    assert_eq!(r.ts_ms, 1_549_467_025_541);
    assert_eq!(r.remote_addr.as_deref(), Some("2001:db8::5"));
    assert_eq!(
        (r.method.as_ref(), r.path.as_ref(), r.query.as_deref()),
        ("GET", "/missing", Some("x=1"))
    );
    assert_eq!((r.status, r.bytes), (404, Some(1437)));
    assert_eq!(r.user_agent.as_deref(), Some("curl/7.64.0"));
    assert_eq!(r.referer.as_deref(), Some("https://app.example.com/"));
    assert_eq!(r.host.as_deref(), Some("app.example.com"));
}

#[test]
fn traefik_without_downstream_status_or_client_host() {
    let line = r#"{"ClientAddr":"192.0.2.1:4000","OriginStatus":502,"RequestMethod":"GET","RequestPath":"/","time":"2019-02-06T16:30:25+01:00"}"#;
    let r = Traefik::new(&ParserOptions::default()).parse(line).unwrap();
    assert_eq!(
        (r.status, r.remote_addr.as_deref()),
        (502, Some("192.0.2.1"))
    );
    assert_eq!(r.ts_ms, 1_549_467_025_000);
    let no_status =
        r#"{"RequestMethod":"GET","RequestPath":"/","StartUTC":"2019-02-06T15:30:25Z"}"#;
    assert_eq!(
        Traefik::new(&ParserOptions::default())
            .parse(no_status)
            .unwrap_err()
            .field,
        "status"
    );
}

#[test]
fn json_text_of_values() {
    let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
    assert_eq!(json_text(&raw(r#""a""#)).as_deref(), Some("a"));
    assert_eq!(json_text(&raw(r#""-""#)), None);
    assert_eq!(json_text(&raw("12.5")).as_deref(), Some("12.5"));
    assert_eq!(json_text(&raw(r#"["x","y"]"#)).as_deref(), Some("x"));
    assert_eq!(json_text(&raw("[]")), None);
    assert_eq!(json_text(&raw("null")), None);
    assert_eq!(json_text(&raw(r#"{"a":1}"#)), None);
}
