//! Value types for what clients send, built only by `parse`: holding one proves its rules were
//! checked. No web or database framework here, so the rules are unit-tested alone.

mod date_of_birth;
mod delivery_address;
mod email;
mod password;
mod phone_number;
mod picture_url;
mod similarity;
mod text;

pub use date_of_birth::DateOfBirth;
pub use delivery_address::{AddressPart, AddressText, PlaceLabel};
pub use email::Email;
pub use password::{Password, PasswordPolicy, common_password_count};
pub use phone_number::{PhoneNumber, PhoneRegion};
pub use picture_url::PictureUrl;
pub use text::{Bio, Name, search_key};

/// The text of an optional field, trimmed; `None` when blank, which clears the field.
fn non_blank(raw: &str) -> Option<&str> {
    let trimmed = raw.trim();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// `as_str` and `into_inner` for a value type that wraps a `String`.
macro_rules! text_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}
use text_value;

/// Why a value was refused: the messages shown to the client under the field's name, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub Vec<String>);

impl Invalid {
    pub fn one(msg: impl Into<String>) -> Self {
        Self(vec![msg.into()])
    }
}

/// Worded as Django REST Framework's: existing clients match on these strings.
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
