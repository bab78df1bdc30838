//! The display name and the bio: shown to other users, so length-limited, and stored in
//! PostgreSQL `text`, which cannot hold NUL.

use unicode_normalization::UnicodeNormalization;

use super::{Invalid, max_length_message};

const NAME_MAX_LENGTH: usize = 100;
const BIO_MAX_LENGTH: usize = 1000;

/// A display name: 1 to 100 characters on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// `Ok(None)`: clear it. Control characters would break layouts and logs.
    pub fn parse(raw: &str) -> Result<Option<Name>, Invalid> {
        let rule = Rule {
            max_length: NAME_MAX_LENGTH,
            refused: char::is_control,
            refusal: "Name may not contain control characters.",
        };
        rule.check(raw).map(|text| text.map(Name))
    }

    /// The name as the console's search compares it ([`search_key`]).
    pub fn search_key(&self) -> String {
        search_key(&self.0)
    }
}

/// A short biography of at most 1000 characters; may span several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    pub fn parse(raw: &str) -> Result<Option<Bio>, Invalid> {
        let rule = Rule {
            max_length: BIO_MAX_LENGTH,
            refused: |c| c == '\0',
            refusal: "Bio may not contain null characters.",
        };
        rule.check(raw).map(|text| text.map(Bio))
    }
}

/// Text as the console's search compares it, whatever the engine: trimmed, Unicode NFC, then
/// every letter lower-cased (an address's key folds its local part the same way) and a final
/// sigma taken as sigma (a prefix typed ends a word the name does not), so "Élodie", "élodie"
/// and "E\u{301}lodie" are one.
pub fn search_key(text: &str) -> String {
    text.trim()
        .nfc()
        .collect::<String>()
        .to_lowercase()
        .replace('ς', "σ")
}

super::text_value!(Name);
super::text_value!(Bio);

/// A free-text field's rules: a length, and characters it may not hold.
pub(super) struct Rule {
    pub(super) max_length: usize,
    pub(super) refused: fn(char) -> bool,
    pub(super) refusal: &'static str,
}

impl Rule {
    /// The trimmed text, `None` when blank, or every rule it breaks.
    pub(super) fn check(&self, raw: &str) -> Result<Option<String>, Invalid> {
        let Some(trimmed) = super::non_blank(raw) else {
            return Ok(None);
        };
        let mut failures = Vec::new();
        if trimmed.chars().count() > self.max_length {
            failures.push(max_length_message(self.max_length));
        }
        if trimmed.chars().any(self.refused) {
            failures.push(self.refusal.to_owned());
        }
        if failures.is_empty() {
            Ok(Some(trimmed.to_owned()))
        } else {
            Err(Invalid(failures))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_keys_fold_every_letter_and_every_composition() {
        assert_eq!(search_key("  Élodie Ångström "), "élodie ångström");
        assert_eq!(search_key("E\u{301}LODIE"), "élodie");
        // A prefix typed ends a word where the name does not: final sigma is sigma.
        assert!(search_key("Οδυσσευς").starts_with(&search_key("ΟΔΥΣ")));
    }

    const CONTROL: &str = "Name may not contain control characters.";
    const NUL: &str = "Bio may not contain null characters.";

    fn refused(messages: &[&str]) -> Invalid {
        Invalid(messages.iter().map(|m| (*m).to_owned()).collect())
    }

    #[test]
    fn name_is_trimmed() {
        let name = Name::parse("  Ada Lovelace \t").unwrap().unwrap();
        assert_eq!(name.as_str(), "Ada Lovelace");
        assert_eq!(name.into_inner(), "Ada Lovelace");
    }

    #[test]
    fn empty_or_blank_name_clears_the_field() {
        assert_eq!(Name::parse(""), Ok(None));
        assert_eq!(Name::parse("   \n"), Ok(None));
    }

    #[test]
    fn accepts_a_one_character_name() {
        assert_eq!(Name::parse("X").unwrap().unwrap().as_str(), "X");
    }

    #[test]
    fn accepts_a_name_of_exactly_100_characters() {
        let raw = "é".repeat(100);
        assert_eq!(Name::parse(&raw).unwrap().unwrap().as_str(), raw);
    }

    #[test]
    fn rejects_a_name_of_101_characters() {
        assert_eq!(
            Name::parse(&"é".repeat(101)),
            Err(refused(&[
                "Ensure this field has no more than 100 characters."
            ]))
        );
    }

    #[test]
    fn length_of_a_name_is_counted_after_trimming() {
        assert!(Name::parse(&format!("  {}  ", "a".repeat(100))).is_ok());
    }

    #[test]
    fn rejects_control_characters_in_a_name() {
        assert_eq!(Name::parse("Ada\nLovelace"), Err(refused(&[CONTROL])));
        assert_eq!(Name::parse("Ada\u{1b}[31m"), Err(refused(&[CONTROL])));
        assert_eq!(Name::parse("Ada\0"), Err(refused(&[CONTROL])));
    }

    #[test]
    fn reports_both_name_failures_together() {
        let raw = format!("{}\t{}", "a".repeat(60), "b".repeat(60));
        assert_eq!(
            Name::parse(&raw),
            Err(refused(&[
                "Ensure this field has no more than 100 characters.",
                CONTROL
            ]))
        );
    }

    #[test]
    fn bio_keeps_inner_newlines_and_is_trimmed() {
        let bio = Bio::parse("\n  Cook.\n\nBaker.  \n").unwrap().unwrap();
        assert_eq!(bio.as_str(), "Cook.\n\nBaker.");
        assert_eq!(bio.into_inner(), "Cook.\n\nBaker.");
    }

    #[test]
    fn empty_bio_clears_the_field() {
        assert_eq!(Bio::parse(""), Ok(None));
        assert_eq!(Bio::parse(" \n "), Ok(None));
    }

    #[test]
    fn accepts_a_bio_of_exactly_1000_characters() {
        assert!(Bio::parse(&"🍳".repeat(1000)).unwrap().is_some());
    }

    #[test]
    fn rejects_a_bio_of_1001_characters() {
        assert_eq!(
            Bio::parse(&"🍳".repeat(1001)),
            Err(refused(&[
                "Ensure this field has no more than 1000 characters."
            ]))
        );
    }

    #[test]
    fn rejects_a_nul_character_in_a_bio() {
        assert_eq!(Bio::parse("Cook\0Baker"), Err(refused(&[NUL])));
    }
}
