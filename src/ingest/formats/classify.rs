//! Request classes (contract, `--keep`): the requests left out of the
//! counts by default, the class each is counted under in the summary, and
//! the site a request's host names.
//!
//! A request is left out when any class that applies to it is not kept; it
//! is counted under the first such class in [`RequestClass::ALL`] order:
//! `bots` first (whatever a crawler fetches, it is not a visitor), then
//! `methods` (form posts, API calls), `errors`, `redirects`, `static`.

use std::borrow::Cow;
use std::fmt;

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

use super::Request;
use super::bots::BotDetector;

/// The classes of requests left out unless `--keep` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestClass {
    /// Crawlers, monitors, scripts: a user agent on the isbot list, or none.
    Bots,
    /// Methods other than GET and HEAD.
    Methods,
    /// Status 4xx and 5xx.
    Errors,
    /// Status 3xx other than 304 (a 304 is a page view served from cache).
    Redirects,
    /// Assets, by the path's extension.
    Static,
}

impl RequestClass {
    /// Every class, in the order a request's class is decided.
    pub const ALL: [RequestClass; 5] = [
        RequestClass::Bots,
        RequestClass::Methods,
        RequestClass::Errors,
        RequestClass::Redirects,
        RequestClass::Static,
    ];

    /// The name `--keep` and the summary use.
    pub fn name(self) -> &'static str {
        match self {
            RequestClass::Bots => "bots",
            RequestClass::Methods => "methods",
            RequestClass::Errors => "errors",
            RequestClass::Redirects => "redirects",
            RequestClass::Static => "static",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for RequestClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of classes (what `--keep` names, or what applies to a request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassSet(u8);

impl ClassSet {
    pub const EMPTY: ClassSet = ClassSet(0);
    pub const ALL: ClassSet = ClassSet(0b1_1111);

    pub fn contains(self, class: RequestClass) -> bool {
        self.0 & class.bit() != 0
    }

    pub fn insert(&mut self, class: RequestClass) {
        self.0 |= class.bit();
    }

    /// A `--keep` value: a comma list of class names, or `all`.
    pub fn parse_keep(list: &str) -> Result<ClassSet, String> {
        let mut set = ClassSet::EMPTY;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                set = ClassSet::ALL;
                continue;
            }
            let class = RequestClass::ALL
                .into_iter()
                .find(|c| c.name() == name)
                .ok_or_else(|| {
                    format!(
                        "unknown request class {name:?} in --keep: expected bots, static, \
                         errors, redirects, methods or all"
                    )
                })?;
            set.insert(class);
        }
        Ok(set)
    }
}

/// Whether a path names an asset by its extension (the query string is
/// already off). The list follows GoAccess's static files, plus source
/// maps and today's image and font formats.
pub fn is_static_path(path: &str) -> bool {
    // Bytes, not `rsplit` on a char: the extension is ASCII, and a char
    // pattern's search compares through `memcmp`.
    let bytes = path.as_bytes();
    let last = bytes
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(bytes, |at| &bytes[at + 1..]);
    let Some(dot) = last.iter().rposition(|&b| b == b'.') else {
        return false;
    };
    let ext = &last[dot + 1..];
    if ext.is_empty() || ext.len() > 5 {
        return false;
    }
    let mut lower = [0u8; 5];
    for (slot, c) in lower.iter_mut().zip(ext) {
        *slot = c.to_ascii_lowercase();
    }
    matches!(
        lower.get(..ext.len()).unwrap_or_default(),
        // styles, scripts, source maps
        b"css" | b"js" | b"mjs" | b"map"
        // images
        | b"png" | b"jpg" | b"jpeg" | b"gif" | b"ico" | b"svg" | b"svgz" | b"webp" | b"avif"
        | b"bmp" | b"tif" | b"tiff" | b"cur"
        // fonts
        | b"woff" | b"woff2" | b"ttf" | b"otf" | b"eot"
        // media
        | b"mp3" | b"mp4" | b"m4a" | b"m4v" | b"ogg" | b"oga" | b"ogv" | b"webm" | b"wav"
        | b"flac" | b"aac" | b"avi" | b"mov" | b"mkv" | b"mpg" | b"mpeg" | b"flv" | b"wmv"
        | b"swf" | b"m3u8" | b"ts" | b"mid" | b"midi"
        // archives and downloads
        | b"zip" | b"gz" | b"tgz" | b"bz2" | b"xz" | b"zst" | b"7z" | b"rar" | b"tar"
        | b"dmg" | b"exe" | b"msi" | b"deb" | b"rpm" | b"apk" | b"iso"
        // web app manifests and wasm
        | b"wasm" | b"webmanifest"
    )
}

/// Decides request classes; keeps the bot verdict of each user agent it
/// has seen, as a log repeats few agents many times.
#[derive(Debug)]
pub struct Classifier {
    bots: BotDetector,
    verdicts: HashMap<Box<str>, bool, FxBuildHasher>,
}

/// User agents remembered before the memory is emptied and starts again.
const VERDICTS: usize = 1 << 16;

impl Default for Classifier {
    fn default() -> Self {
        Classifier::new()
    }
}

impl Classifier {
    pub fn new() -> Classifier {
        Classifier {
            bots: BotDetector::new(),
            verdicts: HashMap::with_hasher(FxBuildHasher),
        }
    }

