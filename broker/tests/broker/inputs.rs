//! Bad input never reaches the database as a 500, and means one thing on
//! both databases: instants are bounded (years 1970 to 9999) and echoed
//! in RFC 3339 (http-contract "instants are RFC 3339 UTC"); no string
//! holds NUL; only objects are objects; unknown query parameters are 422
//! everywhere; names refuse invisible and reordering characters; metrics
//! label only known methods and routes; and odd input of every kind is a
//! 4xx (http-contract "Errors": no request makes the server answer 5xx).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::DateTime;
use serde_json::{Value, json};

use crate::router::assert_problem;
use crate::support::{ADMIN, TestApp};

/// Runs `check` on SQLite, then on PostgreSQL when one is configured.
macro_rules! on_both_databases {
    ($sqlite:ident, $postgres:ident, $check:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $check(&TestApp::sqlite().await).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(app) = TestApp::postgres().await else {
                return;
            };
            $check(&app).await;
        }
    };
}

on_both_databases!(
    instants_are_bounded_on_sqlite,
    instants_are_bounded_on_postgres,
    instants_are_bounded
);
on_both_databases!(
    nul_is_refused_on_sqlite,
    nul_is_refused_on_postgres,
    nul_is_refused
);
on_both_databases!(
    only_objects_are_objects_on_sqlite,
    only_objects_are_objects_on_postgres,
    only_objects_are_objects
);
on_both_databases!(
    unknown_query_parameters_are_422_on_sqlite,
    unknown_query_parameters_are_422_on_postgres,
    unknown_query_parameters_are_422
);
on_both_databases!(
    names_refuse_invisible_characters_on_sqlite,
    names_refuse_invisible_characters_on_postgres,
    names_refuse_invisible_characters
);
on_both_databases!(
    odd_input_is_never_a_500_on_sqlite,
    odd_input_is_never_a_500_on_postgres,
    odd_input_is_never_a_500
);

fn rule(not_before: Option<&str>, expires_at: Option<&str>) -> Value {
    let mut rule = json!({"effect": "deny", "action": "access", "requester": "*",
        "data_categories": ["health"], "purposes": ["research"]});
    if let Some(at) = not_before {
        rule["not_before"] = json!(at);
    }
    if let Some(at) = expires_at {
        rule["expires_at"] = json!(at);
    }
    rule
}

