//! The stewards' web pages driven as a browser would (issue 13): a
//! steward's session from a sign-in link, each form's effect checked
//! through the API (the pages and the API share their use cases), secrets
//! shown once, CSRF, and members kept out.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::TimeDelta;
use datacoop_broker::clock::Clock;
use serde_json::{Value, json};

use crate::browser::{Browser, ORIGIN};
use crate::support::{ADMIN, TestApp};

/// The text of the first `<code>` after `label` (a `<dt>`'s text).
fn code_after(html: &str, label: &str) -> String {
    let rest = html
        .split(label)
        .nth(1)
        .unwrap_or_else(|| panic!("{label}: {html}"));
    let rest = rest.split("<code>").nth(1).unwrap();
    rest.split("</code>").next().unwrap().to_owned()
}

async fn third_parties(app: &TestApp) -> Vec<Value> {
    let (status, page) = app
        .call(Method::GET, "/v1/third-parties", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn token_status(app: &TestApp, client_id: &str, secret: &str) -> StatusCode {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", client_id)
        .append_pair("client_secret", secret)
        .finish();
    let request = Request::post("/oauth2/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    app.send(request).await.0
}

async fn approving_a_third_party_shows_its_secret_once(app: TestApp) {
    let mut steward = Browser::steward(&app).await;
    let list = steward.get("/stewards/third-parties").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.html.contains("Approve a third party"), "{}", list.html);

    let approved = steward
        .post(
            "/stewards/third-parties",
            &[
                ("name", "Acme Research"),
                ("class", "academic"),
                ("webhook_url", ""),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.html);
    assert_eq!(approved.headers[header::CACHE_CONTROL], "no-store");
    assert!(approved.html.contains("only time this secret is shown"));
    let client_id = code_after(&approved.html, "Client ID");
    let secret = code_after(&approved.html, "Client secret");
    assert!(secret.starts_with("dcs_"), "{secret}");

    // The API sees what the page approved, with the same credentials.
    let listed = third_parties(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "Acme Research");
    assert_eq!(listed[0]["class"], "academic");
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[0]["client_id"], client_id.as_str());
    assert_eq!(
        token_status(&app, &client_id, &secret).await,
        StatusCode::OK
    );

    // Shown once: the list never shows it again.
    let list = steward.get("/stewards/third-parties").await;
    assert!(list.html.contains("Acme Research"));
    assert!(list.html.contains(&client_id));
    assert!(!list.html.contains(&secret));
    assert!(list.html.contains("Suspend Acme Research"));

    // A new secret: asked first, then shown once; the old one dies.
    let id = listed[0]["id"].as_str().unwrap();
    let ask = steward
        .get(&format!("/stewards/third-parties/{id}/secret"))
        .await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.html.contains("New client secret for Acme Research"));
    let rotated = steward
        .post(&format!("/stewards/third-parties/{id}/secret"), &[])
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.html);
    assert_eq!(rotated.headers[header::CACHE_CONTROL], "no-store");
    let new_secret = code_after(&rotated.html, "Client secret");
    assert_ne!(new_secret, secret);
    assert_eq!(
        token_status(&app, &client_id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_status(&app, &client_id, &new_secret).await,
        StatusCode::OK
    );

    // Suspended and reinstated through the page, as the API shows.
    let suspended = steward
        .post(
            &format!("/stewards/third-parties/{id}/status"),
            &[("status", "suspended")],
        )
        .await;
    assert_eq!(suspended.status, StatusCode::SEE_OTHER);
    assert_eq!(
        suspended.location.as_deref(),
        Some("/stewards/third-parties?done=third-party-suspended")
    );
    assert_eq!(third_parties(&app).await[0]["status"], "suspended");
    let list = steward
        .get("/stewards/third-parties?done=third-party-suspended")
        .await;
    assert!(list.html.contains("The third party is suspended"));
    assert!(list.html.contains("Reinstate Acme Research"));
    steward
        .post(
            &format!("/stewards/third-parties/{id}/status"),
            &[("status", "active")],
        )
        .await;
    assert_eq!(third_parties(&app).await[0]["status"], "active");
}

async fn invalid_forms_come_back_with_their_messages(app: TestApp) {
    let mut steward = Browser::steward(&app).await;
    steward.get("/stewards/third-parties").await;
    let refused = steward
        .post(
            "/stewards/third-parties",
            &[
                ("name", "  "),
                ("class", "pirates"),
                ("webhook_url", "http://example.org/hook"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["name", "class", "webhook_url"] {
        assert!(
            refused
                .html
                .contains(&format!("id=\"approve-{field}-error\"")),
            "{field}: {}",
            refused.html
        );
    }
    assert!(
        refused
            .html
            .contains("aria-describedby=\"approve-name-error\"")
    );
    assert!(refused.html.contains("role=\"alert\""));
    assert!(third_parties(&app).await.is_empty());

    // A persona without categories, in German: the form again, filled in.
    steward.lang = "de";
    steward.get("/stewards/personas").await;
    let refused = steward
        .post(
            "/stewards/personas",
            &[
                ("name", "Forschungsfreundlich"),
                ("description", "Erlaubt Forschung."),
                ("effect", "allow"),
                ("requester", "class:academic"),
                ("purposes", "research"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .html
            .contains("Wählen Sie mindestens eine Datenkategorie.")
    );
    assert!(refused.html.contains("value=\"Forschungsfreundlich\""));
    let (_, personas) = app
        .call(Method::GET, "/v1/personas", Some(ADMIN), None)
        .await;
    assert_eq!(personas, json!([]));
}

async fn forms_without_the_sessions_csrf_value_change_nothing(app: TestApp) {
    let mut steward = Browser::steward(&app).await;
    let form = "name=Acme&class=academic&webhook_url=".to_owned();
    let missing = steward
        .post_raw("/stewards/third-parties", form.clone(), Some(ORIGIN))
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let wrong = steward
        .post_raw(
            "/stewards/third-parties",
            format!("csrf=not-the-value&{form}"),
            Some(ORIGIN),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let csrf = steward.csrf.clone().unwrap();
    let elsewhere = steward
        .post_raw(
            "/stewards/third-parties",
            format!("csrf={csrf}&{form}"),
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    assert!(third_parties(&app).await.is_empty());
    let (_, rules) = app
        .call(Method::GET, "/v1/coop/rules", Some(ADMIN), None)
        .await;
    let missing = steward
        .post_raw(
            "/stewards/coop-rules",
            "requester=*&categories=health&purposes=marketing".to_owned(),
            Some(ORIGIN),
        )
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.call(Method::GET, "/v1/coop/rules", Some(ADMIN), None)
            .await
            .1,
        rules
    );
}

async fn members_are_refused_the_stewards_pages(app: TestApp) {
    let member = app.enrol(Some("Ada"), "public").await;
    let (status, link) = app
        .call(
            Method::POST,
            &format!(
                "/v1/members/{}/sign-in-links",
                member["id"].as_str().unwrap()
            ),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut browser = Browser::new(&app);
    let signed_in = browser.use_link(link["url"].as_str().unwrap()).await;
    assert_eq!(signed_in.location.as_deref(), Some("/"));
    // A page of the member's own, for the session's CSRF value.
    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.html);
    assert!(browser.csrf.is_some());
    for path in [
        "/stewards",
        "/stewards/third-parties",
        "/stewards/personas",
        "/stewards/coop-rules",
        "/stewards/members",
        "/stewards/datasets",
        "/stewards/deletion-receipts",
    ] {
        assert_eq!(
            browser.get(path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let refused = browser
        .post(
            "/stewards/third-parties",
            &[("name", "Acme"), ("class", "academic")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(third_parties(&app).await.is_empty());
}

async fn personas_and_coop_rules_are_published_through_the_api_s_use_cases(app: TestApp) {
    let mut steward = Browser::steward(&app).await;
    steward.get("/stewards/personas").await;
    let published = steward
        .post(
            "/stewards/personas",
            &[
                ("name", "Research friendly"),
                ("description", "Allows academic research on health data."),
                ("effect", "allow"),
                ("requester", "class:academic"),
                ("categories", "health"),
                ("categories", "location.coarse"),
                ("purposes", "research"),
                ("until", ""),
            ],
        )
        .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.html
    );
    let (_, personas) = app
        .call(Method::GET, "/v1/personas", Some(ADMIN), None)
        .await;
    assert_eq!(personas[0]["name"], "Research friendly");
    let rule = &personas[0]["rules"][0];
    assert_eq!(rule["effect"], "allow");
    assert_eq!(rule["requester"], json!({"class": "academic"}));
    assert_eq!(
        rule["data_categories"],
        json!(["health", "location.coarse"])
    );
    let page = steward.get("/stewards/personas").await;
    assert!(
        page.html
            .contains("Academic researchers may use your health and coarse location data"),
        "{}",
        page.html
    );

    steward.get("/stewards/coop-rules").await;
    let added = steward
        .post(
            "/stewards/coop-rules",
            &[
                ("requester", "class:commercial"),
                ("categories", "health"),
                ("purposes", "marketing"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let (_, rules) = app
        .call(Method::GET, "/v1/coop/rules", Some(ADMIN), None)
        .await;
    assert_eq!(rules[0]["effect"], "deny");
    assert_eq!(rules[0]["purposes"], json!(["marketing"]));
    let page = steward.get("/stewards/coop-rules").await;
    assert!(
        page.html
            .contains("Companies may not use your health data for marketing")
    );
    let id = rules[0]["id"].as_str().unwrap();
    let deleted = steward
        .post(&format!("/stewards/coop-rules/{id}/delete"), &[])
        .await;
    assert_eq!(
        deleted.location.as_deref(),
        Some("/stewards/coop-rules?done=coop-rule-deleted")
    );
    let (_, rules) = app
        .call(Method::GET, "/v1/coop/rules", Some(ADMIN), None)
        .await;
    assert_eq!(rules, json!([]));
}

async fn members_are_listed_without_anonymous_names(app: TestApp) {
    app.enrol(Some("Ada Lovelace"), "public").await;
    let hidden_member = app.enrol(Some("Secret Sam"), "anonymous").await;
    let hidden_id = hidden_member["id"].as_str().unwrap();
    let mut steward = Browser::steward(&app).await;
    let page = steward.get("/stewards/members").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Ada Lovelace"));
    assert!(page.html.contains(hidden_id));
    assert!(!page.html.contains("Secret Sam"));
    // A position that is none is the first page.
    let first = steward.get("/stewards/members?after=nonsense").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.html.contains("Ada Lovelace"));
    assert!(
        page.html
            .contains(&format!("Create a sign-in link for member {hidden_id}"))
    );

    let link = steward
        .post(&format!("/stewards/members/{hidden_id}/sign-in-link"), &[])
        .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.html);
    assert!(!link.html.contains("Secret Sam"));
    let url = link
        .html
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .unwrap()
        .to_owned();
    assert!(url.contains("/sign-in/link?token=dcl_"), "{url}");
    // The link signs the member in.
    let mut member = Browser::new(&app);
    let signed_in = member.use_link(&url).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location.as_deref(), Some("/"));
}

async fn licenses_are_revoked_and_overdue_receipts_listed(app: TestApp) {
    let licensee = app.third_party("academic").await;
    let (status, dataset) = app
        .call(
            Method::POST,
            "/v1/datasets",
            Some(ADMIN),
            Some(json!({
                "name": "Steps by region",
                "purpose": "research",
                "data_categories": ["health.activity"],
                "measures": [{"op": "count"}],
                "k_min": 3
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dataset}");
    let now = app.clock.now();
    let (status, license) = app
        .call(
            Method::POST,
            "/v1/licenses",
            Some(ADMIN),
            Some(json!({"dataset": dataset["id"], "licensee": licensee,
                   "valid_from": now - TimeDelta::days(1), "valid_until": now + TimeDelta::days(30),
                   "data_life_days": 7})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{license}");
    let id = license["id"].as_str().unwrap();

    let mut steward = Browser::steward(&app).await;
    let page = steward.get("/stewards/datasets").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Steps by region"));
    assert!(page.html.contains("None yet"));
    let ask = steward
        .get(&format!("/stewards/licenses/{id}/revoke"))
        .await;
    assert_eq!(ask.status, StatusCode::OK);
    let revoked = steward
        .post(&format!("/stewards/licenses/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let (_, shown) = app
        .call(
            Method::GET,
            &format!("/v1/licenses/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(shown["status"], "revoked");
    let page = steward.get("/stewards/datasets").await;
    assert!(page.html.contains("Revoked on"));

    let receipts = steward.get("/stewards/deletion-receipts").await;
    assert_eq!(receipts.status, StatusCode::OK);
    assert!(
        receipts
            .html
            .contains("Third parties have 7 days to confirm.")
    );
    // The revocation's event (stamped with the commit's wall-clock
    // instant, as the log is) is overdue once the grace period passed, as
    // the API lists it.
    app.clock
        .set(datacoop_broker::clock::SystemClock.now() + TimeDelta::days(8));
    let (_, overdue) = app
        .call(
            Method::GET,
            "/v1/deletion-receipts?overdue=true",
            Some(ADMIN),
            None,
        )
        .await;
    // Sessions end idle: a new one, eight days on.
    let mut steward = Browser::steward(&app).await;
    let receipts = steward.get("/stewards/deletion-receipts").await;
    assert_eq!(receipts.status, StatusCode::OK);
    let overdue = overdue["items"].as_array().unwrap();
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert_eq!(overdue[0]["type"], "license.revoked");
    assert!(receipts.html.contains("A academic body"));
    assert!(receipts.html.contains("License revoked"));
    for event in overdue {
        assert!(receipts.html.contains(event["event_id"].as_str().unwrap()));
    }
}

on_both_databases!(
    approving_a_third_party_shows_its_secret_once,
    invalid_forms_come_back_with_their_messages,
    forms_without_the_sessions_csrf_value_change_nothing,
    members_are_refused_the_stewards_pages,
    personas_and_coop_rules_are_published_through_the_api_s_use_cases,
    members_are_listed_without_anonymous_names,
    licenses_are_revoked_and_overdue_receipts_listed,
);
