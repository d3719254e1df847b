//! Aggregate datasets (issue 11) through the real binary: a steward
//! defines, licenses and builds a dataset; the licensee fetches it with
//! its OAuth2 token and hears, signed, when the license is revoked; the
//! privacy budget (`DATACOOP_DP_BUDGET`) refuses the build that would
//! pass it; `datacoop dataset build` builds from the database with the
//! broker stopped; members see the builds that counted them.

use std::time::Duration;

use chrono::DateTime;
use datacoop_sdk::ThirdPartyClient;
use datacoop_sdk::webhook::{EventKind, Verifier};
use datacoop_sdk::wire::{
    CreateDataset, CreateLicense, CreateMember, CreateThirdParty, Dimension, EventType,
    LicenseStatus, Measure, MeasureOp, Registry, RequesterClass, RequesterSelector, RuleAction,
    RuleBody, UpdateLicense,
};
use datacoop_tests::{Broker, BrokerOptions, Receiver, run_datacoop};
use serde_json::json;

use crate::{client, sqlite_url};

const ADMIN: &str = "dca_datasets-admin-token-0123456789abcdef";

fn definition(name: &str, epsilon: Option<f64>) -> CreateDataset {
    CreateDataset {
        name: name.into(),
        description: Some("Heart rates by age band".into()),
        purpose: "research".into(),
        data_categories: vec!["health.heart".into()],
        dimensions: vec![Dimension {
            category: "health.heart".into(),
            pointer: "/age_band".into(),
        }],
        measures: vec![
            Measure {
                op: MeasureOp::Count,
                category: None,
                pointer: None,
                bounds: None,
            },
            Measure {
                op: MeasureOp::Mean,
                category: Some("health.heart".into()),
                pointer: Some("/resting_bpm".into()),
                bounds: Some([30.0, 220.0]),
            },
        ],
        k_min: Some(3),
        epsilon,
    }
}

fn license_body(dataset: &str, licensee: &str) -> CreateLicense {
    // The broker runs on the wall clock: a window wide around any today.
    let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
    CreateLicense {
        dataset: dataset.into(),
        licensee: licensee.into(),
        valid_from: at("2020-01-01T00:00:00Z"),
        valid_until: at("2099-01-01T00:00:00Z"),
        data_life_days: 30,
    }
}

#[tokio::test]
async fn a_dataset_is_licensed_built_fetched_revoked_and_built_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let receiver = Receiver::start().await;
    let broker = Broker::start(
        BrokerOptions::new(&url)
            .env("DATACOOP_ADMIN_TOKEN", ADMIN)
            .env("DATACOOP_ALLOW_INSECURE_WEBHOOKS", "true")
            .env("DATACOOP_DP_BUDGET", "2"),
    )
    .await;
    let admin = client(&broker).with_token(ADMIN);
    let created = admin
        .create_third_party(&CreateThirdParty {
            name: "Heart lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let lab = ThirdPartyClient::new(&broker.base_url, &created.client_id, &created.client_secret)
        .unwrap();
    let endpoint = lab.set_webhook(&receiver.url("hook")).await.unwrap();
    // Twelve members allow aggregate use of heart data for research; two
    // store data but never consent.
    let mut first_token = String::new();
    for index in 0..14 {
        let enrolled = admin
            .create_member(&CreateMember {
                display_name: None,
                registry: Registry::Anonymous,
            })
            .await
            .unwrap();
        let member = client(&broker).with_token(&enrolled.token);
        let band = if index % 2 == 0 { "30-39" } else { "40-49" };
        member
            .put_data(
                "health.heart",
                &json!({"resting_bpm": 50 + index, "age_band": band}),
            )
            .await
            .unwrap();
        if index < 12 {
            member
                .create_my_rule(&RuleBody {
                    effect: datacoop_sdk::wire::Effect::Allow,
                    action: RuleAction::Aggregate,
                    requester: RequesterSelector::Any,
                    data_categories: vec!["health.heart".into()],
                    purposes: vec!["research".into()],
                    not_before: None,
                    expires_at: None,
                })
                .await
                .unwrap();
        }
        if index == 0 {
            first_token = enrolled.token.clone();
        }
    }

    // Exact figures: twelve counted, six per band.
    let exact = admin
        .create_dataset(&definition("Exact", None))
        .await
        .unwrap();
    let exact_license = admin
        .create_license(&license_body(&exact.id, &created.id))
        .await
        .unwrap();
    let built = admin.build_license(&exact_license.id).await.unwrap();
    assert_eq!(built.manifest.cohort_size, 12);
    assert_eq!(built.manifest.suppressed_cells, 0);
    assert_eq!(built.rows.len(), 2);
    let fetched = lab.latest_build(&exact_license.id).await.unwrap();
    assert_eq!(fetched, built);
    let counted = client(&broker)
        .with_token(&first_token)
        .my_dataset_builds()
        .await
        .unwrap();
    assert_eq!(counted.items[0].build_id, built.manifest.build_id);
    assert_eq!(counted.items[0].licensee, created.id);

    // Noised: a budget of 2 pays for two builds at epsilon 1, not three.
    let noised = admin
        .create_dataset(&definition("Noised", Some(1.0)))
        .await
        .unwrap();
    let noised_license = admin
        .create_license(&license_body(&noised.id, &created.id))
        .await
        .unwrap();
    for _ in 0..2 {
        let release = admin.build_license(&noised_license.id).await.unwrap();
        assert_eq!(release.manifest.epsilon_spent, 1.0);
    }
    let refused = admin.build_license(&noised_license.id).await.unwrap_err();
    assert_eq!(refused.status(), Some(reqwest::StatusCode::CONFLICT));
    assert!(refused.to_string().contains("budget"), "{refused}");
    assert_eq!(
        admin.dataset(&noised.id).await.unwrap().epsilon_remaining,
        0.0
    );

    // Revoked: the licensee hears of it, signed, and can fetch no more.
    admin
        .update_license(
            &exact_license.id,
            &UpdateLicense {
                status: LicenseStatus::Revoked,
            },
        )
        .await
        .unwrap();
    let arrivals = receiver.wait_for("hook", 1, Duration::from_secs(20)).await;
    let event = Verifier::new(&endpoint.secret)
        .unwrap()
        .verify_and_parse_now(&arrivals[0].headers, &arrivals[0].body)
        .expect("signed with the endpoint's secret");
    let EventKind::LicenseEnded { kind, data } = event.kind else {
        panic!("not a license event: {:?}", arrivals[0].json());
    };
    assert_eq!(kind, EventType::LicenseRevoked);
    assert_eq!(data.license, exact_license.id);
    let forbidden = lab.latest_build(&exact_license.id).await.unwrap_err();
    assert_eq!(forbidden.status(), Some(reqwest::StatusCode::FORBIDDEN));

    // The command line builds from the database (the broker stopped: one
    // process holds an SQLite file) and prints the manifest.
    let cli_license = admin
        .create_license(&license_body(&exact.id, &created.id))
        .await
        .unwrap();
    let (status, _) = broker.stop().await;
    assert!(status.success());
    let output = run_datacoop(
        &["dataset", "build", &cli_license.id],
        &[("DATACOOP_DATABASE_URL", &url)],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let manifest: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(manifest["cohort_size"], json!(12));
    assert_eq!(manifest["license"], json!(cli_license.id));
    // Refusals say why and exit non-zero.
    let output = run_datacoop(
        &["dataset", "build", &noised_license.id],
        &[("DATACOOP_DATABASE_URL", &url), ("DATACOOP_DP_BUDGET", "2")],
    )
    .await;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("budget"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