/// RFC 3339 as the contract means it: a four-digit year, `Z` for UTC.
fn assert_rfc3339(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is no string"));
    assert!(DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
    assert!(
        text.len() >= 20
            && text.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && text.as_bytes()[4] == b'-'
            && text.ends_with('Z'),
        "{text}"
    );
}

async fn rules_of(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = app
        .call(Method::GET, "/v1/me/rules", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

async fn instants_are_bounded(app: &TestApp) {
    let member = app.enrol(None, "public").await;
    let token = member["token"].as_str().unwrap();
    let outside = [
        "-4714-11-24T00:00:00Z",
        "-0001-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        "10000-01-01T00:00:00Z",
        "+10000-01-01T00:00:00Z",
        "+99999-01-01T00:00:00Z",
        "+262142-12-31T23:59:59Z",
    ];
    for at in outside {
        for (field, body) in [
            ("not_before", rule(Some(at), None)),
            ("expires_at", rule(None, Some(at))),
        ] {
            let (status, answer) = app
                .call(
                    Method::POST,
                    "/v1/me/rules",
                    Some(token),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(
                assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
                [field],
                "{at}"
            );
            let (status, answer) = app
                .call(
                    Method::POST,
                    "/v1/coop/rules",
                    Some(ADMIN),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(
                assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
                [field],
                "{at}"
            );
            let persona =
                json!({"name": "P", "description": "D", "rules": [rule(None, None), body]});
            let (status, answer) = app
                .call(Method::POST, "/v1/personas", Some(ADMIN), Some(persona))
                .await;
            assert_eq!(
                assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
                [format!("rules[1].{field}")],
                "{at}"
            );
        }
    }
    assert!(
        rules_of(app, token).await.is_empty(),
        "nothing refused is stored"
    );
    let (_, coop) = app
        .call(Method::GET, "/v1/coop/rules", Some(ADMIN), None)
        .await;
    assert_eq!(coop, json!([]));
    let (_, personas) = app
        .call(Method::GET, "/v1/personas", Some(ADMIN), None)
        .await;
    assert_eq!(personas, json!([]));

    // The edges are in; finer than a microsecond is cut, a leap second is
    // the next second, an offset becomes UTC: the same answer on both
    // databases, when created and when read back.
    let accepted = [
        (
            ("1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"),
            ("1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"),
        ),
        (
            ("2026-01-01T00:00:00.1234567Z", "2026-06-30T23:59:60Z"),
            ("2026-01-01T00:00:00.123456Z", "2026-07-01T00:00:00Z"),
        ),
        (
            ("2026-01-01T02:00:00+02:00", "2031-01-01T00:00:00.5-00:30"),
            ("2026-01-01T00:00:00Z", "2031-01-01T00:30:00.500Z"),
        ),
    ];
    let mut created = Vec::new();
    for ((not_before, expires_at), (shown_from, shown_until)) in accepted {
        let answer = app
            .rule(token, rule(Some(not_before), Some(expires_at)))
            .await;
        assert_eq!(
            (answer["not_before"].as_str(), answer["expires_at"].as_str()),
            (Some(shown_from), Some(shown_until)),
            "{answer}"
        );
        for field in ["not_before", "expires_at", "created_at"] {
            assert_rfc3339(&answer[field]);
        }
        created.push(answer);
    }
    assert_eq!(rules_of(app, token).await, created, "read back as created");
    // The rules are in force now (2026-03-01) and decide.
    let third_party = app.third_party("academic").await;
    let decision = app
        .decide(
            member["id"].as_str().unwrap(),
            &third_party,
            "access",
            &["health"],
            "research",
        )
        .await;
    assert_eq!(decision["categories"][0]["reason"], "denied_by_rule");
    assert_eq!(
        decision["categories"][0]["rules"].as_array().unwrap().len(),
        3,
        "{decision}"
    );
    assert_rfc3339(&decision["evaluated_at"]);
}

use crate::service::third_party_with_token;

/// Sends `body` as it is written (so a JSON escape reaches the server).
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: &str,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let (status, _, body) = app.send(request).await;
    (status, body)
}

async fn nul_is_refused(app: &TestApp) {
    let member = app.enrol(Some("Ada"), "public").await;
    let id = member["id"].as_str().unwrap();
    let token = member["token"].as_str().unwrap();
    let (third_party, access_token) = third_party_with_token(app, "academic").await;
    let (status, connection) = app
        .call(
            Method::POST,
            "/v1/me/connections",
            Some(token),
            Some(json!({"third_party": third_party})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    let subject = connection["subject"].as_str().unwrap();

    // JSON bodies, at any depth: 422 naming the field path.
    let bodies: Vec<(Method, String, &str, String, &str)> = vec![
        (
            Method::POST,
            "/v1/members".into(),
            ADMIN,
            r#"{"registry": "public", "display_name": "Eve\u0000"}"#.into(),
            "display_name",
        ),
        (
            Method::PATCH,
            "/v1/me".into(),
            token,
            r#"{"display_name": "\u0000"}"#.into(),
            "display_name",
        ),
        (
            Method::POST,
            "/v1/access".into(),
            &access_token,
            format!(
                r#"{{"subject": "{subject}\u0000", "data_categories": ["health"], "purpose": "research"}}"#
            ),
            "subject",
        ),
        (
            Method::POST,
            "/v1/access".into(),
            &access_token,
            r#"{"subject": "\u0000", "data_categories": ["health"], "purpose": "research"}"#.into(),
            "subject",
        ),
        (
            Method::POST,
            "/v1/decisions".into(),
            ADMIN,
            format!(
                r#"{{"member": "{id}\u0000", "requester": "{third_party}", "action": "access", "data_categories": ["health"], "purpose": "research"}}"#
            ),
            "member",
        ),
        (
            Method::POST,
            "/v1/me/rules".into(),
            token,
            r#"{"effect": "allow", "action": "access", "requester": {"third_party": "tp_\u0000"}, "data_categories": ["health"], "purposes": ["research"]}"#.into(),
            "requester.third_party",
        ),
        (
            Method::POST,
            "/v1/me/rules".into(),
            token,
            r#"{"effect": "allow", "action": "access", "requester": "*", "data_categories": ["health", "x\u0000"], "purposes": ["research"]}"#.into(),
            "data_categories[1]",
        ),
        (
            Method::POST,
            "/v1/personas".into(),
            ADMIN,
            r#"{"name": "P", "description": "D", "rules": [{"effect": "allow", "action": "access", "requester": "*", "data_categories": ["health"], "purposes": ["\u0000"]}]}"#.into(),
            "rules[0].purposes[0]",
        ),
        (
            Method::PUT,
            "/v1/me/data/health".into(),
            token,
            r#"{"readings": [1, {"note": "a\u0000b"}]}"#.into(),
            "readings[1].note",
        ),
        (
            Method::POST,
            "/v1/me/connections".into(),
            token,
            r#"{"third_party": "\u0000"}"#.into(),
            "third_party",
        ),
        (
            Method::POST,
            "/v1/me/delegations".into(),
            token,
            r#"{"to": {"member": "mbr_\u0000"}}"#.into(),
            "to.member",
        ),
        (
            Method::POST,
            "/v1/third-parties".into(),
            ADMIN,
            r#"{"name": "Lab", "class": "academic", "webhook_url": "https://lab.example/\u0000"}"#.into(),
            "webhook_url",
        ),
    ];
    for (method, path, bearer, body, field) in bodies {
        let (status, answer) = send_raw(app, method, &path, bearer, &body).await;
        assert_eq!(
            assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{path} {body}"
        );
        assert_eq!(
            answer["errors"][0]["message"], "must not contain the NUL character (U+0000)",
            "{answer}"
        );
    }

    // Path segments name nothing (404); query values are 422.
    for (method, path) in [
        (Method::GET, "/v1/third-parties/%00"),
        (Method::GET, "/v1/third-parties/tp_%00"),
        (Method::PATCH, "/v1/third-parties/%00"),
        (Method::DELETE, "/v1/me/rules/rul_%00"),
        (Method::DELETE, "/v1/coop/rules/%00"),
        (Method::DELETE, "/v1/me/delegations/%00"),
        (Method::PUT, "/v1/me/data/health%00"),
        (Method::PUT, "/v1/me/data/%FF"),
    ] {
        let bearer = if path.contains("/me/") { token } else { ADMIN };
        let (status, answer) = send_raw(app, method, path, bearer, r#"{"status": "active"}"#).await;
        assert_problem(status, &answer, StatusCode::NOT_FOUND);
    }
    for (path, field) in [
        ("/v1/members?cursor=%00", "cursor"),
        ("/v1/members?limit=1%00", "limit"),
        ("/v1/third-parties?cursor=a%00b", "cursor"),
    ] {
        let (status, answer) = app.call(Method::GET, path, Some(ADMIN), None).await;
        assert_eq!(
            assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{path}"
        );
    }
    let (status, answer) = app
        .call(
            Method::GET,
            "/v1/me/access-log?cursor=%00",
            Some(token),
            None,
        )
        .await;
    assert_eq!(
        assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
        ["cursor"]
    );

    // Nothing refused changed anything.
    let (_, me) = app.call(Method::GET, "/v1/me", Some(token), None).await;
    assert_eq!(me["display_name"], "Ada");
    let (_, members) = app
        .call(Method::GET, "/v1/members", Some(ADMIN), None)
        .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    assert!(rules_of(app, token).await.is_empty());
    let (_, data) = app
        .call(Method::GET, "/v1/me/data", Some(token), None)
        .await;
    assert_eq!(data, json!({}));
}

async fn only_objects_are_objects(app: &TestApp) {
    let member = app.enrol(Some("Ada"), "public").await;
    let token = member["token"].as_str().unwrap();
    let before = app.call(Method::GET, "/v1/me", Some(token), None).await.1;
    let rule_array = r#"["allow", "access", "*", ["health"], ["research"]]"#;
    let cases: Vec<(Method, &str, &str, String, &str)> = vec![
        (
            Method::PATCH,
            "/v1/me",
            token,
            r#"["x", "anonymous", true]"#.into(),
            "",
        ),
        (
            Method::POST,
            "/v1/members",
            ADMIN,
            r#"["Eve", "public"]"#.into(),
            "",
        ),
        (Method::POST, "/v1/me/rules", token, rule_array.into(), ""),
        (Method::POST, "/v1/coop/rules", ADMIN, rule_array.into(), ""),
        (
            Method::POST,
            "/v1/personas",
            ADMIN,
            format!(r#"{{"name": "P", "description": "D", "rules": [{rule_array}]}}"#),
            "rules[0]",
        ),
        (
            Method::POST,
            "/v1/third-parties",
            ADMIN,
            r#"["Lab", "academic"]"#.into(),
            "",
        ),
        (
            Method::POST,
            "/v1/decisions",
            ADMIN,
            r#"["mbr_x", "tp_x", "access", ["health"], "research"]"#.into(),
            "",
        ),
        (
            Method::POST,
            "/v1/me/delegations",
            token,
            r#"[{"member": "mbr_x"}]"#.into(),
            "",
        ),
        (
            Method::POST,
            "/v1/me/connections",
            token,
            r#"["tp_x"]"#.into(),
            "",
        ),
    ];
    for (method, path, bearer, body, field) in cases {
        let (status, answer) = send_raw(app, method, path, bearer, &body).await;
        assert_eq!(
            assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{path} {body}"
        );
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("invalid type: sequence"), "{message}");
    }
    let after = app.call(Method::GET, "/v1/me", Some(token), None).await.1;
    assert_eq!(after, before, "the refused patch changed nothing");
    assert_eq!(after["registry"], "public");
    let (_, members) = app
        .call(Method::GET, "/v1/members", Some(ADMIN), None)
        .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    assert!(rules_of(app, token).await.is_empty());
    // A member's data may be any JSON value, arrays included.
    let (status, answer) = send_raw(app, Method::PUT, "/v1/me/data/health", token, "[1, 2]").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
}

async fn unknown_query_parameters_are_422(app: &TestApp) {
    let member = app.enrol(Some("Ada"), "public").await;
    let token = member["token"].as_str().unwrap();
    // (method, path, token, body, fields named)
    type Case<'a> = (
        Method,
        &'a str,
        Option<&'a str>,
        Option<Value>,
        Vec<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            "/healthz?verbose=1",
            None,
            None,
            vec!["verbose"],
        ),
        (Method::GET, "/readyz?x", None, None, vec!["x"]),
        (Method::GET, "/metrics?name=a", None, None, vec!["name"]),
        (
            Method::GET,
            "/openapi.json?format=yaml",
            None,
            None,
            vec!["format"],
        ),
        (
            Method::GET,
            "/v1/vocabulary?lang=fr",
            Some(token),
            None,
            vec!["lang"],
        ),
        (
            Method::GET,
            "/v1/me?fields=id",
            Some(token),
            None,
            vec!["fields"],
        ),
        (
            Method::GET,
            "/v1/me/rules?limit=1",
            Some(token),
            None,
            vec!["limit"],
        ),
        (
            Method::GET,
            "/v1/personas?a=1&b=2",
            Some(token),
            None,
            vec!["a", "b"],
        ),
        (
            Method::POST,
            "/v1/members?dry_run=true",
            Some(ADMIN),
            Some(json!({"registry": "public"})),
            vec!["dry_run"],
        ),
        (
            Method::PATCH,
            "/v1/me?registry=anonymous",
            Some(token),
            Some(json!({"accepts_delegations": true})),
            vec!["registry"],
        ),
        (
            Method::DELETE,
            "/v1/me?really=yes",
            Some(token),
            None,
            vec!["really"],
        ),
        (
            Method::GET,
            "/v1/members?limit=5&limit=6",
            Some(ADMIN),
            None,
            vec!["limit"],
        ),
        (
            Method::GET,
            "/v1/members?limit=5&page=2&cursor=x&cursor=y",
            Some(ADMIN),
            None,
            vec!["page", "cursor"],
        ),
    ];
    for (method, path, bearer, body, fields) in cases {
        let (status, answer) = app.call(method, path, bearer, body).await;
        assert_eq!(
            assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
            fields,
            "{path}"
        );
    }
    // A flood of parameters is judged in one pass and reported in part.
    let invented: Vec<String> = (0..5_000).map(|index| format!("p{index}=1")).collect();
    let path = format!("/v1/members?{}", invented.join("&"));
    let (status, answer) = app.call(Method::GET, &path, Some(ADMIN), None).await;
    assert_eq!(
        assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY).len(),
        20
    );
    let path = format!("/v1/members?{}", ["limit"; 10_000].join("&"));
    let (status, answer) = app.call(Method::GET, &path, Some(ADMIN), None).await;
    assert_eq!(
        assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
        ["limit"]
    );
    // Nothing refused changed anything: the member is still here, unchanged.
    let (status, me) = app.call(Method::GET, "/v1/me", Some(token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["registry"].as_str(), me["accepts_delegations"].as_bool()),
        (Some("public"), Some(false))
    );
    let (_, members) = app
        .call(Method::GET, "/v1/members", Some(ADMIN), None)
        .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);

    // What an operation takes is accepted; an empty query is no parameter.
    for (path, bearer) in [
        ("/v1/members?limit=1", ADMIN),
        ("/v1/members?", ADMIN),
        ("/v1/third-parties?limit=200", ADMIN),
        ("/v1/me/access-log?limit=3", token),
        ("/healthz?", ADMIN),
    ] {
        let (status, answer) = app.call(Method::GET, path, Some(bearer), None).await;
        assert_eq!(status, StatusCode::OK, "{path} {answer}");
    }
    let request = Request::head("/v1/members?limit=1")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(request).await.0, StatusCode::OK);
    // Unknown routes stay 404 and unserved methods 405, query or not.
    let (status, answer) = app.call(Method::GET, "/v2/x?y=1", Some(ADMIN), None).await;
    assert_problem(status, &answer, StatusCode::NOT_FOUND);
    let (status, answer) = app.call(Method::PUT, "/v1/me?y=1", Some(token), None).await;
    assert_problem(status, &answer, StatusCode::METHOD_NOT_ALLOWED);
}

async fn names_refuse_invisible_characters(app: &TestApp) {
    let member = app.enrol(Some("Ada"), "public").await;
    let token = member["token"].as_str().unwrap();
    // Right-to-left override, isolates, zero-width characters, the BOM.
    let sneaky = [
        "Ada\u{202E}rewets",
        "\u{2066}Ada\u{2069}",
        "A\u{200B}da",
        "A\u{200D}da",
        "Ada\u{2060}",
        "\u{FEFF}Ada",
        "Ada\u{2028}Bo",
        "\u{3164}",
    ];
    for name in sneaky {
        let code_point = name
            .chars()
            .find(|c| !c.is_ascii_alphanumeric())
            .map(u32::from)
            .unwrap();
        let expected = format!("must not contain U+{code_point:04X}:");
        let attempts: Vec<(Method, &str, &str, Value, &str)> = vec![
            (
                Method::POST,
                "/v1/members",
                ADMIN,
                json!({"registry": "public", "display_name": name}),
                "display_name",
            ),
            (
                Method::PATCH,
                "/v1/me",
                token,
                json!({"display_name": name}),
                "display_name",
            ),
            (
                Method::POST,
                "/v1/third-parties",
                ADMIN,
                json!({"name": name, "class": "academic"}),
                "name",
            ),
            (
                Method::POST,
                "/v1/personas",
                ADMIN,
                json!({"name": name, "description": "Fine", "rules": []}),
                "name",
            ),
            (
                Method::POST,
                "/v1/personas",
                ADMIN,
                json!({"name": "Fine", "description": format!("Line one\n{name}"), "rules": []}),
                "description",
            ),
        ];
        for (method, path, bearer, body, field) in attempts {
            let (status, answer) = app.call(method, path, Some(bearer), Some(body)).await;
            assert_eq!(
                assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY),
                [field],
                "{path} {name:?}"
            );
            let message = answer["errors"][0]["message"].as_str().unwrap();
            assert!(message.starts_with(&expected), "{message}");
        }
    }
    let (_, me) = app.call(Method::GET, "/v1/me", Some(token), None).await;
    assert_eq!(me["display_name"], "Ada");
    let (_, personas) = app
        .call(Method::GET, "/v1/personas", Some(ADMIN), None)
        .await;
    assert_eq!(personas, json!([]));
    let (_, third_parties) = app
        .call(Method::GET, "/v1/third-parties", Some(ADMIN), None)
        .await;
    assert_eq!(third_parties["items"], json!([]));

    // Names in any script are welcome; descriptions keep their lines.
    let (status, me) = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(token),
            Some(json!({"display_name": " Zoë Núñez-李 "})),
        )
        .await;
    assert_eq!(
        (status, me["display_name"].as_str()),
        (StatusCode::OK, Some("Zoë Núñez-李"))
    );
    let (status, persona) = app
        .call(
            Method::POST,
            "/v1/personas",
            Some(ADMIN),
            Some(json!({"name": "محافظ", "description": "First line.\r\n\tSecond line.", "rules": []})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{persona}");
    assert_eq!(persona["description"], "First line.\n\tSecond line.");
    let (_, personas) = app
        .call(Method::GET, "/v1/personas", Some(token), None)
        .await;
    assert_eq!(personas[0]["description"], "First line.\n\tSecond line.");
}

/// A quick probe of the inputs an attacker tries first: none is a 500.
async fn odd_input_is_never_a_500(app: &TestApp) {
    let member = app.enrol(None, "public").await;
    let token = member["token"].as_str().unwrap().to_owned();
    let (_, access_token) = third_party_with_token(app, "academic").await;
    let long = "x".repeat(500_000);
    let wide = "\u{1F980}".repeat(100_000);
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    // As deep as serde_json goes, through every adapter layer: no overflow.
    let deep_objects = format!("{}1{}", r#"{"a": ["#.repeat(63), "]}".repeat(63));
    let mut attempts: Vec<(Method, String, String, Option<String>)> = Vec::new();
    for limit in [
        "99999999999999999999999",
        "-0",
        "1e3",
        "0x10",
        "%F0%9F%A6%80",
        "",
    ] {
        attempts.push((
            Method::GET,
            format!("/v1/members?limit={limit}"),
            ADMIN.to_owned(),
            None,
        ));
    }
    for cursor in [
        "garbage",
        "djE6LTE",
        "djE6OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
        "djE6",
        "%E2%80%AE",
        "====",
        &long[..10_000],
    ] {
        attempts.push((
            Method::GET,
            format!("/v1/third-parties?cursor={cursor}"),
            ADMIN.to_owned(),
            None,
        ));
        attempts.push((
            Method::GET,
            format!("/v1/me/access-log?cursor={cursor}"),
            token.clone(),
            None,
        ));
    }
    for id in [
        "%E2%80%AE",
        "%F0%9F%A6%80",
        "tp_%F0%9F%A6%80",
        "..%2F..%2Fetc",
        "%25",
        &long[..10_000],
    ] {
        attempts.push((
            Method::GET,
            format!("/v1/third-parties/{id}"),
            ADMIN.to_owned(),
            None,
        ));
        attempts.push((
            Method::DELETE,
            format!("/v1/me/rules/{id}"),
            token.clone(),
            None,
        ));
        attempts.push((
            Method::PUT,
            format!("/v1/me/data/{id}"),
            token.clone(),
            Some("1".to_owned()),
        ));
    }
    let bodies = [
        (
            Method::POST,
            "/v1/members",
            ADMIN,
            json!({"registry": "public", "display_name": long}).to_string(),
        ),
        (
            Method::PATCH,
            "/v1/me",
            &token,
            json!({"display_name": wide}).to_string(),
        ),
        (
            Method::POST,
            "/v1/access",
            &access_token,
            json!({"subject": long, "data_categories": ["health"], "purpose": "research"})
                .to_string(),
        ),
        (
            Method::POST,
            "/v1/access",
            &access_token,
            json!({"subject": wide, "data_categories": [long], "purpose": wide}).to_string(),
        ),
        (
            Method::POST,
            "/v1/decisions",
            ADMIN,
            json!({"member": long, "requester": wide, "action": "access", "data_categories": ["health"], "purpose": "research"}).to_string(),
        ),
        (
            Method::POST,
            "/v1/me/connections",
            &token,
            json!({"third_party": long}).to_string(),
        ),
        (
            Method::POST,
            "/v1/me/delegations",
            &token,
            json!({"to": {"persona": long}}).to_string(),
        ),
        (
            Method::POST,
            "/v1/me/rules",
            &token,
            json!({"effect": "allow", "action": "access", "requester": {"third_party": long}, "data_categories": ["health"], "purposes": ["research"]}).to_string(),
        ),
        (
            Method::POST,
            "/v1/me/rules",
            &token,
            r#"{"effect": "allow", "action": "access", "requester": "*", "data_categories": ["health"], "purposes": ["research"], "expires_at": 1e400}"#.to_owned(),
        ),
        (
            Method::POST,
            "/v1/third-parties",
            ADMIN,
            json!({"name": "Lab", "class": "academic", "webhook_url": format!("https://{long}.example/")}).to_string(),
        ),
        (Method::PUT, "/v1/me/data/health", &token, deep.clone()),
        (
            Method::PUT,
            "/v1/me/data/health",
            &token,
            "123456789012345678901234567890e999999".to_owned(),
        ),
        (
            Method::PUT,
            "/v1/me/data/health",
            &token,
            r#""\ud800""#.to_owned(),
        ),
        (
            Method::PATCH,
            "/v1/third-parties/tp_00000000000000000000000000000000",
            ADMIN,
            r#"{"status": "active", "status": "suspended"}"#.to_owned(),
        ),
    ];
    for (method, path, bearer, body) in bodies {
        attempts.push((method, path.to_owned(), bearer.to_owned(), Some(body)));
    }
    let (status, answer) = send_raw(
        app,
        Method::PUT,
        "/v1/me/data/health",
        &token,
        &deep_objects,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    for (method, path, bearer, body) in attempts {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&path)
            .header("authorization", format!("Bearer {bearer}"));
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body)
            }
            None => Body::empty(),
        };
        let (status, _, answer) = app.send(request.body(body).unwrap()).await;
        let shown: String = path.chars().take(80).collect();
        assert!(
            status.is_client_error() || status.is_success(),
            "{method} {shown}: {status} {answer}"
        );
    }
}

#[tokio::test]
async fn metrics_label_only_known_methods_and_routes() {
    let app = TestApp::sqlite().await;
    for index in 0..200 {
        let method = Method::from_bytes(format!("INVENTED{index}").as_bytes()).unwrap();
        let path = if index % 2 == 0 {
            format!("/v1/me?invented{index}=1")
        } else {
            format!("/made/up/path{index}")
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let status = app.send(request).await.0;
        assert!(
            status == StatusCode::METHOD_NOT_ALLOWED || status == StatusCode::NOT_FOUND,
            "{status}"
        );
    }
    let (status, _, text) = app
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    assert!(
        !text.contains("INVENTED") && !text.contains("made/up"),
        "invented names never become labels"
    );
    assert!(
        text.contains(r#"method="_OTHER""#) && text.contains(r#"route="unmatched""#),
        "they are counted under one label each"
    );
    for line in text.lines().filter(|line| line.contains("method=\"")) {
        let method = line
            .split("method=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert!(
            [
                "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
                "_OTHER"
            ]
            .contains(&method),
            "{line}"
        );
    }
}
