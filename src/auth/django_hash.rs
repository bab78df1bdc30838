//! Password hashes inherited from the Django service, verified so its users can log in with the
//! password they already have; login then replaces each with an Argon2id hash.
//!
//! Django stores `pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>` (its default
//! hasher), and an "unusable" password as `!` followed by random text: no password matches it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The prefix of Django's default hasher.
pub const PBKDF2_SHA256_PREFIX: &str = "pbkdf2_sha256$";

/// More than any Django release has used (1,000,000 would be far in the future): a stored hash
/// claiming more is refused rather than letting one row burn the CPU for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

/// Whether `stored` is a hash this module knows (a Django hash, usable or not).
pub fn is_django_hash(stored: &str) -> bool {
    stored.starts_with(PBKDF2_SHA256_PREFIX) || stored.starts_with('!')
}

/// Checks `password` against a Django hash. `Ok(false)` for a wrong password and for an
/// unusable one; an error for a malformed hash (a broken row, worth a log line).
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

/// Django's `make_password(password, salt, "pbkdf2_sha256")` with `iterations` rounds: the
/// inverse of [`verify`], for tests and tools.
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

/// Django's Argon2 hasher stores `argon2` followed by the PHC string of argon2-cffi
/// (`argon2$argon2id$v=19$m=…`): dropping the prefix gives a PHC string that
/// [`super::Argon2Hasher`] verifies as is.
pub fn django_argon2_to_phc(stored: &str) -> Option<&str> {
    stored
        .strip_prefix("argon2")
        .filter(|phc| phc.starts_with("$argon2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with Python's standard library, as Django does it:
    /// `base64.b64encode(hashlib.pbkdf2_hmac("sha256", b"correct horse battery staple",
    /// b"kitchenSalt2024", 1000)).decode()`.
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
