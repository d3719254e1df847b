//! Cross-cutting layers: request ids, tracing spans named by route,
//! metrics, panics and timeouts as problems, the request target's check
//! (path and query parameters), and the fallbacks.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, Method, Response};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::error::ApiError;
use super::extract::NUL_MESSAGE;
use super::{AppState, HttpLimits};
use crate::domain::FieldErrors;
use crate::telemetry::{REQUEST_DURATION, REQUESTS_TOTAL};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Applies the layers, outermost first: request id, trace span, metrics,
/// panic guard, timeout, request target.
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
            .layer(from_fn_with_state(limits.request_timeout, timeout))
            .layer(from_fn(check_target)),
    )
}

/// The `route` of a request no route matched: one value, whatever the path.
const UNMATCHED_ROUTE: &str = "unmatched";

fn route_of(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
}

/// The `method` of spans and metrics: a method the HTTP specification
/// defines, or `_OTHER` (as OpenTelemetry's semantic conventions name
/// every other), so an invented method cannot create series.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("_OTHER")
}

/// The span of one request: method, matched route, request id. Never the
/// URI, which may carry ids or cursors, nor any header or body.
fn make_span(request: &Request) -> Span {
    let route = route_of(request);
    let method = method_label(request.method());
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        http.request.method = method,
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
    let method = method_label(request.method()).to_owned();
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

/// Refuses what no handler may be given, before any runs:
///
/// * a path whose percent-decoding holds NUL or is not UTF-8: 404, as no
///   resource has such a name;
/// * query parameters the route does not take, repeated, or holding NUL:
///   422 naming each. A route takes the query parameters its operation in
///   the OpenAPI document lists (`params(.., Query, ..)`), so what is
///   published is what is enforced; a route the document does not describe
///   takes none.
///
/// `/oauth2/token` is left to its handler, which answers in RFC 6749's
/// format rather than RFC 9457's, and so are the web pages (`crate::web`:
/// every route outside `/v1/` that the document does not describe), which
/// answer HTML and read only the query fields they know.
async fn check_target(request: Request, next: Next) -> axum::response::Response {
    if let Some(route) = request.extensions().get::<MatchedPath>()
        && !OWN_ERROR_FORMAT.contains(&route.as_str())
        && (route.as_str().starts_with("/v1/") || QUERY_PARAMETERS.describes(route.as_str()))
        && let Err(error) =
            check_path(request.uri().path()).and_then(|()| check_query(&request, route.as_str()))
    {
        return error.into_response();
    }
    next.run(request).await
}

/// Routes that answer errors in a format of their own.
const OWN_ERROR_FORMAT: &[&str] = &["/oauth2/token"];

fn check_path(path: &str) -> Result<(), ApiError> {
    if !path.contains('%') {
        return Ok(());
    }
    match percent_encoding::percent_decode_str(path).decode_utf8() {
        Ok(decoded) if !decoded.contains('\0') => Ok(()),
        _ => Err(ApiError::NotFound),
    }
}

fn check_query(request: &Request, route: &str) -> Result<(), ApiError> {
    let Some(query) = request.uri().query().filter(|query| !query.is_empty()) else {
        return Ok(());
    };
    let Some(accepted) = QUERY_PARAMETERS.accepted(route, request.method()) else {
        // Not an operation of this route: the router answers 405.
        return Ok(());
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    // Enough to fix a request by; a query of a thousand invented
    // parameters is not answered with a thousand entries.
    const MAX_REPORTED_PARAMETERS: usize = 20;
    let mut counts: HashMap<&str, usize> = HashMap::with_capacity(pairs.len());
    for (key, _) in &pairs {
        *counts.entry(key.as_str()).or_default() += 1;
    }
    let mut errors = FieldErrors::new();
    let mut reported = 0;
    for (key, value) in &pairs {
        // Each parameter is judged once, where it first appears.
        let Some(count) = counts.remove(key.as_str()) else {
            continue;
        };
        let message = if !accepted.iter().any(|name| name == key) {
            "unknown query parameter"
        } else if count > 1 {
            "must be given at most once"
        } else if value.contains('\0') {
            NUL_MESSAGE
        } else {
            continue;
        };
        errors.push(key.replace('\0', "\u{FFFD}"), message);
        reported += 1;
        if reported == MAX_REPORTED_PARAMETERS {
            break;
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The query parameters of every operation the OpenAPI document describes.
static QUERY_PARAMETERS: LazyLock<QueryParameters> = LazyLock::new(|| {
    QueryParameters::from_openapi(&<super::openapi::ApiDoc as utoipa::OpenApi>::openapi())
});

/// Route template -> the operations on it, each with the names of the
/// query parameters it takes.
#[derive(Debug, Default)]
struct QueryParameters(HashMap<String, Vec<(Method, Vec<String>)>>);

impl QueryParameters {
    fn from_openapi(document: &utoipa::openapi::OpenApi) -> Self {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::path::{Parameter, ParameterIn};
        let query_names = |parameters: Option<&[RefOr<Parameter>]>| -> Vec<String> {
            parameters
                .unwrap_or_default()
                .iter()
                .filter_map(|parameter| match parameter {
                    RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Query => {
                        Some(parameter.name.clone())
                    }
                    _ => None,
                })
                .collect()
        };
        let mut routes = HashMap::new();
        for (path, item) in &document.paths.paths {
            let shared = query_names(item.parameters.as_deref());
            let operations = [
                (Method::GET, &item.get),
                (Method::HEAD, &item.head),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
                (Method::OPTIONS, &item.options),
                (Method::TRACE, &item.trace),
            ];
            let methods = operations
                .into_iter()
                .filter_map(|(method, operation)| {
                    let operation = operation.as_ref()?;
                    let mut names = shared.clone();
                    names.extend(query_names(operation.parameters.as_deref()));
                    Some((method, names))
                })
                .collect();
            routes.insert(path.clone(), methods);
        }
        Self(routes)
    }

    /// The parameters `method` takes on `route`: none on a route the
    /// document does not describe, `None` for a method the route does not
    /// serve. `HEAD` takes what `GET` takes.
    /// Whether the document describes `route`.
    fn describes(&self, route: &str) -> bool {
        self.0.contains_key(route)
    }

    fn accepted(&self, route: &str, method: &Method) -> Option<&[String]> {
        let Some(operations) = self.0.get(route) else {
            return Some(&[]);
        };
        let find = |wanted: &Method| {
            operations
                .iter()
                .find(|(method, _)| method == wanted)
                .map(|(_, names)| names.as_slice())
        };
        find(method).or_else(|| (*method == Method::HEAD).then(|| find(&Method::GET))?)
    }
}

/// No route: the API's 404 problem, or for a browser outside the API's
/// paths, the pages' "not found" page.
pub(super) async fn not_found(request: Request) -> axum::response::Response {
    let path = request.uri().path();
    if crate::web::wants_page(request.headers(), path) {
        return crate::web::not_found_page(request.headers(), path);
    }
    ApiError::NotFound.into_response()
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

    #[test]
    fn only_defined_methods_are_labelled_by_name() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for invented in ["FOO", "get", "BREW0001"] {
            let method = Method::from_bytes(invented.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "_OTHER");
        }
    }

    #[test]
    fn paths_with_nul_or_broken_utf8_name_nothing() {
        assert!(check_path("/v1/third-parties/tp_0").is_ok());
        assert!(check_path("/v1/me/data/h%C3%A9alth").is_ok());
        for path in [
            "/v1/third-parties/%00",
            "/v1/third-parties/tp%00x",
            "/v1/me/data/%FF",
            "/v1/me/data/%C0%80",
        ] {
            assert!(
                matches!(check_path(path), Err(ApiError::NotFound)),
                "{path}"
            );
        }
    }

    #[test]
    fn query_parameters_come_from_the_openapi_document() {
        let names = |route: &str, method: Method| {
            QUERY_PARAMETERS
                .accepted(route, &method)
                .map(|names| names.join(","))
        };
        assert_eq!(
            names("/v1/members", Method::GET).as_deref(),
            Some("limit,cursor")
        );
        assert_eq!(
            names("/v1/members", Method::HEAD).as_deref(),
            Some("limit,cursor")
        );
        assert_eq!(names("/v1/members", Method::POST).as_deref(), Some(""));
        assert_eq!(names("/v1/me", Method::GET).as_deref(), Some(""));
        // Not an operation of the route: left to the router's 405.
        assert_eq!(names("/v1/me", Method::PUT), None);
        // A route the document does not describe takes none.
        assert_eq!(names("/not/documented", Method::GET).as_deref(), Some(""));
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
