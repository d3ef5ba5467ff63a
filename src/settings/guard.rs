//! The detector's settings: the `[guard]` table of the config file, read
//! key by key so that a bad value is reported with its full key, and
//! checked for contradictions before any work.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Which departures alert: both ways, only drops, or only spikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Both,
    Drop,
    Spike,
}

/// Thresholds of one metric (`[guard.<metric>]` in the config).
///
/// A check warns when its robust score reaches `warn_score` *and* the value
/// is at least `min_change_warn` away from the expected one (relative: 0.2 =
/// 20%); the same for fail. Trend checks use half the minimum changes,
/// because a week's level moves less than a single day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSettings {
    pub(crate) warn_score: f64,
    pub(crate) fail_score: f64,
    pub(crate) min_change_warn: f64,
    pub(crate) min_change_fail: f64,
    pub(crate) direction: Direction,
    /// Absolute lower bound of the day's value (metric units); below it the
    /// range check fails whatever the history says.
    pub(crate) min: Option<f64>,
    /// Absolute upper bound of the day's value (metric units).
    pub(crate) max: Option<f64>,
}

impl Default for MetricSettings {
    /// Tuned on `examples/bench_guard/` (synthetic sites of 300 to 30,000
    /// sessions a day, seeds 1-5): 0.3-0.6 false warns and at most 0.05 false
    /// fails per 100 clean site-days, while 85-89% of ×0.6 dips, 94-99% of
    /// 14-day ×0.7 shifts and all outages, ×0.35 dips and ×2.5 spikes alert.
    fn default() -> Self {
        MetricSettings {
            warn_score: 3.5,
            fail_score: 5.5,
            min_change_warn: 0.2,
            min_change_fail: 0.35,
            direction: Direction::Both,
            min: None,
            max: None,
        }
    }
}

/// The detector's settings (`[guard]` in the config).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardSettings {
    #[serde(deserialize_with = "revenue_table")]
    pub(crate) revenue: MetricSettings,
    #[serde(deserialize_with = "conversion_rate_table")]
    pub(crate) conversion_rate: MetricSettings,
    #[serde(deserialize_with = "sessions_table")]
    pub(crate) sessions: MetricSettings,
    /// Days left out of every baseline (they are still checked themselves).
    /// `YYYY-MM-DD` strings, or TOML date literals.
    #[serde(deserialize_with = "deserialize_holidays")]
    pub(crate) holidays: Vec<NaiveDate>,
    /// `[guard.goal.<name>]`: a `[[goal]]`'s conversion rate checked like
    /// the site's (off unless the table is there).
    #[serde(deserialize_with = "goal_tables")]
    pub(crate) goal: BTreeMap<String, MetricSettings>,
}

impl GuardSettings {
    /// Rejects contradictory or meaningless settings, naming the key as
    /// `guard.<metric>.<field>`.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.revenue.validate("revenue", None)?;
        self.conversion_rate
            .validate("conversion_rate", Some(1.0))?;
        self.sessions.validate("sessions", None)?;
        for (name, settings) in &self.goal {
            settings.validate(&format!("goal.{name}"), Some(1.0))?;
        }
        Ok(())
    }
}

impl MetricSettings {
    fn validate(&self, metric: &str, upper_limit: Option<f64>) -> Result<(), String> {
        let key = |field: &str| format!("guard.{metric}.{field}");
        for (field, value) in [
            ("warn_score", self.warn_score),
            ("fail_score", self.fail_score),
            ("min_change_warn", self.min_change_warn),
            ("min_change_fail", self.min_change_fail),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(format!(
                    "{} must be a number of at least 0, got {value}",
                    key(field)
                ));
            }
        }
        if self.warn_score <= 0.0 {
            return Err(format!("{} must be greater than 0", key("warn_score")));
        }
        if self.fail_score <= self.warn_score {
            return Err(format!(
                "{} must be greater than warn_score ({} <= {})",
                key("fail_score"),
                self.fail_score,
                self.warn_score
            ));
        }
        if self.min_change_fail < self.min_change_warn {
            return Err(format!(
                "{} must be at least min_change_warn ({} < {})",
                key("min_change_fail"),
                self.min_change_fail,
                self.min_change_warn
            ));
        }
        for (field, bound) in [("min", self.min), ("max", self.max)] {
            let Some(bound) = bound else { continue };
            if !bound.is_finite() || bound < 0.0 {
                return Err(format!(
                    "{} must be a number of at least 0, got {bound}",
                    key(field)
                ));
            }
            if let Some(limit) = upper_limit
                && bound > limit
            {
                return Err(format!(
                    "{} must be at most {limit} (a fraction), got {bound}",
                    key(field)
                ));
            }
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err(format!(
                "{} must not be greater than max ({min} > {max})",
                key("min")
            ));
        }
        Ok(())
    }
}

