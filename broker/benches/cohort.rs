//! Aggregate datasets at a million members (issue 11): the cohort engine
//! against deciding member by member through the single-decision path,
//! side by side in one run, on the generator's co-op (delegation chains,
//! rings, a hub proxy, personas).
//!
//! `cargo bench -p datacoop-broker --bench cohort` (BENCH_MEMBERS, default
//! 1,000,000; BENCH_DATABASE_URL, default a fresh SQLite file).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    reason = "benchmark harness"
)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use datacoop_broker::clock::{Clock as _, SystemClock};
use datacoop_broker::consent::cohort::CohortRequest;
use datacoop_broker::consent::{DEFAULT_MAX_DELEGATION_DEPTH, DecisionInput, Evaluator};
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::domain::ThirdPartyId;
use datacoop_broker::domain::vocabulary::TermId;
use datacoop_broker::generate::{Shape, generate};
use datacoop_broker::http::AppState;
use datacoop_broker::policy::Policies;
use datacoop_broker::store;
use datacoop_wire::{Action, Verdict};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let members: usize = std::env::var("BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("cohort.db").display()));
    let backend = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };

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
            data: true,
        };
        let report = generate(&store, &evaluator, &policies.vocabulary, &shape)
            .await
            .unwrap();
        store.close().await;
        report
    };
    println!(
        "{backend}: generated {} members, {} rules, {} delegations in {:.1} s",
        report.members, report.rules, report.delegations, report.seconds
    );

    let store = store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let started = Instant::now();
    let state = AppState::new(
        Arc::clone(&store),
        Arc::new(SystemClock),
        Policies::built_in().unwrap(),
        TokenHash::of("bench-admin-token-0123456789-abcdefghijklmnop"),
        DEFAULT_MAX_DELEGATION_DEPTH,
    )
    .await
    .unwrap();
    println!("start-up: {:.1} s", started.elapsed().as_secs_f64());

    // The academic third party (the generator's second), a dataset that
    // reads heart data for research (what the generator's "Research
    // friendly" persona and one of its presets allow academics).
    let licensee = report.third_parties[1].0.clone();
    let categories = vec![TermId::parse("health.heart").unwrap()];
    let purpose = TermId::parse("research").unwrap();
    let request = CohortRequest {
        requester: ThirdPartyId::parse(&licensee).unwrap(),
        categories: categories.clone(),
        purpose: purpose.clone(),
    };
    let now = SystemClock.now();

    // Cold: the first cohort builds the engine's graph.
    let started = Instant::now();
    let cold = state.engine.cohort(&request, now, &|_| {}).await.unwrap();
    let cold_time = started.elapsed();
    println!(
        "cohort engine, cold (graph built: {} owners): {:.3} s; {} of {} members counted ({} candidates)",
        cold.refreshed,
        cold_time.as_secs_f64(),
        cold.members.len(),
        report.members,
        cold.candidates
    );
    // Warm, nothing changed.
    let mut timings = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let warm = state.engine.cohort(&request, now, &|_| {}).await.unwrap();
        timings.push(started.elapsed());
        assert_eq!(warm.members.len(), cold.members.len());
    }
    let best = timings.iter().min().unwrap();
    let worst = timings.iter().max().unwrap();
    println!(
        "cohort engine, warm (no change since): best {:.3} s, worst {:.3} s of {} runs",
        best.as_secs_f64(),
        worst.as_secs_f64(),
        timings.len()
    );
    // 1,000 consent changes since (members of the sample add a rule: half
    // allow the dataset, half deny it), then the next cohort.
    let evaluator = state.engine.evaluator();
    let mut changes = Vec::new();
    for (index, member) in report.sample.iter().take(1000).enumerate() {
        let owner = datacoop_broker::domain::rule::Owner::Member(
            datacoop_broker::domain::MemberId::parse(member).unwrap(),
        );
        let spec = datacoop_broker::domain::rule::RuleSpec {
            effect: if index % 2 == 0 {
                datacoop_broker::domain::rule::Effect::Allow
            } else {
                datacoop_broker::domain::rule::Effect::Deny
            },
            action: datacoop_broker::domain::rule::RuleAction::Aggregate,
            requester: datacoop_broker::domain::rule::Requester::Any,
            data_categories: categories.clone(),
            purposes: vec![purpose.clone()],
            not_before: None,
            expires_at: None,
        };
        let id = datacoop_broker::domain::RuleId::generate();
        let cedar = evaluator.compile(&id, &spec).unwrap();
        let rule = datacoop_broker::domain::rule::Rule {
            id,
            owner: owner.clone(),
            spec,
            created_at: now,
            cedar,
        };
        changes.push((owner, rule));
    }
    // Written 100 at a time (group commit), as members would.
    for batch in changes.chunks(100) {
        futures_util::future::join_all(
            batch
                .iter()
                .map(|(owner, rule)| store.create_rules(owner, std::slice::from_ref(rule))),
        )
        .await;
    }
    let started = Instant::now();
    let cohort = state.engine.cohort(&request, now, &|_| {}).await.unwrap();
    let changed = started.elapsed();
    println!(
        "cohort engine after 1,000 consent changes: {:.3} s ({} owners refreshed); {} counted ({} Cedar evaluations)",
        changed.as_secs_f64(),
        cohort.refreshed,
        cohort.members.len(),
        cohort.evaluations
    );

    // Every member, one decision each, through `Engine::decide`.
    let mut ids = Vec::with_capacity(members);
    let mut after = None;
    loop {
        let page = store.list_members(after, 10_000).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|(seq, _)| *seq);
        ids.extend(page.into_iter().map(|(_, member)| member.id.to_string()));
    }
    let started = Instant::now();
    let mut counted = HashSet::new();
    for member in &ids {
        let input = DecisionInput {
            member: member.clone(),
            requester: licensee.clone(),
            action: Action::Aggregate,
            categories: categories.clone(),
            purpose: purpose.clone(),
        };
        if state.engine.decide(&input, now).await.unwrap().verdict == Verdict::Allow {
            counted.insert(member.clone());
        }
    }
    let single = started.elapsed();
    let engine: HashSet<String> = cohort.members.iter().map(ToString::to_string).collect();
    assert_eq!(
        engine, counted,
        "the cohort differs from the single decisions"
    );
    println!(
        "single-decision path: {} members decided, {} counted, in {:.2} s ({:.1} µs each)",
        ids.len(),
        counted.len(),
        single.as_secs_f64(),
        single.as_secs_f64() * 1e6 / ids.len().max(1) as f64
    );
    println!(
        "speed-up: {:.0}x after 1,000 changes, {:.0}x warm, {:.0}x cold (single path / cohort); the same members",
        single.as_secs_f64() / changed.as_secs_f64(),
        single.as_secs_f64() / best.as_secs_f64(),
        single.as_secs_f64() / cold_time.as_secs_f64()
    );

    // A full build of a dataset over the same cohort: data read and
    // grouped by age band, suppression, noise, the cohort's commitment,
    // the build and its members recorded with its log entry.
    for epsilon in [None, Some(1.0)] {
        let dataset = datacoop_broker::domain::dataset::Dataset {
            id: format!("dst_bench_{}", epsilon.is_some()),
            spec: datacoop_broker::domain::dataset::DatasetSpec::parse(
                serde_json::from_value(serde_json::json!({
                    "name": "Resting heart rate by age band",
                    "purpose": "research",
                    "data_categories": ["health.heart"],
                    "dimensions": [{"category": "health.heart", "pointer": "/age_band"}],
                    "measures": [
                        {"op": "count"},
                        {"op": "mean", "category": "health.heart", "pointer": "/resting_bpm", "bounds": [30, 220]}
                    ],
                    "k_min": 11,
                    "epsilon": epsilon,
                }))
                .unwrap(),
                &state.policies.vocabulary,
            )
            .unwrap(),
            spent_micros: 0,
            created_at: now,
        };
        store
            .apply(store::Change::CreateDataset {
                dataset: dataset.clone(),
            })
            .await
            .unwrap();
        let license = datacoop_broker::domain::dataset::License {
            id: format!("lic_bench_{}", epsilon.is_some()),
            spec: datacoop_broker::domain::dataset::LicenseSpec {
                dataset: dataset.id.clone(),
                licensee: request.requester.clone(),
                valid_from: now - chrono::TimeDelta::days(1),
                valid_until: now + chrono::TimeDelta::days(30),
                data_life_days: 30,
            },
            status: datacoop_wire::LicenseStatus::Active,
            created_at: now,
            revoked_at: None,
        };
        store
            .apply(store::Change::CreateLicense {
                license: license.clone(),
            })
            .await
            .unwrap();
        let builder = datacoop_broker::dataset::Builder::new(
            Arc::clone(&store),
            Arc::clone(&state.engine),
            10.0,
        );
        let started = Instant::now();
        let release = builder
            .build(&license.id, SystemClock.now(), &|_| {})
            .await
            .unwrap();
        println!(
            "full build (epsilon {:?}): {:.2} s; cohort_size {}, {} rows published, {} suppressed",
            epsilon,
            started.elapsed().as_secs_f64(),
            release.manifest.cohort_size,
            release.rows.len(),
            release.manifest.suppressed_cells
        );
    }
    store.close().await;
}
