//! `/users/`: registration, and the caller's own profile (`/users/me/`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde::Serialize;
use utoipa::ToSchema;

use super::schemas::{CredentialsBody, Detail, ValidationErrors};
use crate::auth::{AuthUser, ClientIp, PlainToken, Recipient, SessionChange, queue_code_mail};
use crate::body::Fields;
use crate::db::{self, Change, MailTarget, NewToken, NewUser, ProfileChanges, UserRow};
use crate::domain::{Bio, DateOfBirth, Email, Invalid, Name, Password, PhoneNumber, PictureUrl};
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// The answer to a registration: the new account, already logged in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    #[schema(example = 99)]
    pub user_id: i64,
    #[schema(example = "new.hero@example.com")]
    pub email: String,
    /// Send it as `Authorization: Token <token>`.
    pub token: String,
}

// It borrows the row it shows, so `GET /users/me/` serializes straight from the cached session
// without copying it; a handler answers with `Json(Profile::from(&row)).into_response()`.
/// A user's profile. Keys come in this order; `null` means "not set".
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile<'a> {
    #[schema(example = "your.email@example.com")]
    pub email: &'a str,
    #[schema(example = "Captain Awesome")]
    pub name: Option<&'a str>,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, format = Date, example = "1990-01-01")]
    pub date_of_birth: Option<String>,
    pub is_superuser: bool,
    pub is_staff: bool,
    pub is_active: bool,
    #[schema(example = "https://your.avatar.com")]
    pub profile_picture: Option<&'a str>,
    #[schema(example = "Saving the world, one API call at a time.")]
    pub bio: Option<&'a str>,
    pub user_id: i64,
    /// E.164, e.g. `+14155550123`.
    pub phone_number: Option<&'a str>,
    pub email_verified: bool,
    /// RFC 3339, UTC.
    #[schema(format = DateTime, example = "2026-11-24T21:31:35.123456Z")]
    pub date_joined: String,
}

impl<'a> From<&'a UserRow> for Profile<'a> {
    fn from(u: &'a UserRow) -> Self {
        Profile {
            email: &u.email,
            name: u.name.as_deref(),
            date_of_birth: u.date_of_birth.map(|d| d.format("%Y-%m-%d").to_string()),
            is_superuser: u.is_superuser,
            is_staff: u.is_staff,
            is_active: u.is_active,
            profile_picture: u.profile_picture.as_deref(),
            bio: u.bio.as_deref(),
            user_id: u.id,
            phone_number: u.phone_number.as_deref(),
            email_verified: u.email_verified,
            date_joined: u.date_joined.to_rfc3339_opts(SecondsFormat::Micros, true),
        }
    }
}

/// The writable profile fields. Absent fields stay as they are; `null` or `""` clears one.
/// Any other key (`email`, `is_staff`, ...) is ignored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileUpdate {
    /// 1–100 characters, trimmed, no control characters.
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// `YYYY-MM-DD`, not in the future, not before 1900-01-01.
    #[schema(format = Date)]
    pub date_of_birth: Option<String>,
    #[schema(max_length = 1000)]
    pub bio: Option<String>,
    /// An absolute http(s) URL.
    #[schema(max_length = 2048)]
    pub profile_picture: Option<String>,
    /// E.164 after removing spaces, dashes and parentheses.
    pub phone_number: Option<String>,
}

