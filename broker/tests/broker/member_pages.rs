//! The members' web pages driven as a browser would (issue 13): sign-in
//! links, sessions on both databases, CSRF, and the consent, proxy and
//! leaving flows, each effect checked through the API.

use axum::http::{Method, StatusCode, header};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::browser::{Browser, ORIGIN};
use crate::support::{ADMIN, TestApp};

async fn member(app: &TestApp) -> (String, String) {
    let member = app.enrol(Some("Ada"), "public").await;
    (
        member["id"].as_str().unwrap().to_owned(),
        member["token"].as_str().unwrap().to_owned(),
    )
}

async fn rules_of(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, rules) = app
        .call(Method::GET, "/v1/me/rules", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    rules.as_array().unwrap().clone()
}

/// A link signs in once, within 15 minutes, and opens the member's pages.
async fn a_sign_in_link_works_once_within_15_minutes(app: TestApp) {
    let (id, _) = member(&app).await;
    let mut browser = Browser::new(&app);
    let signed = browser.sign_in(Some(&id)).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location.as_deref(), Some("/"));
    let cookie = signed
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains("Hello Ada"), "{}", home.html);

    // The same link again, and a link used after 15 minutes, do nothing.
    let (_, link) = app
        .call(
            Method::POST,
            &format!("/v1/members/{id}/sign-in-links"),
            Some(ADMIN),
            None,
        )
        .await;
    let token = link["url"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let mut other = Browser::new(&app);
    assert_eq!(
        other
            .post_raw("/sign-in/link", format!("token={token}"), Some(ORIGIN))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let mut third = Browser::new(&app);
    let again = third
        .post_raw("/sign-in/link", format!("token={token}"), Some(ORIGIN))
        .await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(third.cookie.is_none());
    let (_, late) = app
        .call(
            Method::POST,
            &format!("/v1/members/{id}/sign-in-links"),
            Some(ADMIN),
            None,
        )
        .await;
    app.clock.advance(TimeDelta::minutes(15));
    let late = late["url"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let expired = third
        .post_raw("/sign-in/link", format!("token={late}"), Some(ORIGIN))
        .await;
    assert_eq!(expired.status, StatusCode::GONE);
    // A link for no member is 404 at the API.
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/members/mbr_00000000000000000000000000000000/sign-in-links",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The consent page states the rule in words before saving; saving and
/// removing show through `GET /v1/me/rules`.
async fn a_rule_is_previewed_in_words_then_saved_and_removed(app: TestApp) {
    let (id, token) = member(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(Some(&id)).await;
    browser.get("/consent").await;
    let fields = [
        ("effect", "allow"),
        ("requester", "class:academic"),
        ("categories", "health.heart"),
        ("purposes", "research"),
        ("until", "2027-03-01"),
    ];
    let preview = browser.post("/consent/preview", &fields).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(
        preview.html.contains(
            "Academic researchers may use your heart data for research, until 1 March 2027."
        ),
        "{}",
        preview.html
    );
    assert!(
        rules_of(&app, &token).await.is_empty(),
        "a preview stores nothing"
    );
    let saved = browser.post("/consent/rules", &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let rules = rules_of(&app, &token).await;
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["requester"], json!({"class": "academic"}));
    assert_eq!(rules[0]["expires_at"], json!("2027-03-01T00:00:00Z"));
    let home = browser.get("/").await;
    assert!(home.html.contains("Decided by you"), "{}", home.html);

    // An incomplete form says what is missing and stores nothing.
    let incomplete = browser
        .post("/consent/preview", &[("effect", "allow")])
        .await;
    assert_eq!(incomplete.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        incomplete
            .html
            .contains("Choose at least one kind of data.")
    );

    let rule = rules[0]["id"].as_str().unwrap();
    browser.get("/consent").await;
    let removed = browser
        .post(&format!("/consent/rules/{rule}/delete"), &[])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(rules_of(&app, &token).await.is_empty());
}

/// A form without the session's CSRF value, or from another site, is
/// refused and changes nothing.
async fn forged_forms_are_refused(app: TestApp) {
    let (id, token) = member(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(Some(&id)).await;
    browser.get("/consent").await;
    let body = "effect=allow&requester=*&categories=health&purposes=research".to_owned();
    let without = browser
        .post_raw("/consent/rules", body.clone(), Some(ORIGIN))
        .await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    let csrf = browser.csrf.clone().unwrap();
    let wrong = browser
        .post_raw(
            "/consent/rules",
            format!("{body}&csrf=x{csrf}"),
            Some(ORIGIN),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let elsewhere = browser
        .post_raw(
            "/consent/rules",
            format!("{body}&csrf={csrf}"),
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    assert!(rules_of(&app, &token).await.is_empty());
    let good = browser
        .post_raw(
            "/consent/rules",
            format!("{body}&csrf={csrf}"),
            Some(ORIGIN),
        )
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER);
    assert_eq!(rules_of(&app, &token).await.len(), 1);
}

/// Sessions end after the idle timeout, at their absolute end, and on
/// sign-out everywhere.
async fn sessions_end(app: TestApp) {
    let (id, token) = member(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(Some(&id)).await;
    browser.get("/consent").await;
    app.clock.advance(TimeDelta::minutes(29));
    assert_eq!(browser.get("/consent").await.status, StatusCode::OK);
    app.clock.advance(TimeDelta::minutes(31));
    let ended = browser.get("/consent").await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(ended.location.as_deref(), Some("/sign-in?ended=1"));
    let refused = browser
        .post(
            "/consent/rules",
            &[
                ("effect", "allow"),
                ("requester", "*"),
                ("categories", "health"),
                ("purposes", "research"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert!(rules_of(&app, &token).await.is_empty());

    // Busy, but past the absolute end (12 hours).
    let mut busy = Browser::new(&app);
    busy.sign_in(Some(&id)).await;
    for _ in 0..25 {
        app.clock.advance(TimeDelta::minutes(29));
        if busy.get("/consent").await.status != StatusCode::OK {
            break;
        }
    }
    assert_eq!(busy.get("/consent").await.status, StatusCode::SEE_OTHER);

    // Sign out everywhere ends the other browser's session too.
    let mut one = Browser::new(&app);
    let mut two = Browser::new(&app);
    one.sign_in(Some(&id)).await;
    two.sign_in(Some(&id)).await;
    one.get("/data").await;
    assert_eq!(
        one.post("/sign-out/everywhere", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(two.get("/data").await.status, StatusCode::SEE_OTHER);
}

/// Adopting a persona and revoking it, through the proxies page.
async fn a_persona_is_adopted_and_revoked(app: TestApp) {
    let (id, token) = member(&app).await;
    let (status, persona) = app
        .call(
            Method::POST,
            "/v1/personas",
            Some(ADMIN),
            Some(json!({
                "name": "Careful researcher",
                "description": "Research by non-profits and universities only.",
                "rules": [{"effect": "allow", "action": "*", "requester": {"class": "academic"},
                           "data_categories": ["health"], "purposes": ["research"]}]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{persona}");
    let mut browser = Browser::new(&app);
    browser.sign_in(Some(&id)).await;
    let page = browser.get("/proxies").await;
    assert!(page.html.contains("Careful researcher"));
    assert!(
        page.html
            .contains("Academic researchers may use your health data for research."),
        "{}",
        page.html
    );
    let persona_id = persona["id"].as_str().unwrap();
    let adopted = browser
        .post(&format!("/proxies/personas/{persona_id}/adopt"), &[])
        .await;
    assert_eq!(adopted.status, StatusCode::SEE_OTHER);
    let (_, delegations) = app
        .call(Method::GET, "/v1/me/delegations", Some(&token), None)
        .await;
    let delegations = delegations.as_array().unwrap().clone();
    assert_eq!(delegations.len(), 1);
    assert_eq!(delegations[0]["to"], json!({"persona": persona_id}));
    browser.get("/proxies").await;
    let delegation = delegations[0]["id"].as_str().unwrap();
    let revoked = browser
        .post(&format!("/proxies/delegations/{delegation}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let (_, delegations) = app
        .call(Method::GET, "/v1/me/delegations", Some(&token), None)
        .await;
    assert_eq!(delegations, json!([]));
}

/// Leaving from the confirmation page ends the membership and the session.
async fn leaving_ends_the_membership_and_the_session(app: TestApp) {
    let (id, token) = member(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(Some(&id)).await;
    let confirm = browser.get("/leave").await;
    assert!(confirm.html.contains("Erased now"));
    assert!(confirm.html.contains("Kept"));
    let left = browser.post("/leave", &[]).await;
    assert_eq!(left.status, StatusCode::SEE_OTHER);
    let (status, _) = app.call(Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let after = browser.get("/consent").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location.unwrap().starts_with("/sign-in"));
}

/// Pages come in the language asked for, with a strict CSP and no script.
async fn pages_speak_german_and_carry_no_script(app: TestApp) {
    let (id, _) = member(&app).await;
    let mut browser = Browser::new(&app);
    browser.lang = "de-DE,de;q=0.9,en;q=0.5";
    browser.sign_in(Some(&id)).await;
    for path in [
        "/",
        "/consent",
        "/proxies",
        "/why",
        "/access",
        "/connections",
        "/data",
        "/leave",
        "/receipts",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.html.contains("<html lang=\"de\">"), "{path}");
        assert!(!page.html.contains("<script"), "{path}");
        assert!(!page.html.contains("style=\""), "{path}");
        let csp = page.headers.get(header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(
            csp.to_str().unwrap().contains("default-src 'none'"),
            "{path}"
        );
    }
    let home = browser.get("/").await;
    assert!(home.html.contains("Wer was nutzen darf"));
}

/// A steward who is no member is sent to the stewards' pages and refused
/// the members'.
async fn a_stewards_session_opens_no_member_page(app: TestApp) {
    let mut browser = Browser::new(&app);
    let signed = browser.sign_in(None).await;
    assert_eq!(signed.location.as_deref(), Some("/stewards"));
    assert_eq!(
        browser.get("/").await.location.as_deref(),
        Some("/stewards")
    );
    assert_eq!(browser.get("/consent").await.status, StatusCode::FORBIDDEN);
}

on_both_databases!(
    a_sign_in_link_works_once_within_15_minutes,
    a_rule_is_previewed_in_words_then_saved_and_removed,
    forged_forms_are_refused,
    sessions_end,
    a_persona_is_adopted_and_revoked,
    leaving_ends_the_membership_and_the_session,
    pages_speak_german_and_carry_no_script,
    a_stewards_session_opens_no_member_page,
);
