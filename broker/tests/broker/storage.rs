//! The storage suite: every case runs on SQLite and, when
//! `DATACOOP_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL database.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::domain::{
    DisplayName, Member, MemberId, MemberPatch, Registry, RequesterClass, ThirdParty, ThirdPartyId,
    ThirdPartyName, ThirdPartyStatus,
};
use datacoop_broker::store::{self, Store, StoreError};
use datacoop_tests::TestPostgres;
use tempfile::TempDir;

/// Keeps the database alive for the length of a test.
#[expect(dead_code, reason = "held only for its Drop")]
enum Guard {
    Sqlite(TempDir),
    Postgres(TestPostgres),
}

async fn sqlite_store() -> (Arc<dyn Store>, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, Guard::Sqlite(dir))
}

async fn postgres_store() -> Option<(Arc<dyn Store>, Guard)> {
    let database = TestPostgres::create().await?;
    let store = store::connect(database.url()).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, Guard::Postgres(database)))
}

macro_rules! storage_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use std::sync::Arc;
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _guard) = super::sqlite_store().await;
                    super::$case(Arc::clone(&store)).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            use std::sync::Arc;
            $(
                #[tokio::test]
                async fn $case() {
                    let Some((store, _guard)) = super::postgres_store().await else { return };
                    super::$case(Arc::clone(&store)).await;
                    store.close().await;
                }
            )*
        }
    };
}

storage_suite!(
    migrating_twice_is_harmless,
    a_setting_is_inserted_once_even_under_contention,
    members_round_trip_with_their_token,
    members_list_in_creation_order_after_a_position,
    member_patches_set_clear_and_keep,
    a_token_belongs_to_one_member,
    third_parties_round_trip_and_change_status,
    client_ids_are_unique,
);

fn instant(seconds: i64) -> DateTime<Utc> {
    // Microsecond precision: the finest both databases keep.
    DateTime::from_timestamp(1_790_000_000 + seconds, 123_456_000).unwrap()
}

fn member(name: Option<&str>, registry: Registry, seconds: i64) -> Member {
    Member {
        id: MemberId::generate(),
        display_name: name.map(|name| DisplayName::parse(name).unwrap()),
        registry,
        accepts_delegations: false,
        created_at: instant(seconds),
    }
}

fn third_party(client_id: &str) -> ThirdParty {
    ThirdParty {
        id: ThirdPartyId::generate(),
        name: ThirdPartyName::parse("Sleep Lab").unwrap(),
        class: RequesterClass::PublicBody,
        status: ThirdPartyStatus::Active,
        webhook_url: Some("https://lab.example.org/hook".into()),
        client_id: client_id.into(),
        created_at: instant(0),
        updated_at: instant(0),
    }
}

