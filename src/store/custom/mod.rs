//! Breakdowns, goals and gauges (contract, "Properties, goals and gauges"):
//! counted during the rollup's scan of a day, next to the daily figures,
//! and stored with them in the same transaction.
//!
//! `Plan` is the config made ready for a scan (property keys and event
//! names as label ids, found once per scan); `SiteCustom` is what one
//! site's events add up to; `rows.rs` turns that into rows (the top values
//! and `(other)`, label ids to text) and stores and loads them.

pub(crate) mod breakdown;
mod goals;
mod pool;
pub(crate) mod rows;
pub(crate) mod sessions;
mod setanswers;
mod values;

use std::sync::Arc;

use anyhow::Result;
use rusqlite::Connection;
use rustc_hash::{FxHashMap, FxHashSet};

use super::encoding::Kind;
use super::props::{RowProps, SetCache, StoredValue, decode};
use crate::settings::props::{BreakdownConfig, GoalConfig};
use breakdown::BreakdownCounts;
use goals::Goals;
use sessions::{SessionRows, SessionTable};
use values::{Layout, NONE, PropsCache};

/// The configured breakdowns and goals, shared by a rollup's workers.
#[derive(Debug, Clone, Default)]
pub(crate) struct CustomSpec {
    pub(crate) breakdowns: Vec<BreakdownConfig>,
    pub(crate) goals: Vec<GoalConfig>,
}

impl CustomSpec {
    pub(crate) fn new(breakdowns: &[BreakdownConfig], goals: &[GoalConfig]) -> Arc<CustomSpec> {
        Arc::new(CustomSpec {
            breakdowns: breakdowns.to_vec(),
            goals: goals.to_vec(),
        })
    }
}

/// A property value as a map key (numbers by their bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ValueKey {
    Label(i64),
    Int(i64),
    Num(u64),
    Bool(bool),
}

impl From<StoredValue> for ValueKey {
    fn from(v: StoredValue) -> ValueKey {
        match v {
            StoredValue::Label(id) => ValueKey::Label(id),
            StoredValue::Int(i) => ValueKey::Int(i),
            // -0.0 and 0.0 are one value.
            StoredValue::Num(n) => ValueKey::Num((n + 0.0).to_bits()),
            StoredValue::Bool(b) => ValueKey::Bool(b),
        }
    }
}

/// One goal's counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct GoalCounts {
    pub(crate) sessions: FxHashSet<i64>,
    pub(crate) events: u64,
}

/// One gauge's day: the latest level (by event key: time, then the order
/// stored), the lowest, the highest and how many.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GaugeCounts {
    pub(crate) last_key: i64,
    pub(crate) last: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) samples: u64,
}

impl GaugeCounts {
    fn merge(&mut self, o: GaugeCounts) {
        if o.last_key > self.last_key {
            self.last_key = o.last_key;
            self.last = o.last;
        }
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.samples += o.samples;
    }
}

/// What one site's events of a range add up to.
#[derive(Debug, Clone, Default)]
pub(crate) struct SiteCustom {
    /// Per breakdown (in config order).
    pub(crate) breakdowns: Vec<BreakdownCounts>,
    /// Per goal (in config order).
    pub(crate) goals: Vec<GoalCounts>,
    /// Revenue of each session's orders (kept only when there are goals).
    pub(crate) order_revenue: FxHashMap<i64, i64>,
    /// Gauge name (label id) -> its day.
    pub(crate) gauges: FxHashMap<i64, GaugeCounts>,
    /// The sessions met, with the breakdowns' values each carried.
    pub(crate) sessions: SessionRows,
}

impl SiteCustom {
    /// Room for the counts of `breakdowns` breakdowns and `goals` goals.
    fn fit(&mut self, breakdowns: usize, goals: usize) {
        if self.breakdowns.len() < breakdowns {
            self.breakdowns.resize_with(breakdowns, Default::default);
        }
        if self.goals.len() < goals {
            self.goals.resize_with(goals, Default::default);
        }
    }

    pub(crate) fn merge(&mut self, other: SiteCustom) {
        self.fit(other.breakdowns.len(), other.goals.len());
        let remaps: Vec<Vec<u32>> = (self.breakdowns.iter_mut().zip(other.breakdowns))
            .map(|(mine, theirs)| mine.merge(theirs))
            .collect();
        let breakdowns = &mut self.breakdowns;
        self.sessions
            .merge(other.sessions, &remaps, |b, slot, session, visitor| {
                breakdowns[b].met(slot, session, visitor)
            });
        for (mine, theirs) in self.goals.iter_mut().zip(other.goals) {
            mine.sessions.extend(theirs.sessions);
            mine.events += theirs.events;
        }
        for (s, r) in other.order_revenue {
            *self.order_revenue.entry(s).or_default() += r;
        }
        for (name, g) in other.gauges {
            match self.gauges.get_mut(&name) {
                Some(mine) => mine.merge(g),
                None => {
                    self.gauges.insert(name, g);
                }
            }
        }
    }
}

/// The spec made ready for one scan on one connection.
pub(crate) struct Plan {
    goals: Goals,
    /// Where the breakdowns' properties and sums are in a props set.
    layout: Layout,
    /// Props sets to their answers, which the events tally into.
    values: PropsCache,
    /// The encodings of the stored sets met.
    sets: SetCache,
    /// The sessions met and the breakdown values each carried.
    sessions: SessionTable,
    /// Per breakdown, the values it keeps per site and day.
    tops: Vec<usize>,
}

