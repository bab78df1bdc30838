//! Rayvers Kitchen API: registration, login with opaque tokens, logout and user profiles, for
//! the Rayvers Kitchen apps, on an embedded SQLite database or on PostgreSQL.
//!
//! Layering: `routes` (HTTP) → `auth` / `domain` → `db`. `domain` knows no framework; `db` takes
//! only values that `domain` has already parsed. `unsafe` is denied everywhere (Cargo.toml)
//! but in `sys`.

pub mod app;
pub mod audit;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod console;
pub mod db;
pub mod domain;
pub mod envelope;
pub mod error;
pub mod hardening;
pub mod import_django;
pub mod linger;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod notices;
pub mod pictures;
pub mod public_url;
pub mod request_id;
pub mod routes;
pub mod serve;
pub mod staff;
pub mod state;
mod sys;
pub mod telemetry;
pub mod webauthn;
pub mod workers;

pub use sys::return_large_blocks_to_the_system;
