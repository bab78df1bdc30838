//! The console's pages (users, a user, security events) and its actions on a user. Reads are
//! GETs; every action is a POST checked by [`Staff::check_form`] (origin and CSRF token), done
//! by the staff API's own functions ([`crate::staff`]), then a redirect back to the user's page
//! with a fixed message (the Post/Redirect/Get pattern: a reload repeats nothing).

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::render;
use super::session::Staff;
use super::sign_in::{CsrfForm, Nav, error_page, see_other};
use crate::audit::{Event, Kind};
use crate::auth::{ClientIp, SessionChange};
use crate::db::{self, EventRow, FlagChanges, UserRow};
use crate::error::ApiError;
use crate::state::AppState;

/// Users and events a page.
const PAGE_SIZE: i64 = 25;
/// Events on a user's page.
const LATEST_EVENTS: i64 = 20;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/users", get(users))
        .route("/console/users/{id}", get(user))
        .route("/console/users/{id}/active", post(set_active))
        .route("/console/users/{id}/role", post(set_role))
        .route("/console/users/{id}/sessions/revoke", post(revoke_all))
        .route(
            "/console/users/{id}/sessions/{session}/revoke",
            post(revoke_one),
        )
        .route("/console/users/{id}/verification", post(resend_code))
        .route(
            "/console/users/{id}/second-factors/remove",
            post(remove_factors),
        )
        .route("/console/events", get(events))
}

/// `GET /console`: the users page (or the sign-in page, through [`Staff`]).
pub(super) async fn home(_staff: Staff) -> Redirect {
    Redirect::to("/console/users")
}

fn nav(staff: &Staff) -> Option<Nav> {
    Some(Nav {
        email: staff.user.email.clone(),
        csrf: staff.csrf(),
    })
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A user as the pages show one: text only, escaped by the templates.
struct UserView {
    id: i64,
    email: String,
    name: String,
    phone: String,
    date_of_birth: String,
    bio: String,
    joined: String,
    verified: bool,
    active: bool,
    staff: bool,
    superuser: bool,
}

impl From<&UserRow> for UserView {
    fn from(u: &UserRow) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone().unwrap_or_default(),
            phone: u.phone_number.clone().unwrap_or_default(),
            date_of_birth: u.date_of_birth.map(|d| d.to_string()).unwrap_or_default(),
            bio: u.bio.clone().unwrap_or_default(),
            joined: when(u.date_joined),
            verified: u.email_verified,
            active: u.is_active,
            staff: u.is_staff,
            superuser: u.is_superuser,
        }
    }
}

struct EventView {
    at: String,
    kind: String,
    user_id: Option<i64>,
    actor_id: Option<i64>,
    ip: String,
    detail: String,
}

impl From<EventRow> for EventView {
    fn from(e: EventRow) -> Self {
        Self {
            at: when(e.at),
            kind: e.kind,
            user_id: e.user_id,
            actor_id: e.actor_id,
            ip: e.ip.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        }
    }
}

struct KindOption {
    name: &'static str,
    selected: bool,
}

struct SessionView {
    id: i64,
    device: String,
    created: String,
    last_used: String,
}

#[derive(askama::Template)]
#[template(path = "console/users.html")]
struct UsersPage<'a> {
    service: &'a str,
    nav: Option<Nav>,
    query: String,
    users: Vec<UserView>,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "console/user.html")]
struct UserPage<'a> {
    service: &'a str,
    nav: Option<Nav>,
    csrf: String,
    superuser: bool,
    user: UserView,
    factors: db::MfaSummary,
    sessions: Vec<SessionView>,
    events: Vec<EventView>,
    done: Option<&'static str>,
}

#[derive(askama::Template)]
#[template(path = "console/events.html")]
struct EventsPage<'a> {
    service: &'a str,
    nav: Option<Nav>,
    kinds: Vec<KindOption>,
    user: String,
    events: Vec<EventView>,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct UsersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<String>,
}

/// A 1-based page number; anything else is the first page.
fn page_number(raw: Option<&str>) -> i64 {
    raw.and_then(|p| p.trim().parse::<i64>().ok())
        .filter(|p| (1..=100_000).contains(p))
        .unwrap_or(1)
}

fn link(path: &str, params: &[(&str, &str)], page: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(key, value);
    }
    query.append_pair("page", &page.to_string());
    format!("{path}?{}", query.finish())
}

