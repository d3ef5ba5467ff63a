//! `w3c`: the W3C extended log format as IIS (and CloudFront, tab
//! separated) write it. The fields are named by the latest `#Fields:`
//! directive, which may change mid-file (IIS writes one after every
//! restart), so the parser keeps it as state fed through
//! [`LogParser::directive`].

use std::borrow::Cow;

use super::fields::{
    check_method, dash_none, parse_bytes, parse_status, parse_w3c_date_time, truncated,
};
use super::{LineError, LogParser, ParserOptions, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum W3cField {
    Date,
    Time,
    ClientIp,
    Method,
    UriStem,
    UriQuery,
    Protocol,
    Status,
    Bytes,
    UserAgent,
    Referer,
    Host,
    ForwardedFor,
    Other,
}

/// The parser, with the field list of the last `#Fields:` line.
#[derive(Debug)]
pub struct W3c {
    options: ParserOptions,
    fields: Vec<W3cField>,
}

impl W3c {
    /// A parser that needs a `#Fields:` line before the first request.
    pub fn new(options: &ParserOptions) -> W3c {
        W3c {
            options: options.clone(),
            fields: Vec::new(),
        }
    }

    fn field(&self, name: &str) -> W3cField {
        let header = name.strip_prefix("cs(").and_then(|h| h.strip_suffix(')'));
        match (name, header) {
            ("date", _) => W3cField::Date,
            ("time", _) => W3cField::Time,
            ("c-ip", _) => W3cField::ClientIp,
            ("cs-method", _) => W3cField::Method,
            ("cs-uri-stem", _) => W3cField::UriStem,
            ("cs-uri-query", _) => W3cField::UriQuery,
            ("cs-version" | "cs-protocol-version", _) => W3cField::Protocol,
            ("sc-status", _) => W3cField::Status,
            ("sc-bytes", _) => W3cField::Bytes,
            ("cs-host" | "x-host-header", _) => W3cField::Host,
            (_, Some(h)) if h.eq_ignore_ascii_case("user-agent") => W3cField::UserAgent,
            (_, Some(h)) if h.eq_ignore_ascii_case("referer") => W3cField::Referer,
            (_, Some(h)) if h.eq_ignore_ascii_case("host") => W3cField::Host,
            (_, Some(h)) if self.options.is_forwarded_for(h) => W3cField::ForwardedFor,
            (other, None) if self.options.is_forwarded_for(other) => W3cField::ForwardedFor,
            _ => W3cField::Other,
        }
    }
}

/// `+` stands for a space in IIS's user agents.
fn plus_to_space(text: &str) -> Cow<'_, str> {
    if text.contains('+') {
        Cow::Owned(text.replace('+', " "))
    } else {
        Cow::Borrowed(text)
    }
}

impl LogParser for W3c {
    fn name(&self) -> &str {
        "w3c"
    }

    fn directive(&mut self, line: &str) -> bool {
        if !line.starts_with('#') {
            return false;
        }
        if let Some(list) = line.strip_prefix("#Fields:") {
            self.fields = list
                .split_whitespace()
                .map(|name| self.field(name))
                .collect();
        }
        true
    }

