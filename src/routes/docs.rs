//! The docs: `/openapi.json` (made by `app::api` from the handlers' annotations), the Swagger UI
//! page at `/docs/` served from the binary, and the fallbacks for unknown paths and methods.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::Config;

use crate::error::ApiError;
use crate::state::AppState;

/// The document's description; its paths come from the route list (`app::api`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rayvers Kitchen API",
        description = "Authentication and user profiles for the Rayvers Kitchen apps. \
                       Every path works with and without its trailing slash. Errors follow \
                       Django REST Framework: `{\"detail\": ...}` or `{\"<field>\": [...]}`."
    ),
    modifiers(&TokenAuth),
    tags(
        (name = "auth", description = "Logging in and out"),
        (name = "users", description = "Registration and profiles"),
        (name = "addresses", description = "The caller's saved delivery addresses"),
        (name = "account", description = "Email verification, password reset and change"),
        (name = "passkeys", description = "The caller's passkeys (WebAuthn); logging in with one is under auth"),
        (name = "native apps", description = "The association files the iOS and Android apps need to use this site's passkeys"),
        (name = "mfa", description = "Second factors: TOTP and recovery codes"),
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

/// `GET /`: a browser that opens the service's address lands on its docs.
pub async fn to_docs_page() -> Redirect {
    Redirect::temporary("/docs/")
}

/// `/openapi.json` and the docs page. The page is titled after the service and asks no other
/// host for anything: its assets are in the binary and Swagger UI's online validator, which
/// would send the document elsewhere, is off.
pub fn docs_page(document: utoipa::openapi::OpenApi) -> Router<AppState> {
    let title = format!("<title>{}</title>", document.info.title);
    let json = serde_json::to_vec(&document).unwrap_or_default();
    let config = Arc::new(Config::new(["/openapi.json"]).validator_url("none"));
    let index = swagger_file("index.html", &config).map(|(bytes, content_type)| {
        let html = String::from_utf8_lossy(&bytes).replace("<title>Swagger UI</title>", &title);
        (html, content_type)
    });
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([(CONTENT_TYPE, "application/json")], json) }),
        )
        .route("/docs", get(|| async { Redirect::to("/docs/") }))
        .route(
            "/docs/",
            get(move || async move {
                match index {
                    Some((html, content_type)) => {
                        ([(CONTENT_TYPE, content_type)], html).into_response()
                    }
                    None => ApiError::NotFound.into_response(),
                }
            }),
        )
        .route(
            "/docs/{*file}",
            get(move |Path(file): Path<String>| async move {
                match swagger_file(&file, &config) {
                    Some((bytes, content_type)) => {
                        ([(CONTENT_TYPE, content_type)], bytes).into_response()
                    }
                    None => ApiError::NotFound.into_response(),
                }
            }),
        )
}

/// One file of the Swagger UI bundled in the binary, with its media type.
fn swagger_file(file: &str, config: &Arc<Config<'static>>) -> Option<(Vec<u8>, HeaderValue)> {
    let found = utoipa_swagger_ui::serve(file, Arc::clone(config))
        .ok()
        .flatten()?;
    let content_type = HeaderValue::from_str(&found.content_type).ok()?;
    Some((found.bytes.into_owned(), content_type))
}
