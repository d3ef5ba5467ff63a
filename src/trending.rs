//! `trending`: time-decayed scores (0..1000) for the pages and custom event
//! names of each site, stored as the current scores and written as
//! `trending/YYYY-MM-DDTHH.json`.
//!
//! Over the events of the window `(now - window, now]`, an item's raw score
//! is `s = Σ weight(kind) · 2^(-age_hours / half_life_hours)`: an event
//! counts fully now and half as much one half-life later, so what happens
//! now outweighs a larger but older burst. The published score is
//! `1000 · s / (s + saturation)`: it grows with `s` alone, never relative
//! to the other items, so the top item is not always 1000 and an item quiet
//! everywhere stays low; `s = saturation` gives 500. README.md has a worked
//! example that a test checks to the digit.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::artifacts::write_json;
use crate::job::{JobContext, JobOutcome, usage};
use crate::store::events;
use crate::store::trending as scores_table;
use crate::time::rfc3339;
use crate::util::thousands;

/// `trending` options from the command line; `None` takes the config
/// file's value.
#[derive(Debug, Clone, Default)]
pub struct TrendingOptions {
    pub window_hours: Option<i64>,
    pub half_life_hours: Option<f64>,
    pub top: Option<i64>,
}

/// The checked parameters of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct TrendingParams {
    pub(crate) window_hours: i64,
    pub(crate) half_life_hours: f64,
    pub(crate) saturation: f64,
    pub(crate) weights: Weights,
    #[serde(skip)]
    pub(crate) top: usize,
    #[serde(skip)]
    pub(crate) threshold: f64,
}

/// What one event of each kind adds before decay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Weights {
    pub(crate) pageview: f64,
    pub(crate) event: f64,
}

/// The longest window accepted (ten years): beyond it the flag is a typo.
const MAX_WINDOW_HOURS: i64 = 87_600;
const MS_PER_HOUR: f64 = 3_600_000.0;

impl TrendingParams {
    /// Flags over `[trending]`, each checked with a reason naming it.
    pub(crate) fn resolve(ctx: &JobContext, opts: &TrendingOptions) -> Result<TrendingParams> {
        let file = &ctx.settings.file.trending;
        let window_hours = opts.window_hours.unwrap_or(file.window_hours);
        if !(1..=MAX_WINDOW_HOURS).contains(&window_hours) {
            return Err(usage(format!(
                "{} must be a number of hours from 1 to {MAX_WINDOW_HOURS} (got {window_hours})",
                source(
                    opts.window_hours.is_some(),
                    "--window-hours",
                    "window_hours"
                )
            )));
        }
        let half_life_hours = opts.half_life_hours.unwrap_or(file.half_life_hours);
        positive(
            half_life_hours,
            source(
                opts.half_life_hours.is_some(),
                "--half-life-hours",
                "half_life_hours",
            ),
        )?;
        let top = opts.top.unwrap_or(file.top);
        if !(1..=10_000).contains(&top) {
            return Err(usage(format!(
                "{} must be from 1 to 10000 entries (got {top})",
                source(opts.top.is_some(), "--top", "top")
            )));
        }
        positive(file.saturation, source(false, "", "saturation"))?;
        for (value, key) in [
            (file.threshold, "threshold"),
            (file.weights.pageview, "weights.pageview"),
            (file.weights.event, "weights.event"),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(usage(format!(
                    "{} must be a number >= 0 (got {value})",
                    source(false, "", key)
                )));
            }
        }
        Ok(TrendingParams {
            window_hours,
            half_life_hours,
            saturation: file.saturation,
            weights: Weights {
                pageview: file.weights.pageview,
                event: file.weights.event,
            },
            top: top as usize,
            threshold: file.threshold,
        })
    }
}

/// Where a value came from, for messages.
fn source(from_flag: bool, flag: &str, key: &str) -> String {
    if from_flag {
        flag.to_string()
    } else {
        format!("trending.{key} in the config file")
    }
}

fn positive(value: f64, what: String) -> Result<()> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(usage(format!("{what} must be a number > 0 (got {value})")))
    }
}

