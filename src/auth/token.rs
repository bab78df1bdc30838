//! Opaque bearer tokens: 256 bits from the OS CSPRNG, URL-safe base64. The server keeps only
//! their SHA-256 digest. Token entropy makes a slow hash unnecessary: nobody can brute-force a
//! 256-bit preimage, so a fast digest is safe and keeps authentication cheap.

use axum::http::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::error::AuthFailure;

const TOKEN_BYTES: usize = 32;
pub const TOKEN_LEN: usize = 43;

/// A Django REST Framework key (40 lowercase hex): imported tokens keep app sessions working.
pub fn is_drf_key(key: &[u8]) -> bool {
    key.len() == 40 && key.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A token as the client holds it. Printing it shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken(String);

impl PlainToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn from_drf_key(key: &str) -> Option<Self> {
        is_drf_key(key.as_bytes()).then(|| Self(key.to_owned()))
    }

    /// The token text, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainToken(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_array(&self) -> [u8; 32] {
        self.0
    }
}

/// Reads `Authorization: Token <key>` (or `Bearer`, any case) as DRF does. `Ok(None)`: no
/// header or another scheme; a key of a length no token has is refused without a lookup.
pub fn parse_authorization(
    header: Option<&HeaderValue>,
) -> Result<Option<PlainToken>, AuthFailure> {
    let Some(header) = header else {
        return Ok(None);
    };
    let bytes = header.as_bytes();
    let mut words = bytes
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|w| !w.is_empty());
    let Some(scheme) = words.next() else {
        return Ok(None);
    };
    if !(scheme.eq_ignore_ascii_case(b"token") || scheme.eq_ignore_ascii_case(b"bearer")) {
        return Ok(None);
    }
    let Some(key) = words.next() else {
        return Err(AuthFailure::NoCredentials);
    };
    if words.next().is_some() {
        return Err(AuthFailure::ContainsSpaces);
    }
    if !key
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
    {
        return Err(AuthFailure::InvalidCharacters);
    }
    if key.len() != TOKEN_LEN && !is_drf_key(key) {
        return Err(AuthFailure::InvalidToken);
    }
    // All bytes are ASCII, checked above.
    let key = String::from_utf8_lossy(key).into_owned();
    Ok(Some(PlainToken(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Result<Option<PlainToken>, AuthFailure> {
        parse_authorization(Some(&HeaderValue::from_str(v).unwrap()))
    }

    #[test]
    fn generated_tokens_are_43_url_safe_characters_and_differ() {
        let a = PlainToken::generate();
        let b = PlainToken::generate();
        assert_eq!(a.expose().len(), TOKEN_LEN);
        assert_ne!(a, b);
        assert_eq!(parse(&format!("Token {}", a.expose())).unwrap(), Some(a));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let t = PlainToken::generate();
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn scheme_is_case_insensitive_and_bearer_is_accepted() {
        let t = PlainToken::generate();
        for scheme in ["token", "TOKEN", "Bearer", "bearer"] {
            assert_eq!(
                parse(&format!("{scheme} {}", t.expose())).unwrap(),
                Some(t.clone())
            );
        }
    }

    #[test]
    fn header_shapes_map_to_drf_failures() {
        assert_eq!(parse("Basic abc").unwrap(), None);
        assert_eq!(parse("Token").unwrap_err(), AuthFailure::NoCredentials);
        assert_eq!(parse("Token a b").unwrap_err(), AuthFailure::ContainsSpaces);
        assert_eq!(
            parse("Token a.b").unwrap_err(),
            AuthFailure::InvalidCharacters
        );
        assert_eq!(parse("Token short").unwrap_err(), AuthFailure::InvalidToken);
        assert_eq!(parse_authorization(None).unwrap(), None);
    }

    #[test]
    fn imported_drf_keys_are_accepted_but_only_as_lowercase_hex() {
        let drf = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
        let parsed = parse(&format!("Token {drf}")).unwrap().unwrap();
        assert_eq!(parsed.expose(), drf);
        let upper = drf.to_ascii_uppercase();
        assert_eq!(
            parse(&format!("Token {upper}")).unwrap_err(),
            AuthFailure::InvalidToken
        );
        let not_hex = "g944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
        assert_eq!(
            parse(&format!("Token {not_hex}")).unwrap_err(),
            AuthFailure::InvalidToken
        );
    }

    #[test]
    fn digest_is_sha256_of_the_token_text() {
        let t = PlainToken::generate();
        let expected: [u8; 32] = Sha256::digest(t.expose().as_bytes()).into();
        assert_eq!(t.digest().as_bytes(), &expected);
    }
}
