//! Benchmark helper: times the service's password hash with its own settings and prints one
//! JSON object: one hash at a time (wall and thread CPU time, which a shared machine does not
//! inflate), then one hash per core at once. `bench/run` judges logins and registrations
//! against that all-cores rate: concurrent 19 MiB hashes slow each other down through shared
//! caches and memory bandwidth, so cores ÷ one hash alone is only shown beside it.

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

    /// Hashes per thread when every core hashes at once (default: `--iterations`).
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

    // Untimed: page faults on the first 19 MiB block are a start-up cost.
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

    // A login verifies and a registration hashes: both are one Argon2 run.
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

/// `cores` threads hashing `iterations` times each, all at once: hashes per wall-clock
/// second and each hash's CPU time.
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
    let wall_s = start.elapsed().as_secs_f64();
    let mut cpu_ms: Vec<f64> = per_thread.into_iter().flatten().collect();
    Ok(serde_json::json!({
        "threads": cores,
        // Each thread's untimed first hash is in the wall time too.
        "hashes_per_s": (cores * (iterations + 1)) as f64 / wall_s,
        "hash_cpu_ms": summary(&mut cpu_ms),
    }))
}

/// This thread's CPU time in nanoseconds; the standard library has no per-thread CPU clock.
fn thread_cpu_ns() -> Option<u64> {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
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
