//! All SQL lives here. One `Store` trait, one implementation per database
//! (STYLE rule 17): `SqliteStore` for the embedded default and `PgStore`
//! for production. Both are written once, by `sql_store!`, over one SQL
//! text (`sql.rs`; the few dialect differences are in `dialect.rs`), so
//! their behaviour cannot drift apart; the storage suite in `broker/tests`
//! runs every method against both.
//!
//! Every consent or membership change commits through one seam,
//! `Store::apply`: it runs to completion in a task of its own, so a
//! request dropped mid-write (the client hangs up, the timeout fires)
//! cannot leave the database and what decisions read apart.

#[macro_use]
mod dialect;
mod cache;
mod group;
mod mirror;
pub use mirror::ConsentChanges;
mod rows;
mod sql;
#[macro_use]
mod sql_store;
pub mod postgres;
pub mod sqlite;
pub mod web;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::credentials::TokenHash;
use crate::domain::rule::{Owner, Rule};
use crate::domain::{
    Delegation, DelegationId, EventId, Member, MemberId, MemberPatch, Persona, RequesterClass,
    RuleId, ThirdParty, ThirdPartyId, ThirdPartyStatus,
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
    /// A per-member limit (`Limits`) would be exceeded; nothing changed.
    #[error("{what}: at most {limit}")]
    OverLimit { what: &'static str, limit: u64 },
    /// The member a write is for has left the co-op; nothing changed.
    #[error("the member has left the co-op")]
    MemberGone,
    /// This replica could not read the change feed, so it cannot tell
    /// whether what it holds is current.
    #[error("this replica cannot tell whether it is current: the change feed could not be read")]
    Stale,
    /// The task running a write stopped before it could say how it ended.
    #[error("a database write was interrupted")]
    Interrupted,
    /// A change's log entry could not be written; nothing changed.
    #[error(transparent)]
    Log(#[from] crate::audit::entry::EntryError),
}

impl StoreError {
    /// The database could not be reached or did not answer in time (not a
    /// refusal of the query): 503, try again.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(error) => {
                matches!(
                    error,
                    sqlx::Error::Io(_)
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::Protocol(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ) || matches!(error, sqlx::Error::Database(db)
                // PostgreSQL's class 57 (operator intervention: shutting
                // down, cannot connect now) and 08 (connection exception).
                if db.code().is_some_and(|code| code.starts_with("57") || code.starts_with("08")))
            }
            Self::Stale => true,
            _ => false,
        }
    }

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

    /// Makes sure what decisions read in memory shows every change
    /// acknowledged so far, by any replica: on PostgreSQL, reads the change
    /// feed's head and applies what this replica has not seen (loading
    /// everything the first time); an error means this replica cannot tell
    /// whether it is current.
    async fn current(&self) -> StoreResult<()>;

    /// The migrations this binary carries that the database lacks.
    async fn pending_migrations(&self) -> StoreResult<Vec<i64>>;

    /// Succeeds when the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Waits for the writes under way (their requests may be gone), then
    /// closes every connection; for shutdown.
    async fn close(&self);

    /// Waits until every write under way, including those whose request
    /// was dropped, has committed or failed and reached the decision path.
    async fn settle(&self);

    /// Commits one consent or membership change with everything that must
    /// accompany it (the owners' policy versions; the in-memory facts of
    /// decisions), in one transaction, to completion whether or not the
    /// caller is still waiting: the one seam every such change goes
    /// through.
    async fn apply(&self, change: Change) -> StoreResult<Committed>;

    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;

    /// Stores `value` under `key` unless the key is taken; true when this
    /// call stored it. Safe against concurrent callers on every replica.
    async fn insert_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<bool>;

    /// A member who has not left.
    async fn member(&self, id: &MemberId) -> StoreResult<Option<Member>>;

    /// The member who holds this token, unless they have left.
    async fn member_by_token(&self, token: &TokenHash) -> StoreResult<Option<Member>>;

    /// Members who have not left, in creation order, after `after`.
    async fn list_members(&self, after: Option<Seq>, limit: u32)
    -> StoreResult<Vec<(Seq, Member)>>;

    async fn third_party(&self, id: &ThirdPartyId) -> StoreResult<Option<ThirdParty>>;

    async fn list_third_parties(
        &self,
        after: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<(Seq, ThirdParty)>>;

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

    /// Every persona, in creation order.
    async fn personas(&self) -> StoreResult<Vec<Persona>>;

    /// A member's delegations in creation order.
    async fn delegations_of(&self, member: &MemberId) -> StoreResult<Vec<Delegation>>;

    /// Every delegation, for compiling at start.
    async fn all_delegations(&self) -> StoreResult<Vec<Delegation>>;

    /// How many members (still in the co-op) delegate to `proxy`.
    async fn count_delegators(&self, proxy: &Owner) -> StoreResult<u64>;

    /// The members in the public registry (still in the co-op) who
    /// delegate to `proxy`, in enrolment order, after `after`.
    async fn public_delegators(
        &self,
        proxy: &Owner,
        after: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<(Seq, MemberId)>>;

    /// For each owner, in order: its policy version and whether it can act
    /// as a proxy now (a persona that exists; a member still in the co-op
    /// who accepts delegations).
    async fn owner_states(&self, owners: &[Owner]) -> StoreResult<Vec<OwnerState>>;

    /// `owner_states` as of the last `decision_facts`, `consent_changes`
    /// or `current` (on PostgreSQL those read the change feed; this reads
    /// nothing more): a decision's walk reads its proxies here, so a
    /// decision costs one query however long its chain.
    async fn known_owner_states(&self, owners: &[Owner]) -> StoreResult<Vec<OwnerState>>;

    /// A dataset by id.
    async fn dataset(&self, id: &str) -> StoreResult<Option<crate::domain::dataset::Dataset>>;

    /// Datasets in creation order, after `after`.
    async fn list_datasets(
        &self,
        after: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<(Seq, crate::domain::dataset::Dataset)>>;

    /// A license by id.
    async fn license(&self, id: &str) -> StoreResult<Option<crate::domain::dataset::License>>;

    /// Licenses in creation order, after `after`.
    async fn list_licenses(
        &self,
        after: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<(Seq, crate::domain::dataset::License)>>;

    /// A license's latest build.
    async fn latest_build(&self, license: &str) -> StoreResult<Option<StoredBuild>>;

    /// `(members.seq, member id, category, JSON value)` of the listed
    /// members still in the co-op, for the listed categories.
    async fn dataset_values(
        &self,
        categories: &[crate::domain::TermId],
        members: &[MemberId],
    ) -> StoreResult<Vec<(i64, String, String, String)>>;

    /// Every build that counted `member`, newest first.
    async fn builds_of(&self, member: &MemberId) -> StoreResult<Vec<CountedIn>>;

    /// Whether `Change::DatasetChores` at `now` would find work (a read).
    async fn dataset_chores_due(&self, now: DateTime<Utc>) -> StoreResult<bool>;

    /// The owners whose consent facts changed after generation `since`
    /// (`None`: this store keeps no such journal, as on PostgreSQL, where
    /// replicas write behind each other's backs).
    async fn consent_changes(&self, since: u64) -> StoreResult<Option<ConsentChanges>>;

    /// The rules and the delegations of each listed member, in creation
    /// order: what compiling their slices reads, in a few queries.
    async fn rules_and_delegations_of(
        &self,
        members: &[MemberId],
    ) -> StoreResult<(Vec<Rule>, Vec<Delegation>)>;

    /// Every member in the co-op who ever had a rule or a delegation, with
    /// their policy version: the only members an `aggregate` cohort can
    /// count (a member with none is silent: `no_consent`).
    async fn cohort_candidates(&self) -> StoreResult<Vec<Candidate>>;

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

    /// Stores (or replaces) a member's value for one category; refused
    /// with `OverLimit` when the member's values would exceed
    /// `Limits::data_bytes_per_member` together.
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

    /// A sign-in link's member (none: a steward's) and end, if stored.
    async fn sign_in_link(
        &self,
        token: &TokenHash,
    ) -> StoreResult<Option<(Option<MemberId>, DateTime<Utc>)>>;

    /// A web session, if it has not been ended (it may have expired).
    async fn web_session(&self, id: &TokenHash) -> StoreResult<Option<web::WebSession>>;

    /// An OpenID Connect sign-in under way, if not ended.
    async fn oidc_flow(&self, id: &TokenHash) -> StoreResult<Option<web::OidcFlow>>;

    /// The member (still in the co-op) an identity-provider account is
    /// linked to.
    async fn member_by_identity(&self, identity: &web::Identity) -> StoreResult<Option<MemberId>>;

    /// The member (still in the co-op) a third party's subject stands for.
    async fn member_by_subject(
        &self,
        third_party: &ThirdPartyId,
        subject: &str,
    ) -> StoreResult<Option<MemberId>>;

    /// A member's access log, newest first, before position `before`.
    async fn access_log(
        &self,
        member: &MemberId,
        before: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<(Seq, AccessRecord)>>;

    /// Writes a whole generated co-op at once (the synthetic co-op
    /// generator), in one transaction, in large batches.
    async fn bulk_load(&self, bulk: Bulk) -> StoreResult<()>;

    /// How many entries the verifiable log holds.
    async fn log_size(&self) -> StoreResult<u64>;

    /// The type and exact bytes of log entry `index`, if there is one.
    async fn log_entry(&self, index: u64) -> StoreResult<Option<(String, Vec<u8>)>>;

    /// The log tree's stored hashes at `indexes` (those there are).
    async fn log_hashes(
        &self,
        indexes: &[u64],
    ) -> StoreResult<std::collections::HashMap<u64, crate::audit::tree::Hash>>;

    /// Up to `limit` entries from index `from` on, `(index, bytes)`, in
    /// order.
    async fn log_entries(&self, from: u64, limit: u32) -> StoreResult<Vec<(u64, Vec<u8>)>>;

    /// The latest signed checkpoint: its tree size and its note.
    async fn signed_checkpoint(&self) -> StoreResult<Option<(u64, String)>>;

    /// Stores `note` (of tree size `size`) as the latest signed checkpoint
    /// if the latest is still the one of size `previous` (none when
    /// `None`); false when another signer moved it first.
    async fn advance_checkpoint(
        &self,
        previous: Option<u64>,
        size: u64,
        note: &str,
    ) -> StoreResult<bool>;

    /// Up to `limit` entries about `member` after index `after`, oldest
    /// first.
    async fn log_about(
        &self,
        member: &MemberId,
        after: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<LoggedEntry>>;

    /// Returns once a batch of changes has committed since the last call
    /// returned (in this process): what wakes the withdrawal worker.
    async fn next_commit(&self);

    /// Folds up to `limit` calls of `access_log` not folded yet into
    /// `recipients` (what each third party received), through `apply` (so
    /// on SQLite it never contends with a batch for the file's write
    /// lock), unless there is nothing new; says how many it read. Safe on
    /// every replica at once (the fold's row is locked).
    async fn fold_recipients(&self, limit: u32) -> StoreResult<u64>;

    /// Adds a recheck for every owner one of whose rules started or
    /// expired after the last sweep and by `now`, and moves the sweep to
    /// `now`, through `apply`; says how many owners it found.
    async fn sweep_rule_instants(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// At start, forgets the leases no live worker can hold: on SQLite
    /// every lease (one process serves the file), on PostgreSQL those of
    /// rechecks (working one through twice is harmless; an event's lease
    /// may be another replica's, sending it now).
    async fn release_leases(&self) -> StoreResult<()>;

    /// Up to `limit` rechecks nobody else is working on, leased until
    /// `lease_until`, oldest first.
    async fn claim_rechecks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(Seq, Owner)>>;

    /// The active recipients of every member whose decisions `owner`'s
    /// rules, delegations or standing reach (the owner itself, and every
    /// member whose delegation chain reaches it; the co-op: everyone).
    async fn recipients_reached_by(&self, owner: &Owner) -> StoreResult<Vec<Recipient>>;

    /// Up to `limit` active recipients made active by a call since they
    /// were last decided.
    async fn unchecked_recipients(&self, limit: u32) -> StoreResult<Vec<Recipient>>;

    /// Up to `limit` pending events due at `now` that no worker holds,
    /// leased until `lease_until`, with where each goes.
    async fn claim_events(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Outgoing>>;

    /// Records how delivery attempts ended, `(event seq, attempt)`, in one
    /// transaction.
    async fn record_attempts(
        &self,
        attempts: &[(Seq, Attempt)],
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Events in creation order after `after` (newest first when
    /// `filter` is a member's), as the stewards and members follow them.
    async fn events(
        &self,
        filter: &EventFilter,
        after: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<(Seq, EventRecord)>>;

    /// The outbox's depth and the creation instant of its oldest pending
    /// event.
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;
}

/// A consent or membership change: what `Store::apply` commits.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new member and their first token.
    Enrol {
        member: Member,
        token: TokenHash,
    },
    /// A member's profile; `Missing` when they are not in the co-op.
    UpdateMember {
        id: MemberId,
        patch: MemberPatch,
    },
    /// The member leaves: marked as gone, name erased, tokens, data,
    /// connections, own rules and delegations deleted; `Missing` when no
    /// such member is in the co-op.
    Leave {
        member: MemberId,
        at: DateTime<Utc>,
    },
    ApproveThirdParty {
        third_party: ThirdParty,
        secret_hash: String,
        /// The signing secret of its webhook endpoint, when it has one.
        webhook_secret: Option<String>,
    },
    /// `Missing` when no such third party.
    SetThirdPartyStatus {
        id: ThirdPartyId,
        status: ThirdPartyStatus,
        at: DateTime<Utc>,
    },
    /// A new client secret hash; every access token issued dies.
    RotateSecret {
        id: ThirdPartyId,
        secret_hash: String,
        at: DateTime<Utc>,
    },
    /// Rules of one owner; `OverLimit` past `Limits::rules_per_owner`.
    AddRules {
        owner: Owner,
        rules: Vec<Rule>,
    },
    /// `Missing` when `owner` has no such rule.
    DeleteRule {
        owner: Owner,
        id: RuleId,
    },
    PublishPersona {
        persona: Persona,
        rules: Vec<Rule>,
    },
    /// A delegation (its `seq` is assigned here); an identical scope of
    /// the same member is a `Conflict`; `OverLimit` past
    /// `Limits::delegations_per_member`.
    Delegate {
        delegation: Delegation,
    },
    /// `Missing` when the member has no such delegation.
    Revoke {
        member: MemberId,
        id: DelegationId,
    },
    /// A third party's access to a member's data, decided.
    Access(AccessRecord),
    /// A third party's call about a subject that stands for no member of
    /// the co-op, recorded at the same cost as an `Access`.
    UnmatchedAccess(UnmatchedAccess),
    /// The member ends a third party's pairwise subject: every category
    /// it received is withdrawn. `Missing` when they are not connected.
    Disconnect {
        member: MemberId,
        third_party: ThirdPartyId,
        at: DateTime<Utc>,
    },
    /// Sets (or, with `None`, removes) a third party's webhook endpoint,
    /// enabling it again; `secret` becomes its signing secret when
    /// `replace_secret` or when it has none. `Missing` when no such third
    /// party.
    SetWebhook {
        id: ThirdPartyId,
        url: Option<String>,
        secret: String,
        replace_secret: bool,
        at: DateTime<Utc>,
    },
    /// What the withdrawal worker found: the rechecks it worked through,
    /// the recipients whose decision turned to deny (each becomes a
    /// `consent.withdrawn` event), and those it decided again and found
    /// still allowed.
    Withdraw {
        rechecks: Vec<Seq>,
        withdrawals: Vec<Withdrawal>,
        still_allowed: Vec<Recipient>,
    },
    /// Folds up to `limit` calls not folded yet into `recipients`
    /// (`Applied::Count`: how many it read).
    Fold {
        limit: u32,
    },
    /// Adds a recheck for every owner one of whose rules started or
    /// expired after the last sweep and by `now`, and moves the sweep
    /// there (`Applied::Count`: how many owners).
    Sweep {
        now: DateTime<Utc>,
    },
    /// The web pages' sign-in: links, flows, identities, sessions.
    Web(web::WebChange),
    /// A dataset definition (issue 11).
    CreateDataset {
        dataset: crate::domain::dataset::Dataset,
    },
    /// A license of a dataset to a third party.
    CreateLicense {
        license: crate::domain::dataset::License,
    },
    /// Revokes an active license and announces it to the licensee
    /// (`license.revoked`); `Missing` when no such active license.
    RevokeLicense {
        id: String,
        at: DateTime<Utc>,
    },
    /// Spends `micros` millionths of epsilon from a dataset's ledger for a
    /// build; `Missing` (nothing spent) when it would pass `budget_micros`.
    SpendBudget {
        dataset: String,
        license: String,
        build: String,
        micros: i64,
        budget_micros: i64,
    },
    /// A build: its rows, manifest and members, and its log entry.
    RecordBuild(Box<NewBuild>),
    /// Announces licenses whose window ended (`license.expired`) and
    /// deletes the rows of builds whose data life passed, as of `now`
    /// (`Applied::Count`: how many of both).
    DatasetChores {
        now: DateTime<Utc>,
    },
    /// A third party confirms that it deleted what its event withdrew;
    /// `Missing` when the event is not one of its own.
    ConfirmDeletion {
        third_party: ThirdPartyId,
        event: EventId,
        at: DateTime<Utc>,
    },
}

/// A build as stored: its manifest (JSON, without its log index) and its
/// published rows (JSON; `None` once its data life passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBuild {
    pub id: String,
    pub license: String,
    pub built_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub manifest: String,
    pub published: Option<String>,
    pub log_index: Option<u64>,
}

/// A build to record: what it published, whom it counted, and the
/// figures its log entry keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBuild {
    pub id: String,
    pub license: String,
    pub dataset: String,
    pub licensee: ThirdPartyId,
    pub built_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub manifest: String,
    pub published: String,
    pub members: Vec<MemberId>,
    pub cohort_root: String,
    pub cohort_size: i64,
    pub suppressed_cells: u64,
    pub epsilon_micros: i64,
}

/// A build that counted a member, as the member's listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedIn {
    pub build: String,
    pub dataset: String,
    pub dataset_name: String,
    /// The dataset's stored definition (JSON).
    pub definition: String,
    pub licensee: String,
    pub built_at: DateTime<Utc>,
    pub log_index: Option<u64>,
}

/// A log entry as a member's listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEntry {
    pub index: u64,
    pub kind: String,
    pub at: DateTime<Utc>,
}

/// How a change ended, and the index of its log entry when it wrote one
/// (its receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub applied: Applied,
    pub log_index: Option<u64>,
}

impl Committed {
    fn map<T>(self, value: impl FnOnce(Applied) -> T) -> Logged<T> {
        Logged {
            value: value(self.applied),
            log_index: self.log_index,
        }
    }
}

/// What a write returns, with the index of its log entry: `None` when the
/// write changed nothing the log records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged<T> {
    pub value: T,
    pub log_index: Option<u64>,
}

/// How a change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// What the change was about does not exist; nothing changed.
    Missing,
    Member(Member),
    ThirdParty(ThirdParty),
    Delegation(Delegation),
    /// A third party's webhook endpoint as set, with the signing secret in
    /// force (none once removed).
    Webhook {
        third_party: ThirdParty,
        secret: Option<String>,
    },
    /// How many things a housekeeping change handled.
    Count(u64),
    /// A deletion receipt, confirmed at this instant (now or earlier).
    Confirmed {
        at: DateTime<Utc>,
        /// False when it had been confirmed before: nothing changed.
        now: bool,
    },
}

/// What one member (or owner) may hold at most, so no one can grow the
/// database or a decision's cost without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rules of one owner: a member, a persona or the co-op.
    pub rules_per_owner: u64,
    pub delegations_per_member: u64,
    /// The member's stored values together, serialized.
    pub data_bytes_per_member: u64,
    /// Connections one process keeps to PostgreSQL (or reads SQLite on,
    /// beside its one writer).
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing (503).
    pub acquire_timeout: std::time::Duration,
}

/// The default of `DATACOOP_DATABASE_MAX_CONNECTIONS`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

impl Default for Limits {
    fn default() -> Self {
        Self {
            rules_per_owner: 1_000,
            delegations_per_member: 100,
            data_bytes_per_member: 1024 * 1024,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// The typed face of `Store::apply`, one method per change. Each answers
/// with the index of the change's log entry (its receipt) beside what
/// it returns.
impl dyn Store + '_ {
    /// Appends one access decision to the member's access log (and the
    /// verifiable log).
    pub async fn log_access(&self, entry: &AccessRecord) -> StoreResult<Logged<()>> {
        self.done(Change::Access(entry.clone())).await
    }

    /// Records a third party's call about a subject that stands for no
    /// member of the co-op, at the same cost as `log_access`.
    pub async fn log_unmatched_access(&self, entry: &UnmatchedAccess) -> StoreResult<Logged<()>> {
        self.done(Change::UnmatchedAccess(entry.clone())).await
    }

    async fn done(&self, change: Change) -> StoreResult<Logged<()>> {
        Ok(self.apply(change).await?.map(drop))
    }

    /// True when the change found what it was about.
    async fn found(&self, change: Change) -> StoreResult<Logged<bool>> {
        Ok(self
            .apply(change)
            .await?
            .map(|applied| applied == Applied::Done))
    }

    /// A write of the web pages' sign-in; false when what it was about
    /// was not there (a link used or expired, a session already ended).
    pub async fn web(&self, change: web::WebChange) -> StoreResult<bool> {
        Ok(self.found(Change::Web(change)).await?.value)
    }

    /// Stores a new member and their first token together.
    pub async fn create_member(
        &self,
        member: &Member,
        token: &TokenHash,
    ) -> StoreResult<Logged<()>> {
        self.done(Change::Enrol {
            member: member.clone(),
            token: token.clone(),
        })
        .await
    }

    /// Applies `patch`; `None` when the member does not exist or has left.
    pub async fn update_member(
        &self,
        id: &MemberId,
        patch: &MemberPatch,
    ) -> StoreResult<Logged<Option<Member>>> {
        Ok(self
            .apply(Change::UpdateMember {
                id: id.clone(),
                patch: patch.clone(),
            })
            .await?
            .map(|applied| match applied {
                Applied::Member(member) => Some(member),
                _ => None,
            }))
    }

    /// The member leaves; false when no such member is in the co-op.
    pub async fn leave(&self, member: &MemberId, at: DateTime<Utc>) -> StoreResult<Logged<bool>> {
        self.found(Change::Leave {
            member: member.clone(),
            at,
        })
        .await
    }

    pub async fn create_third_party(
        &self,
        third_party: &ThirdParty,
        secret_hash: &str,
    ) -> StoreResult<Logged<()>> {
        self.approve_third_party(third_party, secret_hash, None)
            .await
    }

    /// Approves a third party, with its webhook endpoint's signing secret
    /// when it has an endpoint.
    pub async fn approve_third_party(
        &self,
        third_party: &ThirdParty,
        secret_hash: &str,
        webhook_secret: Option<&str>,
    ) -> StoreResult<Logged<()>> {
        self.done(Change::ApproveThirdParty {
            third_party: third_party.clone(),
            secret_hash: secret_hash.to_owned(),
            webhook_secret: webhook_secret.map(str::to_owned),
        })
        .await
    }

    /// Sets (or with `None` removes) a third party's webhook endpoint.
    /// `secret` becomes its signing secret when `replace_secret` is true
    /// or it has none yet; the answer carries the secret in force when it
    /// is `secret` (new), so that it can be shown once.
    pub async fn set_webhook(
        &self,
        id: &ThirdPartyId,
        url: Option<&str>,
        secret: &str,
        replace_secret: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<Logged<Option<(ThirdParty, Option<String>)>>> {
        let committed = self
            .apply(Change::SetWebhook {
                id: id.clone(),
                url: url.map(str::to_owned),
                secret: secret.to_owned(),
                replace_secret,
                at,
            })
            .await?;
        Ok(committed.map(|applied| match applied {
            Applied::Webhook {
                third_party,
                secret: in_force,
            } => Some((third_party, in_force.filter(|in_force| in_force == secret))),
            _ => None,
        }))
    }

    /// The member ends a third party's subject; false when not connected.
    pub async fn disconnect(
        &self,
        member: &MemberId,
        third_party: &ThirdPartyId,
        at: DateTime<Utc>,
    ) -> StoreResult<Logged<bool>> {
        self.found(Change::Disconnect {
            member: member.clone(),
            third_party: third_party.clone(),
            at,
        })
        .await
    }

    /// A third party's deletion receipt: when it was confirmed and whether
    /// by this call; `None` when the event is not the third party's.
    pub async fn confirm_deletion(
        &self,
        third_party: &ThirdPartyId,
        event: &EventId,
        at: DateTime<Utc>,
    ) -> StoreResult<Logged<Option<(DateTime<Utc>, bool)>>> {
        Ok(self
            .apply(Change::ConfirmDeletion {
                third_party: third_party.clone(),
                event: event.clone(),
                at,
            })
            .await?
            .map(|applied| match applied {
                Applied::Confirmed { at, now } => Some((at, now)),
                _ => None,
            }))
    }

    pub async fn set_third_party_status(
        &self,
        id: &ThirdPartyId,
        status: ThirdPartyStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<Logged<Option<ThirdParty>>> {
        self.third_party_change(Change::SetThirdPartyStatus {
            id: id.clone(),
            status,
            at,
        })
        .await
    }

    /// Replaces a third party's client secret hash and revokes its access
    /// tokens; `None` when no such third party.
    pub async fn rotate_secret(
        &self,
        id: &ThirdPartyId,
        secret_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Logged<Option<ThirdParty>>> {
        self.third_party_change(Change::RotateSecret {
            id: id.clone(),
            secret_hash: secret_hash.to_owned(),
            at,
        })
        .await
    }

    async fn third_party_change(&self, change: Change) -> StoreResult<Logged<Option<ThirdParty>>> {
        Ok(self.apply(change).await?.map(|applied| match applied {
            Applied::ThirdParty(third_party) => Some(third_party),
            _ => None,
        }))
    }

    /// Stores rules of one owner.
    pub async fn create_rules(&self, owner: &Owner, rules: &[Rule]) -> StoreResult<Logged<()>> {
        self.done(Change::AddRules {
            owner: owner.clone(),
            rules: rules.to_vec(),
        })
        .await
    }

    /// Deletes one of `owner`'s rules; false when `owner` has no such rule.
    pub async fn delete_rule(&self, owner: &Owner, id: &RuleId) -> StoreResult<Logged<bool>> {
        self.found(Change::DeleteRule {
            owner: owner.clone(),
            id: id.clone(),
        })
        .await
    }

    /// Stores a persona with its rules.
    pub async fn create_persona(
        &self,
        persona: &Persona,
        rules: &[Rule],
    ) -> StoreResult<Logged<()>> {
        self.done(Change::PublishPersona {
            persona: persona.clone(),
            rules: rules.to_vec(),
        })
        .await
    }

    /// Stores a delegation, its `seq` assigned.
    pub async fn create_delegation(
        &self,
        delegation: &Delegation,
    ) -> StoreResult<Logged<Delegation>> {
        let committed = self
            .apply(Change::Delegate {
                delegation: delegation.clone(),
            })
            .await?;
        match committed.applied {
            Applied::Delegation(stored) => Ok(Logged {
                value: stored,
                log_index: committed.log_index,
            }),
            other => Err(StoreError::Corrupt(format!(
                "a new delegation was answered {other:?}"
            ))),
        }
    }

    /// Deletes one of `member`'s delegations; false when none such.
    pub async fn delete_delegation(
        &self,
        member: &MemberId,
        id: &DelegationId,
    ) -> StoreResult<Logged<bool>> {
        self.found(Change::Revoke {
            member: member.clone(),
            id: id.clone(),
        })
        .await
    }
}

/// A third party's call about a subject that stands for no member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedAccess {
    pub third_party: ThirdPartyId,
    pub subject: String,
    pub purpose: String,
    pub action: datacoop_wire::Action,
    pub decision: datacoop_wire::Verdict,
    pub categories: Vec<CategoryVerdict>,
    pub at: DateTime<Utc>,
}

/// One category's outcome, as the access log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryVerdict {
    pub category: String,
    pub verdict: datacoop_wire::Verdict,
    pub reason: datacoop_wire::Reason,
}

/// One access decision, as the log keeps it: ids and outcomes, no data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    pub member: MemberId,
    pub third_party: ThirdPartyId,
    pub purpose: String,
    pub action: datacoop_wire::Action,
    pub decision: datacoop_wire::Verdict,
    pub categories: Vec<CategoryVerdict>,
    pub at: DateTime<Utc>,
}

/// One (member, third party, purpose, category) a third party received
/// in an allowed call and has not been told to delete since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub member: MemberId,
    pub third_party: ThirdPartyId,
    /// The member's subject for the third party (none once disconnected).
    pub subject: Option<String>,
    pub purpose: String,
    pub category: String,
    /// The `access_log` position of the latest allowed call that gave it.
    pub received_through: Seq,
}

/// Groups recipients into withdrawals, one per (member, third party,
/// purpose), in the order first seen; those without a subject (no
/// connection left to address them by) are left out.
pub fn withdrawals(recipients: impl IntoIterator<Item = Recipient>) -> Vec<Withdrawal> {
    let mut grouped: Vec<Withdrawal> = Vec::new();
    let mut at: std::collections::HashMap<(MemberId, ThirdPartyId, String), usize> =
        std::collections::HashMap::new();
    for recipient in recipients {
        let Some(subject) = recipient.subject else {
            continue;
        };
        let key = (
            recipient.member.clone(),
            recipient.third_party.clone(),
            recipient.purpose.clone(),
        );
        let category = (recipient.category, recipient.received_through);
        match at.get(&key).and_then(|index| grouped.get_mut(*index)) {
            Some(withdrawal) => withdrawal.categories.push(category),
            None => {
                at.insert(key, grouped.len());
                grouped.push(Withdrawal {
                    member: recipient.member,
                    third_party: recipient.third_party,
                    subject,
                    purpose: recipient.purpose,
                    categories: vec![category],
                });
            }
        }
    }
    grouped
}

/// Categories one recipient must now delete: a `consent.withdrawn` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub member: MemberId,
    pub third_party: ThirdPartyId,
    pub subject: String,
    pub purpose: String,
    /// Each category with the latest call that gave it (what the
    /// withdrawal covers: a later call makes it a recipient again).
    pub categories: Vec<(String, Seq)>,
}

/// What staging a change produced beyond its own rows: log entries known
/// only once staged, and withdrawals to announce.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    pub entries: Vec<crate::audit::entry::Entry>,
    pub withdrawals: Vec<Withdrawal>,
    /// License events to put in the outbox, each with the position (among
    /// the change's entries) of the entry that announces it.
    pub license_events: Vec<LicenseEvent>,
    /// The build a `RecordBuild` wrote: its entry's index is set on it.
    pub build: Option<String>,
}

/// A `license.revoked` or `license.expired` event for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LicenseEvent {
    pub kind: datacoop_wire::EventType,
    pub license: String,
    pub dataset: String,
    pub licensee: String,
    /// Position of its entry among the change's entries.
    pub entry: usize,
}

