//! `/users/`: registration, and the caller's own profile (`/users/me/`).

use std::borrow::Cow;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schemas::{Detail, ValidationErrors};
use super::tokens::CredentialsBody;
use crate::auth::{self, AuthUser, ClientIp, SessionChange};
use crate::body::{Body, Field, FileField, FilePart, Upload};
use crate::db::{Change, PictureChange, ProfileChanges, UserRow};
use crate::domain::{
    Bio, DateOfBirth, Email, Invalid, Name, Password, PasswordPolicy, PhoneNumber, PhoneRegion,
    PictureUrl,
};
use crate::error::{ApiError, FieldErrors};
use crate::pictures::{MAX_PICTURE_BYTES, Pictures};
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
    /// The uploaded picture's URL, or the link the client set.
    #[schema(value_type = Option<String>, example = "https://api.example.com/media/profile-pictures/3f2a9c0d5b7e41e8a6c1d2f3e4b5a697.jpg")]
    pub profile_picture: Option<Cow<'a, str>>,
    #[schema(example = "Saving the world, one API call at a time.")]
    pub bio: Option<&'a str>,
    pub user_id: i64,
    /// As the user sent it, e.g. `08167930376` or `+2348167930376`.
    #[schema(example = "08167930376")]
    pub phone_number: Option<&'a str>,
    pub email_verified: bool,
    /// RFC 3339, UTC.
    #[schema(format = DateTime, example = "2026-11-24T21:31:35.123456Z")]
    pub date_joined: String,
}

impl<'a> Profile<'a> {
    /// `u`'s profile; an uploaded picture shows as its URL in `pictures`.
    pub fn of(u: &'a UserRow, pictures: &Pictures) -> Self {
        let picture = match &u.picture_key {
            Some(name) => Some(Cow::Owned(pictures.url(name))),
            None => u.profile_picture.as_deref().map(Cow::Borrowed),
        };
        Profile {
            email: &u.email,
            name: u.name.as_deref(),
            date_of_birth: u.date_of_birth.map(|d| d.format("%Y-%m-%d").to_string()),
            is_superuser: u.is_superuser,
            is_staff: u.is_staff,
            is_active: u.is_active,
            profile_picture: picture,
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
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileUpdate {
    /// 1–100 characters, trimmed, no control characters.
    #[schema(value_type = Option<String>, max_length = 100)]
    pub name: Field,
    /// `YYYY-MM-DD`, not in the future, not before 1900-01-01.
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Field,
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub bio: Field,
    /// An absolute http(s) URL (it replaces an uploaded picture), or in a multipart body a
    /// file part: a JPEG, PNG or WebP image up to 5 MB.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub profile_picture: Field,
    /// National (`08167930376`) or international (`+2348167930376`), at most 30 characters;
    /// kept as sent, trimmed.
    #[schema(value_type = Option<String>, max_length = 30, example = "08167930376")]
    pub phone_number: Field,
}

/// A multipart profile edit: the fields of `ProfileUpdate` as text, and `profile_picture` as a
/// file part (a JPEG, PNG or WebP image up to 5 MB) or as a link.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the form; the request is read as `ProfileUpdate`
pub struct ProfileUpdateForm {
    #[schema(max_length = 100)]
    name: Option<String>,
    #[schema(format = Date)]
    date_of_birth: Option<String>,
    #[schema(max_length = 1000)]
    bio: Option<String>,
    #[schema(format = Binary)]
    profile_picture: Option<String>,
    #[schema(max_length = 30, example = "08167930376")]
    phone_number: Option<String>,
}

impl CredentialsBody {
    fn new_account(&self, policy: &PasswordPolicy) -> Result<(Email, Password), ApiError> {
        let mut errors = FieldErrors::new();
        let email = self.email.parse(&mut errors, Email::parse);
        let password = (&self.password, None);
        let password = super::new_password(password, policy, email.as_ref(), &mut errors);
        super::validated(errors, email.zip(password))
    }
}

impl ProfileUpdate {
    fn changes(
        &self,
        today: chrono::NaiveDate,
        region: Option<PhoneRegion>,
    ) -> Result<ProfileChanges, ApiError> {
        let mut errors = FieldErrors::new();
        let changes = ProfileChanges {
            name: change(&self.name, &mut errors, Name::parse),
            date_of_birth: change(&self.date_of_birth, &mut errors, |s| {
                DateOfBirth::parse(s, today)
            }),
            bio: change(&self.bio, &mut errors, Bio::parse),
            profile_picture: if self.profile_picture.is_file() {
                // The file part itself is processed by the caller.
                PictureChange::Keep
            } else {
                change(&self.profile_picture, &mut errors, PictureUrl::parse).into()
            },
            phone_number: change(&self.phone_number, &mut errors, |s| {
                PhoneNumber::parse(s, region)
            }),
        };
        errors.into_result()?;
        Ok(changes)
    }
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
    Body(body): Body<CredentialsBody>,
) -> Result<(StatusCode, SessionChange, Json<Registered>), ApiError> {
    let (email, password) = body.new_account(&state.policy)?;
    let user_agent = super::user_agent(&headers);
    let user = auth::register(&state, &email, password, client, user_agent.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        SessionChange::Nothing,
        Json(Registered {
            user_id: user.user_id,
            email: user.email,
            token: user.token.expose().to_owned(),
        }),
    ))
}

/// The caller's profile.
#[utoipa::path(
    get, path = "/users/me/", tag = "users",
    security(("token" = [])),
    responses((status = 200, body = Profile), (status = 401, body = Detail), (status = 503, body = Detail))
)]
pub async fn get_me(State(state): State<AppState>, auth: AuthUser) -> Response {
    Json(Profile::of(auth.user(), &state.pictures)).into_response()
}

