//! `[[breakdown]]` and `[[goal]]`: what the rollup counts per property
//! value and which events are conversions (contract, "Properties, goals
//! and gauges"). Checked when the config is read: a mistake is exit 2
//! naming the key.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[[breakdown]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BreakdownConfig {
    /// How exports and the snapshot call it.
    pub(crate) name: String,
    /// The key in `props`.
    pub(crate) property: Option<String>,
    /// Numeric props summed per value.
    #[serde(default)]
    pub(crate) sums: Vec<String>,
    /// Values kept per site and day; the rest add up under `(other)`.
    #[serde(default = "default_top")]
    pub(crate) top: i64,
}

fn default_top() -> i64 {
    100
}

/// The largest `top` (values kept per site and day).
pub(crate) const MAX_TOP: i64 = 100_000;

/// A property value a goal asks for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum PropMatch {
    Bool(bool),
    Int(i64),
    Num(f64),
    Text(String),
}

/// `[[goal]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GoalConfig {
    pub(crate) name: String,
    /// A custom event name.
    pub(crate) event: Option<String>,
    /// A pageview path pattern (`*` any run of characters).
    pub(crate) path: Option<String>,
    /// Only events with these property values.
    #[serde(default)]
    pub(crate) props: BTreeMap<String, PropMatch>,
}

/// What a goal matches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GoalTarget<'a> {
    Event(&'a str),
    Path(&'a str),
}

impl GoalConfig {
    /// The event name or path pattern (checked: exactly one is given).
    pub(crate) fn target(&self) -> GoalTarget<'_> {
        match (&self.event, &self.path) {
            (Some(event), _) => GoalTarget::Event(event),
            (None, Some(path)) => GoalTarget::Path(path),
            (None, None) => GoalTarget::Event(""),
        }
    }
}

fn check_name(table: &str, name: &str, seen: &mut Vec<String>) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > 64 || name.chars().any(char::is_control) {
        return Err(format!(
            "[[{table}]] name {name:?}: give a name of 1 to 64 characters (exports and reports use it)"
        ));
    }
    if seen.iter().any(|n| n == name) {
        return Err(format!(
            "[[{table}]] name {name:?} is used twice: give each {table} its own name"
        ));
    }
    seen.push(name.to_string());
    Ok(())
}

fn check_key(what: &str, key: &str) -> Result<(), String> {
    let chars = key.chars().count();
    if chars == 0 || chars > 64 {
        return Err(format!(
            "{what} {key:?} is not a property key (1 to 64 characters, as in the events' props)"
        ));
    }
    Ok(())
}

/// Check every `[[breakdown]]` and `[[goal]]`; one sentence per mistake.
pub(crate) fn check(breakdowns: &[BreakdownConfig], goals: &[GoalConfig]) -> Result<(), String> {
    let mut seen = Vec::new();
    for b in breakdowns {
        check_name("breakdown", &b.name, &mut seen)?;
        let which = format!("[[breakdown]] {:?}", b.name);
        let Some(property) = &b.property else {
            return Err(format!(
                "{which} names no property: add property = \"<key in props>\" to say what to break down by"
            ));
        };
        check_key(&format!("{which}: property"), property)?;
        let mut sums: Vec<&String> = Vec::new();
        for sum in &b.sums {
            check_key(&format!("{which}: sums entry"), sum)?;
            if sums.contains(&sum) {
                return Err(format!("{which}: sums names {sum:?} twice"));
            }
            sums.push(sum);
        }
        if !(1..=MAX_TOP).contains(&b.top) {
            return Err(format!(
                "{which}: top = {} keeps no values; give a number of values from 1 to {MAX_TOP}",
                b.top
            ));
        }
    }
    let mut seen = Vec::new();
    for g in goals {
        check_name("goal", &g.name, &mut seen)?;
        let which = format!("[[goal]] {:?}", g.name);
        match (&g.event, &g.path) {
            (None, None) => {
                return Err(format!(
                    "{which} names nothing to match: give event = \"<custom event name>\" or path = \"/pattern*\""
                ));
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{which} gives both event and path: a goal matches one of them, keep one"
                ));
            }
            (Some(event), None) if event.is_empty() || event.chars().count() > 256 => {
                return Err(format!(
                    "{which}: event must be a custom event name of 1 to 256 characters"
                ));
            }
            (None, Some(path)) if !path.starts_with('/') && !path.starts_with('*') => {
                return Err(format!(
                    "{which}: path {path:?} must start with '/' (or '*'), as pageview paths do"
                ));
            }
            _ => {}
        }
        for (key, value) in &g.props {
            check_key(&format!("{which}: props key"), key)?;
            if let PropMatch::Num(n) = value
                && !n.is_finite()
            {
                return Err(format!("{which}: props.{key} must be a finite number"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(), String> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            breakdown: Vec<BreakdownConfig>,
            #[serde(default)]
            goal: Vec<GoalConfig>,
        }
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        check(&f.breakdown, &f.goal)
    }

    #[test]
    fn mistakes_name_the_key() {
        let cases = [
            ("[[breakdown]]\nname = \"a\"", "names no property"),
            (
                "[[breakdown]]\nname = \"a\"\nproperty = \"p\"\ntop = 0",
                "top = 0",
            ),
            (
                "[[breakdown]]\nname = \"a\"\nproperty = \"p\"\n[[breakdown]]\nname = \"a\"\nproperty = \"q\"",
                "used twice",
            ),
            ("[[goal]]\nname = \"g\"", "names nothing"),
            (
                "[[goal]]\nname = \"g\"\nevent = \"e\"\npath = \"/p\"",
                "both event and path",
            ),
            (
                "[[goal]]\nname = \"g\"\npath = \"p\"",
                "must start with '/'",
            ),
            ("[[goal]]\nname = \"\"\nevent = \"e\"", "1 to 64 characters"),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err();
            assert!(got.contains(want), "{text}: got '{got}', want '{want}'");
        }
        parse("[[goal]]\nname = \"g\"\nevent = \"e\"\nprops = { plan = \"pro\", n = 2, b = true }")
            .unwrap();
    }
}
