//! The production database: PostgreSQL, shared by every replica.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, migrate::Migrator};

use super::{Backend, StoreResult};

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("datacoop");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(Some(Duration::from_secs(600)))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

mod sql {
    macro_rules! member_columns {
        () => {
            "seq, id, display_name, registry, accepts_delegations, created_at"
        };
    }
    macro_rules! third_party_columns {
        () => {
            "seq, id, name, class, status, webhook_url, client_id, created_at, updated_at"
        };
    }

    pub const SELECT_SETTING: &str = "SELECT value FROM settings WHERE key = $1";
    pub const INSERT_SETTING_IF_ABSENT: &str =
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

    pub const INSERT_MEMBER: &str = "INSERT INTO members \
        (id, display_name, registry, accepts_delegations, created_at) VALUES ($1, $2, $3, $4, $5)";
    pub const INSERT_MEMBER_TOKEN: &str =
        "INSERT INTO member_tokens (token_hash, member_id, created_at) VALUES ($1, $2, $3)";
    pub const SELECT_MEMBER: &str = concat!(
        "SELECT ",
        member_columns!(),
        " FROM members WHERE id = $1 AND left_at IS NULL"
    );
    pub const SELECT_MEMBER_BY_TOKEN: &str = "SELECT m.seq, m.id, m.display_name, m.registry, \
        m.accepts_delegations, m.created_at FROM member_tokens t JOIN members m ON m.id = t.member_id \
        WHERE t.token_hash = $1 AND m.left_at IS NULL";
    pub const LIST_MEMBERS: &str = concat!(
        "SELECT ",
        member_columns!(),
        " FROM members WHERE seq > $1 AND left_at IS NULL ORDER BY seq LIMIT $2"
    );
    pub const UPDATE_MEMBER: &str = concat!(
        "UPDATE members SET \
         display_name = CASE WHEN $1 THEN $2 ELSE display_name END, \
         registry = COALESCE($3, registry), \
         accepts_delegations = COALESCE($4, accepts_delegations) \
         WHERE id = $5 AND left_at IS NULL RETURNING ",
        member_columns!()
    );

    pub const INSERT_THIRD_PARTY: &str = "INSERT INTO third_parties \
        (id, name, class, status, webhook_url, client_id, client_secret_hash, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    pub const SELECT_THIRD_PARTY: &str = concat!(
        "SELECT ",
        third_party_columns!(),
        " FROM third_parties WHERE id = $1"
    );
    pub const LIST_THIRD_PARTIES: &str = concat!(
        "SELECT ",
        third_party_columns!(),
        " FROM third_parties WHERE seq > $1 ORDER BY seq LIMIT $2"
    );
    pub const UPDATE_THIRD_PARTY_STATUS: &str = concat!(
        "UPDATE third_parties SET status = $1, updated_at = $2 WHERE id = $3 RETURNING ",
        third_party_columns!()
    );
}

sql_store!(PgStore, Backend::Postgres, sql, MIGRATOR);
