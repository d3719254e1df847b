//! Third parties through the SDK against the real binary: OAuth2 client
//! credentials, pairwise subjects, reads that consent allows, suspension,
//! and logs that hold no secret or datum.

use datacoop_sdk::ThirdPartyClient;
use datacoop_sdk::wire::{
    AccessRequest, CreateMember, CreateThirdParty, Effect, Reason, Registry, RequesterClass,
    RequesterSelector, RuleAction, RuleBody, ThirdPartyStatus, Verdict,
};
use serde_json::json;

use crate::{SqliteBroker, client};

#[tokio::test]
async fn a_third_party_reads_what_consent_allows_and_nothing_leaks_to_the_logs() {
    let broker = SqliteBroker::start_with(|options| options.env("DATACOOP_LOG", "debug")).await;
    let admin = broker.admin();
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let created = admin
        .create_member(&CreateMember {
            display_name: Some("Ada".into()),
            registry: Registry::Public,
        })
        .await
        .unwrap();
    let ada = client(&broker.broker).with_token(&created.token);
    let secret_value = "sinus-rhythm-62-private";
    ada.put_data("health.heart", &json!({"note": secret_value}))
        .await
        .unwrap();
    ada.put_data("location", &json!("Ghent")).await.unwrap();
    ada.create_my_rule(&RuleBody {
        effect: Effect::Allow,
        action: RuleAction::Access,
        requester: RequesterSelector::Class("academic".into()),
        data_categories: vec!["health".into()],
        purposes: vec!["research".into()],
        not_before: None,
        expires_at: None,
    })
    .await
    .unwrap();
    let subject = ada.connect(&lab.id).await.unwrap().subject;

    let reader =
        ThirdPartyClient::new(&broker.broker.base_url, &lab.client_id, &lab.client_secret).unwrap();
    let request = AccessRequest {
        subject: subject.clone(),
        data_categories: vec!["health".into(), "location".into()],
        purpose: "research.academic".into(),
    };
    let answer = reader.access(&request).await.unwrap();
    assert_eq!(answer.decision, Verdict::Deny);
    assert_eq!(answer.categories[0].reason, Reason::Allowed);
    assert_eq!(answer.categories[1].reason, Reason::NoConsent);
    assert_eq!(
        answer.data,
        json!({"health.heart": {"note": secret_value}})
            .as_object()
            .unwrap()
            .clone()
    );
    // The token is cached: a second read needs no new one.
    assert_eq!(
        reader.access(&request).await.unwrap().decision,
        Verdict::Deny
    );
    let log = ada.access_log(None, None).await.unwrap();
    assert_eq!(log.items.len(), 2);
    assert_eq!(log.items[0].requester, lab.id);

    // Suspended: the live token stops working and no new one is issued.
    admin
        .set_third_party_status(&lab.id, ThirdPartyStatus::Suspended)
        .await
        .unwrap();
    let error = reader.access(&request).await.unwrap_err();
    assert!(error.to_string().contains("access token"), "{error}");
    let wrong =
        ThirdPartyClient::new(&broker.broker.base_url, &lab.client_id, "dcs_wrong").unwrap();
    assert!(wrong.vocabulary().await.is_err());

    let (status, stderr) = broker.broker.stop().await;
    assert!(status.success());
    for secret in [
        lab.client_secret.as_str(),
        secret_value,
        created.token.as_str(),
        subject.as_str(),
    ] {
        assert!(!stderr.contains(secret), "the logs leak {secret:?}");
    }
}
