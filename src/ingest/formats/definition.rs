//! A server's own log format definition, as pasted from its config (nginx
//! `log_format`, Apache `LogFormat`) or bare, turned into literal text and
//! fields for the template matcher (`template.rs`).

use super::ParserOptions;

/// What a field of a template fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    RemoteAddr,
    /// `$time_local`, `%t`: `10/Oct/2000:13:55:36 -0700`.
    TimeClf,
    /// `$time_iso8601`, `%{%Y-%m-%dT%H:%M:%S%z}t`.
    TimeIso,
    /// `$msec`, `%{sec}t`: Unix seconds with an optional fraction.
    TimeEpochSeconds,
    /// `%{msec}t`: Unix milliseconds.
    TimeEpochMillis,
    /// `%{usec}t`: Unix microseconds.
    TimeEpochMicros,
    /// `$request`, `%r`: `GET /path?q HTTP/1.1`.
    RequestLine,
    Method,
    /// `$request_uri`: path and query.
    Target,
    /// `$uri`, `%U`: the path alone.
    Path,
    /// `$args`, `%q` (with its `?`).
    Query,
    Protocol,
    Status,
    Bytes,
    Referer,
    UserAgent,
    /// A host; the lower rank wins when a format logs several
    /// (`$host` before `$http_host` before `$server_name`).
    Host(u8),
    /// The header named by `[logs] forwarded_for`.
    ForwardedFor,
    /// `%l`: skipped, but one word.
    Ident,
    /// `%u`, `$remote_user`: skipped, but one word.
    User,
    /// Anything else: matched and skipped.
    Ignore,
}

impl Field {
    /// The name a rejected line's reason gives the field.
    pub fn label(self) -> &'static str {
        match self {
            Field::RemoteAddr => "remote_addr",
            Field::TimeClf
            | Field::TimeIso
            | Field::TimeEpochSeconds
            | Field::TimeEpochMillis
            | Field::TimeEpochMicros => "time",
            Field::RequestLine => "request",
            Field::Method => "method",
            Field::Target | Field::Path => "path",
            Field::Query => "query",
            Field::Protocol => "protocol",
            Field::Status => "status",
            Field::Bytes => "bytes",
            Field::Referer => "referer",
            Field::UserAgent => "user_agent",
            Field::Host(_) => "host",
            Field::ForwardedFor => "forwarded_for",
            Field::Ident => "ident",
            Field::User => "user",
            Field::Ignore => "format",
        }
    }

    /// Whether the value is one word: a space inside means the line does
    /// not fit (this is what tells `combined` from `vhost-combined`).
    pub fn is_token(self) -> bool {
        matches!(
            self,
            Field::RemoteAddr
                | Field::TimeEpochSeconds
                | Field::TimeEpochMillis
                | Field::TimeEpochMicros
                | Field::Method
                | Field::Protocol
                | Field::Status
                | Field::Bytes
                | Field::Host(_)
                | Field::Ident
                | Field::User
        )
    }
}

/// One part of a compiled definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    Field {
        field: Field,
        /// The field as the definition spells it, for errors.
        spelled: String,
    },
}

fn field(field: Field, spelled: String) -> Piece {
    Piece::Field { field, spelled }
}

/// The contents of quoted strings, concatenated (`'a' "b"` is `ab`), with
/// `\"`, `\'` and `\\` undone; text without quotes is returned as it is.
fn concat_quoted(text: &str) -> String {
    let text = text.trim().trim_end_matches(';').trim_end();
    if !text.starts_with(['\'', '"']) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match quote {
            None if c == '\'' || c == '"' => quote = Some(c),
            // Text between quoted strings (spaces, a trailing nickname).
            None => {}
            Some(q) if c == q => quote = None,
            Some(q) if c == '\\' => match chars.next() {
                Some(next) if next == q || next == '\\' => out.push(next),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            Some(_) => out.push(c),
        }
    }
    out
}

/// An nginx definition without its `log_format name [escape=...]` prefix
/// and its quotes.
pub fn unwrap_nginx(text: &str) -> String {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("log_format") else {
        return concat_quoted(trimmed);
    };
    let mut rest = rest.trim_start();
    // The format's name, then its optional parameters.
    rest = rest
        .split_once(char::is_whitespace)
        .map_or("", |(_, after)| after)
        .trim_start();
    while rest.starts_with("escape=") || rest.starts_with("if=") {
        rest = rest
            .split_once(char::is_whitespace)
            .map_or("", |(_, after)| after)
            .trim_start();
    }
    concat_quoted(rest)
}

/// An Apache definition without `LogFormat`/`CustomLog`, its quotes and
/// its nickname; `\"` pasted bare becomes `"`.
pub fn unwrap_apache(text: &str) -> String {
    let trimmed = text.trim();
    for directive in ["LogFormat", "CustomLog"] {
        if let Some(rest) = trimmed.strip_prefix(directive) {
            return match rest.find('"') {
                Some(at) => first_quoted(rest.get(at..).unwrap_or("")),
                None => rest.trim().to_string(),
            };
        }
    }
    if trimmed.starts_with('"') {
        return first_quoted(trimmed);
    }
    trimmed.replace("\\\"", "\"")
}

