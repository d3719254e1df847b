//! Logs, traces, metrics, request ids and the OpenAPI document, through
//! the real binary. Tokens, secrets and member data never leave in logs
//! or spans.

use std::sync::{Arc, Mutex};

use datacoop_sdk::wire::{CreateMember, CreateThirdParty, Registry, RequesterClass, UpdateMe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::{SqliteBroker, client};

const MEMBER_NAME: &str = "Zelda Quixotic-Secretname";

/// Drives the endpoints that handle secrets and member data; returns every
/// secret and datum that must not leak.
async fn exercise(broker: &SqliteBroker) -> Vec<String> {
    let admin = broker.admin();
    let member = admin
        .create_member(&CreateMember {
            display_name: Some(MEMBER_NAME.into()),
            registry: Registry::Anonymous,
        })
        .await
        .unwrap();
    let renamed = "Ygritte Renamed-Secretname";
    client(&broker.broker)
        .with_token(&member.token)
        .update_me(&UpdateMe {
            display_name: Some(Some(renamed.into())),
            ..UpdateMe::default()
        })
        .await
        .unwrap();
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Sleep Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    // A failed call carrying a token must not log it either.
    let bad_token = "dcm_this-token-is-wrong-and-must-not-be-logged";
    assert!(
        client(&broker.broker)
            .with_token(bad_token)
            .me()
            .await
            .is_err()
    );
    vec![
        broker.broker.printed_admin_token.clone().unwrap(),
        member.token,
        MEMBER_NAME.to_owned(),
        renamed.to_owned(),
        lab.client_secret,
        bad_token.to_owned(),
    ]
}

#[tokio::test]
async fn json_logs_are_json_and_hold_no_secret_or_member_data() {
    let broker = SqliteBroker::start_with(|options| {
        options
            .env("DATACOOP_LOG_FORMAT", "json")
            .env("DATACOOP_LOG", "trace")
    })
    .await;
    let secrets = exercise(&broker).await;
    let (status, stderr) = broker.broker.stop().await;
    assert!(status.success());
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() > 10, "trace level logs plenty: {stderr}");
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(value.get("level").is_some());
    }
    assert!(
        stderr.contains("\"http.route\":\"/v1/members\""),
        "spans carry the matched route"
    );
    for secret in &secrets {
        assert!(
            !stderr.contains(secret.as_str()),
            "the logs leak {secret:?}"
        );
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let broker = SqliteBroker::start().await;
    let admin = broker.admin();
    admin.list_members(None, None).await.unwrap();
    admin.list_members(None, None).await.unwrap();
    let text = reqwest::get(format!("{}/metrics", broker.broker.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|line| line.starts_with("http_requests_total{")
                && line.contains("route=\"/v1/members\"")
                && line.contains("status=\"200\"")
                && line.ends_with(" 2")),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "{text}"
    );
}

#[tokio::test]
async fn request_ids_are_assigned_or_propagated() {
    let broker = SqliteBroker::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/healthz", broker.broker.base_url);
    let assigned = http.get(&url).send().await.unwrap();
    let id = assigned.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let propagated = http
        .get(&url)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(propagated.headers()["x-request-id"], "trace-me-42");
}

/// A stand-in OTLP/HTTP collector: records the path and body of each POST.
async fn fake_collector() -> (String, Arc<Mutex<Vec<(String, Vec<u8>)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let sink = Arc::clone(&sink);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(read) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..read]);
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if buffer.len() < end + 4 + length {
                        continue;
                    }
                    let path = head
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let body = buffer[end + 4..end + 4 + length].to_vec();
                    sink.lock().unwrap().push((path, body));
                    buffer.drain(..end + 4 + length);
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });
    (format!("http://{address}"), received)
}

#[tokio::test]
async fn traces_go_to_the_otlp_endpoint_without_secrets() {
    let (endpoint, received) = fake_collector().await;
    let broker =
        SqliteBroker::start_with(|options| options.env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint))
            .await;
    let secrets = exercise(&broker).await;
    let (status, stderr) = broker.broker.stop().await;
    assert!(status.success(), "{stderr}");
    let exports = received.lock().unwrap().clone();
    assert!(
        !exports.is_empty(),
        "shutdown flushes the spans to the collector; stderr:\n{stderr}"
    );
    assert!(
        exports.iter().all(|(path, _)| path == "/v1/traces"),
        "{exports:?}"
    );
    let bodies: Vec<u8> = exports.into_iter().flat_map(|(_, body)| body).collect();
    let text = String::from_utf8_lossy(&bodies);
    assert!(
        text.contains("POST /v1/members"),
        "spans are named by route"
    );
    assert!(text.contains("datacoop"), "the service name is set");
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a span leaks {secret:?}");
    }
}

#[tokio::test]
async fn openapi_describes_every_endpoint() {
    let broker = SqliteBroker::start().await;
    let document: serde_json::Value =
        reqwest::get(format!("{}/openapi.json", broker.broker.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/v1/vocabulary", "get"),
        ("/v1/members", "post"),
        ("/v1/members", "get"),
        ("/v1/third-parties", "post"),
        ("/v1/third-parties", "get"),
        ("/v1/third-parties/{id}", "get"),
        ("/v1/third-parties/{id}", "patch"),
        ("/v1/me", "get"),
        ("/v1/me", "patch"),
        ("/v1/me/rules", "post"),
        ("/v1/me/rules", "get"),
        ("/v1/me/rules/{id}", "delete"),
        ("/v1/coop/rules", "post"),
        ("/v1/coop/rules", "get"),
        ("/v1/coop/rules/{id}", "delete"),
        ("/v1/personas", "post"),
        ("/v1/personas", "get"),
        ("/v1/decisions", "post"),
        ("/v1/me/explain", "post"),
        ("/v1/me", "delete"),
        ("/v1/me/delegations", "post"),
        ("/v1/me/delegations", "get"),
        ("/v1/me/delegations/{id}", "delete"),
        ("/v1/me/delegators", "get"),
        ("/oauth2/token", "post"),
        ("/v1/third-parties/{id}/secret", "post"),
        ("/v1/me/data", "get"),
        ("/v1/me/data/{category}", "put"),
        ("/v1/me/connections", "post"),
        ("/v1/me/connections", "get"),
        ("/v1/me/access-log", "get"),
        ("/v1/me/export", "get"),
        ("/v1/access", "post"),
    ];
    for (path, method) in expected {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "missing {method} {path}");
        assert!(
            operation["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
    let schemas = &document["components"]["schemas"];
    for schema in [
        "Problem",
        "CreateMember",
        "CreatedMember",
        "Me",
        "UpdateMe",
        "Vocabulary",
        "CreatedThirdParty",
    ] {
        assert!(schemas[schema].is_object(), "missing schema {schema}");
    }
    assert_eq!(
        document["paths"]["/v1/members"]["post"]["responses"]["422"]["$ref"],
        "#/components/responses/Invalid"
    );
}
