//! `--log-format auto`: every predefined format tries a file's first lines
//! and the one that fits most of them wins (ties go to the earlier in
//! [`PREDEFINED`], most specific first: `vhost-combined` before `combined`
//! before `common`). The count goes into the summary, so a user sees what
//! was chosen and how well it fit.

use std::fmt;

use super::{LogFormat, PREDEFINED, ParserOptions};

/// How many non-comment lines detection looks at (contract: "the first 100
/// non-comment lines").
pub const SAMPLE_LINES: usize = 100;

/// The format chosen and how many sampled lines fit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub format: LogFormat,
    pub fits: usize,
    pub sampled: usize,
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} of the first {} lines fit)",
            self.format, self.fits, self.sampled
        )
    }
}

/// No format fits any sampled line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectError {
    /// The formats tried, in order.
    pub tried: Vec<&'static str>,
    /// The file's first line (at most 200 characters), if it has one.
    pub first_line: Option<String>,
    /// The non-comment lines looked at.
    pub sampled: usize,
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.first_line {
            None => write!(f, "no access log lines to tell its format from")?,
            Some(line) => write!(
                f,
                "none of its first {} lines fits a known access log format \
                 (tried {}); its first line is {line:?}",
                self.sampled,
                self.tried.join(", ")
            )?,
        }
        write!(
            f,
            "; name the format with --log-format (one of {}, or the server's own \
             log_format/LogFormat string)",
            self.tried.join(", ")
        )
    }
}

impl std::error::Error for DetectError {}

/// Whether detection skips a line: blank, or a comment or directive.
fn is_comment(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// Picks the format that fits most of `lines` (a file's first lines, as
/// read; comment lines are fed to parsers that take directives and not
/// counted). The caller reads the same lines again with the chosen
/// format's parser.
pub fn detect(lines: &[&str], options: &ParserOptions) -> Result<Detection, DetectError> {
    let sampled = lines
        .iter()
        .filter(|line| !is_comment(line))
        .take(SAMPLE_LINES)
        .count();
    let mut best: Option<Detection> = None;
    for name in PREDEFINED {
        let Some(format) = LogFormat::predefined(name) else {
            continue;
        };
        let Ok(mut parser) = format.parser(options) else {
            continue;
        };
        let mut seen = 0;
        let mut fits = 0;
        for line in lines {
            if seen == SAMPLE_LINES {
                break;
            }
            if parser.directive(line) || is_comment(line) {
                continue;
            }
            seen += 1;
            if parser.parse(line).is_ok() {
                fits += 1;
            }
        }
        if fits > best.as_ref().map_or(0, |b| b.fits) {
            best = Some(Detection {
                format,
                fits,
                sampled,
            });
        }
    }
    best.ok_or_else(|| DetectError {
        tried: PREDEFINED.to_vec(),
        first_line: lines.first().map(|line| {
            line.trim_end_matches(['\r', '\n'])
                .chars()
                .take(200)
                .collect()
        }),
        sampled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::formats::json::tests::{CADDY, NGINX_JSON, TRAEFIK};

    const COMBINED: &str = r#"203.0.113.9 - - [06/Feb/2019:15:30:25 +0100] "GET / HTTP/1.1" 200 5316 "-" "Mozilla/5.0""#;
    const COMMON: &str =
        r#"203.0.113.9 - - [06/Feb/2019:15:30:25 +0100] "GET / HTTP/1.1" 200 5316"#;

    fn detected(lines: &[&str]) -> Detection {
        detect(lines, &ParserOptions::default()).unwrap()
    }

    #[test]
    fn each_format_is_told_apart() {
        let vhost = format!("www.example.com:443 {COMBINED}");
        let vhost_no_port = format!("example.org {COMBINED}");
        let cases: [(&[&str], &str); 8] = [
            (&[COMBINED, COMBINED], "combined"),
            (&[COMMON], "common"),
            (&[vhost.as_str(), vhost_no_port.as_str()], "vhost-combined"),
            (&[NGINX_JSON], "nginx-json"),
            (&[CADDY], "caddy"),
            (&[TRAEFIK], "traefik"),
            (
                &[
                    "#Software: Microsoft Internet Information Services 10.0",
                    "#Fields: date time cs-method cs-uri-stem sc-status",
                    "2019-02-06 15:30:25 GET / 200",
                ],
                "w3c",
            ),
            (&["", COMBINED, "garbage", COMMON], "combined"),
        ];
        for (lines, name) in cases {
            let detection = detected(lines);
            assert_eq!(detection.format.name(), name, "{lines:?}");
        }
    }

    #[test]
    fn counts_what_fits_among_the_first_lines() {
        let mut lines = vec!["#comment", "junk"];
        lines.extend(std::iter::repeat_n(COMBINED, 150));
        let detection = detected(&lines);
        assert_eq!((detection.fits, detection.sampled), (99, 100));
        assert_eq!(
            detection.to_string(),
            "combined (99 of the first 100 lines fit)"
        );
    }

    #[test]
    fn nothing_fits() {
        let event = r#"{"ts":"2019-02-06T15:30:25Z","site":"a","kind":"pageview","session":"s","visitor":"v"}"#;
        let err = detect(&[event, "x"], &ParserOptions::default()).unwrap_err();
        assert_eq!(err.sampled, 2);
        assert_eq!(err.first_line.as_deref(), Some(event));
        let message = err.to_string();
        assert!(
            message.contains(
                "tried caddy, traefik, nginx-json, w3c, vhost-combined, combined, common"
            ),
            "{message}"
        );
        assert!(message.contains("--log-format"), "{message}");
        let empty = detect(&[], &ParserOptions::default()).unwrap_err();
        assert!(
            empty.to_string().starts_with("no access log lines"),
            "{empty}"
        );
    }
}
