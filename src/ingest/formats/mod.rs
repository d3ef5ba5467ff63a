//! Web-server access-log formats (contract, "Web-server access logs"): one
//! line in, one [`Request`] borrowing from it out, or a [`LineError`] naming
//! the field that did not fit.
//!
//! Every format sits behind [`LogParser`]; [`LogFormat`] is what
//! `--log-format` names (a predefined format or the server's own
//! definition), [`detect`] picks one from a file's first lines, and
//! [`open_input`] undoes gzip, bzip2 and zstd. The parsers take `&str`: the
//! reader converts each line with `String::from_utf8_lossy`, which borrows
//! when the bytes are valid UTF-8 (almost always), so no parser has to
//! think about invalid bytes and none can panic on them.
//!
//! Nothing here allocates for a typical line: text is borrowed from the
//! line unless it had escapes to undo (`Cow::Owned` then), times are parsed
//! by hand (no chrono, no regex on the hot path).

pub mod classify;
pub mod compressed;
pub mod definition;
pub mod detect;
pub mod fields;
pub mod json;
pub mod template;
pub mod times;
pub mod w3c;

mod bots;

use std::borrow::Cow;
use std::fmt;

pub use classify::{ClassSet, Classifier, RequestClass, site_from_host};
pub use compressed::{Compression, open_input, open_reader};
pub use detect::{DetectError, Detection, SAMPLE_LINES, detect};

/// One request as the access log recorded it. Text borrows from the line
/// where it can; `Cow::Owned` only where escapes were undone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request<'a> {
    /// The remote address as logged (IPv4, IPv6 or a host name).
    pub remote_addr: Option<Cow<'a, str>>,
    /// The raw value of the header named by [`ParserOptions::forwarded_for`]
    /// (e.g. `203.0.113.7, 10.0.0.1`); see [`Request::client_addr`].
    pub forwarded_for: Option<Cow<'a, str>>,
    /// The request's time, UTC milliseconds since the epoch.
    pub ts_ms: i64,
    pub method: Cow<'a, str>,
    /// The path without its query string, percent-encoding kept as logged.
    pub path: Cow<'a, str>,
    /// The query string without its `?`; `None` when there was none.
    pub query: Option<Cow<'a, str>>,
    /// `HTTP/1.1`, `HTTP/2.0`...; `None` for an HTTP/0.9 request line or a
    /// format that does not log it.
    pub protocol: Option<Cow<'a, str>>,
    pub status: u16,
    /// Body bytes sent; `None` when the format does not log them.
    pub bytes: Option<u64>,
    /// `None` for `-` or empty.
    pub referer: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    /// The host as logged (virtual host, `Host` header, server name):
    /// [`site_from_host`] turns it into a site.
    pub host: Option<Cow<'a, str>>,
}

impl<'a> Request<'a> {
    /// The client address the contract counts: the first address of the
    /// forwarded-for header when it has one, else the remote address.
    pub fn client_addr(&self) -> Option<&str> {
        if let Some(forwarded) = self.forwarded_for.as_deref() {
            let first = forwarded.split(',').next().unwrap_or("").trim();
            if !first.is_empty() && first != "-" && !first.eq_ignore_ascii_case("unknown") {
                return Some(first);
            }
        }
        self.remote_addr.as_deref()
    }
}

/// Why a line did not fit its format; `field` names the part that failed,
/// for the reason in the rejects file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub field: &'static str,
    pub reason: Cow<'static, str>,
}

impl LineError {
    pub fn new(field: &'static str, reason: impl Into<Cow<'static, str>>) -> LineError {
        LineError {
            field,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for LineError {}

/// What the caller tells every parser, whatever the format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParserOptions {
    /// The header whose first address is the client (`[logs]
    /// forwarded_for`, e.g. `X-Forwarded-For`); matched without regard to
    /// case, `-` and `_` alike (nginx logs it as `$http_x_forwarded_for`).
    pub forwarded_for: Option<String>,
}

impl ParserOptions {
    /// Whether a header name as a format spells it is the forwarded-for
    /// header.
    pub(crate) fn is_forwarded_for(&self, name: &str) -> bool {
        self.forwarded_for
            .as_deref()
            .is_some_and(|want| header_names_equal(want, name))
    }
}

/// Header names compared as HTTP does (no case) and as nginx spells them
/// (`-` becomes `_`).
pub(crate) fn header_names_equal(a: &str, b: &str) -> bool {
    let norm = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

/// The one interface of every format.
pub trait LogParser: Send {
    /// The format's name as `--log-format` spells it (a template's name is
    /// `nginx log_format` or `apache LogFormat`).
    fn name(&self) -> &str;

    /// One line, without its line end (a trailing `\r` is tolerated).
    fn parse<'a>(&self, line: &'a str) -> Result<Request<'a>, LineError>;

    /// Offers a line to the parser before [`parse`](Self::parse): `true`
    /// when it is a comment or directive (W3C `#Fields:`) that the parser
    /// took note of and that is not a request. Text formats skip nothing
    /// here: a `#` line there is a bad line.
    fn directive(&mut self, _line: &str) -> bool {
        false
    }

    /// Whether the format logs the user agent: without it (`common`) no
    /// request can be told a bot's.
    fn has_user_agent(&self) -> bool {
        true
    }
}

/// What `--log-format` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    Common,
    Combined,
    VhostCombined,
    NginxJson,
    Caddy,
    Traefik,
    W3c,
    /// An nginx `log_format` string, as pasted from the config or bare.
    Nginx(String),
    /// An Apache `LogFormat` string, as pasted from the config or bare.
    Apache(String),
}

/// The names of the predefined formats, in the order detection tries them.
pub const PREDEFINED: [&str; 7] = [
    "caddy",
    "traefik",
    "nginx-json",
    "w3c",
    "vhost-combined",
    "combined",
    "common",
];

impl LogFormat {
    /// A `--log-format` value other than `auto`: a predefined name, else a
    /// server's definition (nginx when it has `$variables`, Apache when it
    /// has `%` directives).
    pub fn from_arg(value: &str) -> Result<LogFormat, String> {
        let format = match value.trim() {
            "common" | "clf" => LogFormat::Common,
            "combined" => LogFormat::Combined,
            "vhost-combined" | "vhost_combined" => LogFormat::VhostCombined,
            "nginx-json" => LogFormat::NginxJson,
            "caddy" => LogFormat::Caddy,
            "traefik" => LogFormat::Traefik,
            "w3c" | "iis" => LogFormat::W3c,
            other if other.contains('$') => LogFormat::Nginx(other.to_string()),
            other if other.contains('%') => LogFormat::Apache(other.to_string()),
            other => {
                return Err(format!(
                    "unknown log format {other:?}: expected auto, {}, an nginx log_format \
                     string or an Apache LogFormat string",
                    PREDEFINED.join(", ")
                ));
            }
        };
        Ok(format)
    }

