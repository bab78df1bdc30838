//! Second factors: TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps) and recovery codes, the
//! step-up check that sensitive actions make where a user has TOTP on, and the second half of a
//! login (see [`challenge`]). Every code check is a guess counted by the login throttle under
//! the account and the client address, before the code is checked, so wrong codes slow logins
//! down like wrong passwords. A TOTP code is taken once: the step it was accepted for is stored
//! and only a later step is accepted again; a recovery code is used once.

mod challenge;
mod key;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use super::Device;
use super::step_up::{self, Proof};
use super::{LoginKeys, confirm_password};
use crate::audit::{Event, Kind};
use crate::db::{self, TotpRead, UserRow};
use crate::domain::{Email, Password};
use crate::error::ApiError;
use crate::mail::NoticeKind;
use crate::notices::{self, NoticeTo};
use crate::state::AppState;

pub use challenge::{finish_login, pass_challenge, start_challenge};
pub use key::{MfaKey, MfaKeyText};

/// A code that is neither a current TOTP code nor an unused recovery code.
pub const INVALID_CODE: &str = "Invalid code.";
pub const CODE_REQUIRED: &str = "This field is required.";
pub const ALREADY_ON: &str = "Two-factor authentication is already on.";
pub const NOT_ON: &str = "Two-factor authentication is not on.";
pub const NO_PENDING: &str =
    "No TOTP secret is waiting for confirmation; ask for one with POST /users/me/mfa/totp/.";
pub use super::step_up::WRONG_PASSWORD;

/// Recovery codes in a set.
pub const RECOVERY_CODES: usize = 10;
const STEP_SECS: i64 = 30;
const SECRET_BYTES: usize = 20;
/// 80 bits: 16 base32 characters.
const RECOVERY_BYTES: usize = 10;

/// How a second factor was given (the login event's detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    RecoveryCode,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::RecoveryCode => "recovery_code",
        }
    }
}

/// A pending secret as the authenticator app takes it.
pub struct Enrolment {
    /// Base32, unpadded.
    pub secret: String,
    pub otpauth_url: String,
}

fn totp(secret: Vec<u8>, issuer: Option<String>, account: String) -> TOTP {
    // Unchecked: the secret is ours (160 bits), and an issuer or address with a colon is
    // URL-encoded by `get_url` anyway.
    TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECS as u64,
        secret,
        issuer,
        account,
    )
}

/// Starts (or restarts) enrolment after the password: a new pending secret, sealed at rest.
pub async fn begin_totp(
    state: &AppState,
    user: &UserRow,
    client: IpAddr,
    password: Password,
) -> Result<Enrolment, ApiError> {
    if !confirm_password(state, user, client, password, "enrol_totp").await? {
        return Err(ApiError::field("password", WRONG_PASSWORD));
    }
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let sealed = state
        .mfa_key
        .seal(user.id, &secret)
        .map_err(ApiError::internal)?;
    if !db::replace_pending_totp(&state.db, user.id, &sealed, state.clock.now()).await? {
        return Err(ApiError::field("non_field_errors", ALREADY_ON));
    }
    let issuer = Some(state.config.mfa_issuer.clone());
    let totp = totp(secret, issuer, user.email.clone());
    Ok(Enrolment {
        secret: totp.get_secret_base32(),
        otpauth_url: totp.get_url(),
    })
}

