//! Props repeat: a shop's events carry a few hundred combinations of plan,
//! campaign and author, written the same way each time. So the text of an
//! event's `props` object is remembered twice during a run: the parsing
//! thread remembers the texts it has checked (one it has seen valid is not
//! read again, only carried as text), and the resolving thread the stored
//! encoding each text gave (its keys and strings as label ids, which do not
//! change during a run). An event whose props were seen before then costs a
//! lookup on each thread instead of a JSON parse, six string copies and six
//! label lookups.
//!
//! The second event of a run with a text gets its props stored once, as a
//! set (`store/props.rs`): from then on its events carry the set's label
//! id, and so do the other events of the run with that text. Props seen
//! once stay in their event's row.
//!
//! Props unique to each event (a view count, say) would only fill the
//! memory: each map holds at most [`LIMIT`] texts, and once full it starts
//! over only when most lookups since the last start found their text;
//! otherwise it keeps what it has.

use anyhow::{Result, anyhow};
use rustc_hash::FxHashMap;

use super::chunk::{Chunk, ChunkEvent, ChunkValue};
use super::props::PropValue;
use crate::store::batch::EventProps;
use crate::store::props::{StoredValue, encode, set_text};

/// Texts a map holds at most.
#[cfg(not(test))]
const LIMIT: usize = 1 << 14;
#[cfg(test)]
const LIMIT: usize = 4;

/// Texts of `props` objects seen in this run, each with what it gave.
#[derive(Debug)]
pub(crate) struct SeenProps<V> {
    map: FxHashMap<Box<str>, V>,
    /// Lookups since the map last started over that found their text, and
    /// those that did not.
    hits: u64,
    misses: u64,
}

impl<V> Default for SeenProps<V> {
    fn default() -> Self {
        SeenProps {
            map: FxHashMap::default(),
            hits: 0,
            misses: 0,
        }
    }
}

impl<V> SeenProps<V> {
    /// What `text` gave when it was seen before.
    #[inline]
    pub(crate) fn get(&mut self, text: &str) -> Option<&mut V> {
        let found = self.map.get_mut(text);
        match found {
            Some(_) => self.hits += 1,
            None => self.misses += 1,
        }
        found
    }

    /// Remember what `text` gave.
    pub(crate) fn insert(&mut self, text: &str, value: V) {
        if self.map.len() >= LIMIT {
            if self.hits < self.misses {
                // Mostly new texts: what is held serves better than they.
                return;
            }
            self.map.clear();
            (self.hits, self.misses) = (0, 0);
        }
        self.map.insert(text.into(), value);
    }
}

/// What a `props` text gave the resolver.
#[derive(Debug)]
pub(crate) enum Seen {
    /// Seen once: its encoding.
    Once(Vec<u8>),
    /// Seen again: stored once as this set.
    Set(i64),
}

/// Event `e`'s props (of `chunk`) as stored: their keys and string values
/// as label ids (`label` finds or makes one), appended to `out` when kept
/// in the row; a set's label id when the text was seen before in this run;
/// `None` without props. What a text gave is kept in `seen`.
pub(crate) fn stored(
    seen: &mut SeenProps<Seen>,
    chunk: &Chunk,
    e: &ChunkEvent,
    out: &mut Vec<u8>,
    mut label: impl FnMut(&str) -> Result<i64>,
) -> Result<Option<EventProps>> {
    let text = e.props_text.map(|t| chunk.str(t));
    if let Some(found) = text.and_then(|t| seen.get(t)) {
        return Ok(match found {
            Seen::Set(id) => Some(EventProps::Set(*id)),
            Seen::Once(blob) if blob.is_empty() => None,
            Seen::Once(blob) => {
                let id = label(&set_text(blob))?;
                *found = Seen::Set(id);
                Some(EventProps::Set(id))
            }
        });
    }
    let start = out.len();
    let pairs = &chunk.props[e.props.0 as usize..e.props.1 as usize];
    match text {
        // The parsing thread had seen the text, and this map has not (or
        // no longer): read it again (it was valid then).
        Some(text) if pairs.is_empty() => {
            let props = super::props::from_json_cell(text)
                .map_err(|reason| anyhow!("props seen valid before are not now: {reason}"))?;
            for (key, value) in &props {
                let value = match value {
                    PropValue::Text(t) => StoredValue::Label(label(t)?),
                    PropValue::Int(i) => StoredValue::Int(*i),
                    PropValue::Num(n) => StoredValue::Num(*n),
                    PropValue::Bool(b) => StoredValue::Bool(*b),
                };
                encode(out, label(key)?, value);
            }
        }
        _ => {
            for &(key, value) in pairs {
                let key = label(chunk.str(key))?;
                let value = match value {
                    ChunkValue::Text(t) => StoredValue::Label(label(chunk.str(t))?),
                    ChunkValue::Int(i) => StoredValue::Int(i),
                    ChunkValue::Num(n) => StoredValue::Num(n),
                    ChunkValue::Bool(b) => StoredValue::Bool(b),
                };
                encode(out, key, value);
            }
        }
    }
    if let Some(text) = text {
        seen.insert(text, Seen::Once(out[start..].to_vec()));
    }
    Ok((out.len() > start).then_some(EventProps::Blob(start..out.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_the_limit_and_starts_over_only_when_texts_repeat() {
        let mut seen = SeenProps::default();
        for i in 0..4 {
            assert_eq!(seen.get(&format!("t{i}")), None);
            seen.insert(&format!("t{i}"), i);
        }
        // Full, with four misses and no hit: new texts are not kept.
        assert_eq!(seen.get("t9"), None);
        seen.insert("t9", 9);
        assert_eq!(seen.get("t9"), None);
        assert_eq!(seen.get("t2"), Some(&mut 2));
        // Texts found more often than not: the next new one starts over.
        for _ in 0..10 {
            assert_eq!(seen.get("t1"), Some(&mut 1));
        }
        seen.insert("t8", 8);
        assert_eq!(seen.get("t8"), Some(&mut 8));
        assert_eq!(seen.get("t1"), None);
    }
}
