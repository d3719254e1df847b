//! Withdrawal benchmark (issue 10): a hub proxy whom `N` members delegate
//! to allows academics their health data for research; a third party has
//! read every delegator's data; then the hub deletes that rule through
//! `DELETE /v1/me/rules/{id}` and every delegator's withdrawal must reach
//! the third party's webhook receiver (a local axum server).
//!
//! Measured: the revoking request's own latency, and the time from its
//! response to each event's arrival (p50, p99, last). Runs with the
//! workers of `datacoop serve` (`webhook::Workers`) over the real router,
//! on a fresh SQLite file.
//!
//! `cargo bench -p datacoop-broker --bench withdrawal` runs 1,000 and
//! 100,000 affected subjects; `BENCH_WITHDRAWAL_SIZES=1000,5000` picks
//! others. With `BENCH_POSTGRES_URL` (a server URL, such as
//! `postgres://postgres@127.0.0.1:5432/postgres`) each size runs on a
//! fresh PostgreSQL database too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    reason = "benchmark harness"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use datacoop_broker::clock::{Clock as _, SystemClock};
use datacoop_broker::consent::Evaluator;
use datacoop_broker::consent::cedar::delegation_text;
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::domain::delegation::Scope;
use datacoop_broker::domain::rule::{Effect, Owner, Requester, Rule, RuleAction, RuleSpec};
use datacoop_broker::domain::vocabulary::TermId;
use datacoop_broker::domain::{
    Delegation, DelegationId, Member, MemberId, Registry, RequesterClass, RuleId, ThirdParty,
    ThirdPartyId, ThirdPartyName, ThirdPartyStatus,
};
use datacoop_broker::http::{AppState, HttpLimits, router};
use datacoop_broker::policy::Policies;
use datacoop_broker::store::{self, Bulk};
use datacoop_broker::webhook::{DeliverySettings, Workers};

const ADMIN: &str = "bench-admin-token-0123456789-abcdefghijklmnop";
const HUB_TOKEN: &str = "dcm_bench-hub-token-0123456789-abcdefghijklmnop";

/// Runs `$body` with `$db` connected to `$url`, on either database.
macro_rules! on_database {
    ($url:expr, $db:ident => $body:block) => {{
        use sqlx::Connection as _;
        if $url.starts_with("postgres") {
            let mut $db = sqlx::PgConnection::connect(&$url).await.unwrap();
            $body
        } else {
            let mut $db = sqlx::SqliteConnection::connect(&$url).await.unwrap();
            $body
        }
    }};
}

/// A fresh database on the server `server` names (dropped first if a
/// previous run left it).
async fn fresh_postgres(server: &str, size: usize) -> String {
    use sqlx::Connection as _;
    let name = format!("datacoop_bench_withdrawal_{size}");
    let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let mut url = url::Url::parse(server).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn term(id: &str) -> TermId {
    TermId::parse(id).unwrap()
}

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * share).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_WITHDRAWAL_SIZES")
        .unwrap_or_else(|_| "1000,100000".into())
        .split(',')
        .filter_map(|size| size.trim().parse().ok())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let postgres = std::env::var("BENCH_POSTGRES_URL").ok();
    for size in sizes {
        runtime.block_on(run(size, None));
        if let Some(server) = &postgres {
            runtime.block_on(run(size, Some(server)));
        }
    }
}

