//! How paths and referrers are stored: a path without its query string, a
//! referrer as its host (or a source name, or `direct`).

use std::borrow::Cow;

/// The path without its query string or fragment ("/a?b=1#c" -> "/a").
pub(crate) fn normalize_path(path: &str) -> Cow<'_, str> {
    let end = (path.bytes().position(|b| b == b'?' || b == b'#')).unwrap_or(path.len());
    let p = path[..end].trim();
    Cow::Borrowed(if p.is_empty() { "/" } else { p })
}

/// A URL's host, lower-cased, without port and leading `www.`; a plain
/// source name as given (trimmed); empty is `direct`.
pub(crate) fn normalize_referrer(referrer: &str) -> Cow<'_, str> {
    let r = referrer.trim();
    if r.is_empty() {
        return Cow::Borrowed("direct");
    }
    // Byte scans: these strings are short, and the generic string
    // searchers cost more to set up than to run here.
    let Some(scheme_end) = memchr::memmem::find(r.as_bytes(), b"://") else {
        return Cow::Borrowed(r);
    };
    let rest = &r[scheme_end + 3..];
    let end = (rest.bytes().position(|b| matches!(b, b'/' | b'?' | b'#'))).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = match memchr::memrchr(b'@', authority.as_bytes()) {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let host = if host_port.starts_with('[') {
        // An IPv6 literal keeps its brackets; drop only a port after them.
        &host_port[..host_port
            .find(']')
            .map(|i| i + 1)
            .unwrap_or(host_port.len())]
    } else {
        &host_port[..memchr::memchr(b':', host_port.as_bytes()).unwrap_or(host_port.len())]
    };
    // Lower-cased, without a leading `www.` (of any case), borrowed when
    // it already is.
    let host = match host.get(..4) {
        Some(www) if www.eq_ignore_ascii_case("www.") => &host[4..],
        _ => host,
    };
    if host.is_empty() {
        Cow::Borrowed("direct")
    } else if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers() {
        assert_eq!(normalize_referrer(""), "direct");
        assert_eq!(normalize_referrer("newsletter"), "newsletter");
        assert_eq!(
            normalize_referrer("https://www.news.ycombinator.com/item?id=1"),
            "news.ycombinator.com"
        );
        assert_eq!(normalize_referrer("android-app://com.slack"), "com.slack");
        assert_eq!(
            normalize_referrer("http://user@WWW.Example.org:8080"),
            "example.org"
        );
        assert_eq!(normalize_path("/p#top"), "/p");
        assert_eq!(normalize_path("?q=1"), "/");
    }
}
