//! The health report and its three renderings: `text` for people, `json`
//! for Zabbix and scripts, `nagios` for Monitoring Plugins consumers
//! (Nagios, Icinga, Sensu).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::job::Severity;
use crate::time::rfc3339;

/// How `health-check` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthFormat {
    Text,
    Json,
    Nagios,
}

/// One performance figure, as Monitoring Plugins define it:
/// `'label'=value[UOM];warn;crit;min;max`. The thresholds mean "alert when
/// the value is above", which is the plugins' plain-number range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PerfDatum {
    pub(crate) label: String,
    /// None when it could not be measured (a job that never succeeded):
    /// rendered as `U`.
    pub(crate) value: Option<f64>,
    /// `s`, `B` or empty (a count).
    #[serde(rename = "unit")]
    pub(crate) uom: &'static str,
    pub(crate) warn: Option<f64>,
    pub(crate) crit: Option<f64>,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
}

/// One check: its status and a one-line reason.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) status: Severity,
    pub(crate) message: String,
    pub(crate) perf: Vec<PerfDatum>,
}

impl Check {
    pub(crate) fn new(
        name: impl Into<String>,
        status: Severity,
        message: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status,
            message: message.into(),
            perf: Vec::new(),
        }
    }

    pub(crate) fn with_perf(mut self, perf: PerfDatum) -> Check {
        self.perf.push(perf);
        self
    }
}

/// The `json` format; fields in this order.
#[derive(Serialize)]
struct JsonReport<'a> {
    status: &'static str,
    generated_at: String,
    summary: String,
    checks: Vec<JsonCheck<'a>>,
}

#[derive(Serialize)]
struct JsonCheck<'a> {
    name: &'a str,
    status: &'static str,
    message: &'a str,
    metrics: &'a [PerfDatum],
}

/// The checks of one run, with the instant they describe.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) checks: Vec<Check>,
    pub(crate) generated_at: DateTime<Utc>,
}

/// The word a status has in each format.
fn word(status: Severity) -> &'static str {
    match status {
        Severity::Ok => "ok",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

impl Report {
    /// The worst status of the checks: it decides the exit code.
    pub(crate) fn status(&self) -> Severity {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Severity::Ok)
    }

    /// The checks that are not ok.
    pub(crate) fn failing(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status != Severity::Ok)
    }

    /// One short line: how many checks fail and which.
    pub(crate) fn summary(&self) -> String {
        let total = self.checks.len();
        let failing: Vec<&str> = self.failing().map(|c| c.name.as_str()).collect();
        if failing.is_empty() {
            return format!("{total} checks ok");
        }
        format!(
            "{} of {total} checks failing: {}",
            failing.len(),
            failing.join(", ")
        )
    }

    /// The report in `format`, ending with a newline.
    pub(crate) fn render(&self, format: HealthFormat) -> String {
        match format {
            HealthFormat::Text => self.render_text(),
            HealthFormat::Json => {
                let mut text = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
                text.push('\n');
                text
            }
            HealthFormat::Nagios => self.render_nagios(),
        }
    }

    fn render_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = format!("[{}]", word(c.status));
            let _ = writeln!(out, "{mark:<10} {}: {}", c.name, c.message);
        }
        let _ = writeln!(
            out,
            "overall: {} - {}",
            word(self.status()).to_uppercase(),
            self.summary()
        );
        out
    }

    fn to_json(&self) -> JsonReport<'_> {
        JsonReport {
            status: word(self.status()),
            generated_at: rfc3339(self.generated_at),
            summary: self.summary(),
            checks: self
                .checks
                .iter()
                .map(|c| JsonCheck {
                    name: &c.name,
                    status: word(c.status),
                    message: &c.message,
                    metrics: &c.perf,
                })
                .collect(),
        }
    }

    /// The Monitoring Plugins output: the status line with the performance
    /// data, then a line per check (the plugins' "long output").
    fn render_nagios(&self) -> String {
        let mut perf: Vec<PerfDatum> = self.checks.iter().flat_map(|c| c.perf.clone()).collect();
        let total = Some(self.checks.len() as f64);
        let count = |label: &str, n: usize, warn, crit| PerfDatum {
            label: label.to_string(),
            value: Some(n as f64),
            uom: "",
            warn,
            crit,
            min: Some(0.0),
            max: total,
        };
        let critical = self.failing().filter(|c| c.status == Severity::Critical);
        perf.push(count(
            "failing_checks",
            self.failing().count(),
            Some(0.0),
            None,
        ));
        perf.push(count("critical_checks", critical.count(), None, Some(0.0)));
        let perf: Vec<String> = perf.iter().map(render_perf).collect();
        let mut out = format!(
            "CRONLYTICS {} - {} | {}\n",
            word(self.status()).to_uppercase(),
            plugin_text(&self.summary()),
            perf.join(" ")
        );
        for c in &self.checks {
            let _ = writeln!(
                out,
                "{} {}: {}",
                word(c.status).to_uppercase(),
                c.name,
                plugin_text(&c.message)
            );
        }
        out
    }
}

