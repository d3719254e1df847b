//! What the storage suite (`storage.rs`) runs on: a fresh database of
//! either kind, stores opened on it with chosen `Limits`, and builders of
//! the domain values the cases store. Every instant is a whole number of
//! microseconds, the finest both databases keep.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use chrono::{DateTime, Utc};
use datacoop_broker::consent::cedar::{delegation_text, rule_text};
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::domain::rule::{Effect, Owner, Requester, RuleAction};
use datacoop_broker::domain::{
    Delegation, DelegationId, DisplayName, Member, MemberId, Persona, PersonaDescription,
    PersonaId, PersonaName, Registry, RequesterClass, Rule, RuleId, RuleSpec, Scope, TermId,
    ThirdParty, ThirdPartyId, ThirdPartyName, ThirdPartyStatus,
};
use datacoop_broker::store::{self, AccessRecord, CategoryVerdict, Limits, Store};
use datacoop_tests::TestPostgres;
use datacoop_wire::{Action, Reason, Verdict};
use tempfile::TempDir;

/// A fresh database for one case, dropped with it.
pub struct Db {
    url: String,
    _guard: Guard,
}

/// Keeps the database alive for the length of a test.
#[expect(dead_code, reason = "held only for its Drop")]
enum Guard {
    Sqlite(TempDir),
    Postgres(TestPostgres),
}

impl Db {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            url: format!("sqlite://{}", dir.path().join("store.db").display()),
            _guard: Guard::Sqlite(dir),
        }
    }

    /// Whether this is an SQLite database (whose store keeps a mirror).
    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite")
    }

    /// `None` when no PostgreSQL server is configured.
    pub async fn postgres() -> Option<Self> {
        let database = TestPostgres::create().await?;
        Some(Self {
            url: database.url().to_owned(),
            _guard: Guard::Postgres(database),
        })
    }

    /// A migrated store on this database. On SQLite only one may be open
    /// at a time (the file's lock).
    pub async fn open(&self, limits: Limits) -> Arc<dyn Store> {
        let store = store::connect_with(&self.url, limits).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// Counts what `statement` (one `$1`) finds, read past the store: for
    /// what the `Store` trait has no reader of (an erased name, the log
    /// of unmatched calls).
    pub async fn count(&self, statement: &'static str, bind: &str) -> i64 {
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let count = sqlx::query_scalar(statement)
                .bind(bind)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            count
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let count = sqlx::query_scalar(statement)
                .bind(bind)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            count
        }
    }
}

/// Polls `future` once, so a write it starts is under way, then drops it:
/// a caller that hung up.
pub async fn start_and_drop(future: impl Future) {
    let mut future = pin!(future);
    std::future::poll_fn(|context| {
        let _ = future.as_mut().poll(context);
        Poll::Ready(())
    })
    .await;
}

/// An instant `seconds` after a fixed origin, with microseconds.
pub fn instant(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + seconds, 123_456_000).unwrap()
}

pub fn member(name: Option<&str>, registry: Registry, seconds: i64) -> Member {
    Member {
        id: MemberId::generate(),
        display_name: name.map(|name| DisplayName::parse(name).unwrap()),
        registry,
        accepts_delegations: false,
        created_at: instant(seconds),
    }
}

/// The token `enrol` gives a member.
pub fn token_of(member: &MemberId) -> TokenHash {
    TokenHash::of(&format!("dcm_{member}"))
}

/// Enrols a new member with a token of their own (`token_of`).
pub async fn enrol(
    store: &Arc<dyn Store>,
    name: Option<&str>,
    registry: Registry,
    seconds: i64,
) -> Member {
    let created = member(name, registry, seconds);
    store
        .create_member(&created, &token_of(&created.id))
        .await
        .unwrap();
    created
}

/// Enrols a member who accepts delegations.
pub async fn enrol_proxy(store: &Arc<dyn Store>, seconds: i64) -> Member {
    let proxy = Member {
        accepts_delegations: true,
        ..member(Some("Proxy"), Registry::Public, seconds)
    };
    store
        .create_member(&proxy, &token_of(&proxy.id))
        .await
        .unwrap();
    proxy
}