/// An event due for delivery, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub seq: Seq,
    pub id: EventId,
    pub third_party: ThirdPartyId,
    /// The exact payload to sign and send.
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    /// `(url, secret)`; none when the third party has no endpoint or its
    /// endpoint answered 410.
    pub endpoint: Option<(String, String)>,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Not delivered; tried again at `next`. `counted` is false when no
    /// request was made (no endpoint to send to).
    Retry {
        next: DateTime<Utc>,
        error: String,
        counted: bool,
    },
    /// The endpoint answered 410 Gone: it is disabled until a new URL is
    /// set, and the event waits for one until `next`.
    Gone {
        next: DateTime<Utc>,
    },
    /// Given up: the delivery horizon has passed.
    Failed {
        error: String,
    },
}

/// Which events a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// Those about a member, newest first.
    Member(MemberId),
    /// Those in a delivery state, oldest first.
    State(datacoop_wire::DeliveryState),
    /// Those whose deletion is still unconfirmed, recorded before the
    /// instant, oldest first.
    UnconfirmedBefore(DateTime<Utc>),
    /// Every event, oldest first.
    All,
}

/// One event as the stewards and its member follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: EventId,
    pub kind: datacoop_wire::EventType,
    pub third_party: ThirdPartyId,
    pub member: MemberId,
    pub purpose: String,
    pub categories: Vec<String>,
    pub state: datacoop_wire::DeliveryState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub deletion_confirmed_at: Option<DateTime<Utc>>,
    pub log_index: u64,
}

