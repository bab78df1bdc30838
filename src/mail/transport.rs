//! How a mail leaves: written to the log, or sent over SMTP; a trait so tests can capture.

use std::future::Future;
use std::pin::Pin;

use anyhow::Context;
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Mail, MailConfig, SmtpTls};
use crate::domain::Email;

/// Why a mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another try later (connection refused, timeout, a 4xx reply).
    #[error("temporary failure: {0:#}")]
    Transient(anyhow::Error),
    /// Will fail the same way again (an address the server refuses, a 5xx reply).
    #[error("permanent failure: {0:#}")]
    Permanent(anyhow::Error),
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Something that can deliver a [`Mail`].
pub trait MailTransport: Send + Sync + 'static {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a>;

    /// Whether a successful [`MailTransport::send`] means the mail left, so the log may say so.
    fn sends_mail(&self) -> bool {
        true
    }
}

/// The development transport: one INFO line per mail, a code mail's code included; nothing is
/// sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogTransport;

impl MailTransport for LogTransport {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(
                to = mail.to(),
                kind = mail.kind().as_str(),
                code = mail.code().map(|c| c.expose()),
                "mail not sent (mail backend `log`): {}",
                mail.subject()
            );
            Ok(())
        })
    }

    fn sends_mail(&self) -> bool {
        false
    }
}

/// Sends through an SMTP server (lettre, pooled connections).
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpTransport {
    /// Builds the transport; connects only when the first mail goes out.
    pub fn new(config: &MailConfig) -> anyhow::Result<Self> {
        type Smtp = AsyncSmtpTransport<Tokio1Executor>;
        let host = config.smtp_host.as_str();
        let mut builder = match config.smtp_tls {
            SmtpTls::None => Smtp::builder_dangerous(host),
            SmtpTls::Starttls => Smtp::starttls_relay(host).context("KITCHEN_API_SMTP_HOST")?,
            SmtpTls::Tls => Smtp::relay(host).context("KITCHEN_API_SMTP_HOST")?,
        }
        .port(config.smtp_port())
        .timeout(Some(config.smtp_timeout()));
        if let (Some(user), Some(password)) = (&config.smtp_username, &config.smtp_password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let from = config.sender().context("KITCHEN_API_MAIL_FROM")?;
        Ok(Self {
            inner: builder.build(),
            from,
        })
    }

    fn message(&self, mail: &Mail) -> Result<Message, SendError> {
        let permanent = |e: anyhow::Error| SendError::Permanent(e);
        // The domain in Punycode: then no mail server needs SMTPUTF8 to take the address.
        let to = Email::parse_existing(mail.to())
            .map_or_else(|_| mail.to().to_owned(), |e| e.to_ascii());
        let to: Mailbox = to
            .parse()
            .context("recipient address refused by the mail library")
            .map_err(permanent)?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject())
            .multipart(MultiPart::alternative_plain_html(
                mail.text().to_owned(),
                mail.html().to_owned(),
            ))
            .context("cannot build the message")
            .map_err(permanent)
    }
}

impl MailTransport for SmtpTransport {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a> {
        Box::pin(async move {
            let message = self.message(mail)?;
            match self.inner.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.into())),
                Err(e) => Err(SendError::Transient(e.into())),
            }
        })
    }
}
