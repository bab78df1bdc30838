//! Benchmark helper: how long one password hash takes with the service's configured Argon2id
//! parameters. It reads the same settings as `kitchen-api` (flags or `KITCHEN_API_ARGON2_*`
//! and the other environment variables), hashes a password `--iterations` times with the
//! crate's own [`Argon2Hasher`] on one thread, verifies the last hash as often, and prints one
//! JSON object: the median, minimum and maximum times in milliseconds, and the settings used
//! (`bench/run` derives the "hash ceiling", cores ÷ hash time, from it). Besides wall-clock time
//! it reports the thread's own CPU time per hash (from `/proc/thread-self/schedstat`), which
//! other work on a shared machine does not inflate.

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

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = serde_json::json!({
        "iterations": iterations,
        "hash_ms": summary(&mut hash_ms),
        "verify_ms": summary(&mut verify_ms),
        "hash_cpu_ms": summary(&mut hash_cpu_ms),
        "verify_cpu_ms": summary(&mut verify_cpu_ms),
        "cores": cores,
        "argon2_memory_kib": args.config.argon2_memory_kib,
        "argon2_iterations": args.config.argon2_iterations,
        "argon2_parallelism": args.config.argon2_parallelism,
        "hash_concurrency": args.config.hash_concurrency(),
        "db_max_connections": args.config.db_max_connections,
        "db_acquire_timeout_secs": args.config.db_acquire_timeout_secs,
        "log": args.config.log,
        "phc_prefix": phc.rsplitn(3, '$').last().unwrap_or_default(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{report}")?;
    out.flush()?;
    Ok(())
}

/// Nanoseconds this thread has spent on a CPU, if the kernel says (first field of
/// `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
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
