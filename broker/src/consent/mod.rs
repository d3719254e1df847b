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
pub mod cohort;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use cedar_policy::{Authorizer, Decision as CedarDecision, Policy, PolicyId, PolicySet, Request};
use chrono::{DateTime, Utc};
use datacoop_wire::{Action, Reason, Verdict};

use crate::domain::rule::{Owner, Rule, RuleSpec};
use crate::domain::vocabulary::TermId;
use crate::domain::{Delegation, MemberId, RequesterClass, RuleId, ThirdPartyId, ThirdPartyStatus};
use crate::policy::Policies;
use crate::store::OwnerState;
use crate::store::{Store, StoreError};
pub use cedar::{CedarError, CedarModel};

/// Why a decision could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cedar(#[from] CedarError),
    /// The cohort's bookkeeping lost track of an owner (never expected).
    #[error("a cohort could not be evaluated")]
    Cohort,
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
    /// The ids walked, starting with the member asked about (a persona
    /// ends a chain when one decides).
    pub chain: Vec<String>,
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
                    chain: category.chain.clone(),
                    rules: category.rules.clone(),
                })
                .collect(),
            evaluated_at: self.evaluated_at,
        }
    }
}

/// One owner's rules compiled together with the co-op's, so that one
/// Cedar evaluation answers §4 steps 3 and 4 for a cell: a shared shape,
/// and the ids that the shape's policies stand for.
///
/// The co-op's own slice holds its rules and the base policies; every
/// other slice is built on the co-op slice of its day and is rebuilt when
/// either owner's policy version moves.
#[derive(Debug)]
pub struct Slice {
    version: i64,
    /// The co-op's version this slice was built with (the co-op's own: 0).
    coop_version: i64,
    shape: Arc<Shape>,
    /// The owner's rule behind policy `#i` is `rule_ids.get(i)`.
    rule_ids: RuleIds,
    /// The co-op rule behind policy `c#i` is `coop_rule_ids.get(i)`.
    coop_rule_ids: Arc<RuleIds>,
    /// A member's delegations, oldest first (§3).
    delegations: Vec<Delegation>,
}

impl Slice {
    /// Attaches a member's delegations (covered by the same version).
    pub fn with_delegations(mut self, delegations: Vec<Delegation>) -> Self {
        self.delegations = delegations;
        self
    }

    /// Whether the owner has rules of their own (beside the co-op's).
    fn has_own_rules(&self) -> bool {
        !self.rule_ids.is_empty()
    }

    /// The delegations that cover a cell, each with its covering depths.
    fn covering(&self, category: &TermId, purpose: &TermId) -> Vec<(&Delegation, (usize, usize))> {
        self.delegations
            .iter()
            .filter_map(|delegation| {
                Some((
                    delegation,
                    delegation.scope.covering_depths(category, purpose)?,
                ))
            })
            .collect()
    }

    /// The rule behind a policy id: `#i` is the owner's i-th rule, `c#i`
    /// the co-op's; any other id is a base policy's, kept as it is.
    fn rule_id(&self, policy_id: &str) -> String {
        let (ids, index): (&RuleIds, &str) = if let Some(index) = policy_id.strip_prefix("c#") {
            (&self.coop_rule_ids, index)
        } else if let Some(index) = policy_id.strip_prefix('#') {
            (&self.rule_ids, index)
        } else {
            return policy_id.to_owned();
        };
        index
            .parse::<usize>()
            .ok()
            .and_then(|index| ids.get(index))
            .map_or_else(|| policy_id.to_owned(), str::to_owned)
    }

    fn rule_ids_of(&self, ids: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut rules: Vec<String> = ids.into_iter().map(|id| self.rule_id(&id)).collect();
        rules.sort();
        rules
    }
}

/// The rule ids behind an owner's policies, in policy order, in one
/// allocation: a decision reads a member's ids from one place in memory,
/// not one string each (in a large co-op, each is a cache miss).
#[derive(Debug, Clone)]
struct RuleIds {
    /// The ids, each followed by a newline (ids hold none).
    text: Box<str>,
    /// The length every id has, when they all have the same (generated
    /// ids do): the i-th id is found without a scan.
    width: Option<usize>,
}

impl RuleIds {
    fn new<'a>(ids: impl Iterator<Item = &'a str> + Clone) -> Self {
        let mut lengths = ids.clone().map(str::len);
        let first = lengths.next();
        let width = first.filter(|width| lengths.all(|length| length == *width));
        let mut text = String::new();
        for id in ids {
            text.push_str(id);
            text.push('\n');
        }
        Self {
            text: text.into_boxed_str(),
            width,
        }
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn get(&self, index: usize) -> Option<&str> {
        match self.width {
            Some(width) => {
                let start = index.checked_mul(width + 1)?;
                self.text.get(start..start.checked_add(width)?)
            }
            None => self.text.split_terminator('\n').nth(index),
        }
    }
}

