//! Table-driven consent scenarios: each file in `broker/tests/scenarios/`
//! sets up third parties, members and rules through the API, then checks
//! decisions field by field. Every file runs on SQLite and on PostgreSQL,
//! which must decide alike.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use datacoop_broker::clock::Clock;

use crate::support::{ADMIN, TestApp};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// The section of consent-semantics.md the file exercises.
    spec: String,
    #[serde(default)]
    third_parties: HashMap<String, ThirdPartySetup>,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    rules: Vec<RuleSetup>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThirdPartySetup {
    class: String,
    #[serde(default)]
    suspended: bool,
}

#[derive(Debug, Deserialize)]
struct RuleSetup {
    /// How cases name this rule.
    label: String,
    /// A member label, or `coop`.
    owner: String,
    /// The rule body, with `requester.third_party` given as a label.
    #[serde(flatten)]
    body: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// The decision instant; the scenario's start when absent.
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    member: String,
    requester: String,
    action: String,
    data_categories: Vec<String>,
    purpose: String,
    decision: String,
    categories: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    category: String,
    decision: String,
    reason: String,
    /// A member label, or `coop`.
    decided_by: String,
    chain: Vec<String>,
    rules: Vec<String>,
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "scenario files in {}", dir.display());
    files
}

/// Sets a scenario up in `app` and checks every case.
async fn run(app: &TestApp, path: &PathBuf) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let scenario: Scenario = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    assert!(scenario.spec.contains('§'), "{name}: cite the spec section");
    let start = app.clock.now();

    // Labels to ids; unknown labels stand for ids that exist nowhere.
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut tokens: HashMap<String, String> = HashMap::new();
    for (label, setup) in &scenario.third_parties {
        let id = app.third_party(&setup.class).await;
        if setup.suspended {
            let (status, _) = app
                .call(
                    Method::PATCH,
                    &format!("/v1/third-parties/{id}"),
                    Some(ADMIN),
                    Some(json!({"status": "suspended"})),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
        ids.insert(label.clone(), id);
    }
    for label in &scenario.members {
        let member = app.enrol(Some(label), "public").await;
        ids.insert(label.clone(), member["id"].as_str().unwrap().to_owned());
        tokens.insert(label.clone(), member["token"].as_str().unwrap().to_owned());
    }
    for rule in &scenario.rules {
        let mut body = rule.body.clone();
        if let Some(Value::Object(requester)) = body.get_mut("requester")
            && let Some(Value::String(label)) = requester.get_mut("third_party")
        {
            *label = ids[label.as_str()].clone();
        }
        let token = if rule.owner == "coop" {
            ADMIN
        } else {
            tokens[&rule.owner].as_str()
        };
        let created = app.rule(token, Value::Object(body)).await;
        ids.insert(
            rule.label.clone(),
            created["id"].as_str().unwrap().to_owned(),
        );
    }
    // Labels used by cases but never set up stand for ids that exist nowhere.
    for case in &scenario.cases {
        ids.entry(case.member.clone())
            .or_insert_with(|| format!("mbr_{}", uuid::Uuid::new_v4().simple()));
        ids.entry(case.requester.clone())
            .or_insert_with(|| format!("tp_{}", uuid::Uuid::new_v4().simple()));
    }
    let id_of = |label: &str| ids[label].clone();
    let label_of = |id: &str| {
        ids.iter()
            .find(|(_, value)| value.as_str() == id)
            .map_or_else(|| id.to_owned(), |(label, _)| label.clone())
    };

    for case in &scenario.cases {
        app.clock.set(case.at.unwrap_or(start));
        let categories: Vec<&str> = case.data_categories.iter().map(String::as_str).collect();
        let decision = app
            .decide(
                &id_of(&case.member),
                &id_of(&case.requester),
                &case.action,
                &categories,
                &case.purpose,
            )
            .await;
        let context = format!("{name} / {}: {decision:#}", case.name);
        assert_eq!(decision["decision"], case.decision.as_str(), "{context}");
        assert_eq!(
            decision["evaluated_at"],
            json!(case.at.unwrap_or(start)),
            "{context}"
        );
        let actual = decision["categories"].as_array().unwrap();
        assert_eq!(actual.len(), case.categories.len(), "{context}");
        for (got, want) in actual.iter().zip(&case.categories) {
            assert_eq!(got["category"], want.category.as_str(), "{context}");
            assert_eq!(got["decision"], want.decision.as_str(), "{context}");
            assert_eq!(got["reason"], want.reason.as_str(), "{context}");
            let decided_by = if want.decided_by == "coop" {
                json!({"coop": true})
            } else {
                json!({"member": id_of(&want.decided_by)})
            };
            assert_eq!(got["decided_by"], decided_by, "{context}");
            let chain: Vec<String> = got["chain"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| label_of(id.as_str().unwrap()))
                .collect();
            assert_eq!(chain, want.chain, "{context}");
            let mut rules: Vec<String> = got["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| label_of(id.as_str().unwrap()))
                .collect();
            let mut expected = want.rules.clone();
            rules.sort();
            expected.sort();
            assert_eq!(rules, expected, "{context}");
        }
    }
    app.clock.set(start);
}

#[tokio::test]
async fn scenarios_on_sqlite() {
    for path in scenario_files() {
        run(&TestApp::sqlite().await, &path).await;
    }
}

#[tokio::test]
async fn scenarios_on_postgres() {
    for path in scenario_files() {
        let Some(app) = TestApp::postgres().await else {
            return;
        };
        run(&app, &path).await;
    }
}
