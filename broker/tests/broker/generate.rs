//! `datacoop generate` in process, on SQLite (and once on PostgreSQL): no combination of its flags
//! panics, and what it writes is what it reports (issue 8 item 8).

use std::sync::Arc;

use datacoop_broker::audit::tree;
use datacoop_broker::consent::Evaluator;
use datacoop_broker::generate::{GenerateError, Report, Shape, generate};
use datacoop_broker::policy::Policies;
use datacoop_broker::store::{self, Store};
use proptest::prelude::*;
use sqlx::{Connection, SqliteConnection};

use crate::support::Database;

/// Generates `shape` into a fresh SQLite file; the outcome and the file's
/// connection once the store is closed.
async fn run(shape: &Shape) -> (Result<Report, GenerateError>, SqliteConnection, Database) {
    let database = Database::sqlite();
    let store: Arc<dyn Store> = store::connect(&database.url()).await.unwrap();
    store.migrate().await.unwrap();
    let policies = Policies::built_in().unwrap();
    let evaluator = Evaluator::new(&policies).unwrap();
    let outcome = generate(&store, &evaluator, &policies.vocabulary, shape).await;
    store.close().await;
    let connection = SqliteConnection::connect(&database.url()).await.unwrap();
    (outcome, connection, database)
}

async fn count(connection: &mut SqliteConnection, sql: &str, bind: Option<&str>) -> usize {
    let query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()));
    let query = match bind {
        Some(value) => query.bind(value.to_owned()),
        None => query,
    };
    usize::try_from(query.fetch_one(&mut *connection).await.unwrap()).unwrap()
}

/// The member `member` delegates to, if they delegate to a member.
async fn proxy_of(connection: &mut SqliteConnection, member: &str) -> Option<String> {
    sqlx::query_scalar::<_, String>(
        "SELECT proxy_id FROM delegations WHERE member_id = $1 AND proxy_kind = 'member'",
    )
    .bind(member.to_owned())
    .fetch_optional(&mut *connection)
    .await
    .unwrap()
}

/// The generated co-op is in the verifiable log like any other: an entry
/// per member and per delegation, a third party's approval, each
/// persona's publication, and a tree whose stored hashes are the tree of
/// the entries.
async fn check_log(db: &mut SqliteConnection) {
    for (kind, table) in [
        ("member.joined", "members"),
        ("delegation.created", "delegations"),
        ("persona.published", "personas"),
        ("third_party.approved", "third_parties"),
    ] {
        assert_eq!(
            count(
                db,
                "SELECT count(*) FROM log_entries WHERE kind = $1",
                Some(kind)
            )
            .await,
            count(db, &format!("SELECT count(*) FROM {table}"), None).await,
            "{kind}"
        );
    }
    let size = count(db, "SELECT size FROM log_head", None).await;
    assert_eq!(
        size,
        count(db, "SELECT count(*) FROM log_entries", None).await
    );
    let bodies: Vec<Vec<u8>> = sqlx::query_scalar("SELECT body FROM log_entries ORDER BY idx")
        .fetch_all(&mut *db)
        .await
        .unwrap();
    let mut rebuilt = tree::Rebuilt::default();
    for body in &bodies {
        rebuilt.push(tree::leaf_hash(body));
    }
    let hashes: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT idx, hash FROM log_hashes")
        .fetch_all(&mut *db)
        .await
        .unwrap();
    let known = hashes
        .into_iter()
        .map(|(index, hash)| {
            (
                u64::try_from(index).unwrap(),
                tree::Hash(hash.try_into().unwrap()),
            )
        })
        .collect();
    let size = u64::try_from(size).unwrap();
    assert_eq!(tree::root(size, &known).unwrap(), rebuilt.root());
}

