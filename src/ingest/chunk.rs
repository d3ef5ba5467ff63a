//! Parsed events waiting to be resolved, their strings in one buffer that
//! is reused from chunk to chunk.

use super::parse::ParsedEvent;
use super::props::PropValue;
use crate::store::encoding::key_hash;

/// A text of [`Chunk::text`]: start and end byte.
pub(super) type Text = (u32, u32);

/// A property value kept in a [`Chunk`].
#[derive(Debug, Clone, Copy)]
pub(super) enum ChunkValue {
    Text(Text),
    Int(i64),
    Num(f64),
    Bool(bool),
}

/// A checked event kept in a [`Chunk`]: its strings live in the chunk's
/// text, its session and visitor keys are hashed once.
#[derive(Debug)]
pub(crate) struct ChunkEvent {
    pub(super) ts_ms: i64,
    pub(super) kind: i64,
    pub(super) revenue_cents: Option<i64>,
    pub(super) site: Text,
    pub(super) session: Text,
    pub(super) visitor: Text,
    pub(super) session_hash: i64,
    pub(super) visitor_hash: i64,
    pub(super) label: Option<Text>,
    pub(super) referrer: Option<Text>,
    pub(super) id: Option<String>,
    pub(super) line: Option<i64>,
    /// Its properties: a range of [`Chunk::props`] (empty when the
    /// parsing thread had seen the text valid before).
    pub(super) props: (u32, u32),
    /// The `props` object's text as given.
    pub(super) props_text: Option<Text>,
    pub(super) value: Option<f64>,
    pub(super) extra: Option<String>,
}

/// Events read but not yet resolved, their strings in one buffer that is
/// reused from chunk to chunk (no allocation per event for the usual
/// fields).
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub(super) text: String,
    /// The events' properties (key, value), each event's in one range.
    pub(super) props: Vec<(Text, ChunkValue)>,
    pub(crate) events: Vec<ChunkEvent>,
}

impl Chunk {
    /// Keep `e` (its text copied into the chunk).
    pub(crate) fn push(&mut self, e: ParsedEvent<'_>) {
        let mut text = |s: &str| -> Text {
            let start = self.text.len();
            self.text.push_str(s);
            let offset = |n: usize| u32::try_from(n).expect("a chunk's text stays below 4 GiB");
            (offset(start), offset(self.text.len()))
        };
        let site = text(&e.site);
        let session = text(&e.session);
        let visitor = text(&e.visitor);
        let label = e.label.as_deref().map(&mut text);
        let referrer = e.referrer.as_deref().map(&mut text);
        let first_prop = self.props.len() as u32;
        for (key, value) in &e.props {
            let key = text(key);
            let value = match value {
                PropValue::Text(t) => ChunkValue::Text(text(t)),
                PropValue::Int(i) => ChunkValue::Int(*i),
                PropValue::Num(n) => ChunkValue::Num(*n),
                PropValue::Bool(b) => ChunkValue::Bool(*b),
            };
            self.props.push((key, value));
        }
        let props = (first_prop, self.props.len() as u32);
        let props_text = e.props_text.map(&mut text);
        self.events.push(ChunkEvent {
            ts_ms: e.ts_ms,
            kind: e.kind as i64,
            revenue_cents: e.revenue_cents,
            site,
            session,
            visitor,
            session_hash: key_hash(&e.session),
            visitor_hash: key_hash(&e.visitor),
            label,
            referrer,
            id: e.id.map(|id| id.into_owned()),
            line: e.line,
            props,
            props_text,
            value: e.value,
            extra: e.extra,
        });
    }

    /// Bytes of text held: a chunk is resolved before it could outgrow the
    /// 32-bit offsets.
    pub(crate) fn text_len(&self) -> usize {
        self.text.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.props.clear();
        self.events.clear();
    }

    pub(super) fn str(&self, (start, end): Text) -> &str {
        &self.text[start as usize..end as usize]
    }
}
