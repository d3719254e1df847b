//! The cohort engine (issue 11, item 6) against the single-decision path:
//! on randomized co-ops (rules of every action, requester and window,
//! shared and one-off; delegation chains, rings and fans to members and
//! personas; opt-outs, departures; co-op rules), the members
//! `Engine::cohort` counts are exactly those for whom `Engine::decide`
//! allows every category (consent-semantics §4: "an `aggregate` request
//! for a dataset includes a member only when every category the dataset
//! reads is allowed"), member by member. Runs on SQLite and PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::TimeDelta;
use datacoop_broker::consent::cohort::CohortRequest;
use datacoop_broker::consent::{DecisionInput, Engine};
use datacoop_broker::domain::rule::{Effect, Owner, Requester, RuleAction, RuleSpec};
use datacoop_broker::domain::{MemberId, Registry, RequesterClass, ThirdPartyStatus};
use datacoop_broker::policy::Policies;
use datacoop_broker::store::Store;
use datacoop_wire::{Action, Verdict};

use crate::storage_support::{Db, approve, delegation, enrol, instant, persona, rule_with, terms};

const CATEGORIES: &[&str] = &[
    "*",
    "health",
    "health.heart",
    "health.sleep",
    "location",
    "location.coarse",
];
const PURPOSES: &[&str] = &["*", "research", "research.academic", "marketing"];
const MEMBERS: usize = 90;

/// xorshift64, so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A random rule body for `owner`; `requesters` are the third parties a
/// rule may name.
fn random_spec(
    rng: &mut Rng,
    owner: &Owner,
    requesters: &[datacoop_broker::domain::ThirdPartyId],
) -> RuleSpec {
    let coop = matches!(owner, Owner::Coop);
    RuleSpec {
        effect: if !coop && rng.chance(65) {
            Effect::Allow
        } else {
            Effect::Deny
        },
        action: match rng.below(3) {
            0 => RuleAction::Any,
            1 => RuleAction::Aggregate,
            _ => RuleAction::Access,
        },
        requester: match rng.below(4) {
            0 | 1 => Requester::Any,
            2 => Requester::Class(RequesterClass::ALL[rng.below(4)]),
            _ => Requester::ThirdParty(requesters[rng.below(requesters.len())].clone()),
        },
        data_categories: terms(&[rng.pick(if coop { &CATEGORIES[2..] } else { CATEGORIES })]),
        purposes: terms(&[rng.pick(if coop { &PURPOSES[2..] } else { PURPOSES })]),
        // Windows around the instants asked about (0..200 s).
        not_before: rng
            .chance(15)
            .then(|| instant(i64::try_from(rng.below(200)).unwrap())),
        expires_at: rng
            .chance(15)
            .then(|| instant(100 + i64::try_from(rng.below(200)).unwrap())),
    }
}