/// `GET /console/users?q=&page=`: users whose address or name starts with `q`, newest first.
async fn users(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Staff,
    Query(query): Query<UsersQuery>,
) -> Response {
    let page = page_number(query.page.as_deref());
    let term: String = query.q.trim().chars().take(254).collect();
    let prefix = crate::domain::search_key(&term);
    let offset = (page - 1) * PAGE_SIZE;
    let found = db::search_users(&state.db, &prefix, PAGE_SIZE + 1, offset).await;
    let mut rows = match found {
        Ok(rows) => rows,
        Err(e) => return error_page(&state, nav(&staff), e.into()),
    };
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let event = Event::new(Kind::StaffListedUsers)
        .by(staff.user.id)
        .ip(client);
    event.detail("console").record(&state).await;
    let params = [("q", term.as_str())];
    let view = UsersPage {
        service: &state.config.mail.service_name,
        nav: nav(&staff),
        query: term.clone(),
        users: rows.iter().map(UserView::from).collect(),
        previous: (page > 1).then(|| link("/console/users", &params, page - 1)),
        next: more.then(|| link("/console/users", &params, page + 1)),
    };
    render(StatusCode::OK, &view)
}

#[derive(Deserialize)]
pub(super) struct UserQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The fixed message of a finished action (never text from the request).
fn done_message(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "deactivated" => "Deactivated: the account can no longer sign in.",
        "reactivated" => "Reactivated.",
        "signed-out" => "Signed out of every session.",
        "session" => "Signed out of that session.",
        "code" => "A new verification code is on its way.",
        "factors" => "Second factors removed: the user signs in with the password alone.",
        "role" => "Role changed.",
        _ => return None,
    })
}

/// A path id as Django's `<int:pk>` takes it; anything else is no such user.
fn path_id(raw: &str) -> Option<i64> {
    (!raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw.parse().ok())
        .flatten()
}

/// `GET /console/users/{id}`: profile, verification, second factors, sessions, latest events.
async fn user(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Staff,
    Path(id): Path<String>,
    Query(query): Query<UserQuery>,
) -> Response {
    let Some(id) = path_id(&id) else {
        return error_page(&state, nav(&staff), ApiError::NotFound);
    };
    match user_page(
        &state,
        client,
        &staff,
        id,
        done_message(query.done.as_deref()),
    )
    .await
    {
        Ok(page) => page,
        Err(e) => error_page(&state, nav(&staff), e),
    }
}

