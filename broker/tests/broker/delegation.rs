//! Delegation through the HTTP interface (consent-semantics §3 and §4):
//! the endpoints, long chains, rings, liveness, and randomized co-ops
//! checked against a model of the spec.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::router::assert_problem;
use crate::support::{ADMIN, TestApp, without_receipt};

mod randomized;

async fn member(app: &TestApp, accepts: bool) -> (String, String) {
    let body = app.enrol(None, "public").await;
    let token = body["token"].as_str().unwrap().to_owned();
    if accepts {
        let (status, _) = app
            .call(
                Method::PATCH,
                "/v1/me",
                Some(&token),
                Some(json!({"accepts_delegations": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    (body["id"].as_str().unwrap().to_owned(), token)
}

async fn delegate(app: &TestApp, token: &str, to: &str) -> Value {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/me/delegations",
            Some(token),
            Some(json!({"to": {"member": to}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn allow_all() -> Value {
    json!({"effect": "allow", "action": "*", "requester": "*", "data_categories": ["*"], "purposes": ["research"]})
}

#[tokio::test]
async fn delegations_are_created_listed_revoked_and_carry_cedar() {
    let app = TestApp::sqlite().await;
    let (a, a_token) = member(&app, false).await;
    let (b, b_token) = member(&app, true).await;
    let created = delegate(&app, &a_token, &b).await;
    assert!(created["id"].as_str().unwrap().starts_with("dlg_"));
    assert_eq!(created["to"], json!({"member": b}));
    assert_eq!(created["data_categories"], json!(["*"]));
    assert_eq!(created["purposes"], json!(["*"]));
    assert_eq!(created["active"], true);
    let cedar = created["cedar"].as_str().unwrap();
    assert!(
        cedar.contains(&format!("principal == Member::\"{b}\"")),
        "{cedar}"
    );
    assert!(
        cedar.contains("action == Action::\"decide_for\""),
        "{cedar}"
    );
    assert!(
        cedar.contains(&format!("resource == Member::\"{a}\"")),
        "{cedar}"
    );

    let (_, listed) = app
        .call(Method::GET, "/v1/me/delegations", Some(&a_token), None)
        .await;
    assert_eq!(listed, json!([without_receipt(created.clone())]));
    // The proxy opts out: the delegation stays, inactive.
    app.call(
        Method::PATCH,
        "/v1/me",
        Some(&b_token),
        Some(json!({"accepts_delegations": false})),
    )
    .await;
    let (_, listed) = app
        .call(Method::GET, "/v1/me/delegations", Some(&a_token), None)
        .await;
    assert_eq!(listed[0]["active"], false);

    let path = format!("/v1/me/delegations/{}", created["id"].as_str().unwrap());
    let (status, problem) = app.call(Method::DELETE, &path, Some(&b_token), None).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&a_token), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, problem) = app.call(Method::DELETE, &path, Some(&a_token), None).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_delegations_are_refused_and_change_nothing() {
    let app = TestApp::sqlite().await;
    let (a, a_token) = member(&app, true).await;
    let (b, _) = member(&app, true).await;
    let (closed, _) = member(&app, false).await;
    let cases = [
        (json!({"to": {"member": a}}), "to.member"),
        (json!({"to": {"member": closed}}), "to.member"),
        (
            json!({"to": {"member": "mbr_00000000000000000000000000000000"}}),
            "to.member",
        ),
        (json!({"to": {"member": "nobody"}}), "to.member"),
        (
            json!({"to": {"persona": "per_00000000000000000000000000000000"}}),
            "to.persona",
        ),
        (
            json!({"to": {"member": b}, "data_categories": []}),
            "data_categories",
        ),
        (
            json!({"to": {"member": b}, "data_categories": ["genome"]}),
            "data_categories[0]",
        ),
        (
            json!({"to": {"member": b}, "purposes": ["research", "fun"]}),
            "purposes[1]",
        ),
        (json!({"to": {"team": b}}), "to"),
        (json!({"to": {"member": b}, "extra": true}), "extra"),
    ];
    for (body, field) in cases {
        let (status, problem) = app
            .call(
                Method::POST,
                "/v1/me/delegations",
                Some(&a_token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{body}"
        );
    }
    let (_, listed) = app
        .call(Method::GET, "/v1/me/delegations", Some(&a_token), None)
        .await;
    assert_eq!(listed, json!([]));

    // One delegation per identical scope: order and repeats do not matter.
    let first = json!({"to": {"member": b}, "data_categories": ["health", "location"]});
    assert_eq!(
        app.call(
            Method::POST,
            "/v1/me/delegations",
            Some(&a_token),
            Some(first)
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let same = json!({"to": {"member": b}, "data_categories": ["location", "health", "health"], "purposes": ["*"]});
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/me/delegations",
            Some(&a_token),
            Some(same),
        )
        .await;
    assert_problem(status, &problem, StatusCode::CONFLICT);
    let (_, listed) = app
        .call(Method::GET, "/v1/me/delegations", Some(&a_token), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn delegators_are_counted_and_only_public_ones_named() {
    let app = TestApp::sqlite().await;
    let (proxy, proxy_token) = member(&app, true).await;
    let public = app.enrol(None, "public").await;
    let anonymous = app.enrol(None, "anonymous").await;
    for delegator in [&public, &anonymous] {
        delegate(&app, delegator["token"].as_str().unwrap(), &proxy).await;
    }
    let (status, delegators) = app
        .call(Method::GET, "/v1/me/delegators", Some(&proxy_token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(delegators, json!({"count": 2, "public": [public["id"]]}));
}

#[tokio::test]
async fn chains_deny_past_the_depth_limit_and_rings_of_any_size() {
    let app = TestApp::sqlite().await;
    let t = app.third_party("academic").await;
    // 18 members: m0 -> m1 -> ... -> m17, and only m17 has a rule.
    let mut members = Vec::new();
    for _ in 0..18 {
        members.push(member(&app, true).await);
    }
    for pair in members.windows(2) {
        delegate(&app, &pair[0].1, &pair[1].0).await;
    }
    app.rule(&members[17].1, allow_all()).await;
    // From m1 the chain takes 16 hops: allowed by m17.
    let decision = app
        .decide(&members[1].0, &t, "access", &["health"], "research")
        .await;
    let category = &decision["categories"][0];
    assert_eq!(category["reason"], "allowed", "{decision}");
    assert_eq!(category["chain"].as_array().unwrap().len(), 17);
    assert_eq!(category["decided_by"], json!({"member": members[17].0}));
    // From m0 it would take 17: too deep.
    let decision = app
        .decide(&members[0].0, &t, "access", &["health"], "research")
        .await;
    assert_eq!(
        decision["categories"][0]["reason"], "delegation_too_deep",
        "{decision}"
    );

    // A ring of six silent members.
    let mut ring = Vec::new();
    for _ in 0..6 {
        ring.push(member(&app, true).await);
    }
    for index in 0..6 {
        delegate(&app, &ring[index].1, &ring[(index + 1) % 6].0).await;
    }
    let decision = app
        .decide(&ring[2].0, &t, "access", &["health"], "research")
        .await;
    let category = &decision["categories"][0];
    assert_eq!(category["reason"], "delegation_cycle", "{decision}");
    let chain: Vec<&str> = category["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let expected: Vec<&str> = (0..7).map(|step| ring[(2 + step) % 6].0.as_str()).collect();
    assert_eq!(chain, expected);
    // A ring of two.
    let (x, x_token) = member(&app, true).await;
    let (y, y_token) = member(&app, true).await;
    delegate(&app, &x_token, &y).await;
    delegate(&app, &y_token, &x).await;
    let decision = app
        .decide(&x, &t, "access", &["location"], "research")
        .await;
    assert_eq!(decision["categories"][0]["chain"], json!([x, y, x]));
    assert_eq!(decision["categories"][0]["reason"], "delegation_cycle");
}

#[tokio::test]
async fn a_proxy_opting_out_mid_chain_cuts_the_chain_there() {
    let app = TestApp::sqlite().await;
    let t = app.third_party("academic").await;
    let (a, a_token) = member(&app, false).await;
    let (b, b_token) = member(&app, true).await;
    let (c, c_token) = member(&app, true).await;
    delegate(&app, &a_token, &b).await;
    delegate(&app, &b_token, &c).await;
    let rule = app.rule(&c_token, allow_all()).await;
    let decide = || app.decide(&a, &t, "access", &["health"], "research");
    assert_eq!(decide().await["categories"][0]["chain"], json!([a, b, c]));
    // B stops accepting: A's delegation to B is inactive, so A is silent.
    app.call(
        Method::PATCH,
        "/v1/me",
        Some(&b_token),
        Some(json!({"accepts_delegations": false})),
    )
    .await;
    let cut = decide().await;
    assert_eq!(cut["categories"][0]["reason"], "no_consent");
    assert_eq!(cut["categories"][0]["chain"], json!([a]));
    // B accepts again: the chain is whole again, at once.
    app.call(
        Method::PATCH,
        "/v1/me",
        Some(&b_token),
        Some(json!({"accepts_delegations": true})),
    )
    .await;
    assert_eq!(decide().await["categories"][0]["reason"], "allowed");
    // C's rule change reaches A's very next decision.
    let path = format!("/v1/me/rules/{}", rule["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&c_token), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let after = decide().await;
    assert_eq!(after["categories"][0]["reason"], "no_consent");
    assert_eq!(after["categories"][0]["decided_by"], json!({"member": c}));
    // C leaves: B's delegation is inactive, B is silent.
    app.rule(&c_token, allow_all()).await;
    assert_eq!(
        app.call(Method::DELETE, "/v1/me", Some(&c_token), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let left = decide().await;
    assert_eq!(left["categories"][0]["decided_by"], json!({"member": b}));
    assert_eq!(left["categories"][0]["reason"], "no_consent");
    // A member who left cannot call anything any more.
    let (status, problem) = app.call(Method::GET, "/v1/me", Some(&c_token), None).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED);
}

/// The §6 setup: an academic third party `T` and members who accept
/// delegations.
async fn section6() -> (TestApp, String) {
    let app = TestApp::sqlite().await;
    let t = app.third_party("academic").await;
    (app, t)
}

async fn only_category(
    app: &TestApp,
    member: &str,
    t: &str,
    category: &str,
    purpose: &str,
) -> Value {
    app.decide(member, t, "access", &[category], purpose).await["categories"][0].clone()
}

/// §6 #4: A delegates `*` to B; B allows `*`/research to `*`.
async fn example_4(app: &TestApp) -> ((String, String), (String, String), Value) {
    let a = member(app, false).await;
    let b = member(app, true).await;
    delegate(app, &a.1, &b.0).await;
    let rule = app.rule(&b.1, allow_all()).await;
    (a, b, rule)
}

#[tokio::test]
async fn example_4_a_silent_members_proxy_decides() {
    let (app, t) = section6().await;
    let ((a, _), (b, _), rule) = example_4(&app).await;
    let decided = only_category(&app, &a, &t, "location", "research").await;
    assert_eq!(
        decided,
        json!({"category": "location", "decision": "allow", "reason": "allowed", "decided_by": {"member": b},
               "chain": [a, b], "rules": [rule["id"]]})
    );
}

#[tokio::test]
async fn example_5_the_members_own_opinion_beats_the_proxys() {
    let (app, t) = section6().await;
    let ((a, a_token), _, _) = example_4(&app).await;
    let deny = app
        .rule(&a_token, json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["location"], "purposes": ["research"]}))
        .await;
    let decided = only_category(&app, &a, &t, "location", "research").await;
    assert_eq!(
        decided,
        json!({"category": "location", "decision": "deny", "reason": "denied_by_rule", "decided_by": {"member": a},
               "chain": [a], "rules": [deny["id"]]})
    );
}

#[tokio::test]
async fn example_6_the_deepest_covering_delegation_applies() {
    let (app, t) = section6().await;
    let (a, a_token) = member(&app, false).await;
    let (b, b_token) = member(&app, true).await;
    let (c, c_token) = member(&app, true).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/me/delegations",
            Some(&a_token),
            Some(json!({"to": {"member": b}, "data_categories": ["health"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    delegate(&app, &a_token, &c).await;
    let b_rule = app
        .rule(&b_token, json!({"effect": "allow", "action": "*", "requester": "*", "data_categories": ["health"], "purposes": ["*"]}))
        .await;
    app.rule(&c_token, json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["*"], "purposes": ["*"]}))
        .await;
    let decided = only_category(&app, &a, &t, "health.heart", "marketing").await;
    assert_eq!(decided["decision"], "allow");
    assert_eq!(decided["decided_by"], json!({"member": b}));
    assert_eq!(decided["chain"], json!([a, b]));
    assert_eq!(decided["rules"], json!([b_rule["id"]]));
}

#[tokio::test]
async fn example_7_a_delegation_cycle_is_denied() {
    let (app, t) = section6().await;
    let (a, a_token) = member(&app, true).await;
    let (b, b_token) = member(&app, true).await;
    delegate(&app, &a_token, &b).await;
    delegate(&app, &b_token, &a).await;
    let decided = only_category(&app, &a, &t, "location", "research").await;
    assert_eq!(decided["decision"], "deny");
    assert_eq!(decided["reason"], "delegation_cycle");
    assert_eq!(decided["chain"], json!([a, b, a]));
}

#[tokio::test]
async fn example_8_a_proxy_who_stops_accepting_is_ignored() {
    let (app, t) = section6().await;
    let ((a, _), (_, b_token), _) = example_4(&app).await;
    app.call(
        Method::PATCH,
        "/v1/me",
        Some(&b_token),
        Some(json!({"accepts_delegations": false})),
    )
    .await;
    let decided = only_category(&app, &a, &t, "location", "research").await;
    assert_eq!(
        decided,
        json!({"category": "location", "decision": "deny", "reason": "no_consent", "decided_by": {"member": a},
               "chain": [a], "rules": []})
    );
}

#[tokio::test]
async fn example_9_co_op_rules_beat_the_proxy() {
    let (app, t) = section6().await;
    let (a, a_token) = member(&app, false).await;
    let (b, b_token) = member(&app, true).await;
    delegate(&app, &a_token, &b).await;
    app.rule(&b_token, json!({"effect": "allow", "action": "*", "requester": "*", "data_categories": ["*"], "purposes": ["*"]}))
        .await;
    let coop = app
        .rule(ADMIN, json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["*"], "purposes": ["marketing"]}))
        .await;
    let decided = only_category(&app, &a, &t, "location", "marketing").await;
    assert_eq!(
        decided,
        json!({"category": "location", "decision": "deny", "reason": "coop_policy", "decided_by": {"coop": true},
               "chain": [a], "rules": [coop["id"]]})
    );
}

#[tokio::test]
async fn example_10_a_suspended_requester_is_denied() {
    let (app, t) = section6().await;
    let ((a, _), _, _) = example_4(&app).await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/third-parties/{t}"),
            Some(ADMIN),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let decided = only_category(&app, &a, &t, "location", "research").await;
    assert_eq!(
        decided,
        json!({"category": "location", "decision": "deny", "reason": "requester_inactive", "decided_by": {"coop": true},
               "chain": [a], "rules": []})
    );
}

/// `GET /v1/me/delegators` counts every delegator in SQL and pages the
/// public ones (`limit`, `cursor`, `next_cursor`), in enrolment order.
async fn delegators_page_through_the_public_registry(app: TestApp) {
    let proxy = app.enrol(Some("Proxy"), "public").await;
    let proxy_token = proxy["token"].as_str().unwrap();
    app.call(
        Method::PATCH,
        "/v1/me",
        Some(proxy_token),
        Some(json!({"accepts_delegations": true})),
    )
    .await;
    let mut public = Vec::new();
    for index in 0..7 {
        let registry = if index % 3 == 2 {
            "anonymous"
        } else {
            "public"
        };
        let member = app.enrol(None, registry).await;
        let (status, body) = app
            .call(
                Method::POST,
                "/v1/me/delegations",
                Some(member["token"].as_str().unwrap()),
                Some(json!({"to": {"member": proxy["id"]}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        if registry == "public" {
            public.push(member["id"].clone());
        }
    }
    let mut seen = Vec::new();
    let mut path = "/v1/me/delegators?limit=2".to_owned();
    loop {
        let (status, page) = app.call(Method::GET, &path, Some(proxy_token), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["count"], 7);
        assert!(page["public"].as_array().unwrap().len() <= 2);
        seen.extend(page["public"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/me/delegators?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, public);
    let (status, _) = app
        .call(
            Method::GET,
            "/v1/me/delegators?limit=0",
            Some(proxy_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn delegators_page_through_the_public_registry_on_sqlite() {
    delegators_page_through_the_public_registry(TestApp::sqlite().await).await;
}

#[tokio::test]
async fn delegators_page_through_the_public_registry_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    delegators_page_through_the_public_registry(app).await;
}
