//! One-time codes mailed to a user: six digits from the OS CSPRNG, valid for 15 minutes and
//! five tries, used once. The server keeps only a salted SHA-256 digest that also covers the
//! code's purpose and its user, so a verification code can never reset a password, nor a
//! code of one user unlock another's account. Digests are compared in constant time.
//!
//! A digest of a six-digit code cannot resist a brute force by someone who has read the table
//! (there are only a million codes); what protects a code is its short life, the try limit
//! and single use, so the digest is a fast hash on purpose, like the tokens'.

use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How long a code stays valid.
pub const CODE_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
/// Tries a code allows, right or wrong; after that even the right code is refused.
pub const MAX_CODE_ATTEMPTS: i32 = 5;
/// Digits in a code.
pub const CODE_LEN: usize = 6;
const SALT_LEN: usize = 16;

/// What a code is for. Each user has at most one live code per purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    VerifyEmail,
    ResetPassword,
}

impl CodePurpose {
    /// The name stored in `codes.purpose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// A code as the user receives it. Printing it shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    /// A new uniformly random code, `000000` to `999999`.
    pub fn generate() -> Self {
        // Rejection sampling: 2^32 is not a multiple of 10^6, so values from the top
        // incomplete block are drawn again rather than folded in with a modulo bias.
        const RANGE: u32 = 1_000_000;
        const LIMIT: u32 = u32::MAX - (u32::MAX % RANGE);
        loop {
            let n = OsRng.next_u32();
            if n < LIMIT {
                return Self(format!("{:06}", n % RANGE));
            }
        }
    }

    /// Reads a code typed by a user: surrounding spaces ignored, then exactly six ASCII
    /// digits. `None` for anything else (it cannot be a code we sent).
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        (trimmed.len() == CODE_LEN && trimmed.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(trimmed.to_owned()))
    }

    /// The digits, to put in the mail.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest to store with a fresh random salt.
    pub fn seal(&self, purpose: CodePurpose, user_id: i64) -> SealedCode {
        let mut salt = [0u8; SALT_LEN];
        OsRng.fill_bytes(&mut salt);
        let digest = digest(&salt, purpose, user_id, self);
        SealedCode {
            salt: salt.to_vec(),
            digest,
        }
    }

    /// Whether this code is the one sealed as `salt` and `digest`, in constant time.
    pub fn matches(&self, purpose: CodePurpose, user_id: i64, salt: &[u8], stored: &[u8]) -> bool {
        let computed = digest(salt, purpose, user_id, self);
        bool::from(computed.as_slice().ct_eq(stored))
    }
}

impl std::fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeCode(<redacted>)")
    }
}

/// What the database keeps of a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCode {
    pub salt: Vec<u8>,
    pub digest: [u8; 32],
}

/// SHA-256 over salt ‖ purpose ‖ 0 ‖ user id (8 bytes, big-endian) ‖ code. The salt is fixed
/// length and the purpose is NUL-terminated, so no two inputs share an encoding.
fn digest(salt: &[u8], purpose: CodePurpose, user_id: i64, code: &OneTimeCode) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(purpose.as_str().as_bytes());
    hasher.update([0u8]);
    hasher.update(user_id.to_be_bytes());
    hasher.update(code.0.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..50)
            .map(|_| OneTimeCode::generate().expose().to_owned())
            .collect();
        assert!(
            codes.len() > 40,
            "50 draws gave {} distinct codes",
            codes.len()
        );
        for code in &codes {
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn parse_accepts_only_six_digits_after_trimming() {
        assert_eq!(OneTimeCode::parse(" 012345 ").unwrap().expose(), "012345");
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "١٢٣٤٥٦",
            "12 345",
            "+12345",
        ] {
            assert!(OneTimeCode::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_sealed_code_matches_only_itself_for_its_purpose_and_user() {
        let code = OneTimeCode::parse("424242").unwrap();
        let sealed = code.seal(CodePurpose::VerifyEmail, 7);
        let m = |c: &str, p, u| {
            OneTimeCode::parse(c)
                .unwrap()
                .matches(p, u, &sealed.salt, &sealed.digest)
        };
        assert!(m("424242", CodePurpose::VerifyEmail, 7));
        assert!(!m("424243", CodePurpose::VerifyEmail, 7));
        assert!(!m("424242", CodePurpose::ResetPassword, 7));
        assert!(!m("424242", CodePurpose::VerifyEmail, 8));
    }

    #[test]
    fn the_same_code_seals_differently_each_time() {
        let code = OneTimeCode::generate();
        let a = code.seal(CodePurpose::ResetPassword, 1);
        let b = code.seal(CodePurpose::ResetPassword, 1);
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.digest, b.digest);
    }

    #[test]
    fn debug_never_shows_the_code() {
        let code = OneTimeCode::parse("987654").unwrap();
        assert!(!format!("{code:?}").contains("987654"));
    }
}
