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
    /// Members who accept delegations from the start.
    #[serde(default)]
    proxies: Vec<String>,
    #[serde(default)]
    personas: Vec<PersonaSetup>,
    #[serde(default)]
    rules: Vec<RuleSetup>,
    #[serde(default)]
    delegations: Vec<DelegationSetup>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonaSetup {
    label: String,
    rules: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelegationSetup {
    label: String,
    from: String,
    /// `{"member": LABEL}` or `{"persona": LABEL}`.
    to: Value,
    #[serde(default)]
    data_categories: Option<Vec<String>>,
    #[serde(default)]
    purposes: Option<Vec<String>>,
}

/// A change made before a case is decided.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Step {
    OptIn(String),
    OptOut(String),
    Leave(String),
    Revoke(String),
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
    #[serde(default)]
    before: Vec<Step>,
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
    /// A member label, `persona:LABEL`, or `coop`.
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
    for label in &scenario.proxies {
        let (status, _) = app
            .call(
                Method::PATCH,
                "/v1/me",
                Some(&tokens[label]),
                Some(json!({"accepts_delegations": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    for persona in &scenario.personas {
        let (status, body) = app
            .call(
                Method::POST,
                "/v1/personas",
                Some(ADMIN),
                Some(json!({"name": persona.label, "description": "A scenario persona.", "rules": persona.rules})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        ids.insert(
            persona.label.clone(),
            body["id"].as_str().unwrap().to_owned(),
        );
        for (index, rule) in body["rules"].as_array().unwrap().iter().enumerate() {
            ids.insert(
                format!("{}.rule{index}", persona.label),
                rule["id"].as_str().unwrap().to_owned(),
            );
        }
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
    for delegation in &scenario.delegations {
        let to = match &delegation.to {
            Value::Object(target) => {
                let (kind, label) = target.iter().next().unwrap();
                json!({kind: ids[label.as_str().unwrap()]})
            }
            other => panic!("{name}: bad delegation target {other}"),
        };
        let mut body = json!({"to": to});
        if let Some(categories) = &delegation.data_categories {
            body["data_categories"] = json!(categories);
        }
        if let Some(purposes) = &delegation.purposes {
            body["purposes"] = json!(purposes);
        }
        let (status, created) = app
            .call(
                Method::POST,
                "/v1/me/delegations",
                Some(&tokens[&delegation.from]),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {created}");
        ids.insert(
            delegation.label.clone(),
            created["id"].as_str().unwrap().to_owned(),
        );
        tokens.insert(delegation.label.clone(), tokens[&delegation.from].clone());
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
        for step in &case.before {
            let (method, path, label, body) = match step {
                Step::OptIn(label) => (
                    Method::PATCH,
                    "/v1/me".to_owned(),
                    label,
                    Some(json!({"accepts_delegations": true})),
                ),
                Step::OptOut(label) => (
                    Method::PATCH,
                    "/v1/me".to_owned(),
                    label,
                    Some(json!({"accepts_delegations": false})),
                ),
                Step::Leave(label) => (Method::DELETE, "/v1/me".to_owned(), label, None),
                Step::Revoke(label) => (
                    Method::DELETE,
                    format!("/v1/me/delegations/{}", ids[label]),
                    label,
                    None,
                ),
            };
            let (status, body) = app.call(method, &path, Some(&tokens[label]), body).await;
            assert!(
                status.is_success(),
                "{name} / {}: {step:?}: {body}",
                case.name
            );
        }
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
            } else if let Some(persona) = want.decided_by.strip_prefix("persona:") {
                json!({"persona": id_of(persona)})
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
