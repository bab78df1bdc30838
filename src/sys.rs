//! The one module with `unsafe` code, each use behind a safe function; the crate denies it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::NonNull;

/// Lowers the calling thread's priority to nice 10 (Linux only); returns whether it did.
pub fn lower_this_threads_priority() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: no pointers; on Linux, PRIO_PROCESS with 0 names the calling thread only.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Has glibc map each block of 1 MiB or more on its own, so a freed Argon2 buffer is unmapped.
pub fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter, at any time, and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

pub fn sqlite_autocommit(handle: &mut sqlx::sqlite::LockedSqliteHandle<'_>) -> bool {
    let raw = handle.as_raw_handle();
    // SAFETY: an open handle, which the lock keeps the connection's thread from using meanwhile.
    unsafe { rusqlite::ffi::sqlite3_get_autocommit(raw.as_ptr()) != 0 }
}

/// # Safety
/// Only for types whose all-zero bytes are a valid value: plain integers and arrays of them.
pub unsafe trait Zeroable {}

// SAFETY: an Argon2 block is an array of u64.
unsafe impl Zeroable for argon2::Block {}

const HUGE_PAGE: usize = 2 << 20;

/// Zeroed values from the [`System`] allocator, unmapped when freed, on huge pages if large.
pub struct ZeroedBuffer<T: Zeroable> {
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
        // SAFETY: a non-zero size (len > 0 and T is not zero-sized).
        let raw = unsafe { System.alloc(layout) };
        let ptr = NonNull::new(raw.cast::<T>())
            .ok_or_else(|| anyhow::anyhow!("cannot allocate {} bytes", layout.size()))?;
        if layout.align() == HUGE_PAGE {
            advise_huge_pages(raw, layout.size());
        }
        // SAFETY: just allocated for this size. Zeroing after the advice faults in huge pages.
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
        // SAFETY: `len` zeroed values (valid: `Zeroable`), or dangling with `len` 0.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for ZeroedBuffer<T> {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        if let Ok(layout) = Self::layout(self.len) {
            // SAFETY: allocated by `System` with this very layout.
            unsafe { System.dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

fn advise_huge_pages(ptr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: only changes how the kernel backs a live allocation, not its contents.
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
