//! A broker application driven in-process, on SQLite or PostgreSQL.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, Utc};
use datacoop_broker::clock::{Clock, ManualClock};
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::http::{self, AppState, HttpLimits};
use datacoop_broker::policy::Policies;
use datacoop_broker::store::{self, Store};
use datacoop_tests::TestPostgres;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

pub const ADMIN: &str = "admin-token-for-router-tests-0123456789";

/// Keeps a test's database alive while the test runs.
#[derive(Debug)]
pub enum Database {
    Sqlite(TempDir),
    Postgres(TestPostgres),
}

impl Database {
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("broker.db").display()),
            Self::Postgres(database) => database.url().to_owned(),
        }
    }

    pub fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    pub async fn postgres() -> Option<Self> {
        TestPostgres::create().await.map(Self::Postgres)
    }
}

pub fn start_of_test() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub struct TestApp {
    pub router: axum::Router,
    pub engine: Arc<datacoop_broker::consent::Engine>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub database: Arc<Database>,
}

impl TestApp {
    pub async fn sqlite() -> Self {
        Self::on(Arc::new(Database::sqlite()), HttpLimits::default()).await
    }

    pub async fn sqlite_with_limits(limits: HttpLimits) -> Self {
        Self::on(Arc::new(Database::sqlite()), limits).await
    }

    pub async fn postgres() -> Option<Self> {
        Some(Self::on(Arc::new(Database::postgres().await?), HttpLimits::default()).await)
    }

    /// Another application on the same database: a second replica.
    pub async fn replica(&self) -> Self {
        let replica = Self::on(Arc::clone(&self.database), HttpLimits::default()).await;
        replica.clock.set(self.clock.now());
        replica
    }

    /// A second replica on the same PostgreSQL database whose store has no
    /// listener keeping its mirror warm: each of its decisions must catch
    /// up with the change feed by itself.
    pub async fn replica_without_listener(&self) -> Self {
        let store = store::connect_postgres_without_listener(
            &self.database.url(),
            store::Limits::default(),
        )
        .await
        .unwrap();
        let replica = Self::on_store(
            Arc::clone(&self.database),
            HttpLimits::default(),
            store,
            |state| state,
        )
        .await;
        replica.clock.set(self.clock.now());
        replica
    }

    pub async fn on(database: Arc<Database>, limits: HttpLimits) -> Self {
        Self::with_store_limits(database, limits, store::Limits::default()).await
    }

    /// An application whose store enforces `store_limits`.
    pub async fn with_store_limits(
        database: Arc<Database>,
        limits: HttpLimits,
        store_limits: store::Limits,
    ) -> Self {
        Self::configured(database, limits, store_limits, |state| state).await
    }

    /// An application whose state `configure` adjusts (token lifetime,
    /// rate limits…) before the router is built.
    pub async fn configured(
        database: Arc<Database>,
        limits: HttpLimits,
        store_limits: store::Limits,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> Self {
        let store = store::connect_with(&database.url(), store_limits)
            .await
            .unwrap();
        Self::on_store(database, limits, store, configure).await
    }

    async fn on_store(
        database: Arc<Database>,
        limits: HttpLimits,
        store: Arc<dyn Store>,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> Self {
        store.migrate().await.unwrap();
        // As `datacoop serve` does: what decisions read, loaded first.
        store.current().await.unwrap();
        let clock = Arc::new(ManualClock::new(start_of_test()));
        let state = AppState::new(
            Arc::clone(&store),
            Arc::clone(&clock) as _,
            Policies::built_in().unwrap(),
            TokenHash::of(ADMIN),
            datacoop_broker::consent::DEFAULT_MAX_DELEGATION_DEPTH,
        )
        .await
        .unwrap();
        let state = configure(state);
        Self {
            engine: Arc::clone(&state.engine),
            router: http::router(state, limits),
            store,
            clock,
            database,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, headers, body)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let (status, _, body) = self.send(request).await;
        (status, body)
    }

    /// Enrols a member; the answer holds `id` and `token`.
    pub async fn enrol(&self, name: Option<&str>, registry: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/members",
                Some(ADMIN),
                Some(json!({"display_name": name, "registry": registry})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Approves a third party of `class`; returns its id.
    pub async fn third_party(&self, class: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/third-parties",
                Some(ADMIN),
                Some(json!({"name": format!("A {class} body"), "class": class})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/decisions` for one request.
    pub async fn decide(
        &self,
        member: &str,
        requester: &str,
        action: &str,
        categories: &[&str],
        purpose: &str,
    ) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/decisions",
                Some(ADMIN),
                Some(json!({"member": member, "requester": requester, "action": action, "data_categories": categories, "purpose": purpose})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Adds a rule for the member holding `token` (or the co-op, with the
    /// admin token); returns the rule.
    pub async fn rule(&self, token: &str, rule: Value) -> Value {
        let path = if token == ADMIN {
            "/v1/coop/rules"
        } else {
            "/v1/me/rules"
        };
        let (status, body) = self.call(Method::POST, path, Some(token), Some(rule)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        without_receipt(body)
    }
}

/// A write's answer without its `log_index` (which it must carry), to
/// compare with the same resource read back (which carries none).
pub fn without_receipt(mut body: Value) -> Value {
    let index = body
        .as_object_mut()
        .and_then(|object| object.remove("log_index"));
    assert!(
        index.as_ref().is_some_and(Value::is_u64),
        "a write answers its log index: {body}"
    );
    body
}
