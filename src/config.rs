//! One typed configuration, read from the command line and the environment, validated before
//! anything starts. Every setting has an environment variable so that containers and process
//! managers can configure the service without flags; `kitchen-api --help` lists them all.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Defaults live here once, shared by the CLI definitions and [`Config::default`].
pub mod defaults {
    pub const DATABASE_URL: &str = "sqlite://kitchen.db";
    pub const BIND: &str = "127.0.0.1:8000";
    /// OWASP's minimum for Argon2id: m=19456 KiB (19 MiB), t=2, p=1.
    pub const ARGON2_MEMORY_KIB: u32 = 19_456;
    pub const ARGON2_ITERATIONS: u32 = 2;
    pub const ARGON2_PARALLELISM: u32 = 1;
    pub const MAX_BODY_BYTES: usize = 64 * 1024;
    pub const DB_MAX_CONNECTIONS: u32 = 16;
    pub const DB_ACQUIRE_TIMEOUT_SECS: u64 = 5;
    pub const LOG: &str = "info";
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Every setting of the service. Flags override environment variables, which override defaults.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database to use: `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long, global = true, env = "DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
    pub database_url: String,

    /// Address to listen on. Port 0 picks a free port; the log says which.
    #[arg(long, global = true, env = "KITCHEN_API_BIND", default_value = defaults::BIND)]
    pub bind: SocketAddr,

    /// Argon2id memory cost in KiB for new password hashes.
    #[arg(long, global = true, env = "KITCHEN_API_ARGON2_MEMORY_KIB", default_value_t = defaults::ARGON2_MEMORY_KIB)]
    pub argon2_memory_kib: u32,

    /// Argon2id time cost (iterations) for new password hashes.
    #[arg(long, global = true, env = "KITCHEN_API_ARGON2_ITERATIONS", default_value_t = defaults::ARGON2_ITERATIONS)]
    pub argon2_iterations: u32,

    /// Argon2id parallelism (lanes) for new password hashes.
    #[arg(long, global = true, env = "KITCHEN_API_ARGON2_PARALLELISM", default_value_t = defaults::ARGON2_PARALLELISM)]
    pub argon2_parallelism: u32,

    /// Password hashes allowed to run at once (each holds the Argon2 memory cost).
    /// Default: the number of CPU cores.
    #[arg(long, global = true, env = "KITCHEN_API_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,

    /// Largest request body accepted, in bytes; larger bodies get 413.
    #[arg(long, global = true, env = "KITCHEN_API_MAX_BODY_BYTES", default_value_t = defaults::MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Size of the database connection pool.
    #[arg(long, global = true, env = "KITCHEN_API_DB_MAX_CONNECTIONS", default_value_t = defaults::DB_MAX_CONNECTIONS)]
    pub db_max_connections: u32,

    /// Seconds to wait for a database connection before answering 503.
    #[arg(long, global = true, env = "KITCHEN_API_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = defaults::DB_ACQUIRE_TIMEOUT_SECS)]
    pub db_acquire_timeout_secs: u64,

    /// Apply pending database migrations when the server starts.
    #[arg(long, global = true, env = "KITCHEN_API_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,

    /// Log filter, in `tracing` EnvFilter syntax (e.g. `info`, `kitchen_api=debug`).
    #[arg(long, global = true, env = "KITCHEN_API_LOG", default_value = defaults::LOG)]
    pub log: String,

    /// Log line format.
    #[arg(long, global = true, env = "KITCHEN_API_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: defaults::DATABASE_URL.to_owned(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            argon2_memory_kib: defaults::ARGON2_MEMORY_KIB,
            argon2_iterations: defaults::ARGON2_ITERATIONS,
            argon2_parallelism: defaults::ARGON2_PARALLELISM,
            hash_concurrency: None,
            max_body_bytes: defaults::MAX_BODY_BYTES,
            db_max_connections: defaults::DB_MAX_CONNECTIONS,
            db_acquire_timeout_secs: defaults::DB_ACQUIRE_TIMEOUT_SECS,
            migrate_on_start: true,
            log: defaults::LOG.to_owned(),
            log_format: LogFormat::Text,
        }
    }
}

/// A setting that cannot work, named so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

impl Config {
    /// Checks the settings that clap's types cannot, so the service fails at start with a clear
    /// message instead of at the first request.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting, reason: String| Err(ConfigError { setting, reason });
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return bad(
                "DATABASE_URL",
                "must start with sqlite:, postgres:// or postgresql://".into(),
            );
        }
        if let Err(e) = self.argon2_params() {
            return bad("KITCHEN_API_ARGON2_*", e.to_string());
        }
        if self.hash_concurrency == Some(0) {
            return bad("KITCHEN_API_HASH_CONCURRENCY", "must be at least 1".into());
        }
        if self.max_body_bytes < 1024 {
            return bad("KITCHEN_API_MAX_BODY_BYTES", "must be at least 1024".into());
        }
        if self.db_max_connections == 0 {
            return bad(
                "KITCHEN_API_DB_MAX_CONNECTIONS",
                "must be at least 1".into(),
            );
        }
        Ok(())
    }

    /// The Argon2id parameters for new hashes.
    pub fn argon2_params(&self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            None,
        )
    }

    /// How many password hashes may run at once.
    pub fn hash_concurrency(&self) -> usize {
        self.hash_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_secs)
    }
}