    /// The name the summary and errors use.
    pub fn name(&self) -> &str {
        match self {
            LogFormat::Common => "common",
            LogFormat::Combined => "combined",
            LogFormat::VhostCombined => "vhost-combined",
            LogFormat::NginxJson => "nginx-json",
            LogFormat::Caddy => "caddy",
            LogFormat::Traefik => "traefik",
            LogFormat::W3c => "w3c",
            LogFormat::Nginx(_) => template::NGINX_NAME,
            LogFormat::Apache(_) => template::APACHE_NAME,
        }
    }

    /// A parser for this format; fails only for a template that does not
    /// compile (the error says which part and why).
    pub fn parser(&self, options: &ParserOptions) -> Result<Box<dyn LogParser>, String> {
        Ok(match self {
            LogFormat::Common => Box::new(template::Template::common(options)),
            LogFormat::Combined => Box::new(template::Template::combined(options)),
            LogFormat::VhostCombined => Box::new(template::VhostCombined::new(options)),
            LogFormat::NginxJson => Box::new(json::NginxJson::new(options)),
            LogFormat::Caddy => Box::new(json::Caddy::new(options)),
            LogFormat::Traefik => Box::new(json::Traefik::new(options)),
            LogFormat::W3c => Box::new(w3c::W3c::new(options)),
            LogFormat::Nginx(text) => Box::new(template::Template::nginx(text, options)?),
            LogFormat::Apache(text) => Box::new(template::Template::apache(text, options)?),
        })
    }

    /// The predefined format of a [`PREDEFINED`] name.
    pub fn predefined(name: &str) -> Option<LogFormat> {
        PREDEFINED
            .contains(&name)
            .then(|| LogFormat::from_arg(name).ok())
            .flatten()
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod corpus_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addr_prefers_the_first_forwarded_address() {
        let mut request = Request {
            remote_addr: Some("10.0.0.1".into()),
            forwarded_for: Some(" 203.0.113.7 , 10.0.0.2".into()),
            ..Request::default()
        };
        assert_eq!(request.client_addr(), Some("203.0.113.7"));
        request.forwarded_for = Some("-".into());
        assert_eq!(request.client_addr(), Some("10.0.0.1"));
        request.forwarded_for = None;
        assert_eq!(request.client_addr(), Some("10.0.0.1"));
    }

    #[test]
    fn header_names_match_as_http_and_nginx_spell_them() {
        assert!(header_names_equal("X-Forwarded-For", "x_forwarded_for"));
        assert!(header_names_equal("x-forwarded-for", "X-FORWARDED-FOR"));
        assert!(!header_names_equal("X-Forwarded-For", "X-Forwarded-Host"));
    }

    #[test]
    fn format_names_and_definitions() {
        assert_eq!(LogFormat::from_arg("combined"), Ok(LogFormat::Combined));
        assert_eq!(LogFormat::from_arg("iis"), Ok(LogFormat::W3c));
        assert!(matches!(
            LogFormat::from_arg("$remote_addr [$time_local] \"$request\" $status"),
            Ok(LogFormat::Nginx(_))
        ));
        assert!(matches!(
            LogFormat::from_arg("%h %t \"%r\" %>s"),
            Ok(LogFormat::Apache(_))
        ));
        let err = LogFormat::from_arg("apache").unwrap_err();
        assert!(err.contains("unknown log format \"apache\""), "{err}");
        for name in PREDEFINED {
            let format = LogFormat::predefined(name).unwrap();
            assert_eq!(format.name(), name);
            assert_eq!(
                format.parser(&ParserOptions::default()).unwrap().name(),
                name
            );
        }
    }
}
