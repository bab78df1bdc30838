//! The application: the route table, the tower layers, and the server's
//! life cycle (bind, serve, drain on shutdown).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::auth::{
    Argon2Hasher, AuthCache, ChangeRecorder, Hashing, PasswordHasher, SystemClock, Touches,
    flush_touches_periodically, follow_recorded_changes, listen_for_changes,
};
use crate::config::Config;
use crate::db::{Db, SessionLookup};
use crate::domain::PasswordPolicy;
use crate::hardening;
use crate::mail::Mailer;
use crate::public_url::PublicUrl;
use crate::request_id::REQUEST_ID;
use crate::routes::{
    account, addresses, audit, docs, mfa, ops, passkeys, pictures, sessions, staff, tokens, users,
};
use crate::state::{AppState, Overrides, Shared};

/// Every route, each declared once: the `#[utoipa::path]` on its handler gives both the route
/// and its entry in `/openapi.json`.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .declare(routes!(users::register_user, staff::list_users))
        .declare(routes!(tokens::obtain_token))
        .declare(routes!(mfa::obtain_token_mfa))
        .declare(routes!(tokens::logout))
        .declare(routes!(sessions::logout_all))
        .declare(routes!(
            users::get_me,
            users::update_me,
            users::patch_me,
            account::deletion::delete_me
        ))
        .declare(routes!(mfa::get_mfa_status))
        .declare(routes!(mfa::enrol_totp, mfa::disable_totp))
        .declare(routes!(mfa::confirm_totp))
        .declare(routes!(mfa::renew_recovery_codes))
        .declare(routes!(pictures::put_picture, pictures::delete_picture))
        .declare(routes!(pictures::get_picture_file))
        .declare(routes!(sessions::list_sessions))
        .declare(routes!(
            addresses::list_addresses,
            addresses::create_address
        ))
        .declare(routes!(
            addresses::get_address,
            addresses::replace_address,
            addresses::update_address,
            addresses::delete_address
        ))
        .declare(routes!(sessions::delete_session))
        .declare(routes!(passkeys::begin_passkey_registration))
        .declare(routes!(passkeys::begin_step_up))
        .declare(routes!(passkeys::list_passkeys, passkeys::add_passkey))
        .declare(routes!(passkeys::delete_passkey))
        .declare(routes!(passkeys::begin_passkey_login))
        .declare(routes!(passkeys::log_in_with_passkey))
        .declare(routes!(passkeys::apple_app_site_association))
        .declare(routes!(passkeys::asset_links))
        .declare(routes!(account::verification::verify_email))
        .declare(routes!(account::verification::resend_verification_code))
        .declare(routes!(account::password::request_password_reset))
        .declare(routes!(account::password::reset_password))
        .declare(routes!(account::password::change_password))
        .declare(routes!(account::email::request_email_change))
        .declare(routes!(account::email::confirm_email_change))
        .declare(routes!(staff::get_user, staff::update_user))
        .declare(routes!(staff::revoke_user_tokens))
        .declare(routes!(staff::remove_second_factors))
        .declare(routes!(audit::list_security_events))
        .declare(routes!(ops::healthz))
        .declare(routes!(ops::readyz))
        .declare(routes!(ops::metrics))
}

/// Adds routes declared with `#[utoipa::path]` to the document as declared (DRF's paths end in
/// a slash) and to the router without the trailing slash, since [`service`] strips it from
/// requests before routing: both spellings reach one handler under one metrics label.
trait Declare {
    fn declare(self, routes: UtoipaMethodRouter<AppState>) -> Self;
}

impl Declare for OpenApiRouter<AppState> {
    fn declare(self, (schemas, paths, handlers): UtoipaMethodRouter<AppState>) -> Self {
        let mut router = paths.paths.keys().fold(self, |router, path| {
            let routed = path.trim_end_matches('/');
            router.route(
                if routed.is_empty() { "/" } else { routed },
                handlers.clone(),
            )
        });
        let document = router.get_openapi_mut();
        for (path, item) in paths.paths {
            match document.paths.paths.get_mut(&path) {
                Some(existing) => existing.merge_operations(item),
                None => {
                    document.paths.paths.insert(path, item);
                }
            }
        }
        document
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(schemas);
        router
    }
}

/// The router: [`api`], the docs page and its document, and the one layer each route has
/// (`envelope`: deadline, panics, session invalidation, metrics).
pub fn router(state: AppState) -> Router {
    let (api, document) = api().split_for_parts();
    api.route("/", get(docs::to_docs_page))
        .method_not_allowed_fallback(docs::method_not_allowed)
        .merge(docs::docs_page(document))
        .merge(crate::console::router(&state))
        .fallback(docs::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::envelope::envelope,
        ))
        .with_state(state)
}

