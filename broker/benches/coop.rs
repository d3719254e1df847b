//! A co-op of a million members: start-up time, resident memory,
//! in-process decision latency (p50/p99), a chain of the full depth, and
//! the cost of a rule change that a hub proxy's delegators inherit.
//!
//! `cargo bench -p datacoop-broker --bench coop` (BENCH_MEMBERS, default
//! 1,000,000; BENCH_COOP_RULES, default 20 co-op deny rules;
//! BENCH_COOP_RULES_OVERLAP=1 puts them all on the measured cell and
//! requester class, not yet in force, so every decision evaluates them all
//! and none matches; BENCH_DATABASE_URL, default a fresh SQLite file).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    reason = "benchmark harness"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use datacoop_broker::clock::{Clock as _, SystemClock};
use datacoop_broker::consent::{DEFAULT_MAX_DELEGATION_DEPTH, DecisionInput, Evaluator};
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::domain::rule::{Effect, Owner, Requester, Rule, RuleAction, RuleSpec};
use datacoop_broker::domain::vocabulary::TermId;
use datacoop_broker::domain::{MemberId, RuleId};
use datacoop_broker::generate::{Shape, generate};
use datacoop_broker::http::AppState;
use datacoop_broker::policy::Policies;
use datacoop_broker::store;
use datacoop_wire::{Action, Reason};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.50), at(0.99))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

