//! The profile picture's link. Clients render it, so only absolute `http(s)` links to a host:
//! `javascript:`, `data:` or relative paths could be abused in someone else's app.

use url::Url;

use super::{Invalid, max_length_message};

const MAX_LENGTH: usize = 2048;

const INVALID_MESSAGE: &str = "Enter a valid URL.";

/// An absolute `http` or `https` URL, stored exactly as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PictureUrl(String);

impl PictureUrl {
    pub fn parse(raw: &str) -> Result<Option<PictureUrl>, Invalid> {
        let Some(trimmed) = super::non_blank(raw) else {
            return Ok(None);
        };
        if trimmed.chars().count() > MAX_LENGTH {
            return Err(Invalid(vec![max_length_message(MAX_LENGTH)]));
        }
        if is_valid(trimmed) {
            Ok(Some(PictureUrl(trimmed.to_owned())))
        } else {
            Err(Invalid::one(INVALID_MESSAGE))
        }
    }
}

fn is_valid(candidate: &str) -> bool {
    // The parser repairs input (tabs, `http:host`, backslashes), but the text is stored as
    // given, so it must already be clean.
    if candidate
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return false;
    }
    let lower = candidate.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return false;
    }
    match Url::parse(candidate) {
        Ok(url) => {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|host| !host.is_empty())
        }
        Err(_) => false,
    }
}

super::text_value!(PictureUrl);

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected() -> Result<Option<PictureUrl>, Invalid> {
        Err(Invalid(vec!["Enter a valid URL.".to_owned()]))
    }

    #[test]
    fn accepts_https_and_keeps_the_text_as_given() {
        let raw = "  HTTPS://Cdn.Example.com/a/b.png?size=2  ";
        let url = PictureUrl::parse(raw).unwrap().unwrap();
        assert_eq!(url.as_str(), "HTTPS://Cdn.Example.com/a/b.png?size=2");
        assert_eq!(url.into_inner(), "HTTPS://Cdn.Example.com/a/b.png?size=2");
    }

    #[test]
    fn accepts_http_with_a_port() {
        assert!(
            PictureUrl::parse("http://localhost:8080/me.jpg")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn empty_string_clears_the_field() {
        assert_eq!(PictureUrl::parse(""), Ok(None));
        assert_eq!(PictureUrl::parse("  "), Ok(None));
    }

    #[test]
    fn rejects_other_schemes() {
        assert_eq!(PictureUrl::parse("ftp://example.com/a.png"), rejected());
        assert_eq!(PictureUrl::parse("javascript:alert(1)"), rejected());
        assert_eq!(PictureUrl::parse("data:image/png;base64,AAAA"), rejected());
    }

    #[test]
    fn rejects_relative_and_hostless_urls() {
        assert_eq!(PictureUrl::parse("/avatars/me.png"), rejected());
        assert_eq!(PictureUrl::parse("example.com/me.png"), rejected());
        assert_eq!(PictureUrl::parse("http://"), rejected());
        assert_eq!(PictureUrl::parse("http:example.com"), rejected());
    }

    #[test]
    fn rejects_inner_whitespace_and_backslashes() {
        assert_eq!(PictureUrl::parse("https://example.com/a b.png"), rejected());
        assert_eq!(PictureUrl::parse("https://exa\tmple.com/"), rejected());
        assert_eq!(
            PictureUrl::parse("https:\\\\example.com\\a.png"),
            rejected()
        );
    }

    #[test]
    fn accepts_exactly_2048_characters() {
        let prefix = "https://example.com/";
        let raw = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
        assert!(PictureUrl::parse(&raw).unwrap().is_some());
    }

    #[test]
    fn rejects_2049_characters() {
        let prefix = "https://example.com/";
        let raw = format!("{prefix}{}", "a".repeat(2049 - prefix.len()));
        assert_eq!(
            PictureUrl::parse(&raw),
            Err(Invalid(vec![
                "Ensure this field has no more than 2048 characters.".to_owned()
            ]))
        );
    }
}
