//! `/healthz`, `/readyz` and `/metrics`, for load balancers, orchestrators and Prometheus. None
//! takes a user token, touches the login throttle, or may be cached.

use axum::Json;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::schemas::Detail;
use crate::error::{ApiError, AuthFailure};
use crate::metrics;
use crate::state::AppState;

/// The Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Why the service is not ready. Names the failed check, never its cause (that goes to the log).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotReady {
    #[schema(example = "Service temporarily unavailable.")]
    pub detail: &'static str,
    /// `database` (it does not answer), `migrations` (some are not applied yet) or `storage`
    /// (writes fail: a full disk, a read-only file).
    #[schema(example = "database")]
    pub failed_check: &'static str,
}

/// Liveness: the process is up and serving HTTP. Never looks at the database, so a database
/// outage does not get healthy processes restarted.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Status))
)]
pub async fn healthz() -> Response {
    no_store(Json(Status { status: "ok" }).into_response())
}

/// Readiness: the database answers a trivial query, every migration of this binary is
/// applied, and writes work (on SQLite, from the first write that fails for want of storage
/// until one succeeds again; this check itself tries one). Until then a load balancer should
/// send no traffic here.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Status),
        (status = 503, description = "Not ready; `failed_check` says which check failed", body = NotReady),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let failed_check = match state.db.ping().await {
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            Some("database")
        }
        Ok(()) => match state.db.migrations_applied().await {
            Ok(true) if !state.db.writes_work().await => {
                tracing::warn!("not ready: writes to the database fail");
                Some("storage")
            }
            Ok(true) => None,
            Ok(false) => {
                tracing::warn!("not ready: database migrations are pending");
                Some("migrations")
            }
            Err(e) => {
                tracing::warn!(error = %e, "not ready: cannot read the applied migrations");
                Some("migrations")
            }
        },
    };
    let response = match failed_check {
        None => Json(Status { status: "ready" }).into_response(),
        Some(failed_check) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(NotReady {
                detail: "Service temporarily unavailable.",
                failed_check,
            }),
        )
            .into_response(),
    };
    no_store(response)
}

/// Prometheus metrics, in the text exposition format (`text/plain; version=0.0.4`): requests
/// and latency by route template and status, logins, throttled requests, the password-hashing
/// queue and the database pool. Needs `Authorization: Bearer <KITCHEN_API_METRICS_TOKEN>` when
/// that setting is set; public otherwise.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "`KITCHEN_API_METRICS_TOKEN` is set and the request does not carry it", body = Detail),
    )
)]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim());
        let failure = match presented {
            None => Some(AuthFailure::NotProvided),
            Some(key) if !token.matches(key) => Some(AuthFailure::InvalidToken),
            Some(_) => None,
        };
        if let Some(failure) = failure {
            return ApiError::Unauthenticated(failure).into_response();
        }
    }
    let (open, idle) = state.db.pool_usage();
    ::metrics::gauge!(metrics::DB_POOL_SIZE).set(f64::from(open));
    ::metrics::gauge!(metrics::DB_POOL_IDLE).set(idle as f64);
    ::metrics::gauge!(metrics::DB_POOL_MAX).set(f64::from(state.config.db_max_connections));
    if let Some(writers) = state.db.writer_connections() {
        ::metrics::gauge!(metrics::DB_WRITER_CONNECTIONS).set(f64::from(writers));
    }
    ::metrics::gauge!(metrics::HASHING_WAITING).set(state.hashing.waiting() as f64);
    ::metrics::gauge!(metrics::HASHING_RUNNING).set(state.hashing.running() as f64);
    ::metrics::gauge!(metrics::PICTURES_WAITING).set(state.pictures.waiting() as f64);
    ::metrics::gauge!(metrics::PICTURES_RUNNING).set(state.pictures.running() as f64);
    let body = metrics::handle().render();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
