//! All SQL lives here. One `Store` trait, one implementation per database
//! (STYLE rule 17): `SqliteStore` for the embedded default and `PgStore`
//! for production. Both are written once, by `sql_store!`, over their own
//! SQL text, so their behaviour cannot drift apart; the storage suite in
//! `broker/tests` runs against both.

mod mirror;
mod rows;
#[macro_use]
mod sql_store;
pub mod postgres;
pub mod sqlite;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::credentials::TokenHash;
use crate::domain::rule::{Owner, Rule};
use crate::domain::{
    Delegation, DelegationId, Member, MemberId, MemberPatch, Persona, RequesterClass, RuleId,
    ThirdParty, ThirdPartyId, ThirdPartyStatus,
};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// What went wrong in the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already holds this value.
    #[error("conflicts with an existing record")]
    Conflict,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value that the schema should have prevented.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database URL: expected `sqlite://…` or `postgres://…`")]
    UnsupportedUrl,
    /// Another process holds the SQLite database.
    #[error(
        "the database `{0}` is in use by another datacoop process (only one may serve an SQLite file; run replicas on PostgreSQL)"
    )]
    InUse(String),
    #[error("cannot lock the database file `{path}`: {source}")]
    Lock {
        path: String,
        source: std::io::Error,
    },
}

