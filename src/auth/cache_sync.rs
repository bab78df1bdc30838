//! Keeps every process's [`AuthCache`] honest: what each successful write changed and its
//! announcement (which `envelope` makes after every write) to the other processes on the
//! database: by `NOTIFY`/`LISTEN` on PostgreSQL, otherwise (SQLite, or a database that refuses
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

/// What a successful write changed, as far as cached sessions go. A handler that knows says
/// so by returning it with its answer (it is a response part); a write that says nothing
/// invalidates every session, so a new endpoint is safe before it is precise.
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
    /// The `NOTIFY` payload: `u:<id>`, or empty for everything; then a newline and the schema,
    /// added by the `NOTIFY` itself (see [`notify_session_change`]).
    fn payload(self) -> String {
        match self {
            Self::User(id) => format!("u:{id}"),
            Self::All | Self::Nothing => String::new(),
        }
    }

    /// The `session_changes.user_id` that records it (`NULL`: everyone), or `None` when there
    /// is nothing to record.
    fn recorded_user(self) -> Option<Option<i64>> {
        match self {
            Self::User(id) => Some(Some(id)),
            Self::All => Some(None),
            Self::Nothing => None,
        }
    }

    /// Drops from `cache` what this change names.
    fn apply_to(self, cache: &AuthCache, now: DateTime<Utc>) {
        match self {
            Self::User(id) => cache.invalidate_user(id, now),
            Self::All => cache.invalidate_all(),
            Self::Nothing => {}
        }
    }

    /// Reads a payload heard in `schema`: `None` when it was announced in another schema of
    /// the same database (another deployment: channels are per database); otherwise the user
    /// it names, or everything for anything else (an older process's empty payload too).
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

/// Whether a request may change what a cached session says: anything that is not a read,
/// except the two requests that can only create (a user, a token).
pub fn may_change_sessions(method: &Method, path: &str) -> bool {
    let only_creates = *method == Method::POST && matches!(path, "/users" | "/token");
    !is_read(method) && !only_creates
}

/// Whether a request of this method only reads (GET, HEAD, OPTIONS).
pub fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// What a successful request that [`may_change_sessions`] changed: the [`SessionChange`] its
/// handler returned with the answer, or everything when it named none; nothing when the
/// request failed. The caller announces it ([`announce_session_change`]) before the client
/// gets the answer, so a client that logged out on one process is refused on the next request
/// wherever it lands.
pub fn change_made_by(response: &Response) -> SessionChange {
    if !response.status().is_success() {
        return SessionChange::Nothing;
    }
    response
        .extensions()
        .get::<SessionChange>()
        .copied()
        .unwrap_or(SessionChange::All)
}

/// Invalidates what `change` names in this process's session cache, then tells every other
/// process on the database ([`tell_other_processes`]).
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

/// What a request waits on: its change recorded, or why not.
type Recorded = oneshot::Sender<Result<(), String>>;

/// Records the server's session changes for the processes that poll, many requests' changes
/// per `INSERT` (a group commit): a request still waits for its change to be recorded, but
/// concurrent writes share one transaction.
#[derive(Clone)]
pub struct ChangeRecorder {
    queue: mpsc::Sender<(Option<i64>, Recorded)>,
}

impl ChangeRecorder {
    /// Most changes in one `INSERT`.
    const BATCH: usize = 256;

    /// Starts the recorder's task on `db`.
    pub fn start(db: Db) -> Self {
        let (queue, mut pending) = mpsc::channel::<(Option<i64>, Recorded)>(4 * Self::BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(Self::BATCH);
            // Whatever queued up while the last INSERT ran goes into the next one.
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

/// Tells every process on this PostgreSQL database (the command line's changes too).
async fn notify_session_change(pool: &PgPool, change: SessionChange) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2 || chr(10) || coalesce(current_schema(), ''))")
        .bind(CHANNEL)
        .bind(change.payload())
        .execute(pool)
        .await
        .map(drop)
}

/// Tells every server process on the database of a change, for the command line: on
/// PostgreSQL with `NOTIFY` ([`listen_for_changes`]), else, or where the database has no
/// `NOTIFY`, by recording it ([`follow_recorded_changes`]).
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

/// How far back a poll looks besides the ids after the last it saw: on PostgreSQL a change
/// can commit after one with a higher id.
const LOOK_BACK: Duration = Duration::from_secs(10);

/// Runs for the life of the process where changes are polled: once a second, applies to this
/// process's cache the changes recorded since the last poll, each once.
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

/// Why this database refuses `LISTEN` (a PostgreSQL-compatible one without it), if it does.
pub async fn listen_refused(pool: &PgPool) -> Option<String> {
    match listen(pool).await {
        Err(sqlx::Error::Database(e)) => Some(e.to_string()),
        _ => None,
    }
}

/// Runs for the life of the process on PostgreSQL: every announcement, and every reconnection
/// (announcements may have been missed meanwhile), invalidates this process's cache. `ready`
/// is told once the first attempt to listen is over, so the server can wait for it before it
/// serves (a session cached before the first `LISTEN` would be dropped by it a moment later).
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
            Ok((mut listener, schema)) => {
                loop {
                    match listener.try_recv().await {
                        // `None`: the connection dropped and comes back on the next call;
                        // what was announced meanwhile is lost.
                        Ok(Some(n)) => {
                            if let Some(change) = SessionChange::from_payload(n.payload(), &schema)
                            {
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
                }
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::debug!(error = %e, "cannot LISTEN for session changes yet"),
        }
        cache.invalidate_all();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A listener on the channel, and the schema its announcements must come from.
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
        // An older process's empty payload, without a schema: everything, to be safe.
        assert_eq!(
            SessionChange::from_payload("", "public"),
            Some(SessionChange::All)
        );
    }
}
