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
//! 2. Each owner's *opinion* once per compiled shape: owners whose rules
//!    read alike share one `Shape`, so one Cedar evaluation answers them
//!    all (owners' rules never read the member).
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

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datacoop_wire::Action;

use super::{Cell, Engine, EngineError, Opinion, Slice};
use crate::domain::rule::Owner;
use crate::domain::vocabulary::TermId;
use crate::domain::{MemberId, ThirdPartyId, ThirdPartyStatus};
use crate::store::OwnerState;

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

impl Engine {
    /// The cohort of `request` at instant `now` (§4 for action
    /// `aggregate`, every category allowed). `progress` is told how many
    /// candidates there are, then how many were decided, as it goes.
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
        let owners: Vec<(Owner, i64)> = candidates
            .iter()
            .map(|(id, version)| (Owner::Member(id.clone()), *version))
            .collect();
        let slices = self.fresh_slices(&owners, &coop).await?;

        // Every proxy a candidate's delegations name, with its standing.
        let mut proxies: Vec<Owner> = slices
            .iter()
            .flat_map(|slice| slice.delegations.iter().map(|d| d.proxy.clone()))
            .collect();
        proxies.sort();
        proxies.dedup();
        let states: HashMap<Owner, OwnerState> = proxies
            .iter()
            .cloned()
            .zip(self.store.owner_states(&proxies).await?)
            .collect();
        // Proxies that are not candidates (personas; members with no
        // version, who are silent and delegate nothing) get nodes too.
        let mut index: HashMap<Owner, usize> = owners
            .into_iter()
            .enumerate()
            .map(|(position, (owner, _))| (owner, position))
            .collect();
        // The owners the walks may reach, by position: candidates first.
        let mut nodes: Vec<Arc<Slice>> = slices;
        let extra: Vec<(Owner, i64)> = states
            .iter()
            .filter(|(owner, state)| state.can_proxy && !index.contains_key(*owner))
            .map(|(owner, state)| (owner.clone(), state.version))
            .collect();
        for ((owner, _), slice) in extra.iter().zip(self.fresh_slices(&extra, &coop).await?) {
            index.insert(owner.clone(), nodes.len());
            nodes.push(slice);
        }

        let reads_member = self.evaluator.coop_reads_member();
        let silent = Arc::new(self.evaluator.slice(&coop, 0, &[])?);
        let placeholder = MemberId::from_trusted(String::new());
        let mut allowed = vec![true; candidates.len()];
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
            // Each shape's opinion, once.
            let mut by_shape: HashMap<usize, Said> = HashMap::new();
            let mut said = Vec::with_capacity(nodes.len());
            for node in &nodes {
                let key = Arc::as_ptr(&node.shape) as usize;
                let answer = match by_shape.get(&key) {
                    Some(answer) => *answer,
                    None => {
                        let answer = if node.has_own_rules() {
                            evaluations += 1;
                            match self.evaluator.opinion(node, &cell, &cedar)? {
                                Opinion::Allow(_) => Said::Allow,
                                Opinion::Deny(_) => Said::Deny,
                                Opinion::None => Said::Silent,
                            }
                        } else {
                            Said::Silent
                        };
                        by_shape.insert(key, answer);
                        answer
                    }
                };
                said.push(answer);
            }
            // The delegation that applies at each silent owner (§3).
            let next: Vec<Option<usize>> = nodes
                .iter()
                .zip(&said)
                .map(|(node, answer)| {
                    if *answer != Said::Silent {
                        return None;
                    }
                    node.covering(category, &request.purpose)
                        .into_iter()
                        .filter(|(delegation, _)| {
                            states
                                .get(&delegation.proxy)
                                .is_some_and(|state| state.can_proxy)
                        })
                        .max_by_key(|(delegation, depths)| (*depths, delegation.seq))
                        .and_then(|(delegation, _)| index.get(&delegation.proxy).copied())
                })
                .collect();
            let walks = walks(&said, &next);
            for (member, walk) in allowed.iter_mut().zip(&walks) {
                *member &= walk.0 != NEVER
                    && usize::try_from(walk.0).is_ok_and(|hops| hops <= self.max_depth)
                    && walk.1 == Said::Allow;
            }
            // A co-op base policy that reads the member: step 3 for each
            // member still allowed.
            if reads_member {
                for (position, member) in allowed.iter_mut().enumerate() {
                    let Some((id, _)) = candidates.get(position).filter(|_| *member) else {
                        continue;
                    };
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
        let members = candidates
            .into_iter()
            .zip(allowed)
            .filter_map(|((id, _), allowed)| allowed.then_some(id))
            .collect();
        Ok(Cohort {
            members,
            candidates: candidate_count,
            evaluations,
        })
    }

    /// The slices of `owners` at their versions, compiling those whose
    /// cached slice is older.
    async fn fresh_slices(
        &self,
        owners: &[(Owner, i64)],
        coop: &Slice,
    ) -> Result<Vec<Arc<Slice>>, EngineError> {
        let current = |slice: &Arc<Slice>, version: i64| {
            slice.version == version && slice.coop_version == coop.version
        };
        let stale = owners
            .iter()
            .filter(|(owner, version)| {
                self.cached(owner)
                    .is_none_or(|slice| !current(&slice, *version))
            })
            .count();
        if stale > BULK_REFRESH {
            self.warm().await?;
        }
        let mut slices = Vec::with_capacity(owners.len());
        for (owner, version) in owners {
            let slice = match self.cached(owner).filter(|slice| current(slice, *version)) {
                Some(slice) => slice,
                None => self.slice(owner, *version, coop).await?,
            };
            slices.push(slice);
        }
        Ok(slices)
    }
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
fn walks(said: &[Said], next: &[Option<usize>]) -> Vec<(u32, Said)> {
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
            match next.get(at).copied().flatten() {
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
