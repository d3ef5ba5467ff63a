//! The plain-text part of the mail: the same figures as the page's tiles,
//! the guard's warnings and the parts missing, for clients that show no
//! HTML.

use std::fmt::Write as _;

use super::Page;
use super::data::{METRICS, metric_value};
use super::page::{change, display};

pub(crate) fn render(page: &Page) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", page.heading());
    let _ = writeln!(
        out,
        "{} to {} in {}\n",
        page.period.start, page.period.end, page.tz
    );
    for p in &page.problems {
        let _ = writeln!(out, "! {}", p.message);
    }
    for s in &page.scopes {
        let title = if s.site == "all" {
            "All sites".to_string()
        } else {
            format!("Site {}", s.site)
        };
        let _ = writeln!(out, "\n{title}");
        for (metric, label) in METRICS {
            let now = metric_value(&s.now, metric);
            let vs = |before: Option<f64>, name: &str| match before {
                Some(b) => format!("{} vs {name}", change(now, b).0),
                None => format!("no figures for {name}"),
            };
            let _ = writeln!(
                out,
                "  {label:<16} {:>14}   {}; {}",
                display(&s.now, metric),
                vs(
                    s.previous.map(|p| metric_value(&p, metric)),
                    page.period.previous_name()
                ),
                vs(
                    s.earlier.map(|p| metric_value(&p, metric)),
                    page.period.earlier_name()
                ),
            );
        }
        for g in &s.goals {
            let rate = crate::store::rollups::conversion_rate(g.conversions, g.sessions);
            let _ = writeln!(
                out,
                "  goal {:<11} {:>14}   {:.2}% of sessions",
                g.name,
                crate::util::thousands(g.conversions),
                rate * 100.0
            );
        }
    }
    let flagged: Vec<_> = page
        .flags
        .iter()
        .filter(|f| page.period.contains(f.date))
        .collect();
    let _ = writeln!(out, "\nSampling guard");
    if flagged.is_empty() && page.guard_checked {
        let _ = writeln!(out, "  pass: no check warned or failed");
    }
    for f in flagged {
        let _ = writeln!(
            out,
            "  {} {} {} {}: {}",
            f.date, f.site, f.check, f.status, f.message
        );
    }
    out
}
