//! HTTP benchmark harness: `POST /v1/decisions` throughput and latency at
//! 32 connections, next to the ceiling of the same axum stack measured in
//! the same run: `POST /bench/echo`, mounted here only, parses a JSON body
//! of the same shape and answers a JSON document of a decision's size
//! without deciding anything.
//!
//! A third run measures `POST /v1/access` (a third party's read: the
//! decision, the member's data, and the access-log row and verifiable-log
//! entry written); a fourth, consent writes: `POST /v1/me/rules`, each
//! request a different member's new rule with its log entry.
//!
//! Needs `wrk` (Debian package `wrk`). Database: `BENCH_DATABASE_URL`, or
//! a fresh SQLite file. Members: `BENCH_MEMBERS` (default 1000), three
//! rules each. Duration per endpoint: `BENCH_SECONDS` (default 10). The
//! webhook workers of `datacoop serve` run beside the router unless
//! `BENCH_WEBHOOK_WORKERS=0`.
//!
//! The `token-flood` scenario: 200 connections post wrong client secrets
//! to `POST /oauth2/token` for `BENCH_FLOOD_SECONDS` (default 10) while
//! this process's resident memory is sampled and `GET /healthz` is timed
//! on a fresh connection every 20 ms; once with the rate limits off (only
//! the bounded secret verifications stand between the flood and the
//! memory), once with the defaults of `datacoop serve`. Loopback only.
//!
//! The `freshness` scenario (PostgreSQL only, `BENCH_POSTGRES_URL`, a
//! server URL; a fresh database is created): three replicas (three stores,
//! engines and routers in this process, each on its own port, each with
//! the change feed's listener) serve `POST /v1/decisions` under wrk, first
//! alone, then while a writer makes `BENCH_WRITES_PER_SEC` (default 100)
//! consent changes a second through them in turn (a member's rule created,
//! then deleted): what every replica obeying every change at once costs.
//!
//! `cargo bench -p datacoop-broker --bench http` runs every scenario;
//! `cargo bench -p datacoop-broker --bench http -- decisions`,
//! `-- token-flood` or `-- freshness` runs one.
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
use chrono::TimeDelta;
use datacoop_broker::clock::{Clock as _, SystemClock};
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
        evaluated_at: SystemClock.now(),
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

/// Every request a new rule of the next member (`tokens`), committed with
/// its log entry.
fn rules_script(path: &std::path::Path, tokens: &[String]) {
    let mut lua = String::from("local tokens = {\n");
    for token in tokens {
        let _ = writeln!(lua, "  \"{token}\",");
    }
    lua.push_str(
        "}\nlocal i = 0\nlocal body = [==[{\"effect\": \"allow\", \"action\": \"access\", \
         \"requester\": {\"class\": \"public_body\"}, \"data_categories\": [\"household.energy\"], \
         \"purposes\": [\"public_interest.climate\"]}]==]\nrequest = function()\n  i = i + 1\n  \
         local token = tokens[(i % #tokens) + 1]\n  return wrk.format(\"POST\", \"/v1/me/rules\", \
         {[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer \" .. token}, body)\nend\n",
    );
    std::fs::write(path, lua).unwrap();
}

fn term(id: &str) -> TermId {
    TermId::parse(id).unwrap()
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument picks scenarios.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let selected = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if selected("decisions") {
        runtime.block_on(decisions());
    }
    if selected("token-flood") {
        runtime.block_on(token_flood());
    }
    if selected("freshness") {
        runtime.block_on(freshness());
    }
}

