//! The withdrawal worker: works out, after a consent change commits,
//! which recipients (a third party that received a category for a
//! purpose in an allowed call) are no longer allowed, and commits their
//! `consent.withdrawn` events through the commit seam.
//!
//! What it decides again, each round:
//!
//! * the recipients reached by each recheck a change committed (the
//!   owner whose rules, delegations or standing changed: itself and every
//!   member whose delegation chain leads to it; the co-op: everyone), and
//!   by each rule that started or expired since the last round;
//! * the recipients a call made active since they were last decided
//!   (`unchecked`): a call decided just before a change but logged just
//!   after the change's recheck ran is decided once more after it
//!   committed, so that race cannot hide a withdrawal.
//!
//! Each is decided by the consent engine exactly as `POST /v1/access`
//! would decide it now; a category now denied is withdrawn, unless the
//! denial is the third party's own suspension (`requester_inactive`),
//! which is the stewards' act, not the member's withdrawal. The rechecks
//! are deleted in the transaction of the last withdrawals they led to, so
//! a crash leaves them to be worked through again, and a withdrawal
//! already recorded is never announced twice (`Store`'s
//! `record_withdrawals` skips what a withdrawal covered).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datacoop_wire::{Action, Reason, Verdict};

use crate::clock::Clock;
use crate::consent::{DecisionInput, Engine, EngineError};
use crate::domain::rule::Owner;
use crate::domain::vocabulary::TermId;
use crate::store::{Change, Recipient, Store, StoreError};

/// Withdrawals committed per change: one transaction stays short however
/// many recipients a proxy's change reaches.
const WITHDRAWALS_PER_CHANGE: usize = 1_000;
/// Rechecks and unchecked recipients taken per round.
const RECHECKS_PER_ROUND: u32 = 256;
const UNCHECKED_PER_ROUND: u32 = 10_000;
/// Calls folded per statement batch.
const FOLD_BATCH: u32 = 5_000;
/// How long a claimed recheck is left to its worker before another may
/// take it (a replica that died mid-way).
const RECHECK_LEASE: chrono::Duration = chrono::Duration::minutes(1);

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub rechecks: usize,
    pub decided: usize,
    pub withdrawals: usize,
}

/// Decides recipients again and records withdrawals.
#[derive(Debug, Clone)]
pub struct Withdrawer {
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
    /// When rule instants were last swept (by this worker's clock).
    swept: Arc<std::sync::Mutex<Option<DateTime<Utc>>>>,
}

/// The least time between two sweeps of rule instants.
const SWEEP_EVERY: chrono::Duration = chrono::Duration::seconds(1);

/// One recipient key: (member, third party, purpose, category).
type Key = (String, String, String, String);

fn key(recipient: &Recipient) -> Key {
    (
        recipient.member.to_string(),
        recipient.third_party.to_string(),
        recipient.purpose.clone(),
        recipient.category.clone(),
    )
}

