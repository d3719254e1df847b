//! Every row of README's configuration table changes what the real binary
//! does. `SETTINGS` names, for each variable, the test that shows it (here
//! or in another module of this suite); `every_readme_setting_has_a_test`
//! keeps the table and the list in step, so a new setting comes with its
//! test.

use std::time::Duration;

use datacoop_sdk::wire::{CreateMember, CreateThirdParty, Registry, RequesterClass};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::SqliteBroker;

/// Each configuration variable of README, and `FILE::TEST` (a file of
/// `tests/e2e/`) showing that it changes behaviour.
const SETTINGS: &[(&str, &str)] = &[
    (
        "DATACOOP_PUBLIC_URL",
        "web.rs::sign_in_links_use_the_public_url_and_the_cli_prints_them",
    ),
    (
        "DATACOOP_SESSION_IDLE_SECS",
        "web.rs::sessions_end_when_idle_and_at_their_limit",
    ),
    (
        "DATACOOP_SESSION_MAX_SECS",
        "web.rs::sessions_end_when_idle_and_at_their_limit",
    ),
    (
        "DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS",
        "web.rs::sign_in_attempts_are_rate_limited",
    ),
    (
        "DATACOOP_OIDC_ISSUER",
        "web.rs::the_identity_provider_signs_in_members_and_stewards",
    ),
    (
        "DATACOOP_OIDC_CLIENT_ID",
        "web.rs::the_identity_provider_signs_in_members_and_stewards",
    ),
    (
        "DATACOOP_OIDC_CLIENT_SECRET",
        "web.rs::the_identity_provider_signs_in_members_and_stewards",
    ),
    (
        "DATACOOP_OIDC_SCOPES",
        "web.rs::the_scopes_asked_for_decide_which_claims_come_back",
    ),
    (
        "DATACOOP_OIDC_GROUPS_CLAIM",
        "web.rs::the_identity_provider_signs_in_members_and_stewards",
    ),
    (
        "DATACOOP_OIDC_STEWARD_GROUP",
        "web.rs::the_identity_provider_signs_in_members_and_stewards",
    ),
    // Every test runs on SQLite files it names; these run on PostgreSQL.
    (
        "DATACOOP_DATABASE_URL",
        "consent.rs::postgres_decisions_survive_a_restart",
    ),
    (
        "DATACOOP_DATABASE_MAX_CONNECTIONS",
        "operations.rs::the_pool_is_bounded_and_a_starved_request_is_503",
    ),
    (
        "DATACOOP_DATABASE_ACQUIRE_TIMEOUT_SECS",
        "operations.rs::the_pool_is_bounded_and_a_starved_request_is_503",
    ),
    (
        "DATACOOP_MIGRATE_ON_START",
        "operations.rs::serve_without_migrating_needs_datacoop_migrate_first",
    ),
    (
        "DATACOOP_SHUTDOWN_DRAIN_SECS",
        "operations.rs::sigterm_drains_not_ready_first_then_exits",
    ),
    (
        "DATACOOP_LISTEN",
        "settings.rs::the_listen_address_is_where_it_listens",
    ),
    (
        "DATACOOP_ADMIN_TOKEN",
        "lifecycle.rs::a_configured_admin_token_is_used_and_nothing_is_printed",
    ),
    (
        "DATACOOP_POLICY_DIR",
        "cli.rs::a_policy_folder_replaces_the_vocabulary",
    ),
    // 4 KiB bodies are 413 under a 2 KiB limit.
    (
        "DATACOOP_MAX_BODY_BYTES",
        "errors.rs::refused_requests_are_problems_and_change_nothing",
    ),
    (
        "DATACOOP_REQUEST_TIMEOUT_SECS",
        "settings.rs::a_request_over_the_timeout_is_answered_408",
    ),
    (
        "DATACOOP_ACCESS_TOKEN_TTL_SECS",
        "settings.rs::access_tokens_live_the_configured_time",
    ),
    // A chain of three hops is `delegation_too_deep` under a limit of 2.
    (
        "DATACOOP_MAX_DELEGATION_DEPTH",
        "consent.rs::a_delegation_chain_decides_through_the_binary_and_survives_a_restart",
    ),
    (
        "DATACOOP_LOG_FORMAT",
        "settings.rs::the_log_filter_and_format_choose_what_is_logged_and_how",
    ),
    (
        "DATACOOP_LOG",
        "settings.rs::the_log_filter_and_format_choose_what_is_logged_and_how",
    ),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "observability.rs::traces_go_to_the_otlp_endpoint_without_secrets",
    ),
    (
        "DATACOOP_MAX_SECRET_VERIFICATIONS",
        "settings.rs::secret_verifications_beyond_the_setting_are_503",
    ),
    (
        "DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS",
        "settings.rs::token_requests_are_limited_per_address",
    ),
    (
        "DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT",
        "settings.rs::token_requests_are_limited_per_client",
    ),
    (
        "DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS",
        "settings.rs::failed_bearer_tokens_are_limited_per_address",
    ),
    (
        "DATACOOP_MAX_RULES_PER_OWNER",
        "settings.rs::what_a_member_holds_is_capped_as_configured",
    ),
    (
        "DATACOOP_MAX_DELEGATIONS_PER_MEMBER",
        "settings.rs::what_a_member_holds_is_capped_as_configured",
    ),
    (
        "DATACOOP_MAX_DATA_BYTES_PER_MEMBER",
        "settings.rs::what_a_member_holds_is_capped_as_configured",
    ),
    (
        "DATACOOP_LOG_SIGNING_KEY_FILE",
        "settings.rs::the_log_is_signed_with_the_key_file_under_the_origin_set",
    ),
    (
        "DATACOOP_LOG_ORIGIN",
        "settings.rs::the_log_is_signed_with_the_key_file_under_the_origin_set",
    ),
    // Off, loopback URLs are refused and a loopback endpoint is not sent to.
    (
        "DATACOOP_ALLOW_INSECURE_WEBHOOKS",
        "webhooks.rs::webhooks_never_point_inside",
    ),
    // A receiver that answers after 3 s times out under 1 s: 4 attempts.
    (
        "DATACOOP_WEBHOOK_TIMEOUT_SECS",
        "webhooks.rs::failures_timeouts_and_retry_after_are_tried_again_until_delivered",
    ),
    (
        "DATACOOP_WEBHOOK_HORIZON_SECS",
        "webhooks.rs::an_event_past_the_horizon_is_given_up_and_listed_as_failed",
    ),
    (
        "DATACOOP_DELETION_GRACE_SECS",
        "webhooks.rs::an_unconfirmed_deletion_is_overdue_after_the_grace_period",
    ),
    (
        "DATACOOP_DP_BUDGET",
        "datasets.rs::a_dataset_is_licensed_built_fetched_revoked_and_built_from_the_cli",
    ),
];

