//! Phone numbers, stored in E.164 so they compare and SMS providers take them as they are.

use super::Invalid;

const INVALID_MESSAGE: &str =
    "Enter a valid phone number in E.164 format, for example +14155550123.";

/// E.164 allows at most 15 digits; fewer than 8 is no real international number.
const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// `Ok(None)`: clear it. Spaces, `-`, `(` and `)` are formatting and dropped.
    pub fn parse(raw: &str) -> Result<Option<PhoneNumber>, Invalid> {
        let Some(trimmed) = super::non_blank(raw) else {
            return Ok(None);
        };
        let normalized: String = trimmed
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let valid = normalized.strip_prefix('+').is_some_and(|digits| {
            (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
        });
        if valid {
            Ok(Some(PhoneNumber(normalized)))
        } else {
            Err(Invalid::one(INVALID_MESSAGE))
        }
    }
}

super::text_value!(PhoneNumber);

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected() -> Result<Option<PhoneNumber>, Invalid> {
        Err(Invalid(vec![
            "Enter a valid phone number in E.164 format, for example +14155550123.".to_owned(),
        ]))
    }

    fn parsed(raw: &str) -> String {
        PhoneNumber::parse(raw).unwrap().unwrap().into_inner()
    }

    #[test]
    fn accepts_e164_as_is() {
        let phone = PhoneNumber::parse("+14155550123").unwrap().unwrap();
        assert_eq!(phone.as_str(), "+14155550123");
    }

    #[test]
    fn strips_formatting_characters() {
        assert_eq!(parsed(" +1 (415) 555-0123 "), "+14155550123");
        assert_eq!(parsed("+44 20-7946-0958"), "+442079460958");
    }

    #[test]
    fn empty_string_clears_the_field() {
        assert_eq!(PhoneNumber::parse(""), Ok(None));
        assert_eq!(PhoneNumber::parse("   "), Ok(None));
    }

    #[test]
    fn accepts_8_digits() {
        assert_eq!(parsed("+12345678"), "+12345678");
    }

    #[test]
    fn rejects_7_digits() {
        assert_eq!(PhoneNumber::parse("+1234567"), rejected());
    }

    #[test]
    fn accepts_15_digits() {
        assert_eq!(parsed("+123456789012345"), "+123456789012345");
    }

    #[test]
    fn rejects_16_digits() {
        assert_eq!(PhoneNumber::parse("+1234567890123456"), rejected());
    }

    #[test]
    fn rejects_number_without_plus() {
        assert_eq!(PhoneNumber::parse("14155550123"), rejected());
        assert_eq!(PhoneNumber::parse("0014155550123"), rejected());
    }

    #[test]
    fn rejects_country_code_starting_with_zero() {
        assert_eq!(PhoneNumber::parse("+04155550123"), rejected());
    }

    #[test]
    fn rejects_letters_and_other_punctuation() {
        assert_eq!(PhoneNumber::parse("+1415555O123"), rejected());
        assert_eq!(PhoneNumber::parse("+1.415.555.0123"), rejected());
        assert_eq!(PhoneNumber::parse("+1415555012+3"), rejected());
    }

    #[test]
    fn rejects_non_ascii_digits() {
        assert_eq!(PhoneNumber::parse("+١٤١٥٥٥٥٠١٢٣"), rejected());
    }
}
