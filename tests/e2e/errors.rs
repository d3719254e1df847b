//! Every failure through the real binary is an RFC 9457 problem, and a
//! refused request changes nothing.

use datacoop_sdk::wire::{CreateMember, Problem, Registry};
use reqwest::StatusCode;

use crate::SqliteBroker;

async fn problem(response: reqwest::Response) -> (StatusCode, Problem) {
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "status {status}");
    let problem: Problem = response.json().await.unwrap();
    assert_eq!(problem.status, status.as_u16());
    assert!(problem.problem_type.starts_with("urn:datacoop:problem:"));
    assert!(!problem.title.is_empty());
    assert!(!problem.detail.is_empty());
    (status, problem)
}

#[tokio::test]
async fn refused_requests_are_problems_and_change_nothing() {
    let broker =
        SqliteBroker::start_with(|options| options.env("DATACOOP_MAX_BODY_BYTES", "2048")).await;
    let base = broker.broker.base_url.clone();
    let admin_token = broker.broker.printed_admin_token.clone().unwrap();
    let http = reqwest::Client::new();
    let members = format!("{base}/v1/members");

    // 400: not JSON.
    let response = http
        .post(&members)
        .bearer_auth(&admin_token)
        .header("content-type", "application/json")
        .body("{\"registry\":")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, StatusCode::BAD_REQUEST);

    // 401: no token, a wrong token, a token of the wrong scheme.
    let response = http.get(&members).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(problem(response).await.0, StatusCode::UNAUTHORIZED);
    let response = http
        .get(&members)
        .bearer_auth("dca_not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, StatusCode::UNAUTHORIZED);
    let response = http
        .get(&members)
        .basic_auth("admin", Some(&admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, StatusCode::UNAUTHORIZED);

    // 403: a member calling a steward's endpoint, a steward calling a member's.
    let ada = broker
        .admin()
        .create_member(&CreateMember {
            display_name: None,
            registry: Registry::Public,
        })
        .await
        .unwrap();
    let response = http
        .get(&members)
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, StatusCode::FORBIDDEN);
    let response = http
        .get(format!("{base}/v1/me"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, StatusCode::FORBIDDEN);

    // 404: an unknown route; an unknown or malformed third-party id.
    let response = http
        .get(format!("{base}/v1/nothing-here"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, StatusCode::NOT_FOUND);
    for id in ["tp_00000000000000000000000000000000", "not-an-id"] {
        let response = http
            .get(format!("{base}/v1/third-parties/{id}"))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(response).await.0, StatusCode::NOT_FOUND);
    }

    // 405
    let response = http
        .delete(&members)
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, StatusCode::METHOD_NOT_ALLOWED);

    // 413: over the configured limit.
    let big = format!(
        "{{\"registry\":\"public\",\"display_name\":\"{}\"}}",
        "a".repeat(4096)
    );
    let response = http
        .post(&members)
        .bearer_auth(&admin_token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // 415
    let response = http
        .post(&members)
        .bearer_auth(&admin_token)
        .header("content-type", "text/plain")
        .body("{\"registry\":\"public\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(response).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    // 422, each naming its field.
    let invalid = [
        (r#"{"registry":"pirate"}"#, "registry"),
        (
            r#"{"registry":"public","display_name":"   "}"#,
            "display_name",
        ),
        (r#"{"registry":"public","colour":"blue"}"#, "colour"),
        (r#"{"display_name":"Ada"}"#, ""),
    ];
    for (body, field) in invalid {
        let response = http
            .post(&members)
            .bearer_auth(&admin_token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, problem) = problem(response).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(problem.errors.len(), 1, "{body}");
        assert_eq!(problem.errors[0].field, field, "{body}");
    }
    let response = http
        .get(format!("{members}?limit=0"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    let (status, problem_doc) = problem(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_doc.errors[0].field, "limit");

    // Nothing refused was stored: only Ada exists.
    let listed = broker.admin().list_members(None, None).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, ada.id);

    let (status, stderr) = broker.broker.stop().await;
    assert!(status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The lines of `/metrics` that are series (not comments).
async fn series(http: &reqwest::Client, base: &str) -> (usize, usize) {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = text.lines().filter(|line| !line.starts_with('#')).count();
    (lines, text.len())
}

#[tokio::test]
async fn invented_methods_and_paths_do_not_grow_the_metrics() {
    let broker = SqliteBroker::start().await;
    let base = broker.broker.base_url.clone();
    let http = reqwest::Client::new();
    let invent = |from: usize, to: usize| {
        let http = http.clone();
        let base = base.clone();
        async move {
            for index in from..to {
                let method = reqwest::Method::from_bytes(format!("X{index}").as_bytes()).unwrap();
                let path = match index % 3 {
                    0 => format!("{base}/v1/members"),
                    1 => format!("{base}/nothing/{index}"),
                    _ => format!("{base}/v1/me?p{index}=1"),
                };
                let status = http.request(method, path).send().await.unwrap().status();
                assert!(status.is_client_error(), "{status}");
                let status = http
                    .get(format!("{base}/invented/{index}"))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, StatusCode::NOT_FOUND);
            }
        }
    };
    invent(0, 30).await;
    // Twice, so that the scrape itself is counted in what is compared.
    series(&http, &base).await;
    let (lines_before, bytes_before) = series(&http, &base).await;
    invent(30, 1030).await;
    let (lines_after, bytes_after) = series(&http, &base).await;
    assert_eq!(
        lines_after, lines_before,
        "1,000 more invented methods and paths added no series"
    );
    // Only the counts' digits grew.
    assert!(
        bytes_after < bytes_before + 2048,
        "{bytes_before} -> {bytes_after} bytes"
    );
    let (status, stderr) = broker.broker.stop().await;
    assert!(status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn sqlite_bad_input_is_refused_alike() {
    let dir = tempfile::tempdir().unwrap();
    bad_input_is_refused(&crate::sqlite_url(&dir)).await;
}

#[tokio::test]
async fn postgres_bad_input_is_refused_alike() {
    let Some(database) = datacoop_tests::TestPostgres::create().await else {
        return;
    };
    bad_input_is_refused(database.url()).await;
}

/// Through the real binary, on either database: each refusal is a 4xx
/// problem naming the field, nothing changes, and the server logs no
/// internal error.
async fn bad_input_is_refused(database_url: &str) {
    let broker =
        datacoop_tests::Broker::start(datacoop_tests::BrokerOptions::new(database_url)).await;
    let base = broker.base_url.clone();
    let admin_token = broker.printed_admin_token.clone().unwrap();
    let admin = crate::client(&broker).with_token(&admin_token);
    let ada = admin
        .create_member(&CreateMember {
            display_name: Some("Ada".into()),
            registry: Registry::Public,
        })
        .await
        .unwrap();
    let member = crate::client(&broker).with_token(&ada.token);
    let before = member.me().await.unwrap();
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, token: &str, body: Option<&str>| {
        let mut request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        request.send()
    };
    let rule = |extra: &str| {
        format!(
            r#"{{"effect": "deny", "action": "access", "requester": "*", "data_categories": ["health"], "purposes": ["research"]{extra}}}"#
        )
    };
    let cases = [
        (
            reqwest::Method::PATCH,
            "/v1/me",
            &ada.token,
            Some(r#"["x", "anonymous", true]"#.to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
        (
            reqwest::Method::PATCH,
            "/v1/me",
            &ada.token,
            Some("{\"display_name\": \"Ada\u{202E}nimda\"}".to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "display_name",
        ),
        (
            reqwest::Method::POST,
            "/v1/members",
            &admin_token,
            Some(r#"{"registry": "public", "display_name": "Eve\u0000"}"#.to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "display_name",
        ),
        (
            reqwest::Method::POST,
            "/v1/me/rules",
            &ada.token,
            Some(rule(r#", "not_before": "-4714-11-24T00:00:00Z""#)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_before",
        ),
        (
            reqwest::Method::POST,
            "/v1/coop/rules",
            &admin_token,
            Some(rule(r#", "expires_at": "+99999-01-01T00:00:00Z""#)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expires_at",
        ),
        (
            reqwest::Method::GET,
            "/v1/me?debug=1",
            &ada.token,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "debug",
        ),
        (
            reqwest::Method::GET,
            "/v1/members?cursor=%00",
            &admin_token,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "cursor",
        ),
        (
            reqwest::Method::GET,
            "/v1/third-parties/%00",
            &admin_token,
            None,
            StatusCode::NOT_FOUND,
            "",
        ),
    ];
    for (method, path, token, body, expected, field) in cases {
        let response = send(method, path, token, body.as_deref()).await.unwrap();
        let (status, problem) = problem(response).await;
        assert_eq!(status, expected, "{path} {body:?}");
        if expected == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(problem.errors.len(), 1, "{path} {body:?}");
            assert_eq!(problem.errors[0].field, field, "{path} {body:?}");
        }
    }
    // The edges of the range are taken, and echoed in RFC 3339.
    let response = send(
        reqwest::Method::POST,
        "/v1/me/rules",
        &ada.token,
        Some(&rule(
            r#", "not_before": "1970-01-01T00:00:00Z", "expires_at": "9999-12-31T23:59:59.999999Z""#,
        )),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let rules = member.my_rules().await.unwrap();
    assert_eq!(rules.len(), 1);
    let shown = serde_json::to_value(&rules[0]).unwrap();
    assert_eq!(shown["not_before"], "1970-01-01T00:00:00Z");
    assert_eq!(shown["expires_at"], "9999-12-31T23:59:59.999999Z");

    assert_eq!(
        member.me().await.unwrap(),
        before,
        "nothing refused changed Ada"
    );
    assert_eq!(admin.list_members(None, None).await.unwrap().items.len(), 1);
    assert!(admin.coop_rules().await.unwrap().is_empty());
    let (status, stderr) = broker.stop().await;
    assert!(status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("request failed"), "{stderr}");
}
