//! Building and running the application: open the database, migrate,
//! load the policies, settle the admin token, bind, serve until told to
//! stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::{DatabaseSettings, ServeSettings};
use crate::credentials::{self, ADMIN_TOKEN_PREFIX, SecretVerifier, TokenHash};
use crate::http::{self, AppState, HttpLimits};
use crate::policy::Policies;
use crate::store::{self, Store};

/// The settings key under which the generated admin token's hash lives.
const ADMIN_TOKEN_HASH_KEY: &str = "admin_token_sha256";

/// A bound, ready-to-serve broker.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Arc<dyn Store>,
    /// The withdrawal and delivery workers (issue 10).
    workers: crate::webhook::Workers,
    generated_admin_token: Option<SecretString>,
    /// Set on SIGTERM: `/readyz` answers 503 while the drain lasts.
    draining: Arc<std::sync::atomic::AtomicBool>,
    drain: std::time::Duration,
}

/// The web pages' deployment: public address (default: where the broker
/// listens), session times, and the identity provider if configured.
fn web(
    settings: &crate::config::WebSettings,
    listening: SocketAddr,
) -> anyhow::Result<crate::web::Web> {
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| crate::web::default_public_url(listening));
    if public_url.scheme() == "http" && !public_url.host().is_some_and(is_loopback_host) {
        tracing::warn!(
            public_url = %public_url,
            "DATACOOP_PUBLIC_URL is not https: browsers keep the pages' secure cookies only over https (or on localhost)"
        );
    }
    let oidc = match (
        &settings.oidc_issuer,
        &settings.oidc_client_id,
        &settings.oidc_client_secret,
    ) {
        (Some(issuer), Some(client_id), Some(secret)) => Some(
            crate::web::oidc::Oidc::new(
                issuer,
                client_id.clone(),
                secret.clone(),
                &public_url,
                settings.oidc_scopes.0.clone(),
                settings.oidc_groups_claim.clone(),
                settings.oidc_steward_group.clone(),
            )
            .context("cannot set up the identity provider (DATACOOP_OIDC_ISSUER)")?,
        ),
        _ => None,
    };
    Ok(crate::web::Web::new(
        public_url,
        crate::app::sign_in::SessionTimes {
            idle: settings.session_idle(),
            max: settings.session_max(),
        },
        oidc,
    ))
}

