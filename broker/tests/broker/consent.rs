//! The consent engine through the HTTP interface: rules, co-op rules,
//! personas, decisions and explanations (consent-semantics §2, §4, §5).

use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::router::assert_problem;
use crate::support::{ADMIN, TestApp, without_receipt};

fn allow_health_research_to_academics() -> Value {
    json!({"effect": "allow", "action": "access", "requester": {"class": "academic"}, "data_categories": ["health"], "purposes": ["research"]})
}

/// §6 #1: with no rule at all, nothing is shared.
#[tokio::test]
async fn example_1_nothing_is_shared_without_a_matching_allow() {
    let app = TestApp::sqlite().await;
    let t = app.third_party("academic").await;
    let a = app.enrol(Some("A"), "public").await;
    let a_id = a["id"].as_str().unwrap();
    let decision = app
        .decide(a_id, &t, "access", &["health.heart"], "research")
        .await;
    assert_eq!(
        decision,
        json!({
            "decision": "deny",
            "categories": [{"category": "health.heart", "decision": "deny", "reason": "no_consent",
                            "decided_by": {"member": a_id}, "chain": [a_id], "rules": []}],
            "evaluated_at": "2026-03-01T12:00:00Z"
        })
    );
}

/// §6 #2: an allow of `health` for `research` to academics covers
/// `health.heart` for `research.academic`.
#[tokio::test]
async fn example_2_a_parent_allow_covers_the_child_request() {
    let app = TestApp::sqlite().await;
    let t = app.third_party("academic").await;
    let a = app.enrol(Some("A"), "public").await;
    let a_id = a["id"].as_str().unwrap();
    let rule = app
        .rule(
            a["token"].as_str().unwrap(),
            allow_health_research_to_academics(),
        )
        .await;
    let decision = app
        .decide(a_id, &t, "access", &["health.heart"], "research.academic")
        .await;
    assert_eq!(decision["decision"], "allow");
    assert_eq!(
        decision["categories"][0],
        json!({"category": "health.heart", "decision": "allow", "reason": "allowed",
               "decided_by": {"member": a_id}, "chain": [a_id], "rules": [rule["id"]]})
    );
}

/// §6 #3: #2 plus a deny of `health.heart` for `*` denies a request for
/// all of `health`.
#[tokio::test]
async fn example_3_a_child_deny_denies_the_parent_request() {
    let app = TestApp::sqlite().await;
    let t = app.third_party("academic").await;
    let a = app.enrol(Some("A"), "public").await;
    let (a_id, token) = (a["id"].as_str().unwrap(), a["token"].as_str().unwrap());
    let allow = app.rule(token, allow_health_research_to_academics()).await;
    let deny = app
        .rule(token, json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["health.heart"], "purposes": ["*"]}))
        .await;
    let decision = app
        .decide(a_id, &t, "access", &["health"], "research")
        .await;
    let category = &decision["categories"][0];
    assert_eq!(decision["decision"], "deny");
    assert_eq!(category["reason"], "denied_by_rule");
    assert_eq!(category["decided_by"], json!({"member": a_id}));
    assert_eq!(category["chain"], json!([a_id]));
    assert_eq!(
        category["rules"],
        json!([deny["id"], allow["id"]]),
        "the deny first, then every other matching rule"
    );
}