/// C2SP signed-note's example key (Go's `sumdb/note`), as a key file holds it.
const PETER_KEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

#[tokio::test]
async fn the_log_is_signed_with_the_key_file_under_the_origin_set() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("log.key");
    std::fs::write(&key_file, format!("{PETER_KEY}\n")).unwrap();
    let key_path = key_file.display().to_string();
    let url = crate::sqlite_url(&dir);
    let broker = datacoop_tests::Broker::start(
        datacoop_tests::BrokerOptions::new(&url)
            .env("DATACOOP_LOG_SIGNING_KEY_FILE", &key_path)
            .env("DATACOOP_LOG_ORIGIN", "coop.example.org/log"),
    )
    .await;
    let anyone = crate::client(&broker);
    assert_eq!(anyone.audit_key().await.unwrap(), PETER_VKEY);
    let checkpoint = anyone.audit_checkpoint().await.unwrap();
    assert!(
        checkpoint.starts_with("coop.example.org/log\n0\n"),
        "{checkpoint}"
    );
    assert!(
        checkpoint.contains("\u{2014} PeterNeumann "),
        "{checkpoint}"
    );
    let state = dir.path().join("verify.json");
    let state = state.display().to_string();
    let verified = datacoop_tests::run_datacoop(
        &[
            "audit",
            "verify",
            "--url",
            &broker.base_url,
            "--key",
            PETER_VKEY,
            "--state",
            &state,
        ],
        &[],
    )
    .await;
    assert!(verified.status.success(), "{verified:?}");
    broker.stop().await;
    // Without an origin the key's name is the origin; a key file that
    // holds no key stops the start, naming the variable.
    let broker = datacoop_tests::Broker::start(
        datacoop_tests::BrokerOptions::new(&url).env("DATACOOP_LOG_SIGNING_KEY_FILE", &key_path),
    )
    .await;
    let checkpoint = crate::client(&broker).audit_checkpoint().await.unwrap();
    assert!(checkpoint.starts_with("PeterNeumann\n"), "{checkpoint}");
    broker.stop().await;
    std::fs::write(&key_file, "not a key").unwrap();
    let output = datacoop_tests::run_datacoop(
        &["serve"],
        &[
            ("DATACOOP_DATABASE_URL", url.as_str()),
            ("DATACOOP_LISTEN", "127.0.0.1:0"),
            ("DATACOOP_LOG_SIGNING_KEY_FILE", key_path.as_str()),
        ],
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATACOOP_LOG_SIGNING_KEY_FILE"), "{stderr}");
    assert!(
        !stderr.contains("AYEKFALV"),
        "the key never shows: {stderr}"
    );
}

