//! The integration suite: one binary, every test against a real server over real HTTP and a
//! real database (SQLite, or PostgreSQL when `TEST_DATABASE_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account_deletion;
mod authentication;
mod binary;
mod config_file;
mod connections;
mod docs;
mod errors;
mod hardening;
mod hash_sharing;
mod helpers;
mod import_django;
mod inline_reads;
mod login;
mod logout;
mod mail;
mod mail_log;
mod memory;
mod ops;
mod outbox;
mod password_change;
mod password_reset;
mod profile;
mod registration;
mod security;
mod security_events;
mod session_cache;
mod sessions;
mod smtp_sink;
mod sqlite_writer;
mod staff;
mod storage;
mod throttling;
mod token_lifetime;
mod verification;