/// Builds a randomized co-op in `store`; answers its members (some left)
/// and its third parties (the last suspended).
async fn build(
    store: &Arc<dyn Store>,
    rng: &mut Rng,
) -> (Vec<MemberId>, Vec<datacoop_broker::domain::ThirdPartyId>) {
    let mut requesters = Vec::new();
    for class in [
        RequesterClass::Academic,
        RequesterClass::Commercial,
        RequesterClass::PublicBody,
    ] {
        requesters.push(approve(store, class).await.id);
    }
    store
        .set_third_party_status(&requesters[2], ThirdPartyStatus::Suspended, instant(0))
        .await
        .unwrap();
    // A pool of shared rule bodies: most members pick from it, as from an
    // app's presets, so shapes are shared; some write their own.
    let mut pool: Vec<RuleSpec> = (0..8)
        .map(|_| random_spec(rng, &Owner::Member(MemberId::generate()), &requesters))
        .collect();
    // Broad allows too, so that long chains often end in an allow.
    for action in [RuleAction::Aggregate, RuleAction::Any] {
        pool.push(RuleSpec {
            effect: Effect::Allow,
            action,
            requester: Requester::Any,
            data_categories: terms(&["*"]),
            purposes: terms(&["*"]),
            not_before: None,
            expires_at: None,
        });
    }
    let mut personas = Vec::new();
    for index in 0..2 {
        let created = persona(&format!("Persona {index}"), 0);
        let owner = Owner::Persona(created.id.clone());
        let rules: Vec<_> = (0..1 + rng.below(2))
            .map(|_| rule_with(&owner, pool[rng.below(pool.len())].clone(), 0))
            .collect();
        store.create_persona(&created, &rules).await.unwrap();
        personas.push(owner);
    }
    if rng.chance(60) {
        let coop = rule_with(&Owner::Coop, random_spec(rng, &Owner::Coop, &requesters), 0);
        store.create_rules(&Owner::Coop, &[coop]).await.unwrap();
    }
    let mut members = Vec::new();
    for _ in 0..MEMBERS {
        let member = enrol(store, None, Registry::Anonymous, 0).await;
        if rng.chance(85) {
            store
                .update_member(
                    &member.id,
                    &datacoop_broker::domain::MemberPatch {
                        display_name: None,
                        registry: None,
                        accepts_delegations: Some(true),
                    },
                )
                .await
                .unwrap();
        }
        members.push(member.id);
    }
    for index in 0..MEMBERS {
        let owner = Owner::Member(members[index].clone());
        if rng.chance(25) {
            let rules: Vec<_> = (0..1 + rng.below(2))
                .map(|_| {
                    let spec = if rng.chance(75) {
                        pool[rng.below(pool.len())].clone()
                    } else {
                        random_spec(rng, &owner, &requesters)
                    };
                    rule_with(&owner, spec, 0)
                })
                .collect();
            store.create_rules(&owner, &rules).await.unwrap();
        }
        let count = if rng.chance(70) { 1 + rng.below(2) } else { 0 };
        for _ in 0..count {
            let proxy = if rng.chance(15) {
                personas[rng.below(personas.len())].clone()
            } else if rng.chance(50) && index > 0 {
                // Chains: often to the member before, who then delegates
                // to the one before them...
                Owner::Member(members[index - 1].clone())
            } else if rng.chance(20) && index + 1 < MEMBERS {
                // Rings: the member after may delegate back.
                Owner::Member(members[index + 1].clone())
            } else if rng.chance(50) && index > 0 {
                Owner::Member(members[rng.below(index)].clone())
            } else {
                Owner::Member(members[rng.below(MEMBERS)].clone())
            };
            if proxy == owner {
                continue;
            }
            let categories = [if rng.chance(50) {
                "*"
            } else {
                rng.pick(CATEGORIES)
            }];
            let purposes = [if rng.chance(60) {
                "*"
            } else {
                rng.pick(PURPOSES)
            }];
            // Refusals (a proxy who does not accept, a repeated scope) are
            // fine: the co-op is whatever the store accepted.
            let _ = store
                .create_delegation(&delegation(
                    &members[index],
                    &proxy,
                    &categories,
                    &purposes,
                    0,
                ))
                .await;
        }
    }
    // Some leave (their delegations to them go inactive), some stop
    // accepting delegations.
    for _ in 0..4 {
        let gone = &members[rng.below(MEMBERS)];
        store.leave(gone, instant(1)).await.unwrap();
    }
    for _ in 0..4 {
        let member = &members[rng.below(MEMBERS)];
        let _ = store
            .update_member(
                member,
                &datacoop_broker::domain::MemberPatch {
                    display_name: None,
                    registry: None,
                    accepts_delegations: Some(false),
                },
            )
            .await;
    }
    (members, requesters)
}

/// Compares the cohort with one decision per member for random requests.
async fn compare(
    engine: &Engine,
    members: &[MemberId],
    requesters: &[datacoop_broker::domain::ThirdPartyId],
    rng: &mut Rng,
    seed: u64,
    reasons: &mut BTreeMap<String, usize>,
    journaled: bool,
) -> usize {
    let mut counted = 0;
    for _ in 0..8 {
        // The suspended third party one time in six.
        let requester = requesters[if rng.chance(17) { 2 } else { rng.below(2) }].clone();
        let mut categories: Vec<&str> = (0..1 + rng.below(3))
            .map(|_| rng.pick(&CATEGORIES[1..]))
            .collect();
        categories.sort_unstable();
        categories.dedup();
        let purpose = rng.pick(&PURPOSES[1..]);
        let now = instant(0) + TimeDelta::seconds(i64::try_from(rng.below(300)).unwrap());
        let request = CohortRequest {
            requester: requester.clone(),
            categories: terms(&categories),
            purpose: terms(&[purpose]).remove(0),
        };
        let cohort = engine.cohort(&request, now, &|_| {}).await.unwrap();
        // Nothing changed since: the same cohort, and (where the store
        // keeps a journal) from the graph as it was.
        let again = engine.cohort(&request, now, &|_| {}).await.unwrap();
        assert_eq!(again.members.len(), cohort.members.len());
        if journaled {
            assert_eq!(
                again.refreshed, 0,
                "seed {seed}: nothing changed, nothing refreshed"
            );
        }
        let got: BTreeSet<String> = cohort.members.iter().map(ToString::to_string).collect();
        let mut expected = BTreeSet::new();
        for member in members {
            let input = DecisionInput {
                member: member.to_string(),
                requester: requester.to_string(),
                action: Action::Aggregate,
                categories: request.categories.clone(),
                purpose: request.purpose.clone(),
            };
            let decision = engine.decide(&input, now).await.unwrap();
            for category in &decision.categories {
                *reasons.entry(format!("{:?}", category.reason)).or_insert(0) += 1;
            }
            if decision.verdict == Verdict::Allow {
                expected.insert(member.to_string());
            }
        }
        assert_eq!(
            got, expected,
            "seed {seed}: {categories:?} for {purpose} at {now}"
        );
        counted += expected.len();
    }
    counted
}

