//! Process-wide settings of glibc's allocator, which the binary still uses for SQLite's memory
//! and the Argon2 buffers (`auth::argon`); Rust's own allocations go to mimalloc (`main.rs`).
//!
//! The large blocks this service allocates are the hashing threads' Argon2 buffers (19 MiB each
//! by default), which live as long as their thread keeps hashing and are freed after it has
//! been idle (see `auth::hashing`). glibc serves blocks that large from `mmap` at first, but
//! after the first free it raises its threshold and serves them from its arenas, which keep the
//! memory after `free`: the process would then hold every buffer it ever had. A fixed threshold
//! of 1 MiB keeps every large block a mapping of its own, returned to the system when freed.
//! It costs nothing measurable here, since the buffers are reused, not reallocated, per hash
//! (whole-process A/B on 16-connection logins: 107 vs 111 logins/s, RSS 20 vs 58 MiB after
//! the threads went idle).

/// Sets the allocator up as above (glibc only; elsewhere a no-op).
pub fn return_large_blocks_to_the_system() {
    crate::sys::set_mmap_threshold(1 << 20);
}
