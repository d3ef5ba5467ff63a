//! JSON-lines access logs: `nginx-json` (keys are nginx variable names),
//! `caddy` (Caddy v2's access log) and `traefik` (Traefik's access log).
//!
//! One walk over each object keeps the values it wants as borrowed raw JSON
//! (`&RawValue`, no copy) and skips the rest, so a line costs no
//! allocation unless a wanted string has JSON escapes.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, Deserialize, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::fields::{
    check_method, parse_bytes, parse_clf_time, parse_epoch_seconds, parse_iso8601,
    parse_request_line, parse_status, split_target, truncated,
};
use super::{LineError, LogParser, ParserOptions, Request, header_names_equal};

/// An object key, borrowed unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct ObjectWalk<'f, F>(&'f mut F);

impl<'de, F: FnMut(&str, &'de RawValue)> Visitor<'de> for ObjectWalk<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            (self.0)(&key.0, value);
        }
        Ok(())
    }
}

/// Calls `f` with each key of the object `text` and its raw value.
pub fn walk_object<'a>(
    text: &'a str,
    mut f: impl FnMut(&str, &'a RawValue),
) -> Result<(), LineError> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(ObjectWalk(&mut f))
        .and_then(|()| de.end())
        .map_err(|err| LineError::new("json", format!("not a JSON object: {err}")))
}

/// The first element of a JSON array, raw.
struct FirstOf<'a>(Option<&'a RawValue>);

impl<'de> Deserialize<'de> for FirstOf<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor;
        impl<'de> Visitor<'de> for FirstVisitor {
            type Value = FirstOf<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstOf<'de>, A::Error> {
                let first = seq.next_element::<&'de RawValue>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstOf(first))
            }
        }
        deserializer.deserialize_seq(FirstVisitor)
    }
}

/// A JSON scalar as text: a string's contents (unescaped, borrowed when
/// it had no escapes), a number's digits, the first element of an array
/// of strings (Caddy's headers); `None` for null, objects, `""` and `"-"`.
pub fn json_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let value = match text.as_bytes().first()? {
        b'"' => {
            let inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
            if inner.contains('\\') {
                Cow::Owned(serde_json::from_str::<String>(text).ok()?)
            } else {
                Cow::Borrowed(inner)
            }
        }
        b'-' | b'0'..=b'9' => Cow::Borrowed(text),
        b'[' => {
            return serde_json::from_str::<FirstOf>(text)
                .ok()?
                .0
                .and_then(json_text);
        }
        _ => return None,
    };
    match value.as_ref() {
        "" | "-" => None,
        _ => Some(value),
    }
}

fn text<'a>(raw: Option<&'a RawValue>) -> Option<Cow<'a, str>> {
    raw.and_then(json_text)
}

fn required<'a>(
    raw: Option<&'a RawValue>,
    field: &'static str,
    key: &str,
) -> Result<Cow<'a, str>, LineError> {
    text(raw).ok_or_else(|| LineError::new(field, format!("no {key}")))
}

fn status(raw: Option<&RawValue>, key: &str) -> Result<u16, LineError> {
    parse_status(&required(raw, "status", key)?)
}

fn bytes(raw: Option<&RawValue>) -> Result<Option<u64>, LineError> {
    match text(raw) {
        Some(n) => parse_bytes(&n),
        None => Ok(None),
    }
}

fn time_error(reason: &str, value: &str) -> LineError {
    LineError::new("time", format!("{reason}: {:?}", truncated(value)))
}

/// An ISO 8601 time or, for a number, Unix seconds.
fn iso_or_epoch(raw: &RawValue) -> Result<i64, LineError> {
    let value = json_text(raw).ok_or_else(|| LineError::new("time", "empty time"))?;
    let parsed = if raw.get().starts_with('"') && value.contains('-') {
        parse_iso8601(&value, false)
    } else {
        parse_epoch_seconds(&value)
    };
    parsed.map_err(|r| time_error(r, &value))
}

/// Method and target into a request, the target split into path and query.
fn set_target<'a>(
    request: &mut Request<'a>,
    method: Cow<'a, str>,
    target: Cow<'a, str>,
) -> Result<(), LineError> {
    check_method(&method)?;
    request.method = method;
    (request.path, request.query) = split_target(target);
    Ok(())
}

/// `nginx-json`: a `log_format ... escape=json '{"remote_addr":"$remote_addr",...}'`.
#[derive(Debug)]
pub struct NginxJson {
    options: ParserOptions,
}

impl NginxJson {
    pub fn new(options: &ParserOptions) -> NginxJson {
        NginxJson {
            options: options.clone(),
        }
    }
}

/// The raw values an nginx-json line may give.
#[derive(Default)]
struct NginxValues<'a> {
    remote_addr: Option<&'a RawValue>,
    time_iso8601: Option<&'a RawValue>,
    time_local: Option<&'a RawValue>,
    msec: Option<&'a RawValue>,
    request: Option<&'a RawValue>,
    method: Option<&'a RawValue>,
    request_uri: Option<&'a RawValue>,
    uri: Option<&'a RawValue>,
    args: Option<&'a RawValue>,
    protocol: Option<&'a RawValue>,
    status: Option<&'a RawValue>,
    bytes: Option<&'a RawValue>,
    referer: Option<&'a RawValue>,
    user_agent: Option<&'a RawValue>,
    hosts: [Option<&'a RawValue>; 3],
    forwarded_for: Option<&'a RawValue>,
}

