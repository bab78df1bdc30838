//! The key that seals TOTP secrets at rest (XChaCha20-Poly1305, a random nonce per seal, the
//! user id as associated data so a sealed secret moved to another row does not open). It is
//! loaded once at start; every process serving one database needs the same key.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::config::{Config, ConfigError};

const NONCE_LEN: usize = 24;

/// `KITCHEN_API_MFA_KEY` as given (parsed at start, so a bad one names its setting).
#[derive(Clone)]
pub struct MfaKeyText(String);

impl std::str::FromStr for MfaKeyText {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for MfaKeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKeyText(<redacted>)")
    }
}

/// The sealing key; its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct MfaKey(Key);

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKey(<redacted>)")
    }
}

fn decode(text: &str) -> Option<MfaKey> {
    let bytes = STANDARD.decode(text.trim()).ok()?;
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    Some(MfaKey(Key::from(bytes)))
}

fn malformed(setting: &'static str, reason: String) -> anyhow::Error {
    ConfigError { setting, reason }.into()
}

impl MfaKey {
    /// From `KITCHEN_API_MFA_KEY`, else from `KITCHEN_API_MFA_KEY_FILE` (created with a fresh
    /// key when missing). A malformed key is an error naming the setting, never the key.
    pub fn load(config: &Config) -> anyhow::Result<MfaKey> {
        if let Some(MfaKeyText(text)) = &config.mfa_key {
            return decode(text).ok_or_else(|| {
                malformed(
                    "KITCHEN_API_MFA_KEY",
                    "must be the base64 of 32 bytes".into(),
                )
            });
        }
        let path = config.mfa_key_file.as_path();
        match std::fs::read_to_string(path) {
            Ok(text) => decode(&text).ok_or_else(|| {
                let reason = format!("{} must hold the base64 of 32 bytes", path.display());
                malformed("KITCHEN_API_MFA_KEY_FILE", reason)
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(path),
            Err(e) => Err(malformed(
                "KITCHEN_API_MFA_KEY_FILE",
                format!("cannot read {}: {e}", path.display()),
            )),
        }
    }

    /// A key for tests and tools that keep nothing sealed beyond the process.
    pub fn random() -> MfaKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        MfaKey(Key::from(bytes))
    }

    /// `nonce || ciphertext` of `secret`, bound to `user_id`.
    pub fn seal(&self, user_id: i64, secret: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = user_id.to_be_bytes();
        let sealed = XChaCha20Poly1305::new(&self.0)
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing a TOTP secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The secret `seal` sealed for `user_id`; `None` under another key or for another user.
    pub fn open(&self, user_id: i64, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let aad = user_id.to_be_bytes();
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        XChaCha20Poly1305::new(&self.0)
            .decrypt(XNonce::from_slice(nonce), payload)
            .ok()
    }
}

/// Writes a fresh key, readable by this user only; if another process wrote one first, reads it.
fn create_key_file(path: &Path) -> anyhow::Result<MfaKey> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let cannot = |e: std::io::Error| {
        malformed(
            "KITCHEN_API_MFA_KEY_FILE",
            format!("cannot create {}: {e}", path.display()),
        )
    };
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(format!("{}\n", STANDARD.encode(bytes)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(cannot)?;
            tracing::warn!(
                path = %path.display(),
                "created a new TOTP sealing key; every process of this service needs this same \
                 key (KITCHEN_API_MFA_KEY or KITCHEN_API_MFA_KEY_FILE), and losing it turns \
                 every user's TOTP off in effect"
            );
            Ok(MfaKey(Key::from(bytes)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(cannot)?;
            decode(&text).ok_or_else(|| {
                let reason = format!("{} must hold the base64 of 32 bytes", path.display());
                malformed("KITCHEN_API_MFA_KEY_FILE", reason)
            })
        }
        Err(e) => Err(cannot(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let key = MfaKey::random();
        let sealed = key.seal(7, b"twenty bytes secret!").unwrap();
        assert_eq!(key.open(7, &sealed).unwrap(), b"twenty bytes secret!");
        assert!(key.open(8, &sealed).is_none());
        assert!(MfaKey::random().open(7, &sealed).is_none());
        assert_ne!(key.seal(7, b"twenty bytes secret!").unwrap(), sealed);
    }

    #[test]
    fn a_missing_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            mfa_key_file: dir.path().join("k.key"),
            ..Config::default()
        };
        let first = MfaKey::load(&config).unwrap();
        let second = MfaKey::load(&config).unwrap();
        let sealed = first.seal(1, b"x").unwrap();
        assert!(second.open(1, &sealed).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&config.mfa_key_file)
                .unwrap()
                .permissions();
            assert_eq!(mode.mode() & 0o777, 0o600);
        }
        std::fs::write(&config.mfa_key_file, "not a key").unwrap();
        let err = MfaKey::load(&config).unwrap_err().to_string();
        assert!(err.contains("KITCHEN_API_MFA_KEY_FILE"), "{err}");
        let bad = Config {
            mfa_key: Some("c2VjcmV0".parse().unwrap()),
            ..Config::default()
        };
        let err = MfaKey::load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("KITCHEN_API_MFA_KEY") && !err.contains("c2VjcmV0"),
            "{err}"
        );
    }
}
