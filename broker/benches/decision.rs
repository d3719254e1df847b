//! One consent decision, in process, at 1,000 and 100,000 members with
//! three rules each: the member's slice is looked up among all members'
//! compiled slices and evaluated with the co-op's (consent-semantics §4).
//! The cost must not grow with the co-op.
//!
//! `cargo bench -p datacoop-broker --bench decision`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark set-up"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use datacoop_broker::consent::cedar::rule_text;
use datacoop_broker::consent::{Cell, Evaluator, Slice};
use datacoop_broker::domain::rule::{Effect, Owner, Requester, Rule, RuleAction, RuleSpec};
use datacoop_broker::domain::vocabulary::TermId;
use datacoop_broker::domain::{MemberId, RequesterClass, RuleId};
use datacoop_broker::policy::Policies;
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
    evaluator: Evaluator,
    _coop: Slice,
    size: usize,
    /// As the engine keeps them: by owner key.
    slices: HashMap<String, Arc<Slice>>,
}

/// Member ids follow from their index, so a decision request can be made
/// up without touching memory that grows with the co-op.
fn member_id(index: usize) -> MemberId {
    MemberId::parse(&format!("mbr_{index:032x}")).unwrap()
}

fn coop_of(size: usize) -> Coop {
    let evaluator = Evaluator::new(&Policies::built_in().unwrap()).unwrap();
    let coop = evaluator.coop_slice(1, &[]).unwrap();
    let mut slices = HashMap::with_capacity(size);
    for index in 0..size {
        let member = member_id(index);
        let rules = member_rules(&member, index);
        let owner = Owner::Member(member);
        slices.insert(
            owner.key(),
            Arc::new(evaluator.slice(&coop, 1, &rules).unwrap()),
        );
    }
    Coop {
        evaluator,
        _coop: coop,
        size,
        slices,
    }
}

fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    let requester = "tp_00000000000000000000000000000001".to_owned();
    let category = term("health.heart");
    let purpose = term("research.academic");
    for size in [1_000usize, 100_000] {
        let coop = coop_of(size);
        let mut next = 0usize;
        group.bench_function(BenchmarkId::new("one_category", size), |b| {
            b.iter(|| {
                // A different member each time, striding through the co-op.
                next = (next + 7919) % working_set(coop.size);
                let member = &member_id(next);
                let owner = Owner::Member(member.clone());
                let slice = &coop.slices[&owner.key()];
                let cell = Cell {
                    requester: &requester,
                    class: RequesterClass::Academic,
                    action: Action::Access,
                    category: &category,
                    purpose: &purpose,
                    member,
                    now: now(),
                };
                black_box(coop.evaluator.decide_cell(slice, &owner, &cell).unwrap())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
