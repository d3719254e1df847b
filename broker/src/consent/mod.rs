//! The decision engine (consent-semantics §4 and §5).
//!
//! Rules live in the database as Cedar text. The engine keeps each
//! owner's rules compiled, in memory, as a *slice*: two small policy sets
//! (permits and forbids). A decision evaluates only the co-op's slice and
//! the deciding owner's, so its cost does not grow with the co-op.
//!
//! Read-your-writes: every rule change bumps its owner's policy version
//! in the same transaction. A decision reads the versions it needs from
//! the database together with the requester's and member's status, and
//! recompiles a slice whose version moved. No replica can answer from a
//! stale slice.

pub mod cedar;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cedar_policy::{Authorizer, PolicySet, Request};
use chrono::{DateTime, Utc};
use datacoop_wire::{Action, Reason, Verdict};

use crate::domain::rule::{Owner, Rule, RuleSpec};
use crate::domain::vocabulary::TermId;
use crate::domain::{MemberId, RequesterClass, RuleId, ThirdPartyId, ThirdPartyStatus};
use crate::policy::Policies;
use crate::store::{Store, StoreError};
pub use cedar::{CedarError, CedarModel};

/// Why a decision could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cedar(#[from] CedarError),
}

/// One decision request, its ids not yet resolved: an unknown member or
/// requester is a decision (§4 steps 1 and 2), not an error.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    pub member: String,
    pub requester: String,
    pub action: Action,
    pub categories: Vec<TermId>,
    pub purpose: TermId,
}

/// Who decided a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decider {
    Member(MemberId),
    Persona(crate::domain::PersonaId),
    Coop,
}

impl Decider {
    fn of(owner: &Owner) -> Self {
        match owner {
            Owner::Member(id) => Self::Member(id.clone()),
            Owner::Persona(id) => Self::Persona(id.clone()),
            Owner::Coop => Self::Coop,
        }
    }
}

/// The decision for one category, with its explanation (§5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryOutcome {
    pub category: TermId,
    pub verdict: Verdict,
    pub reason: Reason,
    pub decided_by: Decider,
    pub chain: Vec<MemberId>,
    /// Ids of the rules (or base policies) that matched at the decider.
    pub rules: Vec<String>,
}

/// A whole decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub categories: Vec<CategoryOutcome>,
    pub evaluated_at: DateTime<Utc>,
}

impl Outcome {
    pub fn to_wire(&self) -> datacoop_wire::Decision {
        datacoop_wire::Decision {
            decision: self.verdict,
            categories: self
                .categories
                .iter()
                .map(|category| datacoop_wire::CategoryDecision {
                    category: category.category.to_string(),
                    decision: category.verdict,
                    reason: category.reason,
                    decided_by: match &category.decided_by {
                        Decider::Member(id) => datacoop_wire::DecidedBy::Member(id.to_string()),
                        Decider::Persona(id) => datacoop_wire::DecidedBy::Persona(id.to_string()),
                        Decider::Coop => datacoop_wire::DecidedBy::Coop(true),
                    },
                    chain: category.chain.iter().map(ToString::to_string).collect(),
                    rules: category.rules.clone(),
                })
                .collect(),
            evaluated_at: self.evaluated_at,
        }
    }
}

/// One owner's rules, compiled.
#[derive(Debug)]
pub struct Slice {
    version: i64,
    permits: PolicySet,
    forbids: PolicySet,
}

impl Slice {
    /// Compiles stored rules; `version` is the policy version read before
    /// the rules were.
    pub fn build(model: &CedarModel, version: i64, rules: &[Rule]) -> Result<Self, CedarError> {
        let mut permits = PolicySet::new();
        let mut forbids = PolicySet::new();
        for rule in rules {
            let policy = model.parse_policy(rule.id.as_str(), &rule.cedar)?;
            let set = match policy.effect() {
                cedar_policy::Effect::Permit => &mut permits,
                cedar_policy::Effect::Forbid => &mut forbids,
            };
            set.add(policy).map_err(|error| CedarError::Parse {
                id: rule.id.to_string(),
                message: error.to_string(),
            })?;
        }
        Ok(Self {
            version,
            permits,
            forbids,
        })
    }
}

/// What an owner thinks of a cell, if anything (§2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opinion {
    None,
    Allow(Vec<String>),
    Deny(Vec<String>),
}

/// Evaluates cells against compiled slices: the pure part of the engine,
/// with no store and no cache.
#[derive(Debug)]
pub struct Evaluator {
    model: CedarModel,
    authorizer: Authorizer,
}

/// The engine: the evaluator, the compiled slices, the store.
#[derive(Debug)]
pub struct Engine {
    store: Arc<dyn Store>,
    evaluator: Evaluator,
    slices: RwLock<HashMap<String, Arc<Slice>>>,
}