/// Compiled policies, shared by every owner whose rules have the same
/// text (ids aside) on the same co-op shape: most members' rules come from
/// the same presets, so a co-op of any size holds few shapes, each hot in
/// the CPU cache.
#[derive(Debug)]
struct Shape {
    /// The co-op's shape: its rules (`c#i`) and the base policies; any
    /// other: the owner's rules (`#i`).
    all: PolicySet,
    /// The owner's permits alone, kept only when the owner has forbids
    /// too: asked only to name every matching rule of a denied cell.
    permits: Option<PolicySet>,
    /// The co-op shape this one was built on (none for the co-op's own):
    /// its policies are evaluated once per cell, for every owner; kept
    /// alive so its address (part of this shape's key) is not reused.
    coop: Option<Arc<Shape>>,
    /// The co-op's own shape only: its policies by the cells they can
    /// match, so a cell evaluates the base policies and only those co-op
    /// rules whose action, requester class and terms admit it.
    index: Option<CoopIndex>,
    /// Any other shape: each rule (`#i`) and what it can match.
    rules: Vec<(Policy, RuleScope)>,
    /// The subsets of `rules` that some cell asked for, by the mask of
    /// the rules in them (shapes of up to 64 rules).
    subsets: RwLock<HashMap<u64, Arc<Subset>>>,
    /// The interned policies this shape uses, kept alive while it lives.
    _policies: Vec<Arc<Policy>>,
}

/// The co-op's policies, and for each cell asked about the policy set of
/// those that can match it (consent-semantics §1: a rule's condition on
/// categories and purposes holds only for cells its terms overlap; its
/// scope names the actions and requesters it applies to). Cedar
/// evaluates every policy of a set it is given; a co-op with many rules
/// on other categories would otherwise cost every decision their
/// evaluation. The filter only leaves out rules that cannot match: Cedar
/// still decides, over the rest.
#[derive(Debug)]
struct CoopIndex {
    /// The base policies: any Cedar (`DATACOOP_POLICY_DIR`), always
    /// evaluated.
    base: Vec<Policy>,
    /// The co-op's rules (ids `c#i`), each with what it can match.
    rules: Vec<(Policy, RuleScope)>,
    /// Sets built so far, by action and requester class, then category,
    /// then purpose: at most one per cell of the vocabulary.
    cells: RwLock<HashMap<(Action, RequesterClass), CellSets>>,
}

/// Policy sets by category, then purpose.
type CellSets = HashMap<TermId, HashMap<TermId, Arc<PolicySet>>>;

/// Most cells a co-op index keeps (the vocabulary bounds them first; this
/// bounds them whatever calls the engine).
const MAX_INDEXED_CELLS: usize = 1 << 16;

impl CoopIndex {
    /// The policies that can match `cell`: the base policies, and the
    /// co-op rules for its action and requester class (or naming a third
    /// party: which one is not part of the key) whose terms overlap it.
    fn set(&self, cell: &Cell<'_>) -> Result<Arc<PolicySet>, CedarError> {
        let (category, purpose) = (cell.category, cell.purpose);
        let kind = (cell.action, cell.class);
        let cached = self
            .cells
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&kind)
            .and_then(|categories| categories.get(category))
            .and_then(|purposes| purposes.get(purpose))
            .cloned();
        if let Some(set) = cached {
            return Ok(set);
        }
        let matching = self
            .rules
            .iter()
            .filter(|(_, scope)| {
                scope.admits(cell.action, cell.class, None) && scope.overlaps(category, purpose)
            })
            .map(|(policy, _)| policy);
        let set = Arc::new(policy_set(self.base.iter().chain(matching))?);
        let mut cells = self
            .cells
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held: usize = cells
            .values()
            .flat_map(HashMap::values)
            .map(HashMap::len)
            .sum();
        if held >= MAX_INDEXED_CELLS {
            cells.clear();
        }
        cells
            .entry(kind)
            .or_default()
            .entry(category.clone())
            .or_default()
            .insert(purpose.clone(), Arc::clone(&set));
        Ok(set)
    }
}

/// What a rule can match, from its spec: the policy's scope and the
/// terms its condition tests (consent-semantics §1). A rule whose scope
/// leaves a cell out cannot match it, whatever Cedar would say of the rest
/// of its condition, so such rules need no evaluation.
#[derive(Debug)]
struct RuleScope {
    action: datacoop_wire::RuleAction,
    requester: crate::domain::rule::Requester,
    categories: Vec<TermId>,
    purposes: Vec<TermId>,
    /// When the rule is in force, in the policies' microseconds: from
    /// (inclusive), until (exclusive).
    from: Option<i64>,
    until: Option<i64>,
}

impl RuleScope {
    fn of(spec: &RuleSpec) -> Self {
        Self {
            action: spec.action,
            requester: spec.requester.clone(),
            categories: spec.data_categories.clone(),
            purposes: spec.purposes.clone(),
            from: spec.not_before.map(cedar::micros),
            until: spec.expires_at.map(cedar::micros),
        }
    }

