//! The one error type of the HTTP layer, answered with the bodies DRF clients parse; the real
//! cause of a 500 or 503 is logged here, once, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Validation failures by field, in the order they were found: `{"email": ["..."], ...}`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, Vec<String>)>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, messages: impl IntoIterator<Item = String>) {
        let messages: Vec<String> = messages.into_iter().collect();
        if messages.is_empty() {
            return;
        }
        match self.0.iter_mut().find(|(f, _)| f == field) {
            Some((_, existing)) => existing.extend(messages),
            None => self.0.push((field.to_owned(), messages)),
        }
    }

    /// Every message, field by field, for people (the console shows them).
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .flat_map(|(_, m)| m.iter().map(String::as_str))
    }

    /// Whether `field` has a message.
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(name, _)| name == field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `other`'s messages after this one's, field by field.
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.add(&field, messages);
        }
    }

    /// `Ok(())` when nothing failed, so handlers can finish validation with `?`.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self))
        }
    }

    fn to_json(&self) -> Value {
        let map: Map<String, Value> = self
            .0
            .iter()
            .map(|(f, msgs)| (f.clone(), json!(msgs)))
            .collect();
        Value::Object(map)
    }
}

/// Why a request could not be authenticated; each has DRF's exact message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    NotProvided,
    NoCredentials,
    ContainsSpaces,
    InvalidCharacters,
    InvalidToken,
    Inactive,
}

impl AuthFailure {
    pub fn message(self) -> &'static str {
        match self {
            Self::NotProvided => "Authentication credentials were not provided.",
            Self::NoCredentials => "Invalid token header. No credentials provided.",
            Self::ContainsSpaces => "Invalid token header. Token string should not contain spaces.",
            Self::InvalidCharacters => {
                "Invalid token header. Token string should not contain invalid characters."
            }
            Self::InvalidToken => "Invalid token.",
            Self::Inactive => "User inactive or deleted.",
        }
    }
}

/// Everything a handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(FieldErrors),
    /// The body could not be parsed; the string is the whole `detail`.
    #[error("malformed body: {0}")]
    Malformed(String),
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("not authenticated: {0:?}")]
    Unauthenticated(AuthFailure),
    #[error("permission denied")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// A 404 with its own detail (DRF's pagination says `Invalid page.`).
    #[error("not found: {0}")]
    NotFoundDetail(&'static str),
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    #[error("throttled for {retry_after_secs}s")]
    Throttled { retry_after_secs: u64 },
    #[error("service unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// The request ran past its deadline.
    #[error("request timed out")]
    TimedOut,
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 400 with one message under one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.add(field, [message.into()]);
        Self::Validation(errors)
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound | Self::NotFoundDetail(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> Value {
        let detail = |d: &str| json!({ "detail": d });
        match self {
            Self::Validation(errors) => errors.to_json(),
            Self::Malformed(d) => detail(d),
            Self::UnsupportedMediaType(t) => {
                detail(&format!("Unsupported media type \"{t}\" in request."))
            }
            Self::PayloadTooLarge => detail("Request body too large."),
            Self::Unauthenticated(f) => detail(f.message()),
            Self::Forbidden => detail("You do not have permission to perform this action."),
            Self::NotFound => detail("Not found."),
            Self::NotFoundDetail(d) => detail(d),
            Self::MethodNotAllowed(m) => detail(&format!("Method \"{m}\" not allowed.")),
            Self::Throttled { retry_after_secs } => detail(&throttled_detail(*retry_after_secs)),
            Self::Unavailable(_) | Self::TimedOut => detail("Service temporarily unavailable."),
            Self::Internal(_) => detail("A server error occurred."),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed")
            }
            Self::TimedOut => tracing::warn!("request timed out"),
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "service unavailable")
            }
            _ => {}
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        match self {
            Self::Unauthenticated(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
            }
            Self::Throttled { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

/// DRF's `Throttled` detail, which picks "second" or "seconds" with `ngettext`.
fn throttled_detail(wait: u64) -> String {
    let unit = if wait == 1 { "second" } else { "seconds" };
    format!("Request was throttled. Expected available in {wait} {unit}.")
}

/// A database constraint whose violation is the client's mistake, not ours.
struct KnownConstraint {
    /// The constraint's name, as PostgreSQL reports it.
    name: &'static str,
    /// `table.column`, as SQLite reports it ("UNIQUE constraint failed: users.email_key").
    columns: &'static str,
    field: &'static str,
    message: &'static str,
}

/// An address another account uses (registration's message, and the email change's).
pub const EMAIL_TAKEN: &str = "User with email already exists.";

const EMAIL_KEY_UNIQUE: KnownConstraint = KnownConstraint {
    name: "users_email_key_unique",
    columns: "users.email_key",
    field: "email",
    message: EMAIL_TAKEN,
};

const KNOWN_CONSTRAINTS: &[KnownConstraint] = &[EMAIL_KEY_UNIQUE];

impl KnownConstraint {
    fn violated_by(&self, db: &dyn sqlx::error::DatabaseError) -> bool {
        db.is_unique_violation()
            && (db.constraint() == Some(self.name) || db.message().ends_with(self.columns))
    }
}

/// Whether `err` is another account holding the address (one account per mailbox), for a
/// caller whose field is not `email`.
pub fn is_email_taken(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if EMAIL_KEY_UNIQUE.violated_by(db.as_ref()))
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &err {
            E::Database(db) if db.is_unique_violation() => {
                let known = KNOWN_CONSTRAINTS
                    .iter()
                    .find(|c| c.violated_by(db.as_ref()));
                match known {
                    Some(c) => ApiError::field(c.field, c.message),
                    None => ApiError::Internal(err.into()),
                }
            }
            E::Database(db) if is_unavailable(db.as_ref()) => ApiError::Unavailable(err.into()),
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                ApiError::Unavailable(err.into())
            }
            _ => ApiError::Internal(err.into()),
        }
    }
}