/// One randomized co-op on a fresh database; answers how many members
/// the cohorts counted.
async fn case(db: Db, seed: u64, reasons: &mut BTreeMap<String, usize>) -> usize {
    let journaled = db.is_sqlite();
    let store = db.open(Default::default()).await;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // Loaded before the co-op is written, so every slice the cohort reads
    // is stale and must be compiled again (read-your-writes); a short
    // depth limit on even seeds, so over-deep chains are denied.
    let depth = if seed.is_multiple_of(2) { 3 } else { 16 };
    let engine = Engine::load(Arc::clone(&store), &Policies::built_in().unwrap(), depth)
        .await
        .unwrap();
    let (members, requesters) = build(&store, &mut rng).await;
    let mut counted = compare(
        &engine,
        &members,
        &requesters,
        &mut rng,
        seed,
        reasons,
        journaled,
    )
    .await;
    // Revocations, deletions, first rules, new delegations, opt-outs
    // and departures change the very next cohort (the graph is patched
    // where the store keeps a journal).
    for member in members.iter().take(40) {
        for revoked in store
            .delegations_of(member)
            .await
            .unwrap()
            .into_iter()
            .take(1)
        {
            store.delete_delegation(member, &revoked.id).await.unwrap();
        }
        let owner = Owner::Member(member.clone());
        for deleted in store.rules_of(&owner).await.unwrap().into_iter().take(1) {
            store.delete_rule(&owner, &deleted.id).await.unwrap();
        }
    }
    for index in 40..MEMBERS {
        let owner = Owner::Member(members[index].clone());
        match rng.below(6) {
            0 => {
                let spec = random_spec(&mut rng, &owner, &requesters);
                let _ = store
                    .create_rules(&owner, &[rule_with(&owner, spec, 0)])
                    .await;
            }
            1 => {
                let proxy = Owner::Member(members[rng.below(MEMBERS)].clone());
                if proxy != owner {
                    let _ = store
                        .create_delegation(&delegation(&members[index], &proxy, &["*"], &["*"], 0))
                        .await;
                }
            }
            2 => {
                let _ = store
                    .update_member(
                        &members[index],
                        &datacoop_broker::domain::MemberPatch {
                            display_name: None,
                            registry: None,
                            accepts_delegations: Some(rng.chance(50)),
                        },
                    )
                    .await;
            }
            3 if rng.chance(20) => {
                let _ = store.leave(&members[index], instant(2)).await;
            }
            _ => {}
        }
    }
    counted += compare(
        &engine,
        &members,
        &requesters,
        &mut rng,
        seed,
        reasons,
        journaled,
    )
    .await;
    // A fresh engine (every slice compiled in bulk) agrees too.
    let fresh = Engine::load(Arc::clone(&store), &Policies::built_in().unwrap(), depth)
        .await
        .unwrap();
    counted += compare(
        &fresh,
        &members,
        &requesters,
        &mut rng,
        seed,
        reasons,
        journaled,
    )
    .await;
    store.close().await;
    counted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cohorts_are_the_single_decisions_on_sqlite() {
    let mut counted = 0;
    let mut reasons = BTreeMap::new();
    for seed in 1..=8 {
        counted += case(Db::sqlite(), seed, &mut reasons).await;
    }
    not_vacuous(counted, &reasons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cohorts_are_the_single_decisions_on_postgres() {
    let mut counted = 0;
    let mut reasons = BTreeMap::new();
    for seed in 11..=16 {
        let Some(db) = Db::postgres().await else {
            return;
        };
        counted += case(db, seed, &mut reasons).await;
    }
    not_vacuous(counted, &reasons);
}

/// The co-ops exercised every way §4 decides, and the cohorts counted
/// members.
fn not_vacuous(counted: usize, reasons: &BTreeMap<String, usize>) {
    assert!(counted > 50, "the cohorts counted {counted} members");
    for reason in [
        "Allowed",
        "DeniedByRule",
        "NoConsent",
        "CoopPolicy",
        "MemberInactive",
        "RequesterInactive",
        "DelegationCycle",
        "DelegationTooDeep",
    ] {
        assert!(
            reasons.get(reason).copied().unwrap_or(0) > 0,
            "no decision was {reason}: {reasons:?}"
        );
    }
}
