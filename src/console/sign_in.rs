//! Signing in to the console: the password (the API's login, its throttle and security events,
//! for staff and superusers only: anyone else gets the wrong password's answer), then the second
//! factor where TOTP is on, or a passkey instead of both; signing out. The sign-in form's CSRF
//! token comes from a cookie of its own (there is no session yet); the code step's from the
//! cookie that holds the login's challenge.

use axum::extract::{Form, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use webauthn_rs::prelude::PublicKeyCredential;

use super::render;
use super::session::{self, Cookies, Staff, cookie, csrf_matches, csrf_token, same_origin};
use crate::audit::{Event, Kind};
use crate::auth::{self, Audience, Device, PlainToken, SessionChange};
use crate::domain::Password;
use crate::error::ApiError;
use crate::state::AppState;

/// The one answer to every refused sign-in, as the API's login has one.
const REFUSED: &str = "Unable to sign in with these credentials.";
const CODE_REFUSED: &str = "That code is not valid. Try the current one from your app.";
/// The code step lives as long as the login's challenge.
const CHALLENGE_SECS: i64 = 300;

pub(super) struct Nav {
    pub email: String,
    pub csrf: String,
}

#[derive(askama::Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    service: &'a str,
    nav: Option<Nav>,
    csrf: String,
    email: &'a str,
    message: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "console/code.html")]
struct CodePage<'a> {
    service: &'a str,
    nav: Option<Nav>,
    csrf: String,
    message: Option<&'a str>,
}

#[derive(askama::Template)]
#[template(path = "console/error.html")]
pub(super) struct ErrorPage<'a> {
    pub service: &'a str,
    pub nav: Option<Nav>,
    pub heading: &'a str,
    pub message: String,
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub(super) struct PasskeyForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

fn service(state: &AppState) -> &str {
    &state.config.mail.service_name
}

/// A `303 See Other` to `to`, setting `cookies`. It changes no API session unless the caller
/// says otherwise (`(SessionChange::User(id), see_other(…))`).
pub(super) fn see_other(to: &str, cookies: &[HeaderValue]) -> Response {
    let mut response = (SessionChange::Nothing, StatusCode::SEE_OTHER).into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/console")),
    );
    for cookie in cookies {
        headers.append(SET_COOKIE, cookie.clone());
    }
    response
}

/// A console page for an error the API would answer with JSON: the same status (and
/// `Retry-After`), a sentence for people.
pub(super) fn error_page(state: &AppState, nav: Option<Nav>, error: ApiError) -> Response {
    let (heading, message) = match &error {
        ApiError::Forbidden => (
            "Not allowed",
            "This action is not yours to take (or the form was stale: reload the page and try again).".to_owned(),
        ),
        ApiError::NotFound => ("Not found", "There is no such page or user.".to_owned()),
        ApiError::Throttled { retry_after_secs } => (
            "Too many attempts",
            format!("Too many attempts. Try again in {retry_after_secs} seconds."),
        ),
        ApiError::Validation(errors) => {
            let said: Vec<&str> = errors.messages().collect();
            ("Not done", said.join(" "))
        }
        _ => (
            "Something went wrong",
            "The service could not do this just now. Try again in a moment.".to_owned(),
        ),
    };
    let template = error.into_response();
    let page = ErrorPage {
        service: service(state),
        nav,
        heading,
        message,
    };
    let mut response = render(template.status(), &page);
    if let Some(wait) = template.headers().get(axum::http::header::RETRY_AFTER) {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, wait.clone());
    }
    response
}

fn forbidden(state: &AppState) -> Response {
    error_page(state, None, ApiError::Forbidden)
}

/// `GET /console/sign-in`: the form, with a fresh CSRF cookie.
pub(super) async fn form(State(state): State<AppState>) -> Response {
    sign_in_page(&state, StatusCode::OK, "", None)
}

fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    email: &str,
    message: Option<String>,
) -> Response {
    let cookies = Cookies::of(state);
    let token = PlainToken::generate();
    let page = SignInPage {
        service: service(state),
        nav: None,
        csrf: csrf_token(token.expose()),
        email,
        message,
    };
    let mut response = render(status, &page);
    let set = cookies.set(&cookies.sign_in_csrf_name(), token.expose(), Some(3600));
    response.headers_mut().append(SET_COOKIE, set);
    response
}

/// The sign-in form's own checks: same origin, and the CSRF token of its cookie.
fn sign_in_form_checked(state: &AppState, headers: &HeaderMap, sent: &str) -> bool {
    let name = Cookies::of(state).sign_in_csrf_name();
    same_origin(state, headers)
        && cookie(headers, &name).is_some_and(|token| csrf_matches(&token, sent))
}

