//! Argon2id over reusable memory. Each hash needs `m` KiB (19 MiB by default); allocating it
//! afresh per login left glibc either keeping freed blocks in per-thread arenas or paying for
//! page faults. Each thread instead keeps one buffer and hashes into it, so memory is bounded by
//! the hashing threads times `m`, and an idle thread gives its buffer back ([`release_scratch`]).
//! The PHC strings are the `argon2` crate's own: hashes verify both ways with the stock code.

use std::cell::RefCell;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::hashing::PasswordHasher;
use crate::domain::Password;
use crate::sys::ZeroedBuffer;

type Blocks = ZeroedBuffer<Block>;

thread_local! {
    /// This thread's Argon2 working memory, kept between hashes.
    static SCRATCH: RefCell<Blocks> = const { RefCell::new(Blocks::EMPTY) };
}

/// Frees this thread's Argon2 working memory (the next hash on it allocates again).
pub fn release_scratch() {
    SCRATCH.with(|s| drop(std::mem::replace(&mut *s.borrow_mut(), Blocks::EMPTY)));
}

/// Argon2id with configurable parameters (OWASP's minimum by default).
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
}

impl Argon2Hasher {
    pub fn new(params: Params) -> Self {
        Self { params }
    }

    /// Runs Argon2 into `out` on this thread's buffer. A hash with costlier parameters than the
    /// configured ones gets a buffer of its own, so threads do not keep a larger one for good.
    fn compute(
        &self,
        argon: &Argon2<'_>,
        params: &Params,
        pwd: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> anyhow::Result<()> {
        let needed = params.block_count();
        let mut run = |blocks: &mut [Block]| {
            argon
                .hash_password_into_with_memory(pwd, salt, out, blocks)
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
        };
        if needed > self.params.block_count() {
            return run(Blocks::new(needed)?.as_mut_slice());
        }
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                return run(Blocks::new(needed)?.as_mut_slice());
            };
            if scratch.len() < needed {
                // The old buffer goes first: two at once would double the peak.
                *scratch = Blocks::EMPTY;
                *scratch = Blocks::new(self.params.block_count())?;
            }
            run(&mut scratch.as_mut_slice()[..needed])
        })
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt
            .as_salt()
            .decode_b64(&mut salt_bytes)
            .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut out = vec![
            0u8;
            self.params
                .output_len()
                .unwrap_or(Params::DEFAULT_OUTPUT_LEN)
        ];
        self.compute(
            &argon,
            &self.params,
            password.expose().as_bytes(),
            salt_bytes,
            &mut out,
        )?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| anyhow::anyhow!("{e}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("{e}"))?),
        };
        Ok(phc.to_string())
    }

    fn verify(&self, password: &Password, phc: &str) -> anyhow::Result<bool> {
        // Hashes imported from the Django service, until their owner's next login.
        if super::django_hash::is_django_hash(phc) {
            return super::django_hash::verify(password.expose(), phc);
        }
        let unreadable = |e: &dyn std::fmt::Display| anyhow::anyhow!("stored hash unreadable: {e}");
        let parsed = PasswordHash::new(phc).map_err(|e| unreadable(&e))?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(unreadable(&"no salt or no hash"));
        };
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| unreadable(&e))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| unreadable(&e))?
            .unwrap_or_default();
        // Carries the stored hash's own m, t, p and output length.
        let params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_bytes)
            .map_err(|e| unreadable(&e))?;
        let argon = Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        self.compute(
            &argon,
            &params,
            password.expose().as_bytes(),
            salt_bytes,
            &mut out,
        )?;
        // `Output`'s equality is constant-time.
        Ok(Output::new(&out).map_err(|e| unreadable(&e))? == expected)
    }

    /// Also true for an Argon2id hash made with other parameters than the configured ones,
    /// so raising the settings upgrades every account at its next login.
    fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        parsed.algorithm != Algorithm::Argon2id.ident()
            || Params::try_from(&parsed).map_or(true, |p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    != (
                        self.params.m_cost(),
                        self.params.t_cost(),
                        self.params.p_cost(),
                    )
            })
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn small() -> Params {
        Params::new(64, 1, 1, None).unwrap()
    }

    fn password(s: &str) -> Password {
        Password::new(s.to_owned())
    }

    #[test]
    fn hashes_made_here_verify_with_the_stock_argon2_code() {
        let phc = Argon2Hasher::new(small())
            .hash(&password("pässwörd 1"))
            .unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password("pässwörd 1".as_bytes(), &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"other", &parsed)
                .is_err()
        );
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
    }

    #[test]
    fn hashes_made_by_the_stock_code_verify_here_whatever_their_parameters() {
        let hasher = Argon2Hasher::new(small());
        for params in [
            small(),
            Params::new(128, 2, 2, Some(16)).unwrap(),
            Params::new(32, 3, 1, None).unwrap(),
        ] {
            let salt = SaltString::generate(&mut OsRng);
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let phc = argon
                .hash_password(b"secret words", &salt)
                .unwrap()
                .to_string();
            assert!(
                hasher.verify(&password("secret words"), &phc).unwrap(),
                "{phc}"
            );
            assert!(
                !hasher.verify(&password("secret word"), &phc).unwrap(),
                "{phc}"
            );
        }
    }

    #[test]
    fn the_buffer_is_kept_between_hashes_and_released_on_request() {
        let hasher = Argon2Hasher::new(small());
        let phc = hasher.hash(&password("one two three")).unwrap();
        assert_eq!(SCRATCH.with(|s| s.borrow().len()), small().block_count());
        assert!(hasher.verify(&password("one two three"), &phc).unwrap());
        release_scratch();
        assert_eq!(SCRATCH.with(|s| s.borrow().len()), 0);
        assert!(hasher.verify(&password("one two three"), &phc).unwrap());
    }

    #[test]
    fn an_unreadable_stored_hash_is_an_error_not_a_match() {
        let hasher = Argon2Hasher::new(small());
        for phc in [
            "",
            "$argon2id$v=19$m=64,t=1,p=1$",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
            "plain",
        ] {
            assert!(hasher.verify(&password("x"), phc).is_err(), "{phc:?}");
        }
    }
}