/// Whether a database error means "try again later" rather than "this request is wrong" (or
/// a bug of ours). Each engine has its own codes: SQLite's numbers can look like PostgreSQL's
/// (2835 is a SQLite constraint error, class 28 a PostgreSQL login failure).
fn is_unavailable(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else { return false };
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        is_unavailable_postgres(&code)
    } else {
        is_unavailable_sqlite(&code)
    }
}

/// PostgreSQL's codes for a database gone, unreachable, out of resources, shut down, without
/// our schema (3D000, 3F000, 42P01), read-only after a failover (25006), or a conflict that a
/// retry solves (40001, 40P01, 55P03).
fn is_unavailable_postgres(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "28" | "53" | "57" | "58"))
        || matches!(
            code,
            "3D000" | "3F000" | "42P01" | "25006" | "40001" | "40P01" | "55P03"
        )
}

/// SQLite's busy, locked, read-only, I/O, full-disk and cannot-open results (low byte).
fn is_unavailable_sqlite(code: &str) -> bool {
    match code.parse::<i32>() {
        Ok(extended) => matches!(extended & 0xff, 5 | 6 | 8 | 10 | 13 | 14),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{is_unavailable_postgres, is_unavailable_sqlite};

    #[test]
    fn postgres_codes_of_a_database_gone_or_busy_are_unavailable_and_mistakes_are_not() {
        for code in [
            "08006", "08001", "28P01", "53100", "53300", "57P01", "57P04", "57014", "58030",
            "3D000", "3F000", "42P01", "25006", "40001", "40P01", "55P03",
        ] {
            assert!(is_unavailable_postgres(code), "{code}");
        }
        for code in [
            "23505", "23503", "22001", "42601", "42703", "P0001", "XX000",
        ] {
            assert!(!is_unavailable_postgres(code), "{code}");
        }
    }

    #[test]
    fn sqlite_codes_are_read_as_sqlite_codes() {
        for code in ["5", "517", "6", "8", "1032", "10", "778", "13", "14"] {
            assert!(is_unavailable_sqlite(code), "{code}");
        }
        // 2835 (SQLITE_CONSTRAINT_PINNED) would be class 28 to PostgreSQL.
        for code in ["1", "19", "2067", "2835", "787", "08006"] {
            assert!(!is_unavailable_sqlite(code), "{code}");
        }
    }
}
