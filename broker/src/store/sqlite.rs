//! The embedded default: one SQLite file, WAL, foreign keys on, a busy
//! timeout, `secure_delete` so erased data does not linger in the file,
//! `synchronous = FULL` so an acknowledged write survives power loss, and
//! reads through `mmap` (up to 256 MiB of the file; fewer system calls).
//!
//! One process serves a file: it holds an exclusive lock on `FILE.lock`
//! for as long as the store lives, which lets decisions read the
//! in-memory `Mirror` instead of the database.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlitePool, migrate::Migrator};

use super::Limits;
use super::dialect::sqlite;
use super::mirror::Mirror;

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a writer waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Where batches of changes commit: a connection of their own, so a
    /// commit never waits behind reads for a connection of `pool` (SQLite
    /// takes one writer at a time; reads go on beside it, WAL).
    writer: SqlitePool,
    mirror: Option<Arc<Mirror>>,
    limits: Limits,
    /// The writes under way, each in a task of its own.
    writes: tokio_util::task::TaskTracker,
    /// Changes waiting to commit together.
    group: Arc<super::group::GroupCommit>,
    /// Held, never read: the lock lasts as long as the file handle.
    _lock: Option<Arc<File>>,
}

impl SqliteStore {
    /// Opens (and creates if missing) the database at `url`.
    pub async fn connect(url: &str, limits: Limits) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("secure_delete", "ON")
            .pragma("mmap_size", "268435456");
        // An in-memory database lives in one connection: keep exactly one.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let lock = if in_memory {
            None
        } else {
            Some(Arc::new(lock(options.get_filename())?))
        };
        let pool_options = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { limits.max_connections })
            .acquire_timeout(limits.acquire_timeout)
            .min_connections(u32::from(in_memory))
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if in_memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            });
        let pool = pool_options.clone().connect_with(options.clone()).await?;
        // An in-memory database is one connection: it is the writer too.
        let writer = if in_memory {
            pool.clone()
        } else {
            pool_options
                .max_connections(1)
                .min_connections(1)
                .connect_with(options)
                .await?
        };
        Ok(Self {
            writer,
            pool,
            mirror: Some(Arc::new(Mirror::default())),
            limits,
            writes: tokio_util::task::TaskTracker::new(),
            group: Arc::default(),
            _lock: lock,
        })
    }
}

/// Takes the exclusive lock that makes this process the file's only user.
fn lock(database: &Path) -> StoreResult<File> {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    let path = Path::new(&name);
    let shown = database.display().to_string();
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Lock {
            path: shown.clone(),
            source,
        })?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| StoreError::Lock {
            path: shown.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::InUse(shown)),
        Err(TryLockError::Error(source)) => Err(StoreError::Lock {
            path: shown,
            source,
        }),
    }
}

sql_store!(SqliteStore, sqlx::Sqlite, sqlite, MIGRATOR);