/// Everything the report states, checked against the database.
async fn check(shape: Shape) {
    let (outcome, mut db, _database) = run(&shape).await;
    let shares = [shape.own_rules, shape.delegating, shape.on_personas];
    if shares.iter().sum::<f64>() > 1.0 + 1e-9 {
        assert!(
            matches!(outcome, Err(GenerateError::Shares)),
            "{shape:?}: {outcome:?}"
        );
        assert_eq!(
            count(&mut db, "SELECT count(*) FROM members", None).await,
            0
        );
        return;
    }
    let report = outcome.unwrap_or_else(|error| panic!("{shape:?}: {error}"));
    assert_eq!(report.members, shape.members);
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM members", None).await,
        report.members
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM rules", None).await,
        report.rules
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM delegations", None).await,
        report.delegations
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM personas", None).await,
        report.personas
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM third_parties", None).await,
        report.third_parties.len()
    );
    for (id, status) in &report.third_parties {
        let stored = count(
            &mut db,
            &format!("SELECT count(*) FROM third_parties WHERE id = $1 AND status = '{status}'"),
            Some(id),
        )
        .await;
        assert_eq!(stored, 1, "{id} {status}");
    }
    match &report.hub {
        Some(hub) => {
            // The hub may also end a few chains.
            let to_hub = count(
                &mut db,
                "SELECT count(*) FROM delegations WHERE proxy_kind = 'member' AND proxy_id = $1",
                Some(hub),
            )
            .await;
            assert!(
                to_hub >= report.hub_delegators,
                "{to_hub} < {}",
                report.hub_delegators
            );
            assert!(
                count(
                    &mut db,
                    "SELECT count(*) FROM rules WHERE owner_kind = 'member' AND owner_id = $1",
                    Some(hub)
                )
                .await
                    >= 2
            );
        }
        None => assert_eq!(report.hub_delegators, 0),
    }
    assert!(report.hub_delegators <= shape.hub_delegators);
    match (&report.hub_delegator, &report.hub) {
        (Some(delegator), Some(hub)) => {
            assert_eq!(proxy_of(&mut db, delegator).await.as_ref(), Some(hub));
        }
        (Some(_), None) => panic!("a hub delegator without a hub"),
        (None, _) => assert_eq!(report.hub_delegators, 0),
    }
    if let Some(head) = &report.longest_chain_head {
        // Exactly the depth limit in hops, to a member with rules.
        let mut member = head.clone();
        let mut hops = 0;
        while let Some(proxy) = proxy_of(&mut db, &member).await {
            hops += 1;
            assert!(hops <= shape.max_depth, "the chain from {head} is too long");
            member = proxy;
        }
        assert_eq!(hops, shape.max_depth);
        assert!(
            count(
                &mut db,
                "SELECT count(*) FROM rules WHERE owner_kind = 'member' AND owner_id = $1",
                Some(&member)
            )
            .await
                >= 2
        );
    }
    check_log(&mut db).await;
    assert_eq!(report.sample.is_empty(), shape.members == 0);
    for member in report.sample.iter().take(5) {
        assert_eq!(
            count(
                &mut db,
                "SELECT count(*) FROM members WHERE id = $1",
                Some(member)
            )
            .await,
            1
        );
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        0usize..=300,
        (0.0..=1.0f64, 0.0..=1.0f64, 0.0..=1.0f64),
        // Mostly shares that add up to at most 1; sometimes not.
        prop::bool::weighted(0.8),
        0usize..=400,
        0usize..=24,
        any::<u64>(),
    )
        .prop_map(
            |(
                members,
                (own_rules, delegating, on_personas),
                fit,
                hub_delegators,
                max_depth,
                seed,
            )| {
                let sum = own_rules + delegating + on_personas;
                let scale = if fit && sum > 1.0 { sum } else { 1.0 };
                Shape {
                    members,
                    own_rules: own_rules / scale,
                    delegating: delegating / scale,
                    on_personas: on_personas / scale,
                    hub_delegators,
                    max_depth,
                    seed,
                    data: seed.is_multiple_of(2),
                }
            },
        )
}

proptest! {
    // Each case writes a small co-op to a fresh file: few cases, CI has
    // two cores.
    #![proptest_config(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_flags_write_what_they_report(shape in shape()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(check(shape));
    }
}

#[tokio::test]
async fn the_command_that_panicked_writes_a_co_op() {
    // `datacoop generate --members 100 --own-rules 0.3 --delegating 0.2
    // --on-personas 0.1 --seed 1`, with the defaults of the other flags.
    check(Shape {
        members: 100,
        own_rules: 0.3,
        delegating: 0.2,
        on_personas: 0.1,
        hub_delegators: 100_000,
        max_depth: 16,
        seed: 1,
        data: false,
    })
    .await;
}

#[tokio::test]
async fn extreme_shapes_write_what_they_report() {
    for (members, own_rules, delegating, on_personas) in [
        (0, 0.3, 0.4, 0.2),
        (1, 1.0, 0.0, 0.0),
        (50, 0.0, 1.0, 0.0),
        (50, 0.0, 0.0, 1.0),
        (120, 0.0, 0.0, 0.0),
        (120, 0.5, 0.5, 0.0),
    ] {
        for max_depth in [1, 16, 256] {
            check(Shape {
                members,
                own_rules,
                delegating,
                on_personas,
                hub_delegators: 100_000,
                max_depth,
                seed: 7,
                data: false,
            })
            .await;
        }
    }
}

/// On a fresh PostgreSQL database too: its log is empty, and reading the
/// peaks of an empty tree once asked PostgreSQL for `IN ()`.
#[tokio::test]
async fn a_co_op_is_generated_into_a_fresh_postgres_database() {
    let Some(database) = Database::postgres().await else {
        return;
    };
    let store: Arc<dyn Store> = store::connect(&database.url()).await.unwrap();
    store.migrate().await.unwrap();
    let policies = Policies::built_in().unwrap();
    let evaluator = Evaluator::new(&policies).unwrap();
    let shape = Shape {
        members: 200,
        own_rules: 0.3,
        delegating: 0.4,
        on_personas: 0.2,
        hub_delegators: 50,
        max_depth: 16,
        seed: 7,
        data: false,
    };
    let report = generate(&store, &evaluator, &policies.vocabulary, &shape)
        .await
        .unwrap();
    assert_eq!(report.members, 200);
    assert!(store.log_size().await.unwrap() >= 200, "each member logged");
    store.close().await;
}
