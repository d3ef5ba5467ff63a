//! `[logs]` and `[[logs.goal]]`: how ingest reads web-server access logs.

use serde::Deserialize;

/// `[logs]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogsConfig {
    /// The site of every request of a format without a host field.
    pub(crate) site: Option<String>,
    /// The request header (or log field) holding the client address behind
    /// a proxy or CDN, e.g. `X-Forwarded-For`.
    pub(crate) forwarded_for: Option<String>,
    /// Requests counted as custom events or orders.
    pub(crate) goal: Vec<LogGoal>,
}

/// What a goal turns its requests into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum GoalKind {
    Event,
    Order,
}

/// `[[logs.goal]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogGoal {
    /// The request path (query string out), `*` matching any run of
    /// characters.
    pub(crate) path: String,
    pub(crate) kind: GoalKind,
    /// The custom event's name (`kind = "event"`).
    pub(crate) name: Option<String>,
    /// The query parameter holding an order's revenue in currency units.
    pub(crate) revenue_param: Option<String>,
}

impl LogsConfig {
    /// Each goal names a path and what it is; one sentence per mistake.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (i, goal) in self.goal.iter().enumerate() {
            let which = format!("[[logs.goal]] number {} (path {:?})", i + 1, goal.path);
            if !goal.path.starts_with('/') && !goal.path.starts_with('*') {
                return Err(format!(
                    "{which}: path must start with '/' (or '*'), as request paths do"
                ));
            }
            match goal.kind {
                GoalKind::Event => {
                    let name = goal.name.as_deref().unwrap_or("").trim();
                    if name.is_empty() || name.len() > 256 {
                        return Err(format!(
                            "{which}: kind = \"event\" needs name = \"...\" (1 to 256 characters), the custom event's name"
                        ));
                    }
                    if goal.revenue_param.is_some() {
                        return Err(format!(
                            "{which}: revenue_param is for kind = \"order\"; remove it or make the goal an order"
                        ));
                    }
                }
                GoalKind::Order => {
                    if goal.name.is_some() {
                        return Err(format!(
                            "{which}: an order has no name; remove name or make the goal kind = \"event\""
                        ));
                    }
                }
            }
        }
        if let Some(site) = &self.site
            && !crate::store::encoding::is_site_name(site)
        {
            return Err(format!(
                "[logs] site {site:?} is not a site name (1 to 64 of A-Z a-z 0-9 . _ -)"
            ));
        }
        Ok(())
    }
}