/// What one event `age_ms` old contributes per unit of weight.
pub(crate) fn decay(age_ms: i64, half_life_hours: f64) -> f64 {
    (-(age_ms as f64) / MS_PER_HOUR / half_life_hours).exp2()
}

/// A raw score on the published 0..1000 scale.
pub(crate) fn normalise(raw: f64, saturation: f64) -> f64 {
    1000.0 * raw / (raw + saturation)
}

use crate::store::props::StoredValue;
use scores_table::{ItemKey, PROPERTY_KIND};

/// The raw scores of every item with events in the window.
pub(crate) fn raw_scores(
    conn: &Connection,
    now_ms: i64,
    params: &TrendingParams,
    properties: &[String],
) -> Result<FxHashMap<ItemKey, f64>> {
    let start_ms = now_ms - params.window_hours * 3_600_000;
    let mut scores: FxHashMap<ItemKey, f64> = FxHashMap::default();
    let weight = |kind: i64| {
        if kind == 0 {
            params.weights.pageview
        } else {
            params.weights.event
        }
    };
    events::for_each_labelled(conn, start_ms, now_ms, |site, kind, label, ts| {
        *scores.entry((site, kind, label)).or_default() +=
            weight(kind) * decay(now_ms - ts, params.half_life_hours);
    })?;
    // Property values: each string value of a scored key, from events of
    // every kind (orders weigh as custom events).
    let mut keys = Vec::new();
    for name in properties {
        if let Some(id) = crate::store::keys::find_label(conn, name)? {
            keys.push(id);
        }
    }
    if !keys.is_empty() {
        events::for_each_with_props(conn, start_ms, now_ms, |site, kind, ts, props| {
            let add = weight(kind) * decay(now_ms - ts, params.half_life_hours);
            crate::store::props::each(props, |key, value| {
                if let (true, StoredValue::Label(v)) = (keys.contains(&key), value) {
                    *scores.entry((site, PROPERTY_KIND + key, v)).or_default() += add;
                }
            });
        })?;
    }
    Ok(scores)
}

/// One entry of a site's list in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrendingEntry {
    pub(crate) item: String,
    /// `page`, `event` or `property`.
    pub(crate) kind: String,
    /// The property key of a `property` item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) property: Option<String>,
    /// 0..1000, two decimals.
    pub(crate) score: f64,
    /// 1 for the top item of the site.
    pub(crate) rank: usize,
    /// Score minus the stored score of the last run; null for a new item.
    pub(crate) change: Option<f64>,
}

/// The artifact `trending/YYYY-MM-DDTHH.json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TrendingFile {
    pub(crate) generated_at: String,
    #[serde(flatten)]
    pub(crate) params: TrendingParams,
    /// Site name -> its top entries (empty for a site quiet in the window).
    pub(crate) sites: BTreeMap<String, Vec<TrendingEntry>>,
}

