//! The cohort engine (issue 11): which members an `aggregate` request
//! counts (consent-semantics §4: "an `aggregate` request for a dataset
//! includes a member only when every category the dataset reads is
//! allowed"), for every member at once.
//!
//! Deciding a million members one by one would evaluate Cedar a million
//! times per category. Here each category is decided in passes that give,
//! member by member, exactly what `Engine::decide` gives:
//!
//! 1. §4 steps 1 and 3 once: the requester's standing and the co-op's
//!    rules do not depend on the member (unless a co-op base policy reads
//!    `context.member`; then step 3 is judged per member).
//! 2. Each owner's *opinion* from its policies' answers: every distinct
//!    policy (rules that differ only in id share one parsed policy) is
//!    evaluated by Cedar once, alone; a shape's opinion is then combined
//!    from its policies as Cedar combines them (a matching forbid denies,
//!    else a matching permit allows), once per shape; owners whose rules
//!    read alike share one shape, hence one answer (owners' rules never
//!    read the member).
//! 3. Step 4's walk as a graph: every owner has at most one delegation
//!    that applies to the cell, so the walks form a functional graph. A
//!    member is allowed when the first owner with an opinion on its path
//!    allows, at most `max_depth` hops away; a path that returns to an
//!    owner before meeting an opinion is a cycle and never meets one. The
//!    hop counts are memoised, so each owner is walked once.
//!
//! The graph (every owner a walk may reach, its shape, its delegations
//! with their proxies resolved and their scopes interned) is kept between
//! cohorts and patched with the owners the store's journal says changed
//! since (the embedded store's mirror keeps one); without a journal, or
//! when the co-op's rules changed, it is built afresh. A member who never
//! had a rule or a delegation (policy version 0) is silent and delegates
//! nothing: denied `no_consent`, so only members with a version are
//! candidates.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datacoop_wire::Action;
use rustc_hash::FxHashMap;

use super::{Cell, Engine, EngineError, Shape, Slice};
use crate::domain::rule::Owner;
use crate::domain::vocabulary::TermId;
use crate::domain::{MemberId, Scope, ThirdPartyId, ThirdPartyStatus};

/// What a cohort is asked for: the requester (the licensee), the
/// categories a dataset reads and its purpose.
#[derive(Debug, Clone)]
pub struct CohortRequest {
    pub requester: ThirdPartyId,
    pub categories: Vec<TermId>,
    pub purpose: TermId,
}

/// The members counted, and what it took to find them.
#[derive(Debug, Clone, Default)]
pub struct Cohort {
    /// Members whose decision allows every category, in no set order.
    pub members: Vec<MemberId>,
    /// Members in the co-op with rules or delegations: the only ones that
    /// can be allowed.
    pub candidates: usize,
    /// Cedar evaluations made for owners' opinions (one per distinct
    /// policy a cell may match, per category).
    pub evaluations: usize,
    /// Owners whose place in the graph was (re)computed for this cohort:
    /// all of them when it was built afresh.
    pub refreshed: usize,
}

/// How far a cohort has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CohortProgress {
    /// How many owners the graph holds (candidates and their proxies).
    Candidates(u64),
    /// One more category was decided for every candidate.
    Category,
}

/// Above this many stale compiled slices, every slice is compiled again
/// from three bulk reads rather than read owner by owner.
const BULK_REFRESH: usize = 256;

/// Owners' slices read from the store at once while patching the graph.
const SLICE_READS: usize = 8;

/// No hop count: the walk meets no opinion (silent end, or a cycle).
const NEVER: u32 = u32::MAX;

/// The answer for one owner and one cell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Said {
    Allow,
    Deny,
    Silent,
}

/// What Cedar said of one policy alone for a cell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Matched {
    No,
    Yes,
    /// Failed to evaluate: counted as a match, and never an allow (as
    /// `Evaluator::opinion` counts it).
    Error,
}

