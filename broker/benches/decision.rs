//! One consent decision, in process, at 1,000 and 100,000 members with
//! three rules each, through the engine that serves requests
//! (`consent::Engine::decide` over an SQLite store: the facts, the cached
//! slice, the §4 walk, one Cedar evaluation). The cost must not grow with
//! the co-op.
//!
//! `cargo bench -p datacoop-broker --bench decision`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark set-up"
)]

use std::hint::black_box;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use datacoop_broker::consent::cedar::rule_text;
use datacoop_broker::consent::{DecisionInput, Engine};
use datacoop_broker::domain::rule::{Effect, Owner, Requester, Rule, RuleAction, RuleSpec};
use datacoop_broker::domain::vocabulary::TermId;
use datacoop_broker::domain::{
    Member, MemberId, Registry, RequesterClass, RuleId, ThirdParty, ThirdPartyId, ThirdPartyName,
    ThirdPartyStatus,
};
use datacoop_broker::policy::Policies;
use datacoop_broker::store::{self, Bulk};
use datacoop_wire::Action;

/// How many distinct expiry dates the members' third rules use. With
/// `BENCH_UNIQUE_RULES=1` every member's third rule is their own.
static UNIQUE: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    if std::env::var("BENCH_UNIQUE_RULES").is_ok_and(|v| v == "1") {
        usize::MAX
    } else {
        50
    }
});

fn working_set(len: usize) -> usize {
    std::env::var("BENCH_WORKING_SET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(len)
        .min(len)
}

fn term(id: &str) -> TermId {
    TermId::parse(id).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Three rules like a member's: allow research on health to academics,
/// deny marketing on everything, allow location for public interest until
/// a date of the member's own (so every member has a rule no other member
/// shares, the worst case for sharing compiled conditions).
fn member_rules(member: &MemberId, index: usize) -> Vec<Rule> {
    let categories = ["health", "health.heart", "health.sleep", "health.activity"];
    let specs = [
        RuleSpec {
            effect: Effect::Allow,
            action: RuleAction::Access,
            requester: Requester::Class(RequesterClass::Academic),
            data_categories: vec![term(categories[index % categories.len()])],
            purposes: vec![term("research")],
            not_before: None,
            expires_at: None,
        },
        RuleSpec {
            effect: Effect::Deny,
            action: RuleAction::Any,
            requester: Requester::Any,
            data_categories: vec![term("*")],
            purposes: vec![term("marketing")],
            not_before: None,
            expires_at: None,
        },
        RuleSpec {
            effect: Effect::Allow,
            action: RuleAction::Any,
            requester: Requester::Any,
            data_categories: vec![term("location.coarse")],
            purposes: vec![term("public_interest")],
            not_before: None,
            expires_at: Some(
                now()
                    + TimeDelta::days(365)
                    + TimeDelta::seconds(i64::try_from(index % *UNIQUE).unwrap()),
            ),
        },
    ];
    specs
        .into_iter()
        .map(|spec| {
            let id = RuleId::generate();
            let cedar = rule_text(&id, &spec);
            Rule {
                id,
                owner: Owner::Member(member.clone()),
                spec,
                created_at: now(),
                cedar,
            }
        })
        .collect()
}

struct Coop {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    size: usize,
    _dir: tempfile::TempDir,
}

/// Member ids follow from their index, so a decision request can be made
/// up without touching memory that grows with the co-op.
fn member_id(index: usize) -> MemberId {
    MemberId::parse(&format!("mbr_{index:032x}")).unwrap()
}

const REQUESTER: &str = "tp_00000000000000000000000000000001";

fn coop_of(size: usize) -> Coop {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let engine = runtime.block_on(async {
        let store = store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let mut bulk = Bulk::default();
        bulk.third_parties.push((
            ThirdParty {
                id: ThirdPartyId::parse(REQUESTER).unwrap(),
                name: ThirdPartyName::from_trusted("Heart Study".to_owned()),
                class: RequesterClass::Academic,
                status: ThirdPartyStatus::Active,
                webhook_url: None,
                client_id: "dcc_bench".to_owned(),
                created_at: now(),
                updated_at: now(),
            },
            "unused".to_owned(),
        ));
        for index in 0..size {
            let member = member_id(index);
            bulk.rules.extend(member_rules(&member, index));
            bulk.versions.push((Owner::Member(member.clone()), 1));
            bulk.members.push(Member {
                id: member,
                display_name: None,
                registry: Registry::Anonymous,
                accepts_delegations: false,
                created_at: now(),
            });
        }
        store.bulk_load(bulk).await.unwrap();
        Engine::load(
            Arc::clone(&store),
            &Policies::built_in().unwrap(),
            datacoop_broker::consent::DEFAULT_MAX_DELEGATION_DEPTH,
        )
        .await
        .unwrap()
    });
    Coop {
        runtime,
        engine,
        size,
        _dir: dir,
    }
}

fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    for size in [1_000usize, 100_000] {
        let coop = coop_of(size);
        let mut next = 0usize;
        group.bench_function(BenchmarkId::new("one_category", size), |b| {
            b.iter(|| {
                // A different member each time, striding through the co-op.
                next = (next + 7919) % working_set(coop.size);
                let input = DecisionInput {
                    member: member_id(next).to_string(),
                    requester: REQUESTER.to_owned(),
                    action: Action::Access,
                    categories: vec![term("health.heart")],
                    purpose: term("research.academic"),
                };
                black_box(
                    coop.runtime
                        .block_on(coop.engine.decide(&input, now()))
                        .unwrap(),
                )
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
