//! One typed configuration from flags, environment or settings file, validated at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

pub mod defaults {
    pub const DATABASE_URL: &str = "sqlite://kitchen.db";
    pub const BIND: &str = "127.0.0.1:8000";
    pub const CONSOLE_IDLE_MINUTES: u64 = 30;
    pub const CONSOLE_SESSION_HOURS: u64 = 12;
    /// OWASP's minimum for Argon2id: m=19456 KiB (19 MiB), t=2, p=1.
    pub const ARGON2_MEMORY_KIB: u32 = 19_456;
    pub const ARGON2_ITERATIONS: u32 = 2;
    pub const ARGON2_PARALLELISM: u32 = 1;
    pub const MAX_BODY_BYTES: usize = 64 * 1024;
    pub const PICTURE_DIR: &str = "pictures";
    pub const S3_REGION: &str = "us-east-1";
    pub const DB_MAX_CONNECTIONS: u32 = 16;
    pub const DB_ACQUIRE_TIMEOUT_SECS: u64 = 5;
    pub const LOG: &str = "info";
    pub const AUTH_CACHE_TTL_MS: u64 = 300_000;
    pub const AUTH_CACHE_MAX_ENTRIES: usize = 100_000;
    pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
    pub const MAX_CONNECTIONS: usize = 1024;
    pub const HEADER_READ_TIMEOUT_MS: u64 = 30_000;
    /// Supabase Auth's sign-up limit: many customers can share one address (CGNAT).
    pub const REGISTRATIONS_PER_ADDRESS: u32 = 30;
    pub const REGISTRATION_WINDOW_SECS: u64 = 300;
    /// Passkey logins begun per client address in any registration window: each stores a
    /// ceremony for 5 minutes. Generous, as for registrations, for customers behind one CGNAT.
    pub const PASSKEY_LOGINS_PER_ADDRESS: u32 = 300;
    pub const CODE_MAILS_PER_ADDRESS: u32 = 10;
    pub const CODE_MAILS_PER_ACCOUNT: u32 = 5;
    pub const RATE_WINDOW_SECS: u64 = 3600;
    pub const TOKEN_LIFETIME_SECS: u64 = 90 * 24 * 60 * 60;
    pub const TOKEN_IDLE_TIMEOUT_SECS: u64 = 30 * 24 * 60 * 60;
    pub const MAX_TOKENS_PER_USER: u32 = 50;
    pub const MAX_ADDRESSES_PER_USER: u32 = 20;
    pub const LOGIN_ACCOUNT_FREE_FAILURES: u32 = 5;
    pub const LOGIN_ADDRESS_FREE_FAILURES: u32 = 20;
    pub const LOGIN_BASE_DELAY_SECS: u64 = 1;
    pub const LOGIN_MAX_DELAY_SECS: u64 = 300;
    pub const LOGIN_FORGET_AFTER_SECS: u64 = 24 * 60 * 60;
    /// A year of audit history (as e.g. PCI DSS asks); not forever: events hold addresses.
    pub const SECURITY_EVENT_RETENTION_DAYS: u32 = 365;
    pub const MAX_SECURITY_EVENT_RETENTION_DAYS: u32 = 36_500;
    pub const WEBAUTHN_RP_NAME: &str = "Rayvers Kitchen";
    /// The RP ID and origin without `KITCHEN_API_PUBLIC_URL`: a browser on this machine.
    pub const WEBAUTHN_RP_ID: &str = "localhost";
    pub const WEBAUTHN_ORIGIN: &str = "http://localhost:8000";
    pub const MFA_ISSUER: &str = "Rayvers Kitchen";
    pub const MFA_KEY_FILE: &str = "kitchen-mfa.key";
}

