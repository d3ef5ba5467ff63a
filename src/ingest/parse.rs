//! Reading one input line (NDJSON) or record (CSV) into a checked event,
//! or a reason that names the field it breaks (contract, "Events").

use std::borrow::Cow;
use std::fmt;

use chrono::DateTime;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::props::{NumberField, Props, PropsField};
use crate::store::encoding::Kind;

/// A valid event, normalised and ready to store. Its text borrows from the
/// input line where it can (no JSON escapes, nothing to normalise), so a
/// typical line costs no allocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedEvent<'a> {
    pub(crate) ts_ms: i64,
    pub(crate) site: Cow<'a, str>,
    pub(crate) kind: Kind,
    pub(crate) session: Cow<'a, str>,
    pub(crate) visitor: Cow<'a, str>,
    pub(crate) id: Option<Cow<'a, str>>,
    /// The path of a pageview (query string removed) or the name of a
    /// custom event.
    pub(crate) label: Option<Cow<'a, str>>,
    /// The referrer as reported: a URL's host without `www.`, a source name,
    /// or `direct`. Always set for pageviews.
    pub(crate) referrer: Option<Cow<'a, str>>,
    pub(crate) revenue_cents: Option<i64>,
    /// An access-log line's dedupe hash (instead of an `id`).
    pub(crate) line: Option<i64>,
    /// Custom properties, checked against the limits.
    pub(crate) props: Props<'a>,
    /// A gauge's level.
    pub(crate) value: Option<f64>,
    /// Unknown fields (and known ones this kind does not use), as a JSON
    /// object, so that nothing given is lost.
    pub(crate) extra: Option<String>,
}

/// A `ts` as given: an RFC 3339 string or Unix milliseconds.
enum TsValue<'a> {
    Text(Cow<'a, str>),
    Millis(i64),
}

/// The fields of one input line before validation.
#[derive(Default)]
pub(crate) struct RawEvent<'a> {
    ts: Option<TsValue<'a>>,
    site: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    session: Option<Cow<'a, str>>,
    visitor: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    path: Option<Cow<'a, str>>,
    referrer: Option<Cow<'a, str>>,
    revenue_cents: Option<i64>,
    props: Props<'a>,
    value: Option<f64>,
    /// Unknown fields as (key, JSON text of the value).
    extra: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// The smallest integer `ts` taken for Unix milliseconds (1973-03-03): a
/// smaller one is Unix seconds (up to the year 5138) by mistake, which
/// would land in January 1970.
const MIN_MILLIS: i64 = 100_000_000_000;

/// Parse and check one NDJSON line.
pub(crate) fn parse_json_line(line: &str) -> Result<ParsedEvent<'_>, String> {
    let mut de = serde_json::Deserializer::from_str(line);
    // Filled in place: the event's fields are a few hundred bytes, which
    // serde's return path would copy several times.
    let mut raw = RawEvent::default();
    RawEventSeed(&mut raw).deserialize(&mut de).map_err(|e| {
        // A field's own message ("site must be a string") would hide that
        // the line is not JSON at all (cut off, say): report that first.
        match serde_json::from_str::<de::IgnoredAny>(line) {
            Err(syntax) if !(e.is_syntax() || e.is_eof()) => json_reason(syntax),
            _ => json_reason(e),
        }
    })?;
    de.end().map_err(json_reason)?;
    raw.validate()
}

/// serde_json appends " at line 1 column N"; for a one-line input the
/// column is useful, the line is not.
fn json_reason(e: serde_json::Error) -> String {
    let text = e.to_string();
    let base = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    if e.is_syntax() || e.is_eof() {
        format!("not valid JSON: {base} (column {})", e.column())
    } else {
        base.to_string()
    }
}

