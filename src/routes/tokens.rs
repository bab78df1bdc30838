//! `/token/` (log in) and `/logout/`. Every login issues a new token, so each device keeps its
//! own; logout revokes only the token it presents.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

use super::schemas::{CredentialsBody, Detail, ValidationErrors};
use crate::audit;
use crate::auth::{AuthUser, ClientIp, LoginKeys, PlainToken, SessionChange};
use crate::body::Fields;
use crate::db::{self, NewToken};
use crate::domain::Password;
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// The same answer for an unknown address, a wrong password and a deactivated account.
const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

/// A new token for an existing account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObtainedToken {
    /// Send it as `Authorization: Token <token>`.
    pub token: String,
    #[schema(example = 42)]
    pub user_id: i64,
    #[schema(example = "your.email@example.com")]
    pub email: String,
}

/// `{"detail": "Logged out successfully."}`
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOut {
    #[schema(example = "Logged out successfully.")]
    pub detail: &'static str,
}

/// Log in: exchange an email and password for a new token.
#[utoipa::path(
    post, path = "/token/", tag = "auth",
    request_body(content(
        (CredentialsBody = "application/json"),
        (CredentialsBody = "application/x-www-form-urlencoded"),
        (CredentialsBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "A new token; earlier tokens stay valid", body = ObtainedToken),
        (status = 400, description = "Missing fields, or `non_field_errors: [\"Unable to log in with provided credentials.\"]`", body = ValidationErrors),
        (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many failed logins for this account or address; see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn obtain_token(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    fields: Fields,
) -> Result<(SessionChange, Json<ObtainedToken>), ApiError> {
    let mut errors = FieldErrors::new();
    let email = fields.required_text("email", &mut errors);
    let password = fields.required_text("password", &mut errors);
    errors.into_result()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };

    // A malformed address is just an unknown one, and costs the same.
    let key = crate::domain::Email::lookup_key(&email);
    let throttle = state.config.login_throttle();
    let keys = LoginKeys::new(&key, client);
    let db::LoginRead {
        account,
        tokens: held_tokens,
        account_throttle,
        address_throttle,
    } = db::read_login(&state.db, &key, keys.account(), keys.address()).await?;
    // Checked before the password: while delayed, even the right password is refused. The
    // counters just read refuse most delayed guesses without a write; counting the guess
    // decides for good, atomically, however many arrive together.
    throttle.check(account_throttle, address_throttle, state.clock.now())?;
    let guess = throttle.guess(&state.db, &keys, state.clock.now()).await?;
    let stored_hash = account.as_ref().map(|a| a.password_hash.clone());
    let password = Password::new(password);
    let matched = state.hashing.verify(password.clone(), stored_hash).await?;
    let known_id = account.as_ref().map(|a| a.id);
    let account = match account {
        Some(a) if matched && a.is_active => a,
        _ => {
            tracing::info!("login failed");
            crate::metrics::record_login(false);
            // Written for known and unknown addresses alike: the same work either way.
            let why = failure_reason(account.as_ref().map(|a| a.is_active), matched, &email);
            audit::record(
                &state,
                audit::Kind::LoginFailed,
                known_id,
                None,
                Some(client),
                Some(&why),
            )
            .await;
            return Err(ApiError::field("non_field_errors", BAD_CREDENTIALS));
        }
    };
    guess.succeeded(&state.db).await?;
    // Only now, after the right password: the extra hash says nothing to someone without it.
    upgrade_password_hash(&state, &account, password).await;

    super::account::verification::check_login_allowed(&state, account.id).await?;
    let token = PlainToken::generate();
    let user_agent = super::user_agent(&headers);
    let event = audit::event(
        &state,
        audit::Kind::LoginSucceeded,
        Some(account.id),
        None,
        Some(client),
        None,
    );
    let revoked = db::store_login(
        &state.db,
        account.id,
        &NewToken {
            digest: token.digest().as_bytes(),
            created_at: state.clock.now(),
            user_agent: user_agent.as_deref(),
        },
        held_tokens,
        i64::from(state.config.max_tokens_per_user),
        &event,
    )
    .await?;
    if revoked > 0 {
        // A login that pushed out the oldest tokens changed sessions other processes may cache.
        let change = SessionChange::User(account.id);
        crate::auth::announce_session_change(&state, change).await;
    }
    audit::log(&event);
    crate::metrics::record_login(true);
    // A new token changes no cached session; pushed-out ones were announced above.
    Ok((
        SessionChange::Nothing,
        Json(ObtainedToken {
            token: token.expose().to_owned(),
            user_id: account.id,
            email: account.email,
        }),
    ))
}

/// Replaces a hash imported from Django (or made with older Argon2 parameters) by one with the
/// current settings. A failure only costs the upgrade, never the login.
async fn upgrade_password_hash(state: &AppState, account: &db::Credentials, password: Password) {
    if !state.hashing.needs_rehash(&account.password_hash) {
        return;
    }
    let upgraded = match state.hashing.hash(password).await {
        Ok(new_hash) => {
            db::update_password_hash(&state.db, account.id, &account.password_hash, &new_hash)
                .await
                .map_err(|e| anyhow::anyhow!(e))
        }
        Err(e) => Err(anyhow::anyhow!("{e}")),
    };
    match upgraded {
        Ok(true) => tracing::info!(user_id = account.id, "password hash upgraded"),
        Ok(false) => tracing::info!(
            user_id = account.id,
            "password changed meanwhile; hash kept"
        ),
        Err(e) => tracing::warn!(user_id = account.id, error = %e, "password hash upgrade failed"),
    }
}

/// Log out: revoke the token this request presents (other devices stay logged in).
#[utoipa::path(
    post, path = "/logout/", tag = "auth",
    security(("token" = [])),
    responses((status = 200, body = LoggedOut), (status = 401, body = Detail), (status = 503, body = Detail))
)]
pub async fn logout(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    auth: AuthUser,
) -> Result<(SessionChange, Json<LoggedOut>), ApiError> {
    db::delete_token_of_user(&state.db, auth.user().id, auth.token_id()).await?;
    audit::record(
        &state,
        audit::Kind::LoggedOut,
        Some(auth.user().id),
        None,
        Some(client),
        None,
    )
    .await;
    Ok((
        SessionChange::User(auth.user().id),
        Json(LoggedOut {
            detail: "Logged out successfully.",
        }),
    ))
}

/// Why a login failed, for the staff-only event log. For an unknown account it names the
/// address tried (credential stuffing shows as many addresses from one client), but only when
/// it is a well-formed address: people type passwords into the email field, and the log never
/// holds a secret.
fn failure_reason(active: Option<bool>, matched: bool, email: &str) -> String {
    match active {
        Some(_) if !matched => "wrong password".to_owned(),
        Some(_) => "account inactive".to_owned(),
        None => match crate::domain::Email::parse(email.trim()) {
            Ok(address) => format!("no such account: {}", address.as_str()),
            Err(_) => "no such account (not an email address; not recorded)".to_owned(),
        },
    }
}
