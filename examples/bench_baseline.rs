//! Benchmark baseline: the smallest useful axum 0.8 server, one handler that answers every
//! request (any method, any path) with a small fixed JSON object, on tokio's multi-threaded
//! runtime. `bench/run` drives it with the same wrk scripts as the real service, so its
//! throughput is the ceiling any axum service can reach on this machine, and the service's
//! figures are reported as a ratio of it.
//!
//! Usage: `bench_baseline [ADDR]` (or `BENCH_BASELINE_BIND=ADDR`), default `127.0.0.1:0`.
//! It prints `listening on http://ADDR` once bound and stops on Ctrl-C or SIGTERM.

use std::io::Write;

use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;

#[derive(Serialize)]
struct Answer {
    email: &'static str,
    user_id: i64,
}

async fn answer() -> Json<Answer> {
    Json(Answer {
        email: "a@b.co",
        user_id: 1,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BENCH_BASELINE_BIND").ok())
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", listener.local_addr()?)?;
        out.flush()?;
    }
    let app = Router::new().fallback(answer);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            // Without a SIGTERM handler the default action still ends the process.
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