/// Turns the pending secret on with a first code from it; answers the new recovery codes.
pub async fn confirm_totp(
    state: &AppState,
    user_id: i64,
    device: &Device,
    code: &str,
) -> Result<Vec<String>, ApiError> {
    let row = db::find_totp(&state.db, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if row.enabled() {
        return Err(ApiError::field("non_field_errors", ALREADY_ON));
    }
    let Some(sealed) = row.sealed.as_deref() else {
        return Err(ApiError::field("non_field_errors", NO_PENDING));
    };
    let secret = open(state, user_id, sealed)?;
    let keys = LoginKeys::new(&Email::lookup_key(&row.email), device.ip);
    let now = state.clock.now();
    let guess = state
        .config
        .login_throttle()
        .guess(&state.db, &keys, now)
        .await?;
    let last_step = row.last_step.unwrap_or(-1);
    let step = normalise(code)
        .filter(|c| is_totp_code(c))
        .and_then(|c| matching_step(&secret, now, last_step, &c));
    let (codes, digests) = new_recovery_codes();
    let enabled = match step {
        Some(step) => db::enable_totp(&state.db, user_id, sealed, step, now, &digests).await?,
        None => false,
    };
    if !enabled {
        failed(state, user_id, device, "confirm_totp").await;
        return Err(ApiError::field("code", INVALID_CODE));
    }
    guess.succeeded(&state.db).await?;
    let event = Event::new(Kind::TotpEnabled).user(user_id).ip(device.ip);
    event.record(state).await;
    tell(state, user_id, NoticeKind::TotpEnabled, device);
    Ok(codes)
}

/// Turns TOTP off after the step-up (the password and a code, or a passkey).
pub async fn disable_totp(
    state: &AppState,
    user: &UserRow,
    device: &Device,
    proof: Proof,
) -> Result<(), ApiError> {
    totp_on_then_step_up(state, user, device, proof, "disable_totp").await?;
    db::delete_totp(&state.db, user.id).await?;
    let event = Event::new(Kind::TotpDisabled).user(user.id).ip(device.ip);
    event.record(state).await;
    tell(state, user.id, NoticeKind::TotpDisabled, device);
    Ok(())
}

/// A new set of recovery codes after the step-up; the old set is void.
pub async fn renew_recovery_codes(
    state: &AppState,
    user: &UserRow,
    device: &Device,
    proof: Proof,
) -> Result<Vec<String>, ApiError> {
    totp_on_then_step_up(state, user, device, proof, "renew_recovery_codes").await?;
    let (codes, digests) = new_recovery_codes();
    if !db::replace_recovery_codes(&state.db, user.id, &digests).await? {
        return Err(ApiError::field("non_field_errors", NOT_ON));
    }
    let event = Event::new(Kind::RecoveryCodesRegenerated)
        .user(user.id)
        .ip(device.ip);
    event.record(state).await;
    tell(state, user.id, NoticeKind::RecoveryCodesRenewed, device);
    Ok(codes)
}

/// TOTP must be on, then the step-up. The row read here serves the code check: taking a step
/// or a recovery code is a conditional write that sees any change made meanwhile.
async fn totp_on_then_step_up(
    state: &AppState,
    user: &UserRow,
    device: &Device,
    proof: Proof,
    action: &str,
) -> Result<(), ApiError> {
    let row = db::find_totp(&state.db, user.id)
        .await?
        .filter(TotpRead::enabled)
        .ok_or_else(|| ApiError::field("non_field_errors", NOT_ON))?;
    step_up::confirm_with(state, user, device, proof, Some(&row), action).await
}

/// The code check of a step-up for a user whose TOTP is on (`row`): a missing code is
/// `400 {"code": ["This field is required."]}`, a wrong one `400 {"code": ["Invalid code."]}`.
pub(crate) async fn check_required_code(
    state: &AppState,
    user_id: i64,
    row: &TotpRead,
    device: &Device,
    code: Option<&str>,
    action: &str,
) -> Result<(), ApiError> {
    let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
        return Err(ApiError::field("code", CODE_REQUIRED));
    };
    match check_code(state, user_id, row, device, code, action).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::field("code", INVALID_CODE)),
    }
}

/// One throttled guess of a TOTP or recovery code for a user whose TOTP is on (`row`); how it
/// was right, or `None`. Records the security event either way (`action` is its detail).
async fn check_code(
    state: &AppState,
    user_id: i64,
    row: &TotpRead,
    device: &Device,
    code: &str,
    action: &str,
) -> Result<Option<Method>, ApiError> {
    let keys = LoginKeys::new(&Email::lookup_key(&row.email), device.ip);
    let now = state.clock.now();
    let guess = state
        .config
        .login_throttle()
        .guess(&state.db, &keys, now)
        .await?;
    let method = try_code(state, user_id, row, now, code).await?;
    let Some(method) = method else {
        failed(state, user_id, device, action).await;
        return Ok(None);
    };
    guess.succeeded(&state.db).await?;
    let kind = match method {
        Method::Totp => Kind::SecondFactorSucceeded,
        Method::RecoveryCode => Kind::RecoveryCodeUsed,
    };
    let event = Event::new(kind).user(user_id).ip(device.ip);
    event.detail(action).record(state).await;
    if method == Method::RecoveryCode {
        tell(state, user_id, NoticeKind::RecoveryCodeUsed, device);
    }
    Ok(Some(method))
}

fn tell(state: &AppState, user_id: i64, kind: NoticeKind, device: &Device) {
    notices::send(state, NoticeTo::User(user_id), kind, device, None);
}

