//! Keeps every process's [`AuthCache`] honest: what a write changed, announced to the other
//! processes by `NOTIFY`/`LISTEN` on PostgreSQL, otherwise (SQLite, or a database that refuses
//! `LISTEN`) through the `session_changes` table, polled once a second.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use axum::response::{IntoResponseParts, Response, ResponseParts};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::{mpsc, oneshot};

use super::{AuthCache, Clock};
use crate::db::Db;
use crate::state::AppState;

/// The PostgreSQL channel of session invalidations.
const CHANNEL: &str = "kitchen_api_sessions";

/// What a write changed in cached sessions, returned by its handler as a response part; a
/// write that says nothing invalidates every session, so a new endpoint is safe by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionChange {
    /// One user's sessions or profile (the usual case: the caller's own).
    User(i64),
    /// Anything, anyone's.
    All,
    /// Nothing a session carries (a mail queued, a code issued).
    Nothing,
}

impl SessionChange {
    /// The `NOTIFY` payload: `u:<id>`, or empty for everything (the schema is added after).
    fn payload(self) -> String {
        match self {
            Self::User(id) => format!("u:{id}"),
            Self::All | Self::Nothing => String::new(),
        }
    }

    /// The `session_changes.user_id` that records it (`NULL`: everyone), if any.
    fn recorded_user(self) -> Option<Option<i64>> {
        match self {
            Self::User(id) => Some(Some(id)),
            Self::All => Some(None),
            Self::Nothing => None,
        }
    }

    fn apply_to(self, cache: &AuthCache, now: DateTime<Utc>) {
        match self {
            Self::User(id) => cache.invalidate_user(id, now),
            Self::All => cache.invalidate_all(),
            Self::Nothing => {}
        }
    }

    /// Reads a payload heard in `schema`: `None` from another schema (another deployment on
    /// the database), else the user it names, or everything.
    fn from_payload(payload: &str, schema: &str) -> Option<Self> {
        let change = match payload.split_once('\n') {
            Some((change, from)) if from == schema => change,
            Some(_) => return None,
            None => "",
        };
        Some(
            change
                .strip_prefix("u:")
                .and_then(|id| id.parse().ok())
                .map_or(Self::All, Self::User),
        )
    }
}

impl IntoResponseParts for SessionChange {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Infallible> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// Whether a request of this method only reads (GET, HEAD, OPTIONS).
pub fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// What a successful write changed: the [`SessionChange`] its handler returned with the
/// answer, or everything when it named none; nothing when the request failed. It is announced
/// before the client gets the answer, so a logout on one process holds on every other.
pub fn change_made_by(response: &Response) -> SessionChange {
    // A redirect is the console's success (Post/Redirect/Get).
    if !(response.status().is_success() || response.status().is_redirection()) {
        return SessionChange::Nothing;
    }
    response
        .extensions()
        .get::<SessionChange>()
        .copied()
        .unwrap_or(SessionChange::All)
}

/// Invalidates `change` in this process's cache, then tells the other processes.
pub async fn announce_session_change(state: &AppState, change: SessionChange) {
    if !state.auth_cache.enabled() {
        return;
    }
    if change == SessionChange::Nothing {
        return;
    }
    change.apply_to(&state.auth_cache, state.clock.now());
    let told = match &state.change_recorder {
        Some(recorder) => recorder.record(change).await,
        None => tell_other_processes(&state.db, change)
            .await
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = told {
        tracing::warn!(error = %e, "could not announce a session change; other processes rely on the cache TTL");
    }
}

type Recorded = oneshot::Sender<Result<(), String>>;

/// Records session changes for the processes that poll, many per `INSERT` (a group commit).
#[derive(Clone)]
pub struct ChangeRecorder {
    queue: mpsc::Sender<(Option<i64>, Recorded)>,
}

impl ChangeRecorder {
    const BATCH: usize = 256;

    /// Starts the recorder's task on `db`.
    pub fn start(db: Db) -> Self {
        let (queue, mut pending) = mpsc::channel::<(Option<i64>, Recorded)>(4 * Self::BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(Self::BATCH);
            while pending.recv_many(&mut batch, Self::BATCH).await > 0 {
                let user_ids: Vec<Option<i64>> = batch.iter().map(|(id, _)| *id).collect();
                let result = crate::db::record_session_changes(&db, &user_ids, Utc::now())
                    .await
                    .map_err(|e| e.to_string());
                for (_, done) in batch.drain(..) {
                    done.send(result.clone()).ok();
                }
            }
        });
        Self { queue }
    }

    async fn record(&self, change: SessionChange) -> Result<(), String> {
        let Some(user_id) = change.recorded_user() else {
            return Ok(());
        };
        let (done, recorded) = oneshot::channel();
        self.queue
            .send((user_id, done))
            .await
            .map_err(|_| "the change recorder has stopped".to_owned())?;
        recorded
            .await
            .map_err(|_| "the change recorder has stopped".to_owned())?
    }
}

async fn notify_session_change(pool: &PgPool, change: SessionChange) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2 || chr(10) || coalesce(current_schema(), ''))")
        .bind(CHANNEL)
        .bind(change.payload())
        .execute(pool)
        .await
        .map(drop)
}

