//! Phone numbers as the apps send them: national (`08167930376`) or international
//! (`+234 816 793 0376`), checked against libphonenumber's metadata (the `phonenumber` crate)
//! and kept exactly as sent, trimmed. The original service stored free text of up to 30
//! characters and the apps show the number back as the customer typed it, so nothing here
//! rewrites it; the check only keeps out what cannot be dialled anywhere.

use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id;

use super::Invalid;

const INVALID_MESSAGE: &str =
    "Enter a valid phone number, for example 08167930376 or +2348167930376.";

/// E.164's limit, and the shortest national numbers in common use (7 digits, e.g. Panama's).
const E164_DIGITS_MAX: usize = 15;
const NATIONAL_DIGITS_MIN: usize = 7;

/// The original's column: `CharField(max_length=30)`.
const MAX_CHARS: usize = 30;

/// The region a national number is read in (`KITCHEN_API_PHONE_REGION`, e.g. `NG`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PhoneRegion(Id);

impl FromStr for PhoneRegion {
    type Err = String;

    fn from_str(code: &str) -> Result<Self, String> {
        let code = code.trim().to_ascii_uppercase();
        let known = phonenumber::metadata::DATABASE
            .by_id(code.as_str())
            .is_some();
        match code.parse::<Id>() {
            Ok(id) if known => Ok(Self(id)),
            _ => Err(format!(
                "{code:?} is not a region code of libphonenumber's metadata (two letters, e.g. NG, GB, US)"
            )),
        }
    }
}

impl fmt::Debug for PhoneRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

impl fmt::Display for PhoneRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// `Ok(None)`: clear it. A number starting with `+` must be valid for its country code; a
    /// national one valid in `region` when one is set, else of a national number's length.
    pub fn parse(raw: &str, region: Option<PhoneRegion>) -> Result<Option<PhoneNumber>, Invalid> {
        let Some(trimmed) = super::non_blank(raw) else {
            return Ok(None);
        };
        if trimmed.chars().count() > MAX_CHARS {
            return Err(Invalid::one(super::max_length_message(MAX_CHARS)));
        }
        if plausible(trimmed, region) {
            Ok(Some(PhoneNumber(trimmed.to_owned())))
        } else {
            Err(Invalid::one(INVALID_MESSAGE))
        }
    }

    /// A number kept as it was stored elsewhere (the Django import): trimmed, never refused.
    pub fn imported(raw: &str) -> Option<PhoneNumber> {
        super::non_blank(raw).map(|t| PhoneNumber(t.to_owned()))
    }
}

/// Digits with the usual separators, one leading `+` at most. libphonenumber would also take
/// letters (`1-800-FLOWERS`), extensions and other scripts' digits; a profile has no use for
/// those, and refusing them keeps junk text out.
fn looks_like_a_number(text: &str) -> bool {
    let rest = text.strip_prefix('+').unwrap_or(text);
    rest.bytes().any(|b| b.is_ascii_digit())
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'(' | b')' | b'.' | b'/'))
}

/// Without a region a national number is judged by its length alone: trying it against every
/// region's plan costs up to 150 ms of CPU for one crafted number (measured), and a number of
/// 7 to 15 digits is valid somewhere almost always anyway.
fn plausible(text: &str, region: Option<PhoneRegion>) -> bool {
    if !looks_like_a_number(text) {
        return false;
    }
    let valid_in = |id: Option<Id>| {
        phonenumber::parse(id, text).is_ok_and(|number| phonenumber::is_valid(&number))
    };
    if text.starts_with('+') {
        return valid_in(None);
    }
    match region {
        Some(PhoneRegion(id)) => valid_in(Some(id)),
        None => {
            let digits = text.bytes().filter(u8::is_ascii_digit).count();
            (NATIONAL_DIGITS_MIN..=E164_DIGITS_MAX).contains(&digits)
        }
    }
}

super::text_value!(PhoneNumber);

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected() -> Result<Option<PhoneNumber>, Invalid> {
        Err(Invalid(vec![INVALID_MESSAGE.to_owned()]))
    }

    fn kept(raw: &str, region: Option<PhoneRegion>) -> String {
        PhoneNumber::parse(raw, region)
            .unwrap()
            .unwrap()
            .into_inner()
    }

    fn region(code: &str) -> Option<PhoneRegion> {
        Some(code.parse().unwrap())
    }

    #[test]
    fn the_apps_national_form_is_kept_as_sent() {
        assert_eq!(kept("08167930376", None), "08167930376");
        assert_eq!(kept(" 0816 793 0376 ", None), "0816 793 0376");
        assert_eq!(kept("08167930376", region("NG")), "08167930376");
    }

    #[test]
    fn international_form_is_kept_as_sent() {
        assert_eq!(kept("+2348167930376", None), "+2348167930376");
        assert_eq!(kept("+1 (415) 555-0123", None), "+1 (415) 555-0123");
        assert_eq!(kept("+44 20 7946 0958", region("NG")), "+44 20 7946 0958");
    }

    #[test]
    fn a_region_reads_national_numbers_as_its_own() {
        // A British mobile number in national form is no Nigerian one.
        assert_eq!(kept("07911 123456", None), "07911 123456");
        assert_eq!(PhoneNumber::parse("07911 123456", region("NG")), rejected());
        assert_eq!(kept("07911 123456", region("gb")), "07911 123456");
    }

    #[test]
    fn without_a_region_a_national_number_needs_7_to_15_digits() {
        assert_eq!(kept("555 0123", None), "555 0123");
        assert_eq!(PhoneNumber::parse("555 012", None), rejected());
        assert_eq!(kept("0816 793 0376 1234", None), "0816 793 0376 1234");
        assert_eq!(PhoneNumber::parse("0816 793 0376 12345", None), rejected());
    }

    #[test]
    fn empty_string_clears_the_field() {
        assert_eq!(PhoneNumber::parse("", None), Ok(None));
        assert_eq!(PhoneNumber::parse("   ", None), Ok(None));
    }

    #[test]
    fn junk_is_refused() {
        for junk in [
            "call me",
            "12",
            "+",
            "0",
            "+1415555O123",
            "1-800-FLOWERS",
            "+1415555012+3",
            "+١٤١٥٥٥٥٠١٢٣",
            "+99912345678",
            "+234 0816",
            "<script>",
        ] {
            assert_eq!(PhoneNumber::parse(junk, None), rejected(), "{junk}");
        }
    }

    #[test]
    fn more_than_30_characters_is_refused_with_drfs_message() {
        let long = format!("+44 20 7946 0958{}", " ".repeat(15));
        assert_eq!(
            PhoneNumber::parse(&format!("{long}1"), None),
            Err(Invalid(vec![
                "Ensure this field has no more than 30 characters.".to_owned()
            ]))
        );
    }

    #[test]
    fn imported_numbers_are_kept_whatever_they_are() {
        assert_eq!(PhoneNumber::imported(" 12 ").unwrap().as_str(), "12");
        assert_eq!(PhoneNumber::imported("  "), None);
    }

    #[test]
    fn region_codes_are_checked() {
        assert!("NG".parse::<PhoneRegion>().is_ok());
        assert!("ng".parse::<PhoneRegion>().is_ok());
        assert!("XX".parse::<PhoneRegion>().is_err());
        assert!("Nigeria".parse::<PhoneRegion>().is_err());
    }
}
