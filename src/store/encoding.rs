//! How values are encoded in the store's rows, shared by everything that
//! reads or writes them: the kind codes, the hash of session and visitor
//! keys, and the time key of `events`.

/// The kinds of events, as stored in `events.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pageview = 0,
    Event = 1,
    Order = 2,
    /// A level measured at `ts` (followers, stock): rolled up as a gauge,
    /// never counted as an event.
    Gauge = 3,
}

impl Kind {
    pub(crate) fn from_code(code: i64) -> Option<Kind> {
        match code {
            0 => Some(Kind::Pageview),
            1 => Some(Kind::Event),
            2 => Some(Kind::Order),
            3 => Some(Kind::Gauge),
            _ => None,
        }
    }
}

/// The stored hash of a visitor or session key: 64-bit FNV-1a, fixed
/// forever because it is written into the store.
pub fn key_hash(key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Events per millisecond the `events` key has room for: `id = ts *
/// EVENT_KEYS_PER_MS + n` (see migration 3). SQL spells it 16384.
pub(crate) const EVENT_KEYS_PER_MS: i64 = 16384;

/// The first `events.id` of the millisecond `ts_ms`.
pub(crate) fn event_key(ts_ms: i64) -> i64 {
    ts_ms * EVENT_KEYS_PER_MS
}

/// The site rule (contract, "Events"): 1 to 64 characters of
/// `[A-Za-z0-9._-]`, so that a site name is safe in any store, export or
/// message (it never becomes part of a path).
pub fn is_site_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && first_bad_site_char(name).is_none()
}

/// The first character the site rule does not allow, for the message.
pub fn first_bad_site_char(name: &str) -> Option<char> {
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
}
