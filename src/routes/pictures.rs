//! `/users/me/picture/`: the caller's profile picture as the request body, and
//! `/media/profile-pictures/{name}`: the stored pictures, served (local storage).

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, body::Bytes};
use utoipa::ToSchema;

use super::schemas::{Detail, ValidationErrors};
use super::users::Profile;
use crate::auth::{AuthUser, SessionChange};
use crate::db::{PictureChange, ProfileChanges};
use crate::error::{ApiError, AuthFailure};
use crate::pictures::{self, MAX_PICTURE_BYTES, Output};
use crate::state::AppState;

/// An image file: JPEG, PNG or WebP, up to 5 MB, recognised by its content.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ImageFile(pub Vec<u8>);

/// The request body as the picture, whatever its declared type; over 5 MB is a `413`.
pub struct PictureBody(Bytes);

impl FromRequest<AppState> for PictureBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, ApiError> {
        crate::body::refuse_declared_excess(&req, MAX_PICTURE_BYTES)?;
        let bytes = crate::body::read_limited(req.into_body(), MAX_PICTURE_BYTES).await?;
        if bytes.is_empty() {
            return Err(ApiError::field("profile_picture", "No file was submitted."));
        }
        Ok(Self(bytes))
    }
}

/// Upload the caller's profile picture: the body is the image itself. It is stored re-encoded
/// (no metadata), turned upright, fitted within 512×512, under a new name; the old one goes.
#[utoipa::path(
    put, path = "/users/me/picture/", tag = "users",
    security(("token" = [])),
    request_body(
        description = "The image: JPEG, PNG or WebP, up to 5 MB, recognised by its content",
        content(
            (ImageFile = "image/jpeg"), (ImageFile = "image/png"),
            (ImageFile = "image/webp"), (ImageFile = "application/octet-stream"),
        )
    ),
    responses(
        (status = 200, description = "The profile with the new picture's URL", body = Profile),
        (status = 400, description = "`profile_picture`: not a JPEG, PNG or WebP image, or too many pixels", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail),
        (status = 503, description = "The picture store failed; nothing changed", body = Detail),
    )
)]
pub async fn put_picture(
    State(state): State<AppState>,
    auth: AuthUser,
    PictureBody(bytes): PictureBody,
) -> Result<(SessionChange, Response), ApiError> {
    let changes = ProfileChanges::default();
    change(&state, &auth, changes, Some(bytes)).await
}

/// Remove the caller's profile picture (an uploaded one or a link); answers the profile.
#[utoipa::path(
    delete, path = "/users/me/picture/", tag = "users",
    security(("token" = [])),
    responses(
        (status = 200, description = "The profile, `profile_picture: null`", body = Profile),
        (status = 401, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn delete_picture(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<(SessionChange, Response), ApiError> {
    let changes = ProfileChanges {
        profile_picture: PictureChange::Clear,
        ..ProfileChanges::default()
    };
    change(&state, &auth, changes, None).await
}

pub(super) async fn change(
    state: &AppState,
    auth: &AuthUser,
    changes: ProfileChanges,
    upload: Option<Bytes>,
) -> Result<(SessionChange, Response), ApiError> {
    let user = pictures::change_profile(state, auth.user().id, changes, upload)
        .await?
        .ok_or(ApiError::Unauthenticated(AuthFailure::Inactive))?;
    let profile = Json(Profile::of(&user, &state.pictures)).into_response();
    Ok((SessionChange::User(user.id), profile))
}

/// A stored profile picture. Names never change content, so it may be cached for good.
#[utoipa::path(
    get, path = "/media/profile-pictures/{name}", tag = "users",
    params(("name" = String, Path, description = "`{32 hex}.jpg` or `{32 hex}.png`")),
    responses(
        (status = 200, description = "The picture", content(
            (ImageFile = "image/jpeg"), (ImageFile = "image/png"),
        )),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn get_picture_file(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let output = name
        .rsplit_once('.')
        .and_then(|(_, extension)| Output::from_extension(extension))
        .filter(|_| pictures::is_name(&name))
        .ok_or(ApiError::NotFound)?;
    let etag = format!("\"{}\"", name.replace('.', "-"));
    let cache = (
        CACHE_CONTROL,
        HeaderValue::from_static(pictures::CACHE_CONTROL),
    );
    let etag_value = HeaderValue::try_from(etag.as_str()).map_err(ApiError::internal)?;
    let matches = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        // A revalidation: whether it is still there, without reading it.
        if !state.pictures.exists(&name).await? {
            return Err(ApiError::NotFound);
        }
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag_value), cache]).into_response());
    }
    let bytes = state.pictures.get(&name).await?.ok_or(ApiError::NotFound)?;
    let content_type = HeaderValue::from_static(output.content_type());
    Ok((
        [(CONTENT_TYPE, content_type), (ETAG, etag_value), cache],
        bytes,
    )
        .into_response())
}
