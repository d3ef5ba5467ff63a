//! The alert command: run when a job could not do its work, with a JSON
//! description of the failure on its stdin.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// What the alert command reads on stdin.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Alert {
    pub(crate) job: String,
    pub(crate) status: String,
    pub(crate) exit_code: i32,
    pub(crate) attempts: u32,
    pub(crate) error: String,
    pub(crate) started_at: String,
    pub(crate) ended_at: String,
    pub(crate) db: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
}

/// Run `command` with `sh -c`, the alert as JSON on stdin, killed after
/// `timeout`. The job's environment is passed on, plus `CRONLYTICS_JOB`.
pub(crate) fn send(command: &str, alert: &Alert, timeout: Duration) -> Result<()> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("CRONLYTICS_JOB", &alert.job)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start the alert command '{command}'"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let body = serde_json::to_string(alert)?;
        // A command that ignores its stdin closes the pipe early; that is
        // its right, not a failure of the alert.
        let _ = stdin.write_all(body.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!("the alert command '{command}' failed ({status})");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the alert command '{command}' did not finish within {} s and was killed",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// This machine's name, for the alert.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}
