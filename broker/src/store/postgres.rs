//! The production database: PostgreSQL, shared by every replica.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, migrate::Migrator};

use super::Limits;
use super::dialect::postgres;
use super::mirror::Mirror;

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Where batches of changes commit: the same pool (PostgreSQL takes
    /// many writers at once).
    writer: PgPool,
    /// Replicated: fed from the change feed, read by a decision only after
    /// it read the feed's head (`sync_feed`), so replicas writing behind
    /// each other's backs are seen at once.
    mirror: Option<std::sync::Arc<Mirror>>,
    limits: Limits,
    /// The writes under way, each in a task of its own.
    writes: tokio_util::task::TaskTracker,
    /// Changes waiting to commit together.
    group: std::sync::Arc<super::group::GroupCommit>,
}

impl PgStore {
    /// Opens the pool; with `listen`, a task keeps the mirror warm
    /// (`listen`), which `datacoop serve` always wants. Without it every
    /// decision catches up by itself: what tests use to show correctness
    /// never depends on the listener.
    pub async fn connect(url: &str, limits: Limits, listen: bool) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("datacoop");
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(limits.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(600)))
            .connect_with(options)
            .await?;
        let store = Self {
            writer: pool.clone(),
            pool,
            mirror: Some(std::sync::Arc::new(Mirror::replicated())),
            limits,
            writes: tokio_util::task::TaskTracker::new(),
            group: std::sync::Arc::default(),
        };
        if listen {
            tokio::spawn(store.clone().listen());
        }
        Ok(store)
    }

    /// Keeps the mirror warm: applies the change feed as soon as another
    /// replica's commit is announced (`LISTEN`), so a decision usually
    /// finds nothing to apply. Correctness never depends on it: every
    /// decision reads the feed's head itself. Ends when the pool closes.
    async fn listen(self) {
        const RETRY: Duration = Duration::from_secs(1);
        let mut listener: Option<sqlx::postgres::PgListener> = None;
        while !self.pool.is_closed() {
            let Some(current) = listener.as_mut() else {
                // A connection of its own, outside the pool (which
                // `PgListener::connect_with` would take one from for good).
                let own = PgPoolOptions::new()
                    .max_connections(1)
                    .max_lifetime(None)
                    .idle_timeout(None)
                    .connect_lazy_with((*self.pool.connect_options()).clone());
                match sqlx::postgres::PgListener::connect_with(&own).await {
                    Ok(mut fresh) => match fresh.listen(super::dialect::FEED_CHANNEL).await {
                        Ok(()) => listener = Some(fresh),
                        Err(error) => {
                            tracing::debug!(%error, "cannot listen for the change feed");
                            tokio::time::sleep(RETRY).await;
                        }
                    },
                    Err(error) => {
                        tracing::debug!(%error, "cannot connect to listen for the change feed");
                        tokio::time::sleep(RETRY).await;
                    }
                }
                continue;
            };
            match tokio::time::timeout(RETRY, current.try_recv()).await {
                // Timed out: look whether the pool closed meanwhile.
                Err(_) => continue,
                Ok(Ok(Some(_))) => {}
                // The connection was lost: notifications may have been
                // missed, so catch up once it is back.
                Ok(Ok(None)) => {}
                Ok(Err(error)) => {
                    tracing::debug!(%error, "the change feed's listener failed");
                    listener = None;
                    tokio::time::sleep(RETRY).await;
                }
            }
            if self.mirror.as_deref().and_then(Mirror::position).is_some()
                && let Err(error) = self.sync_feed().await
            {
                tracing::debug!(%error, "cannot apply the change feed");
            }
        }
    }
}

sql_store!(PgStore, sqlx::Postgres, postgres, MIGRATOR);