/// A delegation, resolved: its scope (interned), creation order and the
/// node of its proxy.
#[derive(Debug, Clone, Copy)]
struct Link {
    scope: u32,
    seq: i64,
    proxy: u32,
}

/// Every owner a walk may reach, kept between cohorts.
#[derive(Debug, Default)]
pub(super) struct Graph {
    /// The store journal's generation this graph reflects (at least).
    generation: u64,
    coop_version: i64,
    index: FxHashMap<String, u32>,
    owners: Vec<Owner>,
    slices: Vec<Arc<Slice>>,
    /// A member in the co-op with a version: may be counted.
    candidate: Vec<bool>,
    /// May be a proxy (§3: a persona; a member in the co-op who accepts).
    can_proxy: Vec<bool>,
    shape_of: Vec<u32>,
    shapes: Vec<Arc<Shape>>,
    shape_numbers: FxHashMap<usize, u32>,
    /// Each node's range of `links`.
    spans: Vec<(u32, u32)>,
    links: Vec<Link>,
    scopes: Vec<Scope>,
    scope_numbers: FxHashMap<Scope, u32>,
}

/// An owner's standing, as the graph needs it.
#[derive(Debug, Clone, Copy)]
struct Standing {
    version: i64,
    candidate: bool,
    can_proxy: bool,
}

fn number(position: usize) -> Result<u32, EngineError> {
    u32::try_from(position).map_err(|_| EngineError::Cohort)
}

fn at(number: u32) -> usize {
    usize::try_from(number).unwrap_or(usize::MAX)
}

impl Graph {
    fn shape_number(&mut self, slice: &Slice) -> Result<u32, EngineError> {
        let next = number(self.shapes.len())?;
        let key = Arc::as_ptr(&slice.shape) as usize;
        if let Some(known) = self.shape_numbers.get(&key) {
            return Ok(*known);
        }
        self.shape_numbers.insert(key, next);
        self.shapes.push(Arc::clone(&slice.shape));
        Ok(next)
    }

    fn scope_number(&mut self, scope: &Scope) -> Result<u32, EngineError> {
        if let Some(known) = self.scope_numbers.get(scope) {
            return Ok(*known);
        }
        let next = number(self.scopes.len())?;
        self.scope_numbers.insert(scope.clone(), next);
        self.scopes.push(scope.clone());
        Ok(next)
    }

    /// Sets a node's slice and standing (a new node when `owner` has
    /// none); its links are set by `link`.
    fn set(
        &mut self,
        owner: &Owner,
        slice: Arc<Slice>,
        standing: Standing,
    ) -> Result<u32, EngineError> {
        let shape = self.shape_number(&slice)?;
        let node = match self.index.get(owner.id()) {
            Some(node) => *node,
            None => {
                let node = number(self.owners.len())?;
                self.index.insert(owner.id().to_owned(), node);
                self.owners.push(owner.clone());
                self.slices.push(Arc::clone(&slice));
                self.candidate.push(false);
                self.can_proxy.push(false);
                self.shape_of.push(shape);
                self.spans.push((0, 0));
                node
            }
        };
        let position = at(node);
        if let Some(held) = self.slices.get_mut(position) {
            *held = slice;
        }
        if let Some(held) = self.candidate.get_mut(position) {
            *held = standing.candidate;
        }
        if let Some(held) = self.can_proxy.get_mut(position) {
            *held = standing.can_proxy;
        }
        if let Some(held) = self.shape_of.get_mut(position) {
            *held = shape;
        }
        Ok(node)
    }