impl LogParser for NginxJson {
    fn name(&self) -> &str {
        "nginx-json"
    }

    fn parse<'a>(&self, line: &'a str) -> Result<Request<'a>, LineError> {
        let mut v = NginxValues::default();
        walk_object(line, |key, raw| {
            let slot = match key {
                "remote_addr" => &mut v.remote_addr,
                "time_iso8601" => &mut v.time_iso8601,
                "time_local" => &mut v.time_local,
                "msec" => &mut v.msec,
                "request" => &mut v.request,
                "request_method" => &mut v.method,
                "request_uri" => &mut v.request_uri,
                "uri" => &mut v.uri,
                "args" | "query_string" => &mut v.args,
                "server_protocol" => &mut v.protocol,
                "status" => &mut v.status,
                "body_bytes_sent" => &mut v.bytes,
                "bytes_sent" if v.bytes.is_none() => &mut v.bytes,
                "http_referer" => &mut v.referer,
                "http_user_agent" => &mut v.user_agent,
                "host" => &mut v.hosts[0],
                "http_host" => &mut v.hosts[1],
                "server_name" => &mut v.hosts[2],
                other => match other.strip_prefix("http_") {
                    Some(header) if self.options.is_forwarded_for(header) => &mut v.forwarded_for,
                    _ => return,
                },
            };
            *slot = Some(raw);
        })?;
        let mut request = Request {
            remote_addr: text(v.remote_addr),
            forwarded_for: text(v.forwarded_for),
            protocol: text(v.protocol),
            status: status(v.status, "status")?,
            bytes: bytes(v.bytes)?,
            referer: text(v.referer),
            user_agent: text(v.user_agent),
            host: v.hosts.into_iter().find_map(text),
            ..Request::default()
        };
        request.ts_ms = if let Some(raw) = v.time_iso8601 {
            let value = required(Some(raw), "time", "time_iso8601")?;
            parse_iso8601(&value, false).map_err(|r| time_error(r, &value))?
        } else if let Some(raw) = v.time_local {
            let value = required(Some(raw), "time", "time_local")?;
            parse_clf_time(&value).map_err(|r| time_error(r, &value))?
        } else if let Some(raw) = v.msec {
            let value = required(Some(raw), "time", "msec")?;
            parse_epoch_seconds(&value).map_err(|r| time_error(r, &value))?
        } else {
            return Err(LineError::new(
                "time",
                "no time_iso8601, time_local or msec",
            ));
        };
        if let Some(target) = text(v.request_uri).or_else(|| text(v.uri)) {
            let method = required(v.method, "method", "request_method")?;
            set_target(&mut request, method, target)?;
            if request.query.is_none() {
                request.query = text(v.args);
            }
        } else {
            let line = parse_request_line(required(v.request, "request", "request")?)?;
            request.method = line.method;
            (request.path, request.query) = split_target(line.target);
            request.protocol = request.protocol.or(line.protocol);
        }
        Ok(request)
    }
}

/// `caddy`: Caddy v2's JSON access log (`ts`, `request{...}`, `status`,
/// `size`).
#[derive(Debug)]
pub struct Caddy {
    options: ParserOptions,
}

impl Caddy {
    pub fn new(options: &ParserOptions) -> Caddy {
        Caddy {
            options: options.clone(),
        }
    }
}

impl LogParser for Caddy {
    fn name(&self) -> &str {
        "caddy"
    }

    fn parse<'a>(&self, line: &'a str) -> Result<Request<'a>, LineError> {
        let (mut ts, mut raw_request, mut raw_status, mut size) = (None, None, None, None);
        walk_object(line, |key, raw| match key {
            "ts" => ts = Some(raw),
            "request" => raw_request = Some(raw),
            "status" => raw_status = Some(raw),
            "size" => size = Some(raw),
            _ => {}
        })?;
        let raw_request =
            raw_request.ok_or_else(|| LineError::new("request", "no request object"))?;
        let (mut client_ip, mut remote_ip, mut remote_addr) = (None, None, None);
        let (mut method, mut uri, mut host, mut proto, mut headers) =
            (None, None, None, None, None);
        walk_object(raw_request.get(), |key, raw| match key {
            "client_ip" => client_ip = Some(raw),
            "remote_ip" => remote_ip = Some(raw),
            "remote_addr" => remote_addr = Some(raw),
            "method" => method = Some(raw),
            "uri" => uri = Some(raw),
            "host" => host = Some(raw),
            "proto" => proto = Some(raw),
            "headers" => headers = Some(raw),
            _ => {}
        })
        .map_err(|err| LineError::new("request", err.reason))?;
        let (mut user_agent, mut referer, mut forwarded_for) = (None, None, None);
        if let Some(headers) = headers {
            walk_object(headers.get(), |key, raw| {
                if key.eq_ignore_ascii_case("user-agent") {
                    user_agent = Some(raw);
                } else if key.eq_ignore_ascii_case("referer") {
                    referer = Some(raw);
                } else if self.options.is_forwarded_for(key) {
                    forwarded_for = Some(raw);
                }
            })
            .map_err(|err| LineError::new("headers", err.reason))?;
        }
        // Before client_ip and remote_ip (Caddy 2.5) there was remote_addr,
        // `ip:port`.
        let remote = text(client_ip).or_else(|| text(remote_ip)).or_else(|| {
            text(remote_addr).map(|addr| match addr {
                Cow::Borrowed(a) => Cow::Borrowed(strip_port(a)),
                Cow::Owned(a) => Cow::Owned(strip_port(&a).to_owned()),
            })
        });
        let mut request = Request {
            remote_addr: remote,
            forwarded_for: text(forwarded_for),
            ts_ms: iso_or_epoch(ts.ok_or_else(|| LineError::new("time", "no ts"))?)?,
            protocol: text(proto),
            status: status(raw_status, "status")?,
            bytes: bytes(size)?,
            referer: text(referer),
            user_agent: text(user_agent),
            host: text(host),
            ..Request::default()
        };
        let method = required(method, "method", "request.method")?;
        set_target(&mut request, method, required(uri, "path", "request.uri")?)?;
        Ok(request)
    }
}

