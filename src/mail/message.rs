//! The mails the service sends, rendered once when a code is issued.

use crate::auth::{CodePurpose, OneTimeCode};

/// One mail carrying a one-time code. `Debug` shows neither the code nor the text.
#[derive(Clone)]
pub struct Mail {
    to: String,
    purpose: CodePurpose,
    subject: &'static str,
    text: String,
    code: OneTimeCode,
}

impl Mail {
    /// The mail that brings `code` to `to`.
    pub fn with_code(to: &str, purpose: CodePurpose, code: &OneTimeCode) -> Mail {
        let code_text = code.expose();
        let (subject, text) = match purpose {
            CodePurpose::VerifyEmail => (
                "Confirm your email address",
                format!(
                    "Your Rayvers Kitchen verification code is {code_text}.\n\n\
                     It expires in 15 minutes. If you did not create an account, you can \
                     ignore this message.\n"
                ),
            ),
            CodePurpose::ResetPassword => (
                "Your password reset code",
                format!(
                    "Your Rayvers Kitchen password reset code is {code_text}.\n\n\
                     It expires in 15 minutes. If you did not ask to reset your password, \
                     you can ignore this message: your password has not changed.\n"
                ),
            ),
        };
        Mail {
            to: to.to_owned(),
            purpose,
            subject,
            text,
            code: code.clone(),
        }
    }

    pub fn to(&self) -> &str {
        &self.to
    }

    pub fn purpose(&self) -> CodePurpose {
        self.purpose
    }

    /// The subject line (it never contains the code).
    pub fn subject(&self) -> &str {
        self.subject
    }

    /// The plain-text body, which contains the code.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The code itself (the `log` transport shows it; nothing else may).
    pub fn code(&self) -> &OneTimeCode {
        &self.code
    }
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mail_carries_its_code_and_debug_hides_it() {
        let code = OneTimeCode::parse("135790").unwrap();
        for purpose in [CodePurpose::VerifyEmail, CodePurpose::ResetPassword] {
            let mail = Mail::with_code("cook@example.com", purpose, &code);
            assert!(mail.text().contains("135790"));
            assert!(!mail.subject().contains("135790"));
            assert!(!format!("{mail:?}").contains("135790"));
        }
    }
}
