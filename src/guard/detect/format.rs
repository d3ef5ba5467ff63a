//! Numbers as people read them in a check's message: "1,180", "1,234.50",
//! "2.95%", "-65%", and the names of metrics and checks.

use super::band::Band;
use super::{CheckKind, Metric};

impl Metric {
    pub(super) fn label(self) -> &'static str {
        match self {
            Metric::Revenue => "revenue",
            Metric::ConversionRate => "conversion rate",
            Metric::Sessions => "sessions",
        }
    }

    pub(super) fn check_name(self, kind: CheckKind) -> &'static str {
        match (self, kind) {
            (Metric::Revenue, CheckKind::Range) => "Revenue Range",
            (Metric::Revenue, CheckKind::Trend) => "Revenue Trend",
            (Metric::ConversionRate, CheckKind::Range) => "Conversion Rate Range",
            (Metric::ConversionRate, CheckKind::Trend) => "Conversion Rate Trend",
            (Metric::Sessions, CheckKind::Range) => "Sessions Range",
            (Metric::Sessions, CheckKind::Trend) => "Sessions Trend",
        }
    }

    /// The value as a person reads it: "1,180", "1,234.50", "2.95%".
    pub(super) fn format(self, value: f64) -> String {
        match self {
            Metric::Revenue => fmt_revenue(value),
            Metric::ConversionRate => format!("{:.2}%", value * 100.0),
            Metric::Sessions => fmt_thousands(value, 0),
        }
    }
}

pub(super) fn fmt_revenue(value: f64) -> String {
    fmt_thousands(value, 2)
}

/// `1234567.891` with 2 decimals → "1,234,567.89".
pub(super) fn fmt_thousands(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::with_capacity(text.len() + int.len() / 3 + 1);
    if value < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

pub(super) fn fmt_band(metric: Metric, band: &Band) -> String {
    let high = band
        .high_for_display()
        .map_or_else(|| "∞".to_string(), |h| metric.format(h));
    format!("{}..{high}", metric.format(band.warn_low))
}

/// "+5%", "-65%"; "n/a" without an expected value.
pub(super) fn fmt_change(change: Option<f64>) -> String {
    match change {
        None => "n/a".to_string(),
        Some(c) if !c.is_finite() => "n/a".to_string(),
        Some(c) => {
            let percent = (c * 100.0).round();
            if percent == 0.0 {
                "+0%".to_string()
            } else {
                format!("{percent:+.0}%")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_a_person_writes_them() {
        assert_eq!(fmt_thousands(412.0, 0), "412");
        assert_eq!(fmt_thousands(1180.4, 0), "1,180");
        assert_eq!(fmt_thousands(1234567.891, 2), "1,234,567.89");
        assert_eq!(fmt_thousands(-1234.5, 2), "-1,234.50");
        assert_eq!(fmt_thousands(-0.001, 2), "0.00");
        assert_eq!(Metric::ConversionRate.format(0.0121), "1.21%");
        assert_eq!(fmt_change(Some(-0.65)), "-65%");
        assert_eq!(fmt_change(Some(0.051)), "+5%");
        assert_eq!(fmt_change(Some(-0.001)), "+0%");
        assert_eq!(fmt_change(None), "n/a");
    }
}