    /// The rule is in force at `now` (as its policy compares instants).
    fn in_force(&self, now: DateTime<Utc>) -> bool {
        let now = cedar::micros(now);
        self.from.is_none_or(|from| now >= from) && self.until.is_none_or(|until| now < until)
    }

    /// Some category and some purpose of the rule overlap the cell's (an
    /// allow's terms must cover the cell's, a deny's overlap them: both
    /// overlap).
    fn overlaps(&self, category: &TermId, purpose: &TermId) -> bool {
        self.categories.iter().any(|term| term.overlaps(category))
            && self.purposes.iter().any(|term| term.overlaps(purpose))
    }

    /// The rule's scope admits the action and the requester (of `class`;
    /// when `requester` is `None`, any third party of that class).
    fn admits(&self, action: Action, class: RequesterClass, requester: Option<&str>) -> bool {
        use crate::domain::rule::Requester;
        use datacoop_wire::RuleAction;
        let action = match (self.action, action) {
            (RuleAction::Any, _)
            | (RuleAction::Access, Action::Access)
            | (RuleAction::Aggregate, Action::Aggregate) => true,
            (RuleAction::Access, Action::Aggregate) | (RuleAction::Aggregate, Action::Access) => {
                false
            }
        };
        let requester = match &self.requester {
            Requester::Any => true,
            Requester::Class(wanted) => *wanted == class,
            Requester::ThirdParty(id) => requester.is_none_or(|requester| id.as_str() == requester),
        };
        action && requester
    }

    /// The rule may match the cell: its action, requester, categories,
    /// purposes and dates all admit it.
    fn may_match(&self, cell: &Cell<'_>) -> bool {
        self.admits(cell.action, cell.class, Some(cell.requester))
            && self.overlaps(cell.category, cell.purpose)
            && self.in_force(cell.now)
    }
}

/// The policies of an owner's shape that may match some cell: all of them
/// (`#i` ids unchanged), and the permits alone when there are forbids too.
#[derive(Debug)]
struct Subset {
    all: PolicySet,
    permits: Option<PolicySet>,
}

/// Most subsets a shape keeps; a cell whose subset finds no room is
/// evaluated against the whole shape (the same answer, more work).
const MAX_SUBSETS_PER_SHAPE: usize = 16;

/// A policy set of `policies`, in order.
fn policy_set<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Result<PolicySet, CedarError> {
    let mut set = PolicySet::new();
    for policy in policies {
        set.add(policy.clone()).map_err(|error| CedarError::Parse {
            id: policy.id().to_string(),
            message: error.to_string(),
        })?;
    }
    Ok(set)
}

/// Which of a shape's policies a cell needs evaluated.
enum View {
    /// No rule can match: the owner is silent on the cell.
    Nothing,
    /// Every rule may match (or the subset found no room).
    All,
    Subset(Arc<Subset>),
}

impl Shape {
    /// The rules of this (owner's) shape that may match `cell`.
    fn view(&self, cell: &Cell<'_>) -> Result<View, CedarError> {
        if self.rules.len() > 64 {
            return Ok(View::All);
        }
        let mask = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, (_, scope))| scope.may_match(cell))
            .fold(0_u64, |mask, (position, _)| mask | (1 << position));
        if mask == 0 {
            return Ok(View::Nothing);
        }
        if mask.count_ones() as usize == self.rules.len() {
            return Ok(View::All);
        }
        let known = self
            .subsets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&mask)
            .cloned();
        if let Some(subset) = known {
            return Ok(View::Subset(subset));
        }
        let chosen = || {
            self.rules
                .iter()
                .enumerate()
                .filter(move |(position, _)| mask & (1 << position) != 0)
                .map(|(_, (policy, _))| policy)
        };
        let permits =
            policy_set(chosen().filter(|policy| policy.effect() == cedar_policy::Effect::Permit))?;
        let has_forbids = chosen().any(|policy| policy.effect() == cedar_policy::Effect::Forbid);
        let subset = Arc::new(Subset {
            all: policy_set(chosen())?,
            permits: (has_forbids && !permits.is_empty()).then_some(permits),
        });
        let mut subsets = self
            .subsets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if subsets.len() >= MAX_SUBSETS_PER_SHAPE {
            return Ok(View::All);
        }
        subsets.insert(mask, Arc::clone(&subset));
        Ok(View::Subset(subset))
    }
}

/// What identifies a shape: the co-op shape it was built on (by address;
/// none for the co-op's own), and the rules' texts without their `@id`
/// lines, in order.
type ShapeKey = (usize, Vec<String>);

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
    /// Parsed policies by their text without the `@id` line. Rules that
    /// differ only in id (most of a co-op's, made from the same presets)
    /// share one parsed condition: less memory, and hot in the CPU cache.
    /// Weak: the shapes using a policy keep it; one no shape uses goes.
    interned: Mutex<HashMap<String, std::sync::Weak<Policy>>>,
    /// Compiled shapes by their key; weak, so a shape no owner uses goes.
    shapes: Mutex<HashMap<ShapeKey, std::sync::Weak<Shape>>>,
    /// Some co-op base policy mentions the member (`context.member`): its
    /// answer may differ from member to member (see `cohort`).
    coop_reads_member: bool,
}

