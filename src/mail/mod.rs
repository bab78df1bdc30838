//! Outgoing mail: the code mails of the account lifecycle. Handlers never wait for a mail
//! server. They reserve a place in a bounded in-memory queue first (a full queue is a clear
//! 503 before anything has changed), then hand the mail over; a background task sends it,
//! retrying transient failures with exponential backoff, and logs an ERROR, never the code,
//! when it gives up. On shutdown the queue gets a grace period to drain.
//!
//! Two transports: `smtp` (lettre, with STARTTLS, implicit TLS or plain text) and `log`, the
//! default for a developer's machine, which writes each mail to the log instead of sending it.

mod config;
mod message;
mod queue;
mod transport;

pub use config::{MailBackend, MailConfig, SmtpPassword, SmtpTls};
pub use message::Mail;
pub use queue::{MailSlot, MailStats, Mailer, MailerSettings, PrepareMail};
pub use transport::{LogTransport, MailTransport, SendError, SendFuture, SmtpTransport};

use std::sync::Arc;

/// The transport the settings ask for.
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
