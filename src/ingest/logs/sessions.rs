//! Visitors and sessions of access-log requests. A visitor is a keyed hash
//! of (site, client address, user agent) under the store's secret, so the
//! address is never stored; a session is a visitor's requests with no gap
//! over the idle time. A visitor's latest session is kept in the store
//! (`log_visitors`, written with the file record of the input that moved
//! it), so sessions continue across files and runs, and a file read again
//! after a crash gives its lines the same session keys as the first time.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::Connection;
use rustc_hash::FxBuildHasher;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::store::logs::{self, LogVisitor};

/// A visitor's latest session.
#[derive(Debug, Clone, Copy)]
struct Latest {
    /// The time that names the session (its first request as read).
    named: i64,
    started: i64,
    last: i64,
    /// Moved since the last [`Sessionizer::take_moved`].
    moved: bool,
}

/// Assigns each request its visitor and session key.
pub(crate) struct Sessionizer {
    secret: u64,
    idle_ms: i64,
    /// A read-only connection for visitors the run has not met yet; none
    /// when the store keeps no log visitors.
    lookup: Option<Connection>,
    /// Keyed by the visitor hash, which covers the site.
    latest: HashMap<u64, Latest, FxBuildHasher>,
    /// The newest request time met: visitors idle since long before it
    /// cannot continue a session and leave the memory.
    newest: i64,
    /// Requests since the last [`Sessionizer::evict_idle`].
    since_evict: u32,
    /// Visitors evicted with a moved latest session, not yet handed out.
    evicted: Vec<(u64, Latest)>,
    /// How many evicted visitors are handed out together.
    evicted_flush: usize,
    /// Buffers for the last request: the bytes hashed into its visitor,
    /// and its visitor and session keys.
    hashed: Vec<u8>,
    visitor_text: String,
    session_text: String,
}

impl Sessionizer {
    pub(crate) fn new(secret: u64, idle_minutes: i64, lookup: Connection) -> Result<Sessionizer> {
        let lookup = if logs::any_visitor(&lookup)? {
            Some(lookup)
        } else {
            None
        };
        Ok(Sessionizer {
            secret,
            idle_ms: idle_minutes.max(1) * 60_000,
            lookup,
            latest: HashMap::with_hasher(FxBuildHasher),
            newest: i64::MIN,
            since_evict: 0,
            evicted: Vec::new(),
            evicted_flush: EVICTED_FLUSH,
            hashed: Vec::new(),
            visitor_text: String::new(),
            session_text: String::new(),
        })
    }

    /// The visitor and session keys of a request of `site` at `ts_ms` from
    /// `addr` with `agent`.
    pub(crate) fn assign(
        &mut self,
        site: &str,
        addr: &str,
        agent: &str,
        ts_ms: i64,
    ) -> Result<(&str, &str)> {
        let key = &mut self.hashed;
        key.clear();
        key.extend_from_slice(site.as_bytes());
        key.push(0);
        key.extend_from_slice(addr.as_bytes());
        key.push(0);
        key.extend_from_slice(agent.as_bytes());
        // 64 bits: a collision among a site's millions of visitors has a
        // chance of about 10^-7, and short keys keep the caches small.
        let hash = xxh3_64_with_seed(key, self.secret);
        self.visitor_text.clear();
        push_hex(&mut self.visitor_text, u128::from(hash), 16);
        self.newest = self.newest.max(ts_ms);
        self.since_evict += 1;
        if !self.latest.contains_key(&hash)
            && let Some(conn) = &self.lookup
            && let Some((named, started, last)) = logs::latest_session(conn, hash)?
        {
            let stored = Latest {
                named,
                started,
                last,
                moved: false,
            };
            self.latest.insert(hash, stored);
        }
        let idle = self.idle_ms;
        let named = match self.latest.get_mut(&hash) {
            Some(s) if ts_ms >= s.started - idle && ts_ms <= s.last + idle => {
                s.started = s.started.min(ts_ms);
                s.last = s.last.max(ts_ms);
                s.moved = true;
                s.named
            }
            // A line older than the visitor's latest session (a copy read
            // again): a session of its own, the latest one kept.
            Some(s) if ts_ms < s.started => ts_ms,
            _ => {
                let fresh = Latest {
                    named: ts_ms,
                    started: ts_ms,
                    last: ts_ms,
                    moved: true,
                };
                self.latest.insert(hash, fresh);
                ts_ms
            }
        };
        self.session_text.clear();
        self.session_text.push_str(&self.visitor_text);
        self.session_text.push('.');
        push_hex(&mut self.session_text, named.max(0) as u128, 0);
        Ok((&self.visitor_text, &self.session_text))
    }

    /// Every 64k requests: the visitors idle since long before the newest
    /// request (the idle time and an hour for lines out of order) leave
    /// the memory, so it holds the last hours' visitors whatever the log's
    /// size; a later request of theirs starts a new session, as it would.
    /// Their latest sessions come back to be kept in the store, but only
    /// [`EVICTED_FLUSH`] at a time, in key order (see there).
    pub(crate) fn evict_idle(&mut self) -> Vec<LogVisitor> {
        if self.since_evict < 1 << 16 {
            return Vec::new();
        }
        self.since_evict = 0;
        let before = self.newest.saturating_sub(self.idle_ms + 3_600_000);
        for (hash, s) in self.latest.extract_if(|_, s| s.last < before) {
            if s.moved {
                self.evicted.push((hash, s));
            }
        }
        if self.evicted.len() < self.evicted_flush {
            return Vec::new();
        }
        rows(std::mem::take(&mut self.evicted))
    }