/// The variables in README's configuration table.
fn readme_settings() -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let table = readme
        .split("## Configuration")
        .nth(1)
        .expect("README has a Configuration section");
    let table = table.split("\n## ").next().unwrap();
    table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split_once('`'))
        .map(|(variable, _)| variable.to_owned())
        .collect()
}

#[test]
fn every_readme_setting_has_a_test() {
    let readme = readme_settings();
    assert!(readme.len() >= 10, "{readme:?}");
    let listed: Vec<&str> = SETTINGS.iter().map(|(variable, _)| *variable).collect();
    for variable in &readme {
        assert!(
            listed.contains(&variable.as_str()),
            "README's {variable} has no test named in tests/e2e/settings.rs SETTINGS"
        );
    }
    for variable in &listed {
        assert!(
            readme.iter().any(|row| row == variable),
            "{variable} is tested but not in README's configuration table"
        );
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/e2e");
    for (variable, test) in SETTINGS {
        let (file, name) = test.split_once("::").unwrap();
        let source = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        assert!(
            source.contains(&format!("async fn {name}()")),
            "{variable}: no test `{name}` in tests/e2e/{file}"
        );
    }
}

async fn token_request(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    secret: &str,
    grant_type: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type={grant_type}"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap())
}

/// A third party's client id and secret.
async fn third_party(broker: &SqliteBroker) -> (String, String) {
    let lab = broker
        .admin()
        .create_third_party(&CreateThirdParty {
            name: "Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    (lab.client_id, lab.client_secret)
}

fn assert_rate_limited(answer: &(StatusCode, Option<String>, Value), error: &str) {
    let (status, retry_after, body) = answer;
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let seconds: u64 = retry_after.as_deref().unwrap().parse().unwrap();
    assert!(seconds >= 1);
    assert_eq!(body["error"], error, "{body}");
}

#[tokio::test]
async fn access_tokens_live_the_configured_time() {
    for (ttl, expected) in [(None, 900), (Some("60"), 60)] {
        let broker = SqliteBroker::start_with(|options| match ttl {
            Some(ttl) => options.env("DATACOOP_ACCESS_TOKEN_TTL_SECS", ttl),
            None => options,
        })
        .await;
        let (id, secret) = third_party(&broker).await;
        let http = reqwest::Client::new();
        let (status, _, body) = token_request(
            &http,
            &broker.broker.base_url,
            &id,
            &secret,
            "client_credentials",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["expires_in"], expected, "{ttl:?}");
        // (The token is refused once that time is up: oauth.rs's
        // `the_token_lifetime_follows_the_setting`, on a manual clock.)
    }
}

#[tokio::test]
async fn the_listen_address_is_where_it_listens() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let broker = SqliteBroker::start_with(|options| options.arg("--listen").arg(&listen)).await;
    assert_eq!(broker.broker.base_url, format!("http://{listen}"));
    let health = reqwest::get(format!("http://{listen}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

/// Sends the head of a request whose body never finishes; the status line
/// of the answer, or `None` if there is none within `wait`.
async fn answer_to_a_stalled_body(base: &str, token: &str, wait: Duration) -> Option<String> {
    let address = base.strip_prefix("http://").unwrap();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/members HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"registry\":"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(wait, socket.read(&mut answer))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&answer[..read]).into_owned();
    text.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn a_request_over_the_timeout_is_answered_408() {
    let quick =
        SqliteBroker::start_with(|options| options.env("DATACOOP_REQUEST_TIMEOUT_SECS", "1")).await;
    let token = quick.broker.printed_admin_token.clone().unwrap();
    let started = std::time::Instant::now();
    let status = answer_to_a_stalled_body(&quick.broker.base_url, &token, Duration::from_secs(10))
        .await
        .expect("an answer after the timeout");
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // Under the default 30 s, the same request is still waiting for its
    // body after 3 s.
    let patient = SqliteBroker::start().await;
    let token = patient.broker.printed_admin_token.clone().unwrap();
    let status =
        answer_to_a_stalled_body(&patient.broker.base_url, &token, Duration::from_secs(3)).await;
    assert_eq!(status, None);
}

#[tokio::test]
async fn the_log_filter_and_format_choose_what_is_logged_and_how() {
    let mut logs = Vec::new();
    for env in [
        &[][..],
        &[("DATACOOP_LOG", "warn")][..],
        &[("DATACOOP_LOG_FORMAT", "json")][..],
    ] {
        let broker = SqliteBroker::start_with(|options| {
            env.iter()
                .fold(options, |options, (key, value)| options.env(key, value))
        })
        .await;
        let health = reqwest::get(format!("{}/healthz", broker.broker.base_url))
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let (status, stderr) = broker.broker.stop().await;
        assert!(status.success());
        logs.push(stderr);
    }
    let [human, warn, json] = &logs[..] else {
        unreachable!()
    };
    // By default: `info` lines, readable, one per request answered.
    assert!(human.contains("answered"), "{human}");
    assert!(human.lines().all(|line| !line.starts_with('{')), "{human}");
    // `DATACOOP_LOG=warn`: nothing at info.
    assert!(!warn.contains("answered"), "{warn}");
    assert!(!warn.contains("INFO"), "{warn}");
    // `DATACOOP_LOG_FORMAT=json`: the same lines, as JSON objects.
    assert!(json.contains("answered"), "{json}");
    for line in json.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("{line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
}

/// `count` token requests with a wrong secret at once; how many were 503
/// (each checked: RFC 6749 body, `Retry-After`) and how many 401.
async fn wrong_secrets_at_once(base: &str, client_id: &str, count: usize) -> (usize, usize) {
    let http = reqwest::Client::new();
    let requests: Vec<_> = (0..count)
        .map(|_| {
            let (http, base, client_id) = (http.clone(), base.to_owned(), client_id.to_owned());
            tokio::spawn(async move {
                token_request(&http, &base, &client_id, "dcs_wrong", "client_credentials").await
            })
        })
        .collect();
    let (mut busy, mut refused) = (0, 0);
    for request in requests {
        let (status, retry_after, body) = request.await.unwrap();
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["error"], "temporarily_unavailable", "{body}");
                assert_eq!(retry_after.as_deref(), Some("1"));
                busy += 1;
            }
            StatusCode::UNAUTHORIZED => {
                assert_eq!(body["error"], "invalid_client", "{body}");
                refused += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    (busy, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_verifications_beyond_the_setting_are_503() {
    let no_rate_limits = |options: datacoop_tests::BrokerOptions| {
        options
            .env("DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS", "0")
            .env("DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT", "0")
    };
    // One at a time (and one waiting): of 16 at once, some are turned away.
    let one = SqliteBroker::start_with(|options| {
        no_rate_limits(options).env("DATACOOP_MAX_SECRET_VERIFICATIONS", "1")
    })
    .await;
    let (id, _) = third_party(&one).await;
    let (busy, refused) = wrong_secrets_at_once(&one.broker.base_url, &id, 16).await;
    assert!(
        busy > 0,
        "16 at once never found the only verification busy"
    );
    assert_eq!(busy + refused, 16);
    // Eight at a time (and eight waiting): 8 at once are all verified.
    let eight = SqliteBroker::start_with(|options| {
        no_rate_limits(options).env("DATACOOP_MAX_SECRET_VERIFICATIONS", "8")
    })
    .await;
    let (id, _) = third_party(&eight).await;
    assert_eq!(
        wrong_secrets_at_once(&eight.broker.base_url, &id, 8).await,
        (0, 8)
    );
}

#[tokio::test]
async fn token_requests_are_limited_per_address() {
    let http = reqwest::Client::new();
    // `grant_type=password` is refused before any secret is checked, but
    // counts all the same. On by default: 60 a minute.
    for (setting, allowed) in [(None, 60), (Some("2"), 2)] {
        let broker = SqliteBroker::start_with(|options| match setting {
            Some(value) => options.env("DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS", value),
            None => options,
        })
        .await;
        let base = &broker.broker.base_url;
        for _ in 0..allowed {
            let (status, _, body) = token_request(&http, base, "dcc_x", "dcs_y", "password").await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        }
        let answer = token_request(&http, base, "dcc_x", "dcs_y", "password").await;
        assert_rate_limited(&answer, "temporarily_unavailable");
    }
    // 0 turns it off.
    let broker = SqliteBroker::start_with(|options| {
        options.env("DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS", "0")
    })
    .await;
    for _ in 0..80 {
        let (status, _, body) =
            token_request(&http, &broker.broker.base_url, "dcc_x", "dcs_y", "password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}

#[tokio::test]
async fn token_requests_are_limited_per_client() {
    let broker = SqliteBroker::start_with(|options| {
        options
            .env("DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS", "0")
            .env("DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT", "2")
    })
    .await;
    let (id, secret) = third_party(&broker).await;
    let http = reqwest::Client::new();
    let base = &broker.broker.base_url;
    for _ in 0..2 {
        let (status, _, body) =
            token_request(&http, base, &id, &secret, "client_credentials").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let answer = token_request(&http, base, &id, &secret, "client_credentials").await;
    assert_rate_limited(&answer, "temporarily_unavailable");
    // Another client from the same address is not limited.
    let (other, other_secret) = third_party(&broker).await;
    let (status, _, body) =
        token_request(&http, base, &other, &other_secret, "client_credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn failed_bearer_tokens_are_limited_per_address() {
    let http = reqwest::Client::new();
    let wrong = "dcm_not-a-token-anyone-holds-0123456789abcdefghi";
    // On by default: 30 a minute.
    for (setting, allowed) in [(None, 30), (Some("3"), 3)] {
        let broker = SqliteBroker::start_with(|options| match setting {
            Some(value) => options.env("DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS", value),
            None => options,
        })
        .await;
        let base = &broker.broker.base_url;
        let member = broker
            .admin()
            .create_member(&CreateMember {
                display_name: None,
                registry: Registry::Public,
            })
            .await
            .unwrap();
        let me = |token: &str| http.get(format!("{base}/v1/me")).bearer_auth(token).send();
        assert_eq!(me(&member.token).await.unwrap().status(), StatusCode::OK);
        for _ in 0..allowed {
            assert_eq!(me(wrong).await.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
        let response = me(wrong).await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 429);
        // The address's tokens are refused unread; the admin token works.
        assert_eq!(
            me(&member.token).await.unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let members = broker.admin().list_members(None, None).await.unwrap();
        assert_eq!(members.items.len(), 1);
    }
    // 0 turns it off.
    let broker = SqliteBroker::start_with(|options| {
        options.env("DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS", "0")
    })
    .await;
    for _ in 0..40 {
        let response = http
            .get(format!("{}/v1/me", broker.broker.base_url))
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

/// The per-member caps: under small settings the call past each cap is a
/// 422 naming it; the defaults let the same calls through.
#[tokio::test]
async fn what_a_member_holds_is_capped_as_configured() {
    for capped in [false, true] {
        let broker = SqliteBroker::start_with(|options| {
            if capped {
                options
                    .env("DATACOOP_MAX_RULES_PER_OWNER", "1")
                    .env("DATACOOP_MAX_DELEGATIONS_PER_MEMBER", "1")
                    .env("DATACOOP_MAX_DATA_BYTES_PER_MEMBER", "1024")
            } else {
                options
            }
        })
        .await;
        let base = &broker.broker.base_url;
        let admin = broker.broker.printed_admin_token.clone().unwrap();
        let http = reqwest::Client::new();
        let post = |path: &str, token: &str, body: Value| {
            http.post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
        };
        let enrol = |body: Value| post("/v1/members", &admin, body);
        let ada: Value = enrol(serde_json::json!({"registry": "public"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = ada["token"].as_str().unwrap();
        let bo: Value = enrol(serde_json::json!({"registry": "public"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let bo_token = bo["token"].as_str().unwrap();
        let accept = http
            .patch(format!("{base}/v1/me"))
            .bearer_auth(bo_token)
            .json(&serde_json::json!({"accepts_delegations": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(accept.status(), StatusCode::OK);
        let mut statuses = Vec::new();
        for purpose in ["research", "marketing"] {
            let rule = serde_json::json!({"effect": "allow", "action": "*", "requester": "*",
                "data_categories": ["health"], "purposes": [purpose]});
            statuses.push(post("/v1/me/rules", token, rule).await.unwrap().status());
        }
        for category in ["health", "location"] {
            let delegation =
                serde_json::json!({"to": {"member": bo["id"]}, "data_categories": [category]});
            statuses.push(
                post("/v1/me/delegations", token, delegation)
                    .await
                    .unwrap()
                    .status(),
            );
        }
        let value = serde_json::json!("x".repeat(2000));
        let put = http
            .put(format!("{base}/v1/me/data/health"))
            .bearer_auth(token)
            .json(&value)
            .send()
            .await
            .unwrap();
        statuses.push(put.status());
        let expected = if capped {
            [201, 422, 201, 422, 422]
        } else {
            [201, 201, 201, 201, 204]
        };
        let statuses: Vec<u16> = statuses.iter().map(StatusCode::as_u16).collect();
        assert_eq!(statuses, expected, "capped: {capped}");
    }
}
