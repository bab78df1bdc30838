//! Passwords: [`Password`] has no `Display` or `Serialize` and a redacted `Debug`, so it never
//! reaches a log or a body. [`PasswordPolicy`] is Django's default validators exactly (accounts
//! move over from Django), plus an upper bound that keeps hashing cost predictable.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::sync::LazyLock;

use flate2::read::GzDecoder;

use super::similarity::is_too_similar;
use super::{Email, Invalid, max_length_message};

#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Unchecked, as login compares whatever was typed; new ones go through the policy.
    pub fn new(raw: String) -> Password {
        Password(raw)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

const MIN_LENGTH: usize = 8;
/// Long enough for any passphrase, short enough that hashing stays cheap.
const MAX_LENGTH: usize = 1024;
const MAX_SIMILARITY: f64 = 0.7;

static COMMON_PASSWORDS_GZ: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/common-passwords.txt.gz"
));

static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let mut text = String::new();
    match GzDecoder::new(COMMON_PASSWORDS_GZ).read_to_string(&mut text) {
        Ok(_) => text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
        // Compiled in: only a broken file in the repository gets here, and a test catches it.
        Err(_) => HashSet::new(),
    }
});

pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.len()
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordPolicy {
    _private: (),
}

impl PasswordPolicy {
    pub fn new() -> PasswordPolicy {
        PasswordPolicy { _private: () }
    }

    pub fn common_password_count() -> usize {
        common_password_count()
    }

    /// Every failure, in Django's order, so the user can fix them all at once.
    pub fn check(&self, password: &Password, email: Option<&Email>) -> Result<(), Invalid> {
        let password = password.expose();
        let length = password.chars().count();
        let mut failures = Vec::new();
        if email.is_some_and(|e| is_too_similar(password, e.as_str(), MAX_SIMILARITY)) {
            failures.push("The password is too similar to the email address.".to_owned());
        }
        if length < MIN_LENGTH {
            failures.push(format!(
                "This password is too short. It must contain at least {MIN_LENGTH} characters."
            ));
        }
        if COMMON_PASSWORDS.contains(password.to_lowercase().trim()) {
            failures.push("This password is too common.".to_owned());
        }
        if !password.is_empty() && password.chars().all(char::is_numeric) {
            failures.push("This password is entirely numeric.".to_owned());
        }
        // Last, so the four Django messages keep Django's relative order.
        if length > MAX_LENGTH {
            failures.push(max_length_message(MAX_LENGTH));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Invalid(failures))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMILAR: &str = "The password is too similar to the email address.";
    const SHORT: &str = "This password is too short. It must contain at least 8 characters.";
    const COMMON: &str = "This password is too common.";
    const NUMERIC: &str = "This password is entirely numeric.";
    const TOO_LONG: &str = "Ensure this field has no more than 1024 characters.";

    fn check(password: &str) -> Result<(), Invalid> {
        check_for(password, "johnsmith@example.com")
    }

    fn check_for(password: &str, email: &str) -> Result<(), Invalid> {
        let email = Email::parse(email).unwrap();
        PasswordPolicy::new().check(&Password::new(password.to_owned()), Some(&email))
    }

    fn refused(messages: &[&str]) -> Result<(), Invalid> {
        Err(Invalid(messages.iter().map(|m| (*m).to_owned()).collect()))
    }

    #[test]
    fn debug_does_not_reveal_the_secret() {
        let shown = format!("{:?}", Password::new("hunter2-secret".to_owned()));
        assert_eq!(shown, "Password(<redacted>)");
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn expose_returns_the_password_unchanged() {
        assert_eq!(Password::new(" a b ".to_owned()).expose(), " a b ");
    }

    #[test]
    fn common_list_is_loaded_in_full() {
        let mut text = String::new();
        GzDecoder::new(COMMON_PASSWORDS_GZ)
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text.lines().count(), 20_000);
        // Django's file repeats 271 of its lines, so the set is smaller.
        assert_eq!(common_password_count(), 19_729);
        assert_eq!(PasswordPolicy::common_password_count(), 19_729);
    }

    #[test]
    fn accepts_a_unicode_passphrase() {
        assert_eq!(check("correct horse battery staple 🐴"), Ok(()));
    }

    #[test]
    fn accepts_a_cyrillic_password() {
        assert_eq!(check("съешь же ещё этих булок"), Ok(()));
    }

    #[test]
    fn accepts_exactly_8_characters() {
        assert_eq!(check("qz7!vk2p"), Ok(()));
    }

    #[test]
    fn rejects_7_characters_as_too_short() {
        assert_eq!(check("qz7!vk2"), refused(&[SHORT]));
    }

    #[test]
    fn counts_characters_not_bytes() {
        // Seven Cyrillic letters are 14 bytes but still too short.
        assert_eq!(check("жбщфэюц"), refused(&[SHORT]));
        assert_eq!(check("жбщфэюцй"), Ok(()));
    }

    #[test]
    fn accepts_exactly_1024_characters() {
        assert_eq!(check(&"qz7!vk2p".repeat(128)), Ok(()));
    }

    #[test]
    fn rejects_1025_characters() {
        assert_eq!(
            check(&format!("{}x", "qz7!vk2p".repeat(128))),
            refused(&[TOO_LONG])
        );
    }

    #[test]
    fn rejects_common_passwords_ignoring_case_and_surrounding_spaces() {
        assert_eq!(check("password"), refused(&[COMMON]));
        assert_eq!(check("PassWord"), refused(&[COMMON]));
        assert_eq!(check(" password "), refused(&[COMMON]));
    }

    #[test]
    fn rejects_common_cyrillic_password() {
        assert_eq!(check("Пароль12"), Ok(()));
        assert_eq!(check("пароль"), refused(&[SHORT, COMMON]));
    }

    #[test]
    fn rejects_entirely_numeric_password() {
        assert_eq!(check("90817263544"), refused(&[NUMERIC]));
    }

    #[test]
    fn numeric_check_covers_non_ascii_digits() {
        assert_eq!(check("٣٤٥٦٧٨٩٠١"), refused(&[NUMERIC]));
    }

    #[test]
    fn rejects_password_too_similar_to_the_email() {
        assert_eq!(check("johnsmith1"), refused(&[SIMILAR]));
    }

    #[test]
    fn similarity_compares_against_the_email_ignoring_case() {
        assert_eq!(
            check_for("JaneDoe99", "JANEDOE@Example.com"),
            refused(&[SIMILAR])
        );
        assert_eq!(check_for("JaneDoe99", "mark@example.com"), Ok(()));
    }

    #[test]
    fn reports_every_failure_in_djangos_order() {
        assert_eq!(
            check_for("123456", "123456@example.com"),
            refused(&[SIMILAR, SHORT, COMMON, NUMERIC])
        );
    }

    #[test]
    fn reports_too_long_after_the_django_rules() {
        let password = "1".repeat(1025);
        assert_eq!(check(&password), refused(&[NUMERIC, TOO_LONG]));
    }
}