    /// The latest sessions moved since the last call (the evicted ones
    /// held back, then those in memory), to be kept with the file record
    /// of the input just read.
    pub(crate) fn take_moved(&mut self) -> Vec<LogVisitor> {
        let mut moved = std::mem::take(&mut self.evicted);
        for (&hash, s) in self.latest.iter_mut() {
            if s.moved {
                s.moved = false;
                moved.push((hash, *s));
            }
        }
        rows(moved)
    }
}

/// Evicted visitors held back before they go to the store together. A
/// 10M-line log evicts a few thousand visitors every 64k requests; written
/// with each batch, each of them dirtied a page of its own in
/// `log_visitors` (random keys), and the batch's commit wrote those pages
/// to the WAL and the checkpoint again. Sorted, 64k at a time, they dirty
/// each page about once per flush. Losing them in a crash loses nothing:
/// the file is not remembered either, and is read again from its start.
const EVICTED_FLUSH: usize = 1 << 16;

/// Store rows of latest sessions, in the table's key order (the hash as
/// a signed integer, the rowid); a visitor listed twice keeps its order
/// (the later row's session wins when later).
fn rows(mut moved: Vec<(u64, Latest)>) -> Vec<LogVisitor> {
    moved.sort_by_key(|&(hash, _)| hash as i64);
    moved
        .into_iter()
        .map(|(visitor, s)| LogVisitor {
            visitor,
            named: s.named,
            started_ts: s.started,
            last_ts: s.last,
        })
        .collect()
}

/// Lower-case hex of `value`, padded to `width` digits (0: no padding).
/// By hand: `write!` cost more than the hashing, once per request.
fn push_hex(out: &mut String, value: u128, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 32];
    let mut at = buf.len();
    let mut rest = value;
    while rest > 0 || at == buf.len() || buf.len() - at < width {
        at -= 1;
        buf[at] = DIGITS[(rest & 0xf) as usize];
        rest >>= 4;
    }
    out.push_str(std::str::from_utf8(&buf[at..]).unwrap_or(""));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessionizer() -> Sessionizer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE log_visitors (visitor INTEGER PRIMARY KEY, named INTEGER,
             started_ts INTEGER, last_ts INTEGER);",
        )
        .unwrap();
        Sessionizer::new(7, 30, conn).unwrap()
    }

    #[test]
    fn sessions_end_after_the_idle_time() {
        let mut s = sessionizer();
        let min = 60_000;
        let (v1, s1) = s.assign("shop", "10.0.0.1", "UA", 0).map(own).unwrap();
        let (_, s2) = s
            .assign("shop", "10.0.0.1", "UA", 29 * min)
            .map(own)
            .unwrap();
        let (_, s3) = s
            .assign("shop", "10.0.0.1", "UA", 59 * min)
            .map(own)
            .unwrap();
        let (_, s4) = s
            .assign("shop", "10.0.0.1", "UA", 90 * min)
            .map(own)
            .unwrap();
        assert_eq!(s1, s2);
        assert_eq!(s2, s3);
        assert_ne!(s3, s4);
        let (v2, _) = s.assign("shop", "10.0.0.1", "UA2", 0).map(own).unwrap();
        let (v3, _) = s.assign("blog", "10.0.0.1", "UA", 0).map(own).unwrap();
        assert_ne!(v1, v2);
        assert_ne!(v1, v3);
        assert_eq!(v1.len(), 16);
        let moved = s.take_moved();
        assert_eq!(moved.len(), 3);
        assert!(s.take_moved().is_empty());
    }

    /// Evicted visitors wait for the flush size or the file's end, then
    /// come out in key order; one that came back is listed twice, its
    /// earlier session first.
    #[test]
    fn evicted_visitors_are_held_and_handed_out_sorted() {
        let mut s = sessionizer();
        s.evicted_flush = 3;
        let hour = 3_600_000;
        let evict = |s: &mut Sessionizer| {
            s.since_evict = 1 << 16;
            s.evict_idle()
        };
        let (a, _) = s.assign("shop", "10.0.0.1", "a", 0).map(own).unwrap();
        s.assign("shop", "10.0.0.1", "b", 0).unwrap();
        s.assign("blog", "10.0.0.1", "a", 0).unwrap();
        s.assign("shop", "10.0.0.9", "z", 3 * hour).unwrap();
        // Three idle visitors reach the flush size at once.
        let out = evict(&mut s);
        let keys: Vec<i64> = out.iter().map(|v| v.visitor as i64).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(keys.len(), 3);
        // One comes back and leaves again: held, below the flush size.
        s.assign("shop", "10.0.0.1", "a", 4 * hour).unwrap();
        s.assign("shop", "10.0.0.9", "z", 7 * hour).unwrap();
        assert!(evict(&mut s).is_empty());
        s.assign("shop", "10.0.0.1", "a", 8 * hour).unwrap();
        let moved = s.take_moved();
        let starts: Vec<i64> = moved
            .iter()
            .filter(|v| v.visitor == u64::from_str_radix(&a, 16).unwrap())
            .map(|v| v.started_ts)
            .collect();
        assert_eq!(starts, [4 * hour, 8 * hour]);
        assert_eq!(moved.len(), 3);
        assert!(s.take_moved().is_empty());
    }

    #[test]
    fn hex_as_format_writes_it() {
        for (value, width) in [
            (0u128, 0),
            (0, 32),
            (255, 0),
            (255, 4),
            (u128::MAX, 32),
            (1 << 100, 0),
        ] {
            let mut out = String::new();
            push_hex(&mut out, value, width);
            assert_eq!(out, format!("{value:0width$x}"));
        }
    }

    fn own((a, b): (&str, &str)) -> (String, String) {
        (a.to_string(), b.to_string())
    }
}
