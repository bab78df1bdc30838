//! Security headers on every answer, and CORS only for configured origins.

use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `Cache-Control: no-store` but on the docs page and stored pictures: answers carry tokens and profiles no cache
/// may keep. A plain service: `from_fn` would clone and box the router on every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct SecurityHeadersLayer;

impl<S> tower::Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> SecurityHeaders<S> {
        SecurityHeaders(inner)
    }
}

#[derive(Clone, Debug)]
pub struct SecurityHeaders<S>(S);

impl<S> tower::Service<Request> for SecurityHeaders<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures_util::future::MapOk<S::Future, fn(Response) -> Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let path = request.uri().path();
        let harden: fn(Response) -> Response = if path.starts_with("/docs/") {
            harden_docs
        } else if path.starts_with("/media/") {
            harden_media
        } else if path == "/console" || path.starts_with("/console/") {
            harden_console
        } else {
            harden_api
        };
        futures_util::TryFutureExt::map_ok(self.0.call(request), harden)
    }
}

fn harden_docs(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // No version banner: nothing here sets `Server`, and nothing should.
    headers.remove(header::SERVER);
    response
}

/// Stored pictures say how long they may be cached (for good: names never change content).
fn harden_media(response: Response) -> Response {
    let mut response = harden_docs(response);
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The console's forms need their `Origin` (checked on every POST), which browsers send as
/// `null` under `no-referrer`: its pages name their origin to themselves only.
fn harden_console(response: Response) -> Response {
    let mut response = harden_api(response);
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn harden_api(response: Response) -> Response {
    let mut response = harden_docs(response);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(Duration::from_secs(3600)),
    )
}
