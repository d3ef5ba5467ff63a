//! `[guard.goal.<name>]`: a goal's conversion rate checked like the site's
//! (range and trend, the detector's conversion model), each site's goal
//! rows its history. Off unless the table is in the config; its checks are
//! named `Goal Conversion Rate Range` and `... Trend` and carry the goal.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::NaiveDate;
use rusqlite::Connection;

use super::detect::{self, DailyPoint, GuardSettings, Status};
use super::{ProofCheck, proof_check};
use crate::job::usage;
use crate::settings::props::GoalConfig;
use crate::store::custom::rows::load_goals;
use crate::store::rollups::DailyRollup;

/// Each (site, goal) checked: its rows by date.
pub(super) struct GoalHistories {
    rows: BTreeMap<(String, String), Vec<DailyPoint>>,
}

impl GoalHistories {
    /// Check the config (every `[guard.goal.<name>]` names a `[[goal]]`)
    /// and load the goals' rows of `[from, end]`.
    pub(super) fn load(
        conn: &Connection,
        settings: &GuardSettings,
        goals: &[GoalConfig],
        (from, end): (NaiveDate, NaiveDate),
        site: Option<i64>,
    ) -> Result<GoalHistories> {
        for name in settings.goal.keys() {
            if !goals.iter().any(|g| &g.name == name) {
                let names: Vec<String> = goals.iter().map(|g| format!("{:?}", g.name)).collect();
                let have = if names.is_empty() {
                    "the config has no [[goal]]".to_string()
                } else {
                    format!("the configured goals are {}", names.join(", "))
                };
                return Err(usage(format!(
                    "the config file is not valid: [guard.goal.{name}] names no [[goal]]; {have}"
                )));
            }
        }
        let mut rows: BTreeMap<(String, String), Vec<DailyPoint>> = BTreeMap::new();
        if !settings.goal.is_empty() {
            for r in load_goals(conn, from, end, site)? {
                if settings.goal.contains_key(&r.row.goal) {
                    rows.entry((r.site, r.row.goal))
                        .or_default()
                        .push(DailyPoint {
                            date: r.date,
                            sessions: r.row.sessions,
                            converting_sessions: r.row.conversions,
                            revenue: r.row.revenue_cents as f64 / 100.0,
                        });
                }
            }
        }
        Ok(GoalHistories { rows })
    }

    /// The goal checks of `site` on `day`; `site_rows` are its daily rows
    /// (only days that were complete when rolled up make a baseline).
    pub(super) fn checks(
        &self,
        settings: &GuardSettings,
        site: &str,
        site_rows: &[DailyRollup],
        day: NaiveDate,
    ) -> Vec<ProofCheck> {
        let complete = |date: NaiveDate| {
            site_rows
                .binary_search_by_key(&date, |r| r.date)
                .is_ok_and(|i| site_rows[i].complete)
        };
        let mut out = Vec::new();
        for (goal, thresholds) in &settings.goal {
            let Some(points) = self.rows.get(&(site.to_string(), goal.clone())) else {
                continue;
            };
            let split = points.partition_point(|p| p.date < day);
            let Some(today) = points.get(split).filter(|p| p.date == day) else {
                continue;
            };
            let history: Vec<DailyPoint> = points[..split]
                .iter()
                .filter(|p| complete(p.date))
                .copied()
                .collect();
            for mut r in detect::check_goal_conversion(&history, today, settings, thresholds) {
                if !complete(day) {
                    r.status = Status::Skipped;
                    r.message = format!(
                        "{day} had not ended when it was rolled up: check it once aggregate has rolled up the whole day"
                    );
                }
                let mut check = proof_check(site, r);
                check.name = format!("Goal {}", check.name);
                // The detector counts converting sessions as orders.
                let message = check.message.replace(" orders from ", " conversions from ");
                check.message = format!("goal {goal}: {message}");
                check.goal = Some(goal.clone());
                out.push(check);
            }
        }
        out
    }
}
