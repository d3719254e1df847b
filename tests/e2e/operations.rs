//! Running datacoop as a deployment runs it (issue 12): migrations apart
//! from serving, a drain on SIGTERM that rolling updates rely on, and the
//! connection pool's settings.

use std::time::Duration;

use datacoop_sdk::wire::{CreateMember, CreateThirdParty, Registry, RequesterClass};
use datacoop_tests::{Broker, BrokerOptions, TestPostgres, run_datacoop};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::{client, sqlite_url};

const ADMIN: &str = "dca_operations_admin_token_0123456789abcdef";

/// With `DATACOOP_MIGRATE_ON_START=false`, `serve` refuses a database that
/// lacks migrations, naming the command that applies them; after
/// `datacoop migrate` it starts.
#[tokio::test]
async fn serve_without_migrating_needs_datacoop_migrate_first() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let refused = run_datacoop(
        &["serve"],
        &[
            ("DATACOOP_DATABASE_URL", &url),
            ("DATACOOP_LISTEN", "127.0.0.1:0"),
            ("DATACOOP_MIGRATE_ON_START", "false"),
        ],
    )
    .await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("datacoop migrate"), "{stderr}");
    let wrong = run_datacoop(&["serve"], &[("DATACOOP_MIGRATE_ON_START", "no")]).await;
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("DATACOOP_MIGRATE_ON_START"));

    let migrated = run_datacoop(&["migrate"], &[("DATACOOP_DATABASE_URL", &url)]).await;
    assert!(migrated.status.success(), "{migrated:?}");
    let broker =
        Broker::start(BrokerOptions::new(&url).env("DATACOOP_MIGRATE_ON_START", "false")).await;
    let admin = client(&broker).with_token(broker.printed_admin_token.as_deref().unwrap());
    admin
        .create_member(&CreateMember {
            display_name: None,
            registry: Registry::Public,
        })
        .await
        .unwrap();
    let (status, _) = broker.stop().await;
    assert!(status.success());
}

/// Many processes migrating one empty PostgreSQL database at once (the
/// chart's hook beside replicas that migrate as they start): the advisory
/// lock lets one apply each migration, and every one succeeds.
#[tokio::test]
async fn concurrent_migrations_on_postgres_all_succeed() {
    let Some(database) = TestPostgres::create().await else {
        return;
    };
    let url = database.url().to_owned();
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        runs.spawn(
            async move { run_datacoop(&["migrate"], &[("DATACOOP_DATABASE_URL", &url)]).await },
        );
    }
    while let Some(output) = runs.join_next().await {
        let output = output.unwrap();
        assert!(output.status.success(), "{output:?}");
    }
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    let applied: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, count(*) FROM _sqlx_migrations GROUP BY version ORDER BY version",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert!(applied.len() >= 11, "{applied:?}");
    assert!(applied.iter().all(|(_, count)| *count == 1), "{applied:?}");
    connection.close().await.ok();
}

/// SIGTERM: `/readyz` answers 503 at once (a load balancer stops sending)
/// while requests are still served for `DATACOOP_SHUTDOWN_DRAIN_SECS`;
/// then the process exits 0.
#[tokio::test]
async fn sigterm_drains_not_ready_first_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(
        BrokerOptions::new(sqlite_url(&dir))
            .env("DATACOOP_ADMIN_TOKEN", ADMIN)
            .env("DATACOOP_SHUTDOWN_DRAIN_SECS", "3"),
    )
    .await;
    let base = broker.base_url.clone();
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let stopping = tokio::spawn(broker.stop());
    let mut drained = None;
    for _ in 0..100 {
        let response = http.get(format!("{base}/readyz")).send().await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            drained = Some(response.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = drained.expect("/readyz goes 503 on SIGTERM");
    assert_eq!(drained["checks"]["shutdown"], "draining");
    // Still serving while it drains: a steward's write succeeds.
    let created = http
        .post(format!("{base}/v1/members"))
        .bearer_auth(ADMIN)
        .json(&json!({"registry": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let (status, _) = stopping.await.unwrap();
    assert!(status.success());
    assert!(http.get(format!("{base}/healthz")).send().await.is_err());
}

/// `DATACOOP_DATABASE_MAX_CONNECTIONS=1` keeps one connection in the pool,
/// and `DATACOOP_DATABASE_ACQUIRE_TIMEOUT_SECS=1` answers 503 once a
/// request has waited a second for it: here the one connection is held
/// by a write waiting on a row lock the test holds.
#[tokio::test]
async fn the_pool_is_bounded_and_a_starved_request_is_503() {
    let Some(database) = TestPostgres::create().await else {
        return;
    };
    let broker = Broker::start(
        BrokerOptions::new(database.url())
            .env("DATACOOP_ADMIN_TOKEN", ADMIN)
            .env("DATACOOP_DATABASE_MAX_CONNECTIONS", "1")
            .env("DATACOOP_DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
    )
    .await;
    let admin = client(&broker).with_token(ADMIN);
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let member = admin
        .create_member(&CreateMember {
            display_name: None,
            registry: Registry::Public,
        })
        .await
        .unwrap();
    // Hold the log's head: the next write takes the broker's only
    // connection and waits for it.
    let mut holder = sqlx::PgConnection::connect(database.url()).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("SELECT size FROM log_head WHERE id = 1 FOR UPDATE")
        .execute(&mut *held)
        .await
        .unwrap();
    let writer = {
        let admin = admin.clone();
        tokio::spawn(async move {
            admin
                .create_member(&CreateMember {
                    display_name: None,
                    registry: Registry::Public,
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::new();
    let decision = http
        .post(format!("{}/v1/decisions", broker.base_url))
        .bearer_auth(ADMIN)
        .json(
            &json!({"member": member.id, "requester": lab.id, "action": "access",
                      "data_categories": ["health"], "purpose": "research"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(decision.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = decision.json().await.unwrap();
    assert_eq!(problem["type"], "urn:datacoop:problem:unavailable");
    // The broker never opened a second pooled connection (its change-feed
    // listener has one of its own).
    let mut observer = sqlx::PgConnection::connect(database.url()).await.unwrap();
    let connections: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'datacoop' AND query NOT ILIKE 'LISTEN%'",
    )
    .fetch_one(&mut observer)
    .await
    .unwrap();
    assert_eq!(connections, 1);
    held.rollback().await.unwrap();
    writer.await.unwrap().unwrap();
    let (status, _) = broker.stop().await;
    assert!(status.success());
    observer.close().await.ok();
    holder.close().await.ok();
}