pub fn third_party(client_id: &str) -> ThirdParty {
    ThirdParty {
        id: ThirdPartyId::generate(),
        name: ThirdPartyName::parse("Sleep Lab").unwrap(),
        class: RequesterClass::PublicBody,
        status: ThirdPartyStatus::Active,
        webhook_url: Some("https://lab.example.org/hook".into()),
        client_id: client_id.into(),
        created_at: instant(0),
        updated_at: instant(0),
    }
}

/// Approves a third party with a client id of its own.
pub async fn approve(store: &Arc<dyn Store>, class: RequesterClass) -> ThirdParty {
    let id = ThirdPartyId::generate();
    let approved = ThirdParty {
        class,
        client_id: format!("dcc_{id}"),
        id,
        ..third_party("")
    };
    store
        .create_third_party(&approved, "$argon2id$first")
        .await
        .unwrap();
    approved
}

pub fn terms(ids: &[&str]) -> Vec<TermId> {
    ids.iter().map(|id| TermId::parse(id).unwrap()).collect()
}

/// An allow (deny for the co-op) of `categories` for `purposes` to anyone.
pub fn spec(owner: &Owner, categories: &[&str], purposes: &[&str]) -> RuleSpec {
    RuleSpec {
        effect: if matches!(owner, Owner::Coop) {
            Effect::Deny
        } else {
            Effect::Allow
        },
        action: RuleAction::Access,
        requester: Requester::Any,
        data_categories: terms(categories),
        purposes: terms(purposes),
        not_before: None,
        expires_at: None,
    }
}

/// A rule of `owner` with its Cedar text, as the broker stores it.
pub fn rule_with(owner: &Owner, spec: RuleSpec, seconds: i64) -> Rule {
    let id = RuleId::generate();
    Rule {
        cedar: rule_text(&id, &spec),
        id,
        owner: owner.clone(),
        spec,
        created_at: instant(seconds),
    }
}

/// A plain rule of `owner` about health for research.
pub fn rule(owner: &Owner, seconds: i64) -> Rule {
    rule_with(owner, spec(owner, &["health"], &["research"]), seconds)
}

pub fn persona(name: &str, seconds: i64) -> Persona {
    Persona {
        id: PersonaId::generate(),
        name: PersonaName::parse(name).unwrap(),
        description: PersonaDescription::parse("Shares health data for research.").unwrap(),
        created_at: instant(seconds),
    }
}

/// A delegation of `member`'s decisions over a scope to `proxy`, its
/// `seq` yet to be assigned.
pub fn delegation(
    member: &MemberId,
    proxy: &Owner,
    categories: &[&str],
    purposes: &[&str],
    seconds: i64,
) -> Delegation {
    let mut delegation = Delegation {
        id: DelegationId::generate(),
        member: member.clone(),
        proxy: proxy.clone(),
        scope: Scope {
            data_categories: terms(categories),
            purposes: terms(purposes),
        },
        seq: 0,
        created_at: instant(seconds),
        cedar: String::new(),
    };
    delegation.cedar = delegation_text(&delegation);
    delegation
}

/// One access decision about `member`, as the log keeps it.
pub fn access(
    member: &MemberId,
    third_party: &ThirdPartyId,
    purpose: &str,
    seconds: i64,
) -> AccessRecord {
    AccessRecord {
        member: member.clone(),
        third_party: third_party.clone(),
        purpose: purpose.to_owned(),
        action: Action::Access,
        decision: Verdict::Deny,
        categories: vec![
            CategoryVerdict {
                category: "health.heart".into(),
                verdict: Verdict::Allow,
                reason: Reason::Allowed,
            },
            CategoryVerdict {
                category: "location".into(),
                verdict: Verdict::Deny,
                reason: Reason::NoConsent,
            },
        ],
        at: instant(seconds),
    }
}

/// The policy version of `owner` that `all_policy_versions` reports; 0
/// when it has none.
pub async fn version_of(store: &Arc<dyn Store>, owner: &Owner) -> i64 {
    store
        .all_policy_versions()
        .await
        .unwrap()
        .into_iter()
        .find(|(held, _)| held == owner)
        .map_or(0, |(_, version)| version)
}
