//! Benchmark helper: how long one password hash takes with the service's configured Argon2id
//! parameters. It reads the same settings as `kitchen-api` (flags or `KITCHEN_API_ARGON2_*`
//! and the other environment variables), hashes a password `--iterations` times with the
//! crate's own [`Argon2Hasher`] on one thread, verifies the last hash as often, and prints one
//! JSON object: the median, minimum and maximum times in milliseconds, and the settings used
//! (`bench/run` derives the "hash ceiling", cores ÷ hash time, from it). Besides wall-clock time
//! it reports the thread's own CPU time per hash (`CLOCK_THREAD_CPUTIME_ID`), which other work
//! on a shared machine does not inflate. (`/proc/thread-self/schedstat`, used before, is only
//! brought up to date at scheduler ticks on some kernels: its per-hash figures came in 4 ms
//! steps, and their median understated a hash by 2 ms here.)
//!
//! Then it hashes on every core at once (one thread per core, `--parallel-iterations` hashes
//! each, `--iterations` unless given) and reports that too: the hashes per second the machine
//! sustains when all cores hash, and each hash's CPU time then. Argon2 is memory-bound, so concurrent hashes can slow each other down
//! (shared caches and memory bandwidth); this figure says how much, and is reported beside
//! the ceiling, not instead of it.

use std::io::Write;
use std::time::Instant;

use clap::Parser;
use kitchen_api::auth::{Argon2Hasher, PasswordHasher};
use kitchen_api::config::Config;
use kitchen_api::domain::Password;

#[derive(Debug, Parser)]
#[command(
    name = "bench_hash",
    about = "Time one Argon2id hash with the service's settings"
)]
struct Args {
    /// How many hashes (and verifications) to time.
    #[arg(long, default_value_t = 20)]
    iterations: usize,

    /// How many hashes each thread makes when every core hashes at once (default: as many as
    /// `--iterations`). The rate is taken over the whole run, so more gives a steadier figure.
    #[arg(long)]
    parallel_iterations: Option<usize>,

    #[command(flatten)]
    config: Config,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.config.validate()?;
    let params = args.config.argon2_params()?;
    let hasher = Argon2Hasher::new(params);
    let password = Password::new("correct-horse-battery-staple-42".to_owned());
    let iterations = args.iterations.max(1);

    // One untimed hash first: page faults on the first 19 MiB block are a start-up cost.
    let mut phc = hasher.hash(&password)?;
    let mut hash_ms = Vec::with_capacity(iterations);
    let mut hash_cpu_ms = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let (start, cpu) = (Instant::now(), thread_cpu_ns());
        phc = hasher.hash(&password)?;
        hash_ms.push(start.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (cpu, thread_cpu_ns()) {
            hash_cpu_ms.push(b.saturating_sub(a) as f64 / 1e6);
        }
    }
    let mut verify_ms = Vec::with_capacity(iterations);
    let mut verify_cpu_ms = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let (start, cpu) = (Instant::now(), thread_cpu_ns());
        let ok = hasher.verify(&password, &phc)?;
        verify_ms.push(start.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (cpu, thread_cpu_ns()) {
            verify_cpu_ms.push(b.saturating_sub(a) as f64 / 1e6);
        }
        anyhow::ensure!(ok, "a fresh hash did not verify");
    }

    // A login verifies and a registration hashes: both are one Argon2 run, so "one hash" is
    // the median over both kinds of sample.
    let mut both_cpu_ms: Vec<f64> = hash_cpu_ms.iter().chain(&verify_cpu_ms).copied().collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = args.parallel_iterations.unwrap_or(iterations).max(1);
    let parallel = all_cores(&hasher, &password, cores, per_thread)?;
    let report = serde_json::json!({
        "iterations": iterations,
        "hash_ms": summary(&mut hash_ms),
        "verify_ms": summary(&mut verify_ms),
        "hash_cpu_ms": summary(&mut hash_cpu_ms),
        "verify_cpu_ms": summary(&mut verify_cpu_ms),
        "one_hash_cpu_ms": summary(&mut both_cpu_ms),
        "cores": cores,
        "parallel": parallel,
        "argon2_memory_kib": args.config.argon2_memory_kib,
        "argon2_iterations": args.config.argon2_iterations,
        "argon2_parallelism": args.config.argon2_parallelism,
        "hash_concurrency": args.config.hash_concurrency(),
        "db_max_connections": args.config.db_max_connections,
        "auth_cache_max_entries": args.config.auth_cache_max_entries,
        "db_acquire_timeout_secs": args.config.db_acquire_timeout_secs,
        "log": args.config.log,
        "phc_prefix": phc.rsplitn(3, '$').last().unwrap_or_default(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{report}")?;
    out.flush()?;
    Ok(())
}

/// `cores` threads hashing `iterations` times each, all at once: hashes per second over the
/// whole run (wall clock) and the CPU time of each hash.
fn all_cores(
    hasher: &Argon2Hasher,
    password: &Password,
    cores: usize,
    iterations: usize,
) -> anyhow::Result<serde_json::Value> {
    let start = Instant::now();
    let per_thread = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<Vec<f64>> {
                    hasher.hash(password)?; // untimed, as above
                    let mut cpu_ms = Vec::with_capacity(iterations);
                    for _ in 0..iterations {
                        let cpu = thread_cpu_ns();
                        hasher.hash(password)?;
                        if let (Some(a), Some(b)) = (cpu, thread_cpu_ns()) {
                            cpu_ms.push(b.saturating_sub(a) as f64 / 1e6);
                        }
                    }
                    Ok(cpu_ms)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a hashing thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    // The untimed first hash of each thread is in the wall time too.
    let wall_s = start.elapsed().as_secs_f64();
    let mut cpu_ms: Vec<f64> = per_thread.into_iter().flatten().collect();
    Ok(serde_json::json!({
        "threads": cores,
        "hashes_per_s": (cores * (iterations + 1)) as f64 / wall_s,
        "hash_cpu_ms": summary(&mut cpu_ms),
    }))
}

/// Nanoseconds this thread has spent on a CPU (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(u64::try_from(ts.tv_sec).ok()? * 1_000_000_000 + u64::try_from(ts.tv_nsec).ok()?)
}

/// Median, minimum and maximum of `samples` (sorted in place).
fn summary(samples: &mut [f64]) -> serde_json::Value {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n == 0 {
        return serde_json::Value::Null;
    }
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    serde_json::json!({
        "median": median,
        "min": samples.first().copied().unwrap_or_default(),
        "max": samples.last().copied().unwrap_or_default(),
    })
}