/// The keys of a `[guard.<metric>]` table.
const METRIC_KEYS: &[&str] = &[
    "warn_score",
    "fail_score",
    "min_change_warn",
    "min_change_fail",
    "direction",
    "min",
    "max",
];

/// Reads a `[guard.<metric>]` table key by key, so that every error names
/// its full key (`guard.sessions.warn_score: invalid type: ...`): the
/// config loader shows serde's message without a TOML line, and a derived
/// reader would name only the expected type.
struct MetricTable {
    /// `guard.<metric>`: the table's own key.
    table: String,
}

impl<'de> Visitor<'de> for MetricTable {
    type Value = MetricSettings;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a table [{}] of thresholds", self.table)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetricSettings, A::Error> {
        let mut settings = MetricSettings::default();
        while let Some(key) = map.next_key::<String>()? {
            let named = |e: A::Error| de::Error::custom(format!("{}.{key}: {e}", self.table));
            match key.as_str() {
                "warn_score" => settings.warn_score = map.next_value().map_err(named)?,
                "fail_score" => settings.fail_score = map.next_value().map_err(named)?,
                "min_change_warn" => settings.min_change_warn = map.next_value().map_err(named)?,
                "min_change_fail" => settings.min_change_fail = map.next_value().map_err(named)?,
                "direction" => settings.direction = map.next_value().map_err(named)?,
                "min" => settings.min = Some(map.next_value().map_err(named)?),
                "max" => settings.max = Some(map.next_value().map_err(named)?),
                _ => {
                    let unknown: A::Error = de::Error::unknown_field(&key, METRIC_KEYS);
                    return Err(de::Error::custom(format!("{}: {unknown}", self.table)));
                }
            }
        }
        Ok(settings)
    }
}

impl<'de> Deserialize<'de> for MetricSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MetricTable {
            table: "guard.<metric>".to_string(),
        })
    }
}

/// `[guard.revenue]`; the two below likewise: each table names itself in
/// its errors.
fn revenue_table<'de, D: Deserializer<'de>>(d: D) -> Result<MetricSettings, D::Error> {
    d.deserialize_map(MetricTable {
        table: "guard.revenue".to_string(),
    })
}

fn conversion_rate_table<'de, D: Deserializer<'de>>(d: D) -> Result<MetricSettings, D::Error> {
    d.deserialize_map(MetricTable {
        table: "guard.conversion_rate".to_string(),
    })
}

fn sessions_table<'de, D: Deserializer<'de>>(d: D) -> Result<MetricSettings, D::Error> {
    d.deserialize_map(MetricTable {
        table: "guard.sessions".to_string(),
    })
}

/// `[guard.goal.<name>]` tables: each a metric table named in its errors.
fn goal_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, MetricSettings>, D::Error> {
    struct Goals;
    struct GoalTable(String);

    impl<'de> de::DeserializeSeed<'de> for GoalTable {
        type Value = MetricSettings;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<MetricSettings, D::Error> {
            d.deserialize_map(MetricTable {
                table: format!("guard.goal.{}", self.0),
            })
        }
    }

    impl<'de> Visitor<'de> for Goals {
        type Value = BTreeMap<String, MetricSettings>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("tables [guard.goal.<name>] of thresholds")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut goals = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                let settings = map.next_value_seed(GoalTable(name.clone()))?;
                goals.insert(name, settings);
            }
            Ok(goals)
        }
    }

    d.deserialize_map(Goals)
}