/// The whole HTTP service: [`router`] inside the layers that do not depend on the route
/// (request ids, the access log, security headers, CORS, trailing slashes). They wrap the
/// router once, not each route as `Router::layer` would, so a request does not clone and box
/// them again along with its route's service.
pub fn service(
    state: AppState,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    let cors = hardening::cors(&state.config.cors_origins);
    tower::ServiceBuilder::new()
        .map_request(trim_trailing_slash)
        .map_response(|response: axum::http::Response<_>| response.map(axum::body::Body::new))
        .map_request(crate::request_id::drop_unacceptable_id::<axum::body::Body>)
        .layer(SetRequestIdLayer::new(
            REQUEST_ID.clone(),
            crate::request_id::SequentialRequestId::new(),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // Method and path only: headers (Authorization) and bodies (passwords)
                    // never reach the log.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(hardening::SecurityHeadersLayer)
        .option_layer(cors)
        .service(router(state))
}

/// `/users/me/` → `/users/me`. The docs page keeps its slash (it serves relative assets).
fn trim_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/docs") {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// A bound, ready-to-serve instance.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects to the database, migrates it (unless told not to), and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Overrides::default()).await
    }

    pub async fn build_with(config: Config, overrides: Overrides) -> anyhow::Result<Self> {
        config.validate()?;
        crate::metrics::handle();
        let db = Db::connect(&config).await?;
        let database = config.database_location();
        tracing::info!(engine = db.engine(), %database, "database opened");
        if config.migrate_on_start {
            db.migrate().await?;
            tracing::info!("migrations applied");
        }
        let hasher: Arc<dyn PasswordHasher> = match overrides.hasher {
            Some(h) => h,
            None => Arc::new(Argon2Hasher::new(config.argon2_params()?)),
        };
        let concurrency = config.hash_concurrency();
        let hashing = tokio::task::spawn_blocking(move || Hashing::new(hasher, concurrency))
            .await
            .context("hashing set-up panicked")??;
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => {
                let url = PublicUrl::listening_on(listener.local_addr()?);
                if config.bind.ip().is_unspecified() {
                    tracing::warn!(
                        "KITCHEN_API_PUBLIC_URL is not set: links in answers name {url}, \
                         which clients cannot reach; set it to the URL clients use"
                    );
                }
                url
            }
        };
        let transport = match overrides.mail_transport {
            Some(t) => t,
            None => crate::mail::transport_from_config(&config.mail)?,
        };
        let mailer = Mailer::start(transport, config.mail.mailer_settings());
        let sessions = SessionLookup::new(&db, config.sqlite_inline_reads);
        let poll_changes = match &db {
            Db::Sqlite(_) => true,
            Db::Postgres(_) if config.poll_session_changes => true,
            Db::Postgres(pool) => match crate::auth::listen_refused(pool).await {
                Some(reason) => {
                    tracing::warn!(
                        %reason,
                        "this database refuses LISTEN: session changes reach the other \
                         processes by polling a table, within a second instead of milliseconds"
                    );
                    true
                }
                None => false,
            },
        };
        let change_recorder = poll_changes.then(|| ChangeRecorder::start(db.clone()));
        let pictures = crate::pictures::Pictures::start(&config, &public_url)?;
        let passkeys = crate::webauthn::Passkeys::from_config(&config)?;
        let mfa_key = crate::auth::mfa::MfaKey::load(&config)?;
        let state = AppState::new(Shared {
            sessions,
            db,
            hashing,
            clock: overrides.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            policy: PasswordPolicy::new(),
            auth_cache: AuthCache::new(
                chrono::TimeDelta::milliseconds(
                    i64::try_from(config.auth_cache_ttl_ms).unwrap_or(i64::MAX),
                ),
                config.auth_cache_max_entries,
            ),
            config: Arc::new(config),
            mailer,
            touches: Touches::default(),
            change_recorder,
            public_url,
            pictures,
            passkeys,
            mfa_key,
        });
        if state.auth_cache.enabled() {
            let (cache, clock) = (state.auth_cache.clone(), Arc::clone(&state.clock));
            match &state.db {
                _ if poll_changes => {
                    tokio::spawn(follow_recorded_changes(state.db.clone(), cache, clock))
                }
                Db::Postgres(pool) => {
                    let (ready, listening) = tokio::sync::oneshot::channel();
                    let listener = listen_for_changes(pool.clone(), cache, clock, ready);
                    let task = tokio::spawn(listener);
                    // Serve once this process can hear other processes' changes (or has tried).
                    tokio::time::timeout(Duration::from_secs(5), listening)
                        .await
                        .ok();
                    task
                }
                Db::Sqlite(_) => {
                    tokio::spawn(follow_recorded_changes(state.db.clone(), cache, clock))
                }
            };
        }
        tokio::spawn(crate::maintenance::purge_periodically(state.clone()));
        tokio::spawn(flush_touches_periodically(
            state.touches.clone(),
            state.db.clone(),
        ));
        Ok(Self { listener, state })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish,
    /// and closes the database pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        tracing::info!(
            %addr,
            engine = self.state.db.engine(),
            inline_reads = self.state.sessions.is_inline(),
            "listening on http://{addr}");
        let db = self.state.db.clone();
        let mailer = self.state.mailer.clone();
        let touches = self.state.touches.clone();
        let limits = crate::serve::Limits {
            max_connections: self.state.config.max_connections,
            header_read_timeout: Duration::from_millis(self.state.config.header_read_timeout_ms),
        };
        crate::serve::serve(self.listener, service(self.state), limits, shutdown).await;
        // Codes already promised to users go out before the process ends, if they can.
        mailer.shutdown(Duration::from_secs(10)).await;
        if let Err(e) = touches.flush(&db).await {
            tracing::warn!(error = %e, "could not record tokens' last use before stopping");
        }
        // Give the pool a moment to return connections held by finishing requests.
        tokio::time::timeout(Duration::from_secs(5), db.close())
            .await
            .ok();
        tracing::info!("stopped");
        Ok(())
    }
}

/// A future that resolves on Ctrl-C or SIGTERM. The handlers are installed by this call, before
/// the server says it is listening, so a signal that arrives at any moment after start-up is a
/// graceful stop and never the default "terminate at once".
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutdown requested; finishing requests in flight");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            tokio::signal::ctrl_c().await.ok();
            tracing::info!("shutdown requested; finishing requests in flight");
        })
    }
}
