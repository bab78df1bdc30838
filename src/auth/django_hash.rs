//! Django's password hashes (`pbkdf2_sha256$…`; `!…` is unusable), verified so imported users
//! log in with the password they have; login then replaces each with Argon2id.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const PBKDF2_SHA256_PREFIX: &str = "pbkdf2_sha256$";

/// More than any Django release uses: a row claiming more must not burn the CPU for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

pub fn is_django_hash(stored: &str) -> bool {
    stored.starts_with(PBKDF2_SHA256_PREFIX) || stored.starts_with('!')
}

/// `Ok(false)` for a wrong or unusable password; an error for a malformed hash.
pub fn verify(password: &str, stored: &str) -> anyhow::Result<bool> {
    if stored.starts_with('!') {
        return Ok(false);
    }
    let Some(rest) = stored.strip_prefix(PBKDF2_SHA256_PREFIX) else {
        anyhow::bail!("not a Django pbkdf2_sha256 hash");
    };
    let mut parts = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        anyhow::bail!("malformed pbkdf2_sha256 hash");
    };
    let iterations: u32 = iterations
        .parse()
        .map_err(|_| anyhow::anyhow!("malformed pbkdf2_sha256 iteration count"))?;
    if iterations == 0 || iterations > MAX_ITERATIONS {
        anyhow::bail!("pbkdf2_sha256 iteration count out of range");
    }
    let expected = STANDARD
        .decode(expected)
        .map_err(|_| anyhow::anyhow!("malformed pbkdf2_sha256 hash value"))?;
    if expected.len() != 32 {
        anyhow::bail!("pbkdf2_sha256 hash value is not 32 bytes");
    }
    let computed = derive(password, salt, iterations);
    // Constant time: the comparison must not tell how many leading bytes were right.
    Ok(bool::from(computed.as_slice().ct_eq(&expected)))
}

pub fn make_pbkdf2_sha256(password: &str, salt: &str, iterations: u32) -> String {
    let key = derive(password, salt, iterations);
    format!(
        "{PBKDF2_SHA256_PREFIX}{iterations}${salt}${}",
        STANDARD.encode(key)
    )
}

fn derive(password: &str, salt: &str, iterations: u32) -> [u8; 32] {
    pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt.as_bytes(), iterations)
}

/// Django's `argon2$argon2id$…` less its prefix is a PHC string our hasher verifies.
pub fn django_argon2_to_phc(stored: &str) -> Option<&str> {
    stored
        .strip_prefix("argon2")
        .filter(|phc| phc.starts_with("$argon2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From Python: `b64encode(pbkdf2_hmac("sha256", password, b"kitchenSalt2024", 1000))`.
    const KNOWN: &str =
        "pbkdf2_sha256$1000$kitchenSalt2024$5IROFvK09N3GDYlpnH6azwoawsgN1OZxIlxznUa5mvE=";

    #[test]
    fn a_known_django_hash_verifies_and_a_wrong_password_does_not() {
        assert!(verify("correct horse battery staple", KNOWN).unwrap());
        assert!(!verify("correct horse battery stapler", KNOWN).unwrap());
        assert_eq!(
            make_pbkdf2_sha256("correct horse battery staple", "kitchenSalt2024", 1000),
            KNOWN
        );
    }

    #[test]
    fn unusable_passwords_match_nothing_and_broken_hashes_are_errors() {
        assert!(!verify("", "!AbCdEf").unwrap());
        assert!(is_django_hash("!AbCdEf"));
        assert!(verify("x", "pbkdf2_sha256$abc$salt$AAAA").is_err());
        assert!(verify("x", "pbkdf2_sha256$1000$salt").is_err());
        assert!(verify("x", "pbkdf2_sha256$0$salt$AAAA").is_err());
        assert!(verify("x", "pbkdf2_sha256$99999999$salt$AAAA").is_err());
    }

    #[test]
    fn django_argon2_hashes_become_phc_strings() {
        assert_eq!(
            django_argon2_to_phc("argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA"),
            Some("$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA")
        );
        assert_eq!(django_argon2_to_phc("argon2xyz"), None);
    }
}
