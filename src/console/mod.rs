//! The staff console: what Django's admin site was to the original service, inside the same
//! binary. Server-rendered HTML from `templates/console/` (askama, every value escaped), plain
//! forms that work without JavaScript, one stylesheet served from the binary. Staff and
//! superusers only, with their own session cookie ([`session`]); every state-changing request
//! is a POST with a CSRF token and an `Origin` check; a strict Content-Security-Policy on every
//! answer. The actions keep the staff API's rules, in the same functions ([`crate::staff`]).

mod pages;
pub mod session;
mod sign_in;

use askama::Template;
use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_FRAME_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;

/// No inline script or style, nothing from elsewhere, never in a frame.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../../static/console/console.css");
const PASSKEY_SCRIPT: &str = include_str!("../../static/console/passkey.js");

/// The console's routes, or none when `KITCHEN_API_CONSOLE=false` (then every path is the
/// API's 404).
pub fn router(state: &AppState) -> Router<AppState> {
    if !state.config.console {
        return Router::new();
    }
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/static/console.css", get(stylesheet))
        .route("/console/static/passkey.js", get(passkey_script))
        .route(
            "/console/sign-in",
            get(sign_in::form).post(sign_in::password),
        )
        .route(
            "/console/sign-in/code",
            get(sign_in::code_form).post(sign_in::code),
        )
        .route("/console/sign-in/passkey", post(sign_in::passkey))
        .route("/console/sign-out", post(sign_in::sign_out))
        .merge(pages::routes())
        .layer(axum::middleware::map_response(harden))
}

/// The console's headers on every answer, errors and redirects included.
async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        STYLESHEET,
    )
        .into_response()
}

async fn passkey_script() -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        PASSKEY_SCRIPT,
    )
        .into_response()
}

/// A rendered page, or a 500 that says nothing more (the cause goes to the log).
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