/// A `|` anywhere in plugin output starts performance data: keep it out of
/// the text.
fn plugin_text(text: &str) -> String {
    text.replace('|', "/").replace('\n', " ")
}

/// `'label'=value[UOM];warn;crit;min;max`, the label always quoted (a
/// quote inside doubled), empty fields kept as empty, trailing ones dropped.
pub(crate) fn render_perf(p: &PerfDatum) -> String {
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let value = match p.value {
        Some(v) => format!("{v}{}", p.uom),
        None => "U".to_string(),
    };
    let mut fields = vec![num(p.warn), num(p.crit), num(p.min), num(p.max)];
    while fields.last().is_some_and(|f| f.is_empty()) {
        fields.pop();
    }
    let mut out = format!("'{}'={value}", p.label.replace('\'', "''"));
    for f in fields {
        out.push(';');
        out.push_str(&f);
    }
    out
}

/// A duration for people: "45 s", "12 min", "5 h 3 min", "3 d 4 h".
pub(crate) fn human_duration(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{m} min"),
        s if s < 2 * 86_400 => match m {
            0 => format!("{} h", s / 3600),
            _ => format!("{} h {m} min", s / 3600),
        },
        _ => match h {
            0 => format!("{d} d"),
            _ => format!("{d} d {h} h"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(value: Option<f64>, warn: Option<f64>, max: Option<f64>) -> PerfDatum {
        PerfDatum {
            label: "it's".to_string(),
            value,
            uom: "s",
            warn,
            crit: None,
            min: Some(0.0),
            max,
        }
    }

    #[test]
    fn perf_data_follows_the_plugin_format() {
        assert_eq!(
            render_perf(&datum(Some(3600.0), Some(10.0), None)),
            "'it''s'=3600s;10;;0"
        );
        assert_eq!(
            render_perf(&datum(None, None, Some(5.5))),
            "'it''s'=U;;;0;5.5"
        );
    }

    #[test]
    fn status_is_the_worst_check() {
        let mut r = Report {
            checks: vec![Check::new("a", Severity::Ok, "fine")],
            generated_at: Utc::now(),
        };
        assert_eq!(r.status(), Severity::Ok);
        r.checks.push(Check::new("b", Severity::Warning, "x | y"));
        assert_eq!(r.status(), Severity::Warning);
        let nagios = r.render(HealthFormat::Nagios);
        assert!(nagios.starts_with("CRONLYTICS WARNING - 1 of 2 checks failing: b | "));
        assert!(nagios.contains("WARNING b: x / y\n"), "{nagios}");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(12 * 60 + 5), "12 min");
        assert_eq!(human_duration(3600), "1 h");
        assert_eq!(human_duration(30 * 3600 + 60), "30 h 1 min");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600), "3 d 4 h");
    }
}