/// The outbox at a glance, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Events not delivered yet (and not given up).
    pub pending: u64,
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// A generated co-op, ready to write.
#[derive(Debug, Default, Clone)]
pub struct Bulk {
    pub members: Vec<Member>,
    pub third_parties: Vec<(ThirdParty, String)>,
    pub personas: Vec<Persona>,
    pub rules: Vec<Rule>,
    pub delegations: Vec<Delegation>,
    pub versions: Vec<(Owner, i64)>,
    /// Members' stored values: (member, category, JSON text).
    pub data: Vec<(MemberId, String, String)>,
}

/// Rows per multi-row insert: under SQLite's 32,766 bound parameters.
pub(crate) const BULK_ROWS: usize = 2000;

/// A member an `aggregate` cohort may count: in the co-op, with a policy
/// version above 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: MemberId,
    pub version: i64,
    /// Whether they accept delegations (can be a proxy, §3).
    pub accepts_delegations: bool,
}

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

/// Opens the database a URL names, creating an SQLite file if missing,
/// with the default `Limits`. Does not migrate.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    connect_with(url, Limits::default()).await
}

/// Opens the database a URL names, enforcing `limits`. Does not migrate.
pub async fn connect_with(url: &str, limits: Limits) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, limits).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url, limits, true).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// Opens a PostgreSQL database like `connect_with`, but without the task
/// that applies the change feed as soon as another replica announces a
/// commit: every decision then catches up by itself, in its one query.
/// Tests use it to show that correctness never depends on that task.
pub async fn connect_postgres_without_listener(
    url: &str,
    limits: Limits,
) -> StoreResult<Arc<dyn Store>> {
    Ok(Arc::new(PgStore::connect(url, limits, false).await?))
}