    /// Whether the user agent is a bot's; no user agent at all is a
    /// script's.
    pub fn is_bot(&mut self, user_agent: Option<&str>) -> bool {
        let Some(agent) = user_agent.filter(|a| !a.trim().is_empty()) else {
            return true;
        };
        if let Some(&verdict) = self.verdicts.get(agent) {
            return verdict;
        }
        let verdict = self.bots.is_bot(agent);
        if self.verdicts.len() >= VERDICTS {
            self.verdicts.clear();
        }
        self.verdicts.insert(agent.into(), verdict);
        verdict
    }

    fn applies(&mut self, class: RequestClass, request: &Request<'_>) -> bool {
        match class {
            RequestClass::Bots => self.is_bot(request.user_agent.as_deref()),
            RequestClass::Methods => !matches!(request.method.as_ref(), "GET" | "HEAD"),
            RequestClass::Errors => request.status >= 400,
            RequestClass::Redirects => {
                (300..400).contains(&request.status) && request.status != 304
            }
            RequestClass::Static => is_static_path(&request.path),
        }
    }

    /// Every class that applies to the request.
    pub fn classes(&mut self, request: &Request<'_>) -> ClassSet {
        let mut set = ClassSet::EMPTY;
        for class in RequestClass::ALL {
            if self.applies(class, request) {
                set.insert(class);
            }
        }
        set
    }

