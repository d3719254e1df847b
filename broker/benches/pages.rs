//! The web pages (issue 13): server time of a member's home page (50 rules
//! of their own and a delegation chain of 5 hops, each proxy with rules of
//! its own), and the weight of every page (HTML, plus the one style sheet;
//! the pages carry no script).
//!
//! Server time is the router's, in process (`oneshot`): the session
//! lookup, every store read, the words and the template, not the network.
//! Database: `BENCH_DATABASE_URL`, or a fresh SQLite file. Requests:
//! `BENCH_REQUESTS` (default 3000), after 300 to warm up.
//!
//! `cargo bench -p datacoop-broker --bench pages`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing,
    reason = "benchmark harness"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use datacoop_broker::clock::SystemClock;
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::http::{AppState, HttpLimits, router};
use datacoop_broker::policy::Policies;
use datacoop_broker::store;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "bench-admin-token-0123456789abcdefghijkl";
const ORIGIN: &str = "http://127.0.0.1:8080";

struct App {
    router: Router,
}

impl App {
    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// A page as a signed-in browser gets it: status, body bytes, time.
    async fn page(&self, path: &str, cookie: &str) -> (StatusCode, usize, Duration) {
        let request = Request::builder()
            .uri(path)
            .header(header::COOKIE, format!("__Host-datacoop-session={cookie}"))
            .body(Body::empty())
            .unwrap();
        let started = Instant::now();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.len(), started.elapsed())
    }

    /// Signs in with a link the API issues; the session cookie's value.
    async fn sign_in(&self, member: Option<&str>) -> String {
        let path = match member {
            Some(id) => format!("/v1/members/{id}/sign-in-links"),
            None => "/v1/stewards/sign-in-links".to_owned(),
        };
        let link = self.call(Method::POST, &path, ADMIN, None).await;
        let token = link["url"]
            .as_str()
            .unwrap()
            .split("token=")
            .nth(1)
            .unwrap()
            .to_owned();
        let request = Request::builder()
            .method(Method::POST)
            .uri("/sign-in/link")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(format!("token={token}")))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let cookie = response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_owned();
        cookie
            .strip_prefix("__Host-datacoop-session=")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    }

    async fn member(&self, name: &str) -> (String, String) {
        let member = self
            .call(
                Method::POST,
                "/v1/members",
                ADMIN,
                Some(json!({"display_name": name, "registry": "public"})),
            )
            .await;
        (
            member["id"].as_str().unwrap().to_owned(),
            member["token"].as_str().unwrap().to_owned(),
        )
    }
}

/// The categories and purposes rules are drawn from, so the 50 rules are
/// distinct and spread over every category group.
fn rule(index: usize) -> Value {
    const CATEGORIES: [&str; 10] = [
        "health.heart",
        "health.sleep",
        "location.coarse",
        "financial.purchases",
        "household.energy",
        "identity.demographic.age",
        "health.activity.steps",
        "location.history",
        "financial.income",
        "identity.contact.email",
    ];
    const PURPOSES: [&str; 5] = [
        "research.academic",
        "public_interest.health",
        "service_provision",
        "research.non_commercial",
        "public_interest.statistics",
    ];
    const CLASSES: [&str; 4] = ["academic", "nonprofit", "public_body", "commercial"];
    json!({
        "effect": if index.is_multiple_of(3) { "deny" } else { "allow" },
        "action": "*",
        "requester": {"class": CLASSES[index % 4]},
        "data_categories": [CATEGORIES[index % 10]],
        "purposes": [PURPOSES[(index / 10) % 5]],
        "expires_at": "2030-01-01T00:00:00Z",
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("pages.db").display()));
    let requests: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(3000);
    let store = store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.current().await.unwrap();
    let state = AppState::new(
        Arc::clone(&store),
        Arc::new(SystemClock),
        Policies::built_in().unwrap(),
        TokenHash::of(ADMIN),
        16,
    )
    .await
    .unwrap();
    let app = App {
        router: router(state, HttpLimits::default()),
    };

    // The member: 50 rules, and a chain of 5 proxies with 5 rules each.
    let (member, token) = app.member("Ada").await;
    for index in 0..50 {
        app.call(Method::POST, "/v1/me/rules", &token, Some(rule(index)))
            .await;
    }
    let mut delegator = token.clone();
    for hop in 0..5 {
        let (proxy, proxy_token) = app.member(&format!("Proxy {hop}")).await;
        app.call(
            Method::PATCH,
            "/v1/me",
            &proxy_token,
            Some(json!({"accepts_delegations": true})),
        )
        .await;
        for index in 0..5 {
            app.call(
                Method::POST,
                "/v1/me/rules",
                &proxy_token,
                Some(rule(index * 7 + hop)),
            )
            .await;
        }
        app.call(
            Method::POST,
            "/v1/me/delegations",
            &delegator,
            Some(json!({"to": {"member": proxy}})),
        )
        .await;
        delegator = proxy_token;
    }
    let cookie = app.sign_in(Some(&member)).await;

    for _ in 0..300 {
        assert_eq!(app.page("/", &cookie).await.0, StatusCode::OK);
    }
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let (status, _, took) = app.page("/", &cookie).await;
        assert_eq!(status, StatusCode::OK);
        times.push(took);
    }
    times.sort();
    println!("home page, 50 rules and a 5-hop chain, {requests} requests, in process:");
    println!(
        "  p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );

    // Page weights: HTML as served, and the style sheet it links.
    let css = {
        let request = Request::builder()
            .uri("/")
            .header(header::COOKIE, format!("__Host-datacoop-session={cookie}"));
        let response = app
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let html = response.into_body().collect().await.unwrap().to_bytes();
        let html = String::from_utf8_lossy(&html).into_owned();
        let href = html
            .split("rel=\"stylesheet\" href=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let sheet = app
            .router
            .clone()
            .oneshot(Request::builder().uri(&href).body(Body::empty()).unwrap())
            .await
            .unwrap();
        sheet.into_body().collect().await.unwrap().to_bytes().len()
    };
    let steward = app.sign_in(None).await;
    println!("page weight (HTML + {css} bytes of CSS; no script):");
    let member_pages = [
        "/",
        "/consent",
        "/proxies",
        "/why",
        "/access",
        "/connections",
        "/data",
        "/leave",
        "/receipts",
    ];
    let steward_pages = [
        "/stewards",
        "/stewards/third-parties",
        "/stewards/personas",
        "/stewards/coop-rules",
        "/stewards/members",
        "/stewards/datasets",
        "/stewards/deletion-receipts",
    ];
    for (pages, session) in [(&member_pages[..], &cookie), (&steward_pages[..], &steward)] {
        for path in pages {
            let (status, html, took) = app.page(path, session).await;
            if status != StatusCode::OK {
                println!("  {path:<28} {status}");
                continue;
            }
            println!(
                "  {path:<28} {:>6} bytes HTML  {:>6} bytes in all  ({:.2} ms)",
                html,
                html + css,
                took.as_secs_f64() * 1e3
            );
        }
    }
}