/// `POST /console/sign-in`: the password; then the code step, or the session.
pub(super) async fn password(
    State(state): State<AppState>,
    device: Device,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !sign_in_form_checked(&state, &headers, &form.csrf) {
        return forbidden(&state);
    }
    let password = Password::new(form.password);
    let verified =
        auth::verify_login(&state, &form.email, password, device.ip, Audience::Console).await;
    let verified = match verified {
        Ok(verified) => verified,
        Err(ApiError::Validation(_)) => {
            let message = Some(REFUSED.to_owned());
            return sign_in_page(&state, StatusCode::BAD_REQUEST, &form.email, message);
        }
        Err(e) => return error_page(&state, None, e),
    };
    if verified.totp {
        let agent = device.user_agent.as_deref();
        let challenge = auth::mfa::start_challenge(&state, verified.account.id, agent).await;
        return match challenge {
            Ok(token) => {
                let cookies = Cookies::of(&state);
                let name = cookies.challenge_name();
                let set = cookies.set(&name, token.expose(), Some(CHALLENGE_SECS));
                see_other("/console/sign-in/code", &[set])
            }
            Err(e) => error_page(&state, None, e),
        };
    }
    signed_in(&state, verified.account.id, &device, "console").await
}

/// Opens the session of a finished sign-in, records it and goes to the console.
async fn signed_in(state: &AppState, user_id: i64, device: &Device, how: &str) -> Response {
    let set = match session::open(state, user_id, device).await {
        Ok(set) => set,
        Err(e) => return error_page(state, None, e),
    };
    let event = Event::new(Kind::LoginSucceeded).user(user_id).ip(device.ip);
    event.detail(how).record(state).await;
    let cookies = Cookies::of(state);
    let clear_challenge = cookies.set(&cookies.challenge_name(), "", Some(0));
    let clear_csrf = cookies.set(&cookies.sign_in_csrf_name(), "", Some(0));
    see_other("/console/users", &[set, clear_challenge, clear_csrf])
}

/// `GET /console/sign-in/code`: the code form, while a challenge is pending.
pub(super) async fn code_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let name = Cookies::of(&state).challenge_name();
    let Some(challenge) = cookie(&headers, &name) else {
        return see_other("/console/sign-in", &[]);
    };
    code_page(&state, StatusCode::OK, &challenge, None)
}

fn code_page(
    state: &AppState,
    status: StatusCode,
    challenge: &str,
    message: Option<&str>,
) -> Response {
    let page = CodePage {
        service: service(state),
        nav: None,
        csrf: csrf_token(challenge),
        message,
    };
    render(status, &page)
}

/// `POST /console/sign-in/code`: the second factor, then the session.
pub(super) async fn code(
    State(state): State<AppState>,
    device: Device,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let name = Cookies::of(&state).challenge_name();
    let Some(challenge) = cookie(&headers, &name) else {
        return see_other("/console/sign-in", &[]);
    };
    if !same_origin(&state, &headers) || !csrf_matches(&challenge, &form.csrf) {
        return forbidden(&state);
    }
    match auth::mfa::pass_challenge(&state, &challenge, &form.code, &device).await {
        Ok((account, method)) => {
            let how = format!("console {}", method.as_str());
            signed_in(&state, account.id, &device, &how).await
        }
        Err(ApiError::Validation(errors)) if errors.has("code") => code_page(
            &state,
            StatusCode::BAD_REQUEST,
            &challenge,
            Some(CODE_REFUSED),
        ),
        // An unknown, used, expired or exhausted challenge: start again.
        Err(ApiError::Validation(_)) => {
            let message = Some("That sign-in expired. Sign in again.".to_owned());
            sign_in_page(&state, StatusCode::BAD_REQUEST, "", message)
        }
        Err(e) => error_page(&state, None, e),
    }
}

/// `POST /console/sign-in/passkey`: a passkey instead of the password and the code (the
/// script of the sign-in page fills the form from `navigator.credentials.get()`).
pub(super) async fn passkey(
    State(state): State<AppState>,
    device: Device,
    headers: HeaderMap,
    Form(form): Form<PasskeyForm>,
) -> Response {
    if !sign_in_form_checked(&state, &headers, &form.csrf) {
        return forbidden(&state);
    }
    let Ok(credential) = serde_json::from_str::<PublicKeyCredential>(&form.credential) else {
        let message = Some(REFUSED.to_owned());
        return sign_in_page(&state, StatusCode::BAD_REQUEST, "", message);
    };
    let proved = auth::passkeys::pass_passkey(&state, &form.ticket, &credential, device.ip).await;
    match proved {
        Ok(proved) if proved.is_staff => {
            signed_in(&state, proved.account.id, &device, "console passkey").await
        }
        Ok(_) | Err(ApiError::Validation(_)) => {
            let message = Some(REFUSED.to_owned());
            sign_in_page(&state, StatusCode::BAD_REQUEST, "", message)
        }
        Err(e) => error_page(&state, None, e),
    }
}

/// `POST /console/sign-out`.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<(SessionChange, Response), Response> {
    staff
        .check_form(&state, &headers, &form.csrf)
        .map_err(|e| error_page(&state, None, e))?;
    staff
        .sign_out(&state)
        .await
        .map_err(|e| error_page(&state, None, e))?;
    let cookies = Cookies::of(&state);
    let clear = cookies.set(&cookies.session_name(), "", Some(0));
    Ok((
        SessionChange::Nothing,
        see_other("/console/sign-in", &[clear]),
    ))
}
