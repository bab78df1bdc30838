//! E-mail addresses. One mailbox is one account, so every spelling that reaches a mailbox has
//! one canonical form, computed here only: the domain mapped by UTS-46 as mail systems map it,
//! the local part NFC, invisible characters refused rather than stripped (a client never learns
//! that what we stored is not what it sent). The stored form keeps the local part as typed
//! (some servers treat it case-sensitively); the unique key lower-cases it too
//! (docs/decisions/0001-one-account-per-mailbox.md).

use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};
use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use unicode_normalization::UnicodeNormalization;
use validator::ValidateEmail;

use super::{Invalid, max_length_message};

/// RFC 5321's forward-path of 256 octets less the angle brackets, as Django.
const MAX_LENGTH: usize = 254;

const INVALID_MESSAGE: &str = "Please enter a valid email address";

const NOT_AN_ADDRESS: &str = "invalid:";

const SET_ASIDE: &str = "set-aside:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    stored: String,
    key: String,
}

impl Email {
    /// HTML5's rules, and as Django's `EmailValidator` the domain needs a dot (not last).
    pub fn parse(raw: &str) -> Result<Email, Invalid> {
        let trimmed = raw.trim();
        check_length(trimmed)?;
        if trimmed.chars().any(is_invisible) {
            return Err(Invalid::one(INVALID_MESSAGE));
        }
        Self::canonical(trimmed)
    }

    /// For an address already stored: invisible characters are dropped, as mail systems drop
    /// them, so its owner still logs in with the address they receive mail at.
    pub fn parse_existing(raw: &str) -> Result<Email, Invalid> {
        let visible: String = raw.trim().chars().filter(|&c| !is_invisible(c)).collect();
        check_length(&visible)?;
        Self::canonical(&visible)
    }

