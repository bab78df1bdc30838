//! `GET /security-events/`: the security event log, for staff.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use chrono::SecondsFormat;
use serde::Serialize;
use utoipa::ToSchema;

use super::pages::{Page, PageRequest, PageSizes};
use super::schemas::{Detail, ValidationErrors};
use super::staff::StaffUser;
use crate::db::{self, EventRow};
use crate::error::ApiError;
use crate::state::AppState;

/// One security event. Never carries a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEvent {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// `login_succeeded`, `login_failed`, `password_check_failed`, `logged_out`, `tokens_revoked`, `password_changed`,
    /// `password_reset`, `email_changed`, `account_deleted`, `staff_updated_user`,
    /// `staff_listed_users`, `staff_viewed_user`, `totp_enabled`, `totp_disabled`, `recovery_codes_regenerated`,
    /// `recovery_code_used`, `second_factor_failed`, `second_factor_succeeded`,
    /// `staff_removed_second_factors`.
    pub kind: String,
    /// The account concerned (null for a failed login with an unknown address, and for a
    /// staff listing of users).
    pub user_id: Option<i64>,
    /// The staff member who acted, when it was not the user.
    pub actor_id: Option<i64>,
    /// The client address.
    pub ip: Option<String>,
    pub detail: Option<String>,
}

impl From<EventRow> for SecurityEvent {
    fn from(e: EventRow) -> Self {
        SecurityEvent {
            id: e.id,
            at: e.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            kind: e.kind,
            user_id: e.user_id,
            actor_id: e.actor_id,
            ip: e.ip,
            detail: e.detail,
        }
    }
}

/// A fixed 100 events a page.
const EVENT_PAGES: PageSizes = PageSizes {
    default: 100,
    max: None,
};

/// The security event log, newest first (staff only).
#[utoipa::path(
    get, path = "/security-events/", tag = "staff",
    security(("token" = [])),
    params(
        ("user_id" = Option<i64>, Query, description = "Only events about this user"),
        ("page" = Option<i64>, Query, description = "1-based page number (100 events a page)"),
    ),
    responses(
        (status = 200, body = Page<SecurityEvent>),
        (status = 400, description = "`user_id` is not an integer", body = ValidationErrors),
        (status = 401, body = Detail), (status = 403, body = Detail),
        (status = 404, description = "`{\"detail\": \"Invalid page.\"}`", body = Detail),
    )
)]
pub async fn list_security_events(
    State(state): State<AppState>,
    StaffUser(_staff): StaffUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<SecurityEvent>>, ApiError> {
    let page = PageRequest::from_query(&params, EVENT_PAGES)?;
    let user_id = match params.get("user_id") {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .map_err(|_| ApiError::field("user_id", "A valid integer is required."))?,
        ),
    };
    let (count, rows) = db::list_events(&state.db, user_id, page.limit(), page.offset()).await?;
    let results = rows.into_iter().map(SecurityEvent::from).collect();
    let user_filter = user_id.map(|id| id.to_string()).unwrap_or_default();
    let filters = [("user_id", user_filter.as_str())];
    Ok(Json(page.page(
        count,
        results,
        &state.public_url,
        "/security-events/",
        &filters,
    )?))
}
