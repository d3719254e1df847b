//! The service layer: data, pairwise subjects, `POST /v1/access`, the
//! access log, the export, and leaving with the data erased.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::router::assert_problem;
use crate::support::{ADMIN, TestApp};

/// Approves a third party of `class` and returns (id, access token).
pub async fn third_party_with_token(app: &TestApp, class: &str) -> (String, String) {
    let (_, created) = app
        .call(
            Method::POST,
            "/v1/third-parties",
            Some(ADMIN),
            Some(json!({"name": "Reader", "class": class})),
        )
        .await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap()
    ));
    let request = Request::post("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let (status, _, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        created["id"].as_str().unwrap().to_owned(),
        body["access_token"].as_str().unwrap().to_owned(),
    )
}

pub async fn subject(app: &TestApp, member_token: &str, third_party: &str) -> String {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/me/connections",
            Some(member_token),
            Some(json!({"third_party": third_party})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["subject"].as_str().unwrap().to_owned()
}

pub async fn access(
    app: &TestApp,
    token: &str,
    subject: &str,
    categories: &[&str],
    purpose: &str,
) -> Value {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/access",
            Some(token),
            Some(json!({"subject": subject, "data_categories": categories, "purpose": purpose})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn third_parties_get_exactly_what_consent_allows_under_a_pairwise_subject() {
    reads_follow_consent(TestApp::sqlite().await).await;
}

#[tokio::test]
async fn third_parties_get_exactly_what_consent_allows_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    reads_follow_consent(app).await;
}

async fn reads_follow_consent(app: TestApp) {
    let (lab, lab_token) = third_party_with_token(&app, "academic").await;
    let (shop, shop_token) = third_party_with_token(&app, "commercial").await;
    let ada = app.enrol(Some("Ada"), "public").await;
    let token = ada["token"].as_str().unwrap();
    for (category, value) in [
        ("health.heart", json!({"bpm": 61})),
        ("health.sleep", json!([7.5, 6.0])),
        ("location", json!("Ghent")),
    ] {
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/v1/me/data/{category}"),
                Some(token),
                Some(value),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    app.rule(token, json!({"effect": "allow", "action": "access", "requester": {"class": "academic"}, "data_categories": ["health"], "purposes": ["research"]}))
        .await;
    let lab_subject = subject(&app, token, &lab).await;
    assert_eq!(
        subject(&app, token, &lab).await,
        lab_subject,
        "stable for the pair"
    );
    let shop_subject = subject(&app, token, &shop).await;
    assert_ne!(lab_subject, shop_subject, "unlinkable across third parties");

    let answer = access(
        &app,
        &lab_token,
        &lab_subject,
        &["health", "location"],
        "research.academic",
    )
    .await;
    assert_eq!(answer["decision"], "deny");
    assert_eq!(
        answer["data"],
        json!({"health.heart": {"bpm": 61}, "health.sleep": [7.5, 6.0]}),
        "a parent category gives its stored descendants"
    );
    assert_eq!(
        answer["categories"][0]["decided_by"],
        json!({"member": lab_subject})
    );
    assert_eq!(
        answer["categories"][0]["rules"],
        json!([]),
        "no rule ids for third parties"
    );
    assert!(
        !answer.to_string().contains(ada["id"].as_str().unwrap()),
        "the member's id never reaches a third party"
    );

    // Another third party's subject, or an unknown one, looks like no consent.
    let foreign = access(&app, &shop_token, &lab_subject, &["health"], "research").await;
    let unknown = access(&app, &shop_token, "sub_unknown", &["health"], "research").await;
    for answer in [&foreign, &unknown] {
        assert_eq!(answer["categories"][0]["reason"], "no_consent");
        assert_eq!(answer["data"], json!({}));
    }
    let own = access(&app, &shop_token, &shop_subject, &["health"], "research").await;
    assert_eq!(own["categories"][0]["reason"], "no_consent");
    assert_eq!(
        own["categories"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        foreign["categories"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );

    // The member sees every access, newest first.
    let (_, log) = app
        .call(Method::GET, "/v1/me/access-log?limit=1", Some(token), None)
        .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    assert_eq!(log["items"][0]["requester"], shop.as_str());
    let (_, all) = app
        .call(Method::GET, "/v1/me/access-log", Some(token), None)
        .await;
    let requesters: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["requester"].as_str().unwrap())
        .collect();
    assert_eq!(
        requesters,
        [shop.as_str(), lab.as_str()],
        "the foreign-subject call is not about Ada's data"
    );
    assert_eq!(
        all["items"][1]["categories"][1],
        json!({"category": "location", "decision": "deny", "reason": "no_consent"})
    );
}

#[tokio::test]
async fn tokens_stay_in_their_lane_and_bad_input_is_refused() {
    let app = TestApp::sqlite().await;
    let (_, lab_token) = third_party_with_token(&app, "academic").await;
    let ada = app.enrol(None, "public").await;
    let token = ada["token"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, "/v1/me/data"),
        (Method::GET, "/v1/me/export"),
        (Method::POST, "/v1/me/connections"),
    ] {
        let (status, problem) = app
            .call(method, path, Some(&lab_token), Some(json!({})))
            .await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN);
    }
    for bearer in [token, ADMIN] {
        let (status, problem) = app
            .call(
                Method::POST,
                "/v1/access",
                Some(bearer),
                Some(json!({"subject": "x", "data_categories": ["health"], "purpose": "research"})),
            )
            .await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN);
    }
    let (status, problem) = app
        .call(
            Method::PUT,
            "/v1/me/data/genome",
            Some(token),
            Some(json!(1)),
        )
        .await;
    assert_eq!(
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
        ["category"]
    );
    let (status, problem) = app
        .call(
            Method::PUT,
            "/v1/me/data/health",
            Some(token),
            Some(json!("x".repeat(70_000))),
        )
        .await;
    assert_problem(status, &problem, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/me/connections",
            Some(token),
            Some(json!({"third_party": "tp_00000000000000000000000000000000"})),
        )
        .await;
    assert_eq!(
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
        ["third_party"]
    );
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/access",
            Some(&lab_token),
            Some(json!({"subject": "x", "data_categories": ["genome"], "purpose": "fun"})),
        )
        .await;
    assert_eq!(
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
        ["data_categories[0]", "purpose"]
    );
    let (_, data) = app
        .call(Method::GET, "/v1/me/data", Some(token), None)
        .await;
    assert_eq!(data, json!({}), "nothing refused was stored");
}