/// The first double-quoted string of `text` (which starts with `"`).
fn first_quoted(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().skip(1);
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

fn push_literal(pieces: &mut Vec<Piece>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Piece::Literal(last)) = pieces.last_mut() {
        last.push_str(text);
    } else {
        pieces.push(Piece::Literal(text.to_string()));
    }
}

fn nginx_field(name: &str, options: &ParserOptions) -> Piece {
    let spelled = format!("${name}");
    let f = match name {
        "remote_addr" | "realip_remote_addr" => Field::RemoteAddr,
        "time_local" => Field::TimeClf,
        "time_iso8601" => Field::TimeIso,
        "msec" => Field::TimeEpochSeconds,
        "request" => Field::RequestLine,
        "request_method" => Field::Method,
        "request_uri" => Field::Target,
        "uri" | "document_uri" => Field::Path,
        "args" | "query_string" => Field::Query,
        "server_protocol" => Field::Protocol,
        "status" => Field::Status,
        "body_bytes_sent" | "bytes_sent" => Field::Bytes,
        "http_referer" => Field::Referer,
        "http_user_agent" => Field::UserAgent,
        "host" => Field::Host(0),
        "http_host" => Field::Host(1),
        "server_name" => Field::Host(2),
        "remote_user" => Field::User,
        other => match other.strip_prefix("http_") {
            Some(header) if options.is_forwarded_for(header) => Field::ForwardedFor,
            _ => Field::Ignore,
        },
    };
    field(f, spelled)
}

/// An nginx `log_format` as pieces: `$name` or `${name}` are variables,
/// everything else is literal.
pub fn nginx_pieces(text: &str, options: &ParserOptions) -> Result<Vec<Piece>, String> {
    let format = unwrap_nginx(text);
    let mut pieces = Vec::new();
    let mut rest = format.as_str();
    while let Some(at) = rest.find('$') {
        push_literal(&mut pieces, rest.get(..at).unwrap_or(""));
        let after = rest.get(at + 1..).unwrap_or("");
        let (name, next) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {format:?}"))?;
            (
                braced.get(..end).unwrap_or(""),
                braced.get(end + 1..).unwrap_or(""),
            )
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (
                after.get(..end).unwrap_or(""),
                after.get(end..).unwrap_or(""),
            )
        };
        if name.is_empty() {
            push_literal(&mut pieces, "$");
        } else {
            pieces.push(nginx_field(name, options));
        }
        rest = next;
    }
    push_literal(&mut pieces, rest);
    Ok(pieces)
}

/// The Apache `%t` default, `[%d/%b/%Y:%H:%M:%S %z]` without brackets.
const CLF_STRFTIME: &str = "%d/%b/%Y:%H:%M:%S %z";

fn apache_time(format: Option<&str>) -> Result<Field, String> {
    // `begin:`/`end:` say when the time was taken; either is the request's.
    let format = format.map(|f| {
        f.strip_prefix("begin:")
            .or_else(|| f.strip_prefix("end:"))
            .unwrap_or(f)
    });
    match format {
        None | Some(CLF_STRFTIME) => Ok(Field::TimeClf),
        Some("sec") => Ok(Field::TimeEpochSeconds),
        Some("msec") => Ok(Field::TimeEpochMillis),
        Some("usec") => Ok(Field::TimeEpochMicros),
        Some("%Y-%m-%dT%H:%M:%S%z" | "%FT%T%z" | "%Y-%m-%dT%H:%M:%S%Z") => Ok(Field::TimeIso),
        Some(other) => Err(format!(
            "unsupported time format %{{{other}}}t: use %t, %{{sec}}t, %{{msec}}t, \
             %{{usec}}t or %{{%Y-%m-%dT%H:%M:%S%z}}t"
        )),
    }
}

fn apache_header(name: &str, options: &ParserOptions) -> Field {
    if name.eq_ignore_ascii_case("referer") {
        Field::Referer
    } else if name.eq_ignore_ascii_case("user-agent") {
        Field::UserAgent
    } else if name.eq_ignore_ascii_case("host") {
        Field::Host(1)
    } else if options.is_forwarded_for(name) {
        Field::ForwardedFor
    } else {
        Field::Ignore
    }
}