impl Engine {
    /// Builds the Cedar model from the policies and compiles every stored
    /// rule, so the first decisions find their slices ready.
    pub async fn load(store: Arc<dyn Store>, policies: &Policies) -> Result<Self, EngineError> {
        let engine = Self {
            store,
            evaluator: Evaluator::new(policies)?,
            slices: RwLock::new(HashMap::new()),
        };
        engine.warm().await?;
        Ok(engine)
    }

    async fn warm(&self) -> Result<(), EngineError> {
        let versions = self.store.all_policy_versions().await?;
        let mut by_owner: HashMap<Owner, Vec<Rule>> = HashMap::new();
        for rule in self.store.all_rules().await? {
            by_owner.entry(rule.owner.clone()).or_default().push(rule);
        }
        let mut slices = HashMap::with_capacity(by_owner.len() + 1);
        for (owner, version) in versions {
            let rules = by_owner.remove(&owner).unwrap_or_default();
            slices.insert(
                owner.key(),
                Arc::new(self.evaluator.slice(version, &rules)?),
            );
        }
        *self
            .slices
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = slices;
        Ok(())
    }

    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// The Cedar text of a new rule, validated against the schema.
    pub fn compile(&self, id: &RuleId, spec: &RuleSpec) -> Result<String, CedarError> {
        self.evaluator.compile(id, spec)
    }

    /// The slice of `owner` at `version`, compiled anew if the cached one
    /// is older (or absent).
    async fn slice(&self, owner: &Owner, version: i64) -> Result<Arc<Slice>, EngineError> {
        let key = owner.key();
        if let Some(slice) = self
            .slices
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            && slice.version == version
        {
            return Ok(Arc::clone(slice));
        }
        let rules = self.store.rules_of(owner).await?;
        let slice = Arc::new(self.evaluator.slice(version, &rules)?);
        let mut slices = self
            .slices
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Keep whichever is newer: a concurrent reload may have won.
        let keep = match slices.get(&key) {
            Some(existing) if existing.version > version => Arc::clone(existing),
            _ => {
                slices.insert(key, Arc::clone(&slice));
                slice
            }
        };
        Ok(keep)
    }

    /// Decides `input` at instant `now` (§4), each category separately.
    pub async fn decide(
        &self,
        input: &DecisionInput,
        now: DateTime<Utc>,
    ) -> Result<Outcome, EngineError> {
        let member_id = MemberId::parse(&input.member);
        let member_owner = member_id.clone().map(Owner::Member);
        let facts = self
            .store
            .decision_facts(
                ThirdPartyId::parse(&input.requester).as_ref(),
                member_id.as_ref(),
            )
            .await?;
        // The chain starts with the member asked about, as asked.
        let chain = vec![MemberId::from_trusted(input.member.clone())];
        let fixed = |reason: Reason| {
            input
                .categories
                .iter()
                .map(|category| CategoryOutcome {
                    category: category.clone(),
                    verdict: Verdict::Deny,
                    reason,
                    decided_by: Decider::Coop,
                    chain: chain.clone(),
                    rules: Vec::new(),
                })
                .collect::<Vec<_>>()
        };
        // §4 step 1: the requester must be known and active.
        let class = match facts.requester {
            Some((class, ThirdPartyStatus::Active)) => class,
            _ => return Ok(outcome(fixed(Reason::RequesterInactive), now)),
        };
        // §4 step 2: the member must be known and still in the co-op.
        let (Some(member_id), Some(member_owner), true) =
            (member_id, member_owner, facts.member_active)
        else {
            return Ok(outcome(fixed(Reason::MemberInactive), now));
        };
        let coop = self.slice(&Owner::Coop, facts.coop_version).await?;
        let own = self.slice(&member_owner, facts.member_version).await?;
        let mut categories = Vec::with_capacity(input.categories.len());
        for category in &input.categories {
            let cell = Cell {
                requester: &input.requester,
                class,
                action: input.action,
                category,
                purpose: &input.purpose,
                member: &member_id,
                now,
            };
            categories.push(
                self.evaluator
                    .decide_cell(&coop, &own, &member_owner, &cell)?,
            );
        }
        Ok(outcome(categories, now))
    }
}

impl Evaluator {
    /// The Cedar model of `policies`: schema, vocabulary entities, base policies.
    pub fn new(policies: &Policies) -> Result<Self, CedarError> {
        Ok(Self {
            model: CedarModel::new(
                (&policies.schema_origin, &policies.schema),
                &policies.vocabulary,
                &policies.coop_policies,
            )?,
            authorizer: Authorizer::new(),
        })
    }

    pub fn model(&self) -> &CedarModel {
        &self.model
    }

