//! Argon2id over reusable memory. Every hash needs `m` KiB of working memory (19 MiB by
//! default); allocating it afresh for each login made glibc keep freed blocks in per-thread
//! arenas (hundreds of MiB after a login storm) or, when it gave them back, pay 40–65 % more CPU
//! in page faults. Here each thread keeps one buffer of the configured size and hashes into it,
//! so memory is bounded by the number of hashing threads times `m`, and a thread that stops
//! hashing gives its buffer back with [`release_scratch`].
//!
//! The buffers come from the system allocator (glibc), not the process's global one
//! (mimalloc, see `main.rs`): glibc maps blocks this large on their own (`memory.rs`) and
//! unmaps them on free, so a buffer given back leaves the process at once. mimalloc would keep
//! it committed until that thread allocates again, which an idle hashing thread never does.
//! A buffer of 2 MiB or more starts on a 2 MiB boundary and is advised to use transparent huge
//! pages: Argon2 reads it at random, and with 4 KiB pages most of those reads also miss the
//! TLB (docs/decisions/0005-argon2-memory-on-huge-pages.md).
//!
//! The PHC strings are the `argon2` crate's own (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`): hashes
//! made here verify with the stock code and the other way round (see the tests).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::ptr::NonNull;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::hashing::PasswordHasher;
use crate::domain::Password;

thread_local! {
    /// This thread's Argon2 working memory, kept between hashes.
    static SCRATCH: RefCell<Blocks> = const { RefCell::new(Blocks::EMPTY) };
}

/// Frees this thread's Argon2 working memory (the next hash on it allocates again).
pub fn release_scratch() {
    SCRATCH.with(|s| drop(std::mem::replace(&mut *s.borrow_mut(), Blocks::EMPTY)));
}

/// The size of a transparent huge page on x86-64 and (4 KiB-page) arm64 Linux; elsewhere it is
/// only an alignment.
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back `len` bytes at `ptr` with huge pages (Linux; where transparent huge
/// pages are off, or elsewhere, nothing happens).
fn advise_huge_pages(ptr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: madvise only changes how the kernel backs the range, which is a live allocation
    // of `len` bytes; MADV_HUGEPAGE does not change its contents.
    unsafe {
        libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

/// Zeroed Argon2 blocks from the [`System`] allocator (see the module documentation).
struct Blocks {
    /// Dangling (never dereferenced) when `len` is 0.
    ptr: NonNull<Block>,
    len: usize,
}

impl Blocks {
    const EMPTY: Blocks = Blocks {
        ptr: NonNull::dangling(),
        len: 0,
    };

    fn zeroed(len: usize) -> anyhow::Result<Blocks> {
        if len == 0 {
            return Ok(Blocks::EMPTY);
        }
        let layout = Self::layout(len)?;
        // SAFETY: `layout` has a non-zero size (len > 0 and a block is 1 KiB).
        let raw = unsafe { System.alloc(layout) };
        let ptr = NonNull::new(raw.cast::<Block>())
            .ok_or_else(|| anyhow::anyhow!("cannot allocate {len} KiB for Argon2"))?;
        if layout.align() == HUGE_PAGE {
            advise_huge_pages(raw, layout.size());
        }
        // SAFETY: `raw` is valid for `layout.size()` bytes, just allocated. Zeroing it is what
        // faults its pages in, after the advice above, so they come as huge pages where the
        // kernel has them. (System's `alloc_zeroed` zeroes over-aligned blocks the same way.)
        unsafe { std::ptr::write_bytes(raw, 0, layout.size()) };
        Ok(Blocks { ptr, len })
    }

    /// `len` blocks, aligned to a huge page when they span at least one: Argon2 reads its
    /// memory at random, and with 4 KiB pages most of those reads also miss the TLB. The size
    /// is not rounded up: a tail shorter than a huge page keeps small pages.
    fn layout(len: usize) -> anyhow::Result<Layout> {
        let layout = Layout::array::<Block>(len)?;
        if layout.size() < HUGE_PAGE {
            return Ok(layout);
        }
        Ok(layout.align_to(HUGE_PAGE)?)
    }

    fn as_mut_slice(&mut self) -> &mut [Block] {
        // SAFETY: `ptr` is valid for `len` blocks (allocated above, all-zero bytes being a valid
        // block: it is an array of integers), or dangling and aligned with `len` 0; `&mut self`
        // makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Blocks {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        if let Ok(layout) = Self::layout(self.len) {
            // SAFETY: allocated by `System` with this very layout in `zeroed`.
            unsafe { System.dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
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

    /// Runs Argon2 into `out` on this thread's buffer. A hash made with other parameters than
    /// the configured ones (stored before a settings change) gets a buffer of its own, so one
    /// old expensive hash cannot make every thread keep a larger buffer for good.
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
            return run(Blocks::zeroed(needed)?.as_mut_slice());
        }
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                return run(Blocks::zeroed(needed)?.as_mut_slice());
            };
            if scratch.len < needed {
                // The old buffer goes first: two at once would double the peak.
                *scratch = Blocks::EMPTY;
                *scratch = Blocks::zeroed(self.params.block_count())?;
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
#[allow(clippy::unwrap_used)]
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
        assert_eq!(SCRATCH.with(|s| s.borrow().len), small().block_count());
        assert!(hasher.verify(&password("one two three"), &phc).unwrap());
        release_scratch();
        assert_eq!(SCRATCH.with(|s| s.borrow().len), 0);
        assert!(hasher.verify(&password("one two three"), &phc).unwrap());
    }

    /// The production buffer (19 MiB) starts on a huge page and is advised to use them: with
    /// them a login took 5–9 % less CPU on the benchmark machines (docs/decisions/0005).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_buffer_of_huge_pages_size_is_aligned_and_advised_to_use_them() {
        let mut blocks = Blocks::zeroed(19 * 1024).unwrap();
        let start = blocks.ptr.as_ptr() as usize;
        assert_eq!(start % HUGE_PAGE, 0, "{start:#x}");
        assert!(
            blocks
                .as_mut_slice()
                .iter()
                .all(|b| b.as_ref().iter().all(|&w| w == 0))
        );
        if std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            let flags = vm_flags(start).unwrap();
            assert!(flags.split_whitespace().any(|f| f == "hg"), "{flags}");
        }
        // A small buffer keeps the ordinary alignment (no 2 MiB of address space per KiB).
        assert_eq!(
            Blocks::layout(64).unwrap().align(),
            std::mem::align_of::<Block>()
        );
    }

    /// The `VmFlags` line of the mapping that holds `address`, from /proc/self/smaps.
    #[cfg(target_os = "linux")]
    fn vm_flags(address: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((from, to)) = first.split_once('-') {
                if let (Ok(from), Ok(to)) = (
                    usize::from_str_radix(from, 16),
                    usize::from_str_radix(to, 16),
                ) {
                    inside = (from..to).contains(&address);
                    continue;
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return Some(flags.to_owned());
                }
            }
        }
        None
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
