//! Mailing the page: a multipart/alternative message (text/plain and
//! text/html) built with lettre, handed to `sendmail -t` as cron's own
//! mail goes, or sent through `[report.smtp]` (its password from the
//! environment, never from the file).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};

use crate::settings::report::{ReportConfig, SmtpConfig, SmtpTls};

/// Who the page goes to and how.
pub(crate) struct Envelope {
    pub(crate) to: String,
    to_box: Mailbox,
    from: Mailbox,
    via: Via,
}

enum Via {
    Sendmail(PathBuf),
    Smtp(SmtpConfig),
}

/// The first `sendmail` on PATH, else /usr/sbin/sendmail.
fn find_sendmail() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("sendmail"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/sendmail"))
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

impl Envelope {
    /// Check the addresses before any work (a bad one is a usage error).
    pub(crate) fn new(to: &str, config: &ReportConfig) -> Result<Envelope> {
        let to_box: Mailbox = to
            .parse()
            .map_err(|e| anyhow!("--mail-to {to:?} is not a mail address ({e})"))?;
        let from = config
            .from
            .clone()
            .unwrap_or_else(|| format!("cronlytics@{}", host_name()));
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow!("[report] from {from:?} is not a mail address ({e})"))?;
        let via = match &config.smtp {
            Some(smtp) => Via::Smtp(smtp.clone()),
            None => Via::Sendmail(
                config
                    .sendmail
                    .as_ref()
                    .map(PathBuf::from)
                    .unwrap_or_else(find_sendmail),
            ),
        };
        Ok(Envelope {
            to: to.to_string(),
            to_box,
            from,
            via,
        })
    }

    /// Send the page; says how it went ("through /usr/sbin/sendmail").
    pub(crate) fn send(&self, subject: &str, text: String, html: String) -> Result<String> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(self.to_box.clone())
            .subject(format!("cronlytics: {subject}"))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .context("cannot build the message")?;
        match &self.via {
            Via::Sendmail(program) => {
                sendmail(program, &message.formatted())?;
                Ok(format!("through {} -t", program.display()))
            }
            Via::Smtp(smtp) => {
                let transport = smtp_transport(smtp)?;
                transport
                    .send(&message)
                    .with_context(|| format!("the SMTP server {} refused it", smtp.host))?;
                Ok(format!("through {}", smtp.host))
            }
        }
    }
}

/// `sendmail -t` with the message on stdin: the recipients come from its
/// headers, as cron's own mail does.
fn sendmail(program: &PathBuf, message: &[u8]) -> Result<()> {
    let mut child = Command::new(program)
        .arg("-t")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "cannot run {}: install a sendmail (postfix, msmtp-mta, nullmailer) or set [report] sendmail or [report.smtp]",
                program.display()
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(message)
            .with_context(|| format!("cannot hand the message to {}", program.display()))?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{} -t exited with {}: {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn smtp_transport(smtp: &SmtpConfig) -> Result<SmtpTransport> {
    let builder = match smtp.tls {
        SmtpTls::Starttls => {
            SmtpTransport::starttls_relay(&smtp.host)?.port(smtp.port.unwrap_or(587))
        }
        SmtpTls::Tls => SmtpTransport::relay(&smtp.host)?.port(smtp.port.unwrap_or(465)),
        SmtpTls::None => SmtpTransport::builder_dangerous(&smtp.host).port(smtp.port.unwrap_or(25)),
    };
    let builder = builder.timeout(Some(std::time::Duration::from_secs(30)));
    let builder = match &smtp.user {
        Some(user) => {
            let var = smtp
                .password_env
                .clone()
                .unwrap_or_else(|| "CRONLYTICS_SMTP_PASSWORD".to_string());
            let password = std::env::var(&var).map_err(|_| {
                anyhow!("[report.smtp] user is set but the environment has no {var} (the password)")
            })?;
            builder.credentials(Credentials::new(user.clone(), password))
        }
        None => builder,
    };
    Ok(builder.build())
}
