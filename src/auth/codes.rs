//! One-time mailed codes. The stored salted digest covers the purpose and the user, so a
//! verification code cannot reset a password nor serve another user. A million codes resist no
//! brute force of a leaked table whatever the hash; their short life, try limit and single use
//! protect them, so the digest is fast on purpose.

use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const CODE_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
/// Tries, right or wrong; after that even the right code is refused.
pub const MAX_CODE_ATTEMPTS: i32 = 5;
pub const CODE_LEN: usize = 6;
const SALT_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    VerifyEmail,
    ResetPassword,
    /// Bound to the new address too: the code's row holds it.
    ChangeEmail,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ChangeEmail => "change_email",
        }
    }
}

/// Printing it shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    pub fn generate() -> Self {
        // Rejection sampling: a modulo would favour low codes.
        const RANGE: u32 = 1_000_000;
        const LIMIT: u32 = u32::MAX - (u32::MAX % RANGE);
        loop {
            let n = OsRng.next_u32();
            if n < LIMIT {
                return Self(format!("{:06}", n % RANGE));
            }
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        (trimmed.len() == CODE_LEN && trimmed.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(trimmed.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn seal(&self, purpose: CodePurpose, user_id: i64) -> SealedCode {
        let mut salt = [0u8; SALT_LEN];
        OsRng.fill_bytes(&mut salt);
        let digest = digest(&salt, purpose, user_id, self);
        SealedCode {
            salt: salt.to_vec(),
            digest,
        }
    }

    /// In constant time.
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCode {
    pub salt: Vec<u8>,
    pub digest: [u8; 32],
}

/// Fixed-length salt and NUL-terminated purpose: no two inputs share an encoding.
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