/// Holidays come as `YYYY-MM-DD` strings or as TOML date literals (which the
/// toml crate hands over as a one-entry map), without chrono's serde feature.
fn deserialize_holidays<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
    struct Holiday(NaiveDate);

    impl<'de> Deserialize<'de> for Holiday {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(HolidayVisitor)
        }
    }

    struct HolidayVisitor;

    impl<'de> Visitor<'de> for HolidayVisitor {
        type Value = Holiday;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a date as YYYY-MM-DD")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Holiday, E> {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Holiday)
                .map_err(|_| E::custom(format!("{s:?} is not a date as YYYY-MM-DD")))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Holiday, A::Error> {
            match map.next_entry::<String, String>()? {
                Some((_, value)) => self.visit_str(&value),
                None => Err(de::Error::custom("expected a date as YYYY-MM-DD")),
            }
        }
    }

    let days = Vec::<Holiday>::deserialize(d)
        .map_err(|e| de::Error::custom(format!("guard.holidays: {e}")))?;
    Ok(days.into_iter().map(|h| h.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key() {
        assert_eq!(GuardSettings::default().validate(), Ok(()));
        let mut settings = GuardSettings::default();
        settings.sessions.fail_score = 3.0;
        settings.sessions.warn_score = 4.0;
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.sessions.fail_score must be greater than warn_score"),
            "{message}"
        );

        let mut settings = GuardSettings::default();
        settings.revenue.min = Some(10.0);
        settings.revenue.max = Some(5.0);
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.revenue.min must not be greater than max"),
            "{message}"
        );

        let mut settings = GuardSettings::default();
        settings.conversion_rate.min_change_warn = -0.1;
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.conversion_rate.min_change_warn"),
            "{message}"
        );

        let mut settings = GuardSettings::default();
        settings.conversion_rate.max = Some(2.0);
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.conversion_rate.max must be at most 1"),
            "{message}"
        );

        let mut settings = GuardSettings::default();
        settings.revenue.min_change_fail = 0.1;
        let message = settings.validate().unwrap_err();
        assert!(
            message.starts_with("guard.revenue.min_change_fail must be at least"),
            "{message}"
        );
    }

    #[test]
    fn holidays_deserialise_from_strings_and_toml_dates() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, MapDeserializer, SeqDeserializer};

        let strings: SeqDeserializer<_, Error> =
            vec!["2026-12-25", "2026-12-26"].into_deserializer();
        assert_eq!(
            deserialize_holidays(strings).unwrap(),
            [
                NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 26).unwrap()
            ]
        );
        let bad: SeqDeserializer<_, Error> = vec!["25.12.2026"].into_deserializer();
        let message = deserialize_holidays(bad).unwrap_err().to_string();
        assert!(message.contains("guard.holidays"), "{message}");

        // The toml crate hands a date literal over as a one-entry map.
        let literal = MapDeserializer::<_, Error>::new(
            [("$__toml_private_datetime", "2026-01-01")].into_iter(),
        );
        let literals: SeqDeserializer<_, Error> = SeqDeserializer::new([literal].into_iter());
        assert_eq!(
            deserialize_holidays(literals).unwrap(),
            [NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()]
        );
    }

    #[test]
    fn a_bad_value_is_reported_with_its_full_key() {
        let message = |toml_text: &str| match toml::from_str::<GuardSettings>(toml_text) {
            Ok(settings) => panic!("{toml_text:?} was accepted: {settings:?}"),
            Err(e) => e.message().to_string(),
        };
        let text = message("[sessions]\nwarn_score = \"high\"\n");
        assert!(
            text.starts_with("guard.sessions.warn_score: invalid type: string \"high\""),
            "{text}"
        );
        let text = message("[conversion_rate]\ndirection = \"up\"\n");
        assert!(
            text.starts_with("guard.conversion_rate.direction: unknown variant `up`"),
            "{text}"
        );
        let text = message("[revenue]\nwarn = 3.0\n");
        assert!(
            text.starts_with("guard.revenue: unknown field `warn`, expected one of `warn_score`"),
            "{text}"
        );
        let text = message("holidays = \"2026-12-25\"\n");
        assert!(text.starts_with("guard.holidays: invalid type"), "{text}");
    }

    #[test]
    fn every_key_reads_and_the_rest_keep_their_defaults() {
        let settings: GuardSettings = toml::from_str(
            "holidays = [\"2026-12-25\", 2026-12-26]\n\
             [sessions]\nwarn_score = 4\nfail_score = 6.5\nmin_change_warn = 0.25\n\
             min_change_fail = 0.5\ndirection = \"drop\"\nmin = 100\nmax = 5000.5\n",
        )
        .unwrap();
        assert_eq!(
            settings.sessions,
            MetricSettings {
                warn_score: 4.0,
                fail_score: 6.5,
                min_change_warn: 0.25,
                min_change_fail: 0.5,
                direction: Direction::Drop,
                min: Some(100.0),
                max: Some(5000.5),
            }
        );
        assert_eq!(settings.revenue, MetricSettings::default());
        assert_eq!(settings.holidays.len(), 2);
        assert_eq!(settings.validate(), Ok(()));
    }
}
