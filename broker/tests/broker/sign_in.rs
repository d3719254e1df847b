//! Failed bearer authentications (members, stewards and third parties sign
//! in by presenting a token) are rate limited per client address: past the
//! limit, the address gets 429 problems with `Retry-After` and its tokens
//! are not looked up. Contract "Errors": 429 rate limited.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use datacoop_broker::http::RateLimitSettings;
use serde_json::Value;

use crate::oauth::{app_with, from_peer};
use crate::router::assert_problem;
use crate::support::{ADMIN, Database, TestApp};

fn me(token: &str) -> Request<Body> {
    Request::get("/v1/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

async fn me_from(app: &TestApp, token: &str, peer: &str) -> (StatusCode, HeaderMap, Value) {
    app.send(from_peer(me(token), peer)).await
}

const WRONG: &str = "dcm_not-a-token-anyone-holds-0123456789abcdefghi";

#[tokio::test]
async fn failed_bearer_tokens_are_limited_per_address() {
    let app = app_with(Database::sqlite(), |state| {
        state.with_rate_limits(RateLimitSettings {
            failed_auth_per_address: 3,
            ..RateLimitSettings::OFF
        })
    })
    .await;
    let member = app.enrol(Some("Ada"), "public").await;
    let token = member["token"].as_str().unwrap();
    // Tokens that authenticate never count.
    for _ in 0..10 {
        assert_eq!(me_from(&app, token, "192.0.2.1:1").await.0, StatusCode::OK);
    }
    for _ in 0..3 {
        let (status, _, body) = me_from(&app, WRONG, "192.0.2.1:1").await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, body) = me_from(&app, WRONG, "192.0.2.1:2").await;
    assert_problem(status, &body, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["type"], "urn:datacoop:problem:too-many-requests");
    let seconds: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((19..=20).contains(&seconds), "three a minute: {seconds}");
    // The address's tokens are now refused without a look-up, good ones
    // too; the admin token (compared in memory) still works.
    let (status, headers, body) = me_from(&app, token, "192.0.2.1:3").await;
    assert_problem(status, &body, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    let members = Request::get("/v1/members")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(from_peer(members, "192.0.2.1:4")).await.0,
        StatusCode::OK
    );
    // A request without a token was never an attempt: still 401.
    let anonymous = Request::get("/v1/me").body(Body::empty()).unwrap();
    let (status, _, body) = app.send(from_peer(anonymous, "192.0.2.1:5")).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    // Other addresses are not affected, nor is the router driven without
    // a socket.
    assert_eq!(me_from(&app, token, "192.0.2.2:1").await.0, StatusCode::OK);
    let (status, _, body) = me_from(&app, WRONG, "192.0.2.2:1").await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    for _ in 0..5 {
        let (status, _, body) = app.send(me(WRONG)).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn failed_bearer_tokens_are_limited_by_default() {
    let app = TestApp::sqlite().await;
    let default = RateLimitSettings::default().failed_auth_per_address;
    assert!(default > 0);
    for _ in 0..default {
        let (status, _, body) = me_from(&app, WRONG, "198.51.100.7:1").await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    }
    let (status, _, body) = me_from(&app, WRONG, "198.51.100.7:1").await;
    assert_problem(status, &body, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn unknown_access_tokens_count_as_failures() {
    let app = app_with(Database::sqlite(), |state| {
        state.with_rate_limits(RateLimitSettings {
            failed_auth_per_address: 1,
            ..RateLimitSettings::OFF
        })
    })
    .await;
    let wrong = "dct_not-an-access-token-anyone-holds-0123456789abc";
    let (status, _, body) = me_from(&app, wrong, "192.0.2.9:1").await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    let (status, _, body) = me_from(&app, wrong, "192.0.2.9:1").await;
    assert_problem(status, &body, StatusCode::TOO_MANY_REQUESTS);
}
