//! A saved delivery address's parts, with the rules of the original service's `UserAddress`
//! model as its DRF serializer applied them: text trimmed, blank allowed, lengths bounded, and a
//! label out of three choices.

use super::Invalid;
use super::text::Rule;

/// The free-text parts of an address, each with its own length bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPart {
    /// Free text (Django's `TextField` has no bound; 1000 keeps a row small).
    Address,
    Street,
    PostCode,
    Apartment,
}

impl AddressPart {
    pub const fn max_length(self) -> usize {
        match self {
            AddressPart::Address => 1000,
            AddressPart::Street => 100,
            AddressPart::PostCode => 30,
            AddressPart::Apartment => 50,
        }
    }
}

/// One part's text, trimmed; may be empty (blank is allowed, as in the original).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressText(String);

impl AddressText {
    /// The text trimmed, or every rule it breaks. NUL is refused with DRF's own message:
    /// PostgreSQL's `text` cannot hold it.
    pub fn parse(part: AddressPart, raw: &str) -> Result<AddressText, Invalid> {
        let rule = Rule {
            max_length: part.max_length(),
            refused: |c| c == '\0',
            refusal: "Null characters are not allowed.",
        };
        rule.check(raw)
            .map(|text| AddressText(text.unwrap_or_default()))
    }
}

super::text_value!(AddressText);

/// What the address is to its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceLabel {
    Home,
    Work,
    Other,
}

impl PlaceLabel {
    pub const CHOICES: [&'static str; 3] = ["HOME", "WORK", "OTHER"];

    /// Exactly one of [`Self::CHOICES`], as DRF's `ChoiceField` takes it: case and spaces
    /// count.
    pub fn parse(raw: &str) -> Result<PlaceLabel, Invalid> {
        match raw {
            "HOME" => Ok(PlaceLabel::Home),
            "WORK" => Ok(PlaceLabel::Work),
            "OTHER" => Ok(PlaceLabel::Other),
            other => Err(Self::not_a_choice(other)),
        }
    }

    /// DRF's message for a value that is none of the choices, quoting it as sent.
    pub fn not_a_choice(shown: &str) -> Invalid {
        Invalid::one(format!("\"{shown}\" is not a valid choice."))
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            PlaceLabel::Home => "HOME",
            PlaceLabel::Work => "WORK",
            PlaceLabel::Other => "OTHER",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_may_be_blank() {
        let street = AddressText::parse(AddressPart::Street, "  12 Allen Avenue \n").unwrap();
        assert_eq!(street.as_str(), "12 Allen Avenue");
        assert_eq!(
            AddressText::parse(AddressPart::Address, "   ")
                .unwrap()
                .as_str(),
            ""
        );
    }

    #[test]
    fn each_part_has_its_bound_counted_in_characters() {
        for (part, n) in [
            (AddressPart::Address, 1000),
            (AddressPart::Street, 100),
            (AddressPart::PostCode, 30),
            (AddressPart::Apartment, 50),
        ] {
            assert!(AddressText::parse(part, &"é".repeat(n)).is_ok());
            assert_eq!(
                AddressText::parse(part, &"é".repeat(n + 1)),
                Err(Invalid::one(format!(
                    "Ensure this field has no more than {n} characters."
                )))
            );
        }
    }

    #[test]
    fn nul_is_refused_with_drfs_message() {
        assert_eq!(
            AddressText::parse(AddressPart::Apartment, "4\0B"),
            Err(Invalid::one("Null characters are not allowed."))
        );
    }

    #[test]
    fn labels_are_exact() {
        assert_eq!(PlaceLabel::parse("WORK"), Ok(PlaceLabel::Work));
        for label in PlaceLabel::CHOICES {
            assert_eq!(PlaceLabel::parse(label).map(PlaceLabel::as_str), Ok(label));
        }
        assert_eq!(
            PlaceLabel::parse("home"),
            Err(Invalid::one("\"home\" is not a valid choice."))
        );
        assert!(PlaceLabel::parse(" HOME").is_err());
        assert!(PlaceLabel::parse("").is_err());
    }
}
