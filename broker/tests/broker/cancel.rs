//! Cancel-safe writes (issue 8, item 1): a request dropped while its write
//! is in flight (the client hangs up, the timeout fires) must leave what
//! decisions read exactly where the database is. Every mutating call is
//! dropped after 1..N polls; then the decision path (the SQLite mirror,
//! the compiled slices) is compared with the database, by reading the
//! facts again from the database and deciding again
//! (consent-semantics §4: "Revoking a rule or delegation changes the very
//! next decision").

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use datacoop_broker::domain::rule::Owner;
use datacoop_broker::domain::{MemberId, ThirdPartyId};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{ADMIN, TestApp};

/// How many polls the longest drop waits for before letting go.
const MOST_POLLS: usize = 12;

/// Polls `future` at most `polls` times (yielding to the runtime in
/// between, so its I/O moves), then drops it.
async fn drop_after(polls: usize, future: impl Future) {
    let mut future = pin!(future);
    for _ in 0..polls {
        let ready =
            std::future::poll_fn(|context| Poll::Ready(future.as_mut().poll(context).is_ready()))
                .await;
        if ready {
            return;
        }
        tokio::task::yield_now().await;
    }
}

fn request(method: Method, path: &str, token: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

/// A co-op of three: Ada delegates everything to Bo, Bo allows
/// everything, and a lab asks.
struct Coop {
    app: TestApp,
    ada: Value,
    bo: Value,
    lab: String,
}

impl Coop {
    async fn new(app: TestApp) -> Self {
        let ada = app.enrol(Some("Ada"), "public").await;
        let bo = app.enrol(Some("Bo"), "public").await;
        let lab = app.third_party("academic").await;
        let (status, _) = app
            .call(
                Method::PATCH,
                "/v1/me",
                Some(token(&bo)),
                Some(json!({"accepts_delegations": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        app.rule(token(&bo), allow_everything()).await;
        Self { app, ada, bo, lab }
    }

    /// Sends `request`, drops it after `polls` polls, and checks that the
    /// decision path still agrees with the database.
    async fn drop_midway(&self, what: &str, polls: usize, request: Request<Body>) {
        drop_after(polls, self.app.router.clone().oneshot(request)).await;
        self.assert_decisions_follow_the_database(what, polls).await;
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, _, body) = self.app.send(request).await;
        (status, body)
    }

    /// Every decision this co-op can be asked, without its instant.
    async fn decisions(&self) -> Vec<Value> {
        let mut all = Vec::new();
        for member in [&self.ada, &self.bo] {
            let mut decision = self
                .app
                .decide(
                    member["id"].as_str().unwrap(),
                    &self.lab,
                    "access",
                    &["health", "location"],
                    "research",
                )
                .await;
            decision.as_object_mut().unwrap().remove("evaluated_at");
            all.push(decision);
        }
        all
    }

    /// The decision path agrees with the database: the facts decisions
    /// read, and every decision, are the same before and after reloading
    /// them from the database.
    async fn assert_decisions_follow_the_database(&self, what: &str, polls: usize) {
        self.app.store.settle().await;
        let store = &self.app.store;
        let members: Vec<MemberId> = [&self.ada, &self.bo]
            .iter()
            .map(|member| MemberId::parse(member["id"].as_str().unwrap()).unwrap())
            .collect();
        let lab = ThirdPartyId::parse(&self.lab).unwrap();
        let owners: Vec<Owner> = members.iter().cloned().map(Owner::Member).collect();
        let read = facts(store.as_ref(), &lab, &members, &owners).await;
        let decided = self.decisions().await;
        // Reloading the mirror reads every fact from the database again.
        store.migrate().await.unwrap();
        let reread = facts(store.as_ref(), &lab, &members, &owners).await;
        assert_eq!(
            read, reread,
            "{what} dropped after {polls} polls: facts drifted"
        );
        assert_eq!(
            decided,
            self.decisions().await,
            "{what} dropped after {polls} polls: decisions drifted"
        );
    }
}

/// What decisions read about these members and this requester.
async fn facts(
    store: &dyn datacoop_broker::store::Store,
    lab: &ThirdPartyId,
    members: &[MemberId],
    owners: &[Owner],
) -> Vec<String> {
    let mut facts = Vec::new();
    for member in members {
        facts.push(format!(
            "{:?}",
            store.decision_facts(Some(lab), Some(member)).await.unwrap()
        ));
    }
    facts.push(format!("{:?}", store.owner_states(owners).await.unwrap()));
    facts
}

fn token(member: &Value) -> &str {
    member["token"].as_str().unwrap()
}

fn allow_everything() -> Value {
    json!({"effect": "allow", "action": "*", "requester": "*", "data_categories": ["*"], "purposes": ["research"]})
}

fn deny_health() -> Value {
    json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["health"], "purposes": ["*"]})
}

async fn every_write_dropped_midway_leaves_decisions_on_the_database(app: TestApp) {
    let coop = Coop::new(app).await;
    let ada = token(&coop.ada).to_owned();
    let bo = token(&coop.bo).to_owned();
    let bo_id = coop.bo["id"].as_str().unwrap().to_owned();
    for polls in 1..=MOST_POLLS {
        // A member's own allow, deleted.
        let rule = coop.app.rule(&ada, allow_everything()).await;
        let path = format!("/v1/me/rules/{}", rule["id"].as_str().unwrap());
        coop.drop_midway(
            "deleting a rule",
            polls,
            request(Method::DELETE, &path, &ada, None),
        )
        .await;
        coop.send(request(Method::DELETE, &path, &ada, None)).await;

        // A member's new deny.
        coop.drop_midway(
            "creating a deny rule",
            polls,
            request(Method::POST, "/v1/me/rules", &ada, Some(deny_health())),
        )
        .await;
        let (_, rules) = coop
            .send(request(Method::GET, "/v1/me/rules", &ada, None))
            .await;
        for rule in rules.as_array().unwrap() {
            let path = format!("/v1/me/rules/{}", rule["id"].as_str().unwrap());
            coop.send(request(Method::DELETE, &path, &ada, None)).await;
        }

        // A delegation, revoked.
        let (status, delegation) = coop
            .send(request(
                Method::POST,
                "/v1/me/delegations",
                &ada,
                Some(json!({"to": {"member": bo_id}})),
            ))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{delegation}");
        let path = format!("/v1/me/delegations/{}", delegation["id"].as_str().unwrap());
        coop.drop_midway(
            "revoking a delegation",
            polls,
            request(Method::DELETE, &path, &ada, None),
        )
        .await;
        coop.send(request(Method::DELETE, &path, &ada, None)).await;

        // The proxy opts out while a delegation stands.
        coop.send(request(
            Method::POST,
            "/v1/me/delegations",
            &ada,
            Some(json!({"to": {"member": bo_id}})),
        ))
        .await;
        coop.drop_midway(
            "opting out of delegations",
            polls,
            request(
                Method::PATCH,
                "/v1/me",
                &bo,
                Some(json!({"accepts_delegations": false})),
            ),
        )
        .await;
        coop.send(request(
            Method::PATCH,
            "/v1/me",
            &bo,
            Some(json!({"accepts_delegations": true})),
        ))
        .await;
        let (_, delegations) = coop
            .send(request(Method::GET, "/v1/me/delegations", &ada, None))
            .await;
        for delegation in delegations.as_array().unwrap() {
            let path = format!("/v1/me/delegations/{}", delegation["id"].as_str().unwrap());
            coop.send(request(Method::DELETE, &path, &ada, None)).await;
        }

        // A co-op deny, for every member.
        coop.drop_midway(
            "creating a co-op rule",
            polls,
            request(Method::POST, "/v1/coop/rules", ADMIN, Some(deny_health())),
        )
        .await;
        let (_, rules) = coop
            .send(request(Method::GET, "/v1/coop/rules", ADMIN, None))
            .await;
        for rule in rules.as_array().unwrap() {
            let path = format!("/v1/coop/rules/{}", rule["id"].as_str().unwrap());
            coop.drop_midway(
                "deleting a co-op rule",
                polls,
                request(Method::DELETE, &path, ADMIN, None),
            )
            .await;
            coop.send(request(Method::DELETE, &path, ADMIN, None)).await;
        }

        // The requester is suspended.
        let path = format!("/v1/third-parties/{}", coop.lab);
        coop.drop_midway(
            "suspending a third party",
            polls,
            request(
                Method::PATCH,
                &path,
                ADMIN,
                Some(json!({"status": "suspended"})),
            ),
        )
        .await;
        coop.send(request(
            Method::PATCH,
            &path,
            ADMIN,
            Some(json!({"status": "active"})),
        ))
        .await;
    }
    // The proxy leaves (once: leaving is for good).
    coop.drop_midway("leaving", 3, request(Method::DELETE, "/v1/me", &bo, None))
        .await;
}

/// Leaving, dropped at every point: afterwards the member is gone from
/// decisions exactly when they are gone from the database, and their
/// delegators fall back to no consent (§3: a delegation to a member who
/// left is inactive).
async fn leaving_dropped_midway_leaves_decisions_on_the_database(app: TestApp) {
    let lab = app.third_party("academic").await;
    for polls in 1..=MOST_POLLS {
        let coop = Coop {
            ada: app.enrol(Some("Ada"), "public").await,
            bo: app.enrol(Some("Bo"), "public").await,
            lab: lab.clone(),
            app: TestApp {
                router: app.router.clone(),
                engine: std::sync::Arc::clone(&app.engine),
                store: std::sync::Arc::clone(&app.store),
                clock: std::sync::Arc::clone(&app.clock),
                database: std::sync::Arc::clone(&app.database),
            },
        };
        let bo = token(&coop.bo).to_owned();
        coop.send(request(
            Method::PATCH,
            "/v1/me",
            &bo,
            Some(json!({"accepts_delegations": true})),
        ))
        .await;
        coop.app.rule(&bo, allow_everything()).await;
        let bo_id = coop.bo["id"].as_str().unwrap();
        coop.send(request(
            Method::POST,
            "/v1/me/delegations",
            token(&coop.ada),
            Some(json!({"to": {"member": bo_id}})),
        ))
        .await;
        coop.drop_midway(
            "leaving",
            polls,
            request(Method::DELETE, "/v1/me", &bo, None),
        )
        .await;
    }
}

on_both_databases!(
    every_write_dropped_midway_leaves_decisions_on_the_database,
    leaving_dropped_midway_leaves_decisions_on_the_database,
);
