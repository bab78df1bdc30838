//! The mail settings, flattened into [`crate::config::Config`].

use std::time::Duration;

use clap::{Args, ValueEnum};
use lettre::message::Mailbox;

use super::MailerSettings;
use crate::config::ConfigError;

pub mod defaults {
    pub const FROM: &str = "Rayvers Kitchen <no-reply@localhost>";
    pub const SERVICE_NAME: &str = "Rayvers Kitchen";
    pub const SMTP_HOST: &str = "localhost";
    pub const SMTP_TIMEOUT_SECS: u64 = 10;
    pub const QUEUE_CAPACITY: usize = 1000;
    pub const CONCURRENCY: usize = 4;
    pub const MAX_ATTEMPTS: u32 = 5;
    pub const RETRY_BASE_MS: u64 = 1000;
}

/// Where mails go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MailBackend {
    /// Write each mail (recipient and code) to the log; send nothing. For development.
    Log,
    /// Send through the SMTP server of the `KITCHEN_API_SMTP_*` settings.
    Smtp,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network only). Default port 25.
    None,
    /// Upgrade with STARTTLS, which must succeed. Default port 587.
    Starttls,
    /// TLS from the first byte ("SMTPS"). Default port 465.
    Tls,
}

/// The SMTP password. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(String);

impl SmtpPassword {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SmtpPassword {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpPassword(<redacted>)")
    }
}

/// Every mail setting.
#[derive(Debug, Clone, Args)]
pub struct MailConfig {
    /// Where mails go: `log` (written to the log, not sent) or `smtp`.
    #[arg(long = "mail-backend", global = true, env = "KITCHEN_API_MAIL_BACKEND", value_enum, default_value_t = MailBackend::Log)]
    pub backend: MailBackend,

    /// Sender of every mail, e.g. `Rayvers Kitchen <no-reply@example.com>`.
    #[arg(long = "mail-from", global = true, env = "KITCHEN_API_MAIL_FROM", default_value = defaults::FROM)]
    pub from: String,

    /// The product's name, as every mail says it (the sender's display name is in
    /// `KITCHEN_API_MAIL_FROM`).
    #[arg(long = "service-name", global = true, env = "KITCHEN_API_SERVICE_NAME", default_value = defaults::SERVICE_NAME)]
    pub service_name: String,

    /// SMTP server host name.
    #[arg(long, global = true, env = "KITCHEN_API_SMTP_HOST", default_value = defaults::SMTP_HOST)]
    pub smtp_host: String,

    /// SMTP server port. Default: 25, 587 or 465 for TLS mode none, starttls or tls.
    #[arg(long, global = true, env = "KITCHEN_API_SMTP_PORT")]
    pub smtp_port: Option<u16>,

    /// SMTP connection security: `none`, `starttls` or `tls`.
    #[arg(long, global = true, env = "KITCHEN_API_SMTP_TLS", value_enum, default_value_t = SmtpTls::Starttls)]
    pub smtp_tls: SmtpTls,

    /// SMTP user name (with the password; both or neither).
    #[arg(long, global = true, env = "KITCHEN_API_SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    /// SMTP password: environment or settings file only. Never logged or shown.
    #[arg(long, global = true, env = "KITCHEN_API_SMTP_PASSWORD", hide = true)]
    pub smtp_password: Option<SmtpPassword>,

    /// Seconds an SMTP conversation may take before it counts as a failed try.
    #[arg(long, global = true, env = "KITCHEN_API_SMTP_TIMEOUT_SECS", default_value_t = defaults::SMTP_TIMEOUT_SECS)]
    pub smtp_timeout_secs: u64,

    /// Mails waiting to be sent, at most; when full, requests that mail answer 503.
    #[arg(long = "mail-queue-capacity", global = true, env = "KITCHEN_API_MAIL_QUEUE_CAPACITY", default_value_t = defaults::QUEUE_CAPACITY)]
    pub queue_capacity: usize,

    /// Mails being sent at once.
    #[arg(long = "mail-concurrency", global = true, env = "KITCHEN_API_MAIL_CONCURRENCY", default_value_t = defaults::CONCURRENCY)]
    pub concurrency: usize,

    /// Tries per mail before giving up (with an ERROR in the log).
    #[arg(long = "mail-max-attempts", global = true, env = "KITCHEN_API_MAIL_MAX_ATTEMPTS", default_value_t = defaults::MAX_ATTEMPTS)]
    pub max_attempts: u32,