impl Withdrawer {
    pub fn new(store: Arc<dyn Store>, engine: Arc<Engine>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            engine,
            clock,
            swept: Arc::default(),
        }
    }

    /// Folds new calls, then works through what is due; returns when
    /// nothing is left.
    pub async fn run_until_idle(&self) -> Result<Round, EngineError> {
        let mut total = Round::default();
        loop {
            let round = self.round().await?;
            total.rechecks += round.rechecks;
            total.decided += round.decided;
            total.withdrawals += round.withdrawals;
            if round.rechecks == 0 && round.decided == 0 {
                return Ok(total);
            }
        }
    }

    /// One round: fold, sweep rule instants, claim rechecks, decide.
    pub async fn round(&self) -> Result<Round, EngineError> {
        while self.store.fold_recipients(FOLD_BATCH).await? == u64::from(FOLD_BATCH) {}
        let now = self.clock.now();
        if self.sweep_due(now) {
            self.store.sweep_rule_instants(now).await?;
            // Licenses whose window ended are announced (`license.expired`)
            // and builds past their data life lose their rows.
            if self.store.dataset_chores_due(now).await? {
                self.store.apply(Change::DatasetChores { now }).await?;
            }
        }
        let rechecks = self
            .store
            .claim_rechecks(now, now + RECHECK_LEASE, RECHECKS_PER_ROUND)
            .await?;
        let mut owners: Vec<Owner> = rechecks.iter().map(|(_, owner)| owner.clone()).collect();
        owners.sort_unstable();
        owners.dedup();
        if owners.contains(&Owner::Coop) {
            owners = vec![Owner::Coop];
        }
        let mut recipients: HashMap<Key, Recipient> = HashMap::new();
        for owner in &owners {
            for recipient in self.store.recipients_reached_by(owner).await? {
                recipients.insert(key(&recipient), recipient);
            }
        }
        let mut unchecked = HashSet::new();
        for recipient in self.store.unchecked_recipients(UNCHECKED_PER_ROUND).await? {
            let key = key(&recipient);
            unchecked.insert(key.clone());
            recipients.insert(key, recipient);
        }
        let decided = recipients.len();
        let (withdrawn, still_allowed) = self
            .decide(recipients.into_values().collect(), &unchecked, now)
            .await?;
        let withdrawals = crate::store::withdrawals(withdrawn);
        let count = withdrawals.len();
        self.commit(
            rechecks.iter().map(|(seq, _)| *seq).collect(),
            withdrawals,
            still_allowed,
        )
        .await?;
        Ok(Round {
            rechecks: rechecks.len(),
            decided,
            withdrawals: count,
        })
    }

    /// True, and noted, when the last sweep is `SWEEP_EVERY` old (or the
    /// clock went back).
    fn sweep_due(&self, now: DateTime<Utc>) -> bool {
        let mut swept = self
            .swept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = swept.is_none_or(|at| now - at >= SWEEP_EVERY || now < at);
        if due {
            *swept = Some(now);
        }
        due
    }

    /// Decides every recipient now, one decision per (member, third
    /// party, purpose): those now denied, and the unchecked ones still
    /// allowed.
    async fn decide(
        &self,
        recipients: Vec<Recipient>,
        unchecked: &HashSet<Key>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Recipient>, Vec<Recipient>), EngineError> {
        let mut groups: HashMap<(String, String, String), Vec<Recipient>> = HashMap::new();
        for recipient in recipients {
            groups
                .entry((
                    recipient.member.to_string(),
                    recipient.third_party.to_string(),
                    recipient.purpose.clone(),
                ))
                .or_default()
                .push(recipient);
        }
        let mut withdrawn = Vec::new();
        let mut still_allowed = Vec::new();
        for ((member, third_party, purpose), group) in groups {
            // A term the vocabulary no longer parses cannot be decided:
            // it stays as it is.
            let Ok(purpose) = TermId::parse(&purpose) else {
                continue;
            };
            let group: Vec<(TermId, Recipient)> = group
                .into_iter()
                .filter_map(|recipient| {
                    TermId::parse(&recipient.category)
                        .ok()
                        .map(|category| (category, recipient))
                })
                .collect();
            if group.is_empty() {
                continue;
            }
            let input = DecisionInput {
                member,
                requester: third_party,
                action: Action::Access,
                categories: group.iter().map(|(category, _)| category.clone()).collect(),
                purpose,
            };
            let outcome = self.engine.decide(&input, now).await?;
            for ((_, recipient), decided) in group.into_iter().zip(outcome.categories) {
                let denied =
                    decided.verdict == Verdict::Deny && decided.reason != Reason::RequesterInactive;
                if denied {
                    withdrawn.push(recipient);
                } else if unchecked.contains(&key(&recipient)) {
                    still_allowed.push(recipient);
                }
            }
        }
        Ok((withdrawn, still_allowed))
    }

    /// Commits the withdrawals in changes of `WITHDRAWALS_PER_CHANGE`; the
    /// rechecks go with the last.
    async fn commit(
        &self,
        rechecks: Vec<crate::store::Seq>,
        withdrawals: Vec<crate::store::Withdrawal>,
        still_allowed: Vec<Recipient>,
    ) -> Result<(), StoreError> {
        if rechecks.is_empty() && withdrawals.is_empty() && still_allowed.is_empty() {
            return Ok(());
        }
        let mut chunks: Vec<Vec<crate::store::Withdrawal>> = Vec::new();
        let mut withdrawals = withdrawals.into_iter().peekable();
        while withdrawals.peek().is_some() {
            chunks.push(withdrawals.by_ref().take(WITHDRAWALS_PER_CHANGE).collect());
        }
        let last = chunks.pop().unwrap_or_default();
        for chunk in chunks {
            self.store
                .apply(Change::Withdraw {
                    rechecks: Vec::new(),
                    withdrawals: chunk,
                    still_allowed: Vec::new(),
                })
                .await?;
        }
        self.store
            .apply(Change::Withdraw {
                rechecks,
                withdrawals: last,
                still_allowed,
            })
            .await?;
        Ok(())
    }
}
