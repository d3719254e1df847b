//! Consent through the real binary: rules are compiled to Cedar, stored,
//! reloaded at start, and decide the same after a restart.

use datacoop_sdk::wire::{
    Action, CreateMember, CreatePersona, CreateThirdParty, DecidedBy, DecisionRequest, Effect,
    ExplainRequest, Reason, Registry, RequesterClass, RequesterSelector, RuleAction, RuleBody,
    Verdict,
};
use datacoop_tests::{Broker, BrokerOptions, TestPostgres};

use crate::{client, sqlite_url};

fn rule(effect: Effect, categories: &[&str], purposes: &[&str]) -> RuleBody {
    RuleBody {
        effect,
        action: RuleAction::Any,
        requester: RequesterSelector::Class("academic".into()),
        data_categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
        not_before: None,
        expires_at: None,
    }
}

async fn decisions_survive_a_restart(database_url: &str) {
    let first = Broker::start(BrokerOptions::new(database_url)).await;
    let token = first.printed_admin_token.clone().unwrap();
    let admin = client(&first).with_token(&token);
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let ada = admin
        .create_member(&CreateMember {
            display_name: None,
            registry: Registry::Public,
        })
        .await
        .unwrap();
    let ada_client = client(&first).with_token(&ada.token);
    let mut allow = ada_client
        .create_my_rule(&rule(Effect::Allow, &["health"], &["research"]))
        .await
        .unwrap();
    // Read back, a rule carries no receipt.
    assert!(allow.log_index.take().is_some());
    assert!(allow.cedar.contains("permit"));
    let mut deny = ada_client
        .create_my_rule(&rule(Effect::Deny, &["health.condition"], &["*"]))
        .await
        .unwrap();
    assert!(deny.log_index.take().is_some());
    let coop = admin
        .create_coop_rule(&RuleBody {
            requester: RequesterSelector::Any,
            ..rule(Effect::Deny, &["location.precise"], &["*"])
        })
        .await
        .unwrap();
    let mut persona = admin
        .create_persona(&CreatePersona {
            name: "Strictly private".into(),
            description: "Shares nothing with anyone.".into(),
            rules: vec![RuleBody {
                requester: RequesterSelector::Any,
                action: RuleAction::Any,
                ..rule(Effect::Deny, &["*"], &["*"])
            }],
        })
        .await
        .unwrap();
    assert!(persona.log_index.take().is_some());
    let question = DecisionRequest {
        member: ada.id.clone(),
        requester: lab.id.clone(),
        action: Action::Access,
        data_categories: vec![
            "health.heart".into(),
            "health.condition".into(),
            "location.precise".into(),
        ],
        purpose: "research.academic".into(),
    };
    let before = admin.decide(&question).await.unwrap();
    assert_eq!(before.decision, Verdict::Deny);
    let reasons: Vec<Reason> = before.categories.iter().map(|c| c.reason).collect();
    assert_eq!(
        reasons,
        [Reason::Allowed, Reason::DeniedByRule, Reason::CoopPolicy]
    );
    assert_eq!(before.categories[0].rules, vec![allow.id.clone()]);
    assert_eq!(
        before.categories[1].rules,
        [deny.id.clone(), allow.id.clone()]
    );
    assert_eq!(before.categories[2].rules, vec![coop.id.clone()]);
    assert_eq!(before.categories[2].decided_by, DecidedBy::Coop(true));
    assert_eq!(
        before.categories[0].decided_by,
        DecidedBy::Member(ada.id.clone())
    );
    let (status, _) = first.stop().await;
    assert!(status.success());

    let second = Broker::start(BrokerOptions::new(database_url)).await;
    let admin = client(&second).with_token(&token);
    let after = admin.decide(&question).await.unwrap();
    assert_eq!(
        after.categories, before.categories,
        "the same decision after a restart"
    );
    let ada_client = client(&second).with_token(&ada.token);
    assert_eq!(
        ada_client.my_rules().await.unwrap(),
        vec![allow.clone(), deny.clone()]
    );
    assert_eq!(admin.personas().await.unwrap(), vec![persona]);

    // Revoking the allow is seen by the very next decision.
    ada_client.delete_my_rule(&allow.id).await.unwrap();
    let explained = ada_client
        .explain(&ExplainRequest {
            requester: lab.id.clone(),
            action: Action::Access,
            data_categories: vec!["health.heart".into()],
            purpose: "research.academic".into(),
        })
        .await
        .unwrap();
    assert_eq!(explained.categories[0].reason, Reason::NoConsent);
    let error = ada_client.delete_my_rule(&allow.id).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    let (status, _) = second.stop().await;
    assert!(status.success());
}

