//! The storage conformance suite: every method of `Store` and every
//! `Change`, each held to the contract its doc comment states. Every case
//! is written once, against `Arc<dyn Store>` (or the database it opens
//! stores on, for limits and reopening), and runs on SQLite and, when
//! `DATACOOP_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL database, so
//! the two answer alike. Fixtures are in `storage_support.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datacoop_broker::audit::tree;
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::domain::rule::{Effect, Owner, Requester, RuleAction};
use datacoop_broker::domain::{
    DelegationId, DisplayName, Member, MemberId, MemberPatch, PersonaId, Registry, RequesterClass,
    RuleId, RuleSpec, ThirdParty, ThirdPartyId, ThirdPartyStatus,
};
use datacoop_broker::store::{
    self, AccessRecord, Applied, Bulk, CategoryVerdict, Change, DecisionFacts, Limits, OwnerState,
    Store, StoreError, UnmatchedAccess,
};
use datacoop_wire::{Action, Reason, Verdict};

use crate::storage_support::{
    Db, access, approve, delegation, enrol, enrol_proxy, instant, member, persona, rule, rule_with,
    spec, start_and_drop, terms, third_party, token_of, version_of,
};

/// Runs each case on SQLite and on PostgreSQL. `stores` cases get a
/// migrated store with the default `Limits`; `databases` cases get the
/// database and open their own stores.
macro_rules! storage_suite {
    (stores: [$($case:ident),* $(,)?], databases: [$($db_case:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            use std::sync::Arc;

            use datacoop_broker::store::Limits;

            use crate::storage_support::Db;
            $(
                #[tokio::test]
                async fn $case() {
                    let db = Db::sqlite();
                    let store = db.open(Limits::default()).await;
                    super::$case(Arc::clone(&store)).await;
                    store.close().await;
                }
            )*
            $(
                #[tokio::test]
                async fn $db_case() {
                    super::$db_case(Db::sqlite()).await;
                }
            )*
        }
        mod postgres {
            use std::sync::Arc;

            use datacoop_broker::store::Limits;

            use crate::storage_support::Db;
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = Db::postgres().await else { return };
                    let store = db.open(Limits::default()).await;
                    super::$case(Arc::clone(&store)).await;
                    store.close().await;
                }
            )*
            $(
                #[tokio::test]
                async fn $db_case() {
                    let Some(db) = Db::postgres().await else { return };
                    super::$db_case(db).await;
                }
            )*
        }
    };
}

storage_suite!(
    stores: [
        migrating_twice_is_harmless,
        a_setting_is_inserted_once_even_under_contention,
        members_round_trip_with_their_token,
        members_list_in_creation_order_after_a_position,
        member_patches_set_clear_and_keep,
        a_token_belongs_to_one_member,
        third_parties_round_trip_and_change_status,
        third_parties_list_in_creation_order_after_a_position,
        client_ids_are_unique,
        a_client_is_found_with_its_secret_hash,
        rotating_a_secret_replaces_it_and_revokes_every_access_token,
        access_tokens_live_until_they_expire,
        issuing_a_token_forgets_those_expired_by_then,
        rules_round_trip_in_creation_order_per_owner,
        deleting_a_rule_needs_its_owner,
        a_rule_id_is_unique_and_a_refused_change_writes_nothing,
        personas_are_published_in_creation_order_with_their_rules,
        delegations_round_trip_with_a_monotonic_seq,
        an_identical_scope_is_a_conflict,
        revoking_needs_the_delegating_member,
        delegators_are_counted_and_paged,
        owner_states_follow_members_personas_and_unknown_owners,
        decision_facts_follow_every_change,
        every_consent_change_bumps_its_owners_version_once,
        leaving_twice_or_unknown_changes_nothing,
        a_member_who_left_can_write_nothing_more,
        data_is_stored_replaced_and_read_by_category,
        connecting_again_returns_the_first_subject,
        connections_list_oldest_first,
        a_subject_stands_for_its_member_for_its_third_party_only,
        the_access_log_pages_newest_first,
        bulk_load_then_reads,
        many_members_rules_and_delegations_read_at_once,
        a_refused_bulk_load_writes_nothing,
        instants_keep_whole_microseconds,
        settle_waits_for_writes_whose_caller_is_gone,
        every_change_commits_with_its_log_entry,
        a_change_that_changes_nothing_logs_nothing,
        log_entries_are_canonical_and_hold_no_name_or_data,
        every_access_is_logged_known_subject_or_not,
        concurrent_changes_commit_together_and_a_refused_one_alone,
        the_stored_tree_is_the_tree_of_the_stored_entries,
        what_a_call_reads_follows_every_write_at_once,
        a_data_write_whose_caller_is_gone_is_read_once_it_lands,
    ],
    databases: [
        leaving_erases_everything_but_the_access_log,
        unmatched_calls_are_logged_apart_from_members,
        close_finishes_the_writes_under_way_then_closes,
        rules_per_owner_are_limited,
        delegations_per_member_are_limited,
        data_bytes_per_member_are_limited_counting_a_replaced_value_once,
    ],
);

fn patch_accepting(accepts: bool) -> MemberPatch {
    MemberPatch {
        accepts_delegations: Some(accepts),
        ..MemberPatch::default()
    }
}

fn ids(members: &[(i64, Member)]) -> Vec<MemberId> {
    members
        .iter()
        .map(|(_, member)| member.id.clone())
        .collect()
}

async fn facts_of(store: &Arc<dyn Store>, member: &MemberId) -> DecisionFacts {
    store.decision_facts(None, Some(member)).await.unwrap()
}

/// Every owner's version, in a stable order.
async fn versions(store: &Arc<dyn Store>) -> Vec<(Owner, i64)> {
    let mut all = store.all_policy_versions().await.unwrap();
    all.sort();
    all
}

fn assert_over_limit(error: &StoreError, limit: u64) {
    match error {
        StoreError::OverLimit { limit: held, .. } => assert_eq!(*held, limit, "{error}"),
        other => panic!("expected OverLimit, got {other:?}"),
    }
    assert!(
        error.to_string().contains(&format!("at most {limit}")),
        "{error}"
    );
}

// ---- Migrations, settings ----

