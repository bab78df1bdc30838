//! The OpenAPI document (generated from the handlers' annotations) and the fallbacks.

use axum::http::Method;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;

/// Every endpoint, for `/openapi.json` and the `/docs` page.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rayvers Kitchen API",
        description = "Authentication and user profiles for the Rayvers Kitchen apps. \
                       Every path works with and without its trailing slash. Errors follow \
                       Django REST Framework: `{\"detail\": ...}` or `{\"<field>\": [...]}`."
    ),
    paths(
        super::users::register_user,
        super::tokens::obtain_token,
        super::tokens::logout,
        super::users::get_me,
        super::users::update_me,
        super::users::patch_me,
        super::account::deletion::delete_me,
        super::account::verification::verify_email,
        super::account::verification::resend_verification_code,
        super::account::password::request_password_reset,
        super::account::password::reset_password,
        super::account::password::change_password,
        super::sessions::logout_all,
        super::sessions::list_sessions,
        super::sessions::delete_session,
        super::staff::list_users,
        super::staff::get_user,
        super::staff::update_user,
        super::staff::revoke_user_tokens,
        super::audit::list_security_events,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
    ),
    modifiers(&TokenAuth),
    tags(
        (name = "auth", description = "Logging in and out"),
        (name = "users", description = "Registration and profiles"),
        (name = "account", description = "Email verification, password reset and change"),
        (name = "staff", description = "User administration, for staff and superusers"),
        (name = "operations", description = "Health, readiness and metrics, for operators"),
    )
)]
pub struct ApiDoc;

/// Declares the `Authorization: Token <key>` scheme the secured endpoints use.
struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <key>` (or `Bearer <key>`), the key from /token/ or /users/",
            ))),
        );
    }
}

/// Any path the route table does not know.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A known path with a method it does not serve (axum adds the `Allow` header).
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