/// Where profile pictures are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PictureStorage {
    /// A directory on this machine (`KITCHEN_API_PICTURE_DIR`), served by this service.
    Local,
    /// An S3-compatible bucket (`KITCHEN_API_S3_*`), served by the bucket or a CDN.
    S3,
}

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

    /// Base URL of links in answers, e.g. `https://api.example.com`. Default: the bind address.
    #[arg(long, global = true, env = "KITCHEN_API_PUBLIC_URL")]
    pub public_url: Option<crate::public_url::PublicUrl>,

    /// Region national phone numbers are read in (two letters, e.g. `NG`). Default: none; a
    /// national number must then be valid in at least one region.
    #[arg(long, global = true, env = "KITCHEN_API_PHONE_REGION")]
    pub phone_region: Option<crate::domain::PhoneRegion>,

    /// Argon2id memory cost (KiB) of new password hashes.
    #[arg(long, global = true, env = "KITCHEN_API_ARGON2_MEMORY_KIB", default_value_t = defaults::ARGON2_MEMORY_KIB)]
    pub argon2_memory_kib: u32,

    /// Argon2id time cost (iterations) for new password hashes.
    #[arg(long, global = true, env = "KITCHEN_API_ARGON2_ITERATIONS", default_value_t = defaults::ARGON2_ITERATIONS)]
    pub argon2_iterations: u32,

    /// Argon2id parallelism (lanes) for new password hashes.
    #[arg(long, global = true, env = "KITCHEN_API_ARGON2_PARALLELISM", default_value_t = defaults::ARGON2_PARALLELISM)]
    pub argon2_parallelism: u32,

    /// Password hashes run at once (each holds the Argon2 memory). Default: the CPU cores.
    #[arg(long, global = true, env = "KITCHEN_API_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,

    /// Where profile pictures are stored: a local directory or S3-compatible object storage.
    #[arg(long, global = true, env = "KITCHEN_API_PICTURE_STORAGE", value_enum, default_value_t = PictureStorage::Local)]
    pub picture_storage: PictureStorage,

    /// Directory of stored profile pictures (local storage), created if missing.
    #[arg(long, global = true, env = "KITCHEN_API_PICTURE_DIR", default_value = defaults::PICTURE_DIR)]
    pub picture_dir: PathBuf,

    /// Pictures decoded and encoded at once (threads of the picture pool). 0: half the cores.
    #[arg(
        long,
        global = true,
        env = "KITCHEN_API_PICTURE_CONCURRENCY",
        default_value_t = 0
    )]
    pub picture_concurrency: usize,

    /// S3: public base URL profiles show for pictures (a CDN). Default: the endpoint and
    /// bucket, or `https://{bucket}.s3.{region}.amazonaws.com`.
    #[arg(long, global = true, env = "KITCHEN_API_PICTURE_BASE_URL")]
    pub picture_base_url: Option<String>,

    /// S3 bucket of profile pictures; required when the storage is `s3`.
    #[arg(long, global = true, env = "KITCHEN_API_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// S3 region.
    #[arg(long, global = true, env = "KITCHEN_API_S3_REGION", default_value = defaults::S3_REGION)]
    pub s3_region: String,

    /// S3-compatible server, e.g. `http://127.0.0.1:9000` (path-style requests).
    #[arg(long, global = true, env = "KITCHEN_API_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 access key id. Unset: the standard AWS environment or instance credentials.
    #[arg(long, global = true, env = "KITCHEN_API_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key: environment or settings file only.
    #[arg(
        long,
        global = true,
        env = "KITCHEN_API_S3_SECRET_ACCESS_KEY",
        hide = true
    )]
    pub s3_secret_access_key: Option<crate::pictures::S3Secret>,

    /// Largest request body accepted, in bytes; larger bodies get 413.
    #[arg(long, global = true, env = "KITCHEN_API_MAX_BODY_BYTES", default_value_t = defaults::MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Size of the database connection pool.
    #[arg(long, global = true, env = "KITCHEN_API_DB_MAX_CONNECTIONS", default_value_t = defaults::DB_MAX_CONNECTIONS)]
    pub db_max_connections: u32,

    /// Seconds to wait for a database connection before answering 503.
    #[arg(long, global = true, env = "KITCHEN_API_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = defaults::DB_ACQUIRE_TIMEOUT_SECS)]
    pub db_acquire_timeout_secs: u64,

    /// On SQLite, look tokens up on the request's thread, not the pool's workers.
    #[arg(long, global = true, env = "KITCHEN_API_SQLITE_INLINE_READS", default_value_t = true, action = clap::ArgAction::Set)]
    pub sqlite_inline_reads: bool,

    /// Apply pending database migrations when the server starts.
    #[arg(long, global = true, env = "KITCHEN_API_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,

    /// Seconds a token lives from its login, however much it is used. 0: no limit.
    #[arg(long, global = true, env = "KITCHEN_API_TOKEN_LIFETIME_SECS", default_value_t = defaults::TOKEN_LIFETIME_SECS)]
    pub token_lifetime_secs: u64,

    /// Seconds a token may go unused before it dies: 0 (no limit) or at least 60.
    #[arg(long, global = true, env = "KITCHEN_API_TOKEN_IDLE_TIMEOUT_SECS", default_value_t = defaults::TOKEN_IDLE_TIMEOUT_SECS)]
    pub token_idle_timeout_secs: u64,

    /// Live tokens one user may hold (one per device); a new login revokes the oldest beyond.
    #[arg(long, global = true, env = "KITCHEN_API_MAX_TOKENS_PER_USER", default_value_t = defaults::MAX_TOKENS_PER_USER)]
    pub max_tokens_per_user: u32,

    /// Delivery addresses one user may save; adding one more is refused (400).
    #[arg(long, global = true, env = "KITCHEN_API_MAX_ADDRESSES_PER_USER", default_value_t = defaults::MAX_ADDRESSES_PER_USER)]
    pub max_addresses_per_user: u32,

    /// Registrations per client address in any registration window. 0: no limit.
    #[arg(long, global = true, env = "KITCHEN_API_REGISTRATIONS_PER_ADDRESS", default_value_t = defaults::REGISTRATIONS_PER_ADDRESS)]
    pub registrations_per_address: u32,

    /// Passkey logins begun (`POST /token/passkey/options/`) per client address in any
    /// registration window. 0: no limit.
    #[arg(long, global = true, env = "KITCHEN_API_PASSKEY_LOGINS_PER_ADDRESS", default_value_t = defaults::PASSKEY_LOGINS_PER_ADDRESS)]
    pub passkey_logins_per_address: u32,

    /// The sliding window (seconds) of the registration limit.
    #[arg(long, global = true, env = "KITCHEN_API_REGISTRATION_WINDOW_SECS", default_value_t = defaults::REGISTRATION_WINDOW_SECS)]
    pub registration_window_secs: u64,

    /// Code mails per client address in any rate window. 0: no limit.
    #[arg(long, global = true, env = "KITCHEN_API_CODE_MAILS_PER_ADDRESS", default_value_t = defaults::CODE_MAILS_PER_ADDRESS)]
    pub code_mails_per_address: u32,

    /// Code mails per account in any rate window (bounds code guessing). 0: no limit.
    #[arg(long, global = true, env = "KITCHEN_API_CODE_MAILS_PER_ACCOUNT", default_value_t = defaults::CODE_MAILS_PER_ACCOUNT)]
    pub code_mails_per_account: u32,

    /// The sliding window (seconds) of the code-mail limits.
    #[arg(long, global = true, env = "KITCHEN_API_RATE_WINDOW_SECS", default_value_t = defaults::RATE_WINDOW_SECS)]
    pub rate_window_secs: u64,

    /// Deadline (ms) for one request, body included; past it the answer is 503.
    #[arg(long, global = true, env = "KITCHEN_API_REQUEST_TIMEOUT_MS", default_value_t = defaults::REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: u64,

    /// Client connections open at once (keep it below `ulimit -n`); more wait.
    #[arg(long, global = true, env = "KITCHEN_API_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Time (ms) to send headers or stay idle; above a load balancer's idle timeout.
    #[arg(long, global = true, env = "KITCHEN_API_HEADER_READ_TIMEOUT_MS", default_value_t = defaults::HEADER_READ_TIMEOUT_MS)]
    pub header_read_timeout_ms: u64,

    /// Browser origins allowed to call the API (CORS), comma-separated. Empty: none.
    #[arg(
        long,
        global = true,
        env = "KITCHEN_API_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// Session cache lifetime (ms), for changes made outside the service. 0: no cache.
    #[arg(long, global = true, env = "KITCHEN_API_AUTH_CACHE_TTL_MS", default_value_t = defaults::AUTH_CACHE_TTL_MS)]
    pub auth_cache_ttl_ms: u64,

    /// Sessions cached at most (about 300 bytes each). 0: no cache.
    #[arg(long, global = true, env = "KITCHEN_API_AUTH_CACHE_MAX_ENTRIES", default_value_t = defaults::AUTH_CACHE_MAX_ENTRIES)]
    pub auth_cache_max_entries: usize,

    /// Failed logins per account before delays start.
    #[arg(long, global = true, env = "KITCHEN_API_LOGIN_ACCOUNT_FREE_FAILURES", default_value_t = defaults::LOGIN_ACCOUNT_FREE_FAILURES)]
    pub login_account_free_failures: u32,

    /// Failed logins per client address (any accounts) before delays start.
    #[arg(long, global = true, env = "KITCHEN_API_LOGIN_ADDRESS_FREE_FAILURES", default_value_t = defaults::LOGIN_ADDRESS_FREE_FAILURES)]
    pub login_address_free_failures: u32,

    /// First login delay in seconds, doubled for each further failure.
    #[arg(long, global = true, env = "KITCHEN_API_LOGIN_BASE_DELAY_SECS", default_value_t = defaults::LOGIN_BASE_DELAY_SECS)]
    pub login_base_delay_secs: u64,

    /// Longest login delay in seconds (a lock is never permanent).
    #[arg(long, global = true, env = "KITCHEN_API_LOGIN_MAX_DELAY_SECS", default_value_t = defaults::LOGIN_MAX_DELAY_SECS)]
    pub login_max_delay_secs: u64,

    /// Seconds after the last failure when a failure counter is forgotten.
    #[arg(long, global = true, env = "KITCHEN_API_LOGIN_FORGET_AFTER_SECS", default_value_t = defaults::LOGIN_FORGET_AFTER_SECS)]
    pub login_forget_after_secs: u64,

    /// Days a security event, and a device not used since, is kept. 0: forever.
    #[arg(long, global = true, env = "KITCHEN_API_SECURITY_EVENT_RETENTION_DAYS", default_value_t = defaults::SECURITY_EVENT_RETENTION_DAYS)]
    pub security_event_retention_days: u32,

    /// Proxy addresses whose `X-Forwarded-For` is believed (comma-separated).
    #[arg(
        long,
        global = true,
        env = "KITCHEN_API_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Log filter, e.g. `info`, `warn` or `info,kitchen_api=debug`.
    #[arg(long, global = true, env = "KITCHEN_API_LOG", default_value = defaults::LOG)]
    pub log: String,

    /// Log line format.
    #[arg(long, global = true, env = "KITCHEN_API_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve the staff console at `/console/` (`false`: every console path is a 404).
    #[arg(long, global = true, env = "KITCHEN_API_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,

    /// A console session ends after this many minutes without a request.
    #[arg(long, global = true, env = "KITCHEN_API_CONSOLE_IDLE_MINUTES", default_value_t = defaults::CONSOLE_IDLE_MINUTES)]
    pub console_idle_minutes: u64,

    /// A console session ends this many hours after its sign-in, however busy.
    #[arg(long, global = true, env = "KITCHEN_API_CONSOLE_SESSION_HOURS", default_value_t = defaults::CONSOLE_SESSION_HOURS)]
    pub console_session_hours: u64,

    /// Refuse logins until the address is verified (checked after the password).
    #[arg(long, global = true, env = "KITCHEN_API_REQUIRE_VERIFIED_EMAIL", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_verified_email: bool,

    /// Bearer token `GET /metrics` requires: environment or settings file only. Unset: public.
    #[arg(long, global = true, env = "KITCHEN_API_METRICS_TOKEN", hide = true)]
    pub metrics_token: Option<crate::metrics::MetricsToken>,

    /// The name authenticator apps show beside a TOTP entry (the `issuer` of its otpauth URL).
    #[arg(long, global = true, env = "KITCHEN_API_MFA_ISSUER", default_value = defaults::MFA_ISSUER)]
    pub mfa_issuer: String,

    /// Key sealing TOTP secrets at rest, the base64 of 32 bytes: environment or settings file
    /// only. Unset: read from `KITCHEN_API_MFA_KEY_FILE`. Every process needs the same key.
    #[arg(long, global = true, env = "KITCHEN_API_MFA_KEY", hide = true)]
    pub mfa_key: Option<crate::auth::mfa::MfaKeyText>,

    /// File holding the TOTP sealing key (base64 of 32 bytes) when `KITCHEN_API_MFA_KEY` is
    /// unset; created with a fresh key (mode 0600) when missing.
    #[arg(long, global = true, env = "KITCHEN_API_MFA_KEY_FILE", default_value = defaults::MFA_KEY_FILE)]
    pub mfa_key_file: PathBuf,

    /// Poll the session-change table even where `LISTEN` works (for tests of that path).
    #[arg(long, global = true, env = "KITCHEN_API_POLL_SESSION_CHANGES", hide = true, default_value_t = false, action = clap::ArgAction::Set)]
    pub poll_session_changes: bool,

    /// WebAuthn relying party id (a domain) passkeys are bound to. Default: the host of
    /// `KITCHEN_API_PUBLIC_URL`, else `localhost`. Changing it orphans every passkey.
    #[arg(long, global = true, env = "KITCHEN_API_WEBAUTHN_RP_ID")]
    pub webauthn_rp_id: Option<String>,

    /// Web origins passkey ceremonies may come from (comma-separated), each within the RP ID.
    /// Default: the origin of `KITCHEN_API_PUBLIC_URL`, else `http://localhost:8000`.
    #[arg(
        long,
        global = true,
        env = "KITCHEN_API_WEBAUTHN_ORIGINS",
        value_delimiter = ','
    )]
    pub webauthn_origins: Vec<String>,

    /// The relying party's name, as authenticators show it.
    #[arg(long, global = true, env = "KITCHEN_API_WEBAUTHN_RP_NAME", default_value = defaults::WEBAUTHN_RP_NAME)]
    pub webauthn_rp_name: String,

    /// iOS apps that may use this RP's passkeys (comma-separated `TEAMID.bundle.id`), served
    /// at `/.well-known/apple-app-site-association`. Empty: 404 there.
    #[arg(
        long,
        global = true,
        env = "KITCHEN_API_APPLE_APP_IDS",
        value_delimiter = ','
    )]
    pub apple_app_ids: Vec<String>,

    /// Android apps that may use this RP's passkeys (comma-separated
    /// `package:AB:CD:…` SHA-256 signing-certificate fingerprints), served at
    /// `/.well-known/assetlinks.json` and accepted as WebAuthn origins. Empty: 404 there.
    #[arg(
        long,
        global = true,
        env = "KITCHEN_API_ANDROID_APPS",
        value_delimiter = ','
    )]
    pub android_apps: Vec<String>,

    #[command(flatten)]
    pub mail: crate::mail::MailConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: defaults::DATABASE_URL.to_owned(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            phone_region: None,
            argon2_memory_kib: defaults::ARGON2_MEMORY_KIB,
            argon2_iterations: defaults::ARGON2_ITERATIONS,
            argon2_parallelism: defaults::ARGON2_PARALLELISM,
            hash_concurrency: None,
            max_body_bytes: defaults::MAX_BODY_BYTES,
            picture_storage: PictureStorage::Local,
            picture_dir: PathBuf::from(defaults::PICTURE_DIR),
            picture_concurrency: 0,
            picture_base_url: None,
            s3_bucket: None,
            s3_region: defaults::S3_REGION.to_owned(),
            s3_endpoint: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            db_max_connections: defaults::DB_MAX_CONNECTIONS,
            db_acquire_timeout_secs: defaults::DB_ACQUIRE_TIMEOUT_SECS,
            migrate_on_start: true,
            sqlite_inline_reads: true,
            log: defaults::LOG.to_owned(),
            auth_cache_ttl_ms: defaults::AUTH_CACHE_TTL_MS,
            auth_cache_max_entries: defaults::AUTH_CACHE_MAX_ENTRIES,
            request_timeout_ms: defaults::REQUEST_TIMEOUT_MS,
            max_connections: defaults::MAX_CONNECTIONS,
            header_read_timeout_ms: defaults::HEADER_READ_TIMEOUT_MS,
            registrations_per_address: defaults::REGISTRATIONS_PER_ADDRESS,
            registration_window_secs: defaults::REGISTRATION_WINDOW_SECS,
            passkey_logins_per_address: defaults::PASSKEY_LOGINS_PER_ADDRESS,
            code_mails_per_address: defaults::CODE_MAILS_PER_ADDRESS,
            code_mails_per_account: defaults::CODE_MAILS_PER_ACCOUNT,
            rate_window_secs: defaults::RATE_WINDOW_SECS,
            token_lifetime_secs: defaults::TOKEN_LIFETIME_SECS,
            token_idle_timeout_secs: defaults::TOKEN_IDLE_TIMEOUT_SECS,
            max_tokens_per_user: defaults::MAX_TOKENS_PER_USER,
            max_addresses_per_user: defaults::MAX_ADDRESSES_PER_USER,
            cors_origins: Vec::new(),
            login_account_free_failures: defaults::LOGIN_ACCOUNT_FREE_FAILURES,
            login_address_free_failures: defaults::LOGIN_ADDRESS_FREE_FAILURES,
            login_base_delay_secs: defaults::LOGIN_BASE_DELAY_SECS,
            login_max_delay_secs: defaults::LOGIN_MAX_DELAY_SECS,
            login_forget_after_secs: defaults::LOGIN_FORGET_AFTER_SECS,
            security_event_retention_days: defaults::SECURITY_EVENT_RETENTION_DAYS,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Text,
            require_verified_email: false,
            console: true,
            console_idle_minutes: defaults::CONSOLE_IDLE_MINUTES,
            console_session_hours: defaults::CONSOLE_SESSION_HOURS,
            metrics_token: None,
            poll_session_changes: false,
            webauthn_rp_id: None,
            webauthn_origins: Vec::new(),
            webauthn_rp_name: defaults::WEBAUTHN_RP_NAME.to_owned(),
            apple_app_ids: Vec::new(),
            android_apps: Vec::new(),
            mfa_issuer: defaults::MFA_ISSUER.to_owned(),
            mfa_key: None,
            mfa_key_file: PathBuf::from(defaults::MFA_KEY_FILE),
            mail: crate::mail::MailConfig::default(),
        }
    }
}

