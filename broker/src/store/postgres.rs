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
    /// Always `None`: replicas write behind each other's backs, so every
    /// decision reads the database.
    mirror: Option<std::sync::Arc<Mirror>>,
    limits: Limits,
    /// The writes under way, each in a task of its own.
    writes: tokio_util::task::TaskTracker,
    /// Changes waiting to commit together.
    group: std::sync::Arc<super::group::GroupCommit>,
}

impl PgStore {
    pub async fn connect(url: &str, limits: Limits) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("datacoop");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(Some(Duration::from_secs(600)))
            .connect_with(options)
            .await?;
        Ok(Self {
            writer: pool.clone(),
            pool,
            mirror: None,
            limits,
            writes: tokio_util::task::TaskTracker::new(),
            group: std::sync::Arc::default(),
        })
    }
}

sql_store!(PgStore, sqlx::Postgres, postgres, MIGRATOR);
