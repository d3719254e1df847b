//! `POST /oauth2/token` (RFC 6749 §4.4) and third-party access tokens.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::router::assert_problem;
use crate::support::{ADMIN, TestApp};

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

async fn token_request(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    form: &str,
) -> (StatusCode, HeaderMap, Value) {
    let mut request =
        Request::post("/oauth2/token").header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        request = request.header("authorization", format!("Basic {encoded}"));
    }
    app.send(request.body(Body::from(form.to_owned())).unwrap())
        .await
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