    fn parse<'a>(&self, line: &'a str) -> Result<Request<'a>, LineError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if self.fields.is_empty() {
            return Err(LineError::new(
                "fields",
                "no #Fields: line before this line",
            ));
        }
        let separator = if line.contains('\t') { '\t' } else { ' ' };
        let (mut date, mut time, mut method, mut stem) = (None, None, None, None);
        let mut request = Request::default();
        let mut status = None;
        let mut count = 0;
        for (i, value) in line.split(separator).enumerate() {
            count += 1;
            let Some(field) = self.fields.get(i) else {
                continue;
            };
            match field {
                W3cField::Date => date = Some(value),
                W3cField::Time => time = Some(value),
                W3cField::ClientIp => request.remote_addr = dash_none(value).map(Cow::Borrowed),
                W3cField::Method => method = Some(value),
                W3cField::UriStem => stem = dash_none(value),
                W3cField::UriQuery => request.query = dash_none(value).map(Cow::Borrowed),
                W3cField::Protocol => request.protocol = dash_none(value).map(Cow::Borrowed),
                W3cField::Status => status = Some(value),
                W3cField::Bytes => request.bytes = parse_bytes(value)?,
                W3cField::UserAgent => request.user_agent = dash_none(value).map(plus_to_space),
                W3cField::Referer => request.referer = dash_none(value).map(Cow::Borrowed),
                W3cField::Host => request.host = dash_none(value).map(Cow::Borrowed),
                W3cField::ForwardedFor => {
                    request.forwarded_for = dash_none(value).map(Cow::Borrowed);
                }
                W3cField::Other => {}
            }
        }
        if count != self.fields.len() {
            return Err(LineError::new(
                "fields",
                format!(
                    "{count} values for the {} fields of #Fields:",
                    self.fields.len()
                ),
            ));
        }
        let (date, time) = match (date, time) {
            (Some(d), Some(t)) => (d, t),
            _ => return Err(LineError::new("time", "#Fields: has no date and time")),
        };
        request.ts_ms = parse_w3c_date_time(date, time).map_err(|r| {
            LineError::new(
                "time",
                format!("{r}: {:?}", truncated(&format!("{date} {time}"))),
            )
        })?;
        let method = method.ok_or_else(|| LineError::new("method", "#Fields: has no cs-method"))?;
        check_method(method)?;
        request.method = Cow::Borrowed(method);
        request.path = Cow::Borrowed(stem.ok_or_else(|| LineError::new("path", "no cs-uri-stem"))?);
        request.status = parse_status(status.unwrap_or("-"))?;
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IIS: &str = "#Software: Microsoft Internet Information Services 10.0
#Version: 1.0
#Date: 2019-02-06 15:30:00
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken
2019-02-06 15:30:25 10.0.0.4 GET /default.aspx q=1&r=%C3%A9 443 - 203.0.113.5 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) https://www.bing.com/ 200 0 0 46
2019-02-06 15:30:26 10.0.0.4 POST /api/login - 443 - 2001:db8::7 - - 401 1 2148074254 15
#Fields: date time cs-method cs-uri-stem sc-status sc-bytes cs-host X-Forwarded-For
2019-02-06 15:31:00 GET /about.html 304 0 WWW.Example.com:443 198.51.100.9
";

    fn requests(text: &str, options: &ParserOptions) -> Vec<Result<Request<'static>, LineError>> {
        let mut parser = W3c::new(options);
        let text: &'static str = Box::leak(text.to_string().into_boxed_str());
        let mut out = Vec::new();
        for line in text.lines() {
            if !parser.directive(line) {
                out.push(parser.parse(line));
            }
        }
        out
    }

    #[test]
    fn iis_lines_across_a_fields_change() {
        let options = ParserOptions {
            forwarded_for: Some("X-Forwarded-For".into()),
        };
        let parsed = requests(IIS, &options);
        assert_eq!(parsed.len(), 3);
        let first = parsed[0].as_ref().unwrap();
        assert_eq!(first.ts_ms, 1_549_467_025_000);
        assert_eq!(first.remote_addr.as_deref(), Some("203.0.113.5"));
        assert_eq!(
            (first.method.as_ref(), first.path.as_ref()),
            ("GET", "/default.aspx")
        );
        assert_eq!(first.query.as_deref(), Some("q=1&r=%C3%A9"));
        assert_eq!(
            first.user_agent.as_deref(),
            Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
        );
        assert_eq!(first.referer.as_deref(), Some("https://www.bing.com/"));
        assert_eq!((first.status, first.bytes), (200, None));
        let second = parsed[1].as_ref().unwrap();
        assert_eq!(second.remote_addr.as_deref(), Some("2001:db8::7"));
        assert_eq!(
            (
                second.status,
                second.query.as_deref(),
                second.user_agent.as_deref()
            ),
            (401, None, None)
        );
        let third = parsed[2].as_ref().unwrap();
        assert_eq!(third.host.as_deref(), Some("WWW.Example.com:443"));
        assert_eq!(third.client_addr(), Some("198.51.100.9"));
        assert_eq!((third.status, third.bytes), (304, Some(0)));
    }

    #[test]
    fn cloudfront_tab_separated() {
        let text = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query\n2019-02-06\t15:30:25\tLHR62-C2\t2390\t192.0.2.10\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tcurl/7.64.0\t-\r\n";
        let parsed = requests(text, &ParserOptions::default());
        let r = parsed[0].as_ref().unwrap();
        assert_eq!(
            (r.path.as_ref(), r.status, r.bytes),
            ("/index.html", 200, Some(2390))
        );
        assert_eq!(r.host.as_deref(), Some("d111111abcdef8.cloudfront.net"));
        assert_eq!(r.query, None);
    }

    #[test]
    fn rejects_name_their_field() {
        let head = "#Fields: date time cs-method cs-uri-stem sc-status\n";
        let cases = [
            ("2019-02-06 15:30:25 GET / 200 extra", "fields"),
            ("2019-02-06 15:30:25 GET /", "fields"),
            ("2019-02-06 25:30:25 GET / 200", "time"),
            ("2019-02-06 15:30:25 \u{16}\u{3} / 200", "method"),
            ("2019-02-06 15:30:25 GET - 200", "path"),
            ("2019-02-06 15:30:25 GET / -", "status"),
        ];
        for (line, field) in cases {
            let parsed = requests(&format!("{head}{line}\n"), &ParserOptions::default());
            assert_eq!(parsed[0].as_ref().unwrap_err().field, field, "{line}");
        }
        let without_fields =
            W3c::new(&ParserOptions::default()).parse("2019-02-06 15:30:25 GET / 200");
        assert_eq!(without_fields.unwrap_err().field, "fields");
    }
}
