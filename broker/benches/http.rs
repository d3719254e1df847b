//! HTTP benchmark harness: `POST /v1/decisions` throughput and latency at
//! 32 connections, next to the ceiling of the same axum stack measured in
//! the same run: `POST /bench/echo`, mounted here only, parses a JSON body
//! of the same shape and answers a JSON document of a decision's size
//! without deciding anything.
//!
//! A third run measures `POST /v1/access` (a third party's read: the
//! decision, the member's data, and the access-log row written).
//!
//! Needs `wrk` (Debian package `wrk`). Database: `BENCH_DATABASE_URL`, or
//! a fresh SQLite file. Members: `BENCH_MEMBERS` (default 1000), three
//! rules each. Duration per endpoint: `BENCH_SECONDS` (default 10).
//!
//! `cargo bench -p datacoop-broker --bench http`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing,
    reason = "benchmark harness"
)]

use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;

use axum::routing::post;
use axum::{Json, Router};
use chrono::{TimeDelta, Utc};
use datacoop_broker::clock::SystemClock;
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::domain::rule::{Effect, Owner, Requester, Rule, RuleAction, RuleSpec};
use datacoop_broker::domain::vocabulary::TermId;
use datacoop_broker::domain::{
    DisplayName, Member, MemberId, Registry, RequesterClass, RuleId, ThirdParty, ThirdPartyId,
    ThirdPartyName, ThirdPartyStatus,
};
use datacoop_broker::http::{AppState, HttpLimits, router_with};
use datacoop_broker::policy::Policies;
use datacoop_broker::store;
use datacoop_wire::{CategoryDecision, DecidedBy, Decision, DecisionRequest, Reason, Verdict};

const ADMIN: &str = "bench-admin-token-0123456789-abcdefghijklmnop";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The ceiling: parse the same body, answer a decision-sized document.
async fn echo(Json(request): Json<DecisionRequest>) -> Json<Decision> {
    Json(Decision {
        decision: Verdict::Allow,
        categories: request
            .data_categories
            .into_iter()
            .map(|category| CategoryDecision {
                category,
                decision: Verdict::Allow,
                reason: Reason::Allowed,
                decided_by: DecidedBy::Member(request.member.clone()),
                chain: vec![request.member.clone()],
                rules: vec!["rul_00000000000000000000000000000000".to_owned()],
            })
            .collect(),
        evaluated_at: Utc::now(),
    })
}

struct Measured {
    requests_per_second: f64,
    p50: String,
    p99: String,
}

fn wrk(url: &str, script: &str, seconds: usize) -> Measured {
    let output = Command::new("wrk")
        .args([
            "-t2",
            "-c32",
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
            script,
            url,
        ])
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed: {text}");
    assert!(!text.contains("Non-2xx"), "errors under load:\n{text}");
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(prefix)
                    .map(|rest| rest.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no `{prefix}` in wrk output:\n{text}"))
    };
    Measured {
        requests_per_second: field("Requests/sec:").parse().unwrap(),
        p50: field("50%"),
        p99: field("99%"),
    }
}

fn lua_script(path: &std::path::Path, url_path: &str, token: &str, bodies: &[String]) {
    let mut lua = String::from("local bodies = {\n");
    for body in bodies {
        let _ = writeln!(lua, "  [==[{body}]==],");
    }
    let _ = write!(
        lua,
        "}}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  local body = bodies[(i % #bodies) + 1]\n  \
         return wrk.format(\"POST\", \"{url_path}\", {{[\"Content-Type\"] = \"application/json\", \
         [\"Authorization\"] = \"Bearer {token}\"}}, body)\nend\n"
    );
    std::fs::write(path, lua).unwrap();
}