async fn decisions() {
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
    let now = SystemClock.now();
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

    // The workers of `datacoop serve` run beside the router, as they do in
    // production (folding every call into what third parties received);
    // `BENCH_WEBHOOK_WORKERS=0` leaves them out, to compare.
    let workers = if env_number("BENCH_WEBHOOK_WORKERS", 1) > 0 {
        Some(
            datacoop_broker::webhook::Workers::spawn(
                Arc::clone(&store),
                Arc::clone(&state.engine),
                Arc::new(SystemClock),
                datacoop_broker::webhook::DeliverySettings::default(),
            )
            .await
            .unwrap(),
        )
    } else {
        None
    };
    println!(
        "webhook workers: {}",
        if workers.is_some() { "running" } else { "off" }
    );
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
    let rules_path = dir.path().join("rules.lua");
    let tokens: Vec<String> = (0..members).map(|index| format!("bench-{index}")).collect();
    rules_script(&rules_path, &tokens);
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
        let base = base.clone();
        let script = access_script.display().to_string();
        move || wrk(&base, &script, seconds)
    })
    .await
    .unwrap();
    let rule_writes = tokio::task::spawn_blocking({
        let script = rules_path.display().to_string();
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
        "| POST /v1/access (decision, data, access-log write, log entry) | {:.0} | {} | {} |",
        accesses.requests_per_second, accesses.p50, accesses.p99
    );
    println!(
        "| POST /v1/me/rules (consent write, log entry) | {:.0} | {} | {} |",
        rule_writes.requests_per_second, rule_writes.p50, rule_writes.p99
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

/// Resident memory of this process, in MiB (`VmRSS`).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// One `GET /healthz` on a fresh connection: how long until the answer.
fn healthz_latency(address: std::net::SocketAddr) -> std::time::Duration {
    use std::io::{Read, Write};
    let started = std::time::Instant::now();
    let mut socket =
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(10)).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    started.elapsed()
}

struct Flood {
    label: &'static str,
    baseline_mib: f64,
    peak_mib: f64,
    requests_per_second: f64,
    statuses: Vec<(u16, u64)>,
    healthz: Vec<std::time::Duration>,
}

/// 200 connections posting wrong secrets for `seconds`, against a broker
/// with `rate_limits`; memory and `/healthz` latency sampled meanwhile.
async fn flood(
    label: &'static str,
    rate_limits: datacoop_broker::http::RateLimitSettings,
    seconds: usize,
) -> Flood {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("flood.db").display());
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
    .unwrap()
    .with_rate_limits(rate_limits);
    // A real client with a real Argon2 hash: every wrong secret is verified.
    let now = SystemClock.now();
    let client_id = format!("dcc_{}", uuid::Uuid::new_v4().simple());
    let secret = datacoop_broker::credentials::generate_secret("dcs_").unwrap();
    let hash = datacoop_broker::credentials::hash_password(&secret).unwrap();
    let third_party = ThirdParty {
        id: ThirdPartyId::generate(),
        name: ThirdPartyName::parse("Flooded Lab").unwrap(),
        class: RequesterClass::Academic,
        status: ThirdPartyStatus::Active,
        webhook_url: None,
        client_id: client_id.clone(),
        created_at: now,
        updated_at: now,
    };
    store.create_third_party(&third_party, &hash).await.unwrap();

    let app = datacoop_broker::http::router(state, HttpLimits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });

    let basic = base64_basic(&client_id, "dcs_wrong-secret-0123456789");
    let script = dir.path().join("flood.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = \"grant_type=client_credentials\"\n\
             wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n\
             wrk.headers[\"Authorization\"] = \"Basic {basic}\"\n\
             local threads = {{}}\n\
             function setup(thread) table.insert(threads, thread) end\n\
             function init(args) statuses = {{}} end\n\
             function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end\n\
             function done(summary, latency, requests)\n\
               for _, thread in ipairs(threads) do\n\
                 for status, count in pairs(thread:get(\"statuses\")) do\n\
                   io.write(string.format(\"status %d %d\\n\", status, count))\n\
                 end\n\
               end\n\
             end\n"
        ),
    )
    .unwrap();

    let baseline_mib = rss_mib();
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let memory = std::thread::spawn({
        let running = Arc::clone(&running);
        move || {
            let mut peak = 0.0f64;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_mib());
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            peak
        }
    });
    let probe = std::thread::spawn({
        let running = Arc::clone(&running);
        move || {
            let mut latencies = Vec::new();
            // Let the flood build up first.
            std::thread::sleep(std::time::Duration::from_millis(500));
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                latencies.push(healthz_latency(address));
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            latencies
        }
    });
    let output = tokio::task::spawn_blocking({
        let url = format!("http://{address}/oauth2/token");
        let script = script.display().to_string();
        move || {
            Command::new("wrk")
                .args([
                    "-t2",
                    "-c200",
                    &format!("-d{seconds}s"),
                    "--timeout",
                    "30s",
                    "-s",
                    &script,
                    &url,
                ])
                .output()
                .expect("run wrk (apt-get install wrk)")
        }
    })
    .await
    .unwrap();
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak_mib = memory.join().unwrap();
    let healthz = probe.join().unwrap();
    server.abort();
    store.close().await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed: {text}");
    let statuses = text
        .lines()
        .filter_map(|line| line.strip_prefix("status "))
        .map(|rest| {
            let (status, count) = rest.split_once(' ').unwrap();
            (status.parse().unwrap(), count.trim().parse().unwrap())
        })
        .fold(Vec::<(u16, u64)>::new(), |mut all, (status, count)| {
            match all.iter_mut().find(|(known, _)| *known == status) {
                Some((_, total)) => *total += count,
                None => all.push((status, count)),
            }
            all
        });
    let requests_per_second = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    Flood {
        label,
        baseline_mib,
        peak_mib,
        requests_per_second,
        statuses,
        healthz,
    }
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

