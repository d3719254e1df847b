//! The cohort engine (issue 11): which members an `aggregate` request
//! counts (consent-semantics §4: "an `aggregate` request for a dataset
//! includes a member only when every category the dataset reads is
//! allowed"), for every member at once.
//!
//! Deciding a million members one by one would evaluate Cedar a million
//! times per category. Here each category is decided in three passes that
//! give, member by member, exactly what `Engine::decide` gives:
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
//! A member who never had a rule or a delegation (policy version 0) is
//! silent and delegates nothing: denied `no_consent`, so only members with
//! a version are candidates.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datacoop_wire::Action;
use rustc_hash::FxHashMap;

use super::{Cell, Engine, EngineError, Shape, Slice};
use crate::domain::rule::Owner;
use crate::domain::vocabulary::TermId;
use crate::domain::{MemberId, ThirdPartyId, ThirdPartyStatus};
use crate::store::Candidate;

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
    /// Cedar evaluations made for owners' opinions (one per shape and
    /// category), against `candidates` × categories for one by one.
    pub evaluations: usize,
}

/// Above this many owners with stale compiled slices, every slice is
/// compiled again from three bulk reads rather than read owner by owner.
const BULK_REFRESH: usize = 256;

/// No hop count: the walk meets no opinion (silent end, or a cycle).
const NEVER: u32 = u32::MAX;

/// The answer for one owner and one cell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Said {
    Allow,
    Deny,
    Silent,
}

/// A delegation of a node, resolved once: its scope, its creation order
/// and the node of its proxy (`None`: the proxy cannot proxy now, so the
/// delegation is inactive, §3).
struct Link<'a> {
    delegation: &'a crate::domain::Delegation,
    proxy: Option<u32>,
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

impl Engine {
    /// The cohort of `request` at instant `now` (§4 for action
    /// `aggregate`, every category allowed). `progress` is told how many
    /// candidates there are, then of each category decided.
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
        let candidates = self.store.cohort_candidates().await?;
        let candidate_count = candidates.len();
        progress(CohortProgress::Candidates(candidate_count as u64));
        let nodes = self.fresh_slices(&candidates, &coop).await?;

        // The nodes by owner id (member and persona ids never collide:
        // their prefixes differ); a candidate can proxy when it accepts
        // delegations (it is in the co-op).
        let mut index: FxHashMap<&str, u32> =
            FxHashMap::with_capacity_and_hasher(candidate_count, Default::default());
        let mut can_proxy: Vec<bool> = Vec::with_capacity(candidate_count);
        for (position, candidate) in candidates.iter().enumerate() {
            index.insert(candidate.id.as_str(), node_number(position)?);
            can_proxy.push(candidate.accepts_delegations);
        }
        // One pass over the nodes: each delegation's proxy resolved to a
        // node (a candidate who accepts delegations), or noted as outside
        // (personas; members with no version, who are silent and delegate
        // nothing, or out of the co-op), to be resolved below; each node's
        // shape, numbered.
        let mut links: Vec<Link<'_>> = Vec::new();
        let mut spans: Vec<(u32, u32)> = Vec::with_capacity(nodes.len());
        let mut outside: FxHashMap<&Owner, Vec<usize>> = FxHashMap::default();
        let mut numbered: FxHashMap<usize, u32> = FxHashMap::default();
        let mut shapes: Vec<Arc<Shape>> = Vec::new();
        let mut shape_of: Vec<u32> = Vec::with_capacity(nodes.len());
        for slice in &nodes {
            let start = node_number(links.len())?;
            for delegation in &slice.delegations {
                let proxy = match index.get(delegation.proxy.id()) {
                    Some(node) => usize::try_from(*node)
                        .ok()
                        .and_then(|node| can_proxy.get(node))
                        .copied()
                        .unwrap_or(false)
                        .then_some(*node),
                    None => {
                        outside
                            .entry(&delegation.proxy)
                            .or_default()
                            .push(links.len());
                        None
                    }
                };
                links.push(Link { delegation, proxy });
            }
            spans.push((start, node_number(links.len())?));
            let next = node_number(shapes.len())?;
            let number = *numbered
                .entry(Arc::as_ptr(&slice.shape) as usize)
                .or_insert_with(|| {
                    shapes.push(Arc::clone(&slice.shape));
                    next
                });
            shape_of.push(number);
        }
        // The outside proxies' standing, read once; those who can proxy
        // become nodes (with no delegations of their own to follow).
        let outside: Vec<(&Owner, Vec<usize>)> = outside.into_iter().collect();
        let owners: Vec<Owner> = outside.iter().map(|(owner, _)| (*owner).clone()).collect();
        let states = self.store.owner_states(&owners).await?;
        let mut extra = Vec::new();
        for ((owner, positions), state) in outside.into_iter().zip(states) {
            if !state.can_proxy {
                continue;
            }
            let node = node_number(nodes.len() + extra.len())?;
            for position in positions {
                if let Some(link) = links.get_mut(position) {
                    link.proxy = Some(node);
                }
            }
            let slice = self.slice(owner, state.version, &coop).await?;
            let next = node_number(shapes.len())?;
            let number = *numbered
                .entry(Arc::as_ptr(&slice.shape) as usize)
                .or_insert_with(|| {
                    shapes.push(Arc::clone(&slice.shape));
                    next
                });
            shape_of.push(number);
            let at = node_number(links.len())?;
            spans.push((at, at));
            extra.push(slice);
        }
        drop(index);

