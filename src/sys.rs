//! The one place with `unsafe` code: calls into the C library and SQLite, and one zeroed,
//! aligned allocation, each behind a safe function. The rest of the crate denies `unsafe`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::NonNull;

/// Lowers the calling thread's scheduling priority to nice 10 (Linux; elsewhere a no-op).
/// Returns whether it did.
pub fn lower_this_threads_priority() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority takes no pointers; on Linux, PRIO_PROCESS with 0 names the
        // calling thread only.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Makes glibc serve every block of at least `bytes` from a mapping of its own, given back to
/// the system when freed (glibc only; elsewhere a no-op).
pub fn set_mmap_threshold(bytes: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a tuning parameter of glibc's allocator, may be called at
    // any time, and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, bytes);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = bytes;
}

/// Whether SQLite says the connection has no transaction open.
pub fn sqlite_autocommit(handle: &mut sqlx::sqlite::LockedSqliteHandle<'_>) -> bool {
    let raw = handle.as_raw_handle();
    // SAFETY: `raw` is the connection's open handle, and the lock keeps the connection's worker
    // thread from using it during the call, which only reads a flag.
    unsafe { rusqlite::ffi::sqlite3_get_autocommit(raw.as_ptr()) != 0 }
}

/// Types for which all-zero bytes are a valid value.
///
/// # Safety
/// Implement only for plain data whose every field is an integer (or an array of them).
pub unsafe trait Zeroable {}

// SAFETY: an Argon2 block is an array of u64.
unsafe impl Zeroable for argon2::Block {}

/// The size of a transparent huge page on x86-64 and (4 KiB-page) arm64 Linux; elsewhere it is
/// only an alignment.
pub const HUGE_PAGE: usize = 2 << 20;

/// `len` zeroed values from the [`System`] allocator, not the global one, so that freeing a
/// large buffer unmaps it at once. A buffer that spans a huge page starts on one and is advised
/// to use them; its size is not rounded up, so a shorter tail keeps small pages.
pub struct ZeroedBuffer<T: Zeroable> {
    /// Dangling (never dereferenced) when `len` is 0.
    ptr: NonNull<T>,
    len: usize,
}

impl<T: Zeroable> ZeroedBuffer<T> {
    pub const EMPTY: Self = Self {
        ptr: NonNull::dangling(),
        len: 0,
    };

    pub fn new(len: usize) -> anyhow::Result<Self> {
        if len == 0 || size_of::<T>() == 0 {
            return Ok(Self::EMPTY);
        }
        let layout = Self::layout(len)?;
        // SAFETY: `layout` has a non-zero size (len > 0 and T is not zero-sized).
        let raw = unsafe { System.alloc(layout) };
        let ptr = NonNull::new(raw.cast::<T>())
            .ok_or_else(|| anyhow::anyhow!("cannot allocate {} bytes", layout.size()))?;
        if layout.align() == HUGE_PAGE {
            advise_huge_pages(raw, layout.size());
        }
        // SAFETY: `raw` is valid for `layout.size()` bytes, just allocated. Zeroing it faults
        // its pages in after the advice above, so they come as huge pages where there are any.
        unsafe { std::ptr::write_bytes(raw, 0, layout.size()) };
        Ok(Self { ptr, len })
    }

    fn layout(len: usize) -> anyhow::Result<Layout> {
        let layout = Layout::array::<T>(len)?;
        if layout.size() < HUGE_PAGE {
            return Ok(layout);
        }
        Ok(layout.align_to(HUGE_PAGE)?)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: `ptr` is valid for `len` values (allocated and zeroed above, which `Zeroable`
        // makes valid), or dangling and aligned with `len` 0; `&mut self` makes the borrow
        // exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for ZeroedBuffer<T> {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        if let Ok(layout) = Self::layout(self.len) {
            // SAFETY: allocated by `System` with this very layout in `new`.
            unsafe { System.dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

/// Asks the kernel to back `len` bytes at `ptr`, a live allocation, with huge pages (Linux;
/// where transparent huge pages are off, or elsewhere, nothing happens).
fn advise_huge_pages(ptr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: madvise only changes how the kernel backs the range, a live allocation of `len`
    // bytes; MADV_HUGEPAGE does not change its contents.
    unsafe {
        libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

#[cfg(test)]
mod tests {
    use argon2::Block;

    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_buffer_of_huge_pages_size_is_aligned_zeroed_and_advised_to_use_them() {
        let mut blocks = ZeroedBuffer::<Block>::new(19 * 1024).unwrap();
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
            ZeroedBuffer::<Block>::layout(64).unwrap().align(),
            align_of::<Block>()
        );
    }

    #[test]
    fn an_empty_buffer_is_an_empty_slice() {
        let mut empty = ZeroedBuffer::<Block>::new(0).unwrap();
        assert_eq!(empty.len(), 0);
        assert!(empty.as_mut_slice().is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_priority_of_this_thread_only_is_lowered() {
        let main_before = std::fs::read_to_string("/proc/self/stat").unwrap();
        let nice_of = |stat: &str| {
            stat.rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .nth(16)
                .map(str::to_owned)
        };
        let lowered = std::thread::spawn(|| {
            let done = lower_this_threads_priority();
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            (done, stat)
        })
        .join()
        .unwrap();
        assert!(lowered.0);
        assert_eq!(nice_of(&lowered.1).as_deref(), Some("10"));
        let main_after = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert_eq!(nice_of(&main_after), nice_of(&main_before));
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
}
