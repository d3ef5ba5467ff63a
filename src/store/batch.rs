//! The rows one ingest batch adds or changes, as the resolver prepares them
//! and the writer (`store::writer`) stores them in one transaction.

use chrono::NaiveDate;

/// An event as the `events` table stores it.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub(crate) ts: i64,
    pub(crate) site: i64,
    pub(crate) kind: i64,
    pub(crate) session: i64,
    pub(crate) visitor: i64,
    pub(crate) label: Option<i64>,
    pub(crate) referrer: Option<i64>,
    pub(crate) revenue_cents: Option<i64>,
    /// Custom properties (`store::props`).
    pub(crate) props: Option<EventProps>,
    /// A gauge's level.
    pub(crate) value: Option<f64>,
    pub(crate) extra: Option<String>,
    /// The input's id, for dedupe.
    pub(crate) id: Option<String>,
    /// An access-log line's dedupe hash.
    pub(crate) line: Option<i64>,
}

/// An event's props as its row stores them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EventProps {
    /// Encoded in the row: where the encoding is in the batch's `props`.
    Blob(std::ops::Range<usize>),
    /// A set stored once: its label id.
    Set(i64),
}

/// A new session or visitor row.
#[derive(Debug, Clone)]
pub(crate) struct NewKey {
    pub(crate) id: i64,
    pub(crate) site: i64,
    pub(crate) hash: i64,
    pub(crate) key: String,
    /// Sessions: the visitor; visitors: unused.
    pub(crate) visitor: i64,
    pub(crate) first: i64,
    pub(crate) last: i64,
}

/// Everything one transaction writes.
#[derive(Debug, Default)]
pub(crate) struct ResolvedBatch {
    pub(crate) number: u64,
    pub(crate) events: Vec<EventRow>,
    /// The events' encoded props, one after the other (a list per event
    /// would be an allocation per event).
    pub(crate) props: Vec<u8>,
    pub(crate) new_sites: Vec<(i64, String, i64, i64)>,
    pub(crate) site_spans: Vec<(i64, i64, i64)>,
    pub(crate) new_labels: Vec<(i64, String)>,
    /// Sorted by id: appended to the table.
    pub(crate) new_sessions: Vec<NewKey>,
    pub(crate) session_spans: Vec<(i64, i64, i64)>,
    pub(crate) new_visitors: Vec<NewKey>,
    pub(crate) visitor_firsts: Vec<(i64, i64)>,
    /// The local days (per site) the batch's events fall in.
    pub(crate) days: Vec<(i64, NaiveDate)>,
}

impl ResolvedBatch {
    /// Empty every list, keeping the room they have.
    pub(crate) fn clear(&mut self) {
        // Named one by one, so that a new list cannot be forgotten here.
        let ResolvedBatch {
            number: _,
            events,
            props,
            new_sites,
            site_spans,
            new_labels,
            new_sessions,
            session_spans,
            new_visitors,
            visitor_firsts,
            days,
        } = self;
        events.clear();
        props.clear();
        new_sites.clear();
        site_spans.clear();
        new_labels.clear();
        new_sessions.clear();
        session_spans.clear();
        new_visitors.clear();
        visitor_firsts.clear();
        days.clear();
    }
}
