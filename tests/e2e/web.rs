//! The web pages' sign-in through the real binary, without a browser:
//! links (from the API and the CLI), sessions ending, the sign-in rate
//! limit, and OpenID Connect against a provider on loopback (issue 13).
//! The browser suite (`tests/browser/`) drives the pages themselves.

use std::collections::HashMap;
use std::time::Duration;

use datacoop_tests::{Account, TestOidc, run_datacoop};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::SqliteBroker;

/// A cookie-keeping client that follows no redirect, as the tests step
/// through each one.
struct Visitor {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
    origin: String,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Visitor {
    fn new(origin: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            origin: origin.trim_end_matches('/').to_owned(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn answer(&mut self, response: reqwest::Response) -> Answer {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status: response.status(),
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|value| value.to_str().unwrap().to_owned()),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, url: &str) -> Answer {
        let response = self
            .http
            .get(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Answer {
        let response = self
            .http
            .post(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .header(reqwest::header::ORIGIN, &self.origin)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    fn signed_in(&self) -> bool {
        self.cookies.contains_key("__Host-datacoop-session")
    }
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().trim().to_owned()
}

async fn enrol(coop: &SqliteBroker, name: &str) -> String {
    let (status, member) = admin_call(
        coop,
        "/v1/members",
        Some(json!({"display_name": name, "registry": "public"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    member["id"].as_str().unwrap().to_owned()
}

async fn admin_call(coop: &SqliteBroker, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", coop.broker.base_url))
        .bearer_auth(coop.broker.printed_admin_token.as_deref().unwrap());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A link the API issued for `member` (a steward's for `None`).
async fn link(coop: &SqliteBroker, member: Option<&str>) -> String {
    let path = match member {
        Some(id) => format!("/v1/members/{id}/sign-in-links"),
        None => "/v1/stewards/sign-in-links".to_owned(),
    };
    let (status, link) = admin_call(coop, &path, None).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    link["url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sign_in_links_use_the_public_url_and_the_cli_prints_them() {
    let coop = SqliteBroker::start_with(|options| {
        options.env("DATACOOP_PUBLIC_URL", "https://coop.example")
    })
    .await;
    let base = coop.broker.base_url.clone();
    let member = enrol(&coop, "Ada").await;
    let admin = coop.broker.printed_admin_token.clone().unwrap();

    let output = run_datacoop(
        &["member", "sign-in-link", &member, "--url", &base],
        &[("DATACOOP_ADMIN_TOKEN", &admin)],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.starts_with("https://coop.example/sign-in/link?token=dcl_"),
        "{printed}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("It works once"));

    // Forms must come from the public address.
    let mut elsewhere = Visitor::new(&base);
    let refused = elsewhere
        .post(
            &format!("{base}/sign-in/link"),
            &[("token", &token_of(&printed))],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let mut browser = Visitor::new("https://coop.example");
    let signed = browser
        .post(
            &format!("{base}/sign-in/link"),
            &[("token", &token_of(&printed))],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location.as_deref(), Some("/"));
    assert!(
        browser
            .get(&format!("{base}/"))
            .await
            .body
            .contains("Hello Ada")
    );

    let output = run_datacoop(
        &["steward", "sign-in-link", "--url", &base],
        &[("DATACOOP_ADMIN_TOKEN", &admin)],
    )
    .await;
    assert!(output.status.success());
    let steward = String::from_utf8(output.stdout).unwrap();
    let mut steward_browser = Visitor::new("https://coop.example");
    let signed = steward_browser
        .post(
            &format!("{base}/sign-in/link"),
            &[("token", &token_of(&steward))],
        )
        .await;
    assert_eq!(signed.location.as_deref(), Some("/stewards"));
    assert_eq!(
        steward_browser
            .get(&format!("{base}/stewards"))
            .await
            .status,
        StatusCode::OK
    );

    // A wrong admin token is refused, and says so.
    let output = run_datacoop(
        &["steward", "sign-in-link", "--url", &base],
        &[(
            "DATACOOP_ADMIN_TOKEN",
            "dca_not-the-admin-token-0123456789abcdef",
        )],
    )
    .await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("401"));
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_limit() {
    let coop = SqliteBroker::start_with(|options| {
        options
            .env("DATACOOP_SESSION_IDLE_SECS", "2")
            .env("DATACOOP_SESSION_MAX_SECS", "5")
    })
    .await;
    let base = coop.broker.base_url.clone();
    let member = enrol(&coop, "Ada").await;
    let consent = format!("{base}/consent");

    let mut idle = Visitor::new(&base);
    idle.post(
        &format!("{base}/sign-in/link"),
        &[("token", &token_of(&link(&coop, Some(&member)).await))],
    )
    .await;
    assert_eq!(idle.get(&consent).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ended = idle.get(&consent).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(ended.location.as_deref(), Some("/sign-in?ended=1"));

    // Busy every 0.5 s: not idle, but over at 5 s.
    let mut busy = Visitor::new(&base);
    busy.post(
        &format!("{base}/sign-in/link"),
        &[("token", &token_of(&link(&coop, Some(&member)).await))],
    )
    .await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(4500) {
        assert_eq!(
            busy.get(&consent).await.status,
            StatusCode::OK,
            "at {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(busy.get(&consent).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited() {
    let coop = SqliteBroker::start_with(|options| {
        options.env("DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS", "2")
    })
    .await;
    let base = coop.broker.base_url.clone();
    let member = enrol(&coop, "Ada").await;
    let mut browser = Visitor::new(&base);
    for _ in 0..2 {
        let used = browser
            .post(&format!("{base}/sign-in/link"), &[("token", "dcl_guessed")])
            .await;
        assert_eq!(used.status, StatusCode::GONE);
    }
    let good = token_of(&link(&coop, Some(&member)).await);
    let limited = browser
        .post(&format!("{base}/sign-in/link"), &[("token", &good)])
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!browser.signed_in());
}

/// Steps through the provider's redirect back to the broker.
async fn through_provider(browser: &mut Visitor, to_provider: &str) -> Answer {
    assert!(
        to_provider.contains("code_challenge_method=S256"),
        "{to_provider}"
    );
    let at_provider = browser.get(to_provider).await;
    assert_eq!(
        at_provider.status,
        StatusCode::SEE_OTHER,
        "{}",
        at_provider.body
    );
    browser.get(&at_provider.location.unwrap()).await
}

#[tokio::test]
async fn the_identity_provider_signs_in_members_and_stewards() {
    let provider = TestOidc::start().await;
    let coop = SqliteBroker::start_with(|options| {
        options
            .env("DATACOOP_OIDC_ISSUER", &provider.issuer)
            .env("DATACOOP_OIDC_CLIENT_ID", &provider.client_id)
            .env("DATACOOP_OIDC_CLIENT_SECRET", &provider.client_secret)
            .env("DATACOOP_OIDC_GROUPS_CLAIM", "roles")
            .env("DATACOOP_OIDC_STEWARD_GROUP", "coop-admins")
    })
    .await;
    let base = coop.broker.base_url.clone();
    let account = |subject: &str, claim: &str, groups: &[&str]| Account {
        subject: subject.to_owned(),
        groups: (
            claim.to_owned(),
            groups.iter().map(|g| (*g).to_owned()).collect(),
        ),
    };

    // A steward: the configured claim names the configured group.
    let mut steward = Visitor::new(&base);
    assert!(
        steward
            .get(&format!("{base}/sign-in"))
            .await
            .body
            .contains("/sign-in/oidc")
    );
    provider.sign_in_next(account("stella", "roles", &["staff", "coop-admins"]));
    let begun = steward.get(&format!("{base}/sign-in/oidc")).await;
    assert_eq!(begun.status, StatusCode::SEE_OTHER);
    let callback = through_provider(&mut steward, &begun.location.unwrap()).await;
    assert_eq!(
        callback.location.as_deref(),
        Some("/stewards"),
        "{}",
        callback.body
    );
    assert_eq!(
        steward.get(&format!("{base}/stewards")).await.status,
        StatusCode::OK
    );

    // The group under another claim name makes no steward; an account
    // linked to no member is refused.
    let mut stranger = Visitor::new(&base);
    provider.sign_in_next(account("sam", "groups", &["coop-admins"]));
    let begun = stranger.get(&format!("{base}/sign-in/oidc")).await;
    let refused = through_provider(&mut stranger, &begun.location.unwrap()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!stranger.signed_in());

    // A member's link enrols: the account signing in next is linked.
    let member = enrol(&coop, "Ada").await;
    let mut ada = Visitor::new(&base);
    let enrolment = token_of(&link(&coop, Some(&member)).await);
    assert!(
        ada.get(&format!("{base}/sign-in/link?token={enrolment}"))
            .await
            .body
            .contains("Continue to sign-in")
    );
    provider.sign_in_next(account("alice", "roles", &[]));
    let to_provider = ada
        .post(&format!("{base}/sign-in/link"), &[("token", &enrolment)])
        .await;
    assert_eq!(to_provider.status, StatusCode::SEE_OTHER);
    let to_provider = to_provider.location.unwrap();
    let at_provider = ada.get(&to_provider).await;
    let callback_url = at_provider.location.unwrap();
    let flow_cookie = ada.cookies.get("__Host-datacoop-oidc").cloned().unwrap();
    let callback = ada.get(&callback_url).await;
    assert_eq!(callback.location.as_deref(), Some("/"), "{}", callback.body);
    assert!(
        ada.get(&format!("{base}/"))
            .await
            .body
            .contains("Hello Ada")
    );

    // The same answer again finds its flow ended.
    let mut replay = Visitor::new(&base);
    replay
        .cookies
        .insert("__Host-datacoop-oidc".to_owned(), flow_cookie);
    assert_eq!(
        replay.get(&callback_url).await.status,
        StatusCode::BAD_REQUEST
    );

    // Later, the linked account signs in as Ada directly.
    let mut later = Visitor::new(&base);
    provider.sign_in_next(account("alice", "roles", &[]));
    let begun = later.get(&format!("{base}/sign-in/oidc")).await;
    let callback = through_provider(&mut later, &begun.location.unwrap()).await;
    assert_eq!(callback.location.as_deref(), Some("/"));
    assert!(
        later
            .get(&format!("{base}/"))
            .await
            .body
            .contains("Hello Ada")
    );

    // An answer whose state is not the flow's is refused.
    let mut forged = Visitor::new(&base);
    provider.sign_in_next(account("alice", "roles", &[]));
    let begun = forged.get(&format!("{base}/sign-in/oidc")).await;
    let at_provider = forged.get(&begun.location.unwrap()).await;
    let mut tampered = url::Url::parse(&at_provider.location.unwrap()).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .map(|(key, value)| {
            let value = if key == "state" {
                "forged".to_owned()
            } else {
                value.into_owned()
            };
            (key.into_owned(), value)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let refused = forged.get(tampered.as_str()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(!forged.signed_in());
    assert!(provider.refusals().is_empty(), "{:?}", provider.refusals());
}

#[tokio::test]
async fn the_scopes_asked_for_decide_which_claims_come_back() {
    let provider = TestOidc::start().await;
    let coop = SqliteBroker::start_with(|options| {
        options
            .env("DATACOOP_OIDC_ISSUER", &provider.issuer)
            .env("DATACOOP_OIDC_CLIENT_ID", &provider.client_id)
            .env("DATACOOP_OIDC_CLIENT_SECRET", &provider.client_secret)
            .env("DATACOOP_OIDC_SCOPES", "profile")
    })
    .await;
    let base = coop.broker.base_url.clone();
    let mut browser = Visitor::new(&base);
    provider.sign_in_next(Account {
        subject: "stella".to_owned(),
        groups: ("groups".to_owned(), vec!["datacoop-stewards".to_owned()]),
    });
    let begun = browser.get(&format!("{base}/sign-in/oidc")).await;
    let to_provider = begun.location.unwrap();
    assert!(
        to_provider.contains("scope=openid+profile&")
            || to_provider.ends_with("scope=openid+profile"),
        "{to_provider}"
    );
    // Without the `groups` scope the provider leaves the groups out: no
    // steward.
    let refused = through_provider(&mut browser, &to_provider).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_unreachable_identity_provider_is_503_and_the_broker_still_serves() {
    let coop = SqliteBroker::start_with(|options| {
        options
            .env("DATACOOP_OIDC_ISSUER", "http://127.0.0.1:9")
            .env("DATACOOP_OIDC_CLIENT_ID", "datacoop")
            .env("DATACOOP_OIDC_CLIENT_SECRET", "secret-of-the-client")
    })
    .await;
    let base = coop.broker.base_url.clone();
    let mut browser = Visitor::new(&base);
    let answer = browser.get(&format!("{base}/sign-in/oidc")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.contains("Temporarily unavailable"));
    assert_eq!(
        browser.get(&format!("{base}/readyz")).await.status,
        StatusCode::OK
    );
    // Stewards' links still work.
    let signed = browser
        .post(
            &format!("{base}/sign-in/link"),
            &[("token", &token_of(&link(&coop, None).await))],
        )
        .await;
    assert_eq!(signed.location.as_deref(), Some("/stewards"));
}
