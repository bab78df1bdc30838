//! The mails the service sends, rendered once when they are made: a plain-text and an HTML part
//! from the templates in `templates/mail/` (askama, compiled with the code; the HTML part
//! escapes every value). No remote image, no tracking, no link that names the recipient.

use askama::Template;
use chrono::{DateTime, Utc};

use crate::auth::{CodePurpose, Device, OneTimeCode};

/// What a security notice tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    PasswordChanged,
    PasswordReset,
    /// Sent to the old address.
    EmailChanged,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodeUsed,
    RecoveryCodesRenewed,
    PasskeyAdded,
    /// A sign-in from a user agent family and network the account has not used before.
    NewDevice,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordChanged => "notice_password_changed",
            Self::PasswordReset => "notice_password_reset",
            Self::EmailChanged => "notice_email_changed",
            Self::TotpEnabled => "notice_totp_enabled",
            Self::TotpDisabled => "notice_totp_disabled",
            Self::RecoveryCodeUsed => "notice_recovery_code_used",
            Self::RecoveryCodesRenewed => "notice_recovery_codes_renewed",
            Self::PasskeyAdded => "notice_passkey_added",
            Self::NewDevice => "notice_new_device",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Self::PasswordChanged => "Your password was changed",
            Self::PasswordReset => "Your password was reset",
            Self::EmailChanged => "Your email address was changed",
            Self::TotpEnabled => "Two-factor authentication is on",
            Self::TotpDisabled => "Two-factor authentication was turned off",
            Self::RecoveryCodeUsed => "A recovery code was used",
            Self::RecoveryCodesRenewed => "New recovery codes were made",
            Self::PasskeyAdded => "A passkey was added to your account",
            Self::NewDevice => "New sign-in to your account",
        }
    }
}

/// Which mail it is, for the log and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Code(CodePurpose),
    Notice(NoticeKind),
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code(purpose) => purpose.as_str(),
            Self::Notice(kind) => kind.as_str(),
        }
    }
}

/// What a notice says happened, when and from where; `detail` is the kind's own fact (a
/// passkey's name, the new address masked).
#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: NoticeKind,
    pub at: DateTime<Utc>,
    pub device: Device,
    pub detail: Option<String>,
}

/// One rendered mail. `Debug` shows neither a code nor the text.
#[derive(Clone)]
pub struct Mail {
    to: String,
    kind: MailKind,
    subject: String,
    text: String,
    html: String,
    code: Option<OneTimeCode>,
}

struct CodeView<'a> {
    service: &'a str,
    to: &'a str,
    subject: &'a str,
    purpose: CodePurpose,
    code: &'a str,
}

#[derive(Template)]
#[template(path = "mail/code.txt")]
struct CodeText<'a> {
    m: &'a CodeView<'a>,
}

#[derive(Template)]
#[template(path = "mail/code.html")]
struct CodeHtml<'a> {
    m: &'a CodeView<'a>,
}

struct NoticeView<'a> {
    service: &'a str,
    to: &'a str,
    subject: &'a str,
    kind: NoticeKind,
    when: String,
    device: String,
    network: String,
    detail: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeText<'a> {
    m: &'a NoticeView<'a>,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct NoticeHtml<'a> {
    m: &'a NoticeView<'a>,
}

impl Mail {
    /// The mail that brings `code` to `to`; `service` is the product's name.
    pub fn with_code(
        service: &str,
        to: &str,
        purpose: CodePurpose,
        code: &OneTimeCode,
    ) -> Result<Mail, askama::Error> {
        let subject = match purpose {
            CodePurpose::VerifyEmail => "Confirm your email address",
            CodePurpose::ResetPassword => "Your password reset code",
            CodePurpose::ChangeEmail => "Confirm your new email address",
        };
        let view = CodeView {
            service,
            to,
            subject,
            purpose,
            code: code.expose(),
        };
        Ok(Mail {
            to: to.to_owned(),
            kind: MailKind::Code(purpose),
            subject: subject.to_owned(),
            text: CodeText { m: &view }.render()?,
            html: CodeHtml { m: &view }.render()?,
            code: Some(code.clone()),
        })
    }