    /// The Cedar text of a new rule, validated against the schema.
    pub fn compile(&self, id: &RuleId, spec: &RuleSpec) -> Result<String, CedarError> {
        self.model.compile(id, spec).map(|(text, _)| text)
    }

    /// Compiles an owner's stored rules into a slice.
    pub fn slice(&self, version: i64, rules: &[Rule]) -> Result<Slice, CedarError> {
        Slice::build(&self.model, version, rules)
    }

    /// Decides one cell for `owner` (whose slice is `own`) after the
    /// co-op's rules (§4 steps 3 and 4, without delegation).
    pub fn decide_cell(
        &self,
        coop: &Slice,
        own: &Slice,
        owner: &Owner,
        cell: &Cell<'_>,
    ) -> Result<CategoryOutcome, CedarError> {
        let request = self.request(cell)?;
        // §4 step 3: co-op rules beat everyone.
        let coop_rules = self.coop_denials(coop, &request);
        if !coop_rules.is_empty() {
            return Ok(CategoryOutcome {
                category: cell.category.clone(),
                verdict: Verdict::Deny,
                reason: Reason::CoopPolicy,
                decided_by: Decider::Coop,
                chain: vec![cell.member.clone()],
                rules: coop_rules,
            });
        }
        // §4 step 4: the owner's own opinion, or no consent.
        let (verdict, reason, rules) = match self.opinion(own, &request) {
            Opinion::Allow(rules) => (Verdict::Allow, Reason::Allowed, rules),
            Opinion::Deny(rules) => (Verdict::Deny, Reason::DeniedByRule, rules),
            Opinion::None => (Verdict::Deny, Reason::NoConsent, Vec::new()),
        };
        Ok(CategoryOutcome {
            category: cell.category.clone(),
            verdict,
            reason,
            decided_by: Decider::of(owner),
            chain: vec![cell.member.clone()],
            rules,
        })
    }

    fn request(&self, cell: &Cell<'_>) -> Result<Request, CedarError> {
        let types = &self.model.types;
        let context =
            self.model
                .context(cell.purpose, cell.class, cell.now, cell.member.as_str())?;
        Request::new(
            types.third_party(cell.requester),
            types.action(cell.action),
            types.category(cell.category),
            context,
            None,
        )
        .map_err(|error| CedarError::Request(error.to_string()))
    }

    /// Ids of the co-op rules and base policies that deny this cell.
    fn coop_denials(&self, coop: &Slice, request: &Request) -> Vec<String> {
        let mut rules = self.satisfied(&self.model.base_policies, request);
        rules.extend(self.satisfied(&coop.forbids, request));
        rules
    }

    /// The opinion of the owner whose slice this is (§2): deny when any
    /// matching rule denies, allow when only allows match. A rule whose
    /// evaluation fails counts as a matching deny: doubt protects the member.
    pub fn opinion(&self, slice: &Slice, request: &Request) -> Opinion {
        let denies = self.satisfied(&slice.forbids, request);
        let allows = self.satisfied(&slice.permits, request);
        if !denies.is_empty() {
            let mut rules = denies;
            rules.extend(allows);
            return Opinion::Deny(rules);
        }
        if allows.is_empty() {
            Opinion::None
        } else {
            Opinion::Allow(allows)
        }
    }

    /// The ids of the policies in `set` that hold for `request`, plus those
    /// whose evaluation failed (logged; never expected for validated rules).
    fn satisfied(&self, set: &PolicySet, request: &Request) -> Vec<String> {
        if set.is_empty() {
            return Vec::new();
        }
        let response = self
            .authorizer
            .is_authorized(request, set, &self.model.entities);
        let diagnostics = response.diagnostics();
        // Cedar names the satisfied policies that determined the answer:
        // all satisfied permits of a permit-only set, all satisfied forbids
        // of a forbid-only set.
        let mut ids: Vec<String> = diagnostics.reason().map(ToString::to_string).collect();
        for error in diagnostics.errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(error) = error;
            let id = error.policy_id().to_string();
            tracing::error!(policy = %id, "a validated policy failed to evaluate; counted as a match");
            ids.push(id);
        }
        ids.sort();
        ids.dedup();
        ids
    }
}

/// One cell of §2: one category of one request, its requester known and
/// active.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    pub requester: &'a str,
    pub class: RequesterClass,
    pub action: Action,
    pub category: &'a TermId,
    pub purpose: &'a TermId,
    pub member: &'a MemberId,
    pub now: DateTime<Utc>,
}

fn outcome(categories: Vec<CategoryOutcome>, now: DateTime<Utc>) -> Outcome {
    let verdict = if !categories.is_empty()
        && categories
            .iter()
            .all(|category| category.verdict == Verdict::Allow)
    {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    Outcome {
        verdict,
        categories,
        evaluated_at: now,
    }
}
