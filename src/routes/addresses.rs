//! `/users/addresses/`: the caller's saved delivery addresses (the original service's
//! `UserAddress`). Only ever the caller's own: another user's address id is "not found",
//! exactly like an id that does not exist, so ids cannot be probed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::PathId;
use super::schemas::{Detail, ValidationErrors};
use crate::auth::{AuthUser, SessionChange};
use crate::body::{Body, Field};
use crate::db::{self, DeliveryAddressChanges, DeliveryAddressRow, NewDeliveryAddress};
use crate::domain::{AddressPart, AddressText, Invalid, PlaceLabel};
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// What the address is to its owner.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LabelledPlace {
    Home,
    Work,
    Other,
}

/// A saved delivery address. Keys come in this order; blank parts are `""`, never `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAddress {
    /// Use it with `/users/addresses/{id}/`.
    #[schema(example = 3)]
    pub id: i64,
    #[schema(example = "Opposite the big mango tree, ring twice")]
    pub address: String,
    #[schema(example = "12 Allen Avenue, Ikeja")]
    pub street: String,
    #[schema(example = "100271")]
    pub post_code: String,
    #[schema(example = "Flat 4B")]
    pub apartment: String,
    #[schema(value_type = LabelledPlace)]
    pub labelled_place: String,
}

impl From<DeliveryAddressRow> for DeliveryAddress {
    fn from(row: DeliveryAddressRow) -> Self {
        DeliveryAddress {
            id: row.id,
            address: row.address,
            street: row.street,
            post_code: row.post_code,
            apartment: row.apartment,
            labelled_place: row.labelled_place,
        }
    }
}

/// An address as sent. Text is trimmed and may be blank (`""`; `null` is taken as blank). On
/// `POST` a part not sent is blank; on `PUT` and `PATCH` it stays as it is. `labelled_place`
/// is required on `POST` and `PUT`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddressBody {
    /// Free text, at most 1000 characters.
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub address: Field,
    #[schema(value_type = Option<String>, max_length = 100)]
    pub street: Field,
    #[schema(value_type = Option<String>, max_length = 30)]
    pub post_code: Field,
    #[schema(value_type = Option<String>, max_length = 50)]
    pub apartment: Field,
    /// `HOME`, `WORK` or `OTHER`, exactly. Required on `POST` and `PUT`.
    #[schema(value_type = Option<LabelledPlace>)]
    pub labelled_place: Field,
}

/// An address as `POST` and `PUT` take it: [`AddressBody`] with `labelled_place` required.
/// Only the document's shape; requests are read as [`AddressBody`], so a missing label gets
/// DRF's field error.
#[derive(Debug, ToSchema)]
pub struct FullAddressBody {
    /// Free text, at most 1000 characters.
    #[schema(max_length = 1000)]
    pub address: Option<String>,
    #[schema(max_length = 100)]
    pub street: Option<String>,
    #[schema(max_length = 30)]
    pub post_code: Option<String>,
    #[schema(max_length = 50)]
    pub apartment: Option<String>,
    /// `HOME`, `WORK` or `OTHER`, exactly.
    pub labelled_place: LabelledPlace,
}

impl AddressBody {
    /// Every part sent, parsed; every field's errors at once. `full`: `labelled_place` must be
    /// there (POST, PUT).
    fn changes(&self, full: bool) -> Result<DeliveryAddressChanges, ApiError> {
        let mut errors = FieldErrors::new();
        let changes = DeliveryAddressChanges {
            address: text(&self.address, AddressPart::Address, &mut errors),
            street: text(&self.street, AddressPart::Street, &mut errors),
            post_code: text(&self.post_code, AddressPart::PostCode, &mut errors),
            apartment: text(&self.apartment, AddressPart::Apartment, &mut errors),
            labelled_place: self
                .labelled_place
                .choice(&mut errors, full, PlaceLabel::parse),
        };
        errors.into_result()?;
        Ok(changes)
    }

    fn new_address(&self) -> Result<NewDeliveryAddress, ApiError> {
        let changes = self.changes(true)?;
        let labelled_place = changes
            .labelled_place
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("required label missing")))?;
        Ok(NewDeliveryAddress {
            address: changes.address.unwrap_or_default(),
            street: changes.street.unwrap_or_default(),
            post_code: changes.post_code.unwrap_or_default(),
            apartment: changes.apartment.unwrap_or_default(),
            labelled_place,
        })
    }
}

/// One text part: `None` when not sent; `null` and blank are `""`.
fn text(field: &Field, part: AddressPart, errors: &mut FieldErrors) -> Option<AddressText> {
    match field.optional_text(errors)? {
        None => Some(AddressText::default()),
        Some(raw) => AddressText::parse(part, &raw)
            .map_err(|Invalid(messages)| field.reject(errors, messages))
            .ok(),
    }
}