/// Register a new user and log them in.
#[utoipa::path(
    post, path = "/users/", tag = "users",
    request_body(content(
        (CredentialsBody = "application/json"),
        (CredentialsBody = "application/x-www-form-urlencoded"),
        (CredentialsBody = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Registered and logged in", body = Registered),
        (status = 400, description = "Invalid email or password, or the email is taken", body = ValidationErrors),
        (status = 413, body = Detail), (status = 415, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn register_user(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    fields: Fields,
) -> Result<(StatusCode, SessionChange, Json<Registered>), ApiError> {
    let mut errors = FieldErrors::new();
    let email = fields
        .required_text("email", &mut errors)
        .and_then(|raw| keep_ok(&mut errors, "email", Email::parse(&raw)));
    let password = fields
        .required_text("password", &mut errors)
        .map(Password::new);
    // Like Django, the password rules run even when the address is invalid; only the
    // similarity rule needs a valid address.
    if let Some(password) = &password {
        if let Err(Invalid(messages)) = state.policy.check(password, email.as_ref()) {
            errors.add("password", messages);
        }
    }
    errors.into_result()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };

    // A place in the mail queue first: when it is full, nothing is created.
    let slot = state.mailer.reserve()?;
    // Each registration costs a hash: bound them per client address.
    state
        .config
        .registration_limit()
        .hit(
            &state.db,
            &format!("register-ip:{client}"),
            state.clock.now(),
        )
        .await?;
    let password_hash = state.hashing.hash(password).await?;
    let token = PlainToken::generate();
    let now = state.clock.now();
    let user_agent = super::user_agent(&headers);
    let user = db::insert_user_with_token(
        &state.db,
        &NewUser {
            email: &email,
            password_hash: &password_hash,
            date_joined: now,
        },
        &NewToken {
            digest: token.digest().as_bytes(),
            created_at: now,
            user_agent: user_agent.as_deref(),
        },
    )
    .await?;
    tracing::info!(user_id = user.id, "user registered");
    let verify = crate::auth::CodePurpose::VerifyEmail;
    let to = Recipient::Known(MailTarget {
        id: user.id,
        email: user.email.clone(),
        email_verified: user.email_verified,
    });
    queue_code_mail(&state, slot, verify, to);
    Ok((
        StatusCode::CREATED,
        SessionChange::Nothing,
        Json(Registered {
            user_id: user.id,
            email: user.email,
            token: token.expose().to_owned(),
        }),
    ))
}

/// The caller's profile.
#[utoipa::path(
    get, path = "/users/me/", tag = "users",
    security(("token" = [])),
    responses((status = 200, body = Profile), (status = 401, body = Detail), (status = 503, body = Detail))
)]
pub async fn get_me(auth: AuthUser) -> Response {
    Json(Profile::from(auth.user())).into_response()
}

/// Edit the caller's profile. PUT and PATCH behave the same: only the fields sent change.
#[utoipa::path(
    put, path = "/users/me/", tag = "users",
    security(("token" = [])),
    request_body(content(
        (Option<ProfileUpdate> = "application/json"),
        (Option<ProfileUpdate> = "application/x-www-form-urlencoded"),
        (Option<ProfileUpdate> = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The updated profile", body = Profile),
        (status = 400, body = ValidationErrors), (status = 401, body = Detail),
        (status = 413, body = Detail), (status = 415, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    auth: AuthUser,
    fields: Fields,
) -> Result<(SessionChange, Response), ApiError> {
    let changes = parse_profile_changes(&fields, &state)?;
    if changes.is_empty() {
        let profile = Json(Profile::from(auth.user())).into_response();
        return Ok((SessionChange::Nothing, profile));
    }
    let user = db::update_profile(&state.db, auth.user().id, &changes)
        .await?
        .ok_or(ApiError::Unauthenticated(
            crate::error::AuthFailure::Inactive,
        ))?;
    let profile = Json(Profile::from(&user)).into_response();
    Ok((SessionChange::User(user.id), profile))
}

/// Same as PUT (documented separately so clients see both methods).
#[utoipa::path(
    patch, path = "/users/me/", tag = "users",
    security(("token" = [])),
    request_body(content(
        (Option<ProfileUpdate> = "application/json"),
        (Option<ProfileUpdate> = "application/x-www-form-urlencoded"),
        (Option<ProfileUpdate> = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The updated profile", body = Profile),
        (status = 400, body = ValidationErrors), (status = 401, body = Detail),
        (status = 413, body = Detail), (status = 415, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn patch_me(
    state: State<AppState>,
    auth: AuthUser,
    fields: Fields,
) -> Result<(SessionChange, Response), ApiError> {
    update_me(state, auth, fields).await
}

fn parse_profile_changes(fields: &Fields, state: &AppState) -> Result<ProfileChanges, ApiError> {
    let mut errors = FieldErrors::new();
    let today = state.clock.today();
    let changes = ProfileChanges {
        name: change(fields, "name", &mut errors, Name::parse),
        date_of_birth: change(fields, "date_of_birth", &mut errors, |s| {
            DateOfBirth::parse(s, today)
        }),
        bio: change(fields, "bio", &mut errors, Bio::parse),
        profile_picture: change(fields, "profile_picture", &mut errors, PictureUrl::parse),
        phone_number: change(fields, "phone_number", &mut errors, PhoneNumber::parse),
    };
    errors.into_result()?;
    Ok(changes)
}

/// Reads one optional profile field into a [`Change`], recording any error under its name.
fn change<T>(
    fields: &Fields,
    name: &str,
    errors: &mut FieldErrors,
    parse: impl FnOnce(&str) -> Result<Option<T>, Invalid>,
) -> Change<T> {
    match fields.optional_text(name, errors) {
        None => Change::Keep,
        Some(None) => Change::Set(None),
        Some(Some(text)) => match parse(&text) {
            Ok(value) => Change::Set(value),
            Err(Invalid(messages)) => {
                errors.add(name, messages);
                Change::Keep
            }
        },
    }
}

/// The parsed value, or its messages recorded under `field`.
fn keep_ok<T>(errors: &mut FieldErrors, field: &str, parsed: Result<T, Invalid>) -> Option<T> {
    parsed
        .map_err(|Invalid(messages)| errors.add(field, messages))
        .ok()
}