async fn user_page(
    state: &AppState,
    client: std::net::IpAddr,
    staff: &Staff,
    id: i64,
    done: Option<&'static str>,
) -> Result<Response, ApiError> {
    let user = db::find_user_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let factors = db::mfa_summary(&state.db, id).await?;
    let sessions = db::list_tokens_of_user(&state.db, id).await?;
    let events = db::find_events(&state.db, Some(id), None, LATEST_EVENTS, 0).await?;
    let event = Event::new(Kind::StaffViewedUser).user(id).by(staff.user.id);
    event.ip(client).detail("console").record(state).await;
    let sessions = sessions
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            device: s.user_agent.unwrap_or_else(|| "Unknown device".to_owned()),
            created: when(s.created_at),
            last_used: s
                .last_used_at
                .map(when)
                .unwrap_or_else(|| "never".to_owned()),
        })
        .collect();
    let page = UserPage {
        service: &state.config.mail.service_name,
        nav: nav(staff),
        csrf: staff.csrf(),
        superuser: staff.user.is_superuser,
        user: UserView::from(&user),
        factors,
        sessions,
        events: events.into_iter().map(EventView::from).collect(),
        done,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Runs a checked action on user `id`, then back to their page with `done`; a refusal is a
/// page saying why, with its status.
async fn act<F, Fut>(
    state: &AppState,
    staff: &Staff,
    headers: &HeaderMap,
    csrf: &str,
    id: &str,
    action: F,
) -> (SessionChange, Response)
where
    F: FnOnce(i64) -> Fut,
    Fut: std::future::Future<Output = Result<(&'static str, SessionChange), ApiError>>,
{
    let refused = |e| (SessionChange::Nothing, error_page(state, nav(staff), e));
    if let Err(e) = staff.check_form(state, headers, csrf) {
        return refused(e);
    }
    let Some(id) = path_id(id) else {
        return refused(ApiError::NotFound);
    };
    match action(id).await {
        Ok((done, change)) => {
            let to = format!("/console/users/{id}?done={done}");
            (change, see_other(&to, &[]))
        }
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
pub(super) struct ActiveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    active: String,
}

/// `POST /console/users/{id}/active`: deactivate (`active=false`) or reactivate.
async fn set_active(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Staff,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> (SessionChange, Response) {
    let active = form.active == "true";
    let (st, actor) = (&state, &staff.user);
    act(&state, &staff, &headers, &form.csrf, &id, |id| async move {
        let changes = FlagChanges {
            is_active: Some(active),
            ..FlagChanges::default()
        };
        crate::staff::set_flags(st, actor, client, id, changes).await?;
        let done = if active { "reactivated" } else { "deactivated" };
        Ok((done, SessionChange::User(id)))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flag: String,
    #[serde(default)]
    value: String,
}

/// `POST /console/users/{id}/role`: grant or remove `is_staff` or `is_superuser` (superusers
/// only; the staff API's rules).
async fn set_role(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Staff,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> (SessionChange, Response) {
    let value = Some(form.value == "true");
    let changes = match form.flag.as_str() {
        "is_staff" => Some(FlagChanges {
            is_staff: value,
            ..FlagChanges::default()
        }),
        "is_superuser" => Some(FlagChanges {
            is_superuser: value,
            ..FlagChanges::default()
        }),
        _ => None,
    };
    let (st, actor) = (&state, &staff.user);
    act(&state, &staff, &headers, &form.csrf, &id, |id| async move {
        let changes = changes.ok_or_else(|| ApiError::field("flag", "Unknown role."))?;
        crate::staff::set_flags(st, actor, client, id, changes).await?;
        Ok(("role", SessionChange::User(id)))
    })
    .await
}

/// `POST /console/users/{id}/sessions/revoke`: sign the user out of every session.
async fn revoke_all(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Staff,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> (SessionChange, Response) {
    let (st, actor) = (&state, &staff.user);
    act(&state, &staff, &headers, &form.csrf, &id, |id| async move {
        crate::staff::revoke_sessions(st, actor, client, id).await?;
        Ok(("signed-out", SessionChange::User(id)))
    })
    .await
}

/// `POST /console/users/{id}/sessions/{session}/revoke`: sign the user out of one session.
async fn revoke_one(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Staff,
    headers: HeaderMap,
    Path((id, session)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> (SessionChange, Response) {
    let session = path_id(&session);
    let (st, actor) = (&state, &staff.user);
    act(&state, &staff, &headers, &form.csrf, &id, |id| async move {
        let session = session.ok_or(ApiError::NotFound)?;
        crate::staff::revoke_session(st, actor, client, id, session).await?;
        Ok(("session", SessionChange::User(id)))
    })
    .await
}

/// `POST /console/users/{id}/verification`: mail a new verification code.
async fn resend_code(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Staff,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> (SessionChange, Response) {
    let (st, actor) = (&state, &staff.user);
    act(&state, &staff, &headers, &form.csrf, &id, |id| async move {
        crate::staff::resend_verification(st, actor, client, id).await?;
        Ok(("code", SessionChange::Nothing))
    })
    .await
}

/// `POST /console/users/{id}/second-factors/remove`: remove TOTP, recovery codes, passkeys.
async fn remove_factors(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    staff: Staff,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> (SessionChange, Response) {
    let (st, actor) = (&state, &staff.user);
    act(&state, &staff, &headers, &form.csrf, &id, |id| async move {
        crate::staff::remove_second_factors(st, actor, client, id).await?;
        Ok(("factors", SessionChange::Nothing))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    page: Option<String>,
}

/// `GET /console/events?kind=&user=&page=`: the security event log, newest first.
async fn events(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<EventsQuery>,
) -> Response {
    let page = page_number(query.page.as_deref());
    let kind = Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .find(|k| *k == query.kind.trim());
    let user = path_id(query.user.trim());
    let offset = (page - 1) * PAGE_SIZE;
    let found = db::find_events(&state.db, user, kind, PAGE_SIZE + 1, offset).await;
    let mut rows = match found {
        Ok(rows) => rows,
        Err(e) => return error_page(&state, nav(&staff), e.into()),
    };
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let user_text = user.map(|u| u.to_string()).unwrap_or_default();
    let kind_text = kind.unwrap_or_default().to_owned();
    let params = [("kind", kind_text.as_str()), ("user", user_text.as_str())];
    let view = EventsPage {
        service: &state.config.mail.service_name,
        nav: nav(&staff),
        kinds: Kind::ALL
            .iter()
            .map(|k| KindOption {
                name: k.as_str(),
                selected: Some(k.as_str()) == kind,
            })
            .collect(),
        user: user_text.clone(),
        events: rows.into_iter().map(EventView::from).collect(),
        previous: (page > 1).then(|| link("/console/events", &params, page - 1)),
        next: more.then(|| link("/console/events", &params, page + 1)),
    };
    render(StatusCode::OK, &view)
}
