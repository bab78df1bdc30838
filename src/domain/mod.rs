//! Validated value types for everything a client may send us.
//!
//! The route layer turns raw JSON strings into these types once, at the edge,
//! and everything behind it (handlers, the database layer) only ever sees
//! values that are already known to be valid ("parse, don't validate"). Every
//! type here can only be built through its `parse` function, so holding one is
//! proof that its rules were checked. The module is deliberately free of any
//! web or database framework so the rules can be unit-tested in isolation.

mod date_of_birth;
mod email;
mod password;
mod phone_number;
mod picture_url;
mod similarity;
mod text;

pub use date_of_birth::DateOfBirth;
pub use email::Email;
pub use password::{Password, PasswordPolicy, common_password_count};
pub use phone_number::PhoneNumber;
pub use picture_url::PictureUrl;
pub use text::{Bio, Name};

/// Why a value was refused: the messages shown to the client under the field's name, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub Vec<String>);

impl Invalid {
    /// A refusal with a single message.
    pub fn one(msg: impl Into<String>) -> Self {
        Self(vec![msg.into()])
    }
}

/// The message for a value longer than `n` characters.
///
/// Worded exactly like Django REST Framework's, because existing clients of
/// the service match on these strings.
pub(crate) fn max_length_message(n: usize) -> String {
    format!("Ensure this field has no more than {n} characters.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_length_message_matches_django_rest_framework() {
        assert_eq!(
            max_length_message(254),
            "Ensure this field has no more than 254 characters."
        );
    }

    #[test]
    fn invalid_one_holds_a_single_message() {
        assert_eq!(Invalid::one("nope"), Invalid(vec!["nope".to_owned()]));
    }
}