fn is_loopback_host(host: url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl Application {
    /// Opens and migrates the database, loads the policies, settles the
    /// admin token and binds the listener (port 0 picks a free one).
    pub async fn build(settings: ServeSettings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: ServeSettings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let policies = Policies::load(settings.policy_dir.as_deref())
            .context("cannot load the policies (DATACOOP_POLICY_DIR)")?;
        let store = connect(&settings.database, settings.store_limits()).await?;
        if settings.migrate_on_start {
            store
                .migrate()
                .await
                .context("cannot migrate the database")?;
        } else {
            let pending = store
                .pending_migrations()
                .await
                .context("cannot read which migrations the database has")?;
            anyhow::ensure!(
                pending.is_empty(),
                "the database lacks migrations {pending:?} of this binary: run `datacoop migrate` first \
                 (DATACOOP_MIGRATE_ON_START is false)"
            );
        }
        // Everything decisions read, in memory before the first request,
        // loaded while the engine compiles every slice (the database does
        // most of the one, this process the other).
        let loading = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.current().await }
        });
        let admin = settle_admin_token(store.as_ref(), settings.admin_token.as_ref()).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {} (DATACOOP_LISTEN)", settings.listen))?;
        let log = crate::app::audit::LogSigner::load(
            store.as_ref(),
            settings.log_signing_key_file.as_deref(),
            settings.log_origin.as_deref(),
        )
        .await
        .context("cannot set up the log's signing key (DATACOOP_LOG_SIGNING_KEY_FILE, DATACOOP_LOG_ORIGIN)")?;
        let state = AppState::with_log(
            Arc::clone(&store),
            clock,
            policies,
            admin.hash,
            settings.max_delegation_depth,
            log,
        )
        .await
        .context("cannot load the consent policies (DATACOOP_POLICY_DIR)")?
        .with_token_ttl(settings.access_token_ttl())
        .with_dp_budget(settings.dp_budget)
        .with_secret_verifications(
            settings
                .max_secret_verifications
                .unwrap_or_else(SecretVerifier::default_concurrency),
        )
        .with_rate_limits(settings.rate_limits())
        .with_web(web(&settings.web, listener.local_addr()?)?)
        .with_webhooks(http::WebhookPolicy {
            allow_insecure: settings.allow_insecure_webhooks,
            deletion_grace: settings.deletion_grace(),
        });
        loading
            .await
            .context("loading the co-op's consent facts stopped")?
            .context("cannot load the co-op's consent facts")?;
        let workers = crate::webhook::Workers::spawn(
            Arc::clone(&store),
            Arc::clone(&state.engine),
            Arc::clone(&state.clock),
            settings.webhooks(),
        )
        .await
        .context("cannot start the webhook workers")?;
        let limits = HttpLimits {
            max_body_bytes: settings.max_body_bytes,
            request_timeout: settings.request_timeout(),
        };
        let draining = Arc::clone(&state.draining);
        Ok(Self {
            listener,
            router: http::router(state, limits),
            store,
            workers,
            generated_admin_token: admin.generated,
            draining,
            drain: settings.shutdown_drain(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin token generated by this start, if this was the first
    /// start without `DATACOOP_ADMIN_TOKEN`. It exists nowhere else.
    pub fn generated_admin_token(&self) -> Option<&SecretString> {
        self.generated_admin_token.as_ref()
    }

    /// Serves until `shutdown` completes; then `/readyz` answers 503 while
    /// requests are still served for the drain (`DATACOOP_SHUTDOWN_DRAIN_SECS`,
    /// long enough for a load balancer to stop sending any), then no new
    /// connection is accepted, in-flight requests finish and the database
    /// closes. Each request knows its TCP peer (`ConnectInfo`), which the
    /// rate limits key on.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let (draining, drain) = (self.draining, self.drain);
        let drained = async move {
            shutdown.await;
            draining.store(true, std::sync::atomic::Ordering::SeqCst);
            if !drain.is_zero() {
                tracing::info!(
                    seconds = drain.as_secs(),
                    "draining: not ready, still serving"
                );
                tokio::time::sleep(drain).await;
            }
            tracing::info!("finishing in-flight requests");
        };
        axum::serve(self.listener, service)
            .with_graceful_shutdown(drained)
            .await
            .context("the HTTP server failed")?;
        self.workers.stop().await;
        self.store.close().await;
        Ok(())
    }
}

/// Opens the database and applies its pending migrations. On PostgreSQL
/// the migrations run under an advisory lock (sqlx's migrator takes
/// `pg_advisory_lock` on the database's own key), so replicas and the
/// chart's hook starting at once migrate one after another, and the later
/// ones find nothing to do.
async fn open_database(settings: &DatabaseSettings) -> anyhow::Result<Arc<dyn Store>> {
    let store = connect(settings, settings.store_limits()).await?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

async fn connect(
    settings: &DatabaseSettings,
    limits: store::Limits,
) -> anyhow::Result<Arc<dyn Store>> {
    let url = &settings.database_url;
    store::connect_with(url.expose(), limits)
        .await
        .with_context(|| {
            format!(
                "cannot open the {} database (DATACOOP_DATABASE_URL)",
                url.scheme()
            )
        })
}

/// `datacoop migrate`: apply pending migrations and stop.
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let store = open_database(settings).await?;
    store.close().await;
    Ok(())
}

struct AdminToken {
    hash: TokenHash,
    generated: Option<SecretString>,
}

/// `DATACOOP_ADMIN_TOKEN` when set; otherwise the stored hash of the token
/// generated at the first start; otherwise generate one now. Replicas
/// starting together agree: only the one whose insert wins keeps its token.
async fn settle_admin_token(
    store: &dyn Store,
    configured: Option<&SecretString>,
) -> anyhow::Result<AdminToken> {
    if let Some(token) = configured {
        return Ok(AdminToken {
            hash: TokenHash::of(token.expose_secret()),
            generated: None,
        });
    }
    if let Some(stored) = stored_admin_hash(store).await? {
        return Ok(AdminToken {
            hash: stored,
            generated: None,
        });
    }
    let token = credentials::generate_secret(ADMIN_TOKEN_PREFIX)?;
    let hash = TokenHash::of(token.expose_secret());
    let hex = hex_encode(hash.as_bytes());
    if store
        .insert_setting_if_absent(ADMIN_TOKEN_HASH_KEY, &hex)
        .await?
    {
        return Ok(AdminToken {
            hash,
            generated: Some(token),
        });
    }
    // Another replica generated one first.
    let stored = stored_admin_hash(store)
        .await?
        .context("the admin token hash vanished during start-up")?;
    Ok(AdminToken {
        hash: stored,
        generated: None,
    })
}

async fn stored_admin_hash(store: &dyn Store) -> anyhow::Result<Option<TokenHash>> {
    let Some(hex) = store.setting(ADMIN_TOKEN_HASH_KEY).await? else {
        return Ok(None);
    };
    let bytes = hex_decode(&hex).context("the stored admin token hash is corrupt")?;
    TokenHash::from_bytes(&bytes)
        .map(Some)
        .context("the stored admin token hash has the wrong length")
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// `datacoop generate`: write a synthetic co-op and report it.
pub async fn generate(
    settings: &crate::config::GenerateSettings,
) -> anyhow::Result<crate::generate::Report> {
    let store = open_database(&settings.database).await?;
    let policies = Policies::built_in()?;
    let evaluator = crate::consent::Evaluator::new(&policies)?;
    let shape = crate::generate::Shape {
        members: settings.members,
        own_rules: settings.own_rules,
        delegating: settings.delegating,
        on_personas: settings.on_personas,
        hub_delegators: settings.hub_delegators,
        max_depth: settings.max_delegation_depth,
        seed: settings.seed,
        data: settings.data,
    };
    let report =
        crate::generate::generate(&store, &evaluator, &policies.vocabulary, &shape).await?;
    store.close().await;
    Ok(report)
}

/// `datacoop dataset build`: builds a license's dataset in this process,
/// telling `progress` how far it got.
pub async fn build_dataset(
    settings: &crate::config::DatasetBuildSettings,
    progress: &(dyn Fn(crate::dataset::Stage) + Send + Sync),
) -> anyhow::Result<datacoop_wire::Release> {
    let policies = Policies::load(settings.policy_dir.as_deref())
        .context("cannot load the policies (DATACOOP_POLICY_DIR)")?;
    let store = open_database(&settings.database).await?;
    let outcome = async {
        let engine = Arc::new(
            crate::consent::Engine::load(
                Arc::clone(&store),
                &policies,
                settings.max_delegation_depth,
            )
            .await
            .context("cannot load the consent policies")?,
        );
        let builder = crate::dataset::Builder::new(Arc::clone(&store), engine, settings.dp_budget);
        let now = Clock::now(&SystemClock);
        builder
            .build(&settings.license, now, progress)
            .await
            .map_err(anyhow::Error::from)
    }
    .await;
    store.close().await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 127, 128, 255];
        assert_eq!(hex_decode(&hex_encode(&bytes)), Some(bytes.to_vec()));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
    }
}