/// Shortest token idle timeout besides 0: last uses reach the database in batches.
pub const MIN_TOKEN_IDLE_TIMEOUT_SECS: u64 = 60;

/// A setting that cannot work, by name.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

impl Config {
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
        if self.picture_storage == PictureStorage::S3 && self.s3_bucket.is_none() {
            return bad(
                "KITCHEN_API_S3_BUCKET",
                "must be set when KITCHEN_API_PICTURE_STORAGE is s3".into(),
            );
        }
        if self.max_body_bytes < 1024 {
            return bad("KITCHEN_API_MAX_BODY_BYTES", "must be at least 1024".into());
        }
        if (1..MIN_TOKEN_IDLE_TIMEOUT_SECS).contains(&self.token_idle_timeout_secs) {
            return bad(
                "KITCHEN_API_TOKEN_IDLE_TIMEOUT_SECS",
                format!(
                    "must be 0 (no limit) or at least {MIN_TOKEN_IDLE_TIMEOUT_SECS}: a token's \
                     last use reaches the database, and the other processes, seconds late, so a \
                     shorter timeout would end tokens in use"
                ),
            );
        }
        if self.max_tokens_per_user == 0 {
            return bad(
                "KITCHEN_API_MAX_TOKENS_PER_USER",
                "must be at least 1".into(),
            );
        }
        if self.max_addresses_per_user == 0 {
            return bad(
                "KITCHEN_API_MAX_ADDRESSES_PER_USER",
                "must be at least 1".into(),
            );
        }
        if self.request_timeout_ms == 0 {
            return bad(
                "KITCHEN_API_REQUEST_TIMEOUT_MS",
                "must be at least 1".into(),
            );
        }
        if self.max_connections == 0 {
            return bad("KITCHEN_API_MAX_CONNECTIONS", "must be at least 1".into());
        }
        if self.header_read_timeout_ms == 0 {
            return bad(
                "KITCHEN_API_HEADER_READ_TIMEOUT_MS",
                "must be at least 1".into(),
            );
        }
        if let Some(bad_origin) = self
            .cors_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
        {
            return bad(
                "KITCHEN_API_CORS_ORIGINS",
                format!("{bad_origin:?} is not an origin like https://app.example.com"),
            );
        }
        if self.db_max_connections == 0 {
            return bad(
                "KITCHEN_API_DB_MAX_CONNECTIONS",
                "must be at least 1".into(),
            );
        }
        if self.security_event_retention_days > defaults::MAX_SECURITY_EVENT_RETENTION_DAYS {
            return bad(
                "KITCHEN_API_SECURITY_EVENT_RETENTION_DAYS",
                format!(
                    "must be at most {} days; 0 keeps events forever",
                    defaults::MAX_SECURITY_EVENT_RETENTION_DAYS
                ),
            );
        }
        crate::webauthn::Passkeys::from_config(self)?;
        self.mail.validate()?;
        Ok(())
    }

    /// Whether a token is dead at `now`.
    pub fn token_expired(
        &self,
        created: chrono::DateTime<chrono::Utc>,
        last_used: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let older_than = |since: chrono::DateTime<chrono::Utc>, secs: u64| {
            secs > 0 && now.signed_duration_since(since).num_seconds() >= secs as i64
        };
        older_than(created, self.token_lifetime_secs)
            || older_than(last_used.unwrap_or(created), self.token_idle_timeout_secs)
    }

    /// How stale a recorded last use may get: a minute, or a tenth of a shorter idle timeout.
    pub fn last_used_granularity(&self) -> chrono::TimeDelta {
        let minute = chrono::TimeDelta::seconds(60);
        match self.token_idle_timeout_secs {
            0 => minute,
            secs => chrono::TimeDelta::milliseconds(
                i64::try_from(secs.saturating_mul(100)).unwrap_or(i64::MAX),
            )
            .min(minute),
        }
    }

    pub fn registration_limit(&self) -> crate::auth::RateLimit {
        crate::auth::RateLimit {
            max: self.registrations_per_address,
            window_secs: self.registration_window_secs,
            setting: "KITCHEN_API_REGISTRATIONS_PER_ADDRESS",
        }
    }

    pub fn passkey_login_limit(&self) -> crate::auth::RateLimit {
        crate::auth::RateLimit {
            max: self.passkey_logins_per_address,
            window_secs: self.registration_window_secs,
            setting: "KITCHEN_API_PASSKEY_LOGINS_PER_ADDRESS",
        }
    }

    pub fn code_mails_per_address_limit(&self) -> crate::auth::RateLimit {
        crate::auth::RateLimit {
            max: self.code_mails_per_address,
            window_secs: self.rate_window_secs,
            setting: "KITCHEN_API_CODE_MAILS_PER_ADDRESS",
        }
    }

    pub fn code_mails_per_account_limit(&self) -> crate::auth::RateLimit {
        crate::auth::RateLimit {
            max: self.code_mails_per_account,
            window_secs: self.rate_window_secs,
            setting: "KITCHEN_API_CODE_MAILS_PER_ACCOUNT",
        }
    }

    /// The SQLite file's path, or the URL without its password, for the log.
    pub fn database_location(&self) -> String {
        let url = self.database_url.as_str();
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            return std::fs::canonicalize(path)
                .map_or_else(|_| path.to_owned(), |p| p.display().to_string());
        }
        match url::Url::parse(url) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    parsed.set_password(Some("***")).ok();
                }
                parsed.set_query(None);
                parsed.to_string()
            }
            Err(_) => "(unreadable database URL)".to_owned(),
        }
    }

    pub fn login_throttle(&self) -> crate::auth::LoginThrottle {
        let policy = |free_failures| crate::auth::DelayPolicy {
            free_failures,
            base_delay_secs: self.login_base_delay_secs,
            max_delay_secs: self.login_max_delay_secs,
        };
        crate::auth::LoginThrottle {
            account: policy(self.login_account_free_failures),
            address: policy(self.login_address_free_failures),
            forget_after_secs: self.login_forget_after_secs,
        }
    }

    pub fn argon2_params(&self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            None,
        )
    }

    pub fn hash_concurrency(&self) -> usize {
        self.hash_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Threads of the picture pool: the setting, or half the cores (at least one).
    pub fn picture_concurrency(&self) -> usize {
        match self.picture_concurrency {
            0 => (std::thread::available_parallelism().map_or(2, |n| n.get()) / 2).max(1),
            n => n,
        }
    }

    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn the_database_location_never_shows_a_password() {
        let at = |url: &str| {
            Config {
                database_url: url.to_owned(),
                ..Config::default()
            }
            .database_location()
        };
        let shown = at("postgres://cook:s3cret@db.example.com/kitchen?password=s3cret");
        assert_eq!(shown, "postgres://cook:***@db.example.com/kitchen");
        assert_eq!(
            at("sqlite:///no/such/dir/kitchen.db"),
            "/no/such/dir/kitchen.db"
        );
    }
}