    /// The class the request is left out under: the first in
    /// [`RequestClass::ALL`] order that applies and is not in `keep`;
    /// `None` when it is counted.
    pub fn left_out_by(&mut self, request: &Request<'_>, keep: ClassSet) -> Option<RequestClass> {
        RequestClass::ALL
            .into_iter()
            .filter(|class| !keep.contains(*class))
            .find(|class| self.applies(*class, request))
    }
}

/// The site a request's host names (contract: lower-cased, without a port
/// or a leading `www.`), if it makes one by the site rule (1 to 64 of
/// `[A-Za-z0-9._-]`). An IPv6 literal is no site; an IPv4 address passes
/// the rule and is one.
pub fn site_from_host(host: &str) -> Option<Cow<'_, str>> {
    let host = host.trim();
    if host.starts_with('[') {
        return None;
    }
    let host = match host.split_once(':') {
        Some((name, port)) if port.bytes().all(|c| c.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let host = host
        .get(..4)
        .filter(|prefix| prefix.eq_ignore_ascii_case("www."))
        .map_or(host, |_| host.get(4..).unwrap_or(""));
    if !crate::store::encoding::is_site_name(host) {
        return None;
    }
    Some(if host.bytes().any(|c| c.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        method: &'static str,
        path: &'static str,
        status: u16,
        ua: Option<&'static str>,
    ) -> Request<'static> {
        Request {
            method: method.into(),
            path: path.into(),
            status,
            user_agent: ua.map(Into::into),
            ..Request::default()
        }
    }

    const FIREFOX: Option<&str> =
        Some("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0");

    #[test]
    fn each_class_and_the_order_between_them() {
        let mut classifier = Classifier::new();
        let none = ClassSet::EMPTY;
        let cases = [
            (request("GET", "/", 200, FIREFOX), None),
            (request("HEAD", "/about", 304, FIREFOX), None),
            (
                request("GET", "/", 200, Some("curl/8.0")),
                Some(RequestClass::Bots),
            ),
            (request("GET", "/", 200, None), Some(RequestClass::Bots)),
            (
                request("POST", "/login", 302, FIREFOX),
                Some(RequestClass::Methods),
            ),
            (
                request("GET", "/missing.css", 404, FIREFOX),
                Some(RequestClass::Errors),
            ),
            (
                request("GET", "/old", 301, FIREFOX),
                Some(RequestClass::Redirects),
            ),
            (
                request("GET", "/app.JS", 200, FIREFOX),
                Some(RequestClass::Static),
            ),
            (
                request("GET", "/robots.txt", 200, Some("Googlebot/2.1")),
                Some(RequestClass::Bots),
            ),
        ];
        for (req, class) in &cases {
            assert_eq!(classifier.left_out_by(req, none), *class, "{req:?}");
        }
        // Kept classes let the request through, or pass it to the next.
        let post_404 = request("POST", "/api", 404, FIREFOX);
        assert_eq!(
            classifier.left_out_by(&post_404, ClassSet::parse_keep("methods").unwrap()),
            Some(RequestClass::Errors)
        );
        assert_eq!(
            classifier.left_out_by(&post_404, ClassSet::parse_keep("methods,errors").unwrap()),
            None
        );
        assert_eq!(classifier.left_out_by(&cases[2].0, ClassSet::ALL), None);
        let mut expected = ClassSet::EMPTY;
        expected.insert(RequestClass::Methods);
        expected.insert(RequestClass::Errors);
        assert_eq!(classifier.classes(&post_404), expected);
    }

    #[test]
    fn keep_lists() {
        assert_eq!(ClassSet::parse_keep("all"), Ok(ClassSet::ALL));
        assert_eq!(ClassSet::parse_keep(""), Ok(ClassSet::EMPTY));
        let set = ClassSet::parse_keep("bots, static").unwrap();
        assert!(set.contains(RequestClass::Bots) && set.contains(RequestClass::Static));
        assert!(!set.contains(RequestClass::Errors));
        let err = ClassSet::parse_keep("bots,images").unwrap_err();
        assert!(err.contains("\"images\""), "{err}");
    }

    #[test]
    fn static_paths() {
        for path in [
            "/a.css",
            "/x/y.min.js",
            "/i.PNG",
            "/f.woff2",
            "/m.js.map",
            "/favicon.ico",
            "/v.webm",
            "/d.tar.gz",
        ] {
            assert!(is_static_path(path), "{path}");
        }
        for path in [
            "/",
            "/blog/",
            "/page.html",
            "/api/v1.2/items",
            "/report.pdf",
            "/.well-known/x",
            "/a.",
            "/file.verylongext",
        ] {
            assert!(!is_static_path(path), "{path}");
        }
    }

    #[test]
    fn sites_from_hosts() {
        assert_eq!(
            site_from_host("WWW.Example.COM:8080").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            site_from_host("example.com.").as_deref(),
            Some("example.com")
        );
        assert!(matches!(
            site_from_host("www.shop.example"),
            Some(Cow::Borrowed("shop.example"))
        ));
        assert_eq!(
            site_from_host("203.0.113.7:443").as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            site_from_host("wwwexample.com").as_deref(),
            Some("wwwexample.com")
        );
        for bad in [
            "",
            "www..",
            "[2001:db8::1]:443",
            "2001:db8::1",
            "exa mple.com",
            "ex@mple.com",
            "host:port",
            &"a".repeat(65),
        ] {
            assert_eq!(site_from_host(bad), None, "{bad}");
        }
    }
}