    /// For anything typed, a key: an invalid address gets one no account has, so its look-up
    /// costs the same and finds nobody (no enumeration by timing).
    pub fn lookup_key(raw: &str) -> String {
        match Self::parse(raw) {
            Ok(email) => email.key,
            Err(_) => format!("{NOT_AN_ADDRESS}{}", raw.trim().to_lowercase()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.stored
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The domain in Punycode, so no mail server needs SMTPUTF8.
    pub fn to_ascii(&self) -> String {
        let ascii = self
            .stored
            .rsplit_once('@')
            .and_then(|(local, domain)| Some(format!("{local}@{}", map_domain(domain)?.ascii)));
        ascii.unwrap_or_else(|| self.stored.clone())
    }

    /// For an account whose key an older one holds: findable by staff, reachable by no login.
    pub fn set_aside_key(&self, user_id: i64) -> String {
        format!("{SET_ASIDE}{user_id}:{}", self.key)
    }

    fn canonical(address: &str) -> Result<Email, Invalid> {
        let invalid = || Invalid::one(INVALID_MESSAGE);
        let (local, domain) = split_address(address).ok_or_else(invalid)?;
        let local: String = local.nfc().collect();
        let domain = map_domain(domain).ok_or_else(invalid)?;
        if !format!("{local}@{}", domain.ascii).validate_email() {
            return Err(invalid());
        }
        let stored = format!("{local}@{}", domain.unicode);
        // Mapping can lengthen an address (`㎏` is `kg`): the stored form obeys the limit too.
        check_length(&stored)?;
        let key = format!("{}@{}", local.to_lowercase(), domain.unicode);
        Ok(Email { stored, key })
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.stored
    }
}

fn check_length(address: &str) -> Result<(), Invalid> {
    if address.chars().count() > MAX_LENGTH {
        return Err(Invalid(vec![max_length_message(MAX_LENGTH)]));
    }
    Ok(())
}

fn is_invisible(c: char) -> bool {
    const IGNORABLE: icu_properties::CodePointSetDataBorrowed<'static> =
        CodePointSetData::new::<DefaultIgnorableCodePoint>();
    const CATEGORY: icu_properties::CodePointMapDataBorrowed<'static, GeneralCategory> =
        CodePointMapData::<GeneralCategory>::new();
    IGNORABLE.contains(c) || CATEGORY.get(c) == GeneralCategory::Format
}

fn split_address(address: &str) -> Option<(&str, &str)> {
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = address.split_once('@')?;
    if local.is_empty() || domain.contains('@') {
        return None;
    }
    Some((local, domain))
}

struct Domain {
    ascii: String,
    unicode: String,
}

/// UTS-46 non-transitional, STD3 rules, DNS lengths; an address literal is only lower-cased.
fn map_domain(domain: &str) -> Option<Domain> {
    let uts46 = Uts46::new();
    let (ascii, unicode) = if let Some(inner) = domain.strip_prefix('[') {
        inner.strip_suffix(']')?.parse::<std::net::IpAddr>().ok()?;
        let literal = domain.to_ascii_lowercase();
        (literal.clone(), literal)
    } else {
        let (deny, hyphens) = (AsciiDenyList::STD3, Hyphens::CheckFirstLast);
        // `Verify` also refuses empty labels, so a trailing dot as well.
        let ascii = uts46
            .to_ascii(domain.as_bytes(), deny, hyphens, DnsLength::Verify)
            .ok()?
            .into_owned();
        let (unicode, errors) = uts46.to_unicode(ascii.as_bytes(), deny, hyphens);
        errors.ok()?;
        let unicode = unicode.into_owned();
        (ascii, unicode)
    };
    // A dotless domain only makes sense inside a private network.
    if !ascii.contains('.') || ascii.split('.').any(str::is_empty) {
        return None;
    }
    Some(Domain { ascii, unicode })
}

#[cfg(test)]
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
    fn every_spelling_of_one_mailbox_has_one_key() {
        for (plain, spellings) in [
            (
                "jane@example.com",
                &[
                    "JANE@EXAMPLE.COM",
                    "jane@ｅｘａｍｐｌｅ.com",
                    "jane@ＥＸＡＭＰＬＥ．ｃｏｍ",
                    "jane@example。com",
                    "jane@example｡com",
                ][..],
            ),
            (
                "jane@bücher.example",
                &[
                    "jane@BÜCHER.example",
                    "jane@bu\u{308}cher.example",
                    "jane@xn--bcher-kva.example",
                    "jane@XN--BCHER-KVA.EXAMPLE",
                    "jane@ｂüｃｈｅｒ.example",
                ][..],
            ),
        ] {
            let key = Email::parse(plain).unwrap().key().to_owned();
            for spelling in spellings {
                let email = Email::parse(spelling).unwrap_or_else(|e| panic!("{spelling}: {e:?}"));
                assert_eq!(email.key(), key, "{spelling}");
                assert_eq!(Email::lookup_key(spelling), key, "{spelling}");
            }
        }
    }

    #[test]
    fn the_domain_is_stored_and_shown_in_its_mapped_unicode_form() {
        for spelling in ["Jane@xn--bcher-kva.example", "Jane@bu\u{308}cher.EXAMPLE"] {
            let email = Email::parse(spelling).unwrap();
            assert_eq!(email.as_str(), "Jane@bücher.example");
            assert_eq!(email.key(), "jane@bücher.example");
        }
        assert_eq!(
            Email::parse("jane@ｅｘａｍｐｌｅ.com").unwrap().as_str(),
            "jane@example.com"
        );
    }

    #[test]
    fn the_ascii_form_has_the_domain_in_punycode() {
        let email = Email::parse("Jane@BÜCHER.example").unwrap();
        assert_eq!(email.to_ascii(), "Jane@xn--bcher-kva.example");
        let plain = Email::parse("Jane@example.com").unwrap();
        assert_eq!(plain.to_ascii(), "Jane@example.com");
    }

    #[test]
    fn eszett_is_not_ss_as_in_idna_2008() {
        let strasse = Email::parse("jane@straße.example").unwrap();
        assert_eq!(strasse.as_str(), "jane@straße.example");
        assert_ne!(
            strasse.key(),
            Email::parse("jane@strasse.example").unwrap().key()
        );
    }

    const INVISIBLE: &[char] = &[
        '\u{AD}',    // soft hyphen
        '\u{34F}',   // combining grapheme joiner
        '\u{180E}',  // Mongolian vowel separator
        '\u{200B}',  // zero-width space
        '\u{200C}',  // zero-width non-joiner
        '\u{200D}',  // zero-width joiner
        '\u{200E}',  // left-to-right mark
        '\u{202E}',  // right-to-left override
        '\u{2060}',  // word joiner
        '\u{2068}',  // first strong isolate
        '\u{3164}',  // Hangul filler
        '\u{FE0F}',  // variation selector 16
        '\u{FEFF}',  // byte order mark
        '\u{E0041}', // tag latin capital letter A
        '\u{E0100}', // variation selector 17
    ];

    fn with_invisible(c: char) -> [String; 4] {
        [
            format!("ja{c}ne@example.com"),
            format!("jane@exa{c}mple.com"),
            format!("{c}jane@example.com"),
            format!("jane@example.com{c}"),
        ]
    }

    #[test]
    fn invisible_characters_are_refused() {
        for &c in INVISIBLE {
            for address in with_invisible(c) {
                assert_eq!(Email::parse(&address), Err(invalid()), "{address:?}");
                assert!(Email::lookup_key(&address).starts_with(NOT_AN_ADDRESS));
            }
        }
    }

    #[test]
    fn an_existing_address_is_read_without_its_invisible_characters() {
        let plain = Email::parse("jane@example.com").unwrap();
        for &c in INVISIBLE {
            for address in with_invisible(c) {
                assert_eq!(
                    Email::parse_existing(&address),
                    Ok(plain.clone()),
                    "{address:?}"
                );
            }
        }
        assert_eq!(
            Email::parse_existing("Jane@ｅｘａｍｐｌｅ.com")
                .unwrap()
                .as_str(),
            "Jane@example.com"
        );
        assert_eq!(Email::parse_existing("jane@localhost"), Err(invalid()));
    }

    #[test]
    fn the_at_sign_must_be_the_ascii_one() {
        assert_eq!(Email::parse("jane＠example.com"), Err(invalid()));
        assert_eq!(Email::parse("jane﹫example.com"), Err(invalid()));
    }

    #[test]
    fn the_local_part_must_be_ascii_in_either_normal_form() {
        assert_eq!(Email::parse("jos\u{E9}@example.com"), Err(invalid()));
        assert_eq!(Email::parse("jose\u{301}@example.com"), Err(invalid()));
    }

    #[test]
    fn invalid_international_domains_are_refused() {
        for address in [
            "jane@xn--zz.example",      // not Punycode
            "jane@-example.com",        // leading hyphen
            "jane@exa_mple.com",        // not a host name
            "jane@\u{E000}.example",    // private use
            "jane@example.com\u{3002}", // a trailing dot, however spelled
        ] {
            assert_eq!(Email::parse(address), Err(invalid()), "{address}");
        }
    }

    #[test]
    fn an_address_literal_is_kept_but_must_be_an_ip_address() {
        assert_eq!(
            Email::parse("jane@[192.0.2.1]").unwrap().as_str(),
            "jane@[192.0.2.1]"
        );
        assert_eq!(Email::parse("jane@[x]y[192.0.2.1]"), Err(invalid()));
        assert_eq!(Email::parse("jane@[192.0.2.1"), Err(invalid()));
    }

    #[test]
    fn a_look_up_key_for_anything_else_matches_no_account() {
        assert_eq!(Email::lookup_key(" Jane@Example.com "), "jane@example.com");
        let set_aside = Email::parse("jane@example.com").unwrap().set_aside_key(7);
        assert_eq!(set_aside, "set-aside:7:jane@example.com");
        assert_ne!(Email::lookup_key(&set_aside), set_aside);
        assert_eq!(
            Email::lookup_key("Not An Address"),
            "invalid:not an address"
        );
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
