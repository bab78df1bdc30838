//! `/token/` (log in) and `/logout/`. Every login issues a new token, so each device keeps its
//! own; logout revokes only the token it presents.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schemas::{Detail, ValidationErrors};
use crate::audit::{Event, Kind};
use crate::auth::{self, AuthUser, ClientIp, LoginOutcome, SessionChange};
use crate::body::{Body, Field};
use crate::db;
use crate::domain::Password;
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// An email address and a password (JSON, urlencoded form or multipart form).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CredentialsBody {
    #[schema(value_type = String, example = "new.hero@example.com", max_length = 254)]
    pub email: Field,
    #[schema(
        value_type = String,
        example = "correct horse battery staple",
        min_length = 8,
        max_length = 1024
    )]
    pub password: Field,
}

impl CredentialsBody {
    /// The address as typed (a malformed one is just unknown) and the password.
    fn login(&self) -> Result<(String, Password), ApiError> {
        let mut errors = FieldErrors::new();
        let email = self.email.text(&mut errors);
        let password = self.password.text(&mut errors).map(Password::new);
        super::validated(errors, email.zip(password))
    }
}

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

impl From<auth::LoggedIn> for ObtainedToken {
    fn from(login: auth::LoggedIn) -> Self {
        ObtainedToken {
            token: login.token.expose().to_owned(),
            user_id: login.user_id,
            email: login.email,
        }
    }
}

/// With TOTP on, the right password gets no token yet: bring `mfa_token` and a code to
/// `POST /token/mfa/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecondFactorDue {
    #[schema(example = true)]
    pub mfa_required: bool,
    /// Lives 5 minutes, for 5 tries, once; it is not an API token.
    pub mfa_token: String,
    #[schema(example = json!(["totp", "recovery_code"]))]
    pub methods: Vec<&'static str>,
}

/// What the right password gets: a token, or, with TOTP on, the second step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    Token(ObtainedToken),
    SecondFactorDue(SecondFactorDue),
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
        (status = 200, description = "A new token (earlier tokens stay valid); or, with TOTP on, `{\"mfa_required\": true, \"mfa_token\", \"methods\"}` and no token yet (see `POST /token/mfa/`)", body = LoginAnswer),
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
    Body(body): Body<CredentialsBody>,
) -> Result<(SessionChange, Json<LoginAnswer>), ApiError> {
    let (email, password) = body.login()?;
    let user_agent = super::user_agent(&headers);
    let outcome = auth::log_in(&state, &email, password, client, user_agent.as_deref()).await?;
    let answer = match outcome {
        LoginOutcome::LoggedIn(login) => LoginAnswer::Token(login.into()),
        LoginOutcome::SecondFactorDue(mfa_token) => LoginAnswer::SecondFactorDue(SecondFactorDue {
            mfa_required: true,
            mfa_token: mfa_token.expose().to_owned(),
            methods: vec!["totp", "recovery_code"],
        }),
    };
    // A new token changes no cached session (the service announced any it pushed out).
    Ok((SessionChange::Nothing, Json(answer)))
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
    let event = Event::new(Kind::LoggedOut).user(auth.user().id).ip(client);
    event.record(&state).await;
    Ok((
        SessionChange::User(auth.user().id),
        Json(LoggedOut {
            detail: "Logged out successfully.",
        }),
    ))
}
