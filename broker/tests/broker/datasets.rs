//! Aggregate datasets (issue 11) through the router, on both databases:
//! definitions and their 422s, licenses and their window, builds counting
//! only members whose `aggregate` consent allows every category
//! (consent-semantics §4), suppression with complements, the privacy
//! budget under concurrent builds, the licensee's fetch (403, 410 and the
//! rows deleted), revocation, and what a member sees.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use chrono::TimeDelta;
use serde_json::{Value, json};

use datacoop_broker::clock::Clock;

use crate::service::third_party_with_token;
use crate::support::{ADMIN, TestApp};

/// A member with `region` and `steps` stored, allowing (or not) aggregate
/// use of activity and demographics for research.
async fn member(
    app: &TestApp,
    region: &str,
    steps: Option<i64>,
    consents: bool,
) -> (String, String) {
    let created = app.enrol(None, "anonymous").await;
    let token = created["token"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/me/data/identity.demographic",
            Some(&token),
            Some(json!({"region": region})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    if let Some(steps) = steps {
        let (status, _) = app
            .call(
                Method::PUT,
                "/v1/me/data/health.activity",
                Some(&token),
                Some(json!({"steps": steps})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    if consents {
        app.rule(
            &token,
            json!({"effect": "allow", "action": "aggregate", "requester": "*",
                   "data_categories": ["health.activity", "identity.demographic"], "purposes": ["research"]}),
        )
        .await;
    }
    (created["id"].as_str().unwrap().to_owned(), token)
}

fn dataset_body(epsilon: Option<f64>) -> Value {
    let mut body = json!({
        "name": "Steps by region",
        "purpose": "research",
        "data_categories": ["health.activity", "identity.demographic"],
        "dimensions": [{"category": "identity.demographic", "pointer": "/region"}],
        "measures": [
            {"op": "count"},
            {"op": "sum", "category": "health.activity", "pointer": "/steps", "bounds": [0, 50000]},
            {"op": "mean", "category": "health.activity", "pointer": "/steps", "bounds": [0, 50000]}
        ],
        "k_min": 3
    });
    if let Some(epsilon) = epsilon {
        body["epsilon"] = json!(epsilon);
    }
    body
}

async fn create(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, created) = app.call(Method::POST, path, Some(ADMIN), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn license(app: &TestApp, dataset: &str, licensee: &str) -> String {
    let now = app.clock.now();
    let created = create(
        app,
        "/v1/licenses",
        json!({"dataset": dataset, "licensee": licensee,
               "valid_from": now - TimeDelta::days(1), "valid_until": now + TimeDelta::days(30),
               "data_life_days": 7}),
    )
    .await;
    created["id"].as_str().unwrap().to_owned()
}

async fn build(app: &TestApp, license: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/v1/licenses/{license}/builds"),
        Some(ADMIN),
        None,
    )
    .await
}

/// Exact counts per region from the published rows.
fn counts(release: &Value) -> BTreeMap<String, i64> {
    release["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["region"].to_string(), row["count"].as_i64().unwrap()))
        .collect()
}

async fn builds_count_only_consenting_members(app: TestApp) {
    let (licensee, licensee_token) = third_party_with_token(&app, "academic").await;
    let (other, other_token) = third_party_with_token(&app, "academic").await;
    // North: 6 consenting (one without steps) and 2 who did not consent;
    // South: 5 consenting; East: 2 consenting (a small cell); West: 3.
    let mut north = Vec::new();
    for index in 0..6 {
        north.push(member(&app, "north", (index != 0).then_some(1000 * index), true).await);
    }
    for _ in 0..2 {
        member(&app, "north", Some(99_999), false).await;
    }
    for index in 0..5 {
        member(&app, "south", Some(2000 + index), true).await;
    }
    for _ in 0..2 {
        member(&app, "east", Some(500), true).await;
    }
    for _ in 0..3 {
        member(&app, "west", Some(700), true).await;
    }
    let dataset = create(&app, "/v1/datasets", dataset_body(None)).await;
    assert_eq!(dataset["epsilon_spent"], json!(0.0));
    let id = license(&app, dataset["id"].as_str().unwrap(), &licensee).await;

    let (status, release) = build(&app, &id).await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    let manifest = &release["manifest"];
    // 16 consenting members; the two who did not are not counted.
    assert_eq!(manifest["cohort_size"], json!(16));
    assert_eq!(manifest["k_min"], json!(3));
    assert_eq!(manifest["missing_values"]["sum_steps"], json!(1));
    // East (2) is under k_min; alone it would be total minus the rest, so
    // a complement (the smallest other cell, West: 3) goes too.
    let published = counts(&release);
    assert_eq!(manifest["suppressed_cells"], json!(2));
    assert_eq!(
        published,
        BTreeMap::from([("\"north\"".to_owned(), 6), ("\"south\"".to_owned(), 5)])
    );
    for count in published.values() {
        assert!(*count >= 3, "a published cell under k_min: {release}");
    }
    // Nothing derivable: the total minus the published cells is the sum
    // of two suppressed cells.
    assert_eq!(16 - published.values().sum::<i64>(), 5);
    let north_row = release["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["region"] == "north")
        .unwrap();
    assert_eq!(north_row["sum_steps"], json!(15_000));
    assert_eq!(north_row["mean_steps"], json!(3000));
    assert_eq!(manifest["cohort_root"].as_str().unwrap().len(), 64);
    let log_index = manifest["log_index"].as_u64().unwrap();
    let (status, entry) = app
        .call(
            Method::GET,
            &format!("/v1/audit/entries/{log_index}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert!(entry.to_string().contains("dataset.built"), "{entry}");

    // The licensee fetches it; another third party may not; a member
    // sees that the build counted them, never the figures.
    let path = format!("/v1/licenses/{id}/builds/latest");
    let (status, fetched) = app
        .call(Method::GET, &path, Some(&licensee_token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{fetched}");
    assert_eq!(fetched, release);
    let (status, refused) = app.call(Method::GET, &path, Some(&other_token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let _ = other;
    let (status, mine) = app
        .call(
            Method::GET,
            "/v1/me/dataset-builds",
            Some(&north[1].1),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["items"][0]["build_id"], manifest["build_id"]);
    assert_eq!(mine["items"][0]["licensee"], json!(licensee));
    assert!(!mine.to_string().contains("15000"), "{mine}");
    let (_, export) = app
        .call(Method::GET, "/v1/me/export", Some(&north[1].1), None)
        .await;
    assert_eq!(
        export["dataset_builds"][0]["build_id"],
        manifest["build_id"]
    );

    // A member who withdraws is out of the very next build.
    let (_, rules) = app
        .call(Method::GET, "/v1/me/rules", Some(&north[1].1), None)
        .await;
    let listed = rules
        .as_array()
        .or_else(|| rules["items"].as_array())
        .unwrap();
    let rule = listed[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/me/rules/{rule}"),
            Some(&north[1].1),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, next) = build(&app, &id).await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    assert_eq!(next["manifest"]["cohort_size"], json!(15));
    assert_eq!(counts(&next).get("\"north\""), Some(&5));
    let (_, mine) = app
        .call(
            Method::GET,
            "/v1/me/dataset-builds",
            Some(&north[1].1),
            None,
        )
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");

    // Revoked: no more builds nor fetches, and the licensee is told.
    let (status, revoked) = app
        .call(
            Method::PATCH,
            &format!("/v1/licenses/{id}"),
            Some(ADMIN),
            Some(json!({"status": "revoked"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], json!("revoked"));
    let (status, _) = build(&app, &id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .call(Method::GET, &path, Some(&licensee_token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/licenses/{id}"),
            Some(ADMIN),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Past its data life a build is gone, and so are its rows.
    let other_license = license(&app, dataset["id"].as_str().unwrap(), &licensee).await;
    let (status, _) = build(&app, &other_license).await;
    assert_eq!(status, StatusCode::CREATED);
    let other_path = format!("/v1/licenses/{other_license}/builds/latest");
    app.clock.advance(TimeDelta::days(8));
    let (status, gone) = app.call(Method::GET, &other_path, Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::GONE, "{gone}");
    assert!(
        app.store
            .latest_build(&other_license)
            .await
            .unwrap()
            .unwrap()
            .published
            .is_none()
    );
    let (_, deliveries) = app
        .call(Method::GET, "/v1/webhook-deliveries", Some(ADMIN), None)
        .await;
    assert!(
        deliveries["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|event| event["type"] == "license.revoked"
                && event["third_party"] == json!(licensee)),
        "{deliveries}"
    );
}

async fn bad_definitions_are_422_naming_each_field(app: TestApp) {
    let cases = [
        (
            json!({"name": "x", "purpose": "nope", "data_categories": ["health"], "measures": [{"op": "count"}]}),
            vec!["purpose"],
        ),
        (
            json!({"name": "x", "purpose": "research", "data_categories": ["nope"], "measures": [{"op": "count"}]}),
            vec!["data_categories[0]"],
        ),
        (
            json!({"name": "x", "purpose": "research", "data_categories": ["health"], "measures": []}),
            vec!["measures"],
        ),
        (
            json!({"name": "x", "purpose": "research", "data_categories": ["health"], "measures": [{"op": "count"}], "k_min": 1}),
            vec!["k_min"],
        ),
        (
            json!({"name": "x", "purpose": "research", "data_categories": ["health"],
                "dimensions": [{"category": "location", "pointer": "/city"}], "measures": [{"op": "count"}]}),
            vec!["dimensions[0].category"],
        ),
        (
            json!({"name": "x", "purpose": "research", "data_categories": ["health"],
                "dimensions": [{"category": "health", "pointer": "city"}], "measures": [{"op": "count"}]}),
            vec!["dimensions[0].pointer"],
        ),
        (
            json!({"name": "x", "purpose": "research", "data_categories": ["health"], "epsilon": 1.0,
                "measures": [{"op": "sum", "category": "health", "pointer": "/steps"}]}),
            vec!["measures[0].bounds"],
        ),
        (
            json!({"name": "x", "purpose": "research", "data_categories": ["health"],
                "measures": [{"op": "mean", "category": "location", "pointer": "/x"}]}),
            vec!["measures[0].category"],
        ),
        (
            json!({"name": "", "purpose": "*", "data_categories": ["*"], "measures": [{"op": "count"}], "epsilon": -1}),
            vec!["name", "purpose", "data_categories[0]", "epsilon"],
        ),
    ];
    for (body, fields) in cases {
        let (status, problem) = app
            .call(
                Method::POST,
                "/v1/datasets",
                Some(ADMIN),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {problem}"
        );
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|error| error["field"].as_str().unwrap())
            .collect();
        for field in fields {
            assert!(named.contains(&field), "{body}: {field} not in {named:?}");
        }
    }
    let (_, listed) = app
        .call(Method::GET, "/v1/datasets", Some(ADMIN), None)
        .await;
    assert_eq!(
        listed["items"],
        json!([]),
        "a refused definition changed nothing"
    );
    // Licenses: an unknown dataset, a suspended licensee, a window in the past.
    let dataset = create(&app, "/v1/datasets", dataset_body(None)).await;
    let licensee = app.third_party("academic").await;
    let now = app.clock.now();
    let (status, problem) = app
        .call(Method::POST, "/v1/licenses", Some(ADMIN), Some(json!({
            "dataset": "dst_nope", "licensee": licensee, "valid_from": now, "valid_until": now - TimeDelta::days(1), "data_life_days": 0
        })))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let named = problem["errors"].to_string();
    for field in ["dataset", "valid_until", "data_life_days"] {
        assert!(
            named.contains(&format!("\"{field}\"")),
            "{field}: {problem}"
        );
    }
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/third-parties/{licensee}"),
            Some(ADMIN),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app
        .call(Method::POST, "/v1/licenses", Some(ADMIN), Some(json!({
            "dataset": dataset["id"], "licensee": licensee, "valid_from": now, "valid_until": now + TimeDelta::days(1), "data_life_days": 1
        })))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["errors"].to_string().contains("licensee"));
    let (_, licenses) = app
        .call(Method::GET, "/v1/licenses", Some(ADMIN), None)
        .await;
    assert_eq!(licenses["items"], json!([]));
    // A member or third party may not define datasets.
    let created = app.enrol(None, "anonymous").await;
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/datasets",
            created["token"].as_str(),
            Some(dataset_body(None)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn the_budget_is_never_overspent_under_concurrent_builds(app: TestApp) {
    // The test app's budget is the default, 10: eight builds at epsilon 3
    // at once, of two licenses; exactly three can be paid for.
    let licensee = app.third_party("academic").await;
    for index in 0..12 {
        member(
            &app,
            if index % 2 == 0 { "north" } else { "south" },
            Some(1000),
            true,
        )
        .await;
    }
    let dataset = create(&app, "/v1/datasets", dataset_body(Some(3.0))).await;
    let dataset_id = dataset["id"].as_str().unwrap();
    let first = license(&app, dataset_id, &licensee).await;
    let second = license(&app, dataset_id, &licensee).await;
    let builds = (0..8).map(|index| {
        let license = if index % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let app = &app;
        async move { build(app, &license).await }
    });
    let outcomes = futures_util::future::join_all(builds).await;
    let built: Vec<&Value> = outcomes
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .map(|(_, release)| release)
        .collect();
    assert_eq!(built.len(), 3, "{outcomes:?}");
    for (status, problem) in &outcomes {
        if *status != StatusCode::CREATED {
            assert_eq!(*status, StatusCode::CONFLICT, "{problem}");
            assert!(
                problem["detail"].as_str().unwrap().contains("budget"),
                "{problem}"
            );
        }
    }
    let (_, after) = app
        .call(
            Method::GET,
            &format!("/v1/datasets/{dataset_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(after["epsilon_spent"], json!(9.0));
    assert_eq!(after["epsilon_remaining"], json!(1.0));
    for release in built {
        assert_eq!(release["manifest"]["epsilon_spent"], json!(3.0));
        // Noised: counts are whole numbers, never negative; the cohort
        // size is not the exact total's promise.
        for row in release["rows"].as_array().unwrap() {
            assert!(row["count"].as_i64().unwrap() >= 0);
        }
    }
}

async fn builds_outside_the_window_or_too_small_are_refused(app: TestApp) {
    let (licensee, token) = third_party_with_token(&app, "academic").await;
    for _ in 0..2 {
        member(&app, "north", Some(1000), true).await;
    }
    let dataset = create(&app, "/v1/datasets", dataset_body(None)).await;
    let now = app.clock.now();
    let later = create(
        &app,
        "/v1/licenses",
        json!({"dataset": dataset["id"], "licensee": licensee,
               "valid_from": now + TimeDelta::days(1), "valid_until": now + TimeDelta::days(30),
               "data_life_days": 7}),
    )
    .await;
    let later = later["id"].as_str().unwrap();
    let (status, problem) = build(&app, later).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/licenses/{later}/builds/latest"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Two consenting members, k_min 3: refused, nothing recorded.
    let now_license = license(&app, dataset["id"].as_str().unwrap(), &licensee).await;
    let (status, problem) = build(&app, &now_license).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("k_min"),
        "{problem}"
    );
    assert!(
        app.store
            .latest_build(&now_license)
            .await
            .unwrap()
            .is_none()
    );
    let (status, _) = build(&app, "lic_nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_license_whose_window_ends_is_announced_once(app: TestApp) {
    let licensee = app.third_party("academic").await;
    let dataset = create(&app, "/v1/datasets", dataset_body(None)).await;
    let id = license(&app, dataset["id"].as_str().unwrap(), &licensee).await;
    let expired = |deliveries: &Value| {
        deliveries["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|event| event["type"] == "license.expired")
            .count()
    };
    let (_, deliveries) = app
        .call(Method::GET, "/v1/webhook-deliveries", Some(ADMIN), None)
        .await;
    assert_eq!(expired(&deliveries), 0);
    // The window (30 days) ends: one event, whatever the sweeps after.
    app.clock.advance(TimeDelta::days(31));
    let now = app.clock.now();
    assert!(app.store.dataset_chores_due(now).await.unwrap());
    for _ in 0..2 {
        app.store
            .apply(datacoop_broker::store::Change::DatasetChores { now })
            .await
            .unwrap();
    }
    assert!(!app.store.dataset_chores_due(app.clock.now()).await.unwrap());
    let (_, deliveries) = app
        .call(Method::GET, "/v1/webhook-deliveries", Some(ADMIN), None)
        .await;
    assert_eq!(expired(&deliveries), 1, "{deliveries}");
    let event = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "license.expired")
        .unwrap();
    assert_eq!(event["third_party"], json!(licensee));
    let (status, entry) = app
        .call(
            Method::GET,
            &format!("/v1/audit/entries/{}", event["log_index"]),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        entry.to_string().contains("license.expired") && entry.to_string().contains(&id),
        "{entry}"
    );
    let (status, _) = build(&app, &id).await;
    assert_eq!(status, StatusCode::CONFLICT, "no build after the window");
}

on_both_databases!(
    a_license_whose_window_ends_is_announced_once,
    builds_count_only_consenting_members,
    bad_definitions_are_422_naming_each_field,
    the_budget_is_never_overspent_under_concurrent_builds,
    builds_outside_the_window_or_too_small_are_refused,
);