/// The caller's addresses, oldest first (a new one is last).
#[utoipa::path(
    get, path = "/users/addresses/", tag = "addresses",
    security(("token" = [])),
    responses(
        (status = 200, body = Vec<DeliveryAddress>),
        (status = 401, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn list_addresses(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<Vec<DeliveryAddress>>, ApiError> {
    let rows = db::list_addresses_of_user(&state.db, auth.user().id).await?;
    Ok(Json(rows.into_iter().map(DeliveryAddress::from).collect()))
}

/// Save a new address. A user keeps at most `KITCHEN_API_MAX_ADDRESSES_PER_USER` (20 by
/// default); beyond it the answer is a 400 under `non_field_errors`.
#[utoipa::path(
    post, path = "/users/addresses/", tag = "addresses",
    security(("token" = [])),
    request_body(content(
        (FullAddressBody = "application/json"),
        (FullAddressBody = "application/x-www-form-urlencoded"),
        (FullAddressBody = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Saved", body = DeliveryAddress),
        (status = 400, description = "Invalid parts, or the limit reached", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn create_address(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<AddressBody>,
) -> Result<(StatusCode, SessionChange, Json<DeliveryAddress>), ApiError> {
    let new = body.new_address()?;
    let max = state.config.max_addresses_per_user;
    let row = db::insert_address_within_limit(&state.db, auth.user().id, max, &new)
        .await?
        .ok_or_else(|| {
            ApiError::field(
                "non_field_errors",
                format!(
                    "You can save at most {max} delivery addresses. \
                     Delete one before adding another."
                ),
            )
        })?;
    Ok((
        StatusCode::CREATED,
        SessionChange::Nothing,
        Json(row.into()),
    ))
}

/// One of the caller's addresses.
#[utoipa::path(
    get, path = "/users/addresses/{id}/", tag = "addresses",
    security(("token" = [])),
    params(("id" = i64, Path, description = "An address id from the list")),
    responses(
        (status = 200, body = DeliveryAddress),
        (status = 401, body = Detail),
        (status = 404, description = "No address of the caller has this id", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn get_address(
    State(state): State<AppState>,
    auth: AuthUser,
    PathId(id): PathId,
) -> Result<Json<DeliveryAddress>, ApiError> {
    let row = db::find_address_of_user(&state.db, auth.user().id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(row.into()))
}

/// Replace an address: `labelled_place` is required; a text part not sent stays as it is.
#[utoipa::path(
    put, path = "/users/addresses/{id}/", tag = "addresses",
    security(("token" = [])),
    params(("id" = i64, Path, description = "An address id from the list")),
    request_body(content(
        (FullAddressBody = "application/json"),
        (FullAddressBody = "application/x-www-form-urlencoded"),
        (FullAddressBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = DeliveryAddress), (status = 400, body = ValidationErrors),
        (status = 401, body = Detail),
        (status = 404, description = "No address of the caller has this id", body = Detail),
        (status = 413, body = Detail), (status = 415, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn replace_address(
    state: State<AppState>,
    auth: AuthUser,
    id: PathId,
    Body(body): Body<AddressBody>,
) -> Result<(SessionChange, Json<DeliveryAddress>), ApiError> {
    let changes = body.changes(true)?;
    write_address(state, auth, id, changes).await
}

/// Change some parts of an address; the parts not sent stay as they are.
#[utoipa::path(
    patch, path = "/users/addresses/{id}/", tag = "addresses",
    security(("token" = [])),
    params(("id" = i64, Path, description = "An address id from the list")),
    request_body(content(
        (Option<AddressBody> = "application/json"),
        (Option<AddressBody> = "application/x-www-form-urlencoded"),
        (Option<AddressBody> = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = DeliveryAddress), (status = 400, body = ValidationErrors),
        (status = 401, body = Detail),
        (status = 404, description = "No address of the caller has this id", body = Detail),
        (status = 413, body = Detail), (status = 415, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn update_address(
    state: State<AppState>,
    auth: AuthUser,
    id: PathId,
    Body(body): Body<AddressBody>,
) -> Result<(SessionChange, Json<DeliveryAddress>), ApiError> {
    let changes = body.changes(false)?;
    write_address(state, auth, id, changes).await
}

async fn write_address(
    State(state): State<AppState>,
    auth: AuthUser,
    PathId(id): PathId,
    changes: DeliveryAddressChanges,
) -> Result<(SessionChange, Json<DeliveryAddress>), ApiError> {
    let row = db::update_address_of_user(&state.db, auth.user().id, id, &changes)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((SessionChange::Nothing, Json(row.into())))
}

/// Delete one of the caller's addresses.
#[utoipa::path(
    delete, path = "/users/addresses/{id}/", tag = "addresses",
    security(("token" = [])),
    params(("id" = i64, Path, description = "An address id from the list")),
    responses(
        (status = 204, description = "Deleted; no body"),
        (status = 401, body = Detail),
        (status = 404, description = "No address of the caller has this id", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn delete_address(
    State(state): State<AppState>,
    auth: AuthUser,
    PathId(id): PathId,
) -> Result<(SessionChange, StatusCode), ApiError> {
    if !db::delete_address_of_user(&state.db, auth.user().id, id).await? {
        return Err(ApiError::NotFound);
    }
    Ok((SessionChange::Nothing, StatusCode::NO_CONTENT))
}
