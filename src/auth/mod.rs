//! Who is calling: opaque tokens and the `Authorization` header, password hashing kept off the
//! async executor, the [`AuthUser`] extractor that guards every private route, and the clock.

mod argon;
mod cache;
mod cache_sync;
mod client_ip;
mod clock;
mod code_mail;
mod codes;
pub(crate) mod core_share;
pub mod device;
pub mod django_hash;
mod extractor;
mod hashing;
mod login;
pub mod mfa;
pub mod passkeys;
mod registration;
pub mod step_up;
mod throttle;
mod token;
mod touches;

pub use argon::Argon2Hasher;
pub use cache::{AuthCache, Ticket};
pub use cache_sync::{
    ChangeRecorder, SessionChange, announce_session_change, change_made_by,
    follow_recorded_changes, is_read, listen_for_changes, listen_refused, tell_other_processes,
};
pub use client_ip::ClientIp;
pub use clock::{Clock, SystemClock};
pub use code_mail::{NO_USER, Recipient, send_code_mail};
pub use codes::{CODE_LIFETIME, CodePurpose, MAX_CODE_ATTEMPTS, OneTimeCode, SealedCode};
pub use device::Device;
pub use extractor::AuthUser;
pub use hashing::{Hashing, PasswordHasher};
pub use login::{
    Account, Audience, LoggedIn, LoginOutcome, Verified, confirm_password, issue_token, log_in,
    verify_login,
};
pub use registration::{Registered, register};
pub use throttle::{
    AddressGuess, DelayPolicy, Guess, LoginKeys, LoginThrottle, RateLimit, account_key, hit_all,
};
pub use token::{PlainToken, TokenDigest, is_drf_key, parse_authorization};
pub use touches::{FLUSH_EVERY, Touches, flush_touches_periodically};
