//! `[[logs.goal]]`: requests whose path matches a pattern become custom
//! events or orders instead of pageviews.

use crate::settings::logs::{GoalKind, LogGoal};
use crate::util::glob_match;

/// What a matching request becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GoalHit<'g> {
    Event(&'g str),
    /// An order with its revenue in cents (0 without a revenue parameter).
    Order(i64),
}

/// The configured goals, first match wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct Goals {
    goals: Vec<LogGoal>,
}

impl Goals {
    pub(crate) fn new(goals: &[LogGoal]) -> Goals {
        Goals {
            goals: goals.to_vec(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.goals.is_empty()
    }

    /// The goal `path` (without its query) matches, with an order's
    /// revenue from `query`; an amount that is not one is an error naming
    /// the parameter.
    pub(crate) fn hit(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<Option<GoalHit<'_>>, String> {
        let Some(goal) = self.goals.iter().find(|g| glob_match(&g.path, path)) else {
            return Ok(None);
        };
        Ok(Some(match goal.kind {
            GoalKind::Event => GoalHit::Event(goal.name.as_deref().unwrap_or("")),
            GoalKind::Order => {
                let value = goal
                    .revenue_param
                    .as_deref()
                    .and_then(|param| query_param(query.unwrap_or(""), param));
                match value {
                    None => GoalHit::Order(0),
                    Some(text) => GoalHit::Order(amount_cents(&text).ok_or_else(|| {
                        format!(
                            "query parameter {}: {text:?} is not an amount (like 49.90) for the order of goal {:?}",
                            goal.revenue_param.as_deref().unwrap_or(""),
                            goal.path
                        )
                    })?),
                }
            }
        }))
    }
}

/// The first value of `name` in a query string, percent-decoded (`+` is a
/// space).
pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = crate::util::hex_digit;
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi * 16 + lo);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// "49.90", "49.9", "49", "1,234.50" as cents; a third decimal rounds.
fn amount_cents(text: &str) -> Option<i64> {
    let cleaned: String = text.trim().chars().filter(|c| *c != ',').collect();
    let (whole, frac) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let units: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut digits = frac.bytes().map(|b| i64::from(b - b'0'));
    let tenths = digits.next().unwrap_or(0);
    let hundredths = digits.next().unwrap_or(0);
    let round = i64::from(digits.next().unwrap_or(0) >= 5);
    units
        .checked_mul(100)?
        .checked_add(tenths * 10 + hundredths + round)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("/checkout/thank-you*", "/checkout/thank-you"));
        assert!(glob_match(
            "/checkout/thank-you*",
            "/checkout/thank-you/123"
        ));
        assert!(!glob_match("/checkout/thank-you*", "/checkout/thank"));
        assert!(glob_match("/a/*/done", "/a/x/y/done"));
        assert!(!glob_match("/a/*/done", "/a/done"));
        assert!(glob_match("*", "/anything"));
        assert!(glob_match("/exact", "/exact"));
        assert!(!glob_match("/exact", "/exact/more"));
        assert!(glob_match("*.pdf", "/files/report.pdf"));
    }

    #[test]
    fn amounts_and_parameters() {
        assert_eq!(amount_cents("49.90"), Some(4990));
        assert_eq!(amount_cents("49.9"), Some(4990));
        assert_eq!(amount_cents("49"), Some(4900));
        assert_eq!(amount_cents("1,234.505"), Some(123451));
        assert_eq!(amount_cents("abc"), None);
        assert_eq!(amount_cents("-5"), None);
        assert_eq!(
            query_param("order=7&total=12.5", "total").as_deref(),
            Some("12.5")
        );
        assert_eq!(query_param("a%20b=c+d", "a b").as_deref(), Some("c d"));
        assert_eq!(query_param("x=1", "total"), None);
        let goals = Goals::new(&[LogGoal {
            path: "/thanks*".into(),
            kind: GoalKind::Order,
            name: None,
            revenue_param: Some("total".into()),
        }]);
        assert_eq!(
            goals.hit("/thanks", Some("total=10.05")),
            Ok(Some(GoalHit::Order(1005)))
        );
        assert_eq!(goals.hit("/thanks", None), Ok(Some(GoalHit::Order(0))));
        assert!(goals.hit("/thanks", Some("total=ten")).is_err());
        assert_eq!(goals.hit("/other", None), Ok(None));
    }
}