impl Plan {
    /// Look up the labels the spec names (each once).
    pub(crate) fn new(conn: &Connection, spec: &CustomSpec) -> Result<Plan> {
        let label = |text: &str| super::keys::find_label(conn, text);
        let mut layout = Layout::default();
        for b in &spec.breakdowns {
            let property = label(b.property.as_deref().unwrap_or_default())?;
            let at = property.map(|id| layout.place(id));
            layout.property.push(at);
            let mut sums = Vec::new();
            for sum in &b.sums {
                let at = label(sum)?.map(|id| layout.place(id));
                sums.push(at.map(|at| layout.summed(at)));
            }
            layout.sums.push(sums);
        }
        Ok(Plan {
            sessions: SessionTable::new(layout.property.len()),
            tops: (spec.breakdowns.iter())
                .map(|b| usize::try_from(b.top).unwrap_or(usize::MAX))
                .collect(),
            values: PropsCache::new(&layout),
            sets: SetCache::default(),
            layout,
            goals: Goals::new(conn, &spec.goals)?,
        })
    }

    /// Whether an event's props may count: a breakdown's property or a
    /// goal's property filter names a key some event has. Otherwise the
    /// scan need not read them.
    pub(crate) fn reads_props(&self) -> bool {
        self.layout.property.iter().any(Option::is_some) || self.goals.filter_props()
    }

    /// Whether no breakdown or goal is configured (gauges need no plan).
    pub(crate) fn is_empty(&self) -> bool {
        self.layout.property.is_empty() && self.goals.is_empty()
    }

    /// Count one event (not a gauge) into `site` (`seen`: the scan met its
    /// visitor before); `props()` reads its props as its row holds them,
    /// only when a breakdown or a goal's filter needs them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn count<'r>(
        &mut self,
        conn: &Connection,
        site_id: i64,
        site: &mut SiteCustom,
        kind: Kind,
        session: i64,
        (visitor, seen): (i64, bool),
        label: Option<i64>,
        revenue_cents: i64,
        props: impl Fn() -> Result<RowProps<'r>>,
    ) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        site.fit(self.layout.property.len(), self.goals.len());
        // Breakdowns read the wanted keys of every event's props; a goal's
        // property filter only those of the events it matches (so without
        // breakdowns, the props are not read here).
        let answer = match self.layout.property.is_empty() {
            true => None,
            false => self.values.tally(
                conn,
                &mut self.sets,
                site_id,
                props()?,
                kind,
                revenue_cents,
                &self.layout,
                &mut site.breakdowns,
            )?,
        };
        if let Some(answer) = answer {
            // The session's row when a value has a bit; the rest of the
            // values met go to the pairs.
            let row = match answer.masks.iter().any(|m| *m != 0) {
                true => self.sessions.row(session, visitor, site_id, seen),
                false => None,
            };
            if let (Some(at), false) = (row, answer.spill) {
                for (b, &mask) in answer.masks.iter().enumerate() {
                    self.sessions.meet(at, b, mask);
                }
            } else {
                for (b, (values, &slot)) in site.breakdowns.iter_mut().zip(answer.slots).enumerate()
                {
                    match (row, slot) {
                        (_, NONE) => {}
                        (Some(at), 0..64) => self.sessions.meet(at, b, 1 << slot),
                        _ => values.met(slot, session, visitor),
                    }
                }
            }
        }
        if self.goals.is_empty() {
            return Ok(());
        }
        if kind == Kind::Order {
            *site.order_revenue.entry(session).or_default() += revenue_cents;
            return Ok(());
        }
        let sets = &mut self.sets;
        let fill = |decoded: &mut Vec<(i64, StoredValue)>| -> Result<()> {
            if let Some(blob) = sets.resolve(conn, props()?)? {
                decoded.extend(decode(blob));
            }
            Ok(())
        };
        self.goals
            .count(conn, (kind, label), session, &mut site.goals, fill)
    }

    /// The scan's end for `sites` (by site id): what their events
    /// tallied folded into their breakdowns' counts, and the rows of the
    /// sessions met kept for the sites whose distinct counts need them
    /// (`whole`: the scan covered a whole day, no other part will be
    /// merged into it).
    pub(crate) fn finish<'s>(
        &mut self,
        sites: impl Iterator<Item = (i64, &'s mut SiteCustom)>,
        whole: bool,
    ) {
        let mut sites: Vec<_> = sites.collect();
        let mut need: FxHashSet<i64> = FxHashSet::default();
        // A part of a day is never exact: its rows are kept whole.
        let met = match whole {
            true => self.sessions.distinct(),
            false => FxHashMap::default(),
        };
        for (id, site) in &mut sites {
            site.fit(self.layout.property.len(), 0);
            self.values.fold(*id, &self.layout, &mut site.breakdowns);
            let mut exact = true;
            let met = met.get(id);
            for (b, (counts, top)) in site.breakdowns.iter_mut().zip(&self.tops).enumerate() {
                exact &= counts.settle(whole, *top, met.map(|m| &m[b]));
            }
            if !exact {
                need.insert(*id);
            }
        }
        let mut rows = self.sessions.by_site(|site| need.contains(&site));
        for (id, site) in sites {
            site.sessions = rows.remove(&id).unwrap_or_default();
        }
    }

    /// Count one gauge event (`key` its event key, for the day's last).
    pub(crate) fn gauge(site: &mut SiteCustom, name: i64, key: i64, value: f64) {
        let g = site.gauges.entry(name).or_insert(GaugeCounts {
            last_key: key,
            last: value,
            min: value,
            max: value,
            samples: 0,
        });
        if key >= g.last_key {
            g.last_key = key;
            g.last = value;
        }
        g.min = g.min.min(value);
        g.max = g.max.max(value);
        g.samples += 1;
    }
}