/// Parse and check one CSV record against its header. Empty cells count as
/// missing; `ts` may be RFC 3339 or digits (milliseconds).
pub(crate) fn parse_csv_record<'a>(
    headers: &[String],
    record: &'a csv::StringRecord,
) -> Result<ParsedEvent<'a>, String> {
    if record.len() != headers.len() {
        return Err(format!(
            "the record has {} fields but the header has {}",
            record.len(),
            headers.len()
        ));
    }
    let mut raw = RawEvent::default();
    for (key, value) in headers.iter().zip(record.iter()) {
        if value.is_empty() {
            continue;
        }
        let v = Cow::Borrowed(value);
        match key.as_str() {
            "ts" => {
                raw.ts = Some(match value.parse::<i64>() {
                    Ok(ms) => TsValue::Millis(ms),
                    Err(_) => TsValue::Text(v),
                })
            }
            "site" => raw.site = Some(v),
            "kind" => raw.kind = Some(v),
            "session" => raw.session = Some(v),
            "visitor" => raw.visitor = Some(v),
            "id" => raw.id = Some(v),
            "name" => raw.name = Some(v),
            "path" => raw.path = Some(v),
            "referrer" => raw.referrer = Some(v),
            "revenue_cents" => {
                raw.revenue_cents =
                    Some(value.trim().parse::<i64>().map_err(|_| {
                        format!("revenue_cents must be an integer >= 0, got '{value}'")
                    })?)
            }
            "props" => raw.props = super::props::from_json_cell(value)?,
            "value" => raw.value = Some(super::props::value_from_cell(value)?),
            _ => raw.extra.push((
                Cow::Owned(key.clone()),
                Cow::Owned(serde_json::to_string(value).unwrap_or_default()),
            )),
        }
    }
    raw.validate()
}

fn check_text<'a>(
    field: &str,
    value: Option<Cow<'a, str>>,
    max: usize,
) -> Result<Cow<'a, str>, String> {
    let value = value.ok_or_else(|| format!("{field} is required"))?;
    if value.is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    // No more bytes than allowed characters: no need to count them.
    if value.len() <= max {
        return Ok(value);
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(format!(
            "{field} is {chars} characters long; at most {max} are allowed"
        ));
    }
    Ok(value)
}

/// `f` applied to the text of `c`, borrowing from the input when `c` does.
fn map_cow<'a>(c: Cow<'a, str>, f: impl for<'b> Fn(&'b str) -> Cow<'b, str>) -> Cow<'a, str> {
    match c {
        Cow::Borrowed(s) => f(s),
        Cow::Owned(s) => Cow::Owned(f(&s).into_owned()),
    }
}

impl<'a> RawEvent<'a> {
    /// Apply the contract's rules and normalise.
    pub(crate) fn validate(self) -> Result<ParsedEvent<'a>, String> {
        let ts_ms = match &self.ts {
            None => return Err("ts is required".to_string()),
            Some(TsValue::Millis(ms)) if *ms < MIN_MILLIS => {
                return Err(format!(
                    "ts: {ms} looks like Unix seconds; ts must be RFC 3339 or Unix milliseconds ({})",
                    ms.saturating_mul(1000)
                ));
            }
            Some(TsValue::Millis(ms)) => *ms,
            Some(TsValue::Text(text)) => match crate::time::rfc3339_millis_fast(text) {
                Some(ms) => ms,
                None => DateTime::parse_from_rfc3339(text)
                    .map_err(|_| {
                        format!(
                            "ts '{text}' is not RFC 3339 with an offset (like 2026-11-21T08:15:02Z) nor Unix milliseconds"
                        )
                    })?
                    .timestamp_millis(),
            },
        };
        // Years 1970..=9999 keep every instant printable as RFC 3339.
        if !(0..=253_402_300_799_999).contains(&ts_ms) {
            return Err(format!("ts {ts_ms} is outside the years 1970 to 9999"));
        }
        let site = check_text("site", self.site, 64)?;
        if let Some(bad) = crate::store::encoding::first_bad_site_char(&site) {
            return Err(format!(
                "site '{site}' contains '{bad}': only letters, digits, '.', '_' and '-' are allowed"
            ));
        }
        let kind = match self.kind.as_deref() {
            None => return Err("kind is required".to_string()),
            Some("pageview") => Kind::Pageview,
            Some("event") => Kind::Event,
            Some("order") => Kind::Order,
            Some("gauge") => Kind::Gauge,
            Some(other) => {
                return Err(format!(
                    "kind '{other}' is not one of pageview, event, order, gauge"
                ));
            }
        };
        let session = check_text("session", self.session, 128)?;
        let visitor = check_text("visitor", self.visitor, 128)?;
        let id = match self.id {
            None => None,
            id @ Some(_) => Some(check_text("id", id, 256)?),
        };
        if let Some(cents) = self.revenue_cents
            && cents < 0
        {
            return Err(format!("revenue_cents must be >= 0, got {cents}"));
        }
        let mut extra = self.extra;
        // `value` is a gauge's level; on other kinds it is kept as given.
        let value = match (kind, self.value) {
            (Kind::Gauge, None) => return Err("value is required for a gauge".to_string()),
            (Kind::Gauge, v) => v,
            (_, Some(v)) => {
                extra.push(("value".into(), super::props::number_json(v).into()));
                None
            }
            (_, None) => None,
        };
        let label = match kind {
            Kind::Pageview => {
                let path = self
                    .path
                    .ok_or_else(|| "path is required for a pageview".to_string())?;
                if let Some(name) = self.name {
                    extra.push(("name".into(), json_string(&name).into()));
                }
                Some(map_cow(path, normalize_path))
            }
            Kind::Event => {
                let name = check_text("name", self.name, 256)
                    .map_err(|e| format!("{e} for a custom event"))?;
                if let Some(path) = self.path {
                    extra.push(("path".into(), json_string(&path).into()));
                }
                Some(name)
            }
            Kind::Order => {
                for (key, value) in [("name", &self.name), ("path", &self.path)] {
                    if let Some(v) = value {
                        extra.push((key.into(), json_string(v).into()));
                    }
                }
                None
            }
            Kind::Gauge => {
                let name =
                    check_text("name", self.name, 256).map_err(|e| format!("{e} for a gauge"))?;
                if let Some(path) = self.path {
                    extra.push(("path".into(), json_string(&path).into()));
                }
                if let Some(cents) = self.revenue_cents {
                    extra.push(("revenue_cents".into(), cents.to_string().into()));
                }
                Some(name)
            }
        };
        let revenue_cents = if kind == Kind::Gauge {
            None
        } else {
            self.revenue_cents
        };
        let referrer = match (kind, self.referrer) {
            (Kind::Pageview, None) => Some(Cow::Borrowed("direct")),
            (Kind::Pageview, Some(r)) => Some(map_cow(r, normalize_referrer)),
            (_, Some(r)) if !r.trim().is_empty() => Some(map_cow(r, normalize_referrer)),
            _ => None,
        };
        let extra = if extra.is_empty() {
            None
        } else {
            let mut text = String::from("{");
            for (i, (k, v)) in extra.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&json_string(k));
                text.push(':');
                text.push_str(v);
            }
            text.push('}');
            Some(text)
        };
        Ok(ParsedEvent {
            ts_ms,
            site,
            kind,
            session,
            visitor,
            id,
            label,
            referrer,
            revenue_cents,
            line: None,
            props: self.props,
            value,
            extra,
        })
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

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

