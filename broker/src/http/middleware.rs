//! Cross-cutting layers: request ids, tracing spans named by route,
//! metrics, panics and timeouts as problems, and the fallbacks.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, Response};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::error::ApiError;
use super::{AppState, HttpLimits};
use crate::telemetry::{REQUEST_DURATION, REQUESTS_TOTAL};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Applies the layers, outermost first: request id, trace span, metrics,
/// panic guard, timeout.
pub(super) fn wrap(routes: Router<AppState>, limits: HttpLimits) -> Router<AppState> {
    routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(make_span)
                    .on_response(on_response),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(from_fn(record_metrics))
            .layer(CatchPanicLayer::custom(on_panic))
            .layer(from_fn_with_state(limits.request_timeout, timeout)),
    )
}

fn route_of(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// The span of one request: method, matched route, request id. Never the
/// URI, which may carry ids or cursors, nor any header or body.
fn make_span(request: &Request) -> Span {
    let route = route_of(request);
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        otel.name = format!("{} {route}", request.method()),
        http.request.method = %request.method(),
        http.route = route,
        request_id,
        http.response.status_code = tracing::field::Empty,
    )
}

fn on_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    span.record("http.response.status_code", response.status().as_u16());
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "answered"
    );
}

async fn record_metrics(request: Request, next: Next) -> impl IntoResponse {
    let route = route_of(&request).to_owned();
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(REQUEST_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    ApiError::internal(anyhow::anyhow!("a request handler panicked")).into_response()
}

async fn timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

pub(super) async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    }

    async fn panics() -> &'static str {
        panic!("handler bug")
    }

    fn problem_type(response: &axum::response::Response) -> &str {
        response.headers()["content-type"].to_str().unwrap()
    }

    #[tokio::test]
    async fn slow_requests_are_answered_408() {
        let app = Router::new()
            .route("/slow", get(slow))
            .layer(from_fn_with_state(Duration::from_millis(20), timeout));
        let response = app
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(problem_type(&response), "application/problem+json");
    }

    #[tokio::test]
    async fn panics_are_answered_500_without_detail() {
        let app = Router::new()
            .route("/panics", get(panics))
            .layer(CatchPanicLayer::custom(on_panic));
        let response = app
            .oneshot(Request::get("/panics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(problem_type(&response), "application/problem+json");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("handler bug"));
    }
}
