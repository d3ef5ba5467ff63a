//! `[report]` and `[report.smtp]`: where `report --mail-to` sends the page.

use serde::Deserialize;

/// `[report]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ReportConfig {
    /// Mail every page to this address (like `--mail-to`).
    pub(crate) mail_to: Option<String>,
    /// The sender; default `cronlytics@<host name>`.
    pub(crate) from: Option<String>,
    /// The sendmail program; default the first `sendmail` on PATH, else
    /// `/usr/sbin/sendmail`.
    pub(crate) sendmail: Option<String>,
    /// Days in the charts (default 30; 90 for a month's page).
    pub(crate) days: Option<i64>,
    /// Send through this SMTP server instead of sendmail.
    pub(crate) smtp: Option<SmtpConfig>,
}

/// How to reach the SMTP server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SmtpTls {
    /// STARTTLS on the submission port (587), required.
    #[default]
    Starttls,
    /// TLS from the first byte (465).
    Tls,
    /// No encryption: a relay on localhost only.
    None,
}

/// `[report.smtp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmtpConfig {
    pub(crate) host: String,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    pub(crate) port: Option<u16>,
    #[serde(default)]
    pub(crate) tls: SmtpTls,
    pub(crate) user: Option<String>,
    /// The environment variable holding the password (never the password
    /// itself in the file); default `CRONLYTICS_SMTP_PASSWORD`.
    pub(crate) password_env: Option<String>,
}