/// Tells every server on the database of a change made by the command line: by `NOTIFY`, or
/// by recording it where there is none.
pub async fn tell_other_processes(db: &Db, change: SessionChange) -> Result<(), sqlx::Error> {
    let Some(user_id) = change.recorded_user() else {
        return Ok(());
    };
    if let Db::Postgres(pool) = db {
        match notify_session_change(pool, change).await {
            Err(sqlx::Error::Database(e)) => {
                tracing::debug!(error = %e, "no NOTIFY here; recording the change instead");
            }
            notified => return notified,
        }
    }
    crate::db::record_session_changes(db, &[user_id], Utc::now()).await
}

/// How far back a poll also looks: on PostgreSQL a change can commit after a higher id.
const LOOK_BACK: Duration = Duration::from_secs(10);

/// Once a second, applies to this process's cache each change recorded since the last poll.
pub async fn follow_recorded_changes(db: Db, cache: AuthCache, clock: Arc<dyn Clock>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The cache starts empty: only what comes after start matters.
    let mut seen = loop {
        tick.tick().await;
        match crate::db::last_session_change(&db).await {
            Ok(id) => break id,
            Err(e) => tracing::debug!(error = %e, "cannot read recorded session changes yet"),
        }
    };
    let mut applied = std::collections::BTreeMap::new();
    let look_back = chrono::TimeDelta::from_std(LOOK_BACK).unwrap_or_default();
    loop {
        tick.tick().await;
        let now = Utc::now();
        match crate::db::session_changes_after(&db, seen, now - look_back).await {
            Ok(changes) => {
                for (id, user_id) in changes {
                    if id <= seen && applied.contains_key(&id) {
                        continue;
                    }
                    let change = user_id.map_or(SessionChange::All, SessionChange::User);
                    change.apply_to(&cache, clock.now());
                    applied.insert(id, now);
                    seen = seen.max(id);
                }
                applied.retain(|_, at| now - *at <= look_back * 2);
            }
            Err(e) if is_closed(&db) => return tracing::debug!(error = %e, "database closed"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read recorded session changes; the cache TTL bounds them")
            }
        }
    }
}

fn is_closed(db: &Db) -> bool {
    match db {
        Db::Sqlite(pools) => pools.read().is_closed(),
        Db::Postgres(pool) => pool.is_closed(),
    }
}

/// Why this database refuses `LISTEN`, if it does.
pub async fn listen_refused(pool: &PgPool) -> Option<String> {
    match listen(pool).await {
        Err(sqlx::Error::Database(e)) => Some(e.to_string()),
        _ => None,
    }
}

/// Applies every announcement to this process's cache, and drops it all on each reconnection
/// (announcements may have been missed). `ready` is told once the first attempt is over.
pub async fn listen_for_changes(
    pool: PgPool,
    cache: AuthCache,
    clock: Arc<dyn Clock>,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        let listening = listen(&pool).await;
        if listening.is_ok() {
            cache.invalidate_all();
        }
        if let Some(ready) = ready.take() {
            ready.send(()).ok();
        }
        match listening {
            Ok((mut listener, schema)) => loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        if let Some(change) = SessionChange::from_payload(n.payload(), &schema) {
                            change.apply_to(&cache, clock.now());
                        }
                    }
                    Ok(None) => cache.invalidate_all(),
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "session-change listener lost its connection");
                        break;
                    }
                }
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::debug!(error = %e, "cannot LISTEN for session changes yet"),
        }
        cache.invalidate_all();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen(pool: &PgPool) -> Result<(PgListener, String), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    let schema = sqlx::query_scalar("SELECT coalesce(current_schema(), '')")
        .fetch_one(&mut listener)
        .await?;
    listener.listen(CHANNEL).await?;
    Ok((listener, schema))
}

#[cfg(test)]
mod tests {
    use super::SessionChange;

    #[test]
    fn payloads_name_a_user_or_everything_in_this_schema_only() {
        let heard = |change: SessionChange, from: &str| {
            SessionChange::from_payload(&format!("{}\n{from}", change.payload()), "public")
        };
        for change in [SessionChange::User(42), SessionChange::User(-1)] {
            assert_eq!(heard(change, "public"), Some(change));
            assert_eq!(heard(change, "staging"), None);
        }
        assert_eq!(
            heard(SessionChange::All, "public"),
            Some(SessionChange::All)
        );
        for other in ["", "u:", "u:x", "u:1:2", "x:1", " u:1"] {
            let change = SessionChange::from_payload(&format!("{other}\npublic"), "public");
            assert_eq!(change, Some(SessionChange::All), "{other:?}");
        }
        assert_eq!(
            SessionChange::from_payload("", "public"),
            Some(SessionChange::All)
        );
    }
}
