//! Probes and metrics: `GET /healthz`, `GET /readyz`, `GET /metrics`.
//! None needs a token; none reveals anything about members.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use datacoop_wire::Health;

use super::AppState;

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process runs", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        checks: BTreeMap::new(),
    })
}

/// 200 once the database answers, this process shows every change
/// acknowledged so far (on PostgreSQL: it read the change feed's head and
/// applied what it had not seen) and the policies are loaded; 503
/// otherwise, and from the moment shutdown begins.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "Not ready; `checks` says why", body = Health),
    ))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let probe = async {
        state.store.ping().await?;
        state.store.current().await
    };
    let database = match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(error)) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "readiness: database unreachable or changes unknown"
            );
            "unreachable".to_owned()
        }
        Err(_) => "timed out".to_owned(),
    };
    let draining = state.draining.load(std::sync::atomic::Ordering::SeqCst);
    let ready = database == "ok" && !draining;
    let checks = BTreeMap::from([
        // "ok": the database answers and this process has applied every
        // change acknowledged before the check.
        ("database".to_owned(), database),
        // The state cannot exist without loaded policies.
        ("policies".to_owned(), "ok".to_owned()),
        (
            "shutdown".to_owned(),
            if draining { "draining" } else { "no" }.to_owned(),
        ),
    ]);
    let (status, word) = if ready {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (
        status,
        Json(Health {
            status: word.to_owned(),
            checks,
        }),
    )
}

/// Request counts and latencies in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
