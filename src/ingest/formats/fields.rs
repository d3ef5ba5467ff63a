//! The pieces every format shares: the request line, escapes, status and
//! byte counts (times are in `times.rs`). All by hand over bytes: these run
//! once per line, and a regex would cost more than the rest of the line.

use std::borrow::Cow;
use std::ops::Range;

use super::LineError;
pub use super::times::{parse_clf_time, parse_epoch_seconds, parse_iso8601, parse_w3c_date_time};
use crate::util::hex_digit;

/// `None` for the servers' spellings of "nothing": `-` and empty.
pub fn dash_none(text: &str) -> Option<&str> {
    match text {
        "" | "-" => None,
        other => Some(other),
    }
}

/// The same, for text that may have been unescaped.
pub fn dash_none_cow(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    match text.as_ref() {
        "" | "-" => None,
        _ => Some(text),
    }
}

/// An HTTP status: three digits, 100 to 999.
pub fn parse_status(text: &str) -> Result<u16, LineError> {
    let b = text.as_bytes();
    if b.len() == 3 && b.iter().all(u8::is_ascii_digit) && b[0] != b'0' {
        return Ok(b.iter().fold(0u16, |n, &c| n * 10 + u16::from(c - b'0')));
    }
    let reason: Cow<'static, str> = if text == "-" {
        "no status (-)".into()
    } else {
        format!("not an HTTP status: {:?}", truncated(text)).into()
    };
    Err(LineError::new("status", reason))
}

/// A byte count; `-` is zero (Apache's `%b` prints `-` for no bytes).
pub fn parse_bytes(text: &str) -> Result<Option<u64>, LineError> {
    match text {
        "-" => Ok(Some(0)),
        "" => Ok(None),
        digits if digits.bytes().all(|c| c.is_ascii_digit()) => digits
            .parse()
            .map(Some)
            .map_err(|_| LineError::new("bytes", "byte count too large")),
        other => Err(LineError::new(
            "bytes",
            format!("not a byte count: {:?}", truncated(other)),
        )),
    }
}

/// At most 40 characters of a field for a reason (a reason must stay
/// readable whatever the line holds).
pub fn truncated(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((at, _)) => text.get(..at).unwrap_or(text),
        None => text,
    }
}

/// Undoes the servers' escapes in a logged string: Apache's `\"`, `\\` and
/// `\xhh`, nginx's `\xHH` (its default escaping of `"`, `\`, control bytes
/// and bytes above 126) and `\uXXXX` (`escape=json`). Bytes that do not
/// make UTF-8 become U+FFFD. Borrows when there is nothing to undo.
pub fn unescape(text: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\\', text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let next = b.get(i + 1).copied();
        let (bytes, used): (Option<u8>, usize) = match next {
            Some(b'"') => (Some(b'"'), 2),
            Some(b'\\') => (Some(b'\\'), 2),
            Some(b'n') => (Some(b'\n'), 2),
            Some(b't') => (Some(b'\t'), 2),
            Some(b'r') => (Some(b'\r'), 2),
            Some(b'x') => {
                match (
                    b.get(i + 2).copied().and_then(hex_digit),
                    b.get(i + 3).copied().and_then(hex_digit),
                ) {
                    (Some(hi), Some(lo)) => (Some(hi * 16 + lo), 4),
                    _ => (None, 1),
                }
            }
            Some(b'u') => {
                let code = b.get(i + 2..i + 6).and_then(|hex| {
                    hex.iter()
                        .try_fold(0u32, |n, &h| hex_digit(h).map(|v| n * 16 + u32::from(v)))
                });
                match code {
                    Some(code) => {
                        let ch = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        i += 6;
                        continue;
                    }
                    None => (None, 1),
                }
            }
            _ => (None, 1),
        };
        out.push(bytes.unwrap_or(b'\\'));
        i += used;
    }
    match String::from_utf8(out) {
        Ok(text) => Cow::Owned(text),
        Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
    }
}

/// A part of a possibly owned string, borrowing when the whole does.
pub fn slice_cow<'a>(whole: &Cow<'a, str>, range: Range<usize>) -> Cow<'a, str> {
    match whole {
        Cow::Borrowed(text) => Cow::Borrowed(text.get(range).unwrap_or("")),
        Cow::Owned(text) => Cow::Owned(text.get(range).unwrap_or("").to_owned()),
    }
}

/// An HTTP method as servers log it: a token of letters (digits, `-`, `_`
/// allowed after the first letter), at most 32 bytes.
pub fn check_method(method: &str) -> Result<(), LineError> {
    let b = method.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_');
    if ok {
        Ok(())
    } else {
        Err(LineError::new(
            "method",
            format!("not an HTTP method: {:?}", truncated(method)),
        ))
    }
}

/// The parts of a request line `GET /path?q HTTP/1.1`.
pub struct RequestLine<'a> {
    pub method: Cow<'a, str>,
    pub target: Cow<'a, str>,
    pub protocol: Option<Cow<'a, str>>,
}

