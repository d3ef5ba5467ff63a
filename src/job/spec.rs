//! How a job uses the store and the locks, said once per binary.

use crate::store::OpenMode;

/// What a job may do to the store: only `ingest` creates one (a mistyped
/// `--db` elsewhere is an error naming it, not a new empty store), and only
/// jobs that write data upgrade one (a monitoring probe never starts a
/// migration that its timeout would kill halfway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreUse {
    /// Create the store when missing, upgrade it when older.
    Creates,
    /// The store must exist; an older one is upgraded.
    Writes,
    /// The store must exist and be current; it is never upgraded.
    Reads,
    /// The job has no store (generate-events).
    Unused,
}

/// How a job treats the store around its run.
#[derive(Debug, Clone, Copy)]
pub struct JobSpec {
    pub(crate) name: &'static str,
    pub(crate) store: StoreUse,
    /// When false, the run leaves no run-log row (a dry run changes nothing).
    pub(crate) logs_run: bool,
    /// The run changes the store's zone to its own (`backfill --rezone`),
    /// so a different zone is not refused.
    pub(crate) rezone: bool,
    /// The run holds [`lock::KEYS_LOCK`] (ingest: retention must not delete
    /// the sessions and visitors it keeps in memory).
    pub(crate) holds_keys: bool,
}

impl JobSpec {
    /// A job that writes data into an existing store.
    pub const fn new(name: &'static str) -> JobSpec {
        JobSpec {
            name,
            store: StoreUse::Writes,
            logs_run: true,
            rezone: false,
            holds_keys: false,
        }
    }

    /// A job that uses no store and leaves no run-log row.
    pub const fn without_store(name: &'static str) -> JobSpec {
        JobSpec {
            store: StoreUse::Unused,
            logs_run: false,
            ..JobSpec::new(name)
        }
    }

    /// This run changes the store's zone on purpose.
    pub const fn rezoning(self) -> JobSpec {
        JobSpec {
            rezone: true,
            ..self
        }
    }

    /// The job that brings data in: it may create the store.
    pub const fn creating(name: &'static str) -> JobSpec {
        JobSpec {
            store: StoreUse::Creates,
            holds_keys: true,
            ..JobSpec::new(name)
        }
    }

    /// A job that only reads the data (it still logs its run).
    pub const fn reading(name: &'static str) -> JobSpec {
        JobSpec {
            store: StoreUse::Reads,
            ..JobSpec::new(name)
        }
    }

    /// A run that must not touch the store (a dry run).
    pub const fn read_only(name: &'static str) -> JobSpec {
        JobSpec {
            store: StoreUse::Reads,
            logs_run: false,
            ..JobSpec::new(name)
        }
    }

    pub(super) fn open_mode(self) -> OpenMode {
        match self.store {
            StoreUse::Creates => OpenMode::Create,
            StoreUse::Writes => OpenMode::Upgrade,
            StoreUse::Reads | StoreUse::Unused => OpenMode::Current,
        }
    }
}

/// The jobs an installation runs on a schedule, with the default allowed
/// age of their last success in hours. The contract fixes aggregate (36),
/// sampling-guard and snapshot (30) and export-metrics (8 days); the others
/// allow a missed run or two of their usual cadence. `backfill` is run by
/// hand and `health-check` is the one asking, so neither is here; `report`
/// is optional. health-check checks them; the report shows their runs.
pub(crate) const SCHEDULE: &[(&str, f64)] = &[
    ("ingest", 2.0),
    ("aggregate", 36.0),
    ("sampling-guard", 30.0),
    ("snapshot", 30.0),
    ("export-metrics", 8.0 * 24.0),
    ("cleanup-sessions", 1.0),
    ("retention", 8.0 * 24.0),
    ("trending", 3.0),
];
