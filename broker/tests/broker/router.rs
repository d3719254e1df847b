//! The router driven in-process with `oneshot`: every status of the
//! contract's error table these endpoints can produce, and their shapes.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use datacoop_broker::http::HttpLimits;
use serde_json::{Value, json};

use crate::support::{ADMIN, TestApp, without_receipt};

/// Checks the RFC 9457 shape and returns the field names in `errors`.
pub fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode) -> Vec<String> {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:datacoop:problem:"),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn probes_answer_without_a_token() {
    let app = TestApp::sqlite().await;
    let (status, body) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["policies"], "ok");
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let app = TestApp::sqlite().await;
    app.store.close().await;
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"], "unreachable");
    // Liveness is not readiness.
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn missing_or_bad_tokens_are_401() {
    let app = TestApp::sqlite().await;
    for header in [
        None,
        Some("Bearer "),
        Some("Bearer nope"),
        Some(&format!("Basic {ADMIN}")[..]),
        Some(ADMIN),
    ] {
        let mut request = Request::get("/v1/members");
        if let Some(value) = header {
            request = request.header("authorization", value);
        }
        let (status, headers, body) = app.send(request.body(Body::empty()).unwrap()).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED);
        assert_eq!(headers["www-authenticate"], "Bearer");
        assert_eq!(headers["content-type"], "application/problem+json");
    }
    // The scheme is case-insensitive (RFC 7235).
    let request = Request::get("/v1/members").header("authorization", format!("bearer {ADMIN}"));
    assert_eq!(
        app.send(request.body(Body::empty()).unwrap()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_on_the_wrong_endpoint_are_403() {
    let app = TestApp::sqlite().await;
    let member = app.enrol(Some("Ada"), "public").await;
    let token = member["token"].as_str().unwrap();
    let forbidden = [
        (Method::GET, "/v1/members", None, token),
        (
            Method::POST,
            "/v1/members",
            Some(json!({"registry": "public"})),
            token,
        ),
        (
            Method::POST,
            "/v1/third-parties",
            Some(json!({"name": "X", "class": "academic"})),
            token,
        ),
        (Method::GET, "/v1/third-parties", None, token),
        (
            Method::PATCH,
            "/v1/third-parties/tp_00000000000000000000000000000000",
            Some(json!({"status": "active"})),
            token,
        ),
        (Method::GET, "/v1/me", None, ADMIN),
        (Method::PATCH, "/v1/me", Some(json!({})), ADMIN),
    ];
    for (method, path, body, token) in forbidden {
        let (status, body) = app.call(method.clone(), path, Some(token), body).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
    }
    // Nothing was created by the refused calls.
    let (_, listed) = app
        .call(Method::GET, "/v1/members", Some(ADMIN), None)
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_things_are_404_and_wrong_methods_405() {
    let app = TestApp::sqlite().await;
    let (status, body) = app.call(Method::GET, "/v2/anything", None, None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
    for id in [
        "tp_00000000000000000000000000000000",
        "mbr_00000000000000000000000000000000",
        "x",
    ] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/v1/third-parties/{id}"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = app
            .call(
                Method::PATCH,
                &format!("/v1/third-parties/{id}"),
                Some(ADMIN),
                Some(json!({"status": "suspended"})),
            )
            .await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
    }
    let (status, body) = app.call(Method::PUT, "/v1/me", Some(ADMIN), None).await;
    assert_problem(status, &body, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn malformed_bodies_are_400_and_wrong_types_415() {
    let app = TestApp::sqlite().await;
    for raw in ["{", "{\"registry\": \"public\"} extra", "nul"] {
        let request = Request::post("/v1/members")
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/json")
            .body(Body::from(raw))
            .unwrap();
        let (status, _, body) = app.send(request).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request =
            Request::post("/v1/members").header("authorization", format!("Bearer {ADMIN}"));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let (status, _, body) = app
            .send(
                request
                    .body(Body::from("{\"registry\":\"public\"}"))
                    .unwrap(),
            )
            .await;
        assert_problem(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let (_, listed) = app
        .call(Method::GET, "/v1/members", Some(ADMIN), None)
        .await;
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "refused requests create nothing"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = TestApp::sqlite_with_limits(HttpLimits {
        max_body_bytes: 1024,
        ..HttpLimits::default()
    })
    .await;
    let body = json!({"registry": "public", "display_name": "a".repeat(2000)});
    let (status, body) = app
        .call(Method::POST, "/v1/members", Some(ADMIN), Some(body))
        .await;
    assert_problem(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    // Just under the limit is parsed (and here refused for the name's length).
    let body = json!({"registry": "public", "display_name": "a".repeat(900)});
    let (status, body) = app
        .call(Method::POST, "/v1/members", Some(ADMIN), Some(body))
        .await;
    assert_eq!(
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY),
        ["display_name"]
    );
}

#[tokio::test]
async fn invalid_members_are_422_naming_the_field() {
    let app = TestApp::sqlite().await;
    let cases = [
        (json!({"registry": "secret"}), "registry"),
        (json!({"registry": 3}), "registry"),
        (json!({}), ""),
        (
            json!({"registry": "public", "display_name": ""}),
            "display_name",
        ),
        (
            json!({"registry": "public", "display_name": "x".repeat(101)}),
            "display_name",
        ),
        (
            json!({"registry": "public", "display_name": "a\u{7}b"}),
            "display_name",
        ),
        (
            json!({"registry": "public", "display_name": 7}),
            "display_name",
        ),
        (json!({"registry": "public", "id": "mbr_mine"}), "id"),
        (json!([]), ""),
    ];
    for (body, field) in cases {
        let (status, problem) = app
            .call(Method::POST, "/v1/members", Some(ADMIN), Some(body.clone()))
            .await;
        assert_eq!(
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{body}"
        );
    }
}

#[tokio::test]
async fn members_are_created_listed_and_anonymous_ones_nameless() {
    let app = TestApp::sqlite().await;
    let ada = app.enrol(Some("  Ada  "), "public").await;
    assert_eq!(ada["display_name"], "Ada", "names are trimmed");
    assert_eq!(ada["registry"], "public");
    assert_eq!(ada["accepts_delegations"], false);
    assert_eq!(
        ada["created_at"], "2026-03-01T12:00:00Z",
        "the clock is an input"
    );
    assert!(ada["id"].as_str().unwrap().starts_with("mbr_"));
    assert!(ada["token"].as_str().unwrap().starts_with("dcm_"));
    app.clock.advance(chrono::TimeDelta::seconds(5));
    let bo = app.enrol(Some("Bo"), "anonymous").await;
    assert_eq!(
        bo["display_name"], "Bo",
        "the steward who enrolled Bo sees the name once"
    );
    let nameless = app.enrol(None, "public").await;
    assert_eq!(nameless["display_name"], Value::Null);

    let (status, listed) = app
        .call(Method::GET, "/v1/members?limit=2", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0],
        json!({"id": ada["id"], "display_name": "Ada", "registry": "public", "created_at": "2026-03-01T12:00:00Z"})
    );
    assert_eq!(
        items[1],
        json!({"id": bo["id"], "registry": "anonymous", "created_at": "2026-03-01T12:00:05Z"})
    );
    assert!(items.iter().all(|item| item.get("token").is_none()));
    let cursor = listed["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .call(
            Method::GET,
            &format!("/v1/members?limit=2&cursor={cursor}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["id"], nameless["id"]);
    assert!(rest.get("next_cursor").is_none());

    for query in [
        "limit=0",
        "limit=201",
        "limit=x",
        "cursor=bogus",
        "sort=name",
    ] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/v1/members?{query}"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY).len(),
            1,
            "{query}"
        );
    }
}

#[tokio::test]
async fn members_read_and_change_their_own_profile() {
    let app = TestApp::sqlite().await;
    let ada = app.enrol(Some("Ada"), "public").await;
    let token = ada["token"].as_str().unwrap();
    let (status, me) = app.call(Method::GET, "/v1/me", Some(token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me,
        json!({"id": ada["id"], "display_name": "Ada", "registry": "public", "accepts_delegations": false, "created_at": "2026-03-01T12:00:00Z"})
    );

    let (status, me) = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(token),
            Some(json!({"accepts_delegations": true, "registry": "anonymous"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            me["accepts_delegations"].as_bool(),
            me["registry"].as_str(),
            me["display_name"].as_str()
        ),
        (Some(true), Some("anonymous"), Some("Ada"))
    );
    let (_, me) = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(token),
            Some(json!({"display_name": null})),
        )
        .await;
    assert_eq!(me["display_name"], Value::Null);
    assert_eq!(me["accepts_delegations"], true, "absent fields are kept");
    let (_, unchanged) = app
        .call(Method::PATCH, "/v1/me", Some(token), Some(json!({})))
        .await;
    assert_eq!(unchanged, me);

    for (body, field) in [
        (json!({"display_name": ""}), "display_name"),
        (json!({"registry": "hidden"}), "registry"),
        (json!({"accepts_delegations": "yes"}), "accepts_delegations"),
        (json!({"id": "mbr_other"}), "id"),
    ] {
        let (status, problem) = app
            .call(Method::PATCH, "/v1/me", Some(token), Some(body.clone()))
            .await;
        assert_eq!(
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{body}"
        );
    }
    let (_, after) = app.call(Method::GET, "/v1/me", Some(token), None).await;
    assert_eq!(after, me, "refused patches change nothing");
}

#[tokio::test]
async fn third_parties_are_approved_suspended_and_reinstated() {
    let app = TestApp::sqlite().await;
    let (status, created) = app
        .call(Method::POST, "/v1/third-parties", Some(ADMIN), Some(json!({"name": "Heart Study", "class": "academic", "webhook_url": "https://heart.example.org/hook"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "active");
    assert!(created["client_id"].as_str().unwrap().starts_with("dcc_"));
    assert!(
        created["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("dcs_")
    );
    let id = created["id"].as_str().unwrap();

    app.clock.advance(chrono::TimeDelta::minutes(1));
    let (status, suspended) = app
        .call(
            Method::PATCH,
            &format!("/v1/third-parties/{id}"),
            Some(ADMIN),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["updated_at"], "2026-03-01T12:01:00Z");
    assert!(
        suspended.get("client_secret").is_none(),
        "the secret is shown once"
    );
    let (_, shown) = app
        .call(
            Method::GET,
            &format!("/v1/third-parties/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(shown, without_receipt(suspended.clone()));
    let (_, reinstated) = app
        .call(
            Method::PATCH,
            &format!("/v1/third-parties/{id}"),
            Some(ADMIN),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(reinstated["status"], "active");
    let (_, listed) = app
        .call(Method::GET, "/v1/third-parties", Some(ADMIN), None)
        .await;
    assert_eq!(listed["items"], json!([without_receipt(reinstated)]));
}

#[tokio::test]
async fn invalid_third_parties_are_422_naming_every_field() {
    let app = TestApp::sqlite().await;
    let cases = [
        (json!({"name": "Lab", "class": "pirate"}), vec!["class"]),
        (json!({"name": "", "class": "academic"}), vec!["name"]),
        (
            json!({"name": "Lab", "class": "academic", "webhook_url": "http://example.org/x"}),
            vec!["webhook_url"],
        ),
        (
            json!({"name": "Lab", "class": "academic", "webhook_url": "not a url"}),
            vec!["webhook_url"],
        ),
        (
            json!({"name": " ", "class": "academic", "webhook_url": "ftp://x"}),
            vec!["name", "webhook_url"],
        ),
        (json!({"class": "academic"}), vec![""]),
        (
            json!({"name": "Lab", "class": "academic", "status": "active"}),
            vec!["status"],
        ),
    ];
    for (body, fields) in cases {
        let (status, problem) = app
            .call(
                Method::POST,
                "/v1/third-parties",
                Some(ADMIN),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
            fields,
            "{body}"
        );
    }
    let (status, problem) = app
        .call(
            Method::PATCH,
            "/v1/third-parties/tp_00000000000000000000000000000000",
            Some(ADMIN),
            Some(json!({"status": "banned"})),
        )
        .await;
    assert_eq!(
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
        ["status"]
    );
    let (_, listed) = app
        .call(Method::GET, "/v1/third-parties", Some(ADMIN), None)
        .await;
    assert!(listed["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_vocabulary_is_served_to_any_token() {
    let app = TestApp::sqlite().await;
    let member = app.enrol(None, "public").await;
    for token in [ADMIN, member["token"].as_str().unwrap()] {
        let (status, vocabulary) = app
            .call(Method::GET, "/v1/vocabulary", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let heart = vocabulary["data_categories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == "health.heart")
            .unwrap();
        assert_eq!(heart["parent"], "health");
        assert!(heart["label"].is_string());
        let root = vocabulary["purposes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == "research")
            .unwrap();
        assert_eq!(root["parent"], Value::Null);
        assert_eq!(
            vocabulary["requester_classes"],
            json!(["nonprofit", "academic", "public_body", "commercial"])
        );
    }
    let (status, body) = app.call(Method::GET, "/v1/vocabulary", None, None).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::sqlite().await;
    let (_, headers, _) = app
        .send(Request::get("/nowhere").body(Body::empty()).unwrap())
        .await;
    assert!(headers.contains_key("x-request-id"));
}