/// Splits a request line (already unescaped). Anything that is not HTTP
/// (`-`, a TLS handshake sent to a plain port, a scanner's junk) is an
/// error naming `request`.
pub fn parse_request_line<'a>(line: Cow<'a, str>) -> Result<RequestLine<'a>, LineError> {
    let text = line.as_ref();
    let not_http = || {
        LineError::new(
            "request",
            format!("not an HTTP request line: {:?}", truncated(text)),
        )
    };
    let first_space = memchr::memchr(b' ', text.as_bytes()).ok_or_else(not_http)?;
    let method = text.get(..first_space).ok_or_else(not_http)?;
    if check_method(method).is_err() {
        return Err(not_http());
    }
    let rest_start = first_space + 1;
    let rest = text.get(rest_start..).ok_or_else(not_http)?;
    let (target_range, protocol_range) = match memchr::memrchr(b' ', rest.as_bytes()) {
        Some(at) => {
            let proto = rest.get(at + 1..).unwrap_or("");
            if !proto.starts_with("HTTP/") {
                return Err(not_http());
            }
            (
                rest_start..rest_start + at,
                Some(rest_start + at + 1..text.len()),
            )
        }
        // HTTP/0.9: `GET /` has no version.
        None => (rest_start..text.len(), None),
    };
    let target = text.get(target_range.clone()).unwrap_or("");
    // Servers escape control bytes, so only an unescaped line can hold them.
    let control = matches!(line, Cow::Owned(_)) && target.bytes().any(|c| c < 0x20 || c == 0x7f);
    if control || target.bytes().all(|c| c == b' ') {
        return Err(not_http());
    }
    Ok(RequestLine {
        method: slice_cow(&line, 0..first_space),
        target: slice_cow(&line, target_range),
        protocol: protocol_range.map(|range| slice_cow(&line, range)),
    })
}

/// A request target as path and query: the absolute form of a proxy
/// request (`http://host/path`) loses its scheme and host, the query its
/// `?`; percent-encoding stays as logged.
pub fn split_target<'a>(target: Cow<'a, str>) -> (Cow<'a, str>, Option<Cow<'a, str>>) {
    let text = target.as_ref();
    let mut start = 0;
    let has_prefix = |prefix: &str| {
        text.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    if !text.starts_with('/') && (has_prefix("http://") || has_prefix("https://")) {
        let after_scheme = if has_prefix("https://") { 8 } else { 7 };
        start = text
            .get(after_scheme..)
            .and_then(|rest| rest.find(['/', '?']))
            .map_or(text.len(), |at| after_scheme + at);
    }
    let end = text.len();
    match text
        .get(start..)
        .and_then(|rest| memchr::memchr(b'?', rest.as_bytes()))
    {
        Some(q) => {
            let path = if q == 0 {
                Cow::Borrowed("/")
            } else {
                slice_cow(&target, start..start + q)
            };
            let query = (start + q + 1 < end).then(|| slice_cow(&target, start + q + 1..end));
            (path, query)
        }
        None if start == end => (Cow::Borrowed("/"), None),
        None if start == 0 => (target, None),
        None => (slice_cow(&target, start..end), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_undoes_apache_and_nginx_escapes() {
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
        assert_eq!(unescape(r#"say \"hi\" \\o/"#), r#"say "hi" \o/"#);
        assert_eq!(unescape(r"/caf\xC3\xA9"), "/café");
        assert_eq!(unescape(r"a\x22b\x5Cc"), "a\"b\\c");
        assert_eq!(unescape(r"\u0022json\u00e9"), "\"jsoné");
        // Windows-1251 bytes are not UTF-8: replaced, never a panic.
        assert_eq!(unescape(r"http://\xe4\xe5-"), "http://\u{fffd}\u{fffd}-");
        // Broken escapes stay as they were.
        assert_eq!(unescape(r"end\"), r"end\");
        assert_eq!(unescape(r"\xZZ\u12"), r"\xZZ\u12");
    }

    #[test]
    fn request_lines() {
        let line = parse_request_line("GET /a/b?x=1&y=%20 HTTP/1.1".into()).unwrap();
        assert_eq!(line.method, "GET");
        assert_eq!(line.target, "/a/b?x=1&y=%20");
        assert_eq!(line.protocol.as_deref(), Some("HTTP/1.1"));
        let old = parse_request_line("GET /".into()).unwrap();
        assert_eq!(old.protocol, None);
        for junk in [
            "-",
            "",
            "GET",
            "\u{16}\u{3}\u{1}\u{0}\u{fffd}\u{1}",
            "\u{16}\u{3}\u{1} x HTTP/1.1",
            "GET /x FOO/1.0",
            "GET  HTTP/1.1",
        ] {
            let err = parse_request_line(junk.into()).err();
            assert_eq!(err.map(|e| e.field), Some("request"), "{junk:?}");
        }
    }

    #[test]
    fn targets_split_into_path_and_query() {
        let split = |t: &'static str| {
            let (p, q) = split_target(Cow::Borrowed(t));
            (p.into_owned(), q.map(Cow::into_owned))
        };
        assert_eq!(split("/a?b=1"), ("/a".into(), Some("b=1".into())));
        assert_eq!(split("/a?"), ("/a".into(), None));
        assert_eq!(split("/é/%C3%A9"), ("/é/%C3%A9".into(), None));
        assert_eq!(
            split("http://example.com/x?y"),
            ("/x".into(), Some("y".into()))
        );
        assert_eq!(split("HTTPS://example.com"), ("/".into(), None));
        assert_eq!(split("?q"), ("/".into(), Some("q".into())));
        let owned = split_target(Cow::Owned("/o?p".to_string()));
        assert_eq!(owned.0, "/o");
    }

    #[test]
    fn status_and_bytes() {
        assert_eq!(parse_status("200"), Ok(200));
        assert_eq!(parse_status("-").unwrap_err().reason, "no status (-)");
        assert!(parse_status("099").is_err());
        assert!(parse_status("2000").is_err());
        assert_eq!(parse_bytes("-"), Ok(Some(0)));
        assert_eq!(parse_bytes("1234"), Ok(Some(1234)));
        assert_eq!(
            parse_bytes("99999999999999999999999").unwrap_err().field,
            "bytes"
        );
        assert_eq!(parse_bytes("12k").unwrap_err().field, "bytes");
        assert_eq!(truncated(&"é".repeat(100)).chars().count(), 40);
    }
}
