//! Outgoing mails (codes and security notices) through a bounded queue (a full one is a 503 before anything changed)
//! and a background sender that retries with backoff; over SMTP, or to the log in development.

mod config;
mod message;
mod queue;
mod transport;

pub use config::{MailBackend, MailConfig, SmtpPassword, SmtpTls};
pub use message::{Mail, MailKind, Notice, NoticeKind, masked_address};
pub use queue::{MailSlot, MailStats, Mailer, MailerSettings, PrepareMail};
pub use transport::{LogTransport, MailTransport, SendError, SendFuture, SmtpTransport};

use std::sync::Arc;

pub fn transport_from_config(config: &MailConfig) -> anyhow::Result<Arc<dyn MailTransport>> {
    Ok(match config.backend {
        MailBackend::Log => {
            tracing::warn!(
                "mail backend is `log`: mails are written to this log, not sent \
                 (set KITCHEN_API_MAIL_BACKEND=smtp in production)"
            );
            Arc::new(LogTransport)
        }
        MailBackend::Smtp => Arc::new(SmtpTransport::new(config)?),
    })
}