/// The artifact's path for a run at `now`: the hour of the run in UTC.
pub(crate) fn artifact_path(artifacts: &std::path::Path, now: DateTime<Utc>) -> PathBuf {
    crate::artifacts::trending_path(artifacts, now)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The `trending` job.
pub fn trending(ctx: &JobContext, opts: &TrendingOptions) -> Result<JobOutcome> {
    let params = TrendingParams::resolve(ctx, opts)?;
    let mut store = ctx.open_store()?;
    let now_ms = ctx.now_ms();
    let properties = &ctx.settings.file.trending.properties;
    let raw =
        raw_scores(&store.conn, now_ms, &params, properties).context("cannot score the events")?;
    let scores: FxHashMap<ItemKey, f64> = raw
        .into_iter()
        .map(|(k, s)| (k, normalise(s, params.saturation)))
        .collect();

    let tx = store
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let stored = scores_table::stored(&tx)?;
    let (rewritten, removed) = rewrite_changed(&tx, &scores, &stored, &params, now_ms)?;
    let file = TrendingFile {
        generated_at: rfc3339(ctx.settings.now),
        params,
        sites: top_lists(&tx, &scores, &stored, params.top)?,
    };
    // The artifact is written before the commit: a run that cannot write
    // it leaves the stored scores as they were, so the retry measures its
    // change against the same last run.
    let path = artifact_path(&ctx.settings.artifacts, ctx.settings.now);
    write_json(&path, &file)?;
    tx.commit().context("cannot store the trending scores")?;
    Ok(JobOutcome::ok(
        scores.len() as u64,
        format!(
            "scored {} of {}; rewrote {} stored scores, removed {}; wrote {}",
            crate::util::counted(scores.len() as u64, "item"),
            crate::util::counted(file.sites.len() as u64, "site"),
            thousands(rewritten),
            thousands(removed),
            path.display()
        ),
    ))
}

/// Store the scores that moved by more than the threshold (and new ones),
/// drop the items that left the window. Returns (rewritten, removed).
fn rewrite_changed(
    conn: &Connection,
    scores: &FxHashMap<ItemKey, f64>,
    stored: &FxHashMap<ItemKey, f64>,
    params: &TrendingParams,
    now_ms: i64,
) -> Result<(u64, u64)> {
    let (mut rewritten, mut removed) = (0, 0);
    for (&(site, kind, label), &score) in scores {
        let moved = stored
            .get(&(site, kind, label))
            .is_none_or(|old| (score - old).abs() > params.threshold);
        if moved {
            scores_table::upsert(conn, (site, kind, label), score, now_ms)?;
            rewritten += 1;
        }
    }
    for &(site, kind, label) in stored.keys() {
        if !scores.contains_key(&(site, kind, label)) {
            scores_table::delete(conn, (site, kind, label))?;
            removed += 1;
        }
    }
    Ok((rewritten, removed))
}

/// Every site's top `n`: highest score first, ties by kind (pages first)
/// then item text in byte order. Only the candidates that can make a list
/// are turned into text.
fn top_lists(
    conn: &Connection,
    scores: &FxHashMap<ItemKey, f64>,
    stored: &FxHashMap<ItemKey, f64>,
    n: usize,
) -> Result<BTreeMap<String, Vec<TrendingEntry>>> {
    let mut by_site: FxHashMap<i64, Vec<(ItemKey, f64)>> = FxHashMap::default();
    for (key, score) in scores {
        by_site.entry(key.0).or_default().push((*key, *score));
    }
    let mut sites = BTreeMap::new();
    for (site, name) in crate::store::site_names(conn)? {
        let mut items = by_site.remove(&site).unwrap_or_default();
        crate::util::keep_top_candidates(&mut items, n, |a, b| b.1.total_cmp(&a.1));
        let mut entries = Vec::with_capacity(items.len());
        for (key, score) in items {
            let item = events::label_text(conn, key.2)?;
            entries.push((key.1, item, score, stored.get(&key).map(|old| score - old)));
        }
        entries.sort_by(|a, b| {
            b.2.total_cmp(&a.2)
                .then(a.0.cmp(&b.0))
                .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
        });
        let list = entries
            .into_iter()
            .take(n)
            .enumerate()
            .map(|(i, (kind, item, score, change))| {
                let (kind, property) = match kind {
                    0 => ("page", None),
                    1 => ("event", None),
                    k => (
                        "property",
                        Some(events::label_text(conn, k - PROPERTY_KIND)?),
                    ),
                };
                Ok(TrendingEntry {
                    item,
                    kind: kind.to_string(),
                    property,
                    score: round2(score),
                    rank: i + 1,
                    change: change.map(round2),
                })
            })
            .collect::<Result<_>>()?;
        sites.insert(name, list);
    }
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_halves_every_half_life() {
        assert_eq!(decay(0, 24.0), 1.0);
        assert!((decay(24 * 3_600_000, 24.0) - 0.5).abs() < 1e-12);
        assert!((decay(48 * 3_600_000, 24.0) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn normalised_score_is_bounded_and_not_relative() {
        assert_eq!(normalise(0.0, 100.0), 0.0);
        assert_eq!(normalise(100.0, 100.0), 500.0);
        assert!(normalise(1e12, 100.0) < 1000.0);
        // One quiet item alone stays low: nothing scales it up to 1000.
        assert!(normalise(1.0, 100.0) < 10.0);
    }
}
