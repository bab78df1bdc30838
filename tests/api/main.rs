//! The integration suite: one binary, every test against a real server over real HTTP and a
//! real database (SQLite, or PostgreSQL when `TEST_DATABASE_URL` is set).
// clippy.toml lets `#[test]` functions unwrap, but not the helpers they share here, which are
// test code all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account_deletion;
mod addresses;
mod authentication;
mod binary;
mod code_mail_limits;
mod command_line;
mod config_file;
mod connections;
mod database_gone;
mod disconnects;
mod docs;
mod email_forms;
mod errors;
mod guessing;
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
mod oversized_bodies;
mod password_change;
mod password_reset;
mod phone_numbers;
mod picture_images;
mod pictures;
mod pictures_s3;
mod privileged_accounts;
mod profile;
mod registration;
mod request_bodies;
mod retention;
mod s3_server;
mod security;
mod security_events;
mod session_cache;
mod session_polling;
mod sessions;
mod smtp_sink;
mod sqlite_writer;
mod staff;
mod storage;
mod throttling;
mod token_lifetime;
mod totp;
mod verification;