async fn migrating_twice_is_harmless(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

async fn a_setting_is_inserted_once_even_under_contention(store: Arc<dyn Store>) {
    assert_eq!(store.setting("k").await.unwrap(), None);
    let attempts: Vec<_> = (0..8)
        .map(|index| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .insert_setting_if_absent("k", &format!("v{index}"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|won| **won).count(),
        1,
        "{outcomes:?}"
    );
    let stored = store.setting("k").await.unwrap().unwrap();
    let winner = outcomes.iter().position(|won| *won).unwrap();
    assert_eq!(stored, format!("v{winner}"));
}

async fn members_round_trip_with_their_token(store: Arc<dyn Store>) {
    let ada = member(Some("Ada"), Registry::Public, 1);
    let token = TokenHash::of("dcm_ada");
    store.create_member(&ada, &token).await.unwrap();
    assert_eq!(store.member(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(
        store.member_by_token(&token).await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(
        store
            .member_by_token(&TokenHash::of("dcm_other"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.member(&MemberId::generate()).await.unwrap(), None);
}

async fn members_list_in_creation_order_after_a_position(store: Arc<dyn Store>) {
    let mut created = Vec::new();
    for index in 0..5 {
        let m = member(None, Registry::Anonymous, index);
        store
            .create_member(&m, &TokenHash::of(&format!("t{index}")))
            .await
            .unwrap();
        created.push(m.id);
    }
    let first = store.list_members(None, 3).await.unwrap();
    let ids: Vec<_> = first.iter().map(|(_, m)| m.id.clone()).collect();
    assert_eq!(ids, created[..3]);
    let after = first.last().unwrap().0;
    let rest = store.list_members(Some(after), 3).await.unwrap();
    let ids: Vec<_> = rest.iter().map(|(_, m)| m.id.clone()).collect();
    assert_eq!(ids, created[3..]);
    assert!(
        store
            .list_members(Some(rest.last().unwrap().0), 3)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn member_patches_set_clear_and_keep(store: Arc<dyn Store>) {
    let ada = member(Some("Ada"), Registry::Public, 1);
    store
        .create_member(&ada, &TokenHash::of("a"))
        .await
        .unwrap();

    let keep = store
        .update_member(
            &ada.id,
            &MemberPatch {
                accepts_delegations: Some(true),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        keep.display_name, ada.display_name,
        "absent fields are kept"
    );
    assert!(keep.accepts_delegations);

    let renamed = store
        .update_member(
            &ada.id,
            &MemberPatch {
                display_name: Some(Some(DisplayName::parse("Ada L.").unwrap())),
                registry: Some(Registry::Anonymous),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        renamed.display_name.as_ref().map(DisplayName::as_str),
        Some("Ada L.")
    );
    assert_eq!(renamed.registry, Registry::Anonymous);
    assert!(renamed.accepts_delegations);

    let cleared = store
        .update_member(
            &ada.id,
            &MemberPatch {
                display_name: Some(None),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.display_name, None);
    assert_eq!(store.member(&ada.id).await.unwrap(), Some(cleared));

    assert_eq!(
        store
            .update_member(&MemberId::generate(), &MemberPatch::default())
            .await
            .unwrap(),
        None
    );
}

async fn a_token_belongs_to_one_member(store: Arc<dyn Store>) {
    let token = TokenHash::of("same");
    store
        .create_member(&member(None, Registry::Public, 1), &token)
        .await
        .unwrap();
    let second = member(None, Registry::Public, 2);
    let error = store.create_member(&second, &token).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert_eq!(
        store.member(&second.id).await.unwrap(),
        None,
        "the member and token commit together or not at all"
    );
}

async fn third_parties_round_trip_and_change_status(store: Arc<dyn Store>) {
    let lab = third_party("dcc_lab");
    store
        .create_third_party(&lab, "$argon2id$hash")
        .await
        .unwrap();
    assert_eq!(store.third_party(&lab.id).await.unwrap(), Some(lab.clone()));
    let later = instant(60);
    let suspended = store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Suspended, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(suspended.status, ThirdPartyStatus::Suspended);
    assert_eq!(suspended.updated_at, later);
    assert_eq!(suspended.created_at, lab.created_at);
    let listed = store.list_third_parties(None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, suspended);
    assert_eq!(
        store
            .set_third_party_status(&ThirdPartyId::generate(), ThirdPartyStatus::Active, later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.third_party(&ThirdPartyId::generate()).await.unwrap(),
        None
    );
}

async fn client_ids_are_unique(store: Arc<dyn Store>) {
    store
        .create_third_party(&third_party("dcc_same"), "h")
        .await
        .unwrap();
    let error = store
        .create_third_party(&third_party("dcc_same"), "h")
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
}

#[tokio::test]
async fn one_process_serves_an_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let first = store::connect(&url).await.unwrap();
    let error = store::connect(&url).await.unwrap_err();
    assert!(matches!(error, StoreError::InUse(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("in use by another datacoop process")
    );
    drop(first);
    store::connect(&url).await.unwrap();
}