/// `1.2.3.4:5678` or `[::1]:5678` without the port.
fn strip_port(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split_once(']').map_or(addr, |(ip, _)| ip);
    }
    match addr.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|c| c.is_ascii_digit()) => ip,
        _ => addr,
    }
}

/// `traefik`: Traefik's JSON access log (`ClientHost`, `RequestMethod`,
/// `RequestPath`, `DownstreamStatus`, `StartUTC`, `request_User-Agent`...).
#[derive(Debug)]
pub struct Traefik {
    options: ParserOptions,
}

impl Traefik {
    pub fn new(options: &ParserOptions) -> Traefik {
        Traefik {
            options: options.clone(),
        }
    }
}

#[derive(Default)]
struct TraefikValues<'a> {
    client_host: Option<&'a RawValue>,
    client_addr: Option<&'a RawValue>,
    method: Option<&'a RawValue>,
    path: Option<&'a RawValue>,
    host: Option<&'a RawValue>,
    protocol: Option<&'a RawValue>,
    downstream_status: Option<&'a RawValue>,
    origin_status: Option<&'a RawValue>,
    size: Option<&'a RawValue>,
    start_utc: Option<&'a RawValue>,
    time: Option<&'a RawValue>,
    user_agent: Option<&'a RawValue>,
    referer: Option<&'a RawValue>,
    forwarded_for: Option<&'a RawValue>,
}

impl LogParser for Traefik {
    fn name(&self) -> &str {
        "traefik"
    }

    fn parse<'a>(&self, line: &'a str) -> Result<Request<'a>, LineError> {
        let mut v = TraefikValues::default();
        walk_object(line, |key, raw| {
            let slot = match key {
                "ClientHost" => &mut v.client_host,
                "ClientAddr" => &mut v.client_addr,
                "RequestMethod" => &mut v.method,
                "RequestPath" => &mut v.path,
                "RequestHost" => &mut v.host,
                "RequestProtocol" => &mut v.protocol,
                "DownstreamStatus" => &mut v.downstream_status,
                "OriginStatus" => &mut v.origin_status,
                "DownstreamContentSize" => &mut v.size,
                "StartUTC" => &mut v.start_utc,
                "time" => &mut v.time,
                other => match other.strip_prefix("request_") {
                    Some(h) if header_names_equal(h, "user-agent") => &mut v.user_agent,
                    Some(h) if header_names_equal(h, "referer") => &mut v.referer,
                    Some(h) if self.options.is_forwarded_for(h) => &mut v.forwarded_for,
                    _ => return,
                },
            };
            *slot = Some(raw);
        })?;
        let time = v
            .start_utc
            .or(v.time)
            .ok_or_else(|| LineError::new("time", "no StartUTC or time"))?;
        let status_raw = if text(v.downstream_status).is_some() {
            v.downstream_status
        } else {
            v.origin_status
        };
        let remote = text(v.client_host).or_else(|| {
            text(v.client_addr).map(|addr| match addr {
                Cow::Borrowed(a) => Cow::Borrowed(strip_port(a)),
                Cow::Owned(a) => Cow::Owned(strip_port(&a).to_owned()),
            })
        });
        let mut request = Request {
            remote_addr: remote,
            forwarded_for: text(v.forwarded_for),
            ts_ms: iso_or_epoch(time)?,
            protocol: text(v.protocol),
            status: status(status_raw, "DownstreamStatus")?,
            bytes: bytes(v.size)?,
            referer: text(v.referer),
            user_agent: text(v.user_agent),
            host: text(v.host),
            ..Request::default()
        };
        let method = required(v.method, "method", "RequestMethod")?;
        set_target(
            &mut request,
            method,
            required(v.path, "path", "RequestPath")?,
        )?;
        Ok(request)
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
pub(crate) mod tests;
