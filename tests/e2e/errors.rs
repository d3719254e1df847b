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
