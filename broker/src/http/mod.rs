//! The HTTP interface: one module per resource, each with its own
//! `router()`. Handlers parse, call the store or engine, and shape the
//! answer; they hold no SQL and no policy logic.

mod audit;
mod auth;
mod datasets;
mod decisions;
mod delegations;
pub mod error;
mod extract;
mod health;
mod me;
mod members;
mod middleware;
mod oauth;
pub mod openapi;
pub(crate) mod pagination;
mod personas;
pub mod ratelimit;
mod receipt;
mod rules;
pub(crate) mod service;
mod sign_in;
mod third_parties;
mod vocabulary;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::clock::Clock;
use crate::consent::{Engine, EngineError};
use crate::credentials::{SecretVerifier, TokenHash};
use crate::policy::Policies;
use crate::store::Store;

pub use error::ApiError;
pub use ratelimit::{RateLimitSettings, RateLimits};

/// Everything a request may need, shared by all handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub policies: Arc<Policies>,
    /// Hash of the one admin token in force.
    pub admin_token: Arc<TokenHash>,
    pub metrics: PrometheusHandle,
    /// The consent engine, with every owner's rules compiled.
    pub engine: Arc<Engine>,
    /// How long an OAuth2 access token lives.
    pub token_ttl: Duration,
    /// Bounds the client-secret verifications running at once.
    pub secret_verifier: Arc<SecretVerifier>,
    /// Token requests and failed authentications, per address and client.
    pub rate_limits: Arc<RateLimits>,
    /// Signs the verifiable log's checkpoints.
    pub log: Arc<crate::app::audit::LogSigner>,
    /// Which webhook URLs are accepted, and when a deletion receipt is
    /// overdue.
    pub webhooks: WebhookPolicy,
    /// `DATACOOP_DP_BUDGET`: the epsilon each dataset may spend in all.
    pub dp_budget: f64,
    /// Set once shutdown began: `/readyz` answers 503 while requests are
    /// still served (`DATACOOP_SHUTDOWN_DRAIN_SECS`).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// The web pages' deployment: public address, sessions, identity
    /// provider.
    pub web: Arc<crate::web::Web>,
    vocabulary_document: Arc<datacoop_wire::Vocabulary>,
}

impl AppState {
    /// Builds the state with the log's signing key kept in the database
    /// and the default origin; loading the consent engine compiles every
    /// stored rule.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policies: Policies,
        admin_token: TokenHash,
        max_delegation_depth: usize,
    ) -> Result<Self, StateError> {
        let log = crate::app::audit::LogSigner::load(store.as_ref(), None, None).await?;
        Self::with_log(
            store,
            clock,
            policies,
            admin_token,
            max_delegation_depth,
            log,
        )
        .await
    }

    /// Builds the state with `log` signing the log's checkpoints.
    pub async fn with_log(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policies: Policies,
        admin_token: TokenHash,
        max_delegation_depth: usize,
        log: crate::app::audit::LogSigner,
    ) -> Result<Self, StateError> {
        let engine =
            Arc::new(Engine::load(Arc::clone(&store), &policies, max_delegation_depth).await?);
        let vocabulary_document = Arc::new(vocabulary::document(&policies.vocabulary));
        Ok(Self {
            store,
            clock,
            policies: Arc::new(policies),
            admin_token: Arc::new(admin_token),
            metrics: crate::telemetry::prometheus(),
            engine,
            token_ttl: DEFAULT_TOKEN_TTL,
            secret_verifier: Arc::new(SecretVerifier::default()),
            rate_limits: Arc::new(RateLimits::default()),
            log: Arc::new(log),
            webhooks: WebhookPolicy::default(),
            dp_budget: DEFAULT_DP_BUDGET,
            draining: Arc::default(),
            web: Arc::default(),
            vocabulary_document,
        })
    }
}

/// Why the application state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Log(#[from] crate::app::audit::KeyError),
}

/// Each dataset's privacy budget unless `DATACOOP_DP_BUDGET` says
/// otherwise: ten builds at epsilon 1.
pub const DEFAULT_DP_BUDGET: f64 = 10.0;

/// The default lifetime of an access token: 15 minutes.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

impl AppState {
    /// The same state with each dataset's privacy budget `budget`.
    pub fn with_dp_budget(self, budget: f64) -> Self {
        Self {
            dp_budget: budget,
            ..self
        }
    }

    /// The same state with access tokens living `ttl`.
    pub fn with_token_ttl(self, ttl: Duration) -> Self {
        Self {
            token_ttl: ttl,
            ..self
        }
    }

    /// The same state with at most `concurrency` client secrets verified
    /// at once.
    pub fn with_secret_verifications(self, concurrency: std::num::NonZeroUsize) -> Self {
        Self {
            secret_verifier: Arc::new(SecretVerifier::new(concurrency)),
            ..self
        }
    }

    /// The same state with this webhook policy.
    pub fn with_webhooks(self, webhooks: WebhookPolicy) -> Self {
        Self { webhooks, ..self }
    }

    /// The same state with the web pages deployed so.
    pub fn with_web(self, web: crate::web::Web) -> Self {
        Self {
            web: Arc::new(web),
            ..self
        }
    }

    /// The same state with these rate limits.
    pub fn with_rate_limits(self, settings: RateLimitSettings) -> Self {
        Self {
            rate_limits: Arc::new(RateLimits::new(settings)),
            ..self
        }
    }
}

/// What the HTTP layer needs to know of webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// `http` to loopback hosts accepted (`DATACOOP_ALLOW_INSECURE_WEBHOOKS`).
    pub allow_insecure: bool,
    /// How long a third party has to confirm a deletion.
    pub deletion_grace: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self {
            allow_insecure: false,
            deletion_grace: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The whole application, ready to serve or to drive with `oneshot`.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    router_with(state, limits, Router::new())
}

/// The application with `extra` routes mounted under the same middleware.
/// Only the benchmark harness uses it, to measure the stack's ceiling; the
/// shipped binary serves `router`.
pub fn router_with(state: AppState, limits: HttpLimits, extra: Router<AppState>) -> Router {
    let routes = Router::new()
        .merge(extra)
        .merge(health::router())
        .merge(openapi::router())
        .merge(vocabulary::router())
        .merge(members::router())
        .merge(third_parties::router())
        .merge(me::router())
        .merge(rules::router())
        .merge(personas::router())
        .merge(decisions::router())
        .merge(oauth::router(limits.max_body_bytes))
        .merge(service::router())
        .merge(delegations::router())
        .merge(sign_in::router())
        .merge(audit::router())
        .merge(webhooks::router())
        .merge(datasets::router())
        .merge(crate::web::router())
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes));
    middleware::wrap(routes, limits).with_state(state)
}