    /// The proxies `node`'s delegations name that have no node yet.
    fn unknown_proxies(&self, node: u32) -> Vec<Owner> {
        self.slices
            .get(at(node))
            .map(|slice| {
                slice
                    .delegations
                    .iter()
                    .filter(|delegation| !self.index.contains_key(delegation.proxy.id()))
                    .map(|delegation| delegation.proxy.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Writes `node`'s links (every proxy must have a node by now); the
    /// old ones stay behind as garbage until the graph is rebuilt.
    fn link(&mut self, node: u32) -> Result<(), EngineError> {
        let Some(slice) = self.slices.get(at(node)).cloned() else {
            return Err(EngineError::Cohort);
        };
        let start = number(self.links.len())?;
        for delegation in &slice.delegations {
            let proxy = *self
                .index
                .get(delegation.proxy.id())
                .ok_or(EngineError::Cohort)?;
            let scope = self.scope_number(&delegation.scope)?;
            self.links.push(Link {
                scope,
                seq: delegation.seq,
                proxy,
            });
        }
        let end = number(self.links.len())?;
        if let Some(span) = self.spans.get_mut(at(node)) {
            *span = (start, end);
        }
        Ok(())
    }

    /// More garbage links than live ones: time to build afresh.
    fn wasteful(&self) -> bool {
        let live: usize = self
            .spans
            .iter()
            .map(|(start, end)| at(*end).saturating_sub(at(*start)))
            .sum();
        self.links.len() > 1024 && self.links.len() > 2 * live
    }
}

impl Engine {
    /// The cohort of `request` at instant `now` (§4 for action
    /// `aggregate`, every category allowed). `progress` is told how many
    /// owners there are, then of each category decided.
    pub async fn cohort(
        &self,
        request: &CohortRequest,
        now: DateTime<Utc>,
        progress: &(dyn Fn(CohortProgress) + Send + Sync),
    ) -> Result<Cohort, EngineError> {
        let facts = self
            .store
            .decision_facts(Some(&request.requester), None)
            .await?;
        // §4 step 1: an unknown or suspended requester is denied for all.
        let Some((class, ThirdPartyStatus::Active)) = facts.requester else {
            return Ok(Cohort::default());
        };
        if request.categories.is_empty() {
            return Ok(Cohort::default());
        }
        let coop = self.coop_slice(facts.coop_version).await?;
        // One cohort at a time patches or builds the graph.
        let mut held = self.cohort_graph.lock().await;
        let refreshed = self.current_graph(&mut held, &coop).await?;
        let Some(graph) = held.as_ref() else {
            return Err(EngineError::Cohort);
        };
        let candidates = graph.candidate.iter().filter(|counted| **counted).count();
        progress(CohortProgress::Candidates(graph.owners.len() as u64));

        let reads_member = self.evaluator.coop_reads_member();
        let silent = Arc::new(self.evaluator.slice(&coop, 0, &[])?);
        let placeholder = MemberId::from_trusted(String::new());
        let mut allowed = graph.candidate.clone();
        let mut evaluations = 0;
        for category in &request.categories {
            let cell = Cell {
                requester: request.requester.as_str(),
                class,
                action: Action::Aggregate,
                category,
                purpose: &request.purpose,
                member: &placeholder,
                now,
            };
            let cedar = self.evaluator.request(&cell)?;
            // §4 step 3, once for everyone.
            if !reads_member {
                let (coop_rules, _) = self.evaluator.judge(&silent, &cell, &cedar)?;
                if !coop_rules.is_empty() {
                    return Ok(Cohort {
                        members: Vec::new(),
                        candidates,
                        evaluations,
                        refreshed,
                    });
                }
            }
            // Each distinct policy once, then each shape's opinion from
            // its policies' answers.
            let mut policies: FxHashMap<usize, Matched> = FxHashMap::default();
            let mut by_shape = Vec::with_capacity(graph.shapes.len());
            for shape in &graph.shapes {
                by_shape.push(self.shape_opinion(shape, &cell, &cedar, &mut policies)?);
            }
            evaluations += policies.len();
            let said: Vec<Said> = graph
                .shape_of
                .iter()
                .map(|shape| by_shape.get(at(*shape)).copied().unwrap_or(Said::Silent))
                .collect();
            // Each scope's covering depths for the cell, once (§3).
            let depths: Vec<Option<(usize, usize)>> = graph
                .scopes
                .iter()
                .map(|scope| scope.covering_depths(category, &request.purpose))
                .collect();
            // The delegation that applies at each silent owner: the
            // deepest covering category, then purpose, then the newest.
            let next: Vec<Option<u32>> = graph
                .spans
                .iter()
                .zip(&said)
                .map(|((start, end), answer)| {
                    if *answer != Said::Silent {
                        return None;
                    }
                    graph
                        .links
                        .get(at(*start)..at(*end))?
                        .iter()
                        .filter(|link| graph.can_proxy.get(at(link.proxy)).copied() == Some(true))
                        .filter_map(|link| {
                            let covering = (*depths.get(at(link.scope))?)?;
                            Some(((covering, link.seq), link.proxy))
                        })
                        .max_by_key(|(order, _)| *order)
                        .map(|(_, proxy)| proxy)
                })
                .collect();
            let walks = walks(&said, &next);
            drop(next);
            for (member, walk) in allowed.iter_mut().zip(&walks) {
                *member &= walk.0 != NEVER
                    && usize::try_from(walk.0).is_ok_and(|hops| hops <= self.max_depth)
                    && walk.1 == Said::Allow;
            }
            // A co-op base policy that reads the member: step 3 for each
            // member still allowed.
            if reads_member {
                for (owner, member) in graph.owners.iter().zip(allowed.iter_mut()) {
                    let Owner::Member(id) = owner else {
                        continue;
                    };
                    if !*member {
                        continue;
                    }
                    let cell = Cell { member: id, ..cell };
                    let cedar = self.evaluator.request(&cell)?;
                    let (coop_rules, _) = self.evaluator.judge(&silent, &cell, &cedar)?;
                    if !coop_rules.is_empty() {
                        *member = false;
                    }
                }
            }
            progress(CohortProgress::Category);
        }
        let members = graph
            .owners
            .iter()
            .zip(allowed)
            .filter_map(|(owner, allowed)| match owner {
                Owner::Member(id) if allowed => Some(id.clone()),
                _ => None,
            })
            .collect();
        Ok(Cohort {
            members,
            candidates,
            evaluations,
            refreshed,
        })
    }

    /// Brings the graph up to date: patched with the owners the store's
    /// journal lists since it was made, or built afresh. Says how many
    /// owners were (re)computed.
    async fn current_graph(
        &self,
        held: &mut Option<Graph>,
        coop: &Slice,
    ) -> Result<usize, EngineError> {
        let kept = held
            .take()
            .filter(|graph| graph.coop_version == coop.version && !graph.wasteful());
        if let Some(mut graph) = kept {
            // A co-op rule changes every slice: built afresh.
            let changes = self
                .store
                .consent_changes(graph.generation)
                .await?
                .and_then(|changes| Some((changes.generation, changes.owners?)))
                .filter(|(_, owners)| !owners.contains(&Owner::Coop));
            if let Some((generation, owners)) = changes {
                let refreshed = self.patch(&mut graph, owners, coop).await?;
                graph.generation = generation;
                *held = Some(graph);
                return Ok(refreshed);
            }
        }
        let graph = self.build_graph(coop).await?;
        let refreshed = graph.owners.len();
        *held = Some(graph);
        Ok(refreshed)
    }

    /// The graph built afresh from the store.
    async fn build_graph(&self, coop: &Slice) -> Result<Graph, EngineError> {
        // The generation first: whatever changes after it is patched in
        // by the next cohort (patches read the current state, so a change
        // seen twice is harmless).
        let generation = self
            .store
            .consent_changes(u64::MAX)
            .await?
            .map_or(0, |changes| changes.generation);
        let candidates = self.store.cohort_candidates().await?;
        let slices = self.fresh_slices(&candidates, coop).await?;
        let mut graph = Graph {
            generation,
            coop_version: coop.version,
            index: FxHashMap::with_capacity_and_hasher(candidates.len(), Default::default()),
            ..Graph::default()
        };
        let mut fresh = Vec::with_capacity(candidates.len());
        for (candidate, slice) in candidates.into_iter().zip(slices) {
            let standing = Standing {
                version: candidate.version,
                candidate: true,
                can_proxy: candidate.accepts_delegations,
            };
            fresh.push(graph.set(&Owner::Member(candidate.id), slice, standing)?);
        }
        self.link_all(&mut graph, fresh, coop).await?;
        Ok(graph)
    }

    /// Recomputes the nodes of `owners` (and gives nodes to proxies they
    /// now name). Says how many nodes were (re)computed.
    async fn patch(
        &self,
        graph: &mut Graph,
        mut owners: Vec<Owner>,
        coop: &Slice,
    ) -> Result<usize, EngineError> {
        owners.sort();
        owners.dedup();
        // An owner the graph never met, with nothing to count or to decide
        // for anyone yet, stays out of it.
        let wanted: Vec<(&Owner, Standing)> = owners
            .iter()
            .zip(self.standings(&owners, true).await?)
            .filter(|(owner, standing)| graph.index.contains_key(owner.id()) || standing.candidate)
            .collect();
        let slices = self.slices_of(&wanted, coop).await?;
        let mut fresh = Vec::with_capacity(wanted.len());
        for ((owner, standing), slice) in wanted.into_iter().zip(slices) {
            fresh.push(graph.set(owner, slice, standing)?);
        }
        let refreshed = fresh.len();
        Ok(refreshed + self.link_all(graph, fresh, coop).await?)
    }

    /// Links every node of `fresh`, giving nodes to the proxies they name
    /// (and linking those in turn). Says how many nodes it added.
    async fn link_all(
        &self,
        graph: &mut Graph,
        mut fresh: Vec<u32>,
        coop: &Slice,
    ) -> Result<usize, EngineError> {
        let mut added = 0;
        while !fresh.is_empty() {
            let mut unknown: Vec<Owner> = fresh
                .iter()
                .flat_map(|node| graph.unknown_proxies(*node))
                .collect();
            unknown.sort();
            unknown.dedup();
            let wanted: Vec<(&Owner, Standing)> = unknown
                .iter()
                .zip(self.standings(&unknown, false).await?)
                .collect();
            let slices = self.slices_of(&wanted, coop).await?;
            let mut next = Vec::with_capacity(wanted.len());
            for ((owner, standing), slice) in wanted.into_iter().zip(slices) {
                next.push(graph.set(owner, slice, standing)?);
            }
            added += next.len();
            for node in fresh {
                graph.link(node)?;
            }
            fresh = next;
        }
        Ok(added)
    }

    /// The slices of `owners` at their versions, several read from the
    /// store at once.
    async fn slices_of(
        &self,
        owners: &[(&Owner, Standing)],
        coop: &Slice,
    ) -> Result<Vec<Arc<Slice>>, EngineError> {
        // Members whose cached slice is older: their rules and delegations
        // read in a few queries, their slices compiled and kept.
        let stale: Vec<(MemberId, i64)> = owners
            .iter()
            .filter_map(|(owner, standing)| match owner {
                Owner::Member(id)
                    if self.cached(owner).is_none_or(|slice| {
                        slice.version != standing.version || slice.coop_version != coop.version
                    }) && standing.version > 0 =>
                {
                    Some((id.clone(), standing.version))
                }
                _ => None,
            })
            .collect();
        if stale.len() > 1 {
            let ids: Vec<MemberId> = stale.iter().map(|(id, _)| id.clone()).collect();
            let (rules, delegations) = self.store.rules_and_delegations_of(&ids).await?;
            let mut rules_of: FxHashMap<String, Vec<crate::domain::Rule>> = FxHashMap::default();
            for rule in rules {
                rules_of
                    .entry(rule.owner.id().to_owned())
                    .or_default()
                    .push(rule);
            }
            let mut delegations_of: FxHashMap<String, Vec<crate::domain::Delegation>> =
                FxHashMap::default();
            for delegation in delegations {
                delegations_of
                    .entry(delegation.member.to_string())
                    .or_default()
                    .push(delegation);
            }
            for (id, version) in stale {
                let rules = rules_of.remove(id.as_str()).unwrap_or_default();
                let slice = self
                    .evaluator
                    .slice(coop, version, &rules)?
                    .with_delegations(delegations_of.remove(id.as_str()).unwrap_or_default());
                self.keep(Owner::Member(id), Arc::new(slice));
            }
        }
        let mut slices = Vec::with_capacity(owners.len());
        for chunk in owners.chunks(SLICE_READS) {
            let mut reads = Vec::with_capacity(chunk.len());
            for (owner, standing) in chunk {
                reads.push(self.slice(owner, standing.version, coop));
            }
            for slice in futures_util::future::join_all(reads).await {
                slices.push(slice?);
            }
        }
        Ok(slices)
    }

    /// The standing of each owner, as the store has it now. `counted`:
    /// whether each may be a candidate; a proxy the graph has no node for
    /// is not one (every candidate got a node when the graph was built, or
    /// from the journal since), so its member facts are not read.
    async fn standings(
        &self,
        owners: &[Owner],
        counted: bool,
    ) -> Result<Vec<Standing>, EngineError> {
        let states = self.store.known_owner_states(owners).await?;
        let mut standings = Vec::with_capacity(owners.len());
        for (owner, state) in owners.iter().zip(states) {
            let candidate = match owner {
                Owner::Member(id) if counted => {
                    let facts = self.store.decision_facts(None, Some(id)).await?;
                    facts.member_active && facts.member_version > 0
                }
                Owner::Member(_) | Owner::Persona(_) | Owner::Coop => false,
            };
            standings.push(Standing {
                version: state.version,
                candidate,
                can_proxy: state.can_proxy,
            });
        }
        Ok(standings)
    }

    /// An owner's opinion on `cell` (§2) as `Evaluator::opinion` gives
    /// it, from each of its policies judged alone (memoised in `policies`
    /// by the shared parsed policy): deny when a matching rule denies or
    /// one failed, allow when an allow matches, silent otherwise. Rules
    /// whose scope cannot admit the cell are skipped as `Shape::view`
    /// skips them.
    fn shape_opinion(
        &self,
        shape: &Shape,
        cell: &Cell<'_>,
        cedar: &cedar_policy::Request,
        policies: &mut FxHashMap<usize, Matched>,
    ) -> Result<Said, EngineError> {
        let filtered = shape.rules.len() <= 64;
        let (mut permit, mut forbid, mut error) = (false, false, false);
        for ((policy, scope), shared) in shape.rules.iter().zip(&shape._policies) {
            if filtered && !scope.may_match(cell) {
                continue;
            }
            let key = Arc::as_ptr(shared) as usize;
            let matched = match policies.get(&key) {
                Some(matched) => *matched,
                None => {
                    let set = super::policy_set(std::iter::once(policy))?;
                    let evaluated = self.evaluator.evaluate(&set, cedar);
                    let matched = if !evaluated.errored.is_empty() {
                        Matched::Error
                    } else if evaluated.matched.is_empty() {
                        Matched::No
                    } else {
                        Matched::Yes
                    };
                    policies.insert(key, matched);
                    matched
                }
            };
            match (matched, policy.effect()) {
                (Matched::No, _) => {}
                (Matched::Error, _) => error = true,
                (Matched::Yes, cedar_policy::Effect::Permit) => permit = true,
                (Matched::Yes, cedar_policy::Effect::Forbid) => forbid = true,
            }
        }
        Ok(if permit && !forbid && !error {
            Said::Allow
        } else if permit || forbid || error {
            Said::Deny
        } else {
            Said::Silent
        })
    }

    /// The slices of the members `candidates` at their versions, compiling
    /// those whose cached slice is older (all of them again, from three
    /// bulk reads, when many are).
    async fn fresh_slices(
        &self,
        candidates: &[crate::store::Candidate],
        coop: &Slice,
    ) -> Result<Vec<Arc<Slice>>, EngineError> {
        for attempt in 0..2 {
            let mut slices = Vec::with_capacity(candidates.len());
            let mut stale = Vec::new();
            {
                let cached = self
                    .slices
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut owner = Owner::Member(MemberId::from_trusted(String::new()));
                for (position, candidate) in candidates.iter().enumerate() {
                    // One key, reused: no allocation per lookup.
                    if let Owner::Member(key) = &mut owner {
                        key.clone_from(&candidate.id);
                    }
                    match cached.get(&owner) {
                        Some(slice)
                            if slice.version == candidate.version
                                && slice.coop_version == coop.version =>
                        {
                            slices.push(Some(Arc::clone(slice)));
                        }
                        _ => {
                            slices.push(None);
                            stale.push(position);
                        }
                    }
                }
            }
            if stale.len() > BULK_REFRESH && attempt == 0 {
                self.warm().await?;
                continue;
            }
            for position in stale {
                let candidate = candidates.get(position).ok_or(EngineError::Cohort)?;
                let slice = self
                    .slice(
                        &Owner::Member(candidate.id.clone()),
                        candidate.version,
                        coop,
                    )
                    .await?;
                if let Some(held) = slices.get_mut(position) {
                    *held = Some(slice);
                }
            }
            return slices
                .into_iter()
                .map(|slice| slice.ok_or(EngineError::Cohort))
                .collect();
        }
        Err(EngineError::Cohort)
    }
}

/// For every owner, the hops from it to the first owner on its walk that
/// has an opinion, and that opinion; `(NEVER, Silent)` when the walk ends
/// silent or returns to an owner before meeting one (a cycle).
fn walks(said: &[Said], next: &[Option<u32>]) -> Vec<(u32, Said)> {
    const UNKNOWN: (u32, Said) = (NEVER - 1, Said::Silent);
    let mut known = vec![UNKNOWN; said.len()];
    let mut on_path = vec![false; said.len()];
    let mut path = Vec::new();
    for start in 0..said.len() {
        if known.get(start) != Some(&UNKNOWN) {
            continue;
        }
        // Follow the walk until an owner already known, an owner with an
        // opinion, a silent end, or an owner already on this path.
        let mut at = start;
        let end = loop {
            if let Some(&walk) = known.get(at).filter(|walk| **walk != UNKNOWN) {
                break walk;
            }
            if let Some(&answer) = said.get(at).filter(|answer| **answer != Said::Silent) {
                if let Some(slot) = known.get_mut(at) {
                    *slot = (0, answer);
                }
                break (0, answer);
            }
            if on_path.get(at).copied().unwrap_or(true) {
                break (NEVER, Said::Silent);
            }
            if let Some(flag) = on_path.get_mut(at) {
                *flag = true;
            }
            path.push(at);
            match next
                .get(at)
                .copied()
                .flatten()
                .and_then(|proxy| usize::try_from(proxy).ok())
            {
                Some(proxy) => at = proxy,
                None => break (NEVER, Said::Silent),
            }
        };
        // Each owner on the path is one hop further from the end than the
        // owner it delegates to; a walk that meets no opinion never will.
        let mut walk = end;
        while let Some(owner) = path.pop() {
            if walk.0 != NEVER {
                walk.0 = walk.0.saturating_add(1).min(NEVER - 2);
            }
            if let Some(slot) = known.get_mut(owner) {
                *slot = walk;
            }
            if let Some(flag) = on_path.get_mut(owner) {
                *flag = false;
            }
        }
    }
    known
}
