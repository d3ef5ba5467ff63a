//! Talk on stderr: one timestamped line per event, suited to `>> log 2>&1`.
//!
//! The timestamp is the real clock (not `--now`): a log line records when
//! something happened on this machine, even during a replay.

use std::io::{IsTerminal, Write};

use chrono::{SecondsFormat, Utc};

/// How much a job says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verbosity {
    /// Warnings and errors only (`--quiet`).
    Quiet,
    Normal,
    /// Also details (`--verbose`).
    Verbose,
}

/// The logger of one job run.
#[derive(Debug, Clone)]
pub(crate) struct Logger {
    job: String,
    verbosity: Verbosity,
}

impl Logger {
    pub(crate) fn new(job: &str, quiet: bool, verbose: bool) -> Logger {
        let verbosity = if quiet {
            Verbosity::Quiet
        } else if verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        Logger {
            job: job.to_string(),
            verbosity,
        }
    }

    fn line(&self, level: &str, message: &str) {
        let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut err = std::io::stderr().lock();
        // One write per line so that concurrent jobs appending to one log
        // file do not interleave within a line.
        let text = format!("{ts} {} {level}: {message}\n", self.job);
        let _ = err.write_all(text.as_bytes());
    }

    /// Progress and results.
    pub(crate) fn info(&self, message: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            self.line("info", message.as_ref());
        }
    }

    /// Details only wanted with `--verbose`.
    pub(crate) fn debug(&self, message: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Verbose {
            self.line("debug", message.as_ref());
        }
    }

    /// Something the user should look at; always shown.
    pub(crate) fn warn(&self, message: impl AsRef<str>) {
        self.line("warning", message.as_ref());
    }

    /// A failure; always shown.
    pub(crate) fn error(&self, message: impl AsRef<str>) {
        self.line("error", message.as_ref());
    }

    /// Whether progress bars may be drawn: stderr is a terminal and the user
    /// did not ask for quiet.
    pub(crate) fn show_progress(&self) -> bool {
        self.verbosity >= Verbosity::Normal && std::io::stderr().is_terminal()
    }
}
