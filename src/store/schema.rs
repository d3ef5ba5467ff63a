//! The store's tables, as versioned migrations. ARCHITECTURE.md explains why
//! they are shaped so; in short: events are clustered by time with integer
//! references, so that one day is one sequential range of the table.

/// `PRAGMA application_id` of a cronlytics store ("CRLY").
pub const APPLICATION_ID: i64 = 0x4352_4c59;

/// Migrations in order; `MIGRATIONS[i]` brings a store from version `i` to
/// `i + 1`. Never edit a released migration: add a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: the foundation.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('next_seq', 1);
-- The highest session / visitor id whose entry in session_keys /
-- visitor_keys is written (see below).
INSERT INTO meta (key, value) VALUES ('session_keys_upto', 0);
INSERT INTO meta (key, value) VALUES ('visitor_keys_upto', 0);

CREATE TABLE sites (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    first_ts INTEGER NOT NULL,
    last_ts  INTEGER NOT NULL
);

-- Paths, referrer hosts and custom event names, each stored once.
CREATE TABLE labels (
    id    INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);

-- Visitor and session keys are found through a 64-bit FNV-1a hash of the
-- key (compared in full after the lookup): an integer index is smaller and
-- faster to search and to fill than one over the text. The hash index is a
-- separate table (visitor_keys, session_keys) that ingest fills in large
-- sorted flushes, not per batch: its keys arrive in random order, and
-- per-batch inserts rewrote pages all over it at every commit. Rows with an
-- id above meta.*_keys_upto have no key entry yet; every ingest adds them
-- first.
CREATE TABLE visitors (
    id       INTEGER PRIMARY KEY,
    site_id  INTEGER NOT NULL,
    key_hash INTEGER NOT NULL,
    key      TEXT NOT NULL,
    first_ts INTEGER NOT NULL
);
CREATE TABLE visitor_keys (
    site_id  INTEGER NOT NULL,
    key_hash INTEGER NOT NULL,
    id       INTEGER NOT NULL,
    PRIMARY KEY (site_id, key_hash, id)
) WITHOUT ROWID;
CREATE TRIGGER visitor_keys_gone AFTER DELETE ON visitors BEGIN
    DELETE FROM visitor_keys
    WHERE site_id = old.site_id AND key_hash = old.key_hash AND id = old.id;
END;

-- A session's first and last activity; ended_ts is set by cleanup-sessions.
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL,
    key_hash   INTEGER NOT NULL,
    key        TEXT NOT NULL,
    visitor_id INTEGER NOT NULL,
    started_ts INTEGER NOT NULL,
    last_ts    INTEGER NOT NULL,
    ended_ts   INTEGER
);
CREATE TABLE session_keys (
    site_id  INTEGER NOT NULL,
    key_hash INTEGER NOT NULL,
    id       INTEGER NOT NULL,
    PRIMARY KEY (site_id, key_hash, id)
) WITHOUT ROWID;
CREATE TRIGGER session_keys_gone AFTER DELETE ON sessions BEGIN
    DELETE FROM session_keys
    WHERE site_id = old.site_id AND key_hash = old.key_hash AND id = old.id;
END;
CREATE INDEX sessions_open ON sessions (last_ts) WHERE ended_ts IS NULL;

-- Clustered by time: a day of all sites is one range of the primary key.
-- kind: 0 pageview, 1 event, 2 order. label_id: the path of a pageview or
-- the name of a custom event. extra: unknown input fields as a JSON object.
CREATE TABLE events (
    ts            INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    site_id       INTEGER NOT NULL,
    kind          INTEGER NOT NULL,
    session_id    INTEGER NOT NULL,
    visitor_id    INTEGER NOT NULL,
    label_id      INTEGER,
    referrer_id   INTEGER,
    revenue_cents INTEGER,
    extra         TEXT,
    PRIMARY KEY (ts, seq)
) WITHOUT ROWID;

