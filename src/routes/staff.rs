//! Staff endpoints: list, search and read users, (de)activate them, revoke their tokens. Staff
//! read any account but write only ordinary ones (a staff or superuser account is a superuser's
//! to act on, so nobody locks out those above them); only superusers change `is_staff` and
//! `is_superuser`, and the last active superuser stays.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::PathId;
use super::pages::{Page, PageRequest, PageSizes};
use super::schemas::{Detail, ValidationErrors};
use super::users::Profile;
use crate::audit::{Event, Kind};
use crate::auth::{AuthUser, ClientIp, SessionChange};
use crate::body::{Body, Field};
use crate::db::{self, FlagChanges};
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

const USER_PAGES: PageSizes = PageSizes {
    default: 20,
    max: Some(100),
};

/// An authenticated staff member or superuser; anyone else is refused with 403.
pub struct StaffUser(pub AuthUser);

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = AuthUser::from_request_parts(parts, state).await?;
        if auth.user().is_staff || auth.user().is_superuser {
            Ok(StaffUser(auth))
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The flags staff can change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserFlags {
    /// Staff may change it on ordinary accounts; superusers on any.
    #[schema(value_type = Option<bool>)]
    pub is_active: Field,
    /// Superusers only.
    #[schema(value_type = Option<bool>)]
    pub is_staff: Field,
    /// Superusers only.
    #[schema(value_type = Option<bool>)]
    pub is_superuser: Field,
}

impl UserFlags {
    fn changes(&self) -> Result<FlagChanges, ApiError> {
        let mut errors = FieldErrors::new();
        let changes = FlagChanges {
            is_active: self.is_active.optional_bool(&mut errors),
            is_staff: self.is_staff.optional_bool(&mut errors),
            is_superuser: self.is_superuser.optional_bool(&mut errors),
        };
        errors.into_result()?;
        Ok(changes)
    }
}

/// `{"revoked": n}`: how many tokens were revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

/// List users, optionally searching address and name (staff only).
#[utoipa::path(
    get, path = "/users/", tag = "staff",
    security(("token" = [])),
    params(
        ("search" = Option<String>, Query, description = "Part of the address or name, any case"),
        ("page" = Option<i64>, Query, description = "1-based page number"),
        ("page_size" = Option<i64>, Query, description = "Users per page, 1–100 (default 20)"),
    ),
    responses(
        (status = 200, body = Page<Profile>), (status = 401, body = Detail), (status = 403, body = Detail),
        (status = 404, description = "`{\"detail\": \"Invalid page.\"}`", body = Detail),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    StaffUser(staff): StaffUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let search = params.get("search").map_or("", |s| s.trim());
    let page = PageRequest::from_query(&params, USER_PAGES)?;
    let (count, rows) = db::list_users(&state.db, search, page.limit(), page.offset()).await?;
    let results = rows
        .iter()
        .map(|u| Profile::of(u, &state.pictures))
        .collect();
    let listed = page.page(
        count,
        results,
        &state.public_url,
        "/users/",
        &[("search", search)],
    )?;
    let detail = format!(
        "search={search:?} page={} page_size={}",
        page.number(),
        page.limit()
    );
    let event = Event::new(Kind::StaffListedUsers)
        .by(staff.user().id)
        .ip(client);
    event.detail(&detail).record(&state).await;
    Ok(Json(listed).into_response())
}

/// A user's profile as staff see it: with the second factors in use.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffProfile<'a> {
    #[serde(flatten)]
    pub profile: Profile<'a>,
    /// Whether TOTP is on.
    pub totp: bool,
    /// Passkeys registered.
    pub passkeys: i64,
}

/// One user's profile, with `totp` and `passkeys` (staff only).
#[utoipa::path(
    get, path = "/users/{id}/", tag = "staff",
    security(("token" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 200, body = StaffProfile), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail))
)]
pub async fn get_user(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    StaffUser(staff): StaffUser,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let user = db::find_user_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let factors = db::mfa_summary(&state.db, id).await?;
    let event = Event::new(Kind::StaffViewedUser)
        .user(id)
        .by(staff.user().id);
    event.ip(client).record(&state).await;
    let profile = StaffProfile {
        profile: Profile::of(&user, &state.pictures),
        totp: factors.totp,
        passkeys: factors.passkeys,
    };
    Ok(Json(profile).into_response())
}

/// Change a user's flags: `is_active` (staff, on ordinary accounts), `is_staff` and
/// `is_superuser` (superusers only). A staff member's or superuser's account is a superuser's to
/// change.
#[utoipa::path(
    patch, path = "/users/{id}/", tag = "staff",
    security(("token" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    request_body(content(
        (Option<UserFlags> = "application/json"),
        (Option<UserFlags> = "application/x-www-form-urlencoded"),
        (Option<UserFlags> = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Profile), (status = 400, body = ValidationErrors),
        (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    StaffUser(staff): StaffUser,
    PathId(id): PathId,
    Body(body): Body<UserFlags>,
) -> Result<(SessionChange, Response), ApiError> {
    let changes = body.changes()?;
    let user = crate::staff::set_flags(&state, staff.user(), client, id, changes).await?;
    let profile = Json(Profile::of(&user, &state.pictures)).into_response();
    Ok((SessionChange::User(id), profile))
}

/// Revoke every token of a user: they are logged out everywhere (staff, on ordinary accounts;
/// a staff member's or superuser's tokens only a superuser revokes).
#[utoipa::path(
    post, path = "/users/{id}/revoke-tokens/", tag = "staff",
    security(("token" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 200, body = Revoked), (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail))
)]
pub async fn revoke_user_tokens(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    StaffUser(staff): StaffUser,
    PathId(id): PathId,
) -> Result<(SessionChange, Json<Revoked>), ApiError> {
    let revoked = crate::staff::revoke_sessions(&state, staff.user(), client, id).await?;
    Ok((SessionChange::User(id), Json(Revoked { revoked })))
}

/// Remove a user's second factors (TOTP, recovery codes, passkeys), e.g. for someone who lost
/// their phone (staff, on ordinary accounts; a staff member's or superuser's only a superuser).
#[utoipa::path(
    delete, path = "/users/{id}/mfa/", tag = "staff",
    security(("token" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Removed (or there were none); no body"),
        (status = 401, body = Detail), (status = 403, body = Detail), (status = 404, body = Detail),
    )
)]
pub async fn remove_second_factors(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    StaffUser(staff): StaffUser,
    PathId(id): PathId,
) -> Result<(SessionChange, axum::http::StatusCode), ApiError> {
    crate::staff::remove_second_factors(&state, staff.user(), client, id).await?;
    Ok((SessionChange::Nothing, axum::http::StatusCode::NO_CONTENT))
}