#[tokio::test]
async fn sqlite_decisions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    decisions_survive_a_restart(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn postgres_decisions_survive_a_restart() {
    let Some(database) = TestPostgres::create().await else {
        return;
    };
    decisions_survive_a_restart(database.url()).await;
}

#[tokio::test]
async fn co_op_policies_that_permit_or_do_not_validate_stop_start_up() {
    let cases = [
        (
            "permit (principal, action, resource);",
            "must be a `forbid`",
        ),
        (
            "forbid (principal, action, resource) when { context.nonsense };",
            "does not validate",
        ),
        ("forbid (principal, action", "does not parse"),
    ];
    for (policy, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("vocabulary.json"),
            datacoop_broker_vocabulary(),
        )
        .unwrap();
        std::fs::write(dir.path().join("coop.cedar"), policy).unwrap();
        let url = sqlite_url(&dir);
        let policy_dir = dir.path().display().to_string();
        let output = datacoop_tests::run_datacoop(
            &["serve"],
            &[
                ("DATACOOP_DATABASE_URL", &url),
                ("DATACOOP_POLICY_DIR", &policy_dir),
                ("DATACOOP_LISTEN", "127.0.0.1:0"),
            ],
        )
        .await;
        assert!(!output.status.success(), "{policy}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{policy}: {stderr}");
        assert!(
            stderr.contains("coop.cedar"),
            "the error names the file: {stderr}"
        );
    }
}

fn datacoop_broker_vocabulary() -> &'static str {
    r#"{"version": 1, "data_categories": [{"id": "health", "label": "Health"}],
        "purposes": [{"id": "research", "label": "Research"}], "requester_classes": ["academic"]}"#
}

#[tokio::test]
async fn a_delegation_chain_decides_through_the_binary_and_survives_a_restart() {
    use datacoop_sdk::wire::{CreateDelegation, Proxy, UpdateMe};
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let first =
        Broker::start(BrokerOptions::new(&url).env("DATACOOP_MAX_DELEGATION_DEPTH", "2")).await;
    let token = first.printed_admin_token.clone().unwrap();
    let admin = client(&first).with_token(&token);
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let mut members = Vec::new();
    for _ in 0..4 {
        let created = admin
            .create_member(&CreateMember {
                display_name: None,
                registry: Registry::Public,
            })
            .await
            .unwrap();
        let member = client(&first).with_token(&created.token);
        member
            .update_me(&UpdateMe {
                accepts_delegations: Some(true),
                ..UpdateMe::default()
            })
            .await
            .unwrap();
        members.push((created.id, created.token));
    }
    // m0 -> m1 -> m2 -> m3; m3 allows.
    for pair in members.windows(2) {
        let delegation = client(&first)
            .with_token(&pair[0].1)
            .delegate(&CreateDelegation {
                to: Proxy::Member(pair[1].0.clone()),
                data_categories: None,
                purposes: None,
            })
            .await
            .unwrap();
        assert!(delegation.cedar.contains("decide_for"));
    }
    client(&first)
        .with_token(&members[3].1)
        .create_my_rule(&rule(Effect::Allow, &["*"], &["research"]))
        .await
        .unwrap();
    let ask = |member: &str| DecisionRequest {
        member: member.to_owned(),
        requester: lab.id.clone(),
        action: Action::Access,
        data_categories: vec!["health".into()],
        purpose: "research".into(),
    };
    let from_m1 = admin.decide(&ask(&members[1].0)).await.unwrap();
    assert_eq!(from_m1.categories[0].reason, Reason::Allowed);
    assert_eq!(
        from_m1.categories[0].chain,
        vec![
            members[1].0.clone(),
            members[2].0.clone(),
            members[3].0.clone()
        ]
    );
    // The configured depth limit (2 hops) stops the chain from m0.
    let from_m0 = admin.decide(&ask(&members[0].0)).await.unwrap();
    assert_eq!(from_m0.categories[0].reason, Reason::DelegationTooDeep);
    let delegators = client(&first)
        .with_token(&members[1].1)
        .delegators()
        .await
        .unwrap();
    assert_eq!(
        (delegators.count, delegators.public.clone()),
        (1, vec![members[0].0.clone()])
    );
    assert!(first.stop().await.0.success());

    let second =
        Broker::start(BrokerOptions::new(&url).env("DATACOOP_MAX_DELEGATION_DEPTH", "2")).await;
    let admin = client(&second).with_token(&token);
    assert_eq!(
        admin.decide(&ask(&members[1].0)).await.unwrap().categories,
        from_m1.categories
    );
    // m2 leaves: m1's delegation is inactive, so m1 is silent.
    client(&second)
        .with_token(&members[2].1)
        .leave()
        .await
        .unwrap();
    let after = admin.decide(&ask(&members[1].0)).await.unwrap();
    assert_eq!(after.categories[0].reason, Reason::NoConsent);
    let listed = client(&second)
        .with_token(&members[1].1)
        .my_delegations()
        .await
        .unwrap();
    assert!(!listed[0].active);
    assert!(second.stop().await.0.success());
}
