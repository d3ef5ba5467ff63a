//! The template matcher: a compiled nginx `log_format` or Apache
//! `LogFormat` (`definition.rs`) matched against a line left to right, each
//! field ending where the literal text after it begins. `common` and
//! `combined` are Apache definitions run through the same engine;
//! `vhost-combined` is `combined` after a virtual host.

use std::borrow::Cow;

use super::definition::{Field, Piece, apache_pieces, nginx_pieces};
use super::fields::{
    check_method, dash_none, dash_none_cow, parse_bytes, parse_clf_time, parse_epoch_seconds,
    parse_iso8601, parse_request_line, parse_status, split_target, truncated, unescape,
};
use super::{LineError, LogParser, ParserOptions, Request};

pub const NGINX_NAME: &str = "nginx log_format";
pub const APACHE_NAME: &str = "apache LogFormat";

/// Apache's `common` (NCSA Common Log Format).
pub const COMMON: &str = r#"%h %l %u %t "%r" %>s %b"#;
/// Apache's `combined`, which is also nginx's default `combined`.
pub const COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;

/// The literal text that ends a field.
#[derive(Debug)]
struct Until {
    text: String,
    /// The definition's final text: it is looked for at the end of the
    /// line first, so a raw `"` inside the last quoted field does not cut
    /// it short; failing that, at its first place (a line may carry fields
    /// after the ones defined).
    last: bool,
}

#[derive(Debug)]
struct Step {
    field: Field,
    token: bool,
    /// Between `"` and `"`: a `\"` inside does not end the field.
    quoted: bool,
    spelled: String,
    until: Option<Until>,
}

/// A compiled definition.
#[derive(Debug)]
pub struct Template {
    name: String,
    leading: String,
    steps: Vec<Step>,
}

/// `hay[at..]` starts with `text`. A loop, not `starts_with`: slice
/// equality calls `memcmp`, whose call costs more than comparing the one
/// to three bytes of a template's literals.
fn has_at(hay: &[u8], at: usize, text: &[u8]) -> bool {
    let Some(window) = hay.get(at..at.saturating_add(text.len())) else {
        return false;
    };
    let mut same = true;
    for (a, b) in window.iter().zip(text) {
        same &= a == b;
    }
    same
}

/// How far [`find_until`] looks byte by byte before calling memchr.
const NEAR: usize = 24;

/// The first place of `until` in `text`; in a quoted field, one that is
/// not escaped by a backslash (the byte after a backslash is skipped).
/// Also says whether a backslash was seen, so that a value without one is
/// not scanned again for escapes. memchr on the first byte and a compare
/// of the rest: literals are short and near, where a substring searcher's
/// setup costs more than it saves.
fn find_until(text: &str, until: &str, quoted: bool) -> Option<(usize, bool)> {
    let bytes = text.as_bytes();
    let (&first, tail) = until.as_bytes().split_first()?;
    let quoted = quoted && first != b'\\';
    let mut backslash = false;
    let mut from = 0;
    loop {
        let rest = bytes.get(from..)?;
        let found = if quoted {
            memchr::memchr2(first, b'\\', rest)?
        } else {
            // Most unquoted fields are a few bytes long (an address, a
            // status): a plain loop finds their end before memchr's vector
            // setup would.
            let near = rest.get(..NEAR).unwrap_or(rest);
            match near.iter().position(|&b| b == first) {
                Some(i) => i,
                None => NEAR + memchr::memchr(first, rest.get(NEAR..)?)?,
            }
        };
        let at = from + found;
        if quoted && bytes.get(at) == Some(&b'\\') {
            backslash = true;
            from = at + 2;
            continue;
        }
        if has_at(bytes, at + 1, tail) {
            return Some((at, backslash));
        }
        from = at + 1;
    }
}

fn time_error(reason: &str, value: &str) -> LineError {
    LineError::new("time", format!("{reason}: {:?}", truncated(value)))
}

/// `%U%q` and `$uri$is_args$args` are the path and query with nothing
/// between them: one target, split at its `?`.
fn join_path_and_query(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        if let Piece::Field {
            field: Field::Query,
            spelled,
        } = &piece
        {
            let n = out.len();
            let is_args = n >= 2
                && matches!(&out[n - 1], Piece::Field { spelled, .. } if spelled == "$is_args")
                && matches!(
                    &out[n - 2],
                    Piece::Field {
                        field: Field::Path,
                        ..
                    }
                );
            if is_args {
                out.pop();
            }
            if let Some(Piece::Field {
                field: field @ Field::Path,
                spelled: path,
            }) = out.last_mut()
            {
                *field = Field::Target;
                path.push_str(if is_args { "$is_args" } else { "" });
                path.push_str(spelled);
                continue;
            }
        }
        out.push(piece);
    }
    out
}

