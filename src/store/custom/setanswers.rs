//! A site's answers (`values.rs`) for the stored props sets its events
//! carry, by set id. The sets a site's events carry were made at about the
//! same time, so their ids are close: a table over a window of ids, 4
//! bytes an id, finds an answer with one index. A set too far from the
//! others (the window would span more than [`WINDOW`] ids) is kept in a
//! map.

use rustc_hash::FxHashMap;

/// Ids the table spans at most.
const WINDOW: usize = 1 << 16;
/// Ids added around the first set, and beyond a new one at each growth.
const SLACK: i64 = 256;
/// A table entry without an answer.
const EMPTY: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(super) struct SetAnswers {
    /// The answer of set `base + i` at `i`.
    table: Vec<u32>,
    base: i64,
    far: FxHashMap<i64, u32>,
}

impl SetAnswers {
    /// The answer of set `id`, when known.
    #[inline]
    pub(super) fn get(&self, id: i64) -> Option<u32> {
        match self.table.get(id.wrapping_sub(self.base) as usize) {
            Some(&a) if a != EMPTY => Some(a),
            Some(_) => None,
            None => self.far.get(&id).copied(),
        }
    }

    /// Remember `answer` (below `u32::MAX`) as set `id`'s: in the table,
    /// grown to take it within [`WINDOW`], else in the map.
    #[cold]
    pub(super) fn insert(&mut self, id: i64, answer: u32) {
        if self.table.is_empty() {
            self.base = id.saturating_sub(SLACK);
        }
        let end = self.base.saturating_add(self.table.len() as i64);
        let lo = match id < self.base {
            true => id.saturating_sub(SLACK),
            false => self.base,
        };
        let hi = match id >= end {
            true => id.saturating_add(SLACK),
            false => end,
        };
        if !usize::try_from(hi.wrapping_sub(lo)).is_ok_and(|n| n <= WINDOW) {
            self.far.insert(id, answer);
            return;
        }
        if lo < self.base {
            let add = (self.base - lo) as usize;
            self.table.splice(0..0, std::iter::repeat_n(EMPTY, add));
            self.base = lo;
        }
        self.table.resize((hi - self.base) as usize, EMPTY);
        self.table[(id - self.base) as usize] = answer;
    }

    /// Forget every answer (they were folded), keeping the table's room.
    pub(super) fn clear(&mut self) {
        self.table.fill(EMPTY);
        self.far.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_answer_near_below_and_far_and_forgets_them() {
        let mut sets = SetAnswers::default();
        let ids = [
            5000,
            5001,
            4000,
            5000 + WINDOW as i64,
            -1 << 50,
            i64::MAX,
            i64::MIN,
            0,
            5300,
        ];
        for (answer, id) in ids.iter().enumerate() {
            assert_eq!(sets.get(*id), None, "{id}");
            sets.insert(*id, answer as u32);
        }
        for (answer, id) in ids.iter().enumerate() {
            assert_eq!(sets.get(*id), Some(answer as u32), "{id}");
        }
        assert_eq!(
            (sets.get(4999), sets.get(5002), sets.get(1)),
            (None, None, None)
        );
        // The near ones in the table, within its bound; the others apart.
        assert!(sets.table.len() <= WINDOW);
        assert_eq!(sets.far.len(), 4, "{:?}", sets.far);
        sets.clear();
        assert!(ids.iter().all(|id| sets.get(*id).is_none()));
    }
}
