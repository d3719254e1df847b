//! No subject oracle (http-contract, "Third party"; issue 8, item 3): a
//! third party must not tell an unknown, foreign or departed subject from
//! a member who has not consented, by body or status; member-level
//! reasons read as `no_consent`; every call is logged, known subject or
//! not. The member still sees the true reason in their own log.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::service::{access, subject, third_party_with_token};
use crate::support::{ADMIN, TestApp};

/// The answer with the subject's text replaced, so answers about two
/// subjects can be compared.
/// The answer as the third party sees it, the subject blanked and without
/// its receipt (every call, known subject or not, is logged: the index
/// only counts the log's entries).
fn shape(answer: &Value, subject: &str) -> String {
    let mut answer = answer.clone();
    if let Some(object) = answer.as_object_mut() {
        assert!(
            object
                .remove("log_index")
                .is_some_and(|index| index.is_u64())
        );
    }
    answer.to_string().replace(subject, "SUBJECT")
}

const UNKNOWN: &str = "sub_AAAAAAAAAAAAAAAAAAAAAA";

async fn no_answer_tells_a_subject_exists(app: TestApp) {
    let (lab, lab_token) = third_party_with_token(&app, "academic").await;
    let (other, _) = third_party_with_token(&app, "academic").await;
    // A co-op rule: marketing, never (§4 step 3, for every subject alike).
    app.rule(
        ADMIN,
        json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["*"], "purposes": ["marketing"]}),
    )
    .await;

    // Ada denies health herself (§2: her own opinion).
    let ada = app.enrol(Some("Ada"), "public").await;
    let ada_token = ada["token"].as_str().unwrap();
    app.rule(
        ada_token,
        json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["health"], "purposes": ["*"]}),
    )
    .await;
    let ada_subject = subject(&app, ada_token, &lab).await;

    // Bo and Cy delegate to each other: a cycle (§4).
    let bo = app.enrol(Some("Bo"), "public").await;
    let cy = app.enrol(Some("Cy"), "public").await;
    for member in [&bo, &cy] {
        let token = member["token"].as_str().unwrap();
        app.call(
            Method::PATCH,
            "/v1/me",
            Some(token),
            Some(json!({"accepts_delegations": true})),
        )
        .await;
    }
    for (member, proxy) in [(&bo, &cy), (&cy, &bo)] {
        let (status, body) = app
            .call(
                Method::POST,
                "/v1/me/delegations",
                Some(member["token"].as_str().unwrap()),
                Some(json!({"to": {"member": proxy["id"]}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let bo_subject = subject(&app, bo["token"].as_str().unwrap(), &lab).await;

    // Di leaves; Ed's subject belongs to another third party.
    let di = app.enrol(Some("Di"), "public").await;
    let di_subject = subject(&app, di["token"].as_str().unwrap(), &lab).await;
    app.call(
        Method::DELETE,
        "/v1/me",
        Some(di["token"].as_str().unwrap()),
        None,
    )
    .await;
    let ed = app.enrol(Some("Ed"), "public").await;
    let ed_foreign = subject(&app, ed["token"].as_str().unwrap(), &other).await;

    for (categories, purpose) in [
        (&["health"][..], "research"),
        (&["health.heart", "location"][..], "research"),
        (&["location"][..], "marketing"),
        (&["health"][..], "marketing.direct"),
    ] {
        let unknown = shape(
            &access(&app, &lab_token, UNKNOWN, categories, purpose).await,
            UNKNOWN,
        );
        for known in [&ada_subject, &bo_subject, &di_subject, &ed_foreign] {
            let answer = access(&app, &lab_token, known, categories, purpose).await;
            assert_eq!(
                shape(&answer, known),
                unknown,
                "{categories:?} for {purpose}: a subject's answer differs from an unknown one's"
            );
        }
    }
    // The member still sees, in their own log, why (§5).
    let (status, log) = app
        .call(Method::GET, "/v1/me/access-log", Some(ada_token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let reasons: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|entry| entry["categories"].as_array().unwrap())
        .map(|category| category["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"denied_by_rule"), "{log}");
    assert!(reasons.contains(&"coop_policy"), "{log}");
    assert_eq!(log["items"].as_array().unwrap().len(), 4);
}

/// The access log is read a page at a time while the export is sent; a
/// log longer than a page arrives whole and in order.
async fn a_long_access_log_exports_whole(app: TestApp) {
    let (lab, lab_token) = third_party_with_token(&app, "academic").await;
    let ada = app.enrol(Some("Ada"), "public").await;
    let token = ada["token"].as_str().unwrap();
    let sub = subject(&app, token, &lab).await;
    let calls = datacoop_broker::app::export::LOG_PAGE as usize + 7;
    for _ in 0..calls {
        access(&app, &lab_token, &sub, &["location"], "research").await;
    }
    let (status, export) = app
        .call(Method::GET, "/v1/me/export", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let log = export["access_log"].as_array().unwrap();
    assert_eq!(log.len(), calls);
    assert!(
        log.iter()
            .all(|entry| entry["reason"].is_null() && entry["decision"] == "deny")
    );
    assert_eq!(export["profile"]["id"], ada["id"]);
    assert!(export["exported_at"].is_string());
}

on_both_databases!(
    no_answer_tells_a_subject_exists,
    a_long_access_log_exports_whole,
);
