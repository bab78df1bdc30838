//! Prometheus metrics: one process-wide recorder, rendered by `GET /metrics`. Requests are
//! labelled by route *template* and a bounded set of methods, never the raw path or method, so
//! no client can grow the series without bound.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Their `# HELP` texts are in `describe`; `README.md` lists them for operators.
pub const HTTP_REQUESTS: &str = "kitchen_api_http_requests_total";
pub const HTTP_DURATION: &str = "kitchen_api_http_request_duration_seconds";
pub const HTTP_THROTTLED: &str = "kitchen_api_http_throttled_total";
pub const LOGINS: &str = "kitchen_api_logins_total";
pub const HASHING_WAITING: &str = "kitchen_api_hashing_queue_depth";
pub const HASHING_RUNNING: &str = "kitchen_api_hashing_in_progress";
pub const PICTURES_WAITING: &str = "kitchen_api_picture_queue_depth";
pub const PICTURES_RUNNING: &str = "kitchen_api_picture_in_progress";
pub const SESSION_LOOKUPS: &str = "kitchen_api_session_lookups_total";
pub const DB_POOL_SIZE: &str = "kitchen_api_db_pool_connections";
pub const DB_POOL_IDLE: &str = "kitchen_api_db_pool_idle_connections";
pub const DB_POOL_MAX: &str = "kitchen_api_db_pool_max_connections";
pub const DB_WRITER_CONNECTIONS: &str = "kitchen_api_db_writer_connections";

const UNMATCHED: &str = "unmatched";

/// From a cache hit (tens of µs) to a queued hash; the sub-millisecond ones tell cached reads.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Shared by every application built in the process (the tests build many): series add up.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        let upkeep = handle.clone();
        // A plain thread, not a task: it must outlive whichever runtime happened to start it.
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
        }
        handle
    })
}

fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "Requests served, by method, route and status."
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a request, by method, route and status."
    );
    metrics::describe_counter!(HTTP_THROTTLED, "Requests refused with 429, by route.");
    metrics::describe_counter!(LOGINS, "Password checks at login, by outcome (ok, failed).");
    metrics::describe_counter!(
        SESSION_LOOKUPS,
        "Session lookups that missed the session cache, by via (inline, pool)."
    );
    metrics::describe_gauge!(HASHING_WAITING, "Password hashes waiting for a slot.");
    metrics::describe_gauge!(HASHING_RUNNING, "Password hashes running now.");
    metrics::describe_gauge!(PICTURES_WAITING, "Uploaded pictures waiting for a thread.");
    metrics::describe_gauge!(
        PICTURES_RUNNING,
        "Uploaded pictures being decoded and encoded now."
    );
    metrics::describe_gauge!(DB_POOL_SIZE, "Database connections open.");
    metrics::describe_gauge!(DB_POOL_IDLE, "Database connections open and idle.");
    metrics::describe_gauge!(DB_POOL_MAX, "Database connections the pool may open.");
    metrics::describe_gauge!(
        DB_WRITER_CONNECTIONS,
        "SQLite connections open to write (at most one); absent on PostgreSQL."
    );
}

pub fn record_login(ok: bool) {
    let outcome = if ok { "ok" } else { "failed" };
    metrics::counter!(LOGINS, "outcome" => outcome).increment(1);
}

/// Handles kept per series: a recorder lookup per request is measurable on the cheap path
/// (docs/decisions/0012).
static SERIES: LazyLock<RwLock<SeriesTable>> = LazyLock::new(RwLock::default);

type SeriesTable = HashMap<String, HashMap<(&'static str, u16), Series>>;

struct Series {
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl Series {
    fn record(&self, seconds: f64) {
        self.requests.increment(1);
        self.duration.record(seconds);
    }
}

pub fn record_request(method: &Method, route: Option<&str>, status: StatusCode, took: Duration) {
    let route = route.unwrap_or(UNMATCHED);
    let method = method_label(method);
    let key = (method, status.as_u16());
    let seconds = took.as_secs_f64();
    let known = SERIES.read().ok().and_then(|series| {
        series.get(route)?.get(&key)?.record(seconds);
        Some(())
    });
    if known.is_none() {
        let labels = [
            ("method", SharedString::const_str(method)),
            ("route", SharedString::from_owned(route.to_owned())),
            ("status", SharedString::from_owned(key.1.to_string())),
        ];
        let one = Series {
            requests: metrics::counter!(HTTP_REQUESTS, &labels),
            duration: metrics::histogram!(HTTP_DURATION, &labels),
        };
        one.record(seconds);
        if let Ok(mut series) = SERIES.write() {
            series.entry(route.to_owned()).or_default().insert(key, one);
        }
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        metrics::counter!(HTTP_THROTTLED, "route" => route.to_owned()).increment(1);
    }
}

/// Any method is a valid token: those outside the standard set share one label.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The bearer token `GET /metrics` requires when set (`KITCHEN_API_METRICS_TOKEN`). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// Digests compared in constant time: neither content nor length leaks through timing.
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let want = Sha256::digest(self.0.as_bytes());
        let got = Sha256::digest(presented.as_bytes());
        want.ct_eq(&got).into()
    }
}

impl std::str::FromStr for MetricsToken {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}
