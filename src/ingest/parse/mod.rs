//! Reading one input line (NDJSON) or record (CSV) into a checked event,
//! or a reason that names the field it breaks (contract, "Events").

mod json;
mod normalize;

pub(crate) use json::CowStr;
pub(crate) use normalize::{normalize_path, normalize_referrer};

use std::borrow::Cow;

use chrono::DateTime;
use serde::de::{self, DeserializeSeed};

use super::props::Props;
use super::propsets::SeenProps;
use crate::store::encoding::Kind;
use json::RawEventSeed;

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
    /// Custom properties, checked against the limits; empty when
    /// `props_text` was seen valid before (the resolver knows its
    /// encoding, or reads it again).
    pub(crate) props: Props<'a>,
    /// The `props` object's text as given (NDJSON and CSV).
    pub(crate) props_text: Option<&'a str>,
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
    props_text: Option<&'a str>,
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
    parse_json_line_with(line, &mut SeenProps::default())
}

/// Parse and check one NDJSON line of a run (`seen`: the `props` texts
/// seen valid before in it, which are not read again).
pub(crate) fn parse_json_line_with<'a>(
    line: &'a str,
    seen: &mut SeenProps<()>,
) -> Result<ParsedEvent<'a>, String> {
    let mut de = serde_json::Deserializer::from_str(line);
    // Filled in place: the event's fields are a few hundred bytes, which
    // serde's return path would copy several times.
    let mut raw = RawEvent::default();
    RawEventSeed(&mut raw, seen)
        .deserialize(&mut de)
        .map_err(|e| {
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
            "props" => {
                raw.props = super::props::from_json_cell(value)?;
                raw.props_text = Some(value);
            }
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
            Some(TsValue::Text(text)) => match crate::ingest::formats::times::parse_rfc3339(text) {
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
            props_text: self.props_text,
            value,
            extra,
        })
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
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
}