fn coop_rule_count() -> usize {
    std::env::var("BENCH_COOP_RULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// `count` co-op deny rules, each on a category and a purpose of its own
/// that the measured requests (`health.heart` for research) never ask; or,
/// with `BENCH_COOP_RULES_OVERLAP=1`, on that very cell and requester
/// class but in force only from a future date: the worst case for the
/// engine's index of co-op rules (it reads scopes, not dates), which must
/// then have Cedar evaluate them all.
fn coop_rules(evaluator: &Evaluator, count: usize) -> Vec<Rule> {
    let overlap = std::env::var("BENCH_COOP_RULES_OVERLAP").is_ok_and(|v| v == "1");
    let categories = [
        "location.precise",
        "financial",
        "financial.transactions",
        "behaviour",
        "behaviour.browsing",
    ];
    let purposes = [
        "marketing",
        "marketing.advertising",
        "marketing.direct",
        "commercial.sell_data",
    ];
    (0..count)
        .map(|index| {
            let spec = if overlap {
                RuleSpec {
                    effect: Effect::Deny,
                    action: RuleAction::Any,
                    requester: Requester::Class(datacoop_broker::domain::RequesterClass::Academic),
                    data_categories: vec![TermId::parse("health").unwrap()],
                    purposes: vec![TermId::parse("research").unwrap()],
                    // Distinct texts: twenty policies, not one shared.
                    not_before: Some(
                        SystemClock.now() + chrono::TimeDelta::days(3650 + index as i64),
                    ),
                    expires_at: None,
                }
            } else {
                RuleSpec {
                    effect: Effect::Deny,
                    action: RuleAction::Any,
                    requester: Requester::Any,
                    data_categories: vec![
                        TermId::parse(categories[index % categories.len()]).unwrap(),
                    ],
                    purposes: vec![
                        TermId::parse(purposes[index / categories.len() % purposes.len()]).unwrap(),
                    ],
                    not_before: None,
                    expires_at: None,
                }
            };
            let id = RuleId::generate();
            let cedar = evaluator.compile(&id, &spec).unwrap();
            Rule {
                id,
                owner: Owner::Coop,
                spec,
                created_at: SystemClock.now(),
                cedar,
            }
        })
        .collect()
}

async fn run() {
    let members: usize = std::env::var("BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("coop.db").display()));
    let backend = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };

    // Generate.
    let report = {
        let store = store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let policies = Policies::built_in().unwrap();
        let evaluator = Evaluator::new(&policies).unwrap();
        let shape = Shape {
            members,
            own_rules: 0.3,
            delegating: 0.4,
            on_personas: 0.2,
            hub_delegators: 100_000,
            max_depth: DEFAULT_MAX_DELEGATION_DEPTH,
            seed: 7,
            data: false,
        };
        let report = generate(&store, &evaluator, &policies.vocabulary, &shape)
            .await
            .unwrap();
        store
            .create_rules(&Owner::Coop, &coop_rules(&evaluator, coop_rule_count()))
            .await
            .unwrap();
        store.close().await;
        report
    };
    println!(
        "{backend}: generated {} members, {} rules, {} delegations in {:.1} s; {} co-op rules",
        report.members,
        report.rules,
        report.delegations,
        report.seconds,
        coop_rule_count()
    );

    // Start-up: open, migrate, load the mirror, compile every slice.
    let before = rss_mib();
    let started = Instant::now();
    let store = store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    // As `datacoop serve`: what decisions read, loaded into memory while
    // the engine compiles every slice.
    let loading = tokio::spawn({
        let store = Arc::clone(&store);
        async move { store.current().await }
    });
    let state = AppState::new(
        Arc::clone(&store),
        Arc::new(SystemClock),
        Policies::built_in().unwrap(),
        TokenHash::of("bench-admin-token-0123456789-abcdefghijklmnop"),
        DEFAULT_MAX_DELEGATION_DEPTH,
    )
    .await
    .unwrap();
    loading.await.unwrap().unwrap();
    let startup = started.elapsed();
    println!(
        "start-up (connect, migrate, load, compile): {:.2} s; resident memory {:.0} MiB (before {:.0} MiB)",
        startup.as_secs_f64(),
        rss_mib(),
        before
    );

    let requester = report
        .third_parties
        .iter()
        .find(|(_, status)| *status == "active")
        .map(|(id, _)| id.clone())
        .unwrap();
    // The second active third party is academic (the generator's order).
    let academic = report.third_parties[1].0.clone();
    let input = |member: &str| DecisionInput {
        member: member.to_owned(),
        requester: academic.clone(),
        action: Action::Access,
        categories: vec![TermId::parse("health.heart").unwrap()],
        purpose: TermId::parse("research.academic").unwrap(),
    };
    let _ = requester;

    // Random members.
    let mut samples = Vec::with_capacity(100_000);
    for round in 0..100_000 {
        let member = &report.sample[(round * 7919) % report.sample.len()];
        let started = Instant::now();
        let outcome = state
            .engine
            .decide(&input(member), SystemClock.now())
            .await
            .unwrap();
        samples.push(started.elapsed());
        std::hint::black_box(outcome);
    }
    let (p50, p99) = percentiles(samples);
    println!("decision, random member: p50 {p50:?}, p99 {p99:?}");

    // The chain of the full depth.
    let head = input(report.longest_chain_head.as_deref().unwrap());
    let first = state.engine.decide(&head, SystemClock.now()).await.unwrap();
    let hops = first.categories[0].chain.len() - 1;
    let mut samples = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let started = Instant::now();
        std::hint::black_box(state.engine.decide(&head, SystemClock.now()).await.unwrap());
        samples.push(started.elapsed());
    }
    let (p50, p99) = percentiles(samples);
    println!(
        "decision through a {hops}-hop chain ({:?}): p50 {p50:?}, p99 {p99:?}",
        first.categories[0].reason
    );
    println!("resident memory after deciding: {:.0} MiB", rss_mib());

    // A rule change of the hub, inherited by its delegators.
    let hub = MemberId::parse(report.hub.as_deref().unwrap()).unwrap();
    let delegator = input(report.hub_delegator.as_deref().unwrap());
    let before_change = state
        .engine
        .decide(&delegator, SystemClock.now())
        .await
        .unwrap();
    let owner = Owner::Member(hub.clone());
    let rules_before = store.rules_of(&owner).await.unwrap().len();
    let spec = RuleSpec {
        effect: Effect::Deny,
        action: RuleAction::Any,
        requester: Requester::Any,
        data_categories: vec![TermId::parse("health").unwrap()],
        purposes: vec![TermId::wildcard()],
        not_before: None,
        expires_at: None,
    };
    let started = Instant::now();
    let id = RuleId::generate();
    let cedar = state.engine.compile(&id, &spec).unwrap();
    let rule = Rule {
        id,
        owner: owner.clone(),
        spec,
        created_at: SystemClock.now(),
        cedar,
    };
    store
        .create_rules(&owner, std::slice::from_ref(&rule))
        .await
        .unwrap();
    let write = started.elapsed();
    let started = Instant::now();
    let after_change = state
        .engine
        .decide(&delegator, SystemClock.now())
        .await
        .unwrap();
    let first_after = started.elapsed();
    let started = Instant::now();
    let again = state
        .engine
        .decide(&delegator, SystemClock.now())
        .await
        .unwrap();
    let second_after = started.elapsed();
    assert_eq!(
        store.rules_of(&owner).await.unwrap().len(),
        rules_before + 1
    );
    assert_eq!(
        after_change.categories[0].reason,
        Reason::DeniedByRule,
        "{after_change:?}"
    );
    assert_eq!(again.categories, after_change.categories);
    println!(
        "hub rule change ({} delegators): write {write:?} (one rule row, one version row); next delegator decision {first_after:?} \
         (recompiles the hub's slice once), the one after {second_after:?}; before: {:?}, after: {:?}",
        report.hub_delegators,
        before_change.categories[0].reason,
        after_change.categories[0].reason
    );
    store.close().await;
}
