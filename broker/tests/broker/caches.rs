//! Bounded resources (issue 8, item 4): the engine's caches keep only what
//! still exists. A member who leaves keeps no compiled slice, and a rule
//! text no owner uses any more keeps no compiled policy.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

async fn caches_forget_what_no_longer_exists(app: TestApp) {
    let lab = app.third_party("academic").await;
    let baseline_slices = app.engine.cached_slices();
    let baseline_policies = app.engine.evaluator().live_policies();
    let mut members = Vec::new();
    for index in 0..5 {
        let member = app.enrol(None, "anonymous").await;
        let token = member["token"].as_str().unwrap();
        // A rule text nobody else has.
        let rule = app
            .rule(
                token,
                json!({"effect": "allow", "action": "*", "requester": "*",
                       "data_categories": ["health"], "purposes": ["research"],
                       "expires_at": format!("2099-01-0{}T00:00:00Z", index + 1)}),
            )
            .await;
        app.decide(
            member["id"].as_str().unwrap(),
            &lab,
            "access",
            &["health"],
            "research",
        )
        .await;
        members.push((member, rule));
    }
    assert_eq!(app.engine.cached_slices(), baseline_slices + 5);
    assert_eq!(
        app.engine.evaluator().live_policies(),
        baseline_policies + 5
    );

    // Deleting a rule frees its compiled text once the owner's next
    // decision compiles the slice without it.
    let (first, rule) = &members[0];
    let token = first["token"].as_str().unwrap();
    let path = format!("/v1/me/rules/{}", rule["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &path, Some(token), None).await.0,
        StatusCode::NO_CONTENT
    );
    app.decide(
        first["id"].as_str().unwrap(),
        &lab,
        "access",
        &["health"],
        "research",
    )
    .await;
    assert_eq!(
        app.engine.evaluator().live_policies(),
        baseline_policies + 4
    );

    // Leaving drops the member's slice and, with it, their rules' texts.
    for (member, _) in &members[1..] {
        let token = member["token"].as_str().unwrap();
        assert_eq!(
            app.call(Method::DELETE, "/v1/me", Some(token), None)
                .await
                .0,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(app.engine.cached_slices(), baseline_slices + 1);
    assert_eq!(app.engine.evaluator().live_policies(), baseline_policies);
}

#[tokio::test]
async fn caches_forget_what_no_longer_exists_on_sqlite() {
    caches_forget_what_no_longer_exists(TestApp::sqlite().await).await;
}

#[tokio::test]
async fn caches_forget_what_no_longer_exists_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    caches_forget_what_no_longer_exists(app).await;
}
