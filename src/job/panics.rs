//! A panic in a job's work is a failed run like any other: the runner
//! catches it, the open transaction rolls back as its connection is dropped
//! during unwinding, the run-log row says `failed`, the alert runs and the
//! job exits 2 — never exit 101 with a row left `running`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

/// Where and why the last panic happened, as the panic hook saw it.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// A job's work panicked: a bug, never retried.
#[derive(Debug)]
pub(crate) struct Panicked(pub String);

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the job crashed ({}); nothing of the interrupted step was kept: this is a bug, please report it with this line",
            self.0
        )
    }
}

impl std::error::Error for Panicked {}

/// Run `work`, turning a panic into a [`Panicked`] error. The default hook's
/// multi-line report is replaced by a record of the message and location,
/// so stderr gets the runner's one line; `RUST_BACKTRACE` still works.
pub(crate) fn catch<T>(work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    install_hook();
    match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let recorded = LAST_PANIC.lock().ok().and_then(|mut p| p.take());
            let text = recorded.unwrap_or_else(|| payload_text(payload.as_ref()));
            Err(anyhow::Error::new(Panicked(text)))
        }
    }
}

/// The text of a panic payload (`&str` or `String`, as `panic!` makes).
pub(crate) fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("unnamed");
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let text = format!(
                "thread '{name}' panicked{location}: {}",
                payload_text(info.payload())
            );
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = Some(text);
            }
            if std::env::var_os("RUST_BACKTRACE").is_some() {
                default(info);
            }
        }));
    });
}