fn percentile(sorted: &[std::time::Duration], share: f64) -> std::time::Duration {
    let rank = ((sorted.len() as f64) * share).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn token_flood() {
    use datacoop_broker::http::RateLimitSettings;
    let seconds = env_number("BENCH_FLOOD_SECONDS", 10);
    let verifications = datacoop_broker::credentials::SecretVerifier::default_concurrency();
    let mut results = Vec::new();
    for (label, limits) in [
        ("rate limits off", RateLimitSettings::OFF),
        ("default rate limits", RateLimitSettings::default()),
    ] {
        println!("token flood, {label}: 200 connections for {seconds} s ...");
        results.push(flood(label, limits, seconds).await);
    }
    println!(
        "\nPOST /oauth2/token, wrong secrets, wrk -t2 -c200 -d{seconds}s; {verifications} secret verifications at once\n"
    );
    println!(
        "| broker | token requests/s | answers | resident memory: before, peak | /healthz during the flood: p50, p99, max (probes) |"
    );
    println!("|---|---|---|---|---|");
    for flood in &results {
        let mut latencies = flood.healthz.clone();
        latencies.sort();
        let mut statuses = flood.statuses.clone();
        statuses.sort();
        let answers = statuses
            .iter()
            .map(|(status, count)| format!("{count} × {status}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {} | {:.0} | {answers} | {:.0} MiB, {:.0} MiB | {:.2} ms, {:.2} ms, {:.2} ms ({}) |",
            flood.label,
            flood.requests_per_second,
            flood.baseline_mib,
            flood.peak_mib,
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            latencies.last().unwrap().as_secs_f64() * 1000.0,
            latencies.len(),
        );
    }
    for flood in &results {
        let mut latencies = flood.healthz.clone();
        latencies.sort();
        assert!(
            flood.peak_mib < 500.0,
            "{}: resident memory reached {:.0} MiB",
            flood.label,
            flood.peak_mib
        );
        let p99 = percentile(&latencies, 0.99);
        assert!(
            p99 < std::time::Duration::from_millis(50),
            "{}: /healthz p99 {p99:?}",
            flood.label
        );
    }
}

/// Three replicas on one PostgreSQL database, wrk on each at once, with
/// and without a writer making changes through them.
async fn freshness() {
    use sqlx::{Connection as _, Executor as _};
    let Ok(server) = std::env::var("BENCH_POSTGRES_URL") else {
        println!("freshness: skipped (set BENCH_POSTGRES_URL to a PostgreSQL server URL)");
        return;
    };
    let members = env_number("BENCH_MEMBERS", 1000);
    let seconds = env_number("BENCH_SECONDS", 10);
    let writes_per_second = env_number("BENCH_WRITES_PER_SEC", 100);
    let name = format!("datacoop_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    let url = url.to_string();
    let mut addresses = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..3 {
        let store = store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store.current().await.unwrap();
        let state = AppState::new(
            Arc::clone(&store),
            Arc::new(SystemClock),
            Policies::built_in().unwrap(),
            TokenHash::of(ADMIN),
            datacoop_broker::consent::DEFAULT_MAX_DELEGATION_DEPTH,
        )
        .await
        .unwrap();
        let app = router_with(state, HttpLimits::default(), Router::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addresses.push(listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        stores.push(store);
    }
    let http = reqwest::Client::new();
    let post = |address: std::net::SocketAddr, path: &str, token: &str, body: serde_json::Value| {
        http.post(format!("http://{address}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let lab: serde_json::Value = post(
        addresses[0],
        "/v1/third-parties",
        ADMIN,
        serde_json::json!({"name": "Bench Lab", "class": "academic"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let rule = serde_json::json!({"effect": "allow", "action": "access",
        "requester": {"class": "academic"}, "data_categories": ["health"], "purposes": ["research"]});
    print!("seeding {members} members with one rule each through the replicas ... ");
    let mut bodies = Vec::with_capacity(members);
    let mut tokens = Vec::with_capacity(members);
    for index in 0..members {
        let address = addresses[index % 3];
        let member: serde_json::Value = post(
            address,
            "/v1/members",
            ADMIN,
            serde_json::json!({"registry": "public"}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let token = member["token"].as_str().unwrap().to_owned();
        let created = post(address, "/v1/me/rules", &token, rule.clone())
            .await
            .unwrap();
        assert!(created.status().is_success());
        bodies.push(
            serde_json::json!({"member": member["id"], "requester": lab["id"], "action": "access",
                "data_categories": ["health"], "purpose": "research"})
            .to_string(),
        );
        tokens.push(token);
    }
    println!("done");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("decisions.lua");
    lua_script(&script, "/v1/decisions", ADMIN, &bodies);
    let script = script.display().to_string();
    let measure = |addresses: Vec<std::net::SocketAddr>, script: String| async move {
        let runs: Vec<_> = addresses
            .into_iter()
            .map(|address| {
                let script = script.clone();
                tokio::task::spawn_blocking(move || {
                    wrk(&format!("http://{address}"), &script, seconds)
                })
            })
            .collect();
        let mut measured = Vec::new();
        for run in runs {
            measured.push(run.await.unwrap());
        }
        measured
    };
    let alone = measure(addresses.clone(), script.clone()).await;
    // The writers: at the rate asked, a member's rule is created through
    // one replica and deleted through the next (two changes), each pair in
    // a task of its own so slow answers under load do not slow the rate.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let changed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = tokio::spawn({
        let stop = Arc::clone(&stop);
        let changed = Arc::clone(&changed);
        let http = http.clone();
        let addresses = addresses.clone();
        let tokens = Arc::new(tokens);
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs_f64(
                2.0 / writes_per_second as f64,
            ));
            let mut pairs = tokio::task::JoinSet::new();
            let mut next = 0_usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                let (http, tokens, changed) =
                    (http.clone(), Arc::clone(&tokens), Arc::clone(&changed));
                let (create, delete) = (addresses[next % 3], addresses[(next + 1) % 3]);
                let member = next % tokens.len();
                next += 1;
                pairs.spawn(async move {
                    let created: serde_json::Value = http
                        .post(format!("http://{create}/v1/me/rules"))
                        .bearer_auth(&tokens[member])
                        .json(&serde_json::json!({"effect": "deny", "action": "access",
                            "requester": "*", "data_categories": ["health"], "purposes": ["research"]}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    changed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let id = created["id"].as_str().unwrap();
                    let deleted = http
                        .delete(format!("http://{delete}/v1/me/rules/{id}"))
                        .bearer_auth(&tokens[member])
                        .send()
                        .await
                        .unwrap();
                    assert!(deleted.status().is_success());
                    changed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                });
            }
            while pairs.join_next().await.is_some() {}
        }
    });
    let started = std::time::Instant::now();
    let writing = measure(addresses.clone(), script).await;
    let elapsed = started.elapsed();
    let written = changed.load(std::sync::atomic::Ordering::Relaxed);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    let rate = written as f64 / elapsed.as_secs_f64();
    let total = |runs: &[Measured]| runs.iter().map(|run| run.requests_per_second).sum::<f64>();
    println!(
        "\nPostgreSQL, three replicas in one process, {members} members, wrk -t2 -c32 -d{seconds}s on each at once\n"
    );
    println!("| | decisions/s (sum of 3) | p50 / p99 per replica |");
    println!("|---|---|---|");
    for (label, runs) in [
        ("no writes", &alone),
        (
            &*format!("{rate:.0} changes/s through the replicas"),
            &writing,
        ),
    ] {
        let latencies: Vec<String> = runs
            .iter()
            .map(|run| format!("{} / {}", run.p50, run.p99))
            .collect();
        println!(
            "| {label} | {:.0} | {} |",
            total(runs),
            latencies.join("; ")
        );
    }
    println!(
        "\ncost of freshness: {:.1} % fewer decisions",
        100.0 * (1.0 - total(&writing) / total(&alone))
    );
    for store in stores {
        store.close().await;
    }
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
}