/// The engine: the evaluator, the compiled slices, the store.
#[derive(Debug)]
pub struct Engine {
    store: Arc<dyn Store>,
    evaluator: Evaluator,
    slices: RwLock<rustc_hash::FxHashMap<Owner, Arc<Slice>>>,
    /// Most hops a delegation chain may take (§4, default 16).
    max_depth: usize,
    /// The cohort engine's graph, kept between cohorts (`cohort.rs`).
    cohort_graph: tokio::sync::Mutex<Option<cohort::Graph>>,
}

/// The default of `DATACOOP_MAX_DELEGATION_DEPTH`.
pub const DEFAULT_MAX_DELEGATION_DEPTH: usize = 16;

impl Engine {
    /// Builds the Cedar model from the policies and compiles every stored
    /// rule, so the first decisions find their slices ready.
    pub async fn load(
        store: Arc<dyn Store>,
        policies: &Policies,
        max_depth: usize,
    ) -> Result<Self, EngineError> {
        let engine = Self {
            store,
            evaluator: Evaluator::new(policies)?,
            slices: RwLock::new(rustc_hash::FxHashMap::default()),
            max_depth,
            cohort_graph: tokio::sync::Mutex::new(None),
        };
        engine.warm().await?;
        Ok(engine)
    }

    async fn warm(&self) -> Result<(), EngineError> {
        let versions: HashMap<Owner, i64> = self
            .store
            .all_policy_versions()
            .await?
            .into_iter()
            .collect();
        let mut by_owner: HashMap<Owner, Vec<Rule>> = HashMap::new();
        for rule in self.store.all_rules().await? {
            by_owner.entry(rule.owner.clone()).or_default().push(rule);
        }
        let mut delegations: HashMap<Owner, Vec<Delegation>> = HashMap::new();
        for delegation in self.store.all_delegations().await? {
            delegations
                .entry(Owner::Member(delegation.member.clone()))
                .or_default()
                .push(delegation);
        }
        let coop_rules = by_owner.remove(&Owner::Coop).unwrap_or_default();
        let coop_version = versions.get(&Owner::Coop).copied().unwrap_or(0);
        let coop = Arc::new(self.evaluator.coop_slice(coop_version, &coop_rules)?);
        let mut slices =
            rustc_hash::FxHashMap::with_capacity_and_hasher(versions.len() + 1, Default::default());
        for (owner, version) in &versions {
            if *owner == Owner::Coop {
                continue;
            }
            let rules = by_owner.remove(owner).unwrap_or_default();
            let slice = self
                .evaluator
                .slice(&coop, *version, &rules)?
                .with_delegations(delegations.remove(owner).unwrap_or_default());
            slices.insert(owner.clone(), Arc::new(slice));
        }
        slices.insert(Owner::Coop, coop);
        *self
            .slices
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = slices;
        Ok(())
    }

    /// Drops `owner`'s compiled slice (an owner who left the co-op); a
    /// later decision that needs it compiles it again from the store.
    pub fn forget(&self, owner: &Owner) {
        self.slices
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(owner);
    }