impl StoreError {
    /// Maps unique-key violations to `Conflict`, the one place that does.
    pub(crate) fn from_write(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            _ => Self::Database(error),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A position in a list ordered by creation, for cursor pagination.
pub type Seq = i64;

#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// Applies the migrations this binary carries that the database lacks.
    async fn migrate(&self) -> StoreResult<()>;

    /// Succeeds when the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Closes every connection; for shutdown.
    async fn close(&self);

    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;

    /// Stores `value` under `key` unless the key is taken; true when this
    /// call stored it. Safe against concurrent callers on every replica.
    async fn insert_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<bool>;

    /// Stores a new member and their first token together.
    async fn create_member(&self, member: &Member, token: &TokenHash) -> StoreResult<()>;

    /// A member who has not left.
    async fn member(&self, id: &MemberId) -> StoreResult<Option<Member>>;

    /// The member who holds this token, unless they have left.
    async fn member_by_token(&self, token: &TokenHash) -> StoreResult<Option<Member>>;

    /// Members who have not left, in creation order, after `after`.
    async fn list_members(&self, after: Option<Seq>, limit: u32)
    -> StoreResult<Vec<(Seq, Member)>>;

    /// Applies `patch`; `None` when the member does not exist or has left.
    async fn update_member(
        &self,
        id: &MemberId,
        patch: &MemberPatch,
    ) -> StoreResult<Option<Member>>;

    async fn create_third_party(
        &self,
        third_party: &ThirdParty,
        secret_hash: &str,
    ) -> StoreResult<()>;

    async fn third_party(&self, id: &ThirdPartyId) -> StoreResult<Option<ThirdParty>>;

    async fn list_third_parties(
        &self,
        after: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<(Seq, ThirdParty)>>;

    async fn set_third_party_status(
        &self,
        id: &ThirdPartyId,
        status: ThirdPartyStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ThirdParty>>;

    /// Stores rules of one owner and bumps that owner's policy version,
    /// in one transaction.
    async fn create_rules(&self, owner: &Owner, rules: &[Rule]) -> StoreResult<()>;

    /// Deletes one of `owner`'s rules and bumps the version; false when
    /// `owner` has no such rule.
    async fn delete_rule(&self, owner: &Owner, id: &RuleId) -> StoreResult<bool>;

    /// An owner's rules in creation order.
    async fn rules_of(&self, owner: &Owner) -> StoreResult<Vec<Rule>>;

    /// Every rule, for compiling at start.
    async fn all_rules(&self) -> StoreResult<Vec<Rule>>;

    /// Every owner's policy version, for compiling at start.
    async fn all_policy_versions(&self) -> StoreResult<Vec<(Owner, i64)>>;

    /// The requester, the member and the policy versions a decision needs.
    async fn decision_facts(
        &self,
        requester: Option<&ThirdPartyId>,
        member: Option<&MemberId>,
    ) -> StoreResult<DecisionFacts>;

    /// Stores a persona with its rules, in one transaction.
    async fn create_persona(&self, persona: &Persona, rules: &[Rule]) -> StoreResult<()>;

    /// Every persona, in creation order.
    async fn personas(&self) -> StoreResult<Vec<Persona>>;

    /// Stores a delegation (its `seq` is assigned here) and bumps the
    /// member's policy version, in one transaction. A second delegation of
    /// the member with an identical scope is a `Conflict`.
    async fn create_delegation(&self, delegation: &Delegation) -> StoreResult<Delegation>;

    /// Deletes one of `member`'s delegations and bumps the version; false
    /// when the member has no such delegation.
    async fn delete_delegation(&self, member: &MemberId, id: &DelegationId) -> StoreResult<bool>;

    /// A member's delegations in creation order.
    async fn delegations_of(&self, member: &MemberId) -> StoreResult<Vec<Delegation>>;

    /// Every delegation, for compiling at start.
    async fn all_delegations(&self) -> StoreResult<Vec<Delegation>>;

    /// The members (still in the co-op) who delegate to `proxy`: how many,
    /// and the ids of those in the public registry.
    async fn delegators(&self, proxy: &Owner) -> StoreResult<(u64, Vec<MemberId>)>;

    /// For each owner, in order: its policy version and whether it can act
    /// as a proxy now (a persona that exists; a member still in the co-op
    /// who accepts delegations).
    async fn owner_states(&self, owners: &[Owner]) -> StoreResult<Vec<OwnerState>>;

    /// The third party holding an OAuth2 client id, with its secret's hash.
    async fn client(&self, client_id: &str) -> StoreResult<Option<(ThirdParty, String)>>;

    /// Stores an access token's hash until `expires_at`, and forgets the
    /// tokens that have expired by `now`.
    async fn issue_access_token(
        &self,
        token: &TokenHash,
        third_party: &ThirdPartyId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// The third party holding a live access token at `now`, whatever its
    /// status (the caller refuses suspended ones).
    async fn third_party_by_token(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ThirdParty>>;

    /// Replaces a third party's client secret hash and revokes its access
    /// tokens, in one transaction; `None` when no such third party.
    async fn rotate_secret(
        &self,
        id: &ThirdPartyId,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ThirdParty>>;

    /// Stores (or replaces) a member's value for one category.
    async fn put_data(
        &self,
        member: &MemberId,
        category: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// A member's stored values, `(category, JSON text)`, by category.
    async fn data_of(&self, member: &MemberId) -> StoreResult<Vec<(String, String)>>;

    /// The member's subject for a third party: the one it has, or
    /// `subject` stored now. Safe against concurrent callers.
    async fn connect(
        &self,
        member: &MemberId,
        third_party: &ThirdPartyId,
        subject: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<String>;

    /// A member's connections: `(third party id, subject)`, oldest first.
    async fn connections_of(&self, member: &MemberId) -> StoreResult<Vec<(String, String)>>;

    /// The member (still in the co-op) a third party's subject stands for.
    async fn member_by_subject(
        &self,
        third_party: &ThirdPartyId,
        subject: &str,
    ) -> StoreResult<Option<MemberId>>;

    /// Appends one access decision to the member's log.
    async fn log_access(&self, entry: &AccessRecord) -> StoreResult<()>;

    /// A member's access log, newest first, before position `before`.
    async fn access_log(
        &self,
        member: &MemberId,
        before: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<(Seq, AccessRecord)>>;

    /// Writes a whole generated co-op at once (the synthetic co-op
    /// generator), in one transaction, in large batches.
    async fn bulk_load(&self, bulk: &Bulk) -> StoreResult<()>;

    /// The member leaves: marked as gone, name erased, tokens deleted, own
    /// rules and delegations deleted, policy version bumped; in one
    /// transaction. False when no such member is in the co-op.
    async fn leave(&self, member: &MemberId, now: DateTime<Utc>) -> StoreResult<bool>;
}

/// One access decision, as the log keeps it: ids and outcomes, no data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    pub member: MemberId,
    pub third_party: ThirdPartyId,
    pub purpose: String,
    pub action: datacoop_wire::Action,
    pub decision: datacoop_wire::Verdict,
    pub categories: Vec<datacoop_wire::LoggedCategory>,
    pub at: DateTime<Utc>,
}

/// A generated co-op, ready to write.
#[derive(Debug, Default)]
pub struct Bulk {
    pub members: Vec<Member>,
    pub third_parties: Vec<(ThirdParty, String)>,
    pub personas: Vec<Persona>,
    pub rules: Vec<Rule>,
    pub delegations: Vec<Delegation>,
    pub versions: Vec<(Owner, i64)>,
}

/// Rows per multi-row insert: under SQLite's 32,766 bound parameters.
pub(crate) const BULK_ROWS: usize = 2000;

/// What a delegation chain needs to know of an owner it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerState {
    pub version: i64,
    pub can_proxy: bool,
}

/// What one decision needs to read, in one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionFacts {
    /// The requester's class and status, when it exists.
    pub requester: Option<(RequesterClass, ThirdPartyStatus)>,
    /// The member exists and has not left.
    pub member_active: bool,
    pub coop_version: i64,
    pub member_version: i64,
}

/// Opens the database a URL names, creating an SQLite file if missing.
/// Does not migrate.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}
