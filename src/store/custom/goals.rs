//! The goals of a scan: which goals an event reaches is decided by its
//! kind and label (an event name or a pageview's path), so it is worked
//! out once per (kind, label) into a list of goals, and an event costs one
//! direct-mapped lookup (a miss on no goal is the common case). Only the
//! goals an event reaches read its props, for their property filters.

use anyhow::Result;
use rusqlite::Connection;
use rustc_hash::FxHashMap;

use super::GoalCounts;
use crate::settings::props::{GoalConfig, GoalTarget, PropMatch};
use crate::store::encoding::Kind;
use crate::store::props::StoredValue;

/// A value a goal's property filter wants, as stored.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// A string by its label id; `None` when no event ever had it.
    Label(Option<i64>),
    Number(f64),
    Bool(bool),
}

impl Want {
    fn matches(self, v: StoredValue) -> bool {
        match (self, v) {
            (Want::Label(Some(a)), StoredValue::Label(b)) => a == b,
            (Want::Bool(a), StoredValue::Bool(b)) => a == b,
            (Want::Number(a), v) => v.number() == Some(a),
            _ => false,
        }
    }
}

enum Target {
    /// A custom event name's label id (`None`: no such event stored).
    Event(Option<i64>),
    /// A path pattern.
    Path(String),
}

struct GoalPlan {
    target: Target,
    /// (key label id, wanted value); a key never stored matches nothing.
    props: Vec<(Option<i64>, Want)>,
}

/// Entries of [`Goals::recent`].
const RECENT: usize = 1024;

/// The configured goals made ready for one scan.
pub(super) struct Goals {
    plans: Vec<GoalPlan>,
    /// `label << 2 | kind` to its list in `lists` (0: no goal): the recent
    /// ones direct-mapped, every one met in `all` (a path pattern is
    /// matched once per label).
    recent: Vec<(i64, u32)>,
    all: FxHashMap<i64, u32>,
    /// The distinct lists of goals reached (by index in `plans`); the
    /// first is empty.
    lists: Vec<Vec<usize>>,
    /// The decoded props of the current event, for property filters.
    scratch: Vec<(i64, StoredValue)>,
}

impl Goals {
    /// Look up the labels `goals` name (each once).
    pub(super) fn new(conn: &Connection, goals: &[GoalConfig]) -> Result<Goals> {
        let label = |text: &str| crate::store::keys::find_label(conn, text);
        let mut plans = Vec::new();
        for g in goals {
            let target = match g.target() {
                GoalTarget::Event(name) => Target::Event(label(name)?),
                GoalTarget::Path(p) => Target::Path(p.to_string()),
            };
            let mut props = Vec::new();
            for (key, want) in &g.props {
                let want = match want {
                    PropMatch::Text(t) => Want::Label(label(t)?),
                    PropMatch::Int(i) => Want::Number(*i as f64),
                    PropMatch::Num(n) => Want::Number(*n),
                    PropMatch::Bool(b) => Want::Bool(*b),
                };
                props.push((label(key)?, want));
            }
            plans.push(GoalPlan { target, props });
        }
        Ok(Goals {
            plans,
            recent: Vec::new(),
            all: FxHashMap::default(),
            lists: vec![Vec::new()],
            scratch: Vec::new(),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.plans.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// Whether some goal's property filter names only keys some event
    /// has (so that it can match and the scan must read the props).
    pub(super) fn filter_props(&self) -> bool {
        let filters = |g: &GoalPlan| !g.props.is_empty() && g.props.iter().all(|p| p.0.is_some());
        self.plans.iter().any(filters)
    }

    /// Count an event of `kind`, `label` and `session` into the goals it
    /// reaches (`counts`, in config order); `props` adds its decoded props
    /// to a list, called only when a reached goal filters on them.
    #[inline]
    pub(super) fn count(
        &mut self,
        conn: &Connection,
        (kind, label): (Kind, Option<i64>),
        session: i64,
        counts: &mut [GoalCounts],
        mut props: impl FnMut(&mut Vec<(i64, StoredValue)>) -> Result<()>,
    ) -> Result<()> {
        let (Some(label), Kind::Pageview | Kind::Event) = (label, kind) else {
            return Ok(());
        };
        let list = self.reached(conn, label << 2 | kind as i64)? as usize;
        if list == 0 {
            return Ok(());
        }
        let mut decoded = false;
        for &g in &self.lists[list] {
            let plan = &self.plans[g];
            if !plan.props.is_empty() && !decoded {
                self.scratch.clear();
                props(&mut self.scratch)?;
                decoded = true;
            }
            let scratch = &self.scratch;
            if plan.props.iter().all(|(key, want)| {
                key.and_then(|k| scratch.iter().find(|p| p.0 == k))
                    .is_some_and(|p| want.matches(p.1))
            }) {
                counts[g].events += 1;
                counts[g].sessions.insert(session);
            }
        }
        Ok(())
    }

    /// The list of the goals `key` (`label << 2 | kind`) reaches.
    #[inline]
    fn reached(&mut self, conn: &Connection, key: i64) -> Result<u32> {
        if self.recent.is_empty() {
            // Label ids start at 1: the zeroed entries never hit.
            self.recent = vec![(0, 0); RECENT];
        }
        let at = (key >> 2) as usize & (RECENT - 1);
        if self.recent[at].0 == key {
            return Ok(self.recent[at].1);
        }
        let list = match self.all.get(&key) {
            Some(list) => *list,
            None => {
                let list = self.judge(conn, key)?;
                self.all.insert(key, list);
                list
            }
        };
        self.recent[at] = (key, list);
        Ok(list)
    }

    /// Work out which goals `key` reaches: its list's index (made when
    /// new).
    #[cold]
    fn judge(&mut self, conn: &Connection, key: i64) -> Result<u32> {
        let (label, kind) = (key >> 2, key & 3);
        let mut text: Option<String> = None;
        let mut reached = Vec::new();
        for (g, plan) in self.plans.iter().enumerate() {
            let hit = match &plan.target {
                Target::Event(want) => kind == Kind::Event as i64 && *want == Some(label),
                Target::Path(pattern) if kind == Kind::Pageview as i64 => {
                    if text.is_none() {
                        text = Some(crate::store::events::label_text(conn, label)?);
                    }
                    crate::util::glob_match(pattern, text.as_deref().unwrap_or_default())
                }
                Target::Path(_) => false,
            };
            if hit {
                reached.push(g);
            }
        }
        Ok(match self.lists.iter().position(|l| *l == reached) {
            Some(at) => at as u32,
            None => {
                self.lists.push(reached);
                (self.lists.len() - 1) as u32
            }
        })
    }
}