// ----- the NDJSON visitor: reads known fields, keeps unknown ones raw -----

/// Reads an event's fields into the `RawEvent` it holds.
struct RawEventSeed<'r, 'de>(&'r mut RawEvent<'de>);

impl<'de> DeserializeSeed<'de> for RawEventSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// A string field that may also be `null` (treated as missing).
fn string_field<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &str,
) -> Result<Option<Cow<'de, str>>, A::Error> {
    map.next_value::<Option<CowStr<'de>>>()
        .map(|v| v.map(|s| s.0))
        .map_err(|_| de::Error::custom(format!("{key} must be a string")))
}

/// Borrows when the JSON string has no escapes, owns otherwise.
pub(super) struct CowStr<'a>(pub(super) Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// `ts`: a string or an integer.
struct TsField<'a>(TsValue<'a>);

impl<'de> Deserialize<'de> for TsField<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TsField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 string or integer milliseconds")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TsField(TsValue::Text(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TsField(TsValue::Text(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TsField(TsValue::Millis(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(|v| TsField(TsValue::Millis(v)))
                    .map_err(|_| E::custom("ts is too large"))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Visitor<'de> for RawEventSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object with the event's fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let raw = self.0;
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            let key = key.0;
            match key.as_ref() {
                "ts" => {
                    raw.ts = map
                        .next_value::<Option<TsField>>()
                        .map_err(|_| {
                            de::Error::custom(
                                "ts must be an RFC 3339 string or integer Unix milliseconds",
                            )
                        })?
                        .map(|t| t.0)
                }
                "site" => raw.site = string_field(&mut map, "site")?,
                "kind" => raw.kind = string_field(&mut map, "kind")?,
                "session" => raw.session = string_field(&mut map, "session")?,
                "visitor" => raw.visitor = string_field(&mut map, "visitor")?,
                "id" => raw.id = string_field(&mut map, "id")?,
                "name" => raw.name = string_field(&mut map, "name")?,
                "path" => raw.path = string_field(&mut map, "path")?,
                "referrer" => raw.referrer = string_field(&mut map, "referrer")?,
                "props" => raw.props = map.next_value::<PropsField>()?.0,
                "value" => raw.value = map.next_value::<NumberField>()?.0,
                "revenue_cents" => {
                    raw.revenue_cents = map
                        .next_value::<Option<i64>>()
                        .map_err(|_| de::Error::custom("revenue_cents must be an integer >= 0"))?
                }
                _ => {
                    let value: &'de RawValue = map.next_value()?;
                    raw.extra.push((key, Cow::Borrowed(value.get())));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_line_is_normalised() {
        let e = parse_json_line(
            r#"{"ts":"2026-11-21T08:00:00+01:00","site":"shop","kind":"pageview","session":"s1","visitor":"v1","path":"/a?x=1","referrer":"https://www.Google.com:443/search?q=1","utm":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(e.ts_ms, 1_795_244_400_000);
        assert_eq!(e.label.as_deref(), Some("/a"));
        assert_eq!(e.referrer.as_deref(), Some("google.com"));
        assert_eq!(e.extra.as_deref(), Some(r#"{"utm":{"a":1}}"#));
    }

    #[test]
    fn reasons_name_the_field() {
        let cases = [
            (
                r#"{"site":"s","kind":"order","session":"a","visitor":"b"}"#,
                "ts is required",
            ),
            (
                r#"{"ts":"yesterday","site":"s","kind":"order","session":"a","visitor":"b"}"#,
                "ts 'yesterday'",
            ),
            (
                r#"{"ts":1795255200000,"site":"s p","kind":"order","session":"a","visitor":"b"}"#,
                "site 's p'",
            ),
            (
                r#"{"ts":1795255200000,"site":"s","kind":"click","session":"a","visitor":"b"}"#,
                "kind 'click'",
            ),
            (
                r#"{"ts":1795255200000,"site":"s","kind":"order","session":5,"visitor":"b"}"#,
                "session must be a string",
            ),
            (
                r#"{"ts":1795255200000,"site":"s","kind":"order","session":"a","visitor":""}"#,
                "visitor must not be empty",
            ),
            (
                r#"{"ts":1795255200000,"site":"s","kind":"order","session":"a","visitor":"b","revenue_cents":-5}"#,
                "revenue_cents must be >= 0",
            ),
            (
                r#"{"ts":1795255200000,"site":"s","kind":"order","session":"a","visitor":"b","revenue_cents":1.5}"#,
                "revenue_cents must be an integer",
            ),
            (
                r#"{"ts":1795255200000,"site":"s","kind":"event","session":"a","visitor":"b"}"#,
                "name is required",
            ),
            (
                r#"{"ts":1795255200000,"site":"s","kind":"pageview","session":"a","visitor":"b"}"#,
                "path is required",
            ),
            (r#"{"ts":1795255200000,"site":"#, "not valid JSON"),
            (r#"[1,2]"#, "JSON object"),
        ];
        for (line, want) in cases {
            let got = parse_json_line(line).unwrap_err();
            assert!(got.contains(want), "{line}: got '{got}', want '{want}'");
        }
    }

    #[test]
    fn escaped_and_normalised_text_is_owned_plain_text_borrowed() {
        let line = r#"{"ts":1795255200000,"site":"shop","kind":"pageview","session":"s\u0031","visitor":"v1","path":"/a\u0062?x=1","referrer":"HTTPS://WWW.Example.COM/x"}"#;
        let e = parse_json_line(line).unwrap();
        assert_eq!(e.session, "s1");
        assert!(matches!(e.session, Cow::Owned(_)));
        assert!(matches!(e.visitor, Cow::Borrowed(_)));
        assert_eq!(e.label.as_deref(), Some("/ab"));
        assert_eq!(e.referrer.as_deref(), Some("example.com"));
        let e = parse_json_line(
            r#"{"ts":1795255200000,"site":"shop","kind":"pageview","session":"s","visitor":"v","path":"/p?q","referrer":"https://www.news.example.org:443/"}"#,
        )
        .unwrap();
        assert!(matches!(e.label, Some(Cow::Borrowed("/p"))));
        assert!(matches!(
            e.referrer,
            Some(Cow::Borrowed("news.example.org"))
        ));
        let e = parse_json_line(
            r#"{"ts":1795255200000,"site":"shop","kind":"pageview","session":"s","visitor":"v","path":""}"#,
        )
        .unwrap();
        assert_eq!(e.label.as_deref(), Some("/"));
        assert_eq!(e.referrer.as_deref(), Some("direct"));
    }

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