        let reads_member = self.evaluator.coop_reads_member();
        let silent = Arc::new(self.evaluator.slice(&coop, 0, &[])?);
        let placeholder = MemberId::from_trusted(String::new());
        let mut allowed = vec![true; candidate_count];
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
                        candidates: candidate_count,
                        evaluations,
                    });
                }
            }
            // Each distinct policy once, then each shape's opinion from
            // its policies' answers.
            let mut policies: FxHashMap<usize, Matched> = FxHashMap::default();
            let mut by_shape = Vec::with_capacity(shapes.len());
            for shape in &shapes {
                by_shape.push(self.shape_opinion(shape, &cell, &cedar, &mut policies)?);
            }
            evaluations += policies.len();
            let said: Vec<Said> = shape_of
                .iter()
                .map(|shape| {
                    usize::try_from(*shape)
                        .ok()
                        .and_then(|shape| by_shape.get(shape).copied())
                        .unwrap_or(Said::Silent)
                })
                .collect();
            // The delegation that applies at each silent owner (§3).
            let next: Vec<Option<u32>> = spans
                .iter()
                .zip(&said)
                .map(|((start, end), answer)| {
                    if *answer != Said::Silent {
                        return None;
                    }
                    let range = usize::try_from(*start).ok()?..usize::try_from(*end).ok()?;
                    links
                        .get(range)?
                        .iter()
                        .filter(|link| link.proxy.is_some())
                        .filter_map(|link| {
                            let depths = link
                                .delegation
                                .scope
                                .covering_depths(category, &request.purpose)?;
                            Some(((depths, link.delegation.seq), link.proxy))
                        })
                        .max_by_key(|(order, _)| *order)
                        .and_then(|(_, proxy)| proxy)
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
                for (candidate, member) in candidates.iter().zip(allowed.iter_mut()) {
                    if !*member {
                        continue;
                    }
                    let cell = Cell {
                        member: &candidate.id,
                        ..cell
                    };
                    let cedar = self.evaluator.request(&cell)?;
                    let (coop_rules, _) = self.evaluator.judge(&silent, &cell, &cedar)?;
                    if !coop_rules.is_empty() {
                        *member = false;
                    }
                }
            }
            progress(CohortProgress::Category);
        }
        drop(links);
        drop(extra);
        let members = candidates
            .into_iter()
            .zip(allowed)
            .filter_map(|(candidate, allowed)| allowed.then_some(candidate.id))
            .collect();
        Ok(Cohort {
            members,
            candidates: candidate_count,
            evaluations,
        })
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
        candidates: &[Candidate],
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

/// A node's number; a co-op past four billion owners is refused.
fn node_number(position: usize) -> Result<u32, EngineError> {
    u32::try_from(position).map_err(|_| EngineError::Cohort)
}

/// How far a cohort has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CohortProgress {
    /// How many candidates will be decided.
    Candidates(u64),
    /// One more category was decided for every candidate.
    Category,
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