async fn migrating_twice_is_harmless(store: Arc<dyn Store>) {
    let ada = enrol(&store, Some("Ada"), Registry::Public, 1).await;
    let owner = Owner::Member(ada.id.clone());
    store
        .create_rules(&owner, &[rule(&owner, 0)])
        .await
        .unwrap();
    let before = facts_of(&store, &ada.id).await;
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.member(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(
        facts_of(&store, &ada.id).await,
        before,
        "migrating again reads the same facts back"
    );
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
    assert!(!store.insert_setting_if_absent("k", "late").await.unwrap());
    assert_eq!(store.setting("k").await.unwrap(), Some(stored));
    assert_eq!(store.setting("other").await.unwrap(), None);
}

// ---- Members ----

async fn members_round_trip_with_their_token(store: Arc<dyn Store>) {
    let ada = member(Some("Ada"), Registry::Public, 1);
    let token = TokenHash::of("dcm_ada");
    let answer = store
        .apply(Change::Enrol {
            member: ada.clone(),
            token: token.clone(),
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Member(ada.clone()));
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

    let bo = Member {
        accepts_delegations: true,
        ..member(None, Registry::Anonymous, 2)
    };
    store.create_member(&bo, &token_of(&bo.id)).await.unwrap();
    assert_eq!(store.member(&bo.id).await.unwrap(), Some(bo.clone()));
    assert_eq!(
        store.member_by_token(&token_of(&bo.id)).await.unwrap(),
        Some(bo)
    );
}

async fn members_list_in_creation_order_after_a_position(store: Arc<dyn Store>) {
    // Later members carry earlier timestamps: the order is creation's.
    let mut created = Vec::new();
    for index in 0..5 {
        created.push(enrol(&store, None, Registry::Anonymous, 10 - index).await);
    }
    let created: Vec<MemberId> = created.into_iter().map(|m| m.id).collect();

    let first = store.list_members(None, 3).await.unwrap();
    assert_eq!(ids(&first), created[..3]);
    assert!(first.windows(2).all(|pair| pair[0].0 < pair[1].0));
    let after = first.last().unwrap().0;
    let rest = store.list_members(Some(after), 3).await.unwrap();
    assert_eq!(ids(&rest), created[3..], "a short last page");
    let end = rest.last().unwrap().0;
    assert!(store.list_members(Some(end), 3).await.unwrap().is_empty());
    // A page exactly as long as what is left, then nothing.
    assert_eq!(
        ids(&store.list_members(Some(after), 2).await.unwrap()),
        created[3..]
    );
    assert_eq!(ids(&store.list_members(None, 5).await.unwrap()), created);
    assert!(store.list_members(None, 0).await.unwrap().is_empty());
    assert!(
        store
            .list_members(Some(i64::MAX), 3)
            .await
            .unwrap()
            .is_empty()
    );

    // Departed members are not listed, and a position at one still pages.
    let departed_position = first[1].0;
    assert!(store.leave(&created[1], instant(20)).await.unwrap().value);
    let listed = store.list_members(None, 10).await.unwrap();
    assert_eq!(
        ids(&listed),
        [&created[0], &created[2], &created[3], &created[4]].map(Clone::clone)
    );
    assert_eq!(
        ids(&store
            .list_members(Some(departed_position), 2)
            .await
            .unwrap()),
        created[2..4]
    );
}

async fn member_patches_set_clear_and_keep(store: Arc<dyn Store>) {
    let ada = member(Some("Ada"), Registry::Public, 1);
    store
        .create_member(&ada, &TokenHash::of("a"))
        .await
        .unwrap();

    let keep = store
        .update_member(&ada.id, &patch_accepting(true))
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        keep.display_name, ada.display_name,
        "absent fields are kept"
    );
    assert!(keep.accepts_delegations);
    assert_eq!(keep.created_at, ada.created_at);

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
        .value
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
        .value
        .unwrap();
    assert_eq!(cleared.display_name, None);
    assert_eq!(store.member(&ada.id).await.unwrap(), Some(cleared.clone()));

    let unchanged = store
        .update_member(&ada.id, &MemberPatch::default())
        .await
        .unwrap()
        .value;
    assert_eq!(unchanged, Some(cleared), "an empty patch changes nothing");

    assert_eq!(
        store
            .update_member(&MemberId::generate(), &MemberPatch::default())
            .await
            .unwrap()
            .value,
        None
    );
    assert!(store.leave(&ada.id, instant(5)).await.unwrap().value);
    let answer = store
        .apply(Change::UpdateMember {
            id: ada.id.clone(),
            patch: patch_accepting(false),
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Missing, "a departed member is missing");
}

async fn a_token_belongs_to_one_member(store: Arc<dyn Store>) {
    let token = TokenHash::of("same");
    let first = member(None, Registry::Public, 1);
    store.create_member(&first, &token).await.unwrap();
    let second = member(None, Registry::Public, 2);
    let error = store.create_member(&second, &token).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert_eq!(
        store.member(&second.id).await.unwrap(),
        None,
        "the member and token commit together or not at all"
    );

    // The same member id twice: the second token is not stored either.
    let again = Member {
        display_name: None,
        ..first.clone()
    };
    let error = store
        .create_member(&again, &TokenHash::of("another"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert_eq!(
        store
            .member_by_token(&TokenHash::of("another"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.member(&first.id).await.unwrap(), Some(first));
    assert_eq!(store.list_members(None, 10).await.unwrap().len(), 1);
}

// ---- Third parties, clients and access tokens ----

async fn third_parties_round_trip_and_change_status(store: Arc<dyn Store>) {
    let lab = third_party("dcc_lab");
    let answer = store
        .apply(Change::ApproveThirdParty {
            third_party: lab.clone(),
            secret_hash: "$argon2id$hash".into(),
            webhook_secret: None,
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::ThirdParty(lab.clone()));
    assert_eq!(store.third_party(&lab.id).await.unwrap(), Some(lab.clone()));
    assert_eq!(
        store.decision_facts(Some(&lab.id), None).await.unwrap(),
        DecisionFacts {
            requester: Some((RequesterClass::PublicBody, ThirdPartyStatus::Active)),
            member_active: false,
            coop_version: 0,
            member_version: 0,
        }
    );
    let later = instant(60);
    let suspended = store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Suspended, later)
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        suspended,
        ThirdParty {
            status: ThirdPartyStatus::Suspended,
            updated_at: later,
            ..lab.clone()
        }
    );
    let listed = store.list_third_parties(None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, suspended);
    assert_eq!(
        store
            .decision_facts(Some(&lab.id), None)
            .await
            .unwrap()
            .requester,
        Some((RequesterClass::PublicBody, ThirdPartyStatus::Suspended)),
        "§4 step 1 reads the new status at once"
    );
    let reinstated = store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Active, instant(61))
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(reinstated.status, ThirdPartyStatus::Active);
    assert_eq!(
        store.third_party(&lab.id).await.unwrap(),
        Some(reinstated.clone())
    );

    assert_eq!(
        store
            .set_third_party_status(&ThirdPartyId::generate(), ThirdPartyStatus::Active, later)
            .await
            .unwrap()
            .value,
        None
    );
    let answer = store
        .apply(Change::SetThirdPartyStatus {
            id: ThirdPartyId::generate(),
            status: ThirdPartyStatus::Suspended,
            at: later,
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Missing);
    assert_eq!(
        store.third_party(&ThirdPartyId::generate()).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .decision_facts(Some(&ThirdPartyId::generate()), None)
            .await
            .unwrap()
            .requester,
        None
    );
}

async fn third_parties_list_in_creation_order_after_a_position(store: Arc<dyn Store>) {
    let mut created = Vec::new();
    for index in 0..3 {
        let lab = ThirdParty {
            created_at: instant(10 - index),
            updated_at: instant(10 - index),
            ..third_party(&format!("dcc_{index}"))
        };
        store.create_third_party(&lab, "h").await.unwrap();
        created.push(lab);
    }
    let first = store.list_third_parties(None, 2).await.unwrap();
    let listed: Vec<_> = first.iter().map(|(_, lab)| lab.clone()).collect();
    assert_eq!(listed, created[..2]);
    assert!(first[0].0 < first[1].0);
    let rest = store.list_third_parties(Some(first[1].0), 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].1, created[2]);
    assert!(
        store
            .list_third_parties(Some(rest[0].0), 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_third_parties(Some(first[1].0), 1)
            .await
            .unwrap()
            .len(),
        1,
        "a page exactly as long as what is left"
    );
    assert!(store.list_third_parties(None, 0).await.unwrap().is_empty());
    // Suspended third parties are listed too.
    store
        .set_third_party_status(&created[0].id, ThirdPartyStatus::Suspended, instant(20))
        .await
        .unwrap();
    assert_eq!(store.list_third_parties(None, 10).await.unwrap().len(), 3);
}

async fn client_ids_are_unique(store: Arc<dyn Store>) {
    let first = third_party("dcc_same");
    store.create_third_party(&first, "h1").await.unwrap();
    let second = third_party("dcc_same");
    let error = store.create_third_party(&second, "h2").await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert_eq!(store.third_party(&second.id).await.unwrap(), None);
    assert_eq!(
        store.client("dcc_same").await.unwrap(),
        Some((first, "h1".to_owned()))
    );
}

async fn a_client_is_found_with_its_secret_hash(store: Arc<dyn Store>) {
    let lab = approve(&store, RequesterClass::Academic).await;
    let other = approve(&store, RequesterClass::Nonprofit).await;
    assert_eq!(
        store.client(&lab.client_id).await.unwrap(),
        Some((lab.clone(), "$argon2id$first".to_owned()))
    );
    assert_eq!(
        store.client(&other.client_id).await.unwrap().unwrap().0,
        other
    );
    assert_eq!(store.client("dcc_unknown").await.unwrap(), None);
    assert_eq!(store.client("").await.unwrap(), None);
    // A suspended client is still found: the caller refuses it.
    let suspended = store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Suspended, instant(5))
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        store.client(&lab.client_id).await.unwrap(),
        Some((suspended, "$argon2id$first".to_owned()))
    );
}

async fn rotating_a_secret_replaces_it_and_revokes_every_access_token(store: Arc<dyn Store>) {
    let lab = approve(&store, RequesterClass::Academic).await;
    let other = approve(&store, RequesterClass::Academic).await;
    let now = instant(10);
    let until = instant(3600);
    for token in ["t1", "t2"] {
        store
            .issue_access_token(&TokenHash::of(token), &lab.id, now, until)
            .await
            .unwrap();
    }
    store
        .issue_access_token(&TokenHash::of("other"), &other.id, now, until)
        .await
        .unwrap();

    let at = instant(20);
    let rotated = store
        .rotate_secret(&lab.id, "$argon2id$second", at)
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        rotated,
        ThirdParty {
            updated_at: at,
            ..lab.clone()
        }
    );
    assert_eq!(
        store.client(&lab.client_id).await.unwrap(),
        Some((rotated.clone(), "$argon2id$second".to_owned()))
    );
    for token in ["t1", "t2"] {
        assert_eq!(
            store
                .third_party_by_token(&TokenHash::of(token), instant(21))
                .await
                .unwrap(),
            None,
            "every token issued before the rotation dies"
        );
    }
    assert_eq!(
        store
            .third_party_by_token(&TokenHash::of("other"), instant(21))
            .await
            .unwrap(),
        Some(other),
        "another third party's tokens live on"
    );
    store
        .issue_access_token(&TokenHash::of("t3"), &lab.id, instant(22), until)
        .await
        .unwrap();
    assert_eq!(
        store
            .third_party_by_token(&TokenHash::of("t3"), instant(23))
            .await
            .unwrap(),
        Some(rotated)
    );

    assert_eq!(
        store
            .rotate_secret(&ThirdPartyId::generate(), "h", at)
            .await
            .unwrap()
            .value,
        None
    );
    let answer = store
        .apply(Change::RotateSecret {
            id: ThirdPartyId::generate(),
            secret_hash: "h".into(),
            at,
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Missing);
}

async fn access_tokens_live_until_they_expire(store: Arc<dyn Store>) {
    let lab = approve(&store, RequesterClass::Academic).await;
    let micro = chrono::Duration::microseconds(1);
    // Expiring on a whole second, a whole millisecond, or within one:
    // instants of every precision compare as instants.
    let expiries = [
        ("whole", DateTime::from_timestamp(1_790_000_100, 0).unwrap()),
        (
            "milli",
            DateTime::from_timestamp(1_790_000_150, 500_000_000).unwrap(),
        ),
        ("micro", instant(200)),
    ];
    for (token, expires_at) in expiries {
        store
            .issue_access_token(&TokenHash::of(token), &lab.id, instant(0), expires_at)
            .await
            .unwrap();
    }
    for (token, expires_at) in expiries {
        let token = TokenHash::of(token);
        assert_eq!(
            store
                .third_party_by_token(&token, expires_at - micro)
                .await
                .unwrap(),
            Some(lab.clone()),
            "live one microsecond before `expires_at`"
        );
        assert_eq!(
            store
                .third_party_by_token(&token, expires_at)
                .await
                .unwrap(),
            None,
            "dead at `expires_at`"
        );
        assert_eq!(
            store
                .third_party_by_token(&token, expires_at + micro)
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        store
            .third_party_by_token(&TokenHash::of("never issued"), instant(1))
            .await
            .unwrap(),
        None
    );
    // Whatever its status: the caller refuses suspended third parties.
    let suspended = store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Suspended, instant(2))
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        store
            .third_party_by_token(&TokenHash::of("micro"), instant(3))
            .await
            .unwrap(),
        Some(suspended)
    );
}

async fn issuing_a_token_forgets_those_expired_by_then(store: Arc<dyn Store>) {
    let lab = approve(&store, RequesterClass::Academic).await;
    let old = TokenHash::of("old");
    let lasting = TokenHash::of("lasting");
    store
        .issue_access_token(&old, &lab.id, instant(0), instant(100))
        .await
        .unwrap();
    store
        .issue_access_token(&lasting, &lab.id, instant(0), instant(101))
        .await
        .unwrap();
    // Issued at the instant `old` expires: `old` is forgotten, so it is
    // not found even at an instant when it would still have lived.
    store
        .issue_access_token(&TokenHash::of("new"), &lab.id, instant(100), instant(200))
        .await
        .unwrap();
    assert_eq!(
        store.third_party_by_token(&old, instant(50)).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .third_party_by_token(&lasting, instant(100))
            .await
            .unwrap(),
        Some(lab.clone())
    );
    assert_eq!(
        store
            .third_party_by_token(&TokenHash::of("new"), instant(100))
            .await
            .unwrap(),
        Some(lab)
    );
}

// ---- Rules, personas, policy versions ----

async fn rules_round_trip_in_creation_order_per_owner(store: Arc<dyn Store>) {
    let ada = enrol(&store, Some("Ada"), Registry::Public, 1).await;
    let owner = Owner::Member(ada.id.clone());
    let lab = ThirdPartyId::generate();
    // Every column: each effect, action and requester form, both bounds.
    let windowed = rule_with(
        &owner,
        RuleSpec {
            effect: Effect::Allow,
            action: RuleAction::Aggregate,
            requester: Requester::Class(RequesterClass::Academic),
            data_categories: terms(&["health.heart", "health.sleep", "location"]),
            purposes: terms(&["research.academic", "public_interest"]),
            not_before: Some(instant(5)),
            expires_at: Some(instant(500)),
        },
        9,
    );
    let named = rule_with(
        &owner,
        RuleSpec {
            effect: Effect::Deny,
            action: RuleAction::Any,
            requester: Requester::ThirdParty(lab),
            data_categories: terms(&["*"]),
            purposes: terms(&["*"]),
            not_before: None,
            expires_at: Some(instant(50)),
        },
        // An earlier timestamp: the order is creation's.
        3,
    );
    let answer = store
        .apply(Change::AddRules {
            owner: owner.clone(),
            rules: vec![windowed.clone(), named.clone()],
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Done);
    let coop = rule(&Owner::Coop, 2);
    store
        .create_rules(&Owner::Coop, std::slice::from_ref(&coop))
        .await
        .unwrap();
    let latest = rule(&owner, 1);
    store
        .create_rules(&owner, std::slice::from_ref(&latest))
        .await
        .unwrap();

    assert_eq!(
        store.rules_of(&owner).await.unwrap(),
        [windowed.clone(), named.clone(), latest.clone()]
    );
    assert_eq!(
        store.rules_of(&Owner::Coop).await.unwrap(),
        std::slice::from_ref(&coop)
    );
    assert!(
        store
            .rules_of(&Owner::Member(MemberId::generate()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .rules_of(&Owner::Persona(PersonaId::generate()))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.all_rules().await.unwrap(),
        [windowed, named, coop, latest]
    );
}

async fn deleting_a_rule_needs_its_owner(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol(&store, None, Registry::Public, 2).await;
    let (ada_owner, bo_owner) = (Owner::Member(ada.id.clone()), Owner::Member(bo.id.clone()));
    let first = rule(&ada_owner, 3);
    let second = rule(&ada_owner, 4);
    store
        .create_rules(&ada_owner, &[first.clone(), second.clone()])
        .await
        .unwrap();
    let before = versions(&store).await;

    // Not the owner's rule, or no such rule: nothing changes.
    assert!(!store.delete_rule(&bo_owner, &first.id).await.unwrap().value);
    assert!(
        !store
            .delete_rule(&Owner::Coop, &first.id)
            .await
            .unwrap()
            .value
    );
    assert!(
        !store
            .delete_rule(&ada_owner, &RuleId::generate())
            .await
            .unwrap()
            .value
    );
    let answer = store
        .apply(Change::DeleteRule {
            owner: bo_owner.clone(),
            id: second.id.clone(),
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Missing);
    assert_eq!(
        versions(&store).await,
        before,
        "a refused delete bumps nothing"
    );
    assert_eq!(facts_of(&store, &ada.id).await.member_version, 1);
    assert_eq!(facts_of(&store, &bo.id).await.member_version, 0);

    assert!(
        store
            .delete_rule(&ada_owner, &first.id)
            .await
            .unwrap()
            .value
    );
    assert_eq!(
        store.rules_of(&ada_owner).await.unwrap(),
        std::slice::from_ref(&second)
    );
    assert_eq!(store.all_rules().await.unwrap(), [second]);
    assert_eq!(version_of(&store, &ada_owner).await, 2);
    assert_eq!(
        facts_of(&store, &ada.id).await.member_version,
        2,
        "§4: revoking a rule changes the very next decision"
    );
    assert!(
        !store
            .delete_rule(&ada_owner, &first.id)
            .await
            .unwrap()
            .value,
        "a rule is deleted once"
    );
    assert_eq!(version_of(&store, &ada_owner).await, 2);
}

async fn a_rule_id_is_unique_and_a_refused_change_writes_nothing(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol(&store, None, Registry::Public, 2).await;
    let owner = Owner::Member(ada.id.clone());
    let kept = rule(&owner, 3);
    store
        .create_rules(&owner, std::slice::from_ref(&kept))
        .await
        .unwrap();

    let fresh = rule(&owner, 4);
    let error = store
        .create_rules(&owner, &[fresh, kept.clone()])
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert_eq!(
        store.rules_of(&owner).await.unwrap(),
        std::slice::from_ref(&kept),
        "no rule of a refused change is written"
    );
    assert_eq!(version_of(&store, &owner).await, 1);
    assert_eq!(facts_of(&store, &ada.id).await.member_version, 1);

    // A rule id is unique across owners too.
    let bo_owner = Owner::Member(bo.id.clone());
    let stolen = datacoop_broker::domain::Rule {
        owner: bo_owner.clone(),
        ..kept
    };
    let error = store.create_rules(&bo_owner, &[stolen]).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert!(store.rules_of(&bo_owner).await.unwrap().is_empty());
    assert_eq!(version_of(&store, &bo_owner).await, 0);
    assert_eq!(facts_of(&store, &bo.id).await.member_version, 0);
}

async fn personas_are_published_in_creation_order_with_their_rules(store: Arc<dyn Store>) {
    let careful = persona("Careful", 9);
    let open = persona("Open", 2);
    let careful_owner = Owner::Persona(careful.id.clone());
    let rules = vec![rule(&careful_owner, 9), rule(&careful_owner, 10)];
    let answer = store
        .apply(Change::PublishPersona {
            persona: careful.clone(),
            rules: rules.clone(),
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Done);
    store.create_persona(&open, &[]).await.unwrap();

    assert_eq!(
        store.personas().await.unwrap(),
        [careful.clone(), open.clone()]
    );
    assert_eq!(store.rules_of(&careful_owner).await.unwrap(), rules);
    let open_owner = Owner::Persona(open.id.clone());
    assert!(store.rules_of(&open_owner).await.unwrap().is_empty());
    assert_eq!(version_of(&store, &careful_owner).await, 1);
    assert_eq!(version_of(&store, &open_owner).await, 1);
    assert_eq!(
        store
            .owner_states(&[careful_owner.clone(), open_owner])
            .await
            .unwrap(),
        [
            OwnerState {
                version: 1,
                can_proxy: true
            },
            OwnerState {
                version: 1,
                can_proxy: true
            }
        ],
        "§3: a published persona can be a proxy"
    );

    // The same persona again: refused, and nothing of it is written.
    let error = store
        .create_persona(&careful, &[rule(&careful_owner, 11)])
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert_eq!(store.personas().await.unwrap(), [careful, open]);
    assert_eq!(store.rules_of(&careful_owner).await.unwrap(), rules);
    assert_eq!(version_of(&store, &careful_owner).await, 1);
    // A persona's rules are rules like any other.
    assert_eq!(store.all_rules().await.unwrap(), rules);
}

// ---- Delegations ----

async fn delegations_round_trip_with_a_monotonic_seq(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol_proxy(&store, 2).await;
    let cy = enrol(&store, None, Registry::Public, 3).await;
    let careful = persona("Careful", 4);
    store.create_persona(&careful, &[]).await.unwrap();
    let (to_bo, to_careful) = (Owner::Member(bo.id.clone()), Owner::Persona(careful.id));

    // Two with the same timestamp, a third with an earlier one (§3: two
    // timestamps can tie, so the order is a monotonic `seq`).
    let wanted = [
        delegation(&ada.id, &to_bo, &["health"], &["*"], 5),
        delegation(&ada.id, &to_careful, &["*"], &["research"], 5),
        delegation(&cy.id, &to_bo, &["*"], &["*"], 5),
        delegation(
            &ada.id,
            &to_bo,
            &["location", "health.heart"],
            &["research", "marketing"],
            1,
        ),
    ];
    let mut stored = Vec::new();
    for (index, asked) in wanted.iter().enumerate() {
        let created = if index == 0 {
            match store
                .apply(Change::Delegate {
                    delegation: asked.clone(),
                })
                .await
                .unwrap()
                .applied
            {
                Applied::Delegation(created) => created,
                other => panic!("a delegation was answered {other:?}"),
            }
        } else {
            store.create_delegation(asked).await.unwrap().value
        };
        assert_eq!(
            datacoop_broker::domain::Delegation {
                seq: asked.seq,
                ..created.clone()
            },
            *asked,
            "stored as given but for its seq"
        );
        stored.push(created);
    }
    assert!(
        stored.windows(2).all(|pair| pair[0].seq < pair[1].seq),
        "{:?}",
        stored.iter().map(|d| d.seq).collect::<Vec<_>>()
    );
    let of_ada = [stored[0].clone(), stored[1].clone(), stored[3].clone()];
    assert_eq!(store.delegations_of(&ada.id).await.unwrap(), of_ada);
    assert_eq!(
        store.delegations_of(&cy.id).await.unwrap(),
        [stored[2].clone()]
    );
    assert!(store.delegations_of(&bo.id).await.unwrap().is_empty());
    assert!(
        store
            .delegations_of(&MemberId::generate())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.all_delegations().await.unwrap(), stored);

    // Positions are never reused, even after the newest is revoked.
    let newest = stored.last().unwrap();
    assert!(
        store
            .delete_delegation(&ada.id, &newest.id)
            .await
            .unwrap()
            .value
    );
    let again = store
        .create_delegation(&delegation(&ada.id, &to_bo, &["location"], &["*"], 6))
        .await
        .unwrap()
        .value;
    assert!(again.seq > newest.seq, "{} after {}", again.seq, newest.seq);
    assert_eq!(
        store.delegations_of(&ada.id).await.unwrap(),
        [stored[0].clone(), stored[1].clone(), again]
    );
}

async fn an_identical_scope_is_a_conflict(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol_proxy(&store, 2).await;
    let cy = enrol(&store, None, Registry::Public, 3).await;
    let careful = persona("Careful", 4);
    store.create_persona(&careful, &[]).await.unwrap();
    let (to_bo, to_careful) = (Owner::Member(bo.id.clone()), Owner::Persona(careful.id));
    let first = store
        .create_delegation(&delegation(
            &ada.id,
            &to_bo,
            &["health", "location"],
            &["research"],
            5,
        ))
        .await
        .unwrap()
        .value;
    let owner = Owner::Member(ada.id.clone());
    assert_eq!(version_of(&store, &owner).await, 1);

    // §3: the same scope (ids in any order), even to another proxy.
    let error = store
        .create_delegation(&delegation(
            &ada.id,
            &to_careful,
            &["location", "health"],
            &["research"],
            6,
        ))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert_eq!(
        store.delegations_of(&ada.id).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert_eq!(version_of(&store, &owner).await, 1);
    assert_eq!(facts_of(&store, &ada.id).await.member_version, 1);

    // A delegation id is unique too.
    let error = store
        .create_delegation(&datacoop_broker::domain::Delegation {
            id: first.id.clone(),
            ..delegation(&ada.id, &to_bo, &["financial"], &["*"], 7)
        })
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");

    // Another scope, or another member's identical scope, is fine.
    store
        .create_delegation(&delegation(
            &ada.id,
            &to_careful,
            &["health"],
            &["research"],
            8,
        ))
        .await
        .unwrap();
    store
        .create_delegation(&delegation(
            &cy.id,
            &to_bo,
            &["location", "health"],
            &["research"],
            9,
        ))
        .await
        .unwrap();
    assert_eq!(store.delegations_of(&ada.id).await.unwrap().len(), 2);
    assert_eq!(store.delegations_of(&cy.id).await.unwrap().len(), 1);
    assert_eq!(version_of(&store, &owner).await, 2);
}

async fn revoking_needs_the_delegating_member(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol_proxy(&store, 2).await;
    let to_bo = Owner::Member(bo.id.clone());
    let kept = store
        .create_delegation(&delegation(&ada.id, &to_bo, &["*"], &["*"], 3))
        .await
        .unwrap()
        .value;
    let before = versions(&store).await;

    assert!(
        !store
            .delete_delegation(&bo.id, &kept.id)
            .await
            .unwrap()
            .value,
        "only the delegating member revokes"
    );
    assert!(
        !store
            .delete_delegation(&ada.id, &DelegationId::generate())
            .await
            .unwrap()
            .value
    );
    let answer = store
        .apply(Change::Revoke {
            member: MemberId::generate(),
            id: kept.id.clone(),
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Missing);
    assert_eq!(
        store.delegations_of(&ada.id).await.unwrap(),
        std::slice::from_ref(&kept)
    );
    assert_eq!(
        versions(&store).await,
        before,
        "a refused revoke bumps nothing"
    );

    let answer = store
        .apply(Change::Revoke {
            member: ada.id.clone(),
            id: kept.id.clone(),
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Done);
    assert!(store.delegations_of(&ada.id).await.unwrap().is_empty());
    assert!(store.all_delegations().await.unwrap().is_empty());
    assert_eq!(
        facts_of(&store, &ada.id).await.member_version,
        2,
        "§4: revoking a delegation changes the very next decision"
    );
    assert!(
        !store
            .delete_delegation(&ada.id, &kept.id)
            .await
            .unwrap()
            .value
    );
    assert_eq!(version_of(&store, &Owner::Member(ada.id)).await, 2);
}

async fn delegators_are_counted_and_paged(store: Arc<dyn Store>) {
    let proxy = enrol_proxy(&store, 0).await;
    let other_proxy = enrol_proxy(&store, 0).await;
    let careful = persona("Careful", 0);
    store.create_persona(&careful, &[]).await.unwrap();
    let to_proxy = Owner::Member(proxy.id.clone());
    let to_other = Owner::Member(other_proxy.id.clone());
    let to_careful = Owner::Persona(careful.id.clone());

    let twice = enrol(&store, Some("Twice"), Registry::Public, 1).await;
    let hidden = enrol(&store, None, Registry::Anonymous, 2).await;
    let public = enrol(&store, Some("Public"), Registry::Public, 3).await;
    let elsewhere = enrol(&store, Some("Elsewhere"), Registry::Public, 4).await;
    let departed = enrol(&store, Some("Gone"), Registry::Public, 5).await;
    let last = enrol(&store, Some("Last"), Registry::Public, 6).await;
    // The last-enrolled delegates first: the order is enrolment's.
    for (member, categories) in [
        (&last, &["*"][..]),
        (&twice, &["health"][..]),
        (&twice, &["location"][..]),
        (&hidden, &["*"][..]),
        (&public, &["*"][..]),
        (&departed, &["*"][..]),
    ] {
        store
            .create_delegation(&delegation(&member.id, &to_proxy, categories, &["*"], 7))
            .await
            .unwrap();
    }
    store
        .create_delegation(&delegation(&elsewhere.id, &to_other, &["*"], &["*"], 7))
        .await
        .unwrap();
    store
        .create_delegation(&delegation(&public.id, &to_careful, &["health"], &["*"], 7))
        .await
        .unwrap();
    assert!(store.leave(&departed.id, instant(8)).await.unwrap().value);

    assert_eq!(
        store.count_delegators(&to_proxy).await.unwrap(),
        4,
        "each member once, anonymous ones too, departed ones not"
    );
    assert_eq!(store.count_delegators(&to_other).await.unwrap(), 1);
    assert_eq!(store.count_delegators(&to_careful).await.unwrap(), 1);
    let nobody = Owner::Member(MemberId::generate());
    assert_eq!(store.count_delegators(&nobody).await.unwrap(), 0);
    assert_eq!(
        store
            .count_delegators(&Owner::Persona(PersonaId::generate()))
            .await
            .unwrap(),
        0
    );

    let listed = |page: Vec<(i64, MemberId)>| -> Vec<MemberId> {
        page.into_iter().map(|(_, id)| id).collect()
    };
    let everyone = store.public_delegators(&to_proxy, None, 10).await.unwrap();
    assert_eq!(
        listed(everyone.clone()),
        [twice.id.clone(), public.id.clone(), last.id.clone()],
        "public delegators once each, in enrolment order"
    );
    let first = store.public_delegators(&to_proxy, None, 2).await.unwrap();
    assert_eq!(listed(first.clone()), [twice.id.clone(), public.id.clone()]);
    let rest = store
        .public_delegators(&to_proxy, Some(first[1].0), 2)
        .await
        .unwrap();
    assert_eq!(listed(rest.clone()), std::slice::from_ref(&last.id));
    assert!(
        store
            .public_delegators(&to_proxy, Some(rest[0].0), 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        listed(
            store
                .public_delegators(&to_proxy, Some(first[0].0), 2)
                .await
                .unwrap()
        ),
        [public.id.clone(), last.id.clone()],
        "a page exactly as long as what is left"
    );
    assert!(
        store
            .public_delegators(&to_proxy, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        listed(
            store
                .public_delegators(&to_careful, None, 10)
                .await
                .unwrap()
        ),
        std::slice::from_ref(&public.id)
    );
    assert!(
        store
            .public_delegators(&nobody, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Going anonymous leaves the list, not the count.
    store
        .update_member(
            &public.id,
            &MemberPatch {
                registry: Some(Registry::Anonymous),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        listed(store.public_delegators(&to_proxy, None, 10).await.unwrap()),
        [twice.id, last.id]
    );
    assert_eq!(store.count_delegators(&to_proxy).await.unwrap(), 4);
}

async fn owner_states_follow_members_personas_and_unknown_owners(store: Arc<dyn Store>) {
    let accepting = enrol_proxy(&store, 1).await;
    let declining = enrol(&store, None, Registry::Public, 2).await;
    let departing = enrol_proxy(&store, 3).await;
    let careful = persona("Careful", 4);
    store.create_persona(&careful, &[]).await.unwrap();
    let accepting_owner = Owner::Member(accepting.id.clone());
    let departing_owner = Owner::Member(departing.id.clone());
    store
        .create_rules(&accepting_owner, &[rule(&accepting_owner, 5)])
        .await
        .unwrap();
    store
        .create_rules(&departing_owner, &[rule(&departing_owner, 5)])
        .await
        .unwrap();
    store
        .create_rules(&Owner::Coop, &[rule(&Owner::Coop, 5)])
        .await
        .unwrap();
    assert!(store.leave(&departing.id, instant(6)).await.unwrap().value);

    let owners = [
        accepting_owner.clone(),
        Owner::Member(declining.id.clone()),
        departing_owner,
        Owner::Persona(careful.id.clone()),
        Owner::Member(MemberId::generate()),
        Owner::Persona(PersonaId::generate()),
        Owner::Coop,
        accepting_owner.clone(),
    ];
    let state = |version, can_proxy| OwnerState { version, can_proxy };
    assert_eq!(
        store.owner_states(&owners).await.unwrap(),
        [
            state(1, true),
            state(0, false),
            state(2, false),
            state(1, true),
            state(0, false),
            state(0, false),
            state(1, false),
            state(1, true),
        ],
        "in order: a member who accepts, one who does not, one who left, \
         a persona, an unknown member and persona, the co-op, a repeat"
    );
    assert!(store.owner_states(&[]).await.unwrap().is_empty());

    // §3: opting out makes delegations to a member inactive at once;
    // opting in again makes them active again.
    store
        .update_member(&accepting.id, &patch_accepting(false))
        .await
        .unwrap();
    assert_eq!(
        store
            .owner_states(std::slice::from_ref(&accepting_owner))
            .await
            .unwrap(),
        [state(1, false)]
    );
    store
        .update_member(&accepting.id, &patch_accepting(true))
        .await
        .unwrap();
    assert_eq!(
        store.owner_states(&[accepting_owner]).await.unwrap(),
        [state(1, true)]
    );
}

async fn decision_facts_follow_every_change(store: Arc<dyn Store>) {
    let nothing = DecisionFacts {
        requester: None,
        member_active: false,
        coop_version: 0,
        member_version: 0,
    };
    assert_eq!(store.decision_facts(None, None).await.unwrap(), nothing);
    assert_eq!(
        store
            .decision_facts(Some(&ThirdPartyId::generate()), Some(&MemberId::generate()))
            .await
            .unwrap(),
        nothing,
        "§4 steps 1-2: unknown requester and member"
    );

    let lab = approve(&store, RequesterClass::Commercial).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol(&store, None, Registry::Public, 2).await;
    let ada_owner = Owner::Member(ada.id.clone());
    store
        .create_rules(&ada_owner, &[rule(&ada_owner, 3)])
        .await
        .unwrap();
    store
        .create_rules(&Owner::Coop, &[rule(&Owner::Coop, 3)])
        .await
        .unwrap();
    let facts = store
        .decision_facts(Some(&lab.id), Some(&ada.id))
        .await
        .unwrap();
    assert_eq!(
        facts,
        DecisionFacts {
            requester: Some((RequesterClass::Commercial, ThirdPartyStatus::Active)),
            member_active: true,
            coop_version: 1,
            member_version: 1,
        }
    );
    assert_eq!(
        store
            .decision_facts(Some(&lab.id), Some(&bo.id))
            .await
            .unwrap(),
        DecisionFacts {
            member_version: 0,
            ..facts.clone()
        },
        "the co-op's version is every member's"
    );
    assert_eq!(
        store.decision_facts(None, Some(&ada.id)).await.unwrap(),
        DecisionFacts {
            requester: None,
            ..facts.clone()
        }
    );
    assert_eq!(
        store.decision_facts(Some(&lab.id), None).await.unwrap(),
        DecisionFacts {
            member_active: false,
            member_version: 0,
            ..facts.clone()
        }
    );

    store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Suspended, instant(4))
        .await
        .unwrap();
    assert!(store.leave(&ada.id, instant(5)).await.unwrap().value);
    let after = DecisionFacts {
        requester: Some((RequesterClass::Commercial, ThirdPartyStatus::Suspended)),
        member_active: false,
        coop_version: 1,
        member_version: 2,
    };
    assert_eq!(
        store
            .decision_facts(Some(&lab.id), Some(&ada.id))
            .await
            .unwrap(),
        after,
        "§4 steps 1-2: suspended requester, departed member"
    );
    // The facts are the database's: reading them all again agrees.
    store.migrate().await.unwrap();
    assert_eq!(
        store
            .decision_facts(Some(&lab.id), Some(&ada.id))
            .await
            .unwrap(),
        after
    );
}

async fn every_consent_change_bumps_its_owners_version_once(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol_proxy(&store, 2).await;
    let careful = persona("Careful", 3);
    let ada_owner = Owner::Member(ada.id.clone());
    let careful_owner = Owner::Persona(careful.id.clone());
    assert!(versions(&store).await.is_empty());

    let rules = [
        rule(&ada_owner, 4),
        rule(&ada_owner, 4),
        rule(&ada_owner, 4),
    ];
    store.create_rules(&ada_owner, &rules).await.unwrap();
    assert_eq!(
        versions(&store).await,
        [(ada_owner.clone(), 1)],
        "one change of three rules is one version"
    );
    store
        .create_persona(&careful, &[rule(&careful_owner, 5)])
        .await
        .unwrap();
    store
        .create_rules(&Owner::Coop, &[rule(&Owner::Coop, 5)])
        .await
        .unwrap();
    store.delete_rule(&ada_owner, &rules[0].id).await.unwrap();
    let delegated = store
        .create_delegation(&delegation(
            &ada.id,
            &Owner::Member(bo.id.clone()),
            &["*"],
            &["*"],
            6,
        ))
        .await
        .unwrap()
        .value;
    store
        .delete_delegation(&ada.id, &delegated.id)
        .await
        .unwrap();
    assert_eq!(facts_of(&store, &ada.id).await.member_version, 4);
    store.leave(&ada.id, instant(7)).await.unwrap();

    let mut expected = vec![(ada_owner, 5), (careful_owner, 1), (Owner::Coop, 1)];
    expected.sort();
    assert_eq!(versions(&store).await, expected);
    assert_eq!(
        facts_of(&store, &ada.id).await,
        DecisionFacts {
            requester: None,
            member_active: false,
            coop_version: 1,
            member_version: 5,
        }
    );
    assert_eq!(facts_of(&store, &bo.id).await.member_version, 0);
}

// ---- Leaving ----

async fn leaving_erases_everything_but_the_access_log(db: Db) {
    let store = db.open(Limits::default()).await;
    let lab = approve(&store, RequesterClass::Academic).await;
    let ada = Member {
        accepts_delegations: true,
        ..member(Some("Ada"), Registry::Public, 1)
    };
    store.create_member(&ada, &token_of(&ada.id)).await.unwrap();
    let bo = enrol_proxy(&store, 2).await;
    let ada_owner = Owner::Member(ada.id.clone());
    let bo_owner = Owner::Member(bo.id.clone());
    store
        .create_rules(&ada_owner, &[rule(&ada_owner, 3), rule(&ada_owner, 3)])
        .await
        .unwrap();
    store
        .create_delegation(&delegation(&ada.id, &bo_owner, &["*"], &["*"], 4))
        .await
        .unwrap();
    let to_ada = store
        .create_delegation(&delegation(&bo.id, &ada_owner, &["*"], &["*"], 4))
        .await
        .unwrap()
        .value;
    let bo_rule = rule(&bo_owner, 4);
    store
        .create_rules(&bo_owner, std::slice::from_ref(&bo_rule))
        .await
        .unwrap();
    for (category, value) in [("health", "{\"steps\":1}"), ("location", "\"Paris\"")] {
        store
            .put_data(&ada.id, category, value, instant(5))
            .await
            .unwrap();
    }
    store
        .put_data(&bo.id, "health", "{\"steps\":2}", instant(5))
        .await
        .unwrap();
    let subject = store
        .connect(&ada.id, &lab.id, "sub_ada", instant(6))
        .await
        .unwrap();
    let bo_subject = store
        .connect(&bo.id, &lab.id, "sub_bo", instant(6))
        .await
        .unwrap();
    let logged = [
        access(&ada.id, &lab.id, "research", 7),
        access(&ada.id, &lab.id, "marketing", 8),
    ];
    for entry in &logged {
        store.log_access(entry).await.unwrap();
    }
    let version = version_of(&store, &ada_owner).await;

    let answer = store
        .apply(Change::Leave {
            member: ada.id.clone(),
            at: instant(9),
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Done);

    assert_eq!(store.member(&ada.id).await.unwrap(), None);
    assert_eq!(
        store.member_by_token(&token_of(&ada.id)).await.unwrap(),
        None,
        "their tokens die"
    );
    assert_eq!(
        ids(&store.list_members(None, 10).await.unwrap()),
        std::slice::from_ref(&bo.id)
    );
    assert!(store.rules_of(&ada_owner).await.unwrap().is_empty());
    assert!(store.delegations_of(&ada.id).await.unwrap().is_empty());
    assert!(store.data_of(&ada.id).await.unwrap().is_empty());
    assert!(store.connections_of(&ada.id).await.unwrap().is_empty());
    assert_eq!(
        store.member_by_subject(&lab.id, &subject).await.unwrap(),
        None
    );
    let kept: Vec<AccessRecord> = store
        .access_log(&ada.id, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, entry)| entry)
        .collect();
    assert_eq!(
        kept,
        [logged[1].clone(), logged[0].clone()],
        "the access log is kept"
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM members WHERE id = $1 AND display_name IS NULL AND left_at IS NOT NULL",
            ada.id.as_str(),
        )
        .await,
        1,
        "marked as gone, name erased"
    );
    assert_eq!(
        facts_of(&store, &ada.id).await,
        DecisionFacts {
            requester: None,
            member_active: false,
            coop_version: 0,
            member_version: version + 1,
        }
    );
    assert_eq!(
        store
            .owner_states(std::slice::from_ref(&ada_owner))
            .await
            .unwrap(),
        [OwnerState {
            version: version + 1,
            can_proxy: false
        }],
        "delegations to them become inactive"
    );

    // Everyone else keeps everything, a delegation to the departed too.
    assert_eq!(store.delegations_of(&bo.id).await.unwrap(), [to_ada]);
    assert_eq!(
        store.rules_of(&bo_owner).await.unwrap(),
        std::slice::from_ref(&bo_rule)
    );
    assert_eq!(store.all_rules().await.unwrap(), [bo_rule]);
    assert_eq!(store.data_of(&bo.id).await.unwrap().len(), 1);
    assert_eq!(
        store.member_by_subject(&lab.id, &bo_subject).await.unwrap(),
        Some(bo.id.clone())
    );
    assert_eq!(
        store.member_by_token(&token_of(&bo.id)).await.unwrap(),
        Some(bo)
    );
    store.close().await;
}

async fn leaving_twice_or_unknown_changes_nothing(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    assert!(store.leave(&ada.id, instant(2)).await.unwrap().value);
    let before = versions(&store).await;
    assert!(!store.leave(&ada.id, instant(3)).await.unwrap().value);
    assert!(
        !store
            .leave(&MemberId::generate(), instant(3))
            .await
            .unwrap()
            .value
    );
    let answer = store
        .apply(Change::Leave {
            member: ada.id.clone(),
            at: instant(4),
        })
        .await
        .unwrap()
        .applied;
    assert_eq!(answer, Applied::Missing);
    assert_eq!(versions(&store).await, before);
    assert_eq!(facts_of(&store, &ada.id).await.member_version, 1);
}

/// A request authenticated just before its member left must not leave
/// anything behind that leaving would have erased.
async fn a_member_who_left_can_write_nothing_more(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol_proxy(&store, 2).await;
    let lab = approve(&store, RequesterClass::Academic).await;
    assert!(store.leave(&ada.id, instant(3)).await.unwrap().value);
    let before = versions(&store).await;
    let owner = Owner::Member(ada.id.clone());
    assert!(matches!(
        store.put_data(&ada.id, "health", "1", instant(4)).await,
        Err(StoreError::MemberGone)
    ));
    assert!(matches!(
        store
            .connect(&ada.id, &lab.id, "sub_late", instant(4))
            .await,
        Err(StoreError::MemberGone)
    ));
    assert!(matches!(
        store.create_rules(&owner, &[rule(&owner, 4)]).await,
        Err(StoreError::MemberGone)
    ));
    let late = delegation(&ada.id, &Owner::Member(bo.id.clone()), &["*"], &["*"], 4);
    assert!(matches!(
        store.create_delegation(&late).await,
        Err(StoreError::MemberGone)
    ));
    assert!(store.data_of(&ada.id).await.unwrap().is_empty());
    assert!(store.connections_of(&ada.id).await.unwrap().is_empty());
    assert!(store.rules_of(&owner).await.unwrap().is_empty());
    assert!(store.delegations_of(&ada.id).await.unwrap().is_empty());
    assert_eq!(versions(&store).await, before);
}

// ---- Data, connections, subjects ----

async fn data_is_stored_replaced_and_read_by_category(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol(&store, None, Registry::Public, 2).await;
    assert!(store.data_of(&ada.id).await.unwrap().is_empty());
    // Stored as given, spacing and non-ASCII text included.
    let values = [
        ("location", "{ \"city\": \"Zürich\" }"),
        ("health.heart", "[72, 75]"),
        ("health", "null"),
        // By code point `.` sorts before `c`; a linguistic collation may
        // not (glibc's en_US skips punctuation: this would come first).
        ("healthcare", "1"),
    ];
    for (category, value) in values {
        store
            .put_data(&ada.id, category, value, instant(3))
            .await
            .unwrap();
    }
    store
        .put_data(&bo.id, "health", "\"bo's\"", instant(3))
        .await
        .unwrap();
    let read = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(category, value)| ((*category).to_owned(), (*value).to_owned()))
            .collect()
    };
    assert_eq!(
        store.data_of(&ada.id).await.unwrap(),
        read(&[
            ("health", "null"),
            ("health.heart", "[72, 75]"),
            ("healthcare", "1"),
            ("location", "{ \"city\": \"Zürich\" }"),
        ])
    );
    store
        .put_data(&ada.id, "health", "{\"steps\": 9000}", instant(4))
        .await
        .unwrap();
    assert_eq!(
        store.data_of(&ada.id).await.unwrap(),
        read(&[
            ("health", "{\"steps\": 9000}"),
            ("health.heart", "[72, 75]"),
            ("healthcare", "1"),
            ("location", "{ \"city\": \"Zürich\" }"),
        ]),
        "a value is replaced, not added"
    );
    assert_eq!(
        store.data_of(&bo.id).await.unwrap(),
        read(&[("health", "\"bo's\"")])
    );
    assert!(
        store
            .data_of(&MemberId::generate())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn connecting_again_returns_the_first_subject(store: Arc<dyn Store>) {
    let lab = approve(&store, RequesterClass::Academic).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    assert_eq!(
        store
            .connect(&ada.id, &lab.id, "sub_first", instant(2))
            .await
            .unwrap(),
        "sub_first"
    );
    assert_eq!(
        store
            .connect(&ada.id, &lab.id, "sub_second", instant(3))
            .await
            .unwrap(),
        "sub_first"
    );
    assert_eq!(
        store.connections_of(&ada.id).await.unwrap(),
        [(lab.id.to_string(), "sub_first".to_owned())]
    );
    assert_eq!(
        store
            .member_by_subject(&lab.id, "sub_second")
            .await
            .unwrap(),
        None
    );

    // Concurrent callers all get the one subject stored.
    let bo = enrol(&store, None, Registry::Public, 4).await;
    let attempts: Vec<_> = (0..8)
        .map(|index| {
            let (store, bo, lab) = (Arc::clone(&store), bo.id.clone(), lab.id.clone());
            tokio::spawn(async move {
                store
                    .connect(&bo, &lab, &format!("sub_bo_{index}"), instant(5))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut answers = HashSet::new();
    for attempt in attempts {
        answers.insert(attempt.await.unwrap());
    }
    assert_eq!(answers.len(), 1, "{answers:?}");
    let subject = answers.into_iter().next().unwrap();
    assert!(subject.starts_with("sub_bo_"), "{subject}");
    assert_eq!(
        store.connections_of(&bo.id).await.unwrap(),
        [(lab.id.to_string(), subject)]
    );

    // A subject stands for one member only.
    let cy = enrol(&store, None, Registry::Public, 6).await;
    let error = store
        .connect(&cy.id, &lab.id, "sub_first", instant(7))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert!(store.connections_of(&cy.id).await.unwrap().is_empty());
}

async fn connections_list_oldest_first(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let mut labs = Vec::new();
    for _ in 0..3 {
        labs.push(approve(&store, RequesterClass::Academic).await);
    }
    // Connected in the order 1, 0, 2 by instant, though stored 0, 1, 2.
    for (lab, seconds) in labs.iter().zip([5, 2, 9]) {
        store
            .connect(
                &ada.id,
                &lab.id,
                &format!("sub_{}", lab.id),
                instant(seconds),
            )
            .await
            .unwrap();
    }
    let expected: Vec<(String, String)> = [1, 0, 2]
        .iter()
        .map(|&index| {
            let id = labs[index].id.to_string();
            (id.clone(), format!("sub_{id}"))
        })
        .collect();
    assert_eq!(store.connections_of(&ada.id).await.unwrap(), expected);
    assert!(
        store
            .connections_of(&MemberId::generate())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_subject_stands_for_its_member_for_its_third_party_only(store: Arc<dyn Store>) {
    let lab = approve(&store, RequesterClass::Academic).await;
    let other = approve(&store, RequesterClass::Academic).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol(&store, None, Registry::Public, 2).await;
    let subject = store
        .connect(&ada.id, &lab.id, "sub_ada_lab", instant(3))
        .await
        .unwrap();
    store
        .connect(&bo.id, &lab.id, "sub_bo_lab", instant(3))
        .await
        .unwrap();
    assert_eq!(
        store.member_by_subject(&lab.id, &subject).await.unwrap(),
        Some(ada.id.clone())
    );
    assert_eq!(
        store
            .member_by_subject(&lab.id, "sub_bo_lab")
            .await
            .unwrap(),
        Some(bo.id.clone())
    );
    assert_eq!(
        store.member_by_subject(&other.id, &subject).await.unwrap(),
        None,
        "a subject means nothing to another third party"
    );
    assert_eq!(
        store
            .member_by_subject(&lab.id, "sub_unknown")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .member_by_subject(&ThirdPartyId::generate(), &subject)
            .await
            .unwrap(),
        None
    );
    assert!(store.leave(&ada.id, instant(4)).await.unwrap().value);
    assert_eq!(
        store.member_by_subject(&lab.id, &subject).await.unwrap(),
        None,
        "a departed member's subject stands for nobody"
    );
    assert_eq!(
        store
            .member_by_subject(&lab.id, "sub_bo_lab")
            .await
            .unwrap(),
        Some(bo.id)
    );
}

// ---- The access log ----

async fn the_access_log_pages_newest_first(store: Arc<dyn Store>) {
    let lab = approve(&store, RequesterClass::Academic).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol(&store, None, Registry::Public, 2).await;
    // Every reason, both verdicts and actions, instants out of order:
    // newest means logged last.
    let every_reason = AccessRecord {
        action: Action::Aggregate,
        decision: Verdict::Allow,
        categories: [
            Reason::RequesterInactive,
            Reason::MemberInactive,
            Reason::CoopPolicy,
            Reason::Allowed,
            Reason::DeniedByRule,
            Reason::DelegationCycle,
            Reason::DelegationTooDeep,
            Reason::NoConsent,
        ]
        .into_iter()
        .enumerate()
        .map(|(index, reason)| CategoryVerdict {
            category: format!("health.c{index}"),
            verdict: if reason == Reason::Allowed {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            reason,
        })
        .collect(),
        ..access(&ada.id, &lab.id, "research.academic", 30)
    };
    let logged = [
        access(&ada.id, &lab.id, "research", 10),
        every_reason,
        access(&ada.id, &lab.id, "marketing", 5),
        AccessRecord {
            categories: Vec::new(),
            ..access(&ada.id, &lab.id, "research", 40)
        },
        access(&ada.id, &lab.id, "public_interest", 20),
    ];
    for (index, entry) in logged.iter().enumerate() {
        store.log_access(entry).await.unwrap();
        if index % 2 == 0 {
            store
                .log_access(&access(&bo.id, &lab.id, "research", 1))
                .await
                .unwrap();
        }
    }
    let newest_first: Vec<AccessRecord> = logged.iter().rev().cloned().collect();
    let entries = |page: &[(i64, AccessRecord)]| -> Vec<AccessRecord> {
        page.iter().map(|(_, entry)| entry.clone()).collect()
    };

    let all = store.access_log(&ada.id, None, 10).await.unwrap();
    assert_eq!(entries(&all), newest_first, "only theirs, newest first");
    assert!(all.windows(2).all(|pair| pair[0].0 > pair[1].0));

    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = store.access_log(&ada.id, before, 2).await.unwrap();
        let Some((last, _)) = page.last() else { break };
        before = Some(*last);
        pages.push(entries(&page));
    }
    assert_eq!(
        pages,
        [
            newest_first[..2].to_vec(),
            newest_first[2..4].to_vec(),
            newest_first[4..].to_vec()
        ]
    );
    assert_eq!(
        entries(&store.access_log(&ada.id, Some(all[2].0), 2).await.unwrap()),
        newest_first[3..],
        "a page exactly as long as what is left"
    );
    assert!(store.access_log(&ada.id, None, 0).await.unwrap().is_empty());
    assert!(
        store
            .access_log(&ada.id, Some(all[4].0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.access_log(&bo.id, None, 10).await.unwrap().len(), 3);
    assert!(
        store
            .access_log(&MemberId::generate(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn unmatched_calls_are_logged_apart_from_members(db: Db) {
    let store = db.open(Limits::default()).await;
    let lab = approve(&store, RequesterClass::Academic).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let subject = store
        .connect(&ada.id, &lab.id, "sub_ada", instant(2))
        .await
        .unwrap();
    let call = UnmatchedAccess {
        third_party: lab.id.clone(),
        subject: "sub_nobody".into(),
        purpose: "research".into(),
        action: Action::Access,
        decision: Verdict::Deny,
        categories: vec![CategoryVerdict {
            category: "health".into(),
            verdict: Verdict::Deny,
            reason: Reason::NoConsent,
        }],
        at: instant(3),
    };
    store.log_unmatched_access(&call).await.unwrap();
    store
        .log_unmatched_access(&UnmatchedAccess {
            subject: subject.clone(),
            ..call.clone()
        })
        .await
        .unwrap();
    let logged = "SELECT COUNT(*) FROM unmatched_access WHERE subject = $1";
    assert_eq!(db.count(logged, "sub_nobody").await, 1);
    assert_eq!(db.count(logged, &subject).await, 1);
    assert!(
        store
            .access_log(&ada.id, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "an unmatched call lands in no member's log"
    );
    store.close().await;
}

// ---- Bulk loading ----

/// A co-op of `members` members in the shape the generator writes.
fn generated(members: usize) -> Bulk {
    let lab = third_party("dcc_bulk_lab");
    let careful = persona("Careful", 0);
    let careful_owner = Owner::Persona(careful.id.clone());
    let members: Vec<Member> = (0..members)
        .map(|index| Member {
            accepts_delegations: index % 3 == 0,
            ..member(
                None,
                if index % 2 == 0 {
                    Registry::Public
                } else {
                    Registry::Anonymous
                },
                i64::try_from(index).unwrap(),
            )
        })
        .collect();
    let mut rules: Vec<_> = members
        .iter()
        .map(|m| rule(&Owner::Member(m.id.clone()), 1))
        .collect();
    rules.push(rule(&careful_owner, 1));
    rules.push(rule(&Owner::Coop, 1));
    let delegations = vec![
        delegation(
            &members[1].id,
            &Owner::Member(members[0].id.clone()),
            &["*"],
            &["*"],
            2,
        ),
        delegation(&members[2].id, &careful_owner, &["health"], &["*"], 2),
    ];
    let mut versions: Vec<(Owner, i64)> = members
        .iter()
        .map(|m| (Owner::Member(m.id.clone()), 1))
        .collect();
    versions.push((careful_owner, 1));
    versions.push((Owner::Coop, 3));
    // Every member stores a value (more rows than one insert holds).
    let data = members
        .iter()
        .enumerate()
        .map(|(index, member)| {
            (
                member.id.clone(),
                "health.heart".to_owned(),
                format!("{{\"resting_bpm\":{index}}}"),
            )
        })
        .collect();
    Bulk {
        members,
        third_parties: vec![(lab, "$argon2id$bulk".into())],
        personas: vec![careful],
        rules,
        delegations,
        versions,
        data,
    }
}

/// `rules_and_delegations_of` reads what `rules_of` and `delegations_of`
/// read, for many members at once (more than one query's worth), and
/// nothing of anyone else.
async fn many_members_rules_and_delegations_read_at_once(store: Arc<dyn Store>) {
    let bulk = generated(2_001);
    store.bulk_load(bulk.clone()).await.unwrap();
    let ids: Vec<MemberId> = bulk
        .members
        .iter()
        .map(|member| member.id.clone())
        .collect();
    let (rules, delegations) = store.rules_and_delegations_of(&ids).await.unwrap();
    let mut expected_rules = Vec::new();
    let mut expected_delegations = Vec::new();
    for id in &ids {
        expected_rules.extend(store.rules_of(&Owner::Member(id.clone())).await.unwrap());
        expected_delegations.extend(store.delegations_of(id).await.unwrap());
    }
    let key = |rule: &datacoop_broker::domain::Rule| rule.id.to_string();
    let (mut got, mut want): (Vec<_>, Vec<_>) = (rules.clone(), expected_rules.clone());
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);
    assert!(!rules.is_empty(), "the generated members have rules");
    let mut got: Vec<_> = delegations.iter().map(|d| d.id.to_string()).collect();
    let mut want: Vec<_> = expected_delegations
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let (none, nothing) = store.rules_and_delegations_of(&[]).await.unwrap();
    assert!(none.is_empty() && nothing.is_empty());
}

async fn bulk_load_then_reads(store: Arc<dyn Store>) {
    let before = enrol(&store, Some("Early"), Registry::Public, 0).await;
    // More rows than one multi-row insert holds (`BULK_ROWS`, 2,000).
    let bulk = generated(2_001);
    store.bulk_load(bulk.clone()).await.unwrap();

    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_members(after, 200).await.unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        listed.extend(page.into_iter().map(|(_, m)| m));
    }
    let mut expected = vec![before];
    expected.extend(bulk.members.iter().cloned());
    assert_eq!(listed, expected, "every member, in the order loaded");

    let last = bulk.members.last().unwrap();
    assert_eq!(
        store.data_of(&last.id).await.unwrap(),
        vec![(
            "health.heart".to_owned(),
            "{\"resting_bpm\":2000}".to_owned()
        )]
    );
    let values = store
        .dataset_values(
            &[datacoop_broker::domain::TermId::parse("health.heart").unwrap()],
            &bulk
                .members
                .iter()
                .map(|member| member.id.clone())
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(values.len(), 2_001, "every member's value, for a dataset");

    let (lab, hash) = &bulk.third_parties[0];
    assert_eq!(store.third_party(&lab.id).await.unwrap(), Some(lab.clone()));
    assert_eq!(
        store.client(&lab.client_id).await.unwrap(),
        Some((lab.clone(), hash.clone()))
    );
    assert_eq!(store.personas().await.unwrap(), bulk.personas);
    assert_eq!(store.all_rules().await.unwrap(), bulk.rules);
    let delegations = store.all_delegations().await.unwrap();
    assert_eq!(delegations.len(), 2);
    for (stored, loaded) in delegations.iter().zip(&bulk.delegations) {
        assert_eq!(
            datacoop_broker::domain::Delegation {
                seq: 0,
                ..stored.clone()
            },
            *loaded
        );
    }
    assert!(delegations[0].seq < delegations[1].seq);
    let mut loaded_versions = bulk.versions.clone();
    loaded_versions.sort();
    assert_eq!(versions(&store).await, loaded_versions);

    // What decisions read shows the load.
    let first = &bulk.members[0];
    assert_eq!(
        store
            .decision_facts(Some(&lab.id), Some(&first.id))
            .await
            .unwrap(),
        DecisionFacts {
            requester: Some((lab.class, lab.status)),
            member_active: true,
            coop_version: 3,
            member_version: 1,
        }
    );
    let careful = Owner::Persona(bulk.personas[0].id.clone());
    assert_eq!(
        store
            .owner_states(&[
                Owner::Member(first.id.clone()),
                Owner::Member(bulk.members[1].id.clone()),
                careful.clone(),
            ])
            .await
            .unwrap(),
        [
            OwnerState {
                version: 1,
                can_proxy: true
            },
            OwnerState {
                version: 1,
                can_proxy: false
            },
            OwnerState {
                version: 1,
                can_proxy: true
            },
        ]
    );
    assert_eq!(
        store
            .count_delegators(&Owner::Member(first.id.clone()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.count_delegators(&careful).await.unwrap(), 1);

    // Changes after a load go on from the loaded versions.
    let owner = Owner::Member(first.id.clone());
    store
        .create_rules(&owner, &[rule(&owner, 9)])
        .await
        .unwrap();
    assert_eq!(facts_of(&store, &first.id).await.member_version, 2);
}

async fn a_refused_bulk_load_writes_nothing(store: Arc<dyn Store>) {
    let early = enrol(&store, None, Registry::Public, 0).await;
    let mut bulk = generated(3);
    // The last row written repeats an owner's version: everything before
    // it in the load is rolled back with it.
    bulk.versions.push((Owner::Coop, 4));
    let error = store.bulk_load(bulk.clone()).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict), "{error:?}");
    assert_eq!(
        ids(&store.list_members(None, 10).await.unwrap()),
        std::slice::from_ref(&early.id)
    );
    assert_eq!(
        store
            .third_party(&bulk.third_parties[0].0.id)
            .await
            .unwrap(),
        None
    );
    assert!(store.personas().await.unwrap().is_empty());
    assert!(store.all_rules().await.unwrap().is_empty());
    assert!(store.all_delegations().await.unwrap().is_empty());
    assert!(versions(&store).await.is_empty());
    assert!(
        !store
            .decision_facts(None, Some(&bulk.members[0].id))
            .await
            .unwrap()
            .member_active
    );
}

// ---- Instants ----

async fn instants_keep_whole_microseconds(store: Arc<dyn Store>) {
    let earliest = DateTime::from_timestamp(0, 1_000).unwrap();
    let latest = DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999999Z")
        .unwrap()
        .with_timezone(&Utc);
    for at in [earliest, latest, instant(0)] {
        let kept = Member {
            created_at: at,
            ..member(None, Registry::Public, 0)
        };
        store
            .create_member(&kept, &token_of(&kept.id))
            .await
            .unwrap();
        assert_eq!(store.member(&kept.id).await.unwrap(), Some(kept.clone()));
        let owner = Owner::Member(kept.id.clone());
        let windowed = rule_with(
            &owner,
            RuleSpec {
                not_before: Some(earliest),
                expires_at: Some(latest),
                ..spec(&owner, &["health"], &["research"])
            },
            0,
        );
        let windowed = datacoop_broker::domain::Rule {
            created_at: at,
            ..windowed
        };
        store
            .create_rules(&owner, std::slice::from_ref(&windowed))
            .await
            .unwrap();
        assert_eq!(store.rules_of(&owner).await.unwrap(), [windowed]);
        let entry = AccessRecord {
            at,
            ..access(&kept.id, &ThirdPartyId::generate(), "research", 0)
        };
        store.log_access(&entry).await.unwrap();
        assert_eq!(
            store.access_log(&kept.id, None, 1).await.unwrap()[0].1,
            entry
        );
    }
    // A token that lives until the last instant is live at the first.
    let lab = approve(&store, RequesterClass::Academic).await;
    store
        .issue_access_token(&TokenHash::of("long"), &lab.id, earliest, latest)
        .await
        .unwrap();
    assert_eq!(
        store
            .third_party_by_token(&TokenHash::of("long"), earliest)
            .await
            .unwrap(),
        Some(lab)
    );
}

// ---- Settling and closing ----

async fn settle_waits_for_writes_whose_caller_is_gone(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let owner = Owner::Member(ada.id.clone());
    let lab = approve(&store, RequesterClass::Academic).await;
    let dropped_rule = rule(&owner, 2);
    let bo = member(None, Registry::Public, 3);
    start_and_drop(store.create_rules(&owner, std::slice::from_ref(&dropped_rule))).await;
    start_and_drop(store.create_member(&bo, &token_of(&bo.id))).await;
    start_and_drop(store.issue_access_token(
        &TokenHash::of("dropped"),
        &lab.id,
        instant(3),
        instant(100),
    ))
    .await;
    store.settle().await;

    assert_eq!(store.rules_of(&owner).await.unwrap(), [dropped_rule]);
    assert_eq!(
        facts_of(&store, &ada.id).await.member_version,
        1,
        "the dropped write reached the decision path"
    );
    assert_eq!(store.member(&bo.id).await.unwrap(), Some(bo.clone()));
    assert!(facts_of(&store, &bo.id).await.member_active);
    assert_eq!(
        store
            .third_party_by_token(&TokenHash::of("dropped"), instant(4))
            .await
            .unwrap(),
        Some(lab)
    );
    // Nothing under way: settling returns; writes go on after it.
    store.settle().await;
    store
        .create_rules(&owner, &[rule(&owner, 5)])
        .await
        .unwrap();
    assert_eq!(facts_of(&store, &ada.id).await.member_version, 2);
}

async fn close_finishes_the_writes_under_way_then_closes(db: Db) {
    let store = db.open(Limits::default()).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let owner = Owner::Member(ada.id.clone());
    let dropped_rule = rule(&owner, 2);
    let bo = member(None, Registry::Public, 3);
    start_and_drop(store.create_rules(&owner, std::slice::from_ref(&dropped_rule))).await;
    start_and_drop(store.create_member(&bo, &token_of(&bo.id))).await;
    store.close().await;
    assert!(store.ping().await.is_err(), "every connection is closed");
    drop(store);

    let reopened = db.open(Limits::default()).await;
    assert_eq!(reopened.rules_of(&owner).await.unwrap(), [dropped_rule]);
    assert_eq!(facts_of(&reopened, &ada.id).await.member_version, 1);
    assert_eq!(reopened.member(&bo.id).await.unwrap(), Some(bo));
    reopened.close().await;
}

// ---- Limits ----

async fn rules_per_owner_are_limited(db: Db) {
    let limits = Limits {
        rules_per_owner: 3,
        ..Limits::default()
    };
    let store = db.open(limits).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol(&store, None, Registry::Public, 2).await;
    let owner = Owner::Member(ada.id.clone());
    let held = vec![rule(&owner, 3), rule(&owner, 3)];
    store.create_rules(&owner, &held).await.unwrap();

    let error = store
        .create_rules(&owner, &[rule(&owner, 4), rule(&owner, 4)])
        .await
        .unwrap_err();
    assert_over_limit(&error, 3);
    assert_eq!(
        store.rules_of(&owner).await.unwrap(),
        held,
        "nothing written"
    );
    assert_eq!(version_of(&store, &owner).await, 1);
    assert_eq!(facts_of(&store, &ada.id).await.member_version, 1);

    // Up to the limit exactly, then not one more.
    let third = rule(&owner, 5);
    store
        .create_rules(&owner, std::slice::from_ref(&third))
        .await
        .unwrap();
    let error = store
        .create_rules(&owner, &[rule(&owner, 6)])
        .await
        .unwrap_err();
    assert_over_limit(&error, 3);
    assert_eq!(store.rules_of(&owner).await.unwrap().len(), 3);
    assert_eq!(facts_of(&store, &ada.id).await.member_version, 2);
    // Deleting one makes room again.
    assert!(store.delete_rule(&owner, &third.id).await.unwrap().value);
    store
        .create_rules(&owner, &[rule(&owner, 7)])
        .await
        .unwrap();
    assert_eq!(store.rules_of(&owner).await.unwrap().len(), 3);

    // The limit is each owner's: another member, the co-op, a persona.
    let bo_owner = Owner::Member(bo.id.clone());
    let three = |owner: &Owner| vec![rule(owner, 8), rule(owner, 8), rule(owner, 8)];
    store
        .create_rules(&bo_owner, &three(&bo_owner))
        .await
        .unwrap();
    let four = |owner: &Owner| {
        let mut rules = three(owner);
        rules.push(rule(owner, 8));
        rules
    };
    let error = store
        .create_rules(&Owner::Coop, &four(&Owner::Coop))
        .await
        .unwrap_err();
    assert_over_limit(&error, 3);
    assert!(store.rules_of(&Owner::Coop).await.unwrap().is_empty());
    assert_eq!(facts_of(&store, &ada.id).await.coop_version, 0);

    let careful = persona("Careful", 9);
    let careful_owner = Owner::Persona(careful.id.clone());
    let error = store
        .create_persona(&careful, &four(&careful_owner))
        .await
        .unwrap_err();
    assert_over_limit(&error, 3);
    assert!(
        store.personas().await.unwrap().is_empty(),
        "the persona is refused with its rules"
    );
    assert!(store.rules_of(&careful_owner).await.unwrap().is_empty());
    assert_eq!(
        store
            .owner_states(std::slice::from_ref(&careful_owner))
            .await
            .unwrap(),
        [OwnerState {
            version: 0,
            can_proxy: false
        }]
    );
    store
        .create_persona(&careful, &three(&careful_owner))
        .await
        .unwrap();
    assert_eq!(store.rules_of(&careful_owner).await.unwrap().len(), 3);
    store.close().await;
}

async fn delegations_per_member_are_limited(db: Db) {
    let limits = Limits {
        delegations_per_member: 2,
        ..Limits::default()
    };
    let store = db.open(limits).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol(&store, None, Registry::Public, 2).await;
    let proxy = Owner::Member(enrol_proxy(&store, 3).await.id);
    let first = store
        .create_delegation(&delegation(&ada.id, &proxy, &["health"], &["*"], 4))
        .await
        .unwrap()
        .value;
    store
        .create_delegation(&delegation(&ada.id, &proxy, &["location"], &["*"], 4))
        .await
        .unwrap();
    let held = store.delegations_of(&ada.id).await.unwrap();

    let error = store
        .create_delegation(&delegation(&ada.id, &proxy, &["financial"], &["*"], 5))
        .await
        .unwrap_err();
    assert_over_limit(&error, 2);
    assert_eq!(store.delegations_of(&ada.id).await.unwrap(), held);
    assert_eq!(facts_of(&store, &ada.id).await.member_version, 2);
    assert_eq!(version_of(&store, &Owner::Member(ada.id.clone())).await, 2);

    // Another member has their own allowance; revoking makes room.
    store
        .create_delegation(&delegation(&bo.id, &proxy, &["financial"], &["*"], 5))
        .await
        .unwrap();
    assert!(
        store
            .delete_delegation(&ada.id, &first.id)
            .await
            .unwrap()
            .value
    );
    store
        .create_delegation(&delegation(&ada.id, &proxy, &["financial"], &["*"], 6))
        .await
        .unwrap();
    assert_eq!(store.delegations_of(&ada.id).await.unwrap().len(), 2);
    store.close().await;
}

async fn data_bytes_per_member_are_limited_counting_a_replaced_value_once(db: Db) {
    let limits = Limits {
        data_bytes_per_member: 16,
        ..Limits::default()
    };
    let store = db.open(limits).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let bo = enrol(&store, None, Registry::Public, 2).await;
    let at = instant(3);
    let data = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(category, value)| ((*category).to_owned(), (*value).to_owned()))
            .collect()
    };

    store
        .put_data(&ada.id, "health", "\"12345678\"", at)
        .await
        .unwrap();
    store
        .put_data(&ada.id, "location", "\"1234\"", at)
        .await
        .unwrap();
    // 10 + 6 = 16 bytes: the limit exactly. One byte more is refused and
    // leaves the value that was there.
    let error = store
        .put_data(&ada.id, "location", "\"12345\"", at)
        .await
        .unwrap_err();
    assert_over_limit(&error, 16);
    let error = store
        .put_data(&ada.id, "financial", "1", at)
        .await
        .unwrap_err();
    assert_over_limit(&error, 16);
    assert_eq!(
        store.data_of(&ada.id).await.unwrap(),
        data(&[("health", "\"12345678\""), ("location", "\"1234\"")])
    );

    // A replaced value counts once: 10 bytes in place of 10 fit.
    store
        .put_data(&ada.id, "health", "\"87654321\"", at)
        .await
        .unwrap();
    store
        .put_data(&ada.id, "location", "\"\"", at)
        .await
        .unwrap();
    store
        .put_data(&ada.id, "health", "\"123456789012\"", at)
        .await
        .unwrap();
    assert_eq!(
        store.data_of(&ada.id).await.unwrap(),
        data(&[("health", "\"123456789012\""), ("location", "\"\"")])
    );

    // Bytes, not characters: "é" is two bytes on both databases.
    store
        .put_data(&ada.id, "health", "\"éé\"", at)
        .await
        .unwrap();
    store
        .put_data(&ada.id, "location", "\"éééé\"", at)
        .await
        .unwrap();
    let error = store
        .put_data(&ada.id, "location", "\"ééééé\"", at)
        .await
        .unwrap_err();
    assert_over_limit(&error, 16);
    assert_eq!(
        store.data_of(&ada.id).await.unwrap(),
        data(&[("health", "\"éé\""), ("location", "\"éééé\"")])
    );

    // Each member has their own allowance.
    store
        .put_data(&bo.id, "health", "\"12345678901234\"", at)
        .await
        .unwrap();

    // Concurrent writers of different categories cannot together go
    // past the limit: 4 of 8 values of 4 bytes fit in 16. Each round,
    // the writers hold a connection each and start together.
    for round in 0..10 {
        let writer = enrol(&store, None, Registry::Public, 4).await;
        let start = Arc::new(tokio::sync::Barrier::new(8));
        let writers: Vec<_> = [
            "health",
            "location",
            "financial",
            "identity",
            "behaviour",
            "health.heart",
            "health.sleep",
            "location.coarse",
        ]
        .into_iter()
        .map(|category| {
            let (store, id, start) = (Arc::clone(&store), writer.id.clone(), Arc::clone(&start));
            tokio::spawn(async move {
                store.ping().await.unwrap();
                start.wait().await;
                store.put_data(&id, category, "\"ab\"", at).await
            })
        })
        .collect();
        let mut stored = 0;
        for writer in writers {
            match writer.await.unwrap() {
                Ok(()) => stored += 1,
                Err(error) => assert_over_limit(&error, 16),
            }
        }
        assert_eq!(stored, 4, "round {round}");
        assert_eq!(store.data_of(&writer.id).await.unwrap().len(), 4);
    }
    store.close().await;
}

// ---- Opening ----

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

#[tokio::test]
async fn only_sqlite_and_postgres_urls_open() {
    for url in ["mysql://localhost/coop", "coop.db", ""] {
        let error = store::connect(url).await.unwrap_err();
        assert!(
            matches!(error, StoreError::UnsupportedUrl),
            "{url}: {error:?}"
        );
        let error = store::connect_with(url, Limits::default())
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::UnsupportedUrl),
            "{url}: {error:?}"
        );
    }
}

// ---- The verifiable log (issue 9) ----

/// The types of every entry from `from` on, in log order.
async fn kinds_from(store: &Arc<dyn Store>, from: u64) -> Vec<String> {
    let size = store.log_size().await.unwrap();
    let mut kinds = Vec::new();
    for index in from..size {
        let (kind, _) = store.log_entry(index).await.unwrap().unwrap();
        kinds.push(kind);
    }
    kinds
}

async fn every_change_commits_with_its_log_entry(store: Arc<dyn Store>) {
    assert_eq!(store.log_size().await.unwrap(), 0);
    let ada = enrol(&store, Some("Ada"), Registry::Public, 1).await;
    let proxy = enrol_proxy(&store, 2).await;
    let lab = approve(&store, RequesterClass::Academic).await;
    let own = Owner::Member(ada.id.clone());
    let kept = rule(&own, 3);
    store
        .create_rules(&own, std::slice::from_ref(&kept))
        .await
        .unwrap();
    let coop_rule = rule(&Owner::Coop, 4);
    store
        .create_rules(&Owner::Coop, std::slice::from_ref(&coop_rule))
        .await
        .unwrap();
    let shared = persona("Researcher", 5);
    let persona_rule = rule(&Owner::Persona(shared.id.clone()), 5);
    store
        .create_persona(&shared, &[persona_rule])
        .await
        .unwrap();
    let delegated = store
        .create_delegation(&delegation(
            &ada.id,
            &Owner::Member(proxy.id.clone()),
            &["health"],
            &["research"],
            6,
        ))
        .await
        .unwrap()
        .value;
    store
        .update_member(&ada.id, &patch_accepting(true))
        .await
        .unwrap();
    store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Suspended, instant(7))
        .await
        .unwrap();
    store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Active, instant(8))
        .await
        .unwrap();
    store
        .rotate_secret(&lab.id, "$argon2id$second", instant(9))
        .await
        .unwrap();
    assert!(store.delete_rule(&own, &kept.id).await.unwrap().value);
    assert!(
        store
            .delete_rule(&Owner::Coop, &coop_rule.id)
            .await
            .unwrap()
            .value
    );
    assert!(
        store
            .delete_delegation(&ada.id, &delegated.id)
            .await
            .unwrap()
            .value
    );
    assert!(store.leave(&ada.id, instant(10)).await.unwrap().value);
    assert_eq!(
        kinds_from(&store, 0).await,
        [
            "member.joined",
            "member.joined",
            "third_party.approved",
            "rules.created",
            "rules.created",
            "persona.published",
            "delegation.created",
            "member.updated",
            "third_party.suspended",
            "third_party.reinstated",
            "third_party.secret_rotated",
            "rule.deleted",
            "rule.deleted",
            "delegation.revoked",
            "member.left",
        ]
    );
    // A member's own entries: their joining, rules, delegations, settings
    // and leaving; not the proxy's joining, the co-op's rules or personas.
    let about: Vec<(u64, String)> = store
        .log_about(&ada.id, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| (entry.index, entry.kind))
        .collect();
    assert_eq!(
        about,
        [
            (0, "member.joined".to_owned()),
            (3, "rules.created".to_owned()),
            (6, "delegation.created".to_owned()),
            (7, "member.updated".to_owned()),
            (11, "rule.deleted".to_owned()),
            (13, "delegation.revoked".to_owned()),
            (14, "member.left".to_owned()),
        ]
    );
    // Paged after an index.
    let page = store.log_about(&ada.id, Some(6), 2).await.unwrap();
    assert_eq!(
        page.iter().map(|entry| entry.index).collect::<Vec<_>>(),
        [7, 11]
    );
    assert_eq!(store.log_entry(15).await.unwrap(), None);
    assert_eq!(store.log_entry(u64::MAX).await.unwrap(), None);
}

async fn a_change_that_changes_nothing_logs_nothing(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let own = Owner::Member(ada.id.clone());
    let before = store.log_size().await.unwrap();
    // Missing: nothing to delete or revoke, no such third party.
    assert!(
        !store
            .delete_rule(&own, &RuleId::generate())
            .await
            .unwrap()
            .value
    );
    assert!(
        !store
            .delete_delegation(&ada.id, &DelegationId::generate())
            .await
            .unwrap()
            .value
    );
    assert!(
        store
            .set_third_party_status(
                &ThirdPartyId::generate(),
                ThirdPartyStatus::Suspended,
                instant(2)
            )
            .await
            .unwrap()
            .value
            .is_none()
    );
    // Refused: a rule id that exists already.
    let first = rule(&own, 2);
    store
        .create_rules(&own, std::slice::from_ref(&first))
        .await
        .unwrap();
    let after_rule = store.log_size().await.unwrap();
    assert_eq!(after_rule, before + 1);
    assert!(matches!(
        store.create_rules(&own, &[first]).await,
        Err(StoreError::Conflict)
    ));
    // A new display name alone is neither consent nor membership.
    let renamed = MemberPatch {
        display_name: Some(Some(DisplayName::parse("Ada L.").unwrap())),
        ..MemberPatch::default()
    };
    store.update_member(&ada.id, &renamed).await.unwrap();
    assert_eq!(store.log_size().await.unwrap(), after_rule);
}

async fn log_entries_are_canonical_and_hold_no_name_or_data(store: Arc<dyn Store>) {
    let ada = enrol(&store, Some("Ada Lovelace"), Registry::Anonymous, 1).await;
    store
        .put_data(&ada.id, "health", "{\"pulse\": 61}", instant(2))
        .await
        .unwrap();
    let own = Owner::Member(ada.id.clone());
    store.create_rules(&own, &[rule(&own, 3)]).await.unwrap();
    store.leave(&ada.id, instant(4)).await.unwrap();
    let size = store.log_size().await.unwrap();
    assert_eq!(size, 3);
    for index in 0..size {
        let (kind, body) = store.log_entry(index).await.unwrap().unwrap();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            !text.contains("Lovelace") && !text.contains("pulse"),
            "{text}"
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], kind.as_str());
        assert!(value["at"].is_string(), "{text}");
        // RFC 8785: the bytes are the canonical form of their own value.
        assert_eq!(
            canon_json::CanonJsonSerialize::to_canon_json_vec(&value).unwrap(),
            body
        );
        assert!(
            !text.contains(['\n', ' ']),
            "no insignificant whitespace: {text}"
        );
    }
}

async fn every_access_is_logged_known_subject_or_not(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let lab = approve(&store, RequesterClass::Academic).await;
    let before = store.log_size().await.unwrap();
    store
        .log_access(&access(&ada.id, &lab.id, "research", 2))
        .await
        .unwrap();
    store
        .log_unmatched_access(&UnmatchedAccess {
            third_party: lab.id.clone(),
            subject: "sub_nobody".into(),
            purpose: "research".into(),
            action: Action::Access,
            decision: Verdict::Deny,
            categories: vec![CategoryVerdict {
                category: "health".into(),
                verdict: Verdict::Deny,
                reason: Reason::NoConsent,
            }],
            at: instant(3),
        })
        .await
        .unwrap();
    assert_eq!(store.log_size().await.unwrap(), before + 2);
    let entry = |index| {
        let store = Arc::clone(&store);
        async move {
            let (kind, body) = store.log_entry(index).await.unwrap().unwrap();
            assert_eq!(kind, "access");
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        }
    };
    // A member's access names them, with each category's true reason.
    let known = entry(before).await;
    assert_eq!(known["member"], ada.id.as_str());
    assert_eq!(known["third_party"], lab.id.as_str());
    assert_eq!(known["categories"][1]["reason"], "no_consent");
    // A call about nobody names the third party and the request only.
    let unknown = entry(before + 1).await;
    assert_eq!(unknown["subject"], "sub_nobody");
    assert_eq!(unknown["third_party"], lab.id.as_str());
    assert!(unknown.get("member").is_none(), "{unknown}");
    let about = store
        .log_about(&ada.id, Some(before - 1), 10)
        .await
        .unwrap();
    assert_eq!(
        about.iter().map(|entry| entry.index).collect::<Vec<_>>(),
        [before]
    );
}

async fn concurrent_changes_commit_together_and_a_refused_one_alone(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let own = Owner::Member(ada.id.clone());
    let taken = rule(&own, 2);
    store
        .create_rules(&own, std::slice::from_ref(&taken))
        .await
        .unwrap();
    let before = store.log_size().await.unwrap();
    // 60 changes at once: 50 new rules and 10 that reuse a rule id (each
    // refused in its own savepoint, whatever batch it lands in).
    let mut writes = tokio::task::JoinSet::new();
    for index in 0..60_i64 {
        let store = Arc::clone(&store);
        let own = own.clone();
        let new = if index % 6 == 5 {
            taken.clone()
        } else {
            rule(&own, 3 + index)
        };
        writes.spawn(async move {
            let id = new.id.clone();
            (id, store.create_rules(&own, &[new]).await)
        });
    }
    let mut created = HashMap::new();
    let mut refused = 0;
    while let Some(joined) = writes.join_next().await {
        match joined.unwrap() {
            (id, Ok(logged)) => {
                created.insert(id, logged.log_index.unwrap());
            }
            (_, Err(StoreError::Conflict)) => refused += 1,
            (_, Err(other)) => panic!("unexpected {other}"),
        }
    }
    assert_eq!((created.len(), refused), (50, 10));
    // One entry per change that committed, at consecutive indices, each
    // naming a rule that is stored.
    assert_eq!(store.log_size().await.unwrap(), before + 50);
    let stored: HashSet<RuleId> = store
        .rules_of(&own)
        .await
        .unwrap()
        .into_iter()
        .map(|rule| rule.id)
        .collect();
    for index in before..before + 50 {
        let (kind, body) = store.log_entry(index).await.unwrap().unwrap();
        assert_eq!(kind, "rules.created");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let id = value["rules"][0]["id"].as_str().unwrap();
        let id = RuleId::parse(id).unwrap();
        // Each change's receipt names its own entry.
        assert_eq!(created.get(&id), Some(&index), "{value}");
        assert!(stored.contains(&id), "{value}");
    }
}

/// Every size's root read from the stored hashes.
async fn stored_root(store: &Arc<dyn Store>, size: u64) -> tree::Hash {
    let known = store
        .log_hashes(&tree::root_needs(size).unwrap())
        .await
        .unwrap();
    tree::root(size, &known).unwrap()
}

async fn the_stored_tree_is_the_tree_of_the_stored_entries(store: Arc<dyn Store>) {
    assert_eq!(stored_root(&store, 0).await, tree::EMPTY_ROOT);
    // Changes one at a time, then 40 at once (committed in batches).
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let own = Owner::Member(ada.id.clone());
    for index in 0..5 {
        store
            .create_rules(&own, &[rule(&own, 2 + index)])
            .await
            .unwrap();
    }
    // With 60 third parties' calls among them, known subjects and not:
    // runs of calls commit with multi-row inserts, each at its receipt.
    let lab = approve(&store, RequesterClass::Academic).await;
    let mut writes = tokio::task::JoinSet::new();
    for index in 0..40 {
        let store = Arc::clone(&store);
        let own = own.clone();
        writes.spawn(async move {
            let logged = store
                .create_rules(&own, &[rule(&own, 10 + index)])
                .await
                .unwrap();
            (logged.log_index.unwrap(), "rules.created".to_owned())
        });
    }
    for index in 0..60 {
        let store = Arc::clone(&store);
        let (ada, lab) = (ada.id.clone(), lab.id.clone());
        writes.spawn(async move {
            if index % 3 == 0 {
                let subject = format!("sub_nobody_{index}");
                let logged = store
                    .log_unmatched_access(&UnmatchedAccess {
                        third_party: lab,
                        subject: subject.clone(),
                        purpose: "research".into(),
                        action: Action::Access,
                        decision: Verdict::Deny,
                        categories: Vec::new(),
                        at: instant(3),
                    })
                    .await
                    .unwrap();
                (logged.log_index.unwrap(), subject)
            } else {
                let logged = store
                    .log_access(&access(&ada, &lab, "research", 2))
                    .await
                    .unwrap();
                (logged.log_index.unwrap(), ada.to_string())
            }
        });
    }
    let receipts = writes.join_all().await;
    let size = store.log_size().await.unwrap();
    assert_eq!(size, 107);
    let distinct: HashSet<u64> = receipts.iter().map(|(index, _)| *index).collect();
    assert_eq!(distinct.len(), 100, "one index per write");
    for (index, names) in &receipts {
        let (_, body) = store.log_entry(*index).await.unwrap().unwrap();
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains(names.as_str()), "entry {index}: {body}");
    }
    // The tree recomputed from the entries' bytes alone.
    let mut recomputed = HashMap::new();
    let mut leaves = Vec::new();
    for index in 0..size {
        let (_, body) = store.log_entry(index).await.unwrap().unwrap();
        let leaf = tree::leaf_hash(&body);
        leaves.push(leaf);
        recomputed.extend(tree::append(index, leaf, &recomputed).unwrap());
    }
    for at in [1, 2, 5, 6, 7, 31, 46, 64, 100, 107] {
        assert_eq!(
            stored_root(&store, at).await,
            tree::root(at, &recomputed).unwrap(),
            "size {at}"
        );
    }
    // Every entry's inclusion proof, from stored hashes, checks.
    let root = stored_root(&store, size).await;
    for (index, leaf) in (0..size).zip(leaves) {
        let known = store
            .log_hashes(&tree::inclusion_needs(index, size).unwrap())
            .await
            .unwrap();
        let proof = tree::inclusion_proof(index, size, &known).unwrap();
        tree::verify_inclusion(leaf, index, size, root, &proof).unwrap();
    }
}

/// A third party's token and a subject, read again and again (the SQLite
/// store answers them from memory), follow each acknowledged write at
/// once: suspension, a new secret, a token's expiry, a member leaving.
async fn what_a_call_reads_follows_every_write_at_once(store: Arc<dyn Store>) {
    let lab = approve(&store, RequesterClass::Academic).await;
    let ada = enrol(&store, None, Registry::Public, 1).await;
    let token = TokenHash::of("dct_cache-check-token-0123456789abcdefgh");
    store
        .issue_access_token(&token, &lab.id, instant(2), instant(100))
        .await
        .unwrap();
    let subject = store
        .connect(&ada.id, &lab.id, "sub_cache_check", instant(2))
        .await
        .unwrap();
    for _ in 0..3 {
        let holder = store
            .third_party_by_token(&token, instant(3))
            .await
            .unwrap();
        assert_eq!(
            holder.map(|third_party| third_party.status),
            Some(ThirdPartyStatus::Active)
        );
        assert_eq!(
            store.member_by_subject(&lab.id, &subject).await.unwrap(),
            Some(ada.id.clone())
        );
    }
    // Expired: past its instant, the token holds nothing.
    assert_eq!(
        store
            .third_party_by_token(&token, instant(100))
            .await
            .unwrap(),
        None
    );
    store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Suspended, instant(4))
        .await
        .unwrap();
    let holder = store
        .third_party_by_token(&token, instant(5))
        .await
        .unwrap();
    assert_eq!(
        holder.map(|third_party| third_party.status),
        Some(ThirdPartyStatus::Suspended)
    );
    store
        .set_third_party_status(&lab.id, ThirdPartyStatus::Active, instant(6))
        .await
        .unwrap();
    assert!(
        store
            .third_party_by_token(&token, instant(7))
            .await
            .unwrap()
            .is_some()
    );
    store
        .rotate_secret(&lab.id, "$argon2id$second", instant(8))
        .await
        .unwrap();
    assert_eq!(
        store
            .third_party_by_token(&token, instant(9))
            .await
            .unwrap(),
        None
    );
    // A member's data: a new value is read at once, every time.
    for round in 0..3 {
        let value = format!("{{\"steps\":{round}}}");
        store
            .put_data(&ada.id, "health", &value, instant(9))
            .await
            .unwrap();
        for _ in 0..2 {
            assert_eq!(
                store.data_of(&ada.id).await.unwrap(),
                [("health".to_owned(), value.clone())]
            );
        }
    }
    assert!(store.leave(&ada.id, instant(10)).await.unwrap().value);
    assert_eq!(
        store.member_by_subject(&lab.id, &subject).await.unwrap(),
        None
    );
    assert_eq!(store.data_of(&ada.id).await.unwrap(), []);
}

/// A data write whose caller stopped waiting still lands, and the next
/// read sees it (not what was read before it).
async fn a_data_write_whose_caller_is_gone_is_read_once_it_lands(store: Arc<dyn Store>) {
    let ada = enrol(&store, None, Registry::Public, 1).await;
    store
        .put_data(&ada.id, "health", "0", instant(2))
        .await
        .unwrap();
    for round in 1..6 {
        assert_eq!(store.data_of(&ada.id).await.unwrap().len(), 1);
        let value = round.to_string();
        start_and_drop(store.put_data(&ada.id, "health", &value, instant(3))).await;
        store.settle().await;
        assert_eq!(
            store.data_of(&ada.id).await.unwrap(),
            [("health".to_owned(), value)],
            "round {round}"
        );
    }
}