async fn run(delegators: usize, postgres: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let url = match postgres {
        Some(server) => fresh_postgres(server, delegators).await,
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    println!(
        "{}:",
        if postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let policies = Policies::built_in().unwrap();
    let evaluator = Evaluator::new(&policies).unwrap();
    let now = SystemClock.now();
    let started = Instant::now();

    // The co-op: a third party, the hub with its rule, its delegators.
    let third_party = ThirdParty {
        id: ThirdPartyId::generate(),
        name: ThirdPartyName::parse("Bench Lab").unwrap(),
        class: RequesterClass::Academic,
        status: ThirdPartyStatus::Active,
        webhook_url: None,
        client_id: format!("dcc_{}", uuid::Uuid::new_v4().simple()),
        created_at: now,
        updated_at: now,
    };
    let member = |accepts_delegations| Member {
        id: MemberId::generate(),
        display_name: None,
        registry: Registry::Anonymous,
        accepts_delegations,
        created_at: now,
    };
    let hub = member(true);
    let hub_owner = Owner::Member(hub.id.clone());
    let spec = RuleSpec {
        effect: Effect::Allow,
        action: RuleAction::Access,
        requester: Requester::Class(RequesterClass::Academic),
        data_categories: vec![term("health")],
        purposes: vec![term("research")],
        not_before: None,
        expires_at: None,
    };
    let rule_id = RuleId::generate();
    let rule = Rule {
        cedar: evaluator.compile(&rule_id, &spec).unwrap(),
        id: rule_id.clone(),
        owner: hub_owner.clone(),
        spec,
        created_at: now,
    };
    let mut bulk = Bulk {
        third_parties: vec![(third_party.clone(), "unused".into())],
        rules: vec![rule],
        versions: vec![(hub_owner.clone(), 1)],
        ..Bulk::default()
    };
    bulk.members.push(hub.clone());
    for _ in 0..delegators {
        let delegator = member(false);
        let mut delegation = Delegation {
            id: DelegationId::generate(),
            member: delegator.id.clone(),
            proxy: hub_owner.clone(),
            scope: Scope {
                data_categories: vec![TermId::wildcard()],
                purposes: vec![TermId::wildcard()],
            },
            seq: 0,
            created_at: now,
            cedar: String::new(),
        };
        delegation.cedar = delegation_text(&delegation);
        bulk.delegations.push(delegation);
        bulk.versions.push((Owner::Member(delegator.id.clone()), 1));
        bulk.members.push(delegator);
    }
    let delegator_ids: Vec<MemberId> = bulk.members[1..].iter().map(|m| m.id.clone()).collect();
    {
        let store = store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store.bulk_load(bulk).await.unwrap();
        store.close().await;
    }
    // What the third party received: one allowed read per delegator, its
    // subject, and the hub's token (rows written as the broker writes them).
    on_database!(url, db => {
        let mut tx = db.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO member_tokens (token_hash, member_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(TokenHash::of(HUB_TOKEN).as_bytes().to_vec())
        .bind(hub.id.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
        let categories = r#"[{"category":"health","decision":"allow","reason":"allowed"}]"#;
        for (index, delegator) in delegator_ids.iter().enumerate() {
            sqlx::query("INSERT INTO connections (member_id, third_party_id, subject, created_at) VALUES ($1, $2, $3, $4)")
                .bind(delegator.as_str())
                .bind(third_party.id.as_str())
                .bind(format!("sub_bench_{index}"))
                .bind(now)
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query("INSERT INTO access_log (member_id, third_party_id, purpose, action, decision, categories, at) VALUES ($1, $2, 'research.academic', 'access', 'allow', $3, $4)")
                .bind(delegator.as_str())
                .bind(third_party.id.as_str())
                .bind(categories)
                .bind(now)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        db.close().await.unwrap();
    });

    // The receiver: each arrival's instant.
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::with_capacity(delegators)));
    let recorded = Arc::clone(&arrivals);
    let receiver = axum::Router::new().route(
        "/hook",
        post(move || {
            let recorded = Arc::clone(&recorded);
            async move {
                recorded.lock().unwrap().push(Instant::now());
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    // The broker: the router and the workers of `datacoop serve`.
    let store = store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
        .set_webhook(
            &third_party.id,
            Some(&hook),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            true,
            now,
        )
        .await
        .unwrap();
    let state = AppState::new(
        Arc::clone(&store),
        Arc::new(SystemClock),
        policies,
        TokenHash::of(ADMIN),
        datacoop_broker::consent::DEFAULT_MAX_DELEGATION_DEPTH,
    )
    .await
    .unwrap();
    let workers = Workers::spawn(
        Arc::clone(&store),
        Arc::clone(&state.engine),
        Arc::new(SystemClock),
        DeliverySettings {
            allow_loopback: true,
            ..DeliverySettings::default()
        },
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(state, HttpLimits::default());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    println!(
        "{delegators} delegators: co-op written in {:.1?}",
        started.elapsed()
    );

    // The workers first fold the reads and decide each new recipient once.
    let folded = Instant::now();
    on_database!(url, db => {
    loop {
        let (total, unchecked): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN unchecked THEN 1 ELSE 0 END), 0) FROM recipients",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        if total == i64::try_from(delegators).unwrap() && unchecked == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.close().await.unwrap();
    });
    println!(
        "  recipients folded and decided in {:.1?}",
        folded.elapsed()
    );
    assert!(arrivals.lock().unwrap().is_empty(), "nothing withdrawn yet");

    // The hub changes its mind.
    let client = reqwest::Client::new();
    let sent = Instant::now();
    let answer = client
        .delete(format!("{base}/v1/me/rules/{rule_id}"))
        .bearer_auth(HUB_TOKEN)
        .send()
        .await
        .unwrap();
    let answered = Instant::now();
    assert_eq!(answer.status(), 204);
    let deadline = answered + Duration::from_secs(600);
    loop {
        if arrivals.lock().unwrap().len() >= delegators {
            break;
        }
        assert!(Instant::now() < deadline, "not every event arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies: Vec<Duration> = arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|arrival| arrival.saturating_duration_since(answered))
        .collect();
    latencies.sort_unstable();
    println!(
        "  revoking request {:.2?}; response to arrival: p50 {:.0?}, p99 {:.0?}, last {:.0?} ({} events)",
        answered - sent,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
        latencies.len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        arrivals.lock().unwrap().len(),
        delegators,
        "each event once"
    );
    workers.stop().await;
    store.close().await;
}