/// Edit the caller's profile. PUT and PATCH behave the same: only the fields sent change.
#[utoipa::path(
    put, path = "/users/me/", tag = "users",
    security(("token" = [])),
    request_body(content(
        (Option<ProfileUpdate> = "application/json"),
        (Option<ProfileUpdate> = "application/x-www-form-urlencoded"),
        (Option<ProfileUpdateForm> = "multipart/form-data"),
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
    form: Upload<ProfileUpdate, ProfilePicturePart>,
) -> Result<(SessionChange, Response), ApiError> {
    let changes = match form
        .body
        .changes(state.clock.today(), state.config.phone_region)
    {
        Ok(changes) => changes,
        // Every field's errors at once, as DRF reports them: a bad picture beside bad text
        // fields is named too (decoding it costs the pool, like any upload would).
        Err(ApiError::Validation(mut errors)) => {
            if let Some(file) = form.file
                && let Err(ApiError::Validation(picture)) = state.pictures.process(file).await
            {
                errors.merge(picture);
            }
            return Err(ApiError::Validation(errors));
        }
        Err(e) => return Err(e),
    };
    if changes.is_empty() && form.file.is_none() {
        let profile = Json(Profile::of(auth.user(), &state.pictures)).into_response();
        return Ok((SessionChange::Nothing, profile));
    }
    super::pictures::change(&state, &auth, changes, form.file).await
}

/// The `profile_picture` file part of a multipart profile edit.
#[derive(Debug)]
pub struct ProfilePicturePart;

impl FileField for ProfilePicturePart {
    const PART: FilePart = FilePart {
        name: "profile_picture",
        max_bytes: MAX_PICTURE_BYTES,
    };
}

/// Same as PUT (documented separately so clients see both methods).
#[utoipa::path(
    patch, path = "/users/me/", tag = "users",
    security(("token" = [])),
    request_body(content(
        (Option<ProfileUpdate> = "application/json"),
        (Option<ProfileUpdate> = "application/x-www-form-urlencoded"),
        (Option<ProfileUpdateForm> = "multipart/form-data"),
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
    form: Upload<ProfileUpdate, ProfilePicturePart>,
) -> Result<(SessionChange, Response), ApiError> {
    update_me(state, auth, form).await
}

fn change<T>(
    field: &Field,
    errors: &mut FieldErrors,
    parse: impl FnOnce(&str) -> Result<Option<T>, Invalid>,
) -> Change<T> {
    match field.optional_text(errors) {
        None => Change::Keep,
        Some(None) => Change::Set(None),
        Some(Some(text)) => match parse(&text) {
            Ok(value) => Change::Set(value),
            Err(Invalid(messages)) => {
                field.reject(errors, messages);
                Change::Keep
            }
        },
    }
}
