//! `POST /oauth2/token` (RFC 6749 §4.4) and third-party access tokens:
//! errors, expiry, rotation, and what bounds the endpoint's cost (rate
//! limits per address and per client, a bounded number of secret
//! verifications, a small body).

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine as _;
use datacoop_broker::http::{AppState, HttpLimits, RateLimitSettings};
use datacoop_broker::store;
use serde_json::{Value, json};

use crate::router::assert_problem;
use crate::support::{ADMIN, Database, TestApp};

/// A test application whose state `configure` adjusts (TTL, limits).
pub async fn app_with(database: Database, configure: impl FnOnce(AppState) -> AppState) -> TestApp {
    TestApp::configured(
        Arc::new(database),
        HttpLimits::default(),
        store::Limits::default(),
        configure,
    )
    .await
}

/// `request` as if it came over TCP from `peer` (what `serve` attaches).
pub fn from_peer(mut request: Request<Body>, peer: &str) -> Request<Body> {
    let address: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(address));
    request
}

async fn approved(app: &TestApp) -> Value {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/third-parties",
            Some(ADMIN),
            Some(json!({"name": "Lab", "class": "academic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    body
}

fn token_http_request(basic: Option<(&str, &str)>, form: &str) -> Request<Body> {
    let mut request =
        Request::post("/oauth2/token").header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        request = request.header("authorization", format!("Basic {encoded}"));
    }
    request.body(Body::from(form.to_owned())).unwrap()
}

async fn token_request(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    form: &str,
) -> (StatusCode, HeaderMap, Value) {
    app.send(token_http_request(basic, form)).await
}

/// RFC 6749 §5.2's JSON error, with `Retry-After` when `retry` says so.
fn assert_oauth_error(
    (status, headers, body): &(StatusCode, HeaderMap, Value),
    expected: StatusCode,
    error: &str,
) {
    assert_eq!(
        (*status, body["error"].as_str()),
        (expected, Some(error)),
        "{body}"
    );
    assert!(body["error_description"].is_string(), "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    if matches!(
        expected,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        let seconds: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(seconds >= 1, "{seconds}");
    }
}

#[tokio::test]
async fn client_credentials_by_basic_or_form_fields_give_a_bearer_token() {
    let app = TestApp::sqlite().await;
    let lab = approved(&app).await;
    let (id, secret) = (
        lab["client_id"].as_str().unwrap(),
        lab["client_secret"].as_str().unwrap(),
    );
    let (status, headers, body) =
        token_request(&app, Some((id, secret)), "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("dct_"));
    // The token is a bearer token for any-token endpoints...
    assert_eq!(
        app.call(Method::GET, "/v1/vocabulary", Some(token), None)
            .await
            .0,
        StatusCode::OK
    );
    // ...and is refused on member and admin endpoints.
    for (method, path) in [
        (Method::GET, "/v1/me"),
        (Method::GET, "/v1/members"),
        (Method::POST, "/v1/decisions"),
    ] {
        let (status, problem) = app.call(method, path, Some(token), Some(json!({}))).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN);
    }
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let (status, _, body) = token_request(&app, None, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// HTTP Basic credentials, the form, the expected status and `error`.
type Case<'a> = (Option<(&'a str, &'a str)>, String, StatusCode, &'a str);

#[tokio::test]
async fn token_errors_follow_rfc_6749() {
    let app = TestApp::sqlite().await;
    let lab = approved(&app).await;
    let (id, secret) = (
        lab["client_id"].as_str().unwrap(),
        lab["client_secret"].as_str().unwrap(),
    );
    let cases: Vec<Case<'_>> = vec![
        (
            Some((id, "dcs_wrong")),
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some(("dcc_nobody", secret)),
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            None,
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            None,
            format!("grant_type=client_credentials&client_id={id}&client_secret=nope"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some((id, secret)),
            "grant_type=password".into(),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            Some((id, secret)),
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some((id, secret)),
            "grant_type=client_credentials&grant_type=client_credentials".into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some((id, secret)),
            format!("grant_type=client_credentials&client_secret={secret}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (basic, form, status, error) in cases {
        let (got, headers, body) = token_request(&app, basic, &form).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{form}: {body}"
        );
        assert!(body["error_description"].is_string());
        if got == StatusCode::UNAUTHORIZED {
            assert!(
                headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Basic")
            );
        }
        // The wrong-secret and unknown-client answers are the same.
        if error == "invalid_client" {
            assert_eq!(body["error_description"], "client authentication failed");
        }
    }
    let request = Request::post("/oauth2/token")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _, body) = app.send(request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn suspension_refuses_new_tokens_and_live_ones_at_once() {
    let app = TestApp::sqlite().await;
    let lab = approved(&app).await;
    let (id, secret) = (
        lab["client_id"].as_str().unwrap(),
        lab["client_secret"].as_str().unwrap(),
    );
    let (_, _, body) =
        token_request(&app, Some((id, secret)), "grant_type=client_credentials").await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let path = format!("/v1/third-parties/{}", lab["id"].as_str().unwrap());
    app.call(
        Method::PATCH,
        &path,
        Some(ADMIN),
        Some(json!({"status": "suspended"})),
    )
    .await;
    let (status, problem) = app
        .call(Method::GET, "/v1/vocabulary", Some(&token), None)
        .await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED);
    let (status, _, body) =
        token_request(&app, Some((id, secret)), "grant_type=client_credentials").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    app.call(
        Method::PATCH,
        &path,
        Some(ADMIN),
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(
        app.call(Method::GET, "/v1/vocabulary", Some(&token), None)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_expire_and_rotation_revokes_the_old_secret_and_tokens() {
    expiry_and_rotation(TestApp::sqlite().await).await;
}

#[tokio::test]
async fn tokens_expire_and_rotation_revokes_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    expiry_and_rotation(app).await;
}

async fn expiry_and_rotation(app: TestApp) {
    let lab = approved(&app).await;
    let (id, secret) = (
        lab["client_id"].as_str().unwrap(),
        lab["client_secret"].as_str().unwrap(),
    );
    let (_, _, body) =
        token_request(&app, Some((id, secret)), "grant_type=client_credentials").await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::TimeDelta::seconds(899));
    assert_eq!(
        app.call(Method::GET, "/v1/vocabulary", Some(&token), None)
            .await
            .0,
        StatusCode::OK
    );
    app.clock.advance(chrono::TimeDelta::seconds(1));
    assert_eq!(
        app.call(Method::GET, "/v1/vocabulary", Some(&token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let (_, _, body) =
        token_request(&app, Some((id, secret)), "grant_type=client_credentials").await;
    let live = body["access_token"].as_str().unwrap().to_owned();
    let path = format!("/v1/third-parties/{}/secret", lab["id"].as_str().unwrap());
    let (status, rotated) = app.call(Method::POST, &path, Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rotated["client_id"], lab["client_id"]);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(
        app.call(Method::GET, "/v1/vocabulary", Some(&live), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, _) =
        token_request(&app, Some((id, secret)), "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = token_request(
        &app,
        Some((id, new_secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/third-parties/tp_00000000000000000000000000000000/secret",
            Some(ADMIN),
            None,
        )
        .await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_token_lifetime_follows_the_setting() {
    // README `DATACOOP_ACCESS_TOKEN_TTL_SECS`, through `AppState::with_token_ttl`
    // as `startup` applies it.
    let app = app_with(Database::sqlite(), |state| {
        state.with_token_ttl(Duration::from_secs(60))
    })
    .await;
    let lab = approved(&app).await;
    let (id, secret) = (
        lab["client_id"].as_str().unwrap(),
        lab["client_secret"].as_str().unwrap(),
    );
    let (status, _, body) =
        token_request(&app, Some((id, secret)), "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 60);
    let token = body["access_token"].as_str().unwrap();
    app.clock.advance(chrono::TimeDelta::seconds(59));
    assert_eq!(
        app.call(Method::GET, "/v1/vocabulary", Some(token), None)
            .await
            .0,
        StatusCode::OK
    );
    app.clock.advance(chrono::TimeDelta::seconds(1));
    assert_eq!(
        app.call(Method::GET, "/v1/vocabulary", Some(token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

/// A NUL (or any control character) in `client_id` is `invalid_request`,
/// by form or by HTTP Basic, on both databases (issue 8 item 7: never a
/// PostgreSQL 500), and nothing is issued.
async fn control_characters_in_client_ids(app: TestApp) {
    let lab = approved(&app).await;
    let secret = lab["client_secret"].as_str().unwrap();
    let id = lab["client_id"].as_str().unwrap();
    for bad in [format!("{id}%00"), "%00".to_owned(), format!("dcc_%0A{id}")] {
        let form = format!("grant_type=client_credentials&client_id={bad}&client_secret={secret}");
        let answer = token_request(&app, None, &form).await;
        assert_oauth_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
    for bad in [format!("{id}\0"), format!("{id}%00"), "\0".to_owned()] {
        let answer =
            token_request(&app, Some((&bad, secret)), "grant_type=client_credentials").await;
        assert_oauth_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let long = "d".repeat(201);
    let answer = token_request(&app, Some((&long, secret)), "grant_type=client_credentials").await;
    assert_oauth_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    // The real client still gets its token.
    let (status, _, body) =
        token_request(&app, Some((id, secret)), "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn control_characters_in_client_ids_are_invalid_requests_on_sqlite() {
    control_characters_in_client_ids(TestApp::sqlite().await).await;
}

#[tokio::test]
async fn control_characters_in_client_ids_are_invalid_requests_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    control_characters_in_client_ids(app).await;
}

async fn oversize_bodies(app: TestApp) {
    let lab = approved(&app).await;
    let (id, secret) = (
        lab["client_id"].as_str().unwrap(),
        lab["client_secret"].as_str().unwrap(),
    );
    // 16 KiB is the token endpoint's cap, below the broker's 1 MiB.
    let padding = "x".repeat(16 * 1024);
    let form = format!("grant_type=client_credentials&padding={padding}");
    let answer = token_request(&app, Some((id, secret)), &form).await;
    assert_oauth_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    let huge = "x".repeat(2 * 1024 * 1024);
    let answer = token_request(&app, Some((id, secret)), &huge).await;
    assert_oauth_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    let form = format!(
        "grant_type=client_credentials&padding={}",
        "x".repeat(8 * 1024)
    );
    let (status, _, body) = token_request(&app, Some((id, secret)), &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn oversize_bodies_are_rfc_6749_errors_on_sqlite() {
    oversize_bodies(TestApp::sqlite().await).await;
}

#[tokio::test]
async fn oversize_bodies_are_rfc_6749_errors_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    oversize_bodies(app).await;
}

#[tokio::test]
async fn a_smaller_body_limit_applies_to_token_requests_too() {
    let app = TestApp::sqlite_with_limits(HttpLimits {
        max_body_bytes: 1024,
        ..HttpLimits::default()
    })
    .await;
    let form = format!("grant_type=client_credentials&padding={}", "x".repeat(1024));
    let answer = token_request(&app, Some(("dcc_x", "dcs_y")), &form).await;
    assert_oauth_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
}

#[tokio::test]
async fn token_requests_are_rate_limited_per_address() {
    let app = app_with(Database::sqlite(), |state| {
        state.with_rate_limits(RateLimitSettings {
            token_per_address: 3,
            ..RateLimitSettings::OFF
        })
    })
    .await;
    let lab = approved(&app).await;
    let (id, secret) = (
        lab["client_id"].as_str().unwrap(),
        lab["client_secret"].as_str().unwrap(),
    );
    let good = || token_http_request(Some((id, secret)), "grant_type=client_credentials");
    let wrong = || token_http_request(Some((id, "dcs_wrong")), "grant_type=client_credentials");
    // Every request counts, whatever its outcome.
    let (status, _, _) = app.send(from_peer(good(), "192.0.2.1:5000")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = app.send(from_peer(wrong(), "192.0.2.1:5001")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = app.send(from_peer(good(), "192.0.2.1:5002")).await;
    assert_eq!(status, StatusCode::OK);
    let answer = app.send(from_peer(good(), "192.0.2.1:5003")).await;
    assert_oauth_error(
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    );
    // Three a minute: the next one in about 20 seconds.
    let seconds: u64 = answer.1["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((19..=20).contains(&seconds), "{seconds}");
    // Another address, or the same /64 of IPv6 as another...
    let (status, _, _) = app.send(from_peer(good(), "192.0.2.2:5000")).await;
    assert_eq!(status, StatusCode::OK);
    for port in 1..=3 {
        let peer = format!("[2001:db8::{port}]:443");
        let (status, _, _) = app.send(from_peer(good(), &peer)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let answer = app.send(from_peer(good(), "[2001:db8::ffff]:443")).await;
    assert_oauth_error(
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    );
    // ...and the router driven without a socket has no address to limit.
    for _ in 0..4 {
        let (status, _, _) = app.send(good()).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn token_requests_are_rate_limited_per_client_known_or_not() {
    let app = app_with(Database::sqlite(), |state| {
        state.with_rate_limits(RateLimitSettings {
            token_per_client: 2,
            ..RateLimitSettings::OFF
        })
    })
    .await;
    let lab = approved(&app).await;
    let (id, secret) = (
        lab["client_id"].as_str().unwrap(),
        lab["client_secret"].as_str().unwrap(),
    );
    // From many addresses, one client id: the limit follows the client.
    for (index, secret) in [secret, "dcs_wrong"].into_iter().enumerate() {
        let request = token_http_request(Some((id, secret)), "grant_type=client_credentials");
        let (status, _, _) = app
            .send(from_peer(request, &format!("192.0.2.{index}:1")))
            .await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let answer = token_request(&app, None, &form).await;
    assert_oauth_error(
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    );
    // An unknown client id is limited the same way, so a 429 does not
    // tell that a client exists.
    for _ in 0..2 {
        let answer = token_request(
            &app,
            Some(("dcc_nobody", secret)),
            "grant_type=client_credentials",
        )
        .await;
        assert_oauth_error(&answer, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let answer = token_request(
        &app,
        Some(("dcc_nobody", secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_oauth_error(
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_secret_verification_is_503_never_a_queue() {
    let app = Arc::new(
        app_with(Database::sqlite(), |state| {
            state
                .with_rate_limits(RateLimitSettings::OFF)
                .with_secret_verifications(NonZeroUsize::MIN)
        })
        .await,
    );
    let lab = approved(&app).await;
    let id = lab["client_id"].as_str().unwrap().to_owned();
    // One verification runs and one waits; of 40 at once, the rest are
    // refused without waiting.
    let requests: Vec<_> = (0..40)
        .map(|index| {
            let app = Arc::clone(&app);
            let id = if index % 2 == 0 {
                id.clone()
            } else {
                "dcc_nobody".to_owned()
            };
            tokio::spawn(async move {
                app.send(token_http_request(
                    Some((&id, "dcs_wrong")),
                    "grant_type=client_credentials",
                ))
                .await
            })
        })
        .collect();
    let mut busy = 0;
    for request in requests {
        let answer = request.await.unwrap();
        if answer.0 == StatusCode::SERVICE_UNAVAILABLE {
            assert_oauth_error(
                &answer,
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
            );
            busy += 1;
        } else {
            assert_oauth_error(&answer, StatusCode::UNAUTHORIZED, "invalid_client");
        }
    }
    assert!(
        busy > 0,
        "40 requests at once never found the verifier busy"
    );
    // Once they are done, the next one is verified again.
    let secret = lab["client_secret"].as_str().unwrap();
    let (status, _, body) =
        token_request(&app, Some((&id, secret)), "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