#[tokio::test]
async fn rules_carry_their_cedar_and_list_and_delete() {
    let app = TestApp::sqlite().await;
    let a = app.enrol(None, "public").await;
    let token = a["token"].as_str().unwrap();
    let rule = app.rule(token, allow_health_research_to_academics()).await;
    assert!(rule["id"].as_str().unwrap().starts_with("rul_"));
    assert_eq!(rule["created_at"], "2026-03-01T12:00:00Z");
    let cedar = rule["cedar"].as_str().unwrap();
    assert!(
        cedar.starts_with(&format!(
            "@id(\"{}\")\npermit (",
            rule["id"].as_str().unwrap()
        )),
        "{cedar}"
    );
    assert!(
        cedar.contains("resource in [DataCategory::\"health\"]"),
        "{cedar}"
    );
    assert!(
        cedar.contains("context.purpose in [Purpose::\"research\"]"),
        "{cedar}"
    );
    assert!(
        cedar.contains("context.requester_class == RequesterClass::\"academic\""),
        "{cedar}"
    );

    let (status, listed) = app
        .call(Method::GET, "/v1/me/rules", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!([rule]));

    let path = format!("/v1/me/rules/{}", rule["id"].as_str().unwrap());
    let (status, body) = app.call(Method::DELETE, &path, Some(token), None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, problem) = app.call(Method::DELETE, &path, Some(token), None).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
    let (_, listed) = app
        .call(Method::GET, "/v1/me/rules", Some(token), None)
        .await;
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn another_members_rule_is_404_and_untouched() {
    let app = TestApp::sqlite().await;
    let a = app.enrol(None, "public").await;
    let b = app.enrol(None, "public").await;
    let rule = app
        .rule(
            a["token"].as_str().unwrap(),
            allow_health_research_to_academics(),
        )
        .await;
    let path = format!("/v1/me/rules/{}", rule["id"].as_str().unwrap());
    let (status, problem) = app
        .call(Method::DELETE, &path, b["token"].as_str(), None)
        .await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
    // A co-op delete cannot reach a member's rule either.
    let coop_path = format!("/v1/coop/rules/{}", rule["id"].as_str().unwrap());
    let (status, problem) = app
        .call(Method::DELETE, &coop_path, Some(ADMIN), None)
        .await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
    let (_, listed) = app
        .call(Method::GET, "/v1/me/rules", a["token"].as_str(), None)
        .await;
    assert_eq!(listed, json!([rule]));
    let (_, others) = app
        .call(Method::GET, "/v1/me/rules", b["token"].as_str(), None)
        .await;
    assert_eq!(others, json!([]));
}

#[tokio::test]
async fn invalid_rules_are_422_naming_the_field_and_change_nothing() {
    let app = TestApp::sqlite().await;
    let a = app.enrol(None, "public").await;
    let token = a["token"].as_str().unwrap();
    let with = |patch: Value| {
        let mut rule = allow_health_research_to_academics();
        for (key, value) in patch.as_object().unwrap() {
            if value.is_null() {
                rule.as_object_mut().unwrap().remove(key);
            } else {
                rule[key] = value.clone();
            }
        }
        rule
    };
    let cases = [
        (
            with(json!({"data_categories": ["genome"]})),
            vec!["data_categories[0]"],
        ),
        (
            with(json!({"purposes": ["research", "fun"]})),
            vec!["purposes[1]"],
        ),
        (
            with(json!({"requester": {"class": "pirates"}})),
            vec!["requester.class"],
        ),
        (
            with(json!({"requester": {"third_party": "tp_00000000000000000000000000000000"}})),
            vec!["requester.third_party"],
        ),
        (
            with(json!({"requester": {"third_party": "nonsense"}})),
            vec!["requester.third_party"],
        ),
        (with(json!({"requester": "everyone"})), vec!["requester"]),
        (
            with(json!({"requester": {"class": "academic", "third_party": "x"}})),
            vec!["requester"],
        ),
        (
            with(json!({"data_categories": []})),
            vec!["data_categories"],
        ),
        (with(json!({"purposes": []})), vec!["purposes"]),
        (
            with(json!({"expires_at": "2026-03-01T12:00:00Z"})),
            vec!["expires_at"],
        ),
        (
            with(json!({"expires_at": "2025-01-01T00:00:00Z"})),
            vec!["expires_at"],
        ),
        (
            with(
                json!({"not_before": "2026-04-02T00:00:00Z", "expires_at": "2026-04-01T00:00:00Z"}),
            ),
            vec!["not_before"],
        ),
        (with(json!({"expires_at": "tomorrow"})), vec!["expires_at"]),
        (with(json!({"effect": "maybe"})), vec!["effect"]),
        (with(json!({"action": "read"})), vec!["action"]),
        (
            with(json!({"cedar": "permit(principal, action, resource);"})),
            vec!["cedar"],
        ),
        (with(json!({"effect": null})), vec![""]),
        (
            with(json!({"data_categories": ["genome"], "purposes": ["fun"]})),
            vec!["data_categories[0]", "purposes[0]"],
        ),
    ];
    for (body, fields) in cases {
        let (status, problem) = app
            .call(
                Method::POST,
                "/v1/me/rules",
                Some(token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
            fields,
            "{body}"
        );
    }
    let (_, listed) = app
        .call(Method::GET, "/v1/me/rules", Some(token), None)
        .await;
    assert_eq!(listed, json!([]), "refused rules are not stored");
}

#[tokio::test]
async fn coop_rules_only_deny_and_only_stewards_set_them() {
    let app = TestApp::sqlite().await;
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/coop/rules",
            Some(ADMIN),
            Some(allow_health_research_to_academics()),
        )
        .await;
    assert_eq!(
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
        ["effect"]
    );
    let deny = json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["*"], "purposes": ["marketing"]});
    let member = app.enrol(None, "public").await;
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/coop/rules",
            member["token"].as_str(),
            Some(deny.clone()),
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN);
    let rule = app.rule(ADMIN, deny).await;
    assert!(rule["cedar"].as_str().unwrap().starts_with(&format!(
        "@id(\"{}\")\nforbid (",
        rule["id"].as_str().unwrap()
    )));
    let (_, listed) = app
        .call(Method::GET, "/v1/coop/rules", Some(ADMIN), None)
        .await;
    assert_eq!(listed, json!([rule]));
    let path = format!("/v1/coop/rules/{}", rule["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &path, Some(ADMIN), None).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, listed) = app
        .call(Method::GET, "/v1/coop/rules", Some(ADMIN), None)
        .await;
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn personas_hold_rules_and_everyone_can_read_them() {
    let app = TestApp::sqlite().await;
    let body = json!({
        "name": "Research friendly",
        "description": "Shares health and activity data with academic and public-interest research.",
        "rules": [
            {"effect": "allow", "action": "*", "requester": {"class": "academic"}, "data_categories": ["health"], "purposes": ["research"]},
            {"effect": "deny", "action": "*", "requester": "*", "data_categories": ["*"], "purposes": ["marketing"]}
        ]
    });
    let (status, persona) = app
        .call(Method::POST, "/v1/personas", Some(ADMIN), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{persona}");
    let persona = without_receipt(persona);
    assert!(persona["id"].as_str().unwrap().starts_with("per_"));
    assert_eq!(persona["rules"].as_array().unwrap().len(), 2);
    assert!(
        persona["rules"][1]["cedar"]
            .as_str()
            .unwrap()
            .contains("forbid")
    );
    let member = app.enrol(None, "public").await;
    for token in [ADMIN, member["token"].as_str().unwrap()] {
        let (status, listed) = app
            .call(Method::GET, "/v1/personas", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed, json!([persona]));
    }
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/personas",
            member["token"].as_str(),
            Some(json!({"name": "x", "description": "y", "rules": []})),
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN);

    let invalid = json!({
        "name": " ",
        "description": "",
        "rules": [
            {"effect": "allow", "action": "*", "requester": "*", "data_categories": ["health"], "purposes": ["research"]},
            {"effect": "allow", "action": "*", "requester": "*", "data_categories": ["health"], "purposes": ["fun"]}
        ]
    });
    let (status, problem) = app
        .call(Method::POST, "/v1/personas", Some(ADMIN), Some(invalid))
        .await;
    assert_eq!(
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
        ["name", "description", "rules[1].purposes[0]"]
    );
    let (_, listed) = app
        .call(Method::GET, "/v1/personas", Some(ADMIN), None)
        .await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "the refused persona was not stored"
    );
}

#[tokio::test]
async fn decision_requests_are_validated() {
    let app = TestApp::sqlite().await;
    let t = app.third_party("academic").await;
    let a = app.enrol(None, "public").await;
    let a_id = a["id"].as_str().unwrap();
    let base = json!({"member": a_id, "requester": t, "action": "access", "data_categories": ["health"], "purpose": "research"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (with("data_categories", json!([])), vec!["data_categories"]),
        (
            with("data_categories", json!(["health", "genome"])),
            vec!["data_categories[1]"],
        ),
        (with("purpose", json!("fun")), vec!["purpose"]),
        (with("action", json!("*")), vec!["action"]),
        (with("action", json!("read")), vec!["action"]),
        (with("extra", json!(1)), vec!["extra"]),
    ];
    for (body, fields) in cases {
        let (status, problem) = app
            .call(
                Method::POST,
                "/v1/decisions",
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
            Method::POST,
            "/v1/decisions",
            a["token"].as_str(),
            Some(base),
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn members_explain_hypothetical_requests_about_their_own_data() {
    let app = TestApp::sqlite().await;
    let t = app.third_party("academic").await;
    let a = app.enrol(None, "public").await;
    let (a_id, token) = (a["id"].as_str().unwrap(), a["token"].as_str().unwrap());
    let rule = app.rule(token, allow_health_research_to_academics()).await;
    let question = json!({"requester": t, "action": "access", "data_categories": ["health.sleep", "location"], "purpose": "research.academic"});
    let (status, explained) = app
        .call(
            Method::POST,
            "/v1/me/explain",
            Some(token),
            Some(question.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        explained,
        json!({
            "decision": "deny",
            "categories": [
                {"category": "health.sleep", "decision": "allow", "reason": "allowed", "decided_by": {"member": a_id}, "chain": [a_id], "rules": [rule["id"]]},
                {"category": "location", "decision": "deny", "reason": "no_consent", "decided_by": {"member": a_id}, "chain": [a_id], "rules": []}
            ],
            "evaluated_at": "2026-03-01T12:00:00Z"
        })
    );
    // The same question from a steward gives the same answer.
    let mut as_admin = question.clone();
    as_admin["member"] = json!(a_id);
    let (_, decided) = app
        .call(Method::POST, "/v1/decisions", Some(ADMIN), Some(as_admin))
        .await;
    assert_eq!(decided, explained);
    // A member cannot ask about someone else: the body has no member field.
    let mut about_other = question;
    about_other["member"] = json!("mbr_00000000000000000000000000000000");
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/me/explain",
            Some(token),
            Some(about_other),
        )
        .await;
    assert_eq!(
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
        ["member"]
    );
    let (status, problem) = app
        .call(Method::POST, "/v1/me/explain", Some(ADMIN), Some(json!({})))
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN);
}

/// §4: revoking changes the very next decision, under concurrent load.
async fn revocation_is_seen_by_the_very_next_decision(app: &TestApp, other: &TestApp) {
    let t = app.third_party("academic").await;
    let a = app.enrol(None, "public").await;
    let (a_id, token) = (
        a["id"].as_str().unwrap().to_owned(),
        a["token"].as_str().unwrap().to_owned(),
    );
    // Background decisions keep both replicas' caches busy.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut background = Vec::new();
    for replica in [app, other] {
        let router = replica.router.clone();
        let stop = std::sync::Arc::clone(&stop);
        let body = json!({"member": a_id, "requester": t, "action": "access", "data_categories": ["health"], "purpose": "research"});
        background.push(tokio::spawn(async move {
            let mut decided = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let request = Request::post("/v1/decisions")
                    .header("authorization", format!("Bearer {ADMIN}"))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(body.to_string()))
                    .unwrap();
                let response = tower::ServiceExt::oneshot(router.clone(), request)
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                decided += 1;
            }
            decided
        }));
    }
    for round in 0..15 {
        let rule = app.rule(&token, allow_health_research_to_academics()).await;
        for replica in [app, other] {
            let decision = replica
                .decide(&a_id, &t, "access", &["health"], "research")
                .await;
            assert_eq!(
                decision["decision"], "allow",
                "round {round}: the new rule is seen at once"
            );
        }
        let coop = app
            .rule(ADMIN, json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["health.condition"], "purposes": ["*"]}))
            .await;
        for replica in [app, other] {
            let decision = replica
                .decide(&a_id, &t, "access", &["health"], "research")
                .await;
            assert_eq!(
                decision["categories"][0]["reason"], "coop_policy",
                "round {round}: the co-op rule is seen at once"
            );
        }
        let path = format!("/v1/coop/rules/{}", coop["id"].as_str().unwrap());
        assert_eq!(
            app.call(Method::DELETE, &path, Some(ADMIN), None).await.0,
            StatusCode::NO_CONTENT
        );
        let path = format!("/v1/me/rules/{}", rule["id"].as_str().unwrap());
        assert_eq!(
            app.call(Method::DELETE, &path, Some(&token), None).await.0,
            StatusCode::NO_CONTENT
        );
        for replica in [other, app] {
            let decision = replica
                .decide(&a_id, &t, "access", &["health"], "research")
                .await;
            assert_eq!(
                decision["categories"][0]["reason"], "no_consent",
                "round {round}: the revocation is seen at once"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in background {
        assert!(task.await.unwrap() > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_your_writes_on_sqlite_under_concurrent_decisions() {
    // One process serves an SQLite file; its decisions read the mirror.
    let app = TestApp::sqlite().await;
    revocation_is_seen_by_the_very_next_decision(&app, &app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_your_writes_on_postgres_across_two_replicas() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    // No listener warms the replica: its decisions read the change feed
    // themselves (one query), or this fails.
    let replica = app.replica_without_listener().await;
    revocation_is_seen_by_the_very_next_decision(&app, &replica).await;
}

#[tokio::test]
async fn a_restarted_broker_decides_as_before() {
    let app = TestApp::sqlite().await;
    let t = app.third_party("academic").await;
    let a = app.enrol(None, "public").await;
    let a_id = a["id"].as_str().unwrap();
    app.rule(
        a["token"].as_str().unwrap(),
        allow_health_research_to_academics(),
    )
    .await;
    app.rule(ADMIN, json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["health.condition"], "purposes": ["*"]}))
        .await;
    let before = app
        .decide(
            a_id,
            &t,
            "access",
            &["health.heart", "health.condition"],
            "research",
        )
        .await;
    // A new application on the same database loads the rules at start.
    let database = std::sync::Arc::clone(&app.database);
    drop(app);
    let restarted = TestApp::on(database, datacoop_broker::http::HttpLimits::default()).await;
    let after = restarted
        .decide(
            a_id,
            &t,
            "access",
            &["health.heart", "health.condition"],
            "research",
        )
        .await;
    assert_eq!(after, before);
    assert_eq!(after["categories"][0]["decision"], "allow");
    assert_eq!(after["categories"][1]["reason"], "coop_policy");
}