-- Only events that carry an id pay for their dedupe key.
CREATE TABLE event_ids (
    site_id INTEGER NOT NULL,
    id      TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;

CREATE TABLE daily_rollups (
    site_id             INTEGER NOT NULL,
    date                TEXT NOT NULL,
    pageviews           INTEGER NOT NULL,
    custom_events       INTEGER NOT NULL,
    orders              INTEGER NOT NULL,
    revenue_cents       INTEGER NOT NULL,
    unique_visitors     INTEGER NOT NULL,
    unique_sessions     INTEGER NOT NULL,
    converting_sessions INTEGER NOT NULL,
    top_pages           TEXT NOT NULL,
    top_referrers       TEXT NOT NULL,
    top_events          TEXT NOT NULL,
    events              INTEGER NOT NULL,
    complete            INTEGER NOT NULL,
    tz                  TEXT NOT NULL,
    rolled_at           INTEGER NOT NULL,
    PRIMARY KEY (site_id, date)
) WITHOUT ROWID;
CREATE INDEX daily_rollups_date ON daily_rollups (date);

-- Days that received events after they were rolled up. mark is the event
-- sequence number of the newest marking batch, so that an aggregate clears
-- only the marks it has seen.
CREATE TABLE dirty_days (
    site_id INTEGER NOT NULL,
    date    TEXT NOT NULL,
    mark    INTEGER NOT NULL,
    PRIMARY KEY (site_id, date)
) WITHOUT ROWID;

CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY,
    job         TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status      TEXT NOT NULL,
    exit_code   INTEGER NOT NULL,
    records     INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX job_runs_job ON job_runs (job, started_at);
"#,
    // 2: the maintenance jobs.
    r#"
-- trending: the current score (0..1000) of each page (kind 0) and custom
-- event name (kind 1) of a site; rewritten only where it moved by more than
-- the configured threshold. A row's score is the "last run" that the next
-- run's change is measured against.
CREATE TABLE trending_scores (
    site_id    INTEGER NOT NULL,
    kind       INTEGER NOT NULL,
    label_id   INTEGER NOT NULL,
    score      REAL NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (site_id, kind, label_id)
) WITHOUT ROWID;

-- The duration of every closed session (cleanup-sessions sets ended_ts to
-- the last activity), in whole seconds.
CREATE VIEW session_durations AS
SELECT id, site_id, visitor_id, started_ts, ended_ts,
       (ended_ts - started_ts) / 1000 AS duration_s
FROM sessions WHERE ended_ts IS NOT NULL;
"#,
    // 3: events keyed by time in the rowid; sessions and visitors without
    // their key hash.
    r#"
-- The key entries of deleted sessions and visitors are deleted by the code
-- that deletes them (retention), which computes the key hash: the rows no
-- longer store it (the sorted key flush computes it from the key too).
DROP TRIGGER visitor_keys_gone;
DROP TRIGGER session_keys_gone;
ALTER TABLE visitors DROP COLUMN key_hash;
ALTER TABLE sessions DROP COLUMN key_hash;

-- id = ts * 16384 + n, n numbering the events of one millisecond (all
-- sites) in the order they were stored: a day is one range of the rowid,
-- appends fill pages completely (a WITHOUT ROWID table leaves each about
-- 12% empty), and the key costs one 8-byte varint instead of ts and seq.
-- batch is the sequence number (meta.next_seq) of the ingest batch that
-- stored the event: an aggregate knows from it which events its scan saw.
-- ts is computed from id and takes no room; queries on a time range use
-- id >= start * 16384 AND id < end * 16384, which is a rowid range.
CREATE TABLE events_by_time (
    id            INTEGER PRIMARY KEY,
    batch         INTEGER NOT NULL,
    site_id       INTEGER NOT NULL,
    kind          INTEGER NOT NULL,
    session_id    INTEGER NOT NULL,
    visitor_id    INTEGER NOT NULL,
    label_id      INTEGER,
    referrer_id   INTEGER,
    revenue_cents INTEGER,
    extra         TEXT,
    ts            INTEGER GENERATED ALWAYS AS (id >> 14) VIRTUAL
);
INSERT INTO events_by_time (id, batch, site_id, kind, session_id, visitor_id, label_id,
                            referrer_id, revenue_cents, extra)
SELECT ts * 16384 + row_number() OVER (PARTITION BY ts ORDER BY seq) - 1, seq, site_id, kind,
       session_id, visitor_id, label_id, referrer_id, revenue_cents, extra
FROM events ORDER BY ts, seq;
DROP TABLE events;
ALTER TABLE events_by_time RENAME TO events;
"#,
    // 4: the input files ingest has read to the end.
    r#"
-- Every input file read to its end, known by its content: a file given
-- again (left in incoming/, renamed, copied) is skipped, and one that grew
-- is read from where the last run stopped. A row is written in the same
-- transaction as the batch that holds the file's last event, so the store
-- never says a file is done while some of its events are not, nor the
-- reverse. Hashes are xxh3-128 as 32 hex digits.
-- fingerprint: the hash of the first `size` bytes (the whole file as read).
-- first_line:  the hash of its first line (at most 4096 bytes): finds the
--              rows that a file may repeat or continue.
-- head:        the hash of its first min(size, 4096) bytes: rules most of
--              those out without reading further.
-- lines:       line ends ('\n') in the first `size` bytes.
-- path, dev, inode, mtime_ms: where the file was when it was read, for
--              messages and for following a file across rotation later.
CREATE TABLE ingested_files (
    fingerprint  TEXT PRIMARY KEY,
    size         INTEGER NOT NULL,
    lines        INTEGER NOT NULL,
    first_line   TEXT NOT NULL,
    head         TEXT NOT NULL,
    path         TEXT NOT NULL,
    dev          INTEGER NOT NULL,
    inode        INTEGER NOT NULL,
    mtime_ms     INTEGER NOT NULL,
    format       TEXT NOT NULL,
    completed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ingested_files_first_line ON ingested_files (first_line, size);
"#,
    // 4 -> 5: access logs. Each log visitor's latest session, so that a
    // session continues across files and runs (written with the file
    // record of the input that moved it, see store/logs.rs); the path each
    // log input was given as, so that the next run finds it rotated.
    r#"
CREATE TABLE log_visitors (
    site       TEXT NOT NULL,
    visitor    TEXT NOT NULL,
    session    TEXT NOT NULL,
    started_ts INTEGER NOT NULL,
    last_ts    INTEGER NOT NULL,
    PRIMARY KEY (site, visitor)
) WITHOUT ROWID;
-- The dedupe key of an access-log line: its time, its site and 64 bits of
-- the hash of its content (numbered among identical lines of a file).
-- Keyed by time first, so that a log read in time order appends to it
-- (event_ids, keyed by site and a text id, takes random inserts).
CREATE TABLE line_ids (
    ts      INTEGER NOT NULL,
    site_id INTEGER NOT NULL,
    hash    INTEGER NOT NULL,
    PRIMARY KEY (ts, site_id, hash)
) WITHOUT ROWID;
CREATE INDEX ingested_files_path ON ingested_files (path, completed_at);
"#,
    // 5 -> 6: custom properties, gauges, and what is rolled up of them.
    // An event's props are one blob (store/props.rs: key and string value
    // as label ids, numbers and booleans inline), not JSON text; a gauge
    // (kind 3) keeps its level in `value`. The rollups of breakdowns, goals
    // and gauges are keyed like daily_rollups, then by their name: a day's
    // rows are replaced together with its daily rows.
    r#"
ALTER TABLE events ADD COLUMN props BLOB;
ALTER TABLE events ADD COLUMN value REAL;
CREATE TABLE breakdown_rollups (
    site_id         INTEGER NOT NULL,
    date            TEXT NOT NULL,
    breakdown       TEXT NOT NULL,
    value           TEXT NOT NULL,
    events          INTEGER NOT NULL,
    pageviews       INTEGER NOT NULL,
    custom_events   INTEGER NOT NULL,
    orders          INTEGER NOT NULL,
    revenue_cents   INTEGER NOT NULL,
    unique_visitors INTEGER NOT NULL,
    unique_sessions INTEGER NOT NULL,
    sums            TEXT NOT NULL,
    PRIMARY KEY (site_id, date, breakdown, value)
) WITHOUT ROWID;
CREATE INDEX breakdown_rollups_date ON breakdown_rollups (date);
CREATE TABLE goal_rollups (
    site_id       INTEGER NOT NULL,
    date          TEXT NOT NULL,
    goal          TEXT NOT NULL,
    conversions   INTEGER NOT NULL,
    events        INTEGER NOT NULL,
    sessions      INTEGER NOT NULL,
    revenue_cents INTEGER NOT NULL,
    PRIMARY KEY (site_id, date, goal)
) WITHOUT ROWID;
CREATE INDEX goal_rollups_date ON goal_rollups (date);
CREATE TABLE gauge_rollups (
    site_id INTEGER NOT NULL,
    date    TEXT NOT NULL,
    gauge   TEXT NOT NULL,
    last    REAL NOT NULL,
    min     REAL NOT NULL,
    max     REAL NOT NULL,
    samples INTEGER NOT NULL,
    PRIMARY KEY (site_id, date, gauge)
) WITHOUT ROWID;
CREATE INDEX gauge_rollups_date ON gauge_rollups (date);
"#,
    // 6 -> 7: log visitors keyed by their 64-bit hash (which covers the
    // site) as the rowid, their latest session by the time that names it.
    // The text keys took 73 bytes a row, and ingest rewrites most of the
    // table's pages each time it keeps a batch of them: 25-30 bytes now.
    // The old rows are converted (hex to integer in SQL), so sessions go
    // on across the upgrade.
    r#"
CREATE TABLE log_visitors_7 (
    visitor    INTEGER PRIMARY KEY,
    named      INTEGER NOT NULL,
    started_ts INTEGER NOT NULL,
    last_ts    INTEGER NOT NULL
);
INSERT OR REPLACE INTO log_visitors_7 (visitor, named, started_ts, last_ts)
SELECT (WITH RECURSIVE d(i, x) AS (
            SELECT 1, substr('0000000000000000' || visitor, -16, 16)
            UNION ALL SELECT i + 1, x FROM d WHERE i < 16)
        SELECT sum((instr('0123456789abcdef', substr(x, i, 1)) - 1) << (64 - 4 * i)) FROM d),
       (WITH RECURSIVE d(i, x) AS (
            SELECT 1, substr('0000000000000000' || substr(session, instr(session, '.') + 1), -16, 16)
            UNION ALL SELECT i + 1, x FROM d WHERE i < 16)
        SELECT sum((instr('0123456789abcdef', substr(x, i, 1)) - 1) << (64 - 4 * i)) FROM d),
       started_ts, last_ts
FROM log_visitors ORDER BY last_ts;
DROP TABLE log_visitors;
ALTER TABLE log_visitors_7 RENAME TO log_visitors;
"#,
    // 7 -> 8: an access-log line's dedupe hash kept in its event's row
    // (NULL for other events), no longer in line_ids: a line costs one
    // B-tree insert instead of two, and 9 bytes instead of 23. line_ids
    // keeps the lines stored before (their events cannot be told apart
    // within a second), read while it has any; retention empties it.
    r#"
ALTER TABLE events ADD COLUMN line INTEGER;
"#,
    // 8 -> 9: the open sessions found from a mark instead of the partial
    // index sessions_open, which every new session and every session's
    // new last activity rewrote (5-10% of a large ingest). Every session
    // below `open_sessions_from` is closed; cleanup-sessions walks the ids
    // from there and moves the mark up to the oldest still open; ingest
    // moves it down to a session it may reopen. Session ids grow with
    // time, so the walk covers the sessions since the oldest open one.
    r#"
INSERT INTO meta (key, value) VALUES ('open_sessions_from',
    coalesce((SELECT min(id) FROM sessions WHERE ended_ts IS NULL),
             (SELECT coalesce(max(id), 0) + 1 FROM sessions)));
DROP INDEX sessions_open;
"#,
    // 9 -> 10: session and visitor key entries in sorted runs outside the
    // file (store/keyruns/): each flush of a load's new keys inserted
    // them one by one into these indexes and rewrote most of their pages,
    // a quarter of a large load's time. The next ingest writes the runs
    // from the rows; `store_id` tells this store's runs from a copy's.
    r#"
DROP TABLE session_keys;
DROP TABLE visitor_keys;
DELETE FROM meta WHERE key IN ('session_keys_upto', 'visitor_keys_upto');
INSERT INTO meta (key, value) VALUES ('store_id', random());
"#,
    // 10 -> 11: props that repeat stored once, as a set (store/props.rs):
    // a label whose text is `props-set:` and the hex of their encoding;
    // the events' `props` hold its id, an integer where they held a blob.
    // Nothing is converted (every reader takes both), but a cronlytics
    // that knows only blobs would misread the integers: the version stops
    // it.
    r#"
SELECT 1;
"#,
];

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}
