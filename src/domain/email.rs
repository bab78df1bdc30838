//! E-mail addresses, the identity users sign up and log in with.
//!
//! Two forms of the address matter: the one we store and show back (the local
//! part exactly as typed, since some mail servers treat it case-sensitively,
//! with the always case-insensitive domain lower-cased), and the fully
//! lower-cased key behind the unique index, so `Foo@x.com` and `foo@x.com`
//! cannot become two accounts.

use validator::ValidateEmail;

use super::{Invalid, max_length_message};

/// RFC 5321 caps a forward-path at 256 octets including the angle brackets,
/// which leaves 254 for the address itself (Django uses the same limit).
const MAX_LENGTH: usize = 254;

const INVALID_MESSAGE: &str = "Please enter a valid email address";

/// A syntactically valid e-mail address with its domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    stored: String,
    key: String,
}

impl Email {
    /// Validates and normalises an address sent by a client.
    ///
    /// Surrounding whitespace is ignored. Beyond the HTML5 rules checked by
    /// `validator`, the domain must contain a dot, as with Django's
    /// `EmailValidator`, so `user@localhost` is refused.
    pub fn parse(raw: &str) -> Result<Email, Invalid> {
        let trimmed = raw.trim();
        if trimmed.chars().count() > MAX_LENGTH {
            return Err(Invalid(vec![max_length_message(MAX_LENGTH)]));
        }
        let Some((local, domain)) = split_address(trimmed) else {
            return Err(Invalid::one(INVALID_MESSAGE));
        };
        Ok(Self::from_parts(local, domain))
    }

    /// Rebuilds an address read back from our own database.
    ///
    /// Rows were validated by [`Email::parse`] before being written, so
    /// validating again would only add a way to fail that cannot happen.
    pub fn from_trusted(stored: String) -> Email {
        let key = stored.to_lowercase();
        Email { stored, key }
    }

    /// The address as stored and shown to the user.
    pub fn as_str(&self) -> &str {
        &self.stored
    }

    /// The fully lower-cased address used for case-insensitive uniqueness.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn from_parts(local: &str, domain: &str) -> Email {
        Self::from_trusted(format!("{local}@{}", domain.to_lowercase()))
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.stored
    }
}

/// Splits a valid address into local part and domain, or `None` if invalid.
fn split_address(address: &str) -> Option<(&str, &str)> {
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = address.split_once('@')?;
    if local.is_empty() || domain.contains('@') {
        return None;
    }
    // A dotless domain only makes sense inside a private network.
    if !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return None;
    }
    address.validate_email().then_some((local, domain))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn invalid() -> Invalid {
        Invalid(vec!["Please enter a valid email address".to_owned()])
    }

    #[test]
    fn accepts_an_ordinary_address() {
        assert_eq!(
            Email::parse("jane@example.com").unwrap().as_str(),
            "jane@example.com"
        );
    }

    #[test]
    fn trims_surrounding_whitespace() {
        assert_eq!(
            Email::parse("  jane@example.com\n").unwrap().as_str(),
            "jane@example.com"
        );
    }

    #[test]
    fn lower_cases_the_domain_but_keeps_the_local_part() {
        let email = Email::parse("Foo@Example.COM").unwrap();
        assert_eq!(email.as_str(), "Foo@example.com");
        assert_eq!(email.as_ref(), "Foo@example.com");
    }

    #[test]
    fn key_is_the_whole_address_lower_cased() {
        assert_eq!(
            Email::parse("Foo@Example.COM").unwrap().key(),
            "foo@example.com"
        );
    }

    #[test]
    fn addresses_differing_only_in_case_share_a_key() {
        let a = Email::parse("FOO@example.com").unwrap();
        let b = Email::parse("foo@EXAMPLE.com").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.key(), b.key());
    }

    #[test]
    fn from_trusted_keeps_the_value_and_recomputes_the_key() {
        let email = Email::from_trusted("Foo@example.com".to_owned());
        assert_eq!(email.as_str(), "Foo@example.com");
        assert_eq!(email.key(), "foo@example.com");
        assert_eq!(email, Email::parse("Foo@EXAMPLE.com").unwrap());
    }

    #[test]
    fn accepts_plus_addressing_and_subdomains() {
        assert!(Email::parse("a.b+tag@mail.example.co.uk").is_ok());
    }

    #[test]
    fn accepts_an_internationalised_domain() {
        assert_eq!(
            Email::parse("jane@BÜCHER.example").unwrap().as_str(),
            "jane@bücher.example"
        );
    }

    #[test]
    fn rejects_email_without_at_sign() {
        assert_eq!(Email::parse("jane.example.com"), Err(invalid()));
    }

    #[test]
    fn rejects_email_with_two_at_signs() {
        assert_eq!(Email::parse("jane@doe@example.com"), Err(invalid()));
    }

    #[test]
    fn rejects_email_with_empty_local_part() {
        assert_eq!(Email::parse("@example.com"), Err(invalid()));
    }

    #[test]
    fn rejects_email_with_empty_domain() {
        assert_eq!(Email::parse("jane@"), Err(invalid()));
    }

    #[test]
    fn rejects_domain_without_a_dot() {
        assert_eq!(Email::parse("user@localhost"), Err(invalid()));
        assert_eq!(Email::parse("a@b"), Err(invalid()));
    }

    #[test]
    fn rejects_domain_with_an_empty_label() {
        assert_eq!(Email::parse("jane@example..com"), Err(invalid()));
        assert_eq!(Email::parse("jane@.example.com"), Err(invalid()));
        assert_eq!(Email::parse("jane@example.com."), Err(invalid()));
    }

    #[test]
    fn rejects_inner_whitespace() {
        assert_eq!(Email::parse("jane doe@example.com"), Err(invalid()));
        assert_eq!(Email::parse("jane@exa mple.com"), Err(invalid()));
    }

    #[test]
    fn rejects_control_characters() {
        assert_eq!(Email::parse("jane\u{7}@example.com"), Err(invalid()));
        assert_eq!(Email::parse("jane@example.com\u{0}x"), Err(invalid()));
    }

    #[test]
    fn rejects_characters_not_allowed_in_the_local_part() {
        assert_eq!(Email::parse("ja(ne)@example.com"), Err(invalid()));
    }

    /// An address of exactly `n` characters; domain labels stay within the
    /// 63-character DNS limit so only the total length is at stake.
    fn address_of_length(n: usize) -> String {
        let head = format!(
            "{}@{}.",
            "a".repeat(64),
            ["b", "c", "d"].map(|c| c.repeat(60)).join(".")
        );
        format!("{head}{}", "e".repeat(n - head.len()))
    }

    #[test]
    fn accepts_exactly_254_characters() {
        let address = address_of_length(254);
        assert_eq!(address.chars().count(), 254);
        assert_eq!(Email::parse(&address).unwrap().as_str(), address);
    }

    #[test]
    fn rejects_255_characters_with_the_max_length_message() {
        let address = address_of_length(255);
        assert_eq!(address.chars().count(), 255);
        assert_eq!(
            Email::parse(&address),
            Err(Invalid(vec![
                "Ensure this field has no more than 254 characters.".to_owned()
            ]))
        );
    }

    #[test]
    fn length_is_counted_after_trimming() {
        let address = format!("  {}  ", address_of_length(254));
        assert!(Email::parse(&address).is_ok());
    }
}
