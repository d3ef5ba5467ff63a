//! The errors that decide how a run ends, shared by every layer (the store
//! raises usage errors too, and the job runner reads them): a low module
//! that imports nothing of the crate.

/// An error in what the user asked (a bad flag, an unknown site): exit 2 at
/// once, never retried, no alert.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`].
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// Writing the job's data to stdout failed.
#[derive(Debug)]
pub(crate) struct StdoutError(pub std::io::Error);

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot write to stdout ({}): check where the output is redirected",
            self.0
        )
    }
}

impl std::error::Error for StdoutError {}

/// A passing failure of a remote engine (a refused connection, a timeout,
/// a shard down): retried, then alerted.
#[derive(Debug)]
pub(crate) struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}
