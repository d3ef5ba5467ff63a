//! Charts as inline SVG, built here: a few lines and bars over days need
//! about a hundred lines of our own, where plotters would bring its
//! backends, a font stack and a drawing model for what is one polyline per
//! series. Colours come from CSS classes, so dark mode restyles them; each
//! flagged day is a marked point whose `<title>` names the checks (shown on
//! hover).

use chrono::NaiveDate;
use maud::{Markup, html};

/// One series of a chart.
pub(crate) struct Series {
    pub(crate) name: String,
    /// One value per day; `None` where the day was not rolled up (a gap).
    pub(crate) values: Vec<Option<f64>>,
    /// The CSS class that colours it (`s1`, `s2`).
    pub(crate) class: &'static str,
    /// Bars instead of a line.
    pub(crate) bars: bool,
}

const W: f64 = 640.0;
const H: f64 = 180.0;
const LEFT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

fn max_of(s: &Series) -> f64 {
    s.values.iter().flatten().fold(0.0_f64, |m, v| m.max(*v))
}

/// A chart of `series` over `dates`; `shared` puts every series on one
/// scale (same unit), else each has its own. `flags` are (day index,
/// what the guard said) marked on the first series.
pub(crate) fn chart(
    label: &str,
    dates: &[NaiveDate],
    series: &[Series],
    shared: bool,
    percent: bool,
    flags: &[(usize, String)],
) -> Markup {
    let n = dates.len().max(1);
    let step = (W - 2.0 * LEFT) / n as f64;
    let x = |i: usize| LEFT + step * (i as f64 + 0.5);
    let plot_h = H - TOP - BOTTOM;
    let shared_max = series.iter().map(max_of).fold(0.0_f64, f64::max);
    let scale = |s: &Series| {
        let max = if shared { shared_max } else { max_of(s) };
        if max > 0.0 { plot_h / max } else { 0.0 }
    };
    let y = |v: f64, k: f64| TOP + plot_h - v * k;
    html! {
        svg class="chart" viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(label) {
            line class="axis" x1=(LEFT) y1=(TOP + plot_h) x2=(W - LEFT) y2=(TOP + plot_h) {}
            @for s in series {
                @let k = scale(s);
                @if s.bars {
                    @for (i, v) in s.values.iter().enumerate() {
                        @if let Some(v) = v {
                            rect class={"bar " (s.class)} x=(format!("{:.1}", x(i) - step * 0.3))
                                y=(format!("{:.1}", y(*v, k))) width=(format!("{:.1}", step * 0.6))
                                height=(format!("{:.1}", (v * k).max(0.0))) {
                                title { (dates[i]) ": " (s.name) " " (number(*v)) }
                            }
                        }
                    }
                } @else {
                    @for run in runs(&s.values) {
                        polyline class={"line " (s.class)} fill="none" points=(
                            run.iter()
                                .map(|&(i, v)| format!("{:.1},{:.1}", x(i), y(v, k)))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ) {}
                    }
                }
            }
            @if let Some(first) = series.first() {
                @let k = scale(first);
                @for (i, what) in flags {
                    @if let Some(Some(v)) = first.values.get(*i) {
                        circle class="flag" cx=(format!("{:.1}", x(*i))) cy=(format!("{:.1}", y(*v, k))) r="5" {
                            title { (dates[*i]) ": " (what) }
                        }
                    }
                }
            }
            @if shared && shared_max > 0.0 {
                text class="tick" x=(LEFT) y=(TOP + 2.0) {
                    "max " @if percent { (format!("{:.2}%", shared_max * 100.0)) } @else { (number(shared_max)) }
                }
            }
            @if let (Some(first), Some(last)) = (dates.first(), dates.last()) {
                text class="tick" x=(LEFT) y=(H - 6.0) { (first.format("%-d %b")) }
                text class="tick" x=(W - LEFT) y=(H - 6.0) text-anchor="end" { (last.format("%-d %b")) }
            }
        }
    }
}

/// The unbroken runs of a series (a missing day breaks the line).
fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => current.push((i, *v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A number for a tooltip: integers without decimals, others with two.
fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_break_the_line_and_flags_are_named() {
        assert_eq!(
            runs(&[Some(1.0), None, Some(2.0), Some(3.0)]),
            vec![vec![(0, 1.0)], vec![(2, 2.0), (3, 3.0)]]
        );
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let svg = chart(
            "Visitors",
            &[d("2026-11-20"), d("2026-11-21")],
            &[Series {
                name: "Visitors".into(),
                values: vec![Some(10.0), Some(20.0)],
                class: "s1",
                bars: false,
            }],
            true,
            false,
            &[(1, "Sessions Range fail".into())],
        )
        .into_string();
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(
            svg.contains("<title>2026-11-21: Sessions Range fail</title>"),
            "{svg}"
        );
        assert!(!svg.contains("script"));
    }
}