    /// How many owners have a compiled slice cached.
    pub fn cached_slices(&self) -> usize {
        self.slices
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// The Cedar text of a new rule, validated against the schema.
    pub fn compile(&self, id: &RuleId, spec: &RuleSpec) -> Result<String, CedarError> {
        self.evaluator.compile(id, spec)
    }

    fn cached(&self, key: &Owner) -> Option<Arc<Slice>> {
        self.slices
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Caches `slice` unless a newer one is already there.
    fn keep(&self, key: Owner, slice: Arc<Slice>) -> Arc<Slice> {
        let mut slices = self
            .slices
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match slices.get(&key) {
            Some(existing)
                if (existing.version, existing.coop_version)
                    > (slice.version, slice.coop_version) =>
            {
                Arc::clone(existing)
            }
            _ => {
                slices.insert(key, Arc::clone(&slice));
                slice
            }
        }
    }

    /// The co-op's slice at `version`, compiled anew if the cached one is
    /// older.
    async fn coop_slice(&self, version: i64) -> Result<Arc<Slice>, EngineError> {
        let key = Owner::Coop;
        if let Some(slice) = self.cached(&key).filter(|slice| slice.version == version) {
            return Ok(slice);
        }
        let rules = self.store.rules_of(&Owner::Coop).await?;
        Ok(self.keep(key, Arc::new(self.evaluator.coop_slice(version, &rules)?)))
    }

    /// The slice of `owner` at `version` on `coop`, compiled anew if the
    /// cached one is older in either.
    async fn slice(
        &self,
        owner: &Owner,
        version: i64,
        coop: &Slice,
    ) -> Result<Arc<Slice>, EngineError> {
        let key = owner.clone();
        if let Some(slice) = self
            .cached(&key)
            .filter(|slice| slice.version == version && slice.coop_version == coop.version)
        {
            return Ok(slice);
        }
        // Version 0: the owner never had a rule or a delegation (every
        // change bumps the version), so there is nothing to read.
        let (rules, delegations) = if version == 0 {
            (Vec::new(), Vec::new())
        } else {
            let rules = self.store.rules_of(owner).await?;
            let delegations = match owner {
                Owner::Member(id) => self.store.delegations_of(id).await?,
                Owner::Persona(_) | Owner::Coop => Vec::new(),
            };
            (rules, delegations)
        };
        let slice = self
            .evaluator
            .slice(coop, version, &rules)?
            .with_delegations(delegations);
        Ok(self.keep(key, Arc::new(slice)))
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
        let chain = vec![input.member.clone()];
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
            (member_id, member_owner.clone(), facts.member_active)
        else {
            // A member who left keeps no compiled slice.
            if let Some(owner) = &member_owner {
                self.forget(owner);
            }
            return Ok(outcome(fixed(Reason::MemberInactive), now));
        };
        let coop = self.coop_slice(facts.coop_version).await?;
        let own = self
            .slice(&member_owner, facts.member_version, &coop)
            .await?;
        self.decide_cells(input, class, &member_id, own, &coop, now)
            .await
    }

    /// Decides `input` as for a member in the co-op who has no rules and
    /// no delegations, whoever `input.member` names: what a third party is
    /// told about a subject that stands for no member (http-contract: "an
    /// unknown subject, or one whose member has left, is answered exactly
    /// like a member with no consent"). The same steps and the same Cedar
    /// evaluation as for a member: co-op rules deny (§4 step 3), anything
    /// else is `no_consent` (step 4, a silent governor).
    pub async fn decide_as_silent_member(
        &self,
        input: &DecisionInput,
        now: DateTime<Utc>,
    ) -> Result<Outcome, EngineError> {
        let facts = self
            .store
            .decision_facts(ThirdPartyId::parse(&input.requester).as_ref(), None)
            .await?;
        let Some((class, ThirdPartyStatus::Active)) = facts.requester else {
            let categories = input
                .categories
                .iter()
                .map(|category| CategoryOutcome {
                    category: category.clone(),
                    verdict: Verdict::Deny,
                    reason: Reason::RequesterInactive,
                    decided_by: Decider::Coop,
                    chain: vec![input.member.clone()],
                    rules: Vec::new(),
                })
                .collect();
            return Ok(outcome(categories, now));
        };
        let member = MemberId::from_trusted(input.member.clone());
        let coop = self.coop_slice(facts.coop_version).await?;
        let silent = Arc::new(self.evaluator.slice(&coop, 0, &[])?);
        self.decide_cells(input, class, &member, silent, &coop, now)
            .await
    }

    /// §4 steps 3 and 4 for every requested category of `member`, whose
    /// own slice is `own`.
    async fn decide_cells(
        &self,
        input: &DecisionInput,
        class: RequesterClass,
        member_id: &MemberId,
        own: Arc<Slice>,
        coop: &Slice,
        now: DateTime<Utc>,
    ) -> Result<Outcome, EngineError> {
        let member_owner = Owner::Member(member_id.clone());
        let mut states = HashMap::new();
        let mut categories = Vec::with_capacity(input.categories.len());
        for category in &input.categories {
            let cell = Cell {
                requester: &input.requester,
                class,
                action: input.action,
                category,
                purpose: &input.purpose,
                member: member_id,
                now,
            };
            categories.push(
                self.walk(&cell, &member_owner, Arc::clone(&own), coop, &mut states)
                    .await?,
            );
        }
        Ok(outcome(categories, now))
    }

    /// §4 steps 3 and 4 for one cell: the co-op's rules, then the
    /// governor's opinion, following the delegation that applies while the
    /// governor is silent. `states` caches what this decision learned of
    /// proxies, so every category sees the same co-op.
    async fn walk(
        &self,
        cell: &Cell<'_>,
        member: &Owner,
        own: Arc<Slice>,
        coop: &Slice,
        states: &mut HashMap<Owner, OwnerState>,
    ) -> Result<CategoryOutcome, EngineError> {
        let request = self.evaluator.request(cell)?;
        let mut governor = member.clone();
        let mut slice = own;
        let mut chain = vec![cell.member.to_string()];
        let outcome = |verdict, reason, decided_by, chain, rules| CategoryOutcome {
            category: cell.category.clone(),
            verdict,
            reason,
            decided_by,
            chain,
            rules,
        };
        loop {
            // The co-op's policies are judged once, at the member: the
            // request is the same at every hop, so where they do not match
            // at the member they match at no proxy either.
            let opinion = if chain.len() == 1 {
                let (coop_rules, opinion) = self.evaluator.judge(&slice, cell, &request)?;
                if !coop_rules.is_empty() {
                    return Ok(outcome(
                        Verdict::Deny,
                        Reason::CoopPolicy,
                        Decider::Coop,
                        chain,
                        coop_rules,
                    ));
                }
                opinion
            } else if slice.has_own_rules() {
                self.evaluator.opinion(&slice, cell, &request)?
            } else {
                Opinion::None
            };
            match opinion {
                Opinion::Allow(rules) => {
                    return Ok(outcome(
                        Verdict::Allow,
                        Reason::Allowed,
                        Decider::of(&governor),
                        chain,
                        rules,
                    ));
                }
                Opinion::Deny(rules) => {
                    return Ok(outcome(
                        Verdict::Deny,
                        Reason::DeniedByRule,
                        Decider::of(&governor),
                        chain,
                        rules,
                    ));
                }
                Opinion::None => {}
            }
            // Silent: the delegation that applies, if any (§3).
            let Some((proxy, state)) = self.applicable(&slice, cell, states).await? else {
                return Ok(outcome(
                    Verdict::Deny,
                    Reason::NoConsent,
                    Decider::of(&governor),
                    chain,
                    Vec::new(),
                ));
            };
            let proxy_id = proxy.id().to_owned();
            let cycle = chain.contains(&proxy_id);
            chain.push(proxy_id);
            if cycle {
                return Ok(outcome(
                    Verdict::Deny,
                    Reason::DelegationCycle,
                    Decider::of(&governor),
                    chain,
                    Vec::new(),
                ));
            }
            if chain.len() - 1 > self.max_depth {
                return Ok(outcome(
                    Verdict::Deny,
                    Reason::DelegationTooDeep,
                    Decider::of(&governor),
                    chain,
                    Vec::new(),
                ));
            }
            slice = self.slice(&proxy, state.version, coop).await?;
            governor = proxy;
        }
    }

    /// Among the governor's active delegations covering the cell, the one
    /// that applies: deepest covering category, then deepest covering
    /// purpose, then newest (§3). Personas never delegate.
    async fn applicable(
        &self,
        slice: &Slice,
        cell: &Cell<'_>,
        states: &mut HashMap<Owner, OwnerState>,
    ) -> Result<Option<(Owner, OwnerState)>, EngineError> {
        let mut covering = slice.covering(cell.category, cell.purpose);
        if covering.is_empty() {
            return Ok(None);
        }
        let unknown: Vec<Owner> = covering
            .iter()
            .map(|(delegation, _)| delegation.proxy.clone())
            .filter(|proxy| !states.contains_key(proxy))
            .collect();
        if !unknown.is_empty() {
            let fetched = self.store.known_owner_states(&unknown).await?;
            states.extend(unknown.into_iter().zip(fetched));
        }
        covering.retain(|(delegation, _)| {
            states
                .get(&delegation.proxy)
                .is_some_and(|state| state.can_proxy)
        });
        let chosen = covering
            .into_iter()
            .max_by_key(|(delegation, depths)| (*depths, delegation.seq))
            .map(|(delegation, _)| delegation.proxy.clone());
        Ok(chosen.and_then(|proxy| states.get(&proxy).map(|state| (proxy, *state))))
    }
}

impl Evaluator {
    /// The Cedar model of `policies`: schema, vocabulary entities, base policies.
    pub fn new(policies: &Policies) -> Result<Self, CedarError> {
        let model = CedarModel::new(
            (&policies.schema_origin, &policies.schema),
            &policies.vocabulary,
            &policies.coop_policies,
        )?;
        // Conservative: any mention of a member in a base policy's JSON
        // form (an attribute, an entity type, even an annotation) counts.
        let coop_reads_member = model.base_policies.policies().any(|policy| {
            policy.to_json().map_or(true, |json| {
                json.to_string().to_lowercase().contains("member")
            })
        });
        Ok(Self {
            model,
            authorizer: Authorizer::new(),
            interned: Mutex::new(HashMap::new()),
            shapes: Mutex::new(HashMap::new()),
            coop_reads_member,
        })
    }

    /// Whether a co-op base policy may answer differently for different
    /// members (it mentions the member).
    pub fn coop_reads_member(&self) -> bool {
        self.coop_reads_member
    }

    /// How many distinct rule texts are compiled and in use.
    pub fn live_policies(&self) -> usize {
        self.interned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter(|policy| policy.strong_count() > 0)
            .count()
    }

    pub fn model(&self) -> &CedarModel {
        &self.model
    }

    /// The Cedar text of a new rule, validated against the schema.
    pub fn compile(&self, id: &RuleId, spec: &RuleSpec) -> Result<String, CedarError> {
        self.model.compile(id, spec).map(|(text, _)| text)
    }

    /// Compiles the co-op's rules (with the base policies) into its slice.
    pub fn coop_slice(&self, version: i64, rules: &[Rule]) -> Result<Slice, CedarError> {
        self.build_slice(None, version, rules)
    }

    /// Compiles an owner's rules on top of the co-op's slice.
    pub fn slice(&self, coop: &Slice, version: i64, rules: &[Rule]) -> Result<Slice, CedarError> {
        self.build_slice(Some(coop), version, rules)
    }

    fn build_slice(
        &self,
        coop: Option<&Slice>,
        version: i64,
        rules: &[Rule],
    ) -> Result<Slice, CedarError> {
        let coop_shape = coop.map(|coop| Arc::clone(&coop.shape));
        let key: ShapeKey = (
            coop_shape
                .as_ref()
                .map_or(0, |shape| Arc::as_ptr(shape) as usize),
            rules
                .iter()
                .map(|rule| body_of(&rule.cedar).to_owned())
                .collect(),
        );
        let rule_ids = RuleIds::new(rules.iter().map(|rule| rule.id.as_str()));
        // Every slice on a co-op slice shares its list of co-op rule ids.
        let (coop_version, coop_rule_ids) = match coop {
            Some(coop) => (coop.version, Arc::clone(&coop.coop_rule_ids)),
            None => (0, Arc::new(rule_ids.clone())),
        };
        let slice = |shape| Slice {
            version,
            coop_version,
            shape,
            rule_ids,
            coop_rule_ids,
            delegations: Vec::new(),
        };
        if let Some(shape) = self.known_shape(&key) {
            return Ok(slice(shape));
        }
        // Compiled with no lock held: other slices compile meanwhile. Two
        // compiling the same shape at once both finish; the first kept wins.
        let compiled = Arc::new(self.shape(coop_shape, rules)?);
        let mut shapes = self
            .shapes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(shape) = shapes.get(&key).and_then(std::sync::Weak::upgrade) {
            return Ok(slice(shape));
        }
        if shapes.len() >= 1024 && shapes.len().is_power_of_two() {
            shapes.retain(|_, shape| shape.strong_count() > 0);
        }
        shapes.insert(key, Arc::downgrade(&compiled));
        Ok(slice(compiled))
    }

    fn known_shape(&self, key: &ShapeKey) -> Option<Arc<Shape>> {
        self.shapes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .and_then(std::sync::Weak::upgrade)
    }

    fn shape(&self, coop: Option<Arc<Shape>>, rules: &[Rule]) -> Result<Shape, CedarError> {
        let add = |set: &mut PolicySet, policy: Policy| {
            let id = policy.id().to_string();
            set.add(policy).map_err(|error| CedarError::Parse {
                id,
                message: error.to_string(),
            })
        };
        let mut all = PolicySet::new();
        let mut permits = PolicySet::new();
        let mut has_forbids = false;
        // The co-op's own shape: base policies, and its rules as `c#i`,
        // indexed by cell. Any other: the owner's rules alone, as `#i` (the
        // co-op's are evaluated from the co-op shape it was built on).
        let mut index = match &coop {
            None => Some(CoopIndex {
                base: self.model.base_policies.policies().cloned().collect(),
                rules: Vec::with_capacity(rules.len()),
                cells: RwLock::new(HashMap::new()),
            }),
            Some(_) => None,
        };
        if let Some(index) = &index {
            for policy in &index.base {
                add(&mut all, policy.clone())?;
            }
        }
        let prefix = if index.is_some() { "c#" } else { "#" };
        let mut interned = Vec::with_capacity(rules.len());
        let mut owned = Vec::new();
        for (position, rule) in rules.iter().enumerate() {
            let shared = self.policy(rule)?;
            let policy =
                Policy::clone(&shared).new_id(PolicyId::new(format!("{prefix}{position}")));
            interned.push(shared);
            match policy.effect() {
                cedar_policy::Effect::Permit => add(&mut permits, policy.clone())?,
                cedar_policy::Effect::Forbid => has_forbids = true,
            }
            match &mut index {
                Some(index) => index
                    .rules
                    .push((policy.clone(), RuleScope::of(&rule.spec))),
                None => owned.push((policy.clone(), RuleScope::of(&rule.spec))),
            }
            add(&mut all, policy)?;
        }
        Ok(Shape {
            all,
            permits: (has_forbids && !permits.is_empty()).then_some(permits),
            coop,
            index,
            rules: owned,
            subsets: RwLock::new(HashMap::new()),
            _policies: interned,
        })
    }

    /// The compiled policy of a stored rule's text, its condition shared
    /// with every other rule of the same text.
    fn policy(&self, rule: &Rule) -> Result<Arc<Policy>, CedarError> {
        let body = body_of(&rule.cedar);
        let known = self
            .interned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(body)
            .and_then(std::sync::Weak::upgrade);
        if let Some(policy) = known {
            return Ok(policy);
        }
        // Parsed with no lock held.
        let parsed = Arc::new(self.model.parse_policy(rule.id.as_str(), body)?);
        let mut interned = self
            .interned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(policy) = interned.get(body).and_then(std::sync::Weak::upgrade) {
            return Ok(policy);
        }
        if interned.len() >= 1024 && interned.len().is_power_of_two() {
            interned.retain(|_, policy| policy.strong_count() > 0);
        }
        interned.insert(body.to_owned(), Arc::downgrade(&parsed));
        Ok(parsed)
    }

    pub fn request(&self, cell: &Cell<'_>) -> Result<Request, CedarError> {
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

    /// The co-op rules and base policies that deny the cell, and the
    /// owner's opinion (§2). The co-op's policies are one Cedar evaluation
    /// (shared by every owner: each shape holds only its owner's
    /// policies), the owner's another. On the co-op's own slice (a subject
    /// that stands for no member) there is no owner's opinion.
    pub fn judge(
        &self,
        slice: &Slice,
        cell: &Cell<'_>,
        request: &Request,
    ) -> Result<(Vec<String>, Opinion), CedarError> {
        let (coop_shape, owner) = match &slice.shape.coop {
            Some(coop) => (coop, true),
            None => (&slice.shape, false),
        };
        let evaluated = match &coop_shape.index {
            Some(index) => self.evaluate(&*index.set(cell)?, request),
            None => self.evaluate(&coop_shape.all, request),
        };
        let coop = slice.rule_ids_of(evaluated.matched);
        let opinion = if owner {
            self.opinion(slice, cell, request)?
        } else {
            Opinion::None
        };
        Ok((coop, opinion))
    }

    /// The owner's opinion on a cell (§2): deny when any matching rule
    /// denies, allow when only allows match. A policy whose evaluation
    /// fails counts as a matching deny: doubt protects the member.
    ///
    /// Only the rules whose scope admits the cell are evaluated: the
    /// others cannot match it (`RuleScope`).
    pub fn opinion(
        &self,
        slice: &Slice,
        cell: &Cell<'_>,
        request: &Request,
    ) -> Result<Opinion, CedarError> {
        let shape = &slice.shape;
        let subset = match shape.view(cell)? {
            View::Nothing => return Ok(Opinion::None),
            View::All => None,
            View::Subset(subset) => Some(subset),
        };
        let (all, permits) = match &subset {
            Some(subset) => (&subset.all, subset.permits.as_ref()),
            None => (&shape.all, shape.permits.as_ref()),
        };
        let evaluated = self.evaluate(all, request);
        if evaluated.decision == CedarDecision::Allow && evaluated.errored.is_empty() {
            return Ok(Opinion::Allow(slice.rule_ids_of(evaluated.matched)));
        }
        if evaluated.matched.is_empty() {
            return Ok(Opinion::None);
        }
        // Name the matching allows too (§5: every matching rule).
        let mut rules = slice.rule_ids_of(evaluated.matched);
        if let Some(permits) = permits {
            rules.extend(slice.rule_ids_of(self.evaluate(permits, request).matched));
        }
        Ok(Opinion::Deny(rules))
    }

    /// One Cedar evaluation. `matched` holds the satisfied policies that
    /// determined the answer (the forbids of a denial, the permits of an
    /// allow) and those whose evaluation failed (logged; never expected
    /// for validated rules), sorted.
    fn evaluate(&self, set: &PolicySet, request: &Request) -> Evaluated {
        if set.is_empty() {
            return Evaluated {
                decision: CedarDecision::Deny,
                matched: Vec::new(),
                errored: Vec::new(),
            };
        }
        let response = self
            .authorizer
            .is_authorized(request, set, &self.model.entities);
        let diagnostics = response.diagnostics();
        let mut matched: Vec<String> = diagnostics.reason().map(ToString::to_string).collect();
        let mut errored = Vec::new();
        for error in diagnostics.errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(error) = error;
            let id = error.policy_id().to_string();
            tracing::error!(policy = %id, "a validated policy failed to evaluate; counted as a match");
            matched.push(id.clone());
            errored.push(id);
        }
        matched.sort();
        matched.dedup();
        Evaluated {
            decision: response.decision(),
            matched,
            errored,
        }
    }
}

/// A stored rule's Cedar text without its `@id` line: what rules that
/// differ only in id have in common.
fn body_of(cedar: &str) -> &str {
    cedar
        .strip_prefix("@id(")
        .and_then(|rest| rest.split_once('\n'))
        .map_or(cedar, |(_, body)| body)
}

struct Evaluated {
    decision: CedarDecision,
    /// Satisfied (and failed) policies, sorted.
    matched: Vec<String>,
    /// Policies whose evaluation failed.
    errored: Vec<String>,
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

#[cfg(test)]
mod tests {
    use super::RuleIds;

    #[test]
    fn rule_ids_are_found_by_position_whatever_their_lengths() {
        let same = RuleIds::new(["rul_a", "rul_b", "rul_c"].into_iter());
        assert_eq!(same.width, Some(5));
        let varied = RuleIds::new(["a", "rul_b", "rul_cc"].into_iter());
        assert_eq!(varied.width, None);
        for (ids, expected) in [
            (&same, ["rul_a", "rul_b", "rul_c"]),
            (&varied, ["a", "rul_b", "rul_cc"]),
        ] {
            for (index, id) in expected.iter().enumerate() {
                assert_eq!(ids.get(index), Some(*id));
            }
            assert_eq!(ids.get(3), None);
            assert_eq!(ids.get(usize::MAX), None);
        }
        let none = RuleIds::new(std::iter::empty());
        assert!(none.is_empty());
        assert_eq!(none.get(0), None);
    }
}
