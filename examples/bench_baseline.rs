//! Benchmark baseline: one axum handler answering every request with a small JSON object,
//! driven with the service's wrk scripts, so the service's figures are ratios of what any axum
//! service reaches here. `bench_baseline [ADDR]` (or `BENCH_BASELINE_BIND`; default
//! `127.0.0.1:0`) prints `listening on http://ADDR` and stops on Ctrl-C or SIGTERM.

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
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