    /// The security notice `notice` to `to`.
    pub fn notice(service: &str, to: &str, notice: &Notice) -> Result<Mail, askama::Error> {
        let subject = notice.kind.subject();
        let view = NoticeView {
            service,
            to,
            subject,
            kind: notice.kind,
            when: notice.at.format("%Y-%m-%d %H:%M UTC").to_string(),
            device: notice.device.family(),
            network: notice.device.network(),
            detail: notice.detail.as_deref(),
        };
        Ok(Mail {
            to: to.to_owned(),
            kind: MailKind::Notice(notice.kind),
            subject: subject.to_owned(),
            text: NoticeText { m: &view }.render()?,
            html: NoticeHtml { m: &view }.render()?,
            code: None,
        })
    }

    pub fn to(&self) -> &str {
        &self.to
    }

    pub fn kind(&self) -> MailKind {
        self.kind
    }

    /// The subject line (it never contains a code).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The plain-text part.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The HTML part.
    pub fn html(&self) -> &str {
        &self.html
    }

    /// The code a code mail carries (the `log` transport shows it; nothing else may).
    pub fn code(&self) -> Option<&OneTimeCode> {
        self.code.as_ref()
    }
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// `cook@example.com` as `c***@example.com`: enough for its owner to recognise, not to give
/// the address away to whoever reads the old mailbox.
pub fn masked_address(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PURPOSES: [CodePurpose; 3] = [
        CodePurpose::VerifyEmail,
        CodePurpose::ResetPassword,
        CodePurpose::ChangeEmail,
    ];

    #[test]
    fn each_code_mail_carries_its_code_in_both_parts_and_debug_hides_it() {
        let code = OneTimeCode::parse("135790").unwrap();
        for purpose in PURPOSES {
            let mail =
                Mail::with_code("Rayvers Kitchen", "cook@example.com", purpose, &code).unwrap();
            assert!(mail.text().contains("135790"), "{}", mail.text());
            assert!(mail.html().contains("135790"));
            assert!(mail.text().contains("Rayvers Kitchen"));
            assert!(!mail.subject().contains("135790"));
            assert!(!format!("{mail:?}").contains("135790"));
            assert_eq!(mail.kind(), MailKind::Code(purpose));
        }
    }

    #[test]
    fn a_notice_escapes_what_users_wrote_in_html_and_keeps_it_in_text() {
        let device = Device::new(
            "203.0.113.9".parse().unwrap(),
            Some("<img src=x onerror=alert(1)>"),
        );
        let notice = Notice {
            kind: NoticeKind::PasskeyAdded,
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            device,
            detail: Some("<b>Phone</b> & co".to_owned()),
        };
        let mail = Mail::notice("Rayvers <Kitchen>", "cook@example.com", &notice).unwrap();
        assert!(
            mail.text().contains("named \"<b>Phone</b> & co\""),
            "{}",
            mail.text()
        );
        assert!(mail.text().contains("203.0.113.0/24"));
        assert!(
            mail.text().contains("2027-01-15 08:00 UTC"),
            "{}",
            mail.text()
        );
        assert!(
            mail.html()
                .contains("&#60;b&#62;Phone&#60;/b&#62; &#38; co")
        );
        assert!(mail.html().contains("Rayvers &#60;Kitchen&#62;"));
        assert!(!mail.html().contains("<b>Phone"));
        assert!(!mail.html().contains("<img"), "{}", mail.html());
        assert!(!mail.html().contains("http"), "no link or remote image");
        assert!(mail.code().is_none());
    }

    #[test]
    fn every_notice_renders_with_its_own_sentence() {
        use NoticeKind::*;
        let kinds = [
            PasswordChanged,
            PasswordReset,
            EmailChanged,
            TotpEnabled,
            TotpDisabled,
            RecoveryCodeUsed,
            RecoveryCodesRenewed,
            PasskeyAdded,
            NewDevice,
        ];
        let mut texts = std::collections::HashSet::new();
        for kind in kinds {
            let notice = Notice {
                kind,
                at: Utc::now(),
                device: Device::new("192.0.2.1".parse().unwrap(), None),
                detail: None,
            };
            let mail = Mail::notice("Rayvers Kitchen", "cook@example.com", &notice).unwrap();
            assert!(mail.text().contains("If it was not you"));
            assert!(mail.html().contains("Not you?"));
            assert!(texts.insert(mail.text().lines().next().unwrap().to_owned()));
        }
    }

    #[test]
    fn a_masked_address_keeps_one_letter_and_the_domain() {
        assert_eq!(masked_address("cook@example.com"), "c***@example.com");
        assert_eq!(masked_address("été@bücher.example"), "é***@bücher.example");
        assert_eq!(masked_address("nobody"), "***");
    }
}