impl Template {
    fn compile(name: &str, pieces: Vec<Piece>) -> Result<Template, String> {
        let pieces = join_path_and_query(pieces);
        let mut leading = String::new();
        let mut steps: Vec<Step> = Vec::new();
        let mut after_quote = false;
        let count = pieces.len();
        for (i, piece) in pieces.into_iter().enumerate() {
            match piece {
                Piece::Literal(text) => {
                    after_quote = text.ends_with('"');
                    match steps.last_mut() {
                        None => leading = text,
                        Some(step) => {
                            step.quoted = step.quoted && text.starts_with('"');
                            step.until = Some(Until {
                                text,
                                last: i + 1 == count,
                            });
                        }
                    }
                }
                Piece::Field { field, spelled } => {
                    if let Some(previous) = steps.last()
                        && previous.until.is_none()
                    {
                        return Err(format!(
                            "{} and {spelled} have no text between them, so a line cannot \
                             tell where one ends",
                            previous.spelled
                        ));
                    }
                    steps.push(Step {
                        field,
                        token: field.is_token(),
                        quoted: after_quote,
                        spelled,
                        until: None,
                    });
                    after_quote = false;
                }
            }
        }
        if let Some(last) = steps.last_mut()
            && last.until.is_none()
        {
            last.quoted = false;
        }
        let has = |wanted: &[Field]| steps.iter().any(|s| wanted.contains(&s.field));
        let missing = if !has(&[
            Field::TimeClf,
            Field::TimeIso,
            Field::TimeEpochSeconds,
            Field::TimeEpochMillis,
            Field::TimeEpochMicros,
        ]) {
            Some("a time ($time_local, $time_iso8601, $msec; %t)")
        } else if !(has(&[Field::RequestLine])
            || (has(&[Field::Method]) && has(&[Field::Target, Field::Path])))
        {
            Some("the request ($request or $request_method with $request_uri; %r or %m with %U)")
        } else if !has(&[Field::Status]) {
            Some("the status ($status; %s or %>s)")
        } else {
            None
        };
        if let Some(missing) = missing {
            return Err(format!("the {name} definition has no field for {missing}"));
        }
        Ok(Template {
            name: name.to_string(),
            leading,
            steps,
        })
    }

    /// An nginx `log_format`, pasted from the config or bare.
    pub fn nginx(text: &str, options: &ParserOptions) -> Result<Template, String> {
        Template::compile(NGINX_NAME, nginx_pieces(text, options)?)
    }

    /// An Apache `LogFormat`, pasted from the config or bare.
    pub fn apache(text: &str, options: &ParserOptions) -> Result<Template, String> {
        Template::compile(APACHE_NAME, apache_pieces(text, options)?)
    }

    fn predefined(name: &str, definition: &str, options: &ParserOptions) -> Template {
        let compiled =
            apache_pieces(definition, options).and_then(|pieces| Template::compile(name, pieces));
        match compiled {
            Ok(template) => template,
            // The definitions are constants, compiled by the tests below.
            Err(err) => unreachable!("predefined format {name}: {err}"),
        }
    }

    pub fn common(options: &ParserOptions) -> Template {
        Template::predefined("common", COMMON, options)
    }

    pub fn combined(options: &ParserOptions) -> Template {
        Template::predefined("combined", COMBINED, options)
    }
}

/// What a line has filled in so far.
struct Filled {
    time: bool,
    method: bool,
    path: bool,
    status: bool,
    host_rank: u8,
}

fn apply<'a>(
    step: &Step,
    value: &'a str,
    may_escape: bool,
    request: &mut Request<'a>,
    filled: &mut Filled,
) -> Result<(), LineError> {
    // A quoted value whose scan saw no backslash has nothing to undo.
    let unescape = |value: &'a str| {
        if may_escape {
            unescape(value)
        } else {
            Cow::Borrowed(value)
        }
    };
    match step.field {
        Field::RemoteAddr => request.remote_addr = dash_none(value).map(Cow::Borrowed),
        Field::TimeClf => {
            request.ts_ms = parse_clf_time(value).map_err(|r| time_error(r, value))?;
            filled.time = true;
        }
        Field::TimeIso => {
            request.ts_ms = parse_iso8601(value, false).map_err(|r| time_error(r, value))?;
            filled.time = true;
        }
        Field::TimeEpochSeconds => {
            request.ts_ms = parse_epoch_seconds(value).map_err(|r| time_error(r, value))?;
            filled.time = true;
        }
        Field::TimeEpochMillis | Field::TimeEpochMicros => {
            let n: i64 = value
                .parse()
                .map_err(|_| time_error("expected a Unix time in whole numbers", value))?;
            request.ts_ms = if step.field == Field::TimeEpochMicros {
                n / 1000
            } else {
                n
            };
            filled.time = true;
        }
        Field::RequestLine => {
            let line = parse_request_line(unescape(value))?;
            request.method = line.method;
            (request.path, request.query) = split_target(line.target);
            request.protocol = line.protocol;
            filled.method = true;
            filled.path = true;
        }
        Field::Method => {
            check_method(value)?;
            request.method = Cow::Borrowed(value);
            filled.method = true;
        }
        Field::Target | Field::Path => {
            let target = dash_none_cow(unescape(value))
                .ok_or_else(|| LineError::new("path", "no path (-)"))?;
            if step.field == Field::Target || !filled.path {
                let (path, query) = split_target(target);
                request.path = path;
                if step.field == Field::Target {
                    request.query = query;
                }
                filled.path = true;
            }
        }
        Field::Query => {
            let query = value.strip_prefix('?').unwrap_or(value);
            request.query = dash_none_cow(unescape(query));
        }
        Field::Protocol => request.protocol = dash_none(value).map(Cow::Borrowed),
        Field::Status => {
            request.status = parse_status(value)?;
            filled.status = true;
        }
        Field::Bytes => request.bytes = parse_bytes(value)?,
        Field::Referer => request.referer = dash_none_cow(unescape(value)),
        Field::UserAgent => request.user_agent = dash_none_cow(unescape(value)),
        Field::Host(rank) => {
            if rank < filled.host_rank {
                request.host = dash_none(value).map(Cow::Borrowed);
                filled.host_rank = rank;
            }
        }
        Field::ForwardedFor => request.forwarded_for = dash_none_cow(unescape(value)),
        Field::Ident | Field::User | Field::Ignore => {}
    }
    Ok(())
}

