//! The command line: help names every setting; bad settings fail fast and
//! say which variable is wrong.

use datacoop_tests::run_datacoop;

#[tokio::test]
async fn help_explains_every_command_and_variable() {
    let output = run_datacoop(&["--help"], &[]).await;
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for word in [
        "serve",
        "migrate",
        "DATACOOP_LOG_FORMAT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "DATACOOP_LOG",
    ] {
        assert!(
            help.contains(word),
            "`datacoop --help` should mention {word}:\n{help}"
        );
    }
    let output = run_datacoop(&["serve", "--help"], &[]).await;
    let help = String::from_utf8(output.stdout).unwrap();
    for variable in [
        "DATACOOP_DATABASE_URL",
        "DATACOOP_LISTEN",
        "DATACOOP_ADMIN_TOKEN",
        "DATACOOP_POLICY_DIR",
        "DATACOOP_MAX_BODY_BYTES",
        "DATACOOP_REQUEST_TIMEOUT_SECS",
        "DATACOOP_MAX_DELEGATION_DEPTH",
        "DATACOOP_ACCESS_TOKEN_TTL_SECS",
        "DATACOOP_MAX_SECRET_VERIFICATIONS",
        "DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS",
        "DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT",
        "DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS",
    ] {
        assert!(
            help.contains(variable),
            "`datacoop serve --help` should mention {variable}:\n{help}"
        );
    }
}

#[tokio::test]
async fn secrets_in_the_environment_never_show_in_help() {
    let output = run_datacoop(
        &["serve", "--help"],
        &[
            (
                "DATACOOP_ADMIN_TOKEN",
                "very-secret-admin-token-value-123456",
            ),
            ("DATACOOP_DATABASE_URL", "postgres://u:hunter2@db/x"),
        ],
    )
    .await;
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(!help.contains("very-secret-admin-token-value"));
    assert!(!help.contains("hunter2"));
}

#[tokio::test]
async fn bad_settings_fail_fast_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::sqlite_url(&dir);
    let cases: [(&[(&str, &str)], &str); 11] = [
        (&[("DATACOOP_LISTEN", "not-an-address")], "DATACOOP_LISTEN"),
        (
            &[("DATACOOP_DATABASE_URL", "mysql://x")],
            "DATACOOP_DATABASE_URL",
        ),
        (&[("DATACOOP_ADMIN_TOKEN", "short")], "DATACOOP_ADMIN_TOKEN"),
        (
            &[("DATACOOP_MAX_BODY_BYTES", "lots")],
            "DATACOOP_MAX_BODY_BYTES",
        ),
        (&[("DATACOOP_LOG", "=nonsense=[")], "DATACOOP_LOG"),
        (
            &[("DATACOOP_ACCESS_TOKEN_TTL_SECS", "5")],
            "DATACOOP_ACCESS_TOKEN_TTL_SECS",
        ),
        (
            &[("DATACOOP_REQUEST_TIMEOUT_SECS", "0")],
            "DATACOOP_REQUEST_TIMEOUT_SECS",
        ),
        (
            &[("DATACOOP_MAX_SECRET_VERIFICATIONS", "0")],
            "DATACOOP_MAX_SECRET_VERIFICATIONS",
        ),
        (
            &[("DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS", "-1")],
            "DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS",
        ),
        (
            &[("DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT", "many")],
            "DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT",
        ),
        (
            &[("DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS", "1e9")],
            "DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS",
        ),
    ];
    for (env, variable) in cases {
        let mut env = env.to_vec();
        if !env.iter().any(|(key, _)| *key == "DATACOOP_DATABASE_URL") {
            env.push(("DATACOOP_DATABASE_URL", &url));
        }
        let output = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            run_datacoop(&["serve"], &env),
        )
        .await
        .expect("a bad setting stops the process at once");
        assert!(!output.status.success(), "{variable}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(variable),
            "stderr should name {variable}:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn a_malformed_vocabulary_stops_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("vocabulary.json"),
        r#"{"version": 1, "data_categories": [{"id": "health.heart", "label": "Heart"}],
            "purposes": [{"id": "research", "label": "Research"}], "requester_classes": ["academic"]}"#,
    )
    .unwrap();
    let url = crate::sqlite_url(&dir);
    let policy_dir = policies.display().to_string();
    let output = run_datacoop(
        &["serve"],
        &[
            ("DATACOOP_DATABASE_URL", &url),
            ("DATACOOP_POLICY_DIR", &policy_dir),
            ("DATACOOP_LISTEN", "127.0.0.1:0"),
        ],
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("vocabulary.json"), "{stderr}");
    assert!(stderr.contains("parent `health`"), "{stderr}");
}