#[tokio::test]
async fn the_export_holds_everything_and_leaving_erases_the_data_for_real() {
    let app = TestApp::sqlite().await;
    let (lab, lab_token) = third_party_with_token(&app, "academic").await;
    let ada = app.enrol(Some("Ada"), "public").await;
    let token = ada["token"].as_str().unwrap();
    let secret_value = "unmistakable-heart-reading-7d1e9c";
    app.call(
        Method::PUT,
        "/v1/me/data/health.heart",
        Some(token),
        Some(json!({"note": secret_value})),
    )
    .await;
    let rule = app.rule(token, json!({"effect": "allow", "action": "*", "requester": "*", "data_categories": ["health"], "purposes": ["research"]})).await;
    let sub = subject(&app, token, &lab).await;
    access(&app, &lab_token, &sub, &["health.heart"], "research").await;

    let (status, export) = app
        .call(Method::GET, "/v1/me/export", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["profile"]["id"], ada["id"]);
    assert_eq!(
        export["data"],
        json!({"health.heart": {"note": secret_value}})
    );
    assert_eq!(export["rules"], json!([rule]));
    assert_eq!(
        export["connections"],
        json!([{"third_party": lab, "subject": sub}])
    );
    assert_eq!(export["access_log"].as_array().unwrap().len(), 1);
    assert_eq!(export["access_log"][0]["decision"], "allow");

    let crate::support::Database::Sqlite(dir) = app.database.as_ref() else {
        unreachable!("sqlite")
    };
    let on_disk = |dir: &std::path::Path| {
        std::fs::read_dir(dir).unwrap().any(|entry| {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            bytes
                .windows(secret_value.len())
                .any(|window| window == secret_value.as_bytes())
        })
    };
    assert!(
        on_disk(dir.path()),
        "the scan finds the value while it is stored"
    );

    assert_eq!(
        app.call(Method::DELETE, "/v1/me", Some(token), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, problem) = app.call(Method::GET, "/v1/me", Some(token), None).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED);
    let gone = access(&app, &lab_token, &sub, &["health.heart"], "research").await;
    assert_eq!(
        gone["categories"][0]["reason"], "no_consent",
        "a departed member's subject looks like no consent"
    );
    // The value is gone from the database files themselves (secure_delete,
    // and the write-ahead log truncated), while the broker still runs.
    assert!(
        !on_disk(dir.path()),
        "the erased value lingers in the database files"
    );
}