async fn failed(state: &AppState, user_id: i64, device: &Device, action: &str) {
    let event = Event::new(Kind::SecondFactorFailed)
        .user(user_id)
        .ip(device.ip);
    event.detail(action).record(state).await;
}

/// Takes `code` if it is right: a TOTP step not taken before, or an unused recovery code.
async fn try_code(
    state: &AppState,
    user_id: i64,
    row: &TotpRead,
    now: DateTime<Utc>,
    code: &str,
) -> Result<Option<Method>, ApiError> {
    let Some(code) = normalise(code) else {
        return Ok(None);
    };
    if is_totp_code(&code) {
        let Some(sealed) = row.sealed.as_deref() else {
            return Ok(None);
        };
        let secret = open(state, user_id, sealed)?;
        let last_step = row.last_step.unwrap_or(-1);
        let Some(step) = matching_step(&secret, now, last_step, &code) else {
            return Ok(None);
        };
        let taken = db::take_totp_step(&state.db, user_id, sealed, step).await?;
        return Ok(taken.then_some(Method::Totp));
    }
    if code.len() != RECOVERY_BYTES * 8 / 5 || !code.bytes().all(is_base32) {
        return Ok(None);
    }
    let digest = Sha256::digest(code.as_bytes());
    let used = db::use_recovery_code(&state.db, user_id, digest.as_slice(), now).await?;
    Ok(used.then_some(Method::RecoveryCode))
}

fn open(state: &AppState, user_id: i64, sealed: &[u8]) -> Result<Vec<u8>, ApiError> {
    state.mfa_key.open(user_id, sealed).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "a TOTP secret does not open with this KITCHEN_API_MFA_KEY (another key sealed it?)"
        ))
    })
}

/// Lowercase, without dashes and spaces; `None` when nothing (or something too long) is left.
fn normalise(code: &str) -> Option<String> {
    let code: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (!code.is_empty() && code.len() <= 64).then_some(code)
}

fn is_totp_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

fn is_base32(b: u8) -> bool {
    b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)
}

/// The step within one of now whose code is `code` and which is later than `last_step`. Every
/// candidate is computed and compared in constant time.
fn matching_step(secret: &[u8], now: DateTime<Utc>, last_step: i64, code: &str) -> Option<i64> {
    let totp = totp(secret.to_vec(), None, String::new());
    let current = now.timestamp().div_euclid(STEP_SECS);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        let Ok(time) = u64::try_from(step * STEP_SECS) else {
            continue;
        };
        let expected = totp.generate(time);
        let same: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if same && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// Ten fresh recovery codes as shown (`abcd-efgh-ijkl-mnop`) and their SHA-256 digests (of the
/// normalised form), which is all the database keeps.
fn new_recovery_codes() -> (Vec<String>, Vec<[u8; 32]>) {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let plain = base32_lower(&bytes);
            let digest: [u8; 32] = Sha256::digest(plain.as_bytes()).into();
            let shown: Vec<&str> = (0..plain.len())
                .step_by(4)
                .map(|i| &plain[i..(i + 4).min(plain.len())])
                .collect();
            (shown.join("-"), digest)
        })
        .unzip()
}

/// RFC 4648 base32, lowercase, unpadded.
fn base32_lower(bytes: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648Lower { padding: false }, bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_sixteen_base32_characters_in_groups_and_normalise_back() {
        let (codes, digests) = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        for (code, digest) in codes.iter().zip(&digests) {
            assert_eq!(code.len(), 19, "{code}");
            let typed = format!(" {} ", code.to_uppercase().replace('-', " "));
            let normal = normalise(&typed).unwrap();
            assert_eq!(normal.len(), 16);
            assert!(normal.bytes().all(is_base32));
            assert_eq!(<[u8; 32]>::from(Sha256::digest(normal.as_bytes())), *digest);
        }
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn a_step_is_found_within_one_step_and_only_after_the_last_one_taken() {
        let secret = b"12345678901234567890".to_vec();
        let now = DateTime::from_timestamp(59, 0).unwrap();
        // RFC 6238's SHA-1 vector at T = 59 s, truncated to 6 digits.
        assert_eq!(matching_step(&secret, now, -1, "287082"), Some(1));
        assert_eq!(matching_step(&secret, now, 1, "287082"), None);
        let later = DateTime::from_timestamp(59 + 60, 0).unwrap();
        assert_eq!(matching_step(&secret, later, -1, "287082"), None);
    }
}
