//! The HTML page: one file, CSS inline, charts as inline SVG, no script,
//! font or image from anywhere (contract, "Report"). Readable in an email
//! client's narrow column and on a phone (one column below 600 px), dark
//! through `prefers-color-scheme`; every chart has its table behind it.

use chrono::NaiveDate;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Page;
use super::data::{METRICS, Scope, Totals, data_value, metric_value};
use super::svg::{Series, chart};
use crate::util::thousands;

const CSS: &str = r#"
:root{color-scheme:light dark;--bg:#fff;--fg:#1d2330;--muted:#5b6474;--card:#f4f6f9;--line:#d9dee6;--s1:#2563eb;--s2:#d97706;--up:#15803d;--down:#b91c1c;--warn:#b45309;--fail:#b91c1c}
@media (prefers-color-scheme:dark){:root{--bg:#12151b;--fg:#e6e9ef;--muted:#9aa3b2;--card:#1c212b;--line:#2c3340;--s1:#60a5fa;--s2:#fbbf24;--up:#4ade80;--down:#f87171;--warn:#fbbf24;--fail:#f87171}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:960px;margin:0 auto;padding:16px}h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .6em;border-bottom:1px solid var(--line);padding-bottom:.2em}h3{font-size:1em;margin:1em 0 .4em}
.muted{color:var(--muted)}.problem{border-left:4px solid var(--warn);background:var(--card);padding:8px 12px;margin:8px 0}
.tiles{display:grid;grid-template-columns:repeat(3,1fr);gap:10px}.tile{background:var(--card);border-radius:8px;padding:10px 12px}
.tile .label{color:var(--muted);font-size:.85em}.tile .value{font-size:1.5em;font-weight:600;font-variant-numeric:tabular-nums}
.change{font-size:.8em;display:block}.up{color:var(--up)}.down{color:var(--down)}
.charts{display:grid;grid-template-columns:1fr;gap:14px}figure{margin:0;background:var(--card);border-radius:8px;padding:10px}
figcaption{font-size:.9em;margin-bottom:4px}.key{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}
svg.chart{width:100%;height:auto;display:block}.axis{stroke:var(--line)}.line{stroke-width:2}.line.s1{stroke:var(--s1)}.line.s2{stroke:var(--s2)}
.bar.s1{fill:var(--s1)}.bar.s2{fill:var(--s2);opacity:.55}.key.s1{background:var(--s1)}.key.s2{background:var(--s2)}
.flag{fill:var(--fail);stroke:var(--bg);stroke-width:2}.tick{fill:var(--muted);font-size:11px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}th,td{text-align:left;padding:4px 6px;border-bottom:1px solid var(--line);vertical-align:top}
td.n,th.n{text-align:right}.barcell{position:relative}.barcell span{position:absolute;left:0;top:3px;bottom:3px;background:var(--s1);opacity:.18;border-radius:2px}
details{margin-top:6px}summary{cursor:pointer;color:var(--muted);font-size:.85em}.status-warn{color:var(--warn);font-weight:600}.status-fail{color:var(--fail);font-weight:600}.status-pass{color:var(--up);font-weight:600}
.lists{display:grid;grid-template-columns:1fr 1fr;gap:14px}
@media (max-width:600px){.tiles{grid-template-columns:1fr 1fr}.lists{grid-template-columns:1fr}main{padding:10px}}
"#;

/// A number with thousands separators; `decimals` after the point.
pub(crate) fn fmt_number(v: f64, decimals: usize) -> String {
    let negative = v < 0.0;
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let int = thousands(int.parse::<u64>().unwrap_or(0));
    let sign = if negative { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// A gauge's level: whole numbers without decimals.
fn gauge_number(v: f64) -> String {
    if v.fract() == 0.0 {
        fmt_number(v, 0)
    } else {
        fmt_number(v, 2)
    }
}

/// A tile's value for a person.
pub(crate) fn display(t: &Totals, metric: &str) -> String {
    let v = metric_value(t, metric);
    match metric {
        "revenue" => fmt_number(v, 2),
        "conversion_rate" => format!("{:.2}%", v * 100.0),
        _ => fmt_number(v, 0),
    }
}

/// "▲ 12.5%", "▼ 3.0%", "= 0.0%", or "new" against a base of 0: the
/// direction is in the symbol, not only the colour.
pub(crate) fn change(now: f64, before: f64) -> (String, &'static str) {
    if before == 0.0 {
        return if now == 0.0 {
            ("= no change".to_string(), "")
        } else {
            ("▲ new".to_string(), "up")
        };
    }
    let pct = (now - before) / before * 100.0;
    if pct.abs() < 0.05 {
        ("= 0.0%".to_string(), "")
    } else if pct > 0.0 {
        (format!("▲ {:.1}%", pct), "up")
    } else {
        (format!("▼ {:.1}%", -pct), "down")
    }
}

fn change_line(now: f64, before: Option<f64>, against: &str) -> Markup {
    match before {
        Some(b) => {
            let (text, class) = change(now, b);
            html! { span class={"change " (class)} { (text) " vs " (against) } }
        }
        None => html! { span class="change muted" { "no figures for " (against) } },
    }
}

fn tiles(page: &Page, s: &Scope) -> Markup {
    html! {
        div class="tiles" {
            @for (metric, label) in METRICS {
                @let now = metric_value(&s.now, metric);
                div class="tile" data-site=(s.site) data-metric=(metric) data-value=(data_value(&s.now, metric)) {
                    div class="label" { (label) }
                    div class="value" { (display(&s.now, metric)) }
                    (change_line(now, s.previous.map(|p| metric_value(&p, metric)), page.period.previous_name()))
                    (change_line(now, s.earlier.map(|p| metric_value(&p, metric)), page.period.earlier_name()))
                }
            }
        }
    }
}

/// The chart's table, for screen readers and for copying.
fn chart_table(dates: &[NaiveDate], series: &[Series], percent: bool) -> Markup {
    html! {
        details {
            summary { "Table" }
            table {
                thead { tr { th { "Date" } @for s in series { th class="n" { (s.name) } } } }
                tbody {
                    @for (i, d) in dates.iter().enumerate() {
                        tr {
                            td { (d) }
                            @for s in series {
                                td class="n" {
                                    @match s.values[i] {
                                        Some(v) if percent => (format!("{:.2}%", v * 100.0)),
                                        Some(v) if s.name == "Revenue" => (fmt_number(v, 2)),
                                        Some(v) => (fmt_number(v, 0)),
                                        None => "no rollup",
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn figure(
    title: &str,
    dates: &[NaiveDate],
    series: Vec<Series>,
    shared: bool,
    percent: bool,
    flags: &[(usize, String)],
) -> Markup {
    html! {
        figure {
            figcaption {
                strong { (title) }
                @for s in &series { span class={"key " (s.class)} {} (s.name) }
            }
            (chart(title, dates, &series, shared, percent, flags))
            (chart_table(dates, &series, percent))
        }
    }
}

fn charts(page: &Page, s: &Scope) -> Markup {
    let dates: Vec<NaiveDate> = s.series.iter().map(|d| d.0).collect();
    let pick = |f: fn(&Totals) -> f64| {
        s.series
            .iter()
            .map(|(_, t)| t.as_ref().map(f))
            .collect::<Vec<_>>()
    };
    let flags: Vec<(usize, String)> = dates
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let names: Vec<String> = page
                .flags
                .iter()
                .filter(|f| f.date == *d && (s.site == "all" || f.site == s.site))
                .map(|f| format!("{} {} ({})", f.check, f.status, f.site))
                .collect();
            (!names.is_empty()).then(|| (i, names.join("; ")))
        })
        .collect();
    let series = |name: &str, values, class, bars| Series {
        name: name.to_string(),
        values,
        class,
        bars,
    };
    html! {
        div class="charts" {
            (figure("Visitors and pageviews", &dates, vec![
                series("Visitors", pick(|t| t.visitors as f64), "s1", false),
                series("Pageviews", pick(|t| t.pageviews as f64), "s2", false),
            ], true, false, &flags))
            (figure("Revenue and orders", &dates, vec![
                series("Revenue", pick(|t| t.revenue_cents as f64 / 100.0), "s1", false),
                series("Orders", pick(|t| t.orders as f64), "s2", true),
            ], false, false, &flags))
            (figure("Conversion rate", &dates, vec![
                series("Conversion rate", pick(|t| t.conversion_rate()), "s1", false),
            ], true, true, &flags))
        }
    }
}

fn bar_width(count: u64, max: u64) -> String {
    format!(
        "width:{:.1}%",
        if max == 0 {
            0.0
        } else {
            count as f64 / max as f64 * 100.0
        }
    )
}

fn lists(page: &Page, s: &Scope) -> Markup {
    html! {
        @if !s.tops.is_empty() {
            div class="lists" {
                @for (name, lines) in &s.tops {
                    @let max = lines.first().map(|l| l.count).unwrap_or(0);
                    div {
                        h3 { (name) }
                        @if lines.is_empty() { p class="muted" { "None in this period." } } @else {
                            table {
                                thead { tr { th { "Item" } th class="n" { "Count" } th class="n" { "vs " (page.period.previous_name()) } } }
                                tbody { @for l in lines {
                                    tr {
                                        td class="barcell" { span style=(bar_width(l.count, max)) {} (l.item) }
                                        td class="n" { (thousands(l.count)) }
                                        td class="n" { (change(l.count as f64, l.before.unwrap_or(0) as f64).0) }
                                    }
                                } }
                            }
                        }
                    }
                }
            }
        }
        @if !s.goals.is_empty() {
            h3 { "Goals" }
            table {
                thead { tr { th { "Goal" } th class="n" { "Conversions" } th class="n" { "Rate" } th class="n" { "Revenue" } th class="n" { "Rate vs " (page.period.previous_name()) } } }
                tbody { @for g in &s.goals {
                    @let rate = crate::store::rollups::conversion_rate(g.conversions, g.sessions);
                    tr {
                        td { (g.name) }
                        td class="n" { (thousands(g.conversions)) }
                        td class="n" { (format!("{:.2}%", rate * 100.0)) }
                        td class="n" { (fmt_number(g.revenue_cents as f64 / 100.0, 2)) }
                        td class="n" { @match g.before {
                            Some((c, n)) => (change(rate, crate::store::rollups::conversion_rate(c, n)).0),
                            None => "no figures",
                        } }
                    }
                } }
            }
        }
        @if !s.gauges.is_empty() {
            h3 { "Gauges" }
            table {
                thead { tr { th { "Gauge" } th class="n" { "Last" } th class="n" { "Lowest" } th class="n" { "Highest" } th class="n" { "Samples" } th class="n" { "Last vs " (page.period.previous_name()) } } }
                tbody { @for g in &s.gauges {
                    tr {
                        td { (g.name) }
                        td class="n" { (gauge_number(g.last)) }
                        td class="n" { (gauge_number(g.min)) }
                        td class="n" { (gauge_number(g.max)) }
                        td class="n" { (thousands(g.samples)) }
                        td class="n" { @match g.before { Some(b) => (change(g.last, b).0), None => "no figures" } }
                    }
                } }
            }
        }
        @for (name, lines) in &s.breakdowns {
            @if !lines.is_empty() {
                h3 { "By " (name) }
                table {
                    thead { tr { th { "Value" } th class="n" { "Events" } th class="n" { "Pageviews" } th class="n" { "Orders" } th class="n" { "Revenue" } th class="n" { "Events vs " (page.period.previous_name()) } } }
                    tbody { @for l in lines {
                        tr {
                            td { (l.value) }
                            td class="n" { (thousands(l.events)) }
                            td class="n" { (thousands(l.pageviews)) }
                            td class="n" { (thousands(l.orders)) }
                            td class="n" { (fmt_number(l.revenue_cents as f64 / 100.0, 2)) }
                            td class="n" { (change(l.events as f64, l.before.unwrap_or(0) as f64).0) }
                        }
                    } }
                }
            }
        }
    }
}

fn trust(page: &Page) -> Markup {
    let in_period: Vec<_> = page
        .flags
        .iter()
        .filter(|f| page.period.contains(f.date))
        .collect();
    html! {
        h2 id="trust" { "Can these numbers be trusted?" }
        h3 { "Sampling guard" }
        @for p in &page.problems { @if p.part == "guard" { p class="problem" { (p.message) } } }
        @if in_period.is_empty() {
            @if page.guard_checked { p { span class="status-pass" { "pass" } " No check warned or failed." } }
        } @else {
            table {
                thead { tr { th { "Date" } th { "Site" } th { "Check" } th { "Status" } th { "Message" } } }
                tbody { @for f in in_period {
                    tr {
                        td { (f.date) } td { (f.site) } td { (f.check) }
                        td class={"status-" (f.status)} { (f.status) }
                        td { (f.message) }
                    }
                } }
            }
        }
        h3 { "Jobs" }
        table {
            thead { tr { th { "Job" } th { "Last success" } th class="n" { "Failures since" } th { "Newest failure" } } }
            tbody { @for j in &page.jobs {
                tr {
                    td { (j.job) }
                    td { @match j.last_success_ms { Some(ms) => (page.local_time(ms)), None => span class="muted" { "never" } } }
                    td class="n" { (j.failures_since) }
                    td { (j.newest_failure.as_deref().unwrap_or("")) }
                }
            } }
        }
        h3 { "Engagement (snapshot of " (page.period.end) ")" }
        @for p in &page.problems { @if p.part == "snapshot" { p class="problem" { (p.message) } } }
        @if let Some(lines) = &page.snapshot {
            table { tbody { @for (k, v) in lines { tr { td { (k) } td class="n" { (v) } } } } }
        }
    }
}

/// The whole page.
pub(crate) fn render(page: &Page) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { "cronlytics: " (page.period.title()) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { (page.heading()) }
                    p class="muted" {
                        (page.period.start) @if page.period.start != page.period.end { " to " (page.period.end) }
                        " in " (page.tz) ". Made " (page.local_time(page.generated_ms)) "."
                        @if let Some(site) = &page.site { " Site " (site) " only." }
                    }
                    @for p in &page.problems { p class="problem" { (p.message) } }
                    @for s in &page.scopes {
                        section data-scope=(s.site) {
                            h2 { @if s.site == "all" { "All sites" } @else { "Site " (s.site) } }
                            (tiles(page, s))
                            h3 { "The last " (s.series.len()) " days" }
                            (charts(page, s))
                            (lists(page, s))
                        }
                    }
                    (trust(page))
                    p class="muted" { "cronlytics report. Figures of several days add up the daily rollups: visitors and sessions are counted per day." }
                }
            }
        }
    }
    .into_string()
}