/// An Apache `LogFormat` as pieces. `%t` brings its own brackets, so it
/// becomes `[`, the time and `]`.
pub fn apache_pieces(text: &str, options: &ParserOptions) -> Result<Vec<Piece>, String> {
    let format = unwrap_apache(text);
    let mut pieces = Vec::new();
    let mut rest = format.as_str();
    while let Some(at) = rest.find('%') {
        push_literal(&mut pieces, rest.get(..at).unwrap_or(""));
        let mut after = rest.get(at + 1..).unwrap_or("");
        // Conditions and the original/final marks: `%>s`, `%!200,304u`.
        after = after
            .trim_start_matches(|c: char| matches!(c, '<' | '>' | '!' | ',') || c.is_ascii_digit());
        let mut argument = None;
        if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed %{{ in {format:?}"))?;
            argument = braced.get(..end);
            after = braced.get(end + 1..).unwrap_or("");
        }
        let directive = after
            .chars()
            .next()
            .ok_or_else(|| format!("{format:?} ends with a lone %"))?;
        let spelled = rest
            .get(at..rest.len() - after.len() + directive.len_utf8())
            .unwrap_or("%")
            .to_string();
        rest = after.get(directive.len_utf8()..).unwrap_or("");
        let f = match (directive, argument) {
            ('%', _) => {
                push_literal(&mut pieces, "%");
                continue;
            }
            ('h' | 'a', _) => Field::RemoteAddr,
            ('l', _) => Field::Ident,
            ('u', _) => Field::User,
            ('t', argument) => {
                let time = apache_time(argument)?;
                if time == Field::TimeClf && argument.is_none() {
                    push_literal(&mut pieces, "[");
                    pieces.push(field(time, spelled));
                    push_literal(&mut pieces, "]");
                    continue;
                }
                time
            }
            ('r', _) => Field::RequestLine,
            ('m', _) => Field::Method,
            ('U', _) => Field::Path,
            ('q', _) => Field::Query,
            ('H', _) => Field::Protocol,
            ('s', _) => Field::Status,
            ('b' | 'B' | 'O', _) => Field::Bytes,
            ('v', _) => Field::Host(0),
            ('V', _) => Field::Host(1),
            ('i', Some(name)) => apache_header(name, options),
            ('i', None) => {
                return Err(format!(
                    "{spelled} needs a header name, as in %{{Referer}}i"
                ));
            }
            _ => Field::Ignore,
        };
        pieces.push(field(f, spelled));
    }
    push_literal(&mut pieces, rest);
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pieces: &[Piece]) -> Vec<Field> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Field { field, .. } => Some(*field),
                Piece::Literal(_) => None,
            })
            .collect()
    }

    #[test]
    fn nginx_config_text_is_unwrapped() {
        let pasted = r#"log_format main escape=default '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';"#;
        assert_eq!(
            unwrap_nginx(pasted),
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#
        );
        assert_eq!(unwrap_nginx("'$a \\'x\\''"), "$a 'x'");
        assert_eq!(unwrap_nginx("$a $b"), "$a $b");
    }

    #[test]
    fn apache_config_text_is_unwrapped() {
        let pasted = r#"LogFormat "%h %l %u %t \"%r\" %>s %b" common"#;
        assert_eq!(unwrap_apache(pasted), r#"%h %l %u %t "%r" %>s %b"#);
        assert_eq!(unwrap_apache(r#"%h \"%r\""#), r#"%h "%r""#);
        assert_eq!(unwrap_apache(r#""%h %t""#), "%h %t");
        assert_eq!(
            unwrap_apache(r#"CustomLog logs/access_log "%h %t \"%r\"""#),
            r#"%h %t "%r""#
        );
    }

    #[test]
    fn nginx_variables() {
        let options = ParserOptions {
            forwarded_for: Some("X-Forwarded-For".into()),
        };
        let pieces = nginx_pieces(
            "${remote_addr}:$msec $request_time $http_x_forwarded_for $host$ $uri?$args",
            &options,
        )
        .unwrap();
        assert_eq!(
            fields(&pieces),
            [
                Field::RemoteAddr,
                Field::TimeEpochSeconds,
                Field::Ignore,
                Field::ForwardedFor,
                Field::Host(0),
                Field::Path,
                Field::Query
            ]
        );
        assert_eq!(pieces[1], Piece::Literal(":".into()));
        assert_eq!(pieces[9], Piece::Literal("$ ".into()));
        assert!(nginx_pieces("${oops", &options).is_err());
    }

    #[test]
    fn apache_directives() {
        let pieces = apache_pieces(
            r#"%v:%p %a %l %u %t "%r" %>s %!200,304B %D %T %{Referer}i %{X-Forwarded-For}i %%"#,
            &ParserOptions::default(),
        )
        .unwrap();
        assert_eq!(
            fields(&pieces),
            [
                Field::Host(0),
                Field::Ignore,
                Field::RemoteAddr,
                Field::Ident,
                Field::User,
                Field::TimeClf,
                Field::RequestLine,
                Field::Status,
                Field::Bytes,
                Field::Ignore,
                Field::Ignore,
                Field::Referer,
                Field::Ignore,
            ]
        );
        assert!(pieces.contains(&Piece::Literal(" [".into())));
        assert_eq!(pieces.last(), Some(&Piece::Literal(" %".into())));
        let sec = apache_pieces(
            "%{sec}t %{end:msec}t %{%d/%b/%Y:%H:%M:%S %z}t",
            &ParserOptions::default(),
        )
        .unwrap();
        assert_eq!(
            fields(&sec),
            [
                Field::TimeEpochSeconds,
                Field::TimeEpochMillis,
                Field::TimeClf
            ]
        );
        let err = apache_pieces("%{%H:%M}t", &ParserOptions::default()).unwrap_err();
        assert!(err.contains("unsupported time format"), "{err}");
        assert!(apache_pieces("%h %", &ParserOptions::default()).is_err());
        assert!(apache_pieces("%i", &ParserOptions::default()).is_err());
    }
}