#[tokio::test]
async fn a_policy_folder_replaces_the_vocabulary() {
    let broker = crate::SqliteBroker::start_with(|options| options).await;
    let default = crate::client(&broker.broker)
        .with_token(broker.broker.printed_admin_token.as_deref().unwrap())
        .vocabulary()
        .await
        .unwrap();
    assert!(
        default
            .data_categories
            .iter()
            .any(|term| term.id == "health.heart" && term.parent.as_deref() == Some("health"))
    );
    assert!(
        default
            .purposes
            .iter()
            .any(|term| term.id == "research.academic")
    );
    broker.broker.stop().await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vocabulary.json"),
        r#"{"version": 1, "data_categories": [{"id": "water", "label": "Water use"}, {"id": "water.daily", "label": "Daily water use"}],
            "purposes": [{"id": "billing", "label": "Billing"}], "requester_classes": ["public_body"]}"#,
    )
    .unwrap();
    let policy_dir = dir.path().display().to_string();
    let custom =
        crate::SqliteBroker::start_with(|options| options.env("DATACOOP_POLICY_DIR", &policy_dir))
            .await;
    let vocabulary = custom.admin().vocabulary().await.unwrap();
    let ids: Vec<&str> = vocabulary
        .data_categories
        .iter()
        .map(|term| term.id.as_str())
        .collect();
    assert_eq!(ids, ["water", "water.daily"]);
    assert_eq!(
        vocabulary.requester_classes,
        [datacoop_sdk::wire::RequesterClass::PublicBody]
    );
    // A class the co-op does not use cannot be given to a third party.
    let error = custom
        .admin()
        .create_third_party(&datacoop_sdk::wire::CreateThirdParty {
            name: "Ad Co".into(),
            class: datacoop_sdk::wire::RequesterClass::Commercial,
            webhook_url: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(422));
    assert_eq!(error.problem().unwrap().errors[0].field, "class");
}

#[tokio::test]
async fn generate_writes_small_co_ops_and_refuses_impossible_shares() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::sqlite_url(&dir);
    // This command used to panic (index out of range).
    let output = run_datacoop(
        &[
            "generate",
            "--members",
            "100",
            "--own-rules",
            "0.3",
            "--delegating",
            "0.2",
            "--on-personas",
            "0.1",
            "--seed",
            "1",
        ],
        &[("DATACOOP_DATABASE_URL", &url)],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["members"], 100);
    assert_eq!(report["personas"], 3);
    // The broker serves what was written.
    let broker = datacoop_tests::Broker::start(datacoop_tests::BrokerOptions::new(&url)).await;
    let admin = crate::client(&broker).with_token(broker.printed_admin_token.as_deref().unwrap());
    let page = admin.list_members(Some(200), None).await.unwrap();
    assert_eq!(page.items.len(), 100);
    broker.stop().await;

    let output = run_datacoop(
        &[
            "generate",
            "--members",
            "10",
            "--own-rules",
            "0.6",
            "--delegating",
            "0.6",
        ],
        &[("DATACOOP_DATABASE_URL", &url)],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("--own-rules"), "{stderr}");
}
