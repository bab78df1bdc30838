//! Mail in tests: the [`Outbox`] transport that keeps every mail the server sends (and can be
//! told to refuse them or to hold them back), and the helpers that read a code out of a mail.

use std::sync::Mutex;
use std::time::Duration;

use kitchen_api::auth::CodePurpose;
use kitchen_api::mail::{Mail, MailKind, MailTransport, NoticeKind, SendError, SendFuture};
use reqwest::{Method, Response};
use serde_json::Value;
use tokio::sync::watch;

use crate::helpers::TestApp;

/// A mail as delivered.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub to: String,
    pub kind: MailKind,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A mail transport that keeps what it is given.
pub struct Outbox {
    sent: Mutex<Vec<SentMail>>,
    refuse_permanently: Mutex<bool>,
    tries: Mutex<usize>,
    /// While `false`, sends wait.
    open: watch::Sender<bool>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self {
            sent: Mutex::new(Vec::new()),
            refuse_permanently: Mutex::new(false),
            tries: Mutex::new(0),
            open: watch::channel(true).0,
        }
    }
}

impl Outbox {
    pub fn sent(&self) -> Vec<SentMail> {
        self.sent.lock().unwrap().clone()
    }

    /// Every send the server tried, successful or not.
    pub fn tries(&self) -> usize {
        *self.tries.lock().unwrap()
    }

    /// Every try fails as a mail server refusing the recipient would.
    pub fn refuse_permanently(&self) {
        *self.refuse_permanently.lock().unwrap() = true;
    }

    /// Sends wait until [`Outbox::release`].
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    pub fn release(&self) {
        self.open.send_replace(true);
    }
}

impl MailTransport for Outbox {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a> {
        Box::pin(async move {
            let mut open = self.open.subscribe();
            open.wait_for(|open| *open).await.ok();
            *self.tries.lock().unwrap() += 1;
            if *self.refuse_permanently.lock().unwrap() {
                return Err(SendError::Permanent(anyhow::anyhow!("550 no such user")));
            }
            self.sent.lock().unwrap().push(SentMail {
                to: mail.to().to_owned(),
                kind: mail.kind(),
                subject: mail.subject().to_owned(),
                text: mail.text().to_owned(),
                html: mail.html().to_owned(),
            });
            Ok(())
        })
    }
}

/// The first run of exactly six ASCII digits in `text`.
pub fn code_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if len == 6 {
            return Some(text[start..start + 6].to_owned());
        }
        start += len.max(1);
    }
    None
}

impl TestApp {
    /// Waits (never more than 10 s) until the mail queue has nothing left to do.
    pub async fn mail_settled(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.mailer.idle())
            .await
            .expect("the mail queue did not settle");
    }

    /// The code in the latest mail of `purpose` to `email`, once the queue has settled.
    /// (Mails go out in parallel: the latest to arrive is not always the latest sent.)
    pub async fn code_sent_to(&self, email: &str, purpose: CodePurpose) -> String {
        self.mail_settled().await;
        let mail = self
            .outbox
            .sent()
            .into_iter()
            .rev()
            .find(|m| m.to.eq_ignore_ascii_case(email) && m.kind == MailKind::Code(purpose))
            .unwrap_or_else(|| panic!("no {purpose:?} mail to {email}"));
        code_in(&mail.text).expect("no code in the mail")
    }

    /// Every security notice of `kind` sent to `email`, once the queue has settled.
    pub async fn notices_to(&self, email: &str, kind: NoticeKind) -> Vec<SentMail> {
        self.mail_settled().await;
        self.outbox
            .sent()
            .into_iter()
            .filter(|m| m.to.eq_ignore_ascii_case(email) && m.kind == MailKind::Notice(kind))
            .collect()
    }

    /// Every security notice sent to `email`, once the queue has settled.
    pub async fn all_notices_to(&self, email: &str) -> Vec<SentMail> {
        self.mail_settled().await;
        self.outbox
            .sent()
            .into_iter()
            .filter(|m| m.to.eq_ignore_ascii_case(email) && matches!(m.kind, MailKind::Notice(_)))
            .collect()
    }

    pub async fn verification_code_sent_to(&self, email: &str) -> String {
        self.code_sent_to(email, CodePurpose::VerifyEmail).await
    }

    pub async fn reset_code_sent_to(&self, email: &str) -> String {
        self.code_sent_to(email, CodePurpose::ResetPassword).await
    }

    /// `method path` with `Authorization: Token <token>` and an optional JSON body.
    pub async fn send_as(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .request(method, path)
            .header("Authorization", format!("Token {token}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }
}
