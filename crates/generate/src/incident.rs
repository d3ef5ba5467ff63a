//! Planted incidents: `DATE:KIND[:FACTOR][@SITE]`, parsed and printed back.

use super::*;

/// A planted anomaly: something unusual that happens on one local day.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The site it hits; `None` hits every site.
    pub site: Option<String>,
    /// The local calendar date (in `GenerateOptions::tz`) it happens on.
    pub date: NaiveDate,
    /// What happens.
    pub kind: IncidentKind,
}

/// What an [`Incident`] does to its day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IncidentKind {
    /// No events at all that day (tracking was down).
    Outage,
    /// Sessions are multiplied by the factor: 0.35 is a dip, 2.5 a spike.
    Traffic(f64),
    /// No orders that day: sessions that would have bought stop at checkout.
    CheckoutBreak,
    /// Extra bot sessions, the factor times the day's normal sessions: one
    /// pageview each, no referrer, never an order.
    BotFlood(f64),
}

/// Why an incident spec did not parse; the message is one sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIncidentError(String);

impl fmt::Display for ParseIncidentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseIncidentError {}

const INCIDENT_FORMS: &str = "expected DATE:KIND[:FACTOR][@SITE] with DATE as YYYY-MM-DD and \
     KIND one of outage, traffic:FACTOR, checkout-break, bot-flood:FACTOR \
     (e.g. 2026-11-10:traffic:0.35@shop)";

impl FromStr for Incident {
    type Err = ParseIncidentError;

    /// Parses `DATE:KIND[:FACTOR][@SITE]`, e.g. `2026-11-10:outage`,
    /// `2026-11-10:traffic:0.35@shop`, `2026-11-12:checkout-break`,
    /// `2026-11-14:bot-flood:3`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |what: String| {
            ParseIncidentError(format!(
                "invalid incident \"{spec}\": {what}; {INCIDENT_FORMS}"
            ))
        };
        let (body, site) = match spec.split_once('@') {
            Some((body, site)) => {
                if !cronlytics::store::encoding::is_site_name(site) {
                    return Err(bad(format!(
                        "site \"{site}\" must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
                    )));
                }
                (body, Some(site.to_string()))
            }
            None => (spec, None),
        };
        let mut parts = body.split(':');
        let date_part = parts.next().unwrap_or_default();
        let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
            .map_err(|_| bad(format!("\"{date_part}\" is not a date")))?;
        let kind_part = parts
            .next()
            .ok_or_else(|| bad("the kind is missing".to_string()))?;
        let factor_part = parts.next();
        if let Some(extra) = parts.next() {
            return Err(bad(format!("\"{extra}\" is one part too many")));
        }
        let factor = |name: &str| -> Result<f64, ParseIncidentError> {
            let text = factor_part.ok_or_else(|| bad(format!("{name} needs a factor")))?;
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 => Ok(f),
                _ => Err(bad(format!("factor \"{text}\" is not a number >= 0"))),
            }
        };
        let no_factor = |name: &str| match factor_part {
            Some(text) => Err(bad(format!(
                "{name} takes no factor, but \"{text}\" was given"
            ))),
            None => Ok(()),
        };
        let kind = match kind_part {
            "outage" => no_factor("outage").map(|_| IncidentKind::Outage)?,
            "checkout-break" => no_factor("checkout-break").map(|_| IncidentKind::CheckoutBreak)?,
            "traffic" => IncidentKind::Traffic(factor("traffic")?),
            "bot-flood" => IncidentKind::BotFlood(factor("bot-flood")?),
            other => return Err(bad(format!("kind \"{other}\" is unknown"))),
        };
        Ok(Incident { site, date, kind })
    }
}

impl fmt::Display for Incident {
    /// The same `DATE:KIND[:FACTOR][@SITE]` form that `from_str` reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.date.format("%Y-%m-%d"))?;
        match self.kind {
            IncidentKind::Outage => f.write_str("outage")?,
            IncidentKind::Traffic(x) => write!(f, "traffic:{x}")?,
            IncidentKind::CheckoutBreak => f.write_str("checkout-break")?,
            IncidentKind::BotFlood(x) => write!(f, "bot-flood:{x}")?,
        }
        match &self.site {
            Some(site) => write!(f, "@{site}"),
            None => Ok(()),
        }
    }
}