    /// Wait before the first retry, in milliseconds; doubled for each further retry.
    #[arg(long = "mail-retry-base-ms", global = true, env = "KITCHEN_API_MAIL_RETRY_BASE_MS", default_value_t = defaults::RETRY_BASE_MS)]
    pub retry_base_ms: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            backend: MailBackend::Log,
            from: defaults::FROM.to_owned(),
            service_name: defaults::SERVICE_NAME.to_owned(),
            smtp_host: defaults::SMTP_HOST.to_owned(),
            smtp_port: None,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_timeout_secs: defaults::SMTP_TIMEOUT_SECS,
            queue_capacity: defaults::QUEUE_CAPACITY,
            concurrency: defaults::CONCURRENCY,
            max_attempts: defaults::MAX_ATTEMPTS,
            retry_base_ms: defaults::RETRY_BASE_MS,
        }
    }
}

impl MailConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting, reason: &str| {
            Err(ConfigError {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.sender().is_err() {
            return bad("KITCHEN_API_MAIL_FROM", "is not a valid mailbox");
        }
        if self.service_name.trim().is_empty() {
            return bad("KITCHEN_API_SERVICE_NAME", "must not be empty");
        }
        if self.smtp_host.trim().is_empty() {
            return bad("KITCHEN_API_SMTP_HOST", "must not be empty");
        }
        if self.smtp_username.is_some() != self.smtp_password.is_some() {
            return bad(
                "KITCHEN_API_SMTP_USERNAME",
                "and KITCHEN_API_SMTP_PASSWORD must be set together",
            );
        }
        if self.queue_capacity == 0 {
            return bad("KITCHEN_API_MAIL_QUEUE_CAPACITY", "must be at least 1");
        }
        if self.concurrency == 0 {
            return bad("KITCHEN_API_MAIL_CONCURRENCY", "must be at least 1");
        }
        if self.max_attempts == 0 {
            return bad("KITCHEN_API_MAIL_MAX_ATTEMPTS", "must be at least 1");
        }
        Ok(())
    }

    pub fn sender(&self) -> Result<Mailbox, lettre::address::AddressError> {
        self.from.parse()
    }

    /// The SMTP port, by TLS mode unless set.
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.smtp_tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }

    pub fn smtp_timeout(&self) -> Duration {
        Duration::from_secs(self.smtp_timeout_secs)
    }

    pub fn mailer_settings(&self) -> MailerSettings {
        MailerSettings {
            capacity: self.queue_capacity,
            concurrency: self.concurrency,
            max_attempts: self.max_attempts,
            retry_base: Duration::from_millis(self.retry_base_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MailConfig {
        MailConfig::default()
    }

    #[test]
    fn the_defaults_log_mail_and_are_valid() {
        let c = config();
        assert_eq!(c.backend, MailBackend::Log);
        assert!(c.validate().is_ok());
        assert_eq!(c.smtp_port(), 587);
    }

    #[test]
    fn the_port_follows_the_tls_mode_unless_set() {
        let mut c = config();
        for (tls, port) in [(SmtpTls::None, 25), (SmtpTls::Tls, 465)] {
            c.smtp_tls = tls;
            assert_eq!(c.smtp_port(), port);
        }
        c.smtp_port = Some(2525);
        assert_eq!(c.smtp_port(), 2525);
    }

    #[test]
    fn debug_never_shows_the_smtp_password() {
        let mut c = config();
        c.smtp_username = Some("mailer".to_owned());
        c.smtp_password = Some("hunter2-smtp".parse().unwrap_or_else(|e| match e {}));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2-smtp"), "{shown}");
        assert!(shown.contains("mailer"));
    }

    #[test]
    fn bad_mail_settings_are_named() {
        type Spoil = fn(&mut MailConfig);
        let cases: [(Spoil, &str); 5] = [
            (
                |c| c.from = "not a mailbox".to_owned(),
                "KITCHEN_API_MAIL_FROM",
            ),
            (|c| c.smtp_host = " ".to_owned(), "KITCHEN_API_SMTP_HOST"),
            (
                |c| c.smtp_username = Some("u".to_owned()),
                "KITCHEN_API_SMTP_USERNAME",
            ),
            (|c| c.queue_capacity = 0, "KITCHEN_API_MAIL_QUEUE_CAPACITY"),
            (|c| c.max_attempts = 0, "KITCHEN_API_MAIL_MAX_ATTEMPTS"),
        ];
        for (spoil, setting) in cases {
            let mut c = config();
            spoil(&mut c);
            assert_eq!(c.validate().map_err(|e| e.setting), Err(setting));
        }
    }
}
