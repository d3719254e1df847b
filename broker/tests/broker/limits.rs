//! Bounded resources (issue 8, item 4): what one member may hold is
//! capped (`DATACOOP_MAX_RULES_PER_OWNER`, `DATACOOP_MAX_DELEGATIONS_PER_MEMBER`,
//! `DATACOOP_MAX_DATA_BYTES_PER_MEMBER`); past a cap the call is a 422
//! that says so, and nothing changes.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use datacoop_broker::http::HttpLimits;
use datacoop_broker::store::Limits;
use serde_json::{Value, json};

use crate::router::assert_problem;
use crate::support::{ADMIN, Database, TestApp};

const LIMITS: Limits = Limits {
    rules_per_owner: 3,
    delegations_per_member: 2,
    data_bytes_per_member: 100,
    max_connections: datacoop_broker::store::DEFAULT_MAX_CONNECTIONS,
    acquire_timeout: std::time::Duration::from_secs(10),
};

fn rule(purpose: &str) -> Value {
    json!({"effect": "allow", "action": "*", "requester": "*", "data_categories": ["health"], "purposes": [purpose]})
}

fn assert_over_limit(status: StatusCode, problem: &Value, says: &str) {
    assert_problem(status, problem, StatusCode::UNPROCESSABLE_ENTITY);
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(says), "{problem}");
}

async fn caps_refuse_and_change_nothing(database: Database) {
    let app = TestApp::with_store_limits(Arc::new(database), HttpLimits::default(), LIMITS).await;
    let ada = app.enrol(Some("Ada"), "public").await;
    let token = ada["token"].as_str().unwrap();

    // Rules: three, then a refusal naming the cap; the list is unchanged.
    for purpose in ["research", "marketing", "public_interest"] {
        app.rule(token, rule(purpose)).await;
    }
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/me/rules",
            Some(token),
            Some(rule("service_provision")),
        )
        .await;
    assert_over_limit(status, &problem, "at most 3 rules");
    let (_, rules) = app
        .call(Method::GET, "/v1/me/rules", Some(token), None)
        .await;
    assert_eq!(rules.as_array().unwrap().len(), 3);
    // The co-op's rules have the same cap of their own.
    for purpose in ["research", "marketing", "public_interest"] {
        app.rule(ADMIN, json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["location.precise"], "purposes": [purpose]})).await;
    }
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/coop/rules",
            Some(ADMIN),
            Some(json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["location.precise"], "purposes": ["marketing.direct"]})),
        )
        .await;
    assert_over_limit(status, &problem, "at most 3 rules");

    // Delegations: two, then a refusal.
    let mut proxies = Vec::new();
    for name in ["Bo", "Cy", "Di"] {
        let proxy = app.enrol(Some(name), "public").await;
        app.call(
            Method::PATCH,
            "/v1/me",
            Some(proxy["token"].as_str().unwrap()),
            Some(json!({"accepts_delegations": true})),
        )
        .await;
        proxies.push(proxy);
    }
    for (proxy, category) in proxies.iter().zip(["health", "location"]) {
        let (status, body) = app
            .call(
                Method::POST,
                "/v1/me/delegations",
                Some(token),
                Some(json!({"to": {"member": proxy["id"]}, "data_categories": [category]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/me/delegations",
            Some(token),
            Some(json!({"to": {"member": proxies[2]["id"]}, "data_categories": ["financial"]})),
        )
        .await;
    assert_over_limit(status, &problem, "at most 2 delegations");
    let (_, delegations) = app
        .call(Method::GET, "/v1/me/delegations", Some(token), None)
        .await;
    assert_eq!(delegations.as_array().unwrap().len(), 2);

    // Data: 100 bytes in all; replacing a value counts it once.
    let value = json!("x".repeat(60)); // 62 bytes serialized
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/me/data/health",
            Some(token),
            Some(value.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/me/data/health",
            Some(token),
            Some(json!("y".repeat(90))),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a replaced value counts once"
    );
    let (status, problem) = app
        .call(
            Method::PUT,
            "/v1/me/data/location",
            Some(token),
            Some(json!("z".repeat(20))),
        )
        .await;
    assert_over_limit(status, &problem, "at most 100 bytes");
    let (_, data) = app
        .call(Method::GET, "/v1/me/data", Some(token), None)
        .await;
    assert_eq!(data, json!({"health": "y".repeat(90)}));
}

#[tokio::test]
async fn caps_refuse_and_change_nothing_on_sqlite() {
    caps_refuse_and_change_nothing(Database::sqlite()).await;
}

#[tokio::test]
async fn caps_refuse_and_change_nothing_on_postgres() {
    let Some(database) = Database::postgres().await else {
        return;
    };
    caps_refuse_and_change_nothing(database).await;
}
