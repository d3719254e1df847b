//! Start, serve, stop, start again: nothing acknowledged is lost, and the
//! generated admin token is printed once only.

use datacoop_sdk::wire::{
    CreateMember, CreateThirdParty, Registry, RequesterClass, ThirdPartyStatus, UpdateMe,
};
use datacoop_tests::{Broker, BrokerOptions, TestPostgres};

use crate::{client, sqlite_url};

#[tokio::test]
async fn sqlite_everything_survives_a_restart_and_the_admin_token_prints_once() {
    let dir = tempfile::tempdir().unwrap();
    survives_restart(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn postgres_everything_survives_a_restart_and_the_admin_token_prints_once() {
    let Some(database) = TestPostgres::create().await else {
        return;
    };
    survives_restart(database.url()).await;
}

async fn survives_restart(database_url: &str) {
    let first = Broker::start(BrokerOptions::new(database_url)).await;
    let admin_token = first
        .printed_admin_token
        .clone()
        .expect("the first start prints a generated admin token");
    assert!(admin_token.starts_with("dca_"));
    let admin = client(&first).with_token(&admin_token);

    let ada = admin
        .create_member(&CreateMember {
            display_name: Some("Ada".into()),
            registry: Registry::Public,
        })
        .await
        .unwrap();
    let bo = admin
        .create_member(&CreateMember {
            display_name: Some("Bo".into()),
            registry: Registry::Anonymous,
        })
        .await
        .unwrap();
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Heart Study".into(),
            class: RequesterClass::Academic,
            webhook_url: Some("https://heart.example.org/hook".into()),
        })
        .await
        .unwrap();
    admin
        .set_third_party_status(&lab.id, ThirdPartyStatus::Suspended)
        .await
        .unwrap();
    client(&first)
        .with_token(&ada.token)
        .update_me(&UpdateMe {
            accepts_delegations: Some(true),
            ..UpdateMe::default()
        })
        .await
        .unwrap();

    let (status, _) = first.stop().await;
    assert!(status.success(), "SIGTERM exits 0, got {status}");

    let second = Broker::start(BrokerOptions::new(database_url)).await;
    assert_eq!(
        second.printed_admin_token, None,
        "the admin token is printed only once"
    );
    assert!(
        second
            .stdout_lines
            .iter()
            .all(|line| !line.contains("dca_")),
        "{:?}",
        second.stdout_lines
    );
    let admin = client(&second).with_token(&admin_token);

    let members = admin.list_members(None, None).await.unwrap();
    let ids: Vec<&str> = members.items.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [ada.id.as_str(), bo.id.as_str()]);
    assert_eq!(members.items[0].display_name.as_deref(), Some("Ada"));
    assert_eq!(
        members.items[1].display_name, None,
        "anonymous members carry no name"
    );

    let me = client(&second).with_token(&ada.token).me().await.unwrap();
    assert_eq!(me.id, ada.id);
    assert!(me.accepts_delegations);
    let bo_me = client(&second).with_token(&bo.token).me().await.unwrap();
    assert_eq!(
        bo_me.display_name.as_deref(),
        Some("Bo"),
        "members see their own name"
    );

    let lab_now = admin.third_party(&lab.id).await.unwrap();
    assert_eq!(lab_now.status, ThirdPartyStatus::Suspended);
    assert_eq!(lab_now.client_id, lab.client_id);
    assert_eq!(
        lab_now.webhook_url.as_deref(),
        Some("https://heart.example.org/hook")
    );

    let (status, _) = second.stop().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_configured_admin_token_is_used_and_nothing_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let token = "steward-token-0123456789-abcdefghijklmnop";
    let broker =
        Broker::start(BrokerOptions::new(sqlite_url(&dir)).env("DATACOOP_ADMIN_TOKEN", token))
            .await;
    assert_eq!(broker.printed_admin_token, None);
    let admin = client(&broker).with_token(token);
    assert!(
        admin
            .list_members(None, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let wrong = client(&broker).with_token("steward-token-0123456789-abcdefghijklmnoX");
    assert_eq!(
        wrong
            .list_members(None, None)
            .await
            .unwrap_err()
            .status()
            .map(|s| s.as_u16()),
        Some(401)
    );
    let (status, stderr) = broker.stop().await;
    assert!(status.success());
    assert!(
        !stderr.contains(token),
        "the admin token never reaches the logs"
    );
}

#[tokio::test]
async fn members_page_through_in_enrolment_order() {
    let broker = crate::SqliteBroker::start().await;
    let admin = broker.admin();
    let mut created = Vec::new();
    for index in 0..7 {
        let member = admin
            .create_member(&CreateMember {
                display_name: Some(format!("Member {index}")),
                registry: if index % 2 == 0 {
                    Registry::Public
                } else {
                    Registry::Anonymous
                },
            })
            .await
            .unwrap();
        created.push(member.id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = admin
            .list_members(Some(3), cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        for item in &page.items {
            assert_eq!(
                item.display_name.is_some(),
                item.registry == Registry::Public
            );
        }
        seen.extend(page.items.into_iter().map(|m| m.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn migrate_runs_alone_and_serve_starts_on_the_migrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let output =
        datacoop_tests::run_datacoop(&["migrate"], &[("DATACOOP_DATABASE_URL", &url)]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("coop.db").exists());
    // Twice is harmless.
    let again = datacoop_tests::run_datacoop(&["migrate", "--database-url", &url], &[]).await;
    assert!(again.status.success());
    let broker = Broker::start(BrokerOptions::new(&url)).await;
    assert!(broker.printed_admin_token.is_some());
    let (status, _) = broker.stop().await;
    assert!(status.success());
}