impl LogParser for Template {
    fn name(&self) -> &str {
        &self.name
    }

    fn has_user_agent(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.field, super::definition::Field::UserAgent))
    }

    fn parse<'a>(&self, line: &'a str) -> Result<Request<'a>, LineError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let first = self.steps.first().map_or("format", |s| s.field.label());
        let mut pos = self.leading.len();
        if !has_at(line.as_bytes(), 0, self.leading.as_bytes()) {
            return Err(LineError::new(
                first,
                format!("the line does not start with {:?}", self.leading),
            ));
        }
        let mut request = Request::default();
        let mut filled = Filled {
            time: false,
            method: false,
            path: false,
            status: false,
            host_rank: u8::MAX,
        };
        for step in &self.steps {
            let rest = line.get(pos..).unwrap_or("");
            let (value, next, may_escape) = match &step.until {
                None => (rest, line.len(), true),
                Some(until) => {
                    let end = rest.len().wrapping_sub(until.text.len());
                    let at_end = (until.last
                        && end <= rest.len()
                        && has_at(rest.as_bytes(), end, until.text.as_bytes()))
                    .then_some((end, true));
                    let found = at_end
                        .or_else(|| find_until(rest, &until.text, step.quoted))
                        // A line cut short inside its last quoted field
                        // (a user agent without its closing quote) keeps
                        // what it has, as GoAccess reads it.
                        .or_else(|| (until.last && step.quoted).then_some((rest.len(), true)));
                    let Some((at, backslash)) = found else {
                        return Err(LineError::new(
                            step.field.label(),
                            format!("no {:?} after {}", until.text, step.spelled),
                        ));
                    };
                    let may_escape = backslash || !step.quoted;
                    (
                        rest.get(..at).unwrap_or(""),
                        (pos + at + until.text.len()).min(line.len()),
                        may_escape,
                    )
                }
            };
            if step.token && memchr::memchr(b' ', value.as_bytes()).is_some() {
                return Err(LineError::new(
                    step.field.label(),
                    format!("{} is not one word: {:?}", step.spelled, truncated(value)),
                ));
            }
            apply(step, value, may_escape, &mut request, &mut filled)?;
            pos = next;
        }
        // The definition has these fields (checked when compiled), so only
        // an empty value can leave one unset.
        if !(filled.time && filled.method && filled.path && filled.status) {
            return Err(LineError::new("request", "the line lacks a required field"));
        }
        Ok(request)
    }
}

/// `vhost-combined`: Apache's `%v %h ...` or `%v:%p %h ...` (its
/// `vhost_combined`), a virtual host and then a `combined` line.
#[derive(Debug)]
pub struct VhostCombined {
    combined: Template,
}

impl VhostCombined {
    pub fn new(options: &ParserOptions) -> VhostCombined {
        VhostCombined {
            combined: Template::combined(options),
        }
    }
}

impl LogParser for VhostCombined {
    fn name(&self) -> &str {
        "vhost-combined"
    }

    fn parse<'a>(&self, line: &'a str) -> Result<Request<'a>, LineError> {
        let (vhost, rest) = line
            .split_once(' ')
            .ok_or_else(|| LineError::new("host", "no virtual host before the client address"))?;
        let host = match vhost.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|c| c.is_ascii_digit()) =>
            {
                name
            }
            _ => vhost,
        };
        let mut request = self.combined.parse(rest)?;
        request.host = dash_none(host).map(Cow::Borrowed);
        Ok(request)
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
