//! The console's own session: a random token in an `HttpOnly`, `SameSite=Strict` cookie
//! (`__Host-` prefixed and `Secure` unless the service's public URL is plain http on loopback),
//! stored as its SHA-256 digest in `console_sessions`, with idle and absolute timeouts. Every
//! request reads the session and its user again: a staff member demoted or deactivated a moment
//! ago is out at once. The CSRF token of a session's forms is derived from its token, so nothing
//! more is stored, and a page never shows the session token itself.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use chrono::TimeDelta;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::{Device, PlainToken};
use crate::db::{self, UserRow};
use crate::error::ApiError;
use crate::state::AppState;

/// A session's last use is written at most this often.
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(60);

/// The names and attributes of the console's cookies for this service.
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    /// `Secure` (and `__Host-`) unless the public URL is plain http on a loopback host.
    pub fn of(state: &AppState) -> Self {
        let url = state.public_url.to_string();
        let loopback_http = url::Url::parse(&url).is_ok_and(|u| {
            u.scheme() == "http"
                && match u.host() {
                    Some(url::Host::Domain(d)) => d == "localhost",
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                }
        });
        Self {
            secure: !loopback_http,
        }
    }

    fn name(self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    pub fn session_name(self) -> String {
        self.name("kitchen-console")
    }

    pub fn challenge_name(self) -> String {
        self.name("kitchen-console-mfa")
    }

    pub fn sign_in_csrf_name(self) -> String {
        self.name("kitchen-console-csrf")
    }

    /// A `Set-Cookie` value; `max_age` `None` makes it a browser-session cookie, `Some(0)`
    /// deletes it.
    pub fn set(self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
        if self.secure {
            cookie.push_str("; Secure");
        }
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The value of cookie `name` in the request, if sent once.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned());
    let first = found.next();
    // Two cookies of one name: someone planted one (a sibling domain can); trust neither.
    if found.next().is_some() {
        return None;
    }
    first.filter(|v| !v.is_empty() && v.len() <= 128)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The CSRF token of the forms of the session (or sign-in page) whose cookie holds `token`.
pub fn csrf_token(token: &str) -> String {
    let mac = Sha256::new()
        .chain_update(b"rayvers-kitchen/console-csrf/v1\0")
        .chain_update(token.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
}

/// Whether a form's `csrf` field is the one `token`'s pages carry, in constant time.
pub fn csrf_matches(token: &str, sent: &str) -> bool {
    csrf_token(token).as_bytes().ct_eq(sent.as_bytes()).into()
}

/// Whether a state-changing request comes from a page of this service: its `Origin` names the
/// public URL's origin or the `Host` it was sent to. A missing or `null` origin is refused
/// (every browser this console supports sends one with a form's POST).
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    let ours = url::Url::parse(&state.public_url.to_string()).ok();
    if ours.is_some_and(|u| u.origin() == origin.origin()) {
        return true;
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok());
    match (origin.host_str(), host) {
        (Some(name), Some(host)) => {
            let authority = match origin.port() {
                Some(port) => format!("{name}:{port}"),
                None => name.to_owned(),
            };
            authority.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

/// A signed-in staff member (or superuser), from the session cookie; anything else is sent to
/// the sign-in page.
pub struct Staff {
    pub user: UserRow,
    /// The session's token, to derive the CSRF token of its forms and to sign out.
    token: String,
}

impl Staff {
    pub fn csrf(&self) -> String {
        csrf_token(&self.token)
    }

    /// A state-changing request's checks: its origin, then the form's CSRF token.
    pub fn check_form(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        sent: &str,
    ) -> Result<(), ApiError> {
        if same_origin(state, headers) && csrf_matches(&self.token, sent) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    pub async fn sign_out(&self, state: &AppState) -> Result<(), ApiError> {
        db::delete_console_session(&state.db, &digest(&self.token)).await?;
        Ok(())
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/console/sign-in").into_response();
        let cookies = Cookies::of(state);
        let Some(token) = cookie(&parts.headers, &cookies.session_name()) else {
            return Err(to_sign_in());
        };
        let key = digest(&token);
        let now = state.clock.now();
        let found = db::find_console_session(&state.db, &key)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        let Some(session) = found else {
            return Err(to_sign_in());
        };
        let config = &state.config;
        let idle = minutes(config.console_idle_minutes);
        let most = minutes(config.console_session_hours.saturating_mul(60));
        if now - session.last_seen_at > idle || now - session.created_at > most {
            db::delete_console_session(&state.db, &key)
                .await
                .map_err(|e| ApiError::from(e).into_response())?;
            return Err(to_sign_in());
        }
        let user = db::find_user_by_id(&state.db, session.user_id)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        let Some(user) = user.filter(|u| u.is_active && (u.is_staff || u.is_superuser)) else {
            return Err(to_sign_in());
        };
        if now - session.last_seen_at > TOUCH_EVERY {
            db::touch_console_session(&state.db, &key, now)
                .await
                .map_err(|e| ApiError::from(e).into_response())?;
        }
        Ok(Staff { user, token })
    }
}

fn minutes(n: u64) -> TimeDelta {
    TimeDelta::try_minutes(i64::try_from(n).unwrap_or(i64::MAX)).unwrap_or(TimeDelta::MAX)
}

/// Opens a session for `user_id` signed in from `device`; the `Set-Cookie` to answer.
pub async fn open(
    state: &AppState,
    user_id: i64,
    device: &Device,
) -> Result<HeaderValue, ApiError> {
    let token = PlainToken::generate();
    let now = state.clock.now();
    let agent = device.user_agent.as_deref();
    db::insert_console_session(&state.db, &digest(token.expose()), user_id, now, agent).await?;
    let cookies = Cookies::of(state);
    Ok(cookies.set(&cookies.session_name(), token.expose(), None))
}