fn term(id: &str) -> TermId {
    TermId::parse(id).unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let members = env_number("BENCH_MEMBERS", 1000);
    let seconds = env_number("BENCH_SECONDS", 10);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store = store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let state = AppState::new(
        Arc::clone(&store),
        Arc::new(SystemClock),
        Policies::built_in().unwrap(),
        TokenHash::of(ADMIN),
        datacoop_broker::consent::DEFAULT_MAX_DELEGATION_DEPTH,
    )
    .await
    .unwrap();

    // Seed: one academic third party, `members` members with three rules each.
    let now = Utc::now();
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
    store
        .create_third_party(&third_party, "unused")
        .await
        .unwrap();
    let mut bodies = Vec::with_capacity(members);
    let mut access_bodies = Vec::with_capacity(members);
    let access_token = "dct_bench-access-token-0123456789abcdefghijkl";
    store
        .issue_access_token(
            &TokenHash::of(access_token),
            &third_party.id,
            now,
            now + TimeDelta::days(1),
        )
        .await
        .unwrap();
    print!("seeding {members} members with 3 rules each ... ");
    for index in 0..members {
        let member = Member {
            id: MemberId::generate(),
            display_name: Some(DisplayName::parse("Bench").unwrap()),
            registry: Registry::Public,
            accepts_delegations: false,
            created_at: now,
        };
        store
            .create_member(&member, &TokenHash::of(&format!("bench-{index}")))
            .await
            .unwrap();
        let owner = Owner::Member(member.id.clone());
        let specs = [
            (
                Effect::Allow,
                RuleAction::Access,
                Requester::Class(RequesterClass::Academic),
                "health",
                "research",
                None,
            ),
            (
                Effect::Deny,
                RuleAction::Any,
                Requester::Any,
                "*",
                "marketing",
                None,
            ),
            (
                Effect::Allow,
                RuleAction::Any,
                Requester::Any,
                "location.coarse",
                "public_interest",
                Some(now + TimeDelta::days(365)),
            ),
        ];
        let rules: Vec<Rule> = specs
            .into_iter()
            .map(
                |(effect, action, requester, category, purpose, expires_at)| {
                    let spec = RuleSpec {
                        effect,
                        action,
                        requester,
                        data_categories: vec![term(category)],
                        purposes: vec![term(purpose)],
                        not_before: None,
                        expires_at,
                    };
                    let id = RuleId::generate();
                    let cedar = state.engine.compile(&id, &spec).unwrap();
                    Rule {
                        id,
                        owner: owner.clone(),
                        spec,
                        created_at: now,
                        cedar,
                    }
                },
            )
            .collect();
        store.create_rules(&owner, &rules).await.unwrap();
        store
            .put_data(
                &member.id,
                "health.heart",
                &serde_json::json!({"bpm": 60 + index % 40}).to_string(),
                now,
            )
            .await
            .unwrap();
        let subject = store
            .connect(
                &member.id,
                &third_party.id,
                &format!("sub_bench_{index}"),
                now,
            )
            .await
            .unwrap();
        access_bodies.push(
            serde_json::json!({"subject": subject, "data_categories": ["health.heart"], "purpose": "research.academic"}).to_string(),
        );
        bodies.push(
            serde_json::json!({
                "member": member.id.to_string(),
                "requester": third_party.id.to_string(),
                "action": "access",
                "data_categories": ["health.heart"],
                "purpose": "research.academic",
            })
            .to_string(),
        );
    }
    println!("done");

    let extra = Router::new().route("/bench/echo", post(echo));
    let app = router_with(state, HttpLimits::default(), extra);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // A warm-up decision proves the endpoint answers what we expect.
    let check: serde_json::Value = reqwest_free_post(address, "/v1/decisions", &bodies[0]).await;
    assert_eq!(check["decision"], "allow", "{check}");

    let decisions_script = dir.path().join("decisions.lua");
    let echo_script = dir.path().join("echo.lua");
    let access_script = dir.path().join("access.lua");
    lua_script(&decisions_script, "/v1/decisions", ADMIN, &bodies);
    lua_script(&echo_script, "/bench/echo", ADMIN, &bodies);
    lua_script(&access_script, "/v1/access", access_token, &access_bodies);
    let base = format!("http://{address}");
    let ceiling = tokio::task::spawn_blocking({
        let base = base.clone();
        let script = echo_script.display().to_string();
        move || wrk(&base, &script, seconds)
    })
    .await
    .unwrap();
    let decisions = tokio::task::spawn_blocking({
        let base = base.clone();
        let script = decisions_script.display().to_string();
        move || wrk(&base, &script, seconds)
    })
    .await
    .unwrap();
    let accesses = tokio::task::spawn_blocking({
        let script = access_script.display().to_string();
        move || wrk(&base, &script, seconds)
    })
    .await
    .unwrap();
    let backend = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    println!("\n{backend}, {members} members x 3 rules, wrk -t2 -c32 -d{seconds}s\n");
    println!("| endpoint | requests/s | p50 | p99 |");
    println!("|---|---|---|---|");
    println!(
        "| POST /bench/echo (ceiling) | {:.0} | {} | {} |",
        ceiling.requests_per_second, ceiling.p50, ceiling.p99
    );
    println!(
        "| POST /v1/decisions | {:.0} | {} | {} |",
        decisions.requests_per_second, decisions.p50, decisions.p99
    );
    println!(
        "| POST /v1/access (decision, data, access-log write) | {:.0} | {} | {} |",
        accesses.requests_per_second, accesses.p50, accesses.p99
    );
    println!(
        "\nratio decisions/ceiling: {:.2}",
        decisions.requests_per_second / ceiling.requests_per_second
    );
}

/// One POST over a raw socket (the broker crate does not depend on an HTTP client).
async fn reqwest_free_post(
    address: std::net::SocketAddr,
    path: &str,
    body: &str,
) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}
