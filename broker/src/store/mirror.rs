//! An in-memory copy of what decisions read, for the embedded SQLite
//! store: the process holds the database file's lock, so every write goes
//! through this process, which updates the mirror right after the write
//! commits and before anyone is told it succeeded. Decisions then read no
//! SQL at all, and still see every acknowledged change.
//!
//! The mirror holds the database's own values (policy versions as the
//! database returned them, never a local count), and writes that change it
//! run one at a time (`writer`) in a task that outlives their request, so
//! commit order is mirror order and a dropped request cannot skip it.
//!
//! On PostgreSQL each replica keeps a mirror too, but it is not told of
//! other replicas' writes: every batch that changes mirrored facts appends
//! its effects to the change feed (`consent_feed`, numbered by
//! `log_head.feed_seq` under the log head's lock, so in commit order), and
//! a replicated mirror answers only after `Store::sync` read the feed's
//! head and applied what it had not seen (`apply_feed`). A gap in the feed
//! (rows pruned past this replica's position, or a bulk load) makes the
//! replica load everything again.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use super::DecisionFacts;
use crate::domain::rule::Owner;
use crate::domain::{MemberId, RequesterClass, ThirdPartyId, ThirdPartyStatus};

#[derive(Debug, Default)]
pub struct Mirror {
    state: RwLock<Option<State>>,
    /// Fed from the database's change feed (PostgreSQL) rather than by the
    /// one process that writes (SQLite): `calls` then caches nothing, for
    /// another replica's write would not reach it.
    replicated: bool,
    /// Held from the start of a mirrored write until the mirror shows it.
    writer: tokio::sync::Mutex<()>,
    /// Held while a replicated mirror loads everything: one load at a
    /// time, however many decisions found it needed.
    loading: tokio::sync::Mutex<()>,
    /// Catching up with the change feed, shared (`catch_up`).
    rounds: Rounds,
    /// Tokens' third parties and subjects' members, forgotten whenever a
    /// write that may change them is shown.
    calls: super::cache::CallCache,
}

/// What a committed write changed of the mirrored facts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// A member is in the co-op, accepting delegations or not.
    Member {
        id: MemberId,
        accepts_delegations: bool,
    },
    Left {
        id: MemberId,
    },
    /// A member ended a third party's subject: what calls remember of
    /// subjects is forgotten.
    Disconnected {
        id: MemberId,
    },
    ThirdParty {
        id: ThirdPartyId,
        class: RequesterClass,
        status: ThirdPartyStatus,
    },
    Persona {
        id: crate::domain::PersonaId,
    },
    /// An owner's policy version, as the database now holds it.
    Version {
        #[serde(with = "owner_key")]
        owner: Owner,
        version: i64,
    },
}

/// An owner in the feed's JSON: its `key` (`member:ID`, `persona:ID`,
/// `coop`).
mod owner_key {
    use crate::domain::rule::Owner;

    pub fn serialize<S: serde::Serializer>(
        owner: &Owner,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&owner.key())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Owner, D::Error> {
        let key: String = serde::Deserialize::deserialize(deserializer)?;
        let (kind, id) = key.split_once(':').unwrap_or((key.as_str(), ""));
        Owner::from_parts(kind, id.to_owned())
            .ok_or_else(|| serde::de::Error::custom("not an owner key"))
    }
}

/// A batch's effects as the feed stores them.
pub fn encode(effects: &[Effect]) -> String {
    serde_json::to_string(effects).unwrap_or_default()
}

/// The effects of one feed row.
pub fn decode(text: &str) -> Result<Vec<Effect>, serde_json::Error> {
    serde_json::from_str(text)
}

/// What `Mirror::apply_feed` made of the rows it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOutcome {
    /// The mirror shows the feed up to this position.
    Current(u64),
    /// The rows do not follow on from the mirror's position (pruned, or a
    /// bulk load numbered without rows): everything must be loaded again.
    Gap,
    /// Not loaded yet.
    Unloaded,
}

#[derive(Debug, Default)]
struct State {
    third_parties: HashMap<String, (RequesterClass, ThirdPartyStatus)>,
    /// Every member the database has shown, in the co-op or not: a
    /// decision reads all it needs of a member in one lookup.
    members: HashMap<String, MemberEntry>,
    personas: HashSet<String>,
    /// The versions of owners other than members (personas, the co-op).
    versions: HashMap<Owner, i64>,
    /// Which owners' facts changed, in order: what lets the cohort engine
    /// keep its graph current (`Mirror::consent_changes`).
    journal: Journal,
    /// The change feed's position this state shows (replicated only).
    position: u64,
}

/// The owners whose consent facts (standing, version) changed, numbered
/// by generation; the oldest are dropped past `JOURNAL_CAPACITY`.
#[derive(Debug, Default)]
struct Journal {
    generation: u64,
    /// Every change after this generation is still listed.
    kept_after: u64,
    changes: std::collections::VecDeque<(u64, Owner)>,
}

/// Changes the journal keeps; a reader further behind starts afresh.
const JOURNAL_CAPACITY: usize = 1 << 16;

impl Journal {
    fn note(&mut self, owner: Owner) {
        self.generation += 1;
        self.changes.push_back((self.generation, owner));
        while self.changes.len() > JOURNAL_CAPACITY {
            if let Some((generation, _)) = self.changes.pop_front() {
                self.kept_after = generation;
            }
        }
    }
}

/// The consent changes since a generation: the generation now, and the
/// owners changed since (`None`: too many to list; start afresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentChanges {
    pub generation: u64,
    pub owners: Option<Vec<Owner>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct MemberEntry {
    /// In the co-op (joined, not left).
    active: bool,
    accepts_delegations: bool,
    version: i64,
}

impl State {
    fn version(&self, owner: &Owner) -> i64 {
        match owner {
            Owner::Member(id) => self
                .members
                .get(id.as_str())
                .map_or(0, |entry| entry.version),
            Owner::Persona(_) | Owner::Coop => self.versions.get(owner).copied().unwrap_or(0),
        }
    }

    fn set_version(&mut self, owner: &Owner, version: i64) {
        let held = match owner {
            Owner::Member(id) => &mut self.members.entry(id.to_string()).or_default().version,
            Owner::Persona(_) | Owner::Coop => self.versions.entry(owner.clone()).or_insert(0),
        };
        *held = (*held).max(version);
    }
}

/// Rounds of catching up with the change feed, shared by the decisions
/// waiting for one (as group commit shares a commit): a decision needs a
/// round that *started* after it arrived (its query's snapshot then holds
/// every change acknowledged before), and every decision that arrived
/// while one round was in flight is served by the next. Under load a
/// replica sends one query per round, not one per decision.
#[derive(Debug, Default)]
struct Rounds {
    state: std::sync::Mutex<RoundState>,
    finished: tokio::sync::Notify,
}

#[derive(Debug, Default, Clone, Copy)]
struct RoundState {
    started: u64,
    in_flight: bool,
    /// The last round that ended, and the last that ended well.
    ended: u64,
    succeeded: u64,
}

/// Ends a round when its runner is done or dropped (a request cancelled
/// mid-query): the waiters are woken. A dropped round did not end, so they
/// run another rather than fail.
struct Running<'a> {
    rounds: &'a Rounds,
    round: u64,
    /// `None` until the round's query and its application returned.
    outcome: Option<bool>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        {
            let mut state = self
                .rounds
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.in_flight = false;
            if let Some(succeeded) = self.outcome {
                state.ended = state.ended.max(self.round);
                if succeeded {
                    state.succeeded = state.succeeded.max(self.round);
                }
            }
        }
        self.rounds.finished.notify_waiters();
    }
}

impl Mirror {
    /// A mirror fed from the database's change feed (PostgreSQL).
    pub fn replicated() -> Self {
        Self {
            replicated: true,
            ..Self::default()
        }
    }

    pub fn is_replicated(&self) -> bool {
        self.replicated
    }

    fn write(&self, change: impl FnOnce(&mut State)) {
        let mut guard = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(state) = guard.as_mut() {
            change(state);
        }
    }

    /// Fills the mirror from the database's contents.
    pub fn load(
        &self,
        third_parties: Vec<(String, RequesterClass, ThirdPartyStatus)>,
        members: Vec<(String, bool)>,
        personas: Vec<String>,
        versions: Vec<(Owner, i64)>,
        position: u64,
    ) {
        // The journal goes on numbering from where it was, and lists none of
        // what came before: a reader of an older generation starts afresh.
        let generation = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map_or(0, |state| state.journal.generation + 1);
        let mut state = State {
            third_parties: third_parties
                .into_iter()
                .map(|(id, class, status)| (id, (class, status)))
                .collect(),
            members: members
                .into_iter()
                .map(|(id, accepts_delegations)| {
                    let entry = MemberEntry {
                        active: true,
                        accepts_delegations,
                        version: 0,
                    };
                    (id, entry)
                })
                .collect(),
            personas: personas.into_iter().collect(),
            versions: HashMap::new(),
            journal: Journal {
                generation,
                kept_after: generation,
                changes: std::collections::VecDeque::new(),
            },
            position,
        };
        for (owner, version) in &versions {
            state.set_version(owner, *version);
        }
        *self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(state);
    }

    /// The facts of one decision; `None` until loaded.
    pub fn facts(
        &self,
        requester: Option<&ThirdPartyId>,
        member: Option<&MemberId>,
    ) -> Option<DecisionFacts> {
        let guard = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = guard.as_ref()?;
        let entry = member
            .and_then(|id| state.members.get(id.as_str()))
            .copied()
            .unwrap_or_default();
        Some(DecisionFacts {
            requester: requester.and_then(|id| state.third_parties.get(id.as_str()).copied()),
            member_active: entry.active,
            coop_version: state.version(&Owner::Coop),
            member_version: entry.version,
        })
    }

    /// Version and proxy-ability of each owner; `None` until loaded.
    pub fn owner_states(&self, owners: &[Owner]) -> Option<Vec<super::OwnerState>> {
        let guard = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = guard.as_ref()?;
        Some(
            owners
                .iter()
                .map(|owner| super::OwnerState {
                    version: state.version(owner),
                    can_proxy: match owner {
                        Owner::Member(id) => state
                            .members
                            .get(id.as_str())
                            .is_some_and(|entry| entry.active && entry.accepts_delegations),
                        Owner::Persona(id) => state.personas.contains(id.as_str()),
                        Owner::Coop => false,
                    },
                })
                .collect(),
        )
    }

    /// The consent changes after generation `since`.
    pub fn consent_changes(&self, since: u64) -> Option<ConsentChanges> {
        let guard = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let journal = &guard.as_ref()?.journal;
        let owners = (since >= journal.kept_after && since <= journal.generation).then(|| {
            journal
                .changes
                .iter()
                .filter(|(generation, _)| *generation > since)
                .map(|(_, owner)| owner.clone())
                .collect()
        });
        Some(ConsentChanges {
            generation: journal.generation,
            owners,
        })
    }

    /// Members in the co-op with a policy version above 0.
    pub fn cohort_candidates(&self) -> Option<Vec<super::Candidate>> {
        let guard = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = guard.as_ref()?;
        Some(
            state
                .members
                .iter()
                .filter(|(_, entry)| entry.active && entry.version > 0)
                .map(|(id, entry)| super::Candidate {
                    id: MemberId::from_trusted(id.clone()),
                    version: entry.version,
                    accepts_delegations: entry.accepts_delegations,
                })
                .collect(),
        )
    }

    /// Waits for the turn to write; the mirror shows the write once the
    /// guard's holder has applied its effects.
    pub async fn writer(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// Runs `round` (reading the feed and applying it) or waits for a round
    /// someone else started after this call began, whichever comes first;
    /// `Err(StoreError::Stale)` when the round this call needed failed.
    pub async fn catch_up<F, Fut>(&self, round: F) -> super::StoreResult<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = super::StoreResult<()>>,
    {
        let lock = || {
            self.rounds
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let needed = lock().started + 1;
        let mut round = Some(round);
        loop {
            let finished = self.rounds.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            let mine = {
                let mut state = lock();
                if state.succeeded >= needed {
                    return Ok(());
                }
                if state.ended >= needed {
                    return Err(super::StoreError::Stale);
                }
                if state.in_flight {
                    None
                } else {
                    state.started += 1;
                    state.in_flight = true;
                    Some(state.started)
                }
            };
            if let Some(mine) = mine {
                let mut running = Running {
                    rounds: &self.rounds,
                    round: mine,
                    outcome: None,
                };
                let Some(round) = round.take() else {
                    return Err(super::StoreError::Stale);
                };
                let outcome = round().await;
                running.outcome = Some(outcome.is_ok());
                return outcome;
            }
            finished.await;
        }
    }

    /// Waits for the turn to load everything (replicated).
    pub async fn loading(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.loading.lock().await
    }

    /// What third parties' calls read, from memory.
    pub fn calls(&self) -> &super::cache::CallCache {
        &self.calls
    }

    /// The call cache, where it may be used: only a mirror that sees every
    /// write (SQLite) can forget what a write changes.
    pub fn call_cache(&self) -> Option<&super::cache::CallCache> {
        (!self.replicated).then_some(&self.calls)
    }

    /// The feed position the mirror shows; `None` until loaded.
    pub fn position(&self) -> Option<u64> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|state| state.position)
    }

    /// Applies the feed's rows (`seq`, effects): those the mirror already
    /// shows are skipped, the rest must follow on one by one. The mirror is
    /// current once its position reaches the head read with the rows.
    pub fn apply_feed(&self, rows: Vec<(u64, Vec<Effect>)>) -> FeedOutcome {
        let mut guard = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(state) = guard.as_mut() else {
            return FeedOutcome::Unloaded;
        };
        for (seq, effects) in rows {
            if seq <= state.position {
                continue;
            }
            if seq != state.position + 1 {
                return FeedOutcome::Gap;
            }
            apply_to(state, &effects);
            state.position = seq;
        }
        // The caller compares this with the head it read: rows come a page
        // at a time, and a page that ends short of the head is a gap.
        FeedOutcome::Current(state.position)
    }

    /// Shows what a write just committed.
    pub fn apply(&self, effects: &[Effect]) {
        if effects.iter().any(|effect| {
            matches!(
                effect,
                Effect::ThirdParty { .. } | Effect::Left { .. } | Effect::Disconnected { .. }
            )
        }) {
            self.calls.forget();
        }
        self.write(|state| apply_to(state, effects));
    }
}

fn apply_to(state: &mut State, effects: &[Effect]) {
    for effect in effects {
        match effect {
            Effect::Member {
                id,
                accepts_delegations,
            } => {
                let entry = state.members.entry(id.to_string()).or_default();
                entry.active = true;
                entry.accepts_delegations = *accepts_delegations;
                state.journal.note(Owner::Member(id.clone()));
            }
            Effect::Left { id } => {
                if let Some(entry) = state.members.get_mut(id.as_str()) {
                    entry.active = false;
                    entry.accepts_delegations = false;
                }
                state.journal.note(Owner::Member(id.clone()));
            }
            Effect::ThirdParty { id, class, status } => {
                state
                    .third_parties
                    .insert(id.to_string(), (*class, *status));
            }
            Effect::Persona { id } => {
                state.personas.insert(id.to_string());
                state.journal.note(Owner::Persona(id.clone()));
            }
            Effect::Disconnected { .. } => {}
            Effect::Version { owner, version } => {
                state.set_version(owner, *version);
                state.journal.note(owner.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unloaded_mirror_answers_nothing() {
        assert_eq!(Mirror::default().facts(None, None), None);
    }

    #[test]
    fn changes_show_at_once() {
        let mirror = Mirror::default();
        mirror.load(Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
        let member = MemberId::generate();
        let lab = ThirdPartyId::generate();
        let facts = mirror.facts(Some(&lab), Some(&member)).unwrap();
        assert_eq!(
            (facts.requester, facts.member_active, facts.member_version),
            (None, false, 0)
        );
        mirror.apply(&[
            Effect::Member {
                id: member.clone(),
                accepts_delegations: false,
            },
            Effect::ThirdParty {
                id: lab.clone(),
                class: RequesterClass::Academic,
                status: ThirdPartyStatus::Suspended,
            },
            Effect::Version {
                owner: Owner::Member(member.clone()),
                version: 2,
            },
            // An older version arriving late never moves a version back.
            Effect::Version {
                owner: Owner::Member(member.clone()),
                version: 1,
            },
            Effect::Version {
                owner: Owner::Coop,
                version: 1,
            },
        ]);
        let facts = mirror.facts(Some(&lab), Some(&member)).unwrap();
        assert_eq!(
            facts.requester,
            Some((RequesterClass::Academic, ThirdPartyStatus::Suspended))
        );
        assert!(facts.member_active);
        assert_eq!((facts.member_version, facts.coop_version), (2, 1));
    }

    #[test]
    fn a_member_who_left_is_inactive_and_proxies_for_nobody() {
        let mirror = Mirror::default();
        let member = MemberId::generate();
        let owner = Owner::Member(member.clone());
        mirror.load(
            Vec::new(),
            vec![(member.to_string(), true)],
            Vec::new(),
            vec![(owner.clone(), 3)],
            0,
        );
        let state = |mirror: &Mirror| mirror.owner_states(std::slice::from_ref(&owner)).unwrap()[0];
        assert!(state(&mirror).can_proxy);
        assert_eq!(state(&mirror).version, 3);
        mirror.apply(&[
            Effect::Left { id: member.clone() },
            Effect::Version {
                owner: owner.clone(),
                version: 4,
            },
        ]);
        let facts = mirror.facts(None, Some(&member)).unwrap();
        assert!(!facts.member_active);
        assert!(!state(&mirror).can_proxy);
        assert_eq!(state(&mirror).version, 4);
    }

    #[test]
    fn the_journal_lists_what_changed_since_and_forgets_the_oldest() {
        let mirror = Mirror::default();
        mirror.load(Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
        let first = MemberId::generate();
        let second = MemberId::generate();
        mirror.apply(&[Effect::Member {
            id: first.clone(),
            accepts_delegations: true,
        }]);
        let since = mirror.consent_changes(u64::MAX).unwrap().generation;
        mirror.apply(&[
            Effect::Version {
                owner: Owner::Member(second.clone()),
                version: 1,
            },
            Effect::Left { id: first.clone() },
        ]);
        let changes = mirror.consent_changes(since).unwrap();
        assert_eq!(changes.generation, since + 2);
        assert_eq!(
            changes.owners,
            Some(vec![
                Owner::Member(second.clone()),
                Owner::Member(first.clone())
            ])
        );
        assert_eq!(
            mirror.consent_changes(changes.generation).unwrap().owners,
            Some(Vec::new())
        );
        // Past the journal's capacity, a reader that far behind starts afresh.
        for version in 0..=JOURNAL_CAPACITY {
            mirror.apply(&[Effect::Version {
                owner: Owner::Member(second.clone()),
                version: version as i64 + 2,
            }]);
        }
        assert_eq!(mirror.consent_changes(since).unwrap().owners, None);
        let now = mirror.consent_changes(u64::MAX).unwrap().generation;
        assert_eq!(
            mirror
                .consent_changes(now - 1)
                .unwrap()
                .owners
                .unwrap()
                .len(),
            1
        );
    }

    fn versions(owner: &Owner, version: i64) -> Vec<Effect> {
        vec![Effect::Version {
            owner: owner.clone(),
            version,
        }]
    }

    #[test]
    fn effects_read_back_as_written() {
        let effects = vec![
            Effect::Member {
                id: MemberId::generate(),
                accepts_delegations: true,
            },
            Effect::Left {
                id: MemberId::generate(),
            },
            Effect::Disconnected {
                id: MemberId::generate(),
            },
            Effect::ThirdParty {
                id: ThirdPartyId::generate(),
                class: RequesterClass::PublicBody,
                status: ThirdPartyStatus::Suspended,
            },
            Effect::Persona {
                id: crate::domain::PersonaId::generate(),
            },
            Effect::Version {
                owner: Owner::Coop,
                version: 7,
            },
            Effect::Version {
                owner: Owner::Persona(crate::domain::PersonaId::generate()),
                version: 2,
            },
        ];
        assert_eq!(decode(&encode(&effects)).unwrap(), effects);
        assert!(decode(r#"[{"effect": "version", "owner": "robot:1", "version": 1}]"#).is_err());
    }

    #[test]
    fn a_replicated_mirror_applies_the_feed_in_order_and_finds_gaps() {
        let mirror = Mirror::replicated();
        assert!(mirror.call_cache().is_none());
        assert_eq!(mirror.apply_feed(Vec::new()), FeedOutcome::Unloaded);
        let member = Owner::Member(MemberId::generate());
        mirror.load(
            Vec::new(),
            Vec::new(),
            Vec::new(),
            vec![(member.clone(), 1)],
            10,
        );
        // Rows it already shows are skipped, the rest follow on.
        let rows = vec![
            (9, versions(&member, 99)),
            (11, versions(&member, 2)),
            (12, versions(&member, 3)),
        ];
        assert_eq!(mirror.apply_feed(rows), FeedOutcome::Current(12));
        assert_eq!(
            mirror.owner_states(std::slice::from_ref(&member)).unwrap()[0].version,
            3
        );
        // Two readers racing with the same rows: the second changes nothing.
        assert_eq!(
            mirror.apply_feed(vec![(12, versions(&member, 3))]),
            FeedOutcome::Current(12)
        );
        // A page that stops short of the head: current as far as it goes.
        assert_eq!(
            mirror.apply_feed(vec![(13, versions(&member, 4))]),
            FeedOutcome::Current(13)
        );
        // A row that does not follow on (14 was pruned): a gap.
        assert_eq!(
            mirror.apply_feed(vec![(15, versions(&member, 6))]),
            FeedOutcome::Gap
        );
        assert_eq!(mirror.position(), Some(13));
        // Loading again keeps the journal's numbering going, listing none of
        // what came before.
        let before = mirror.consent_changes(u64::MAX).unwrap().generation;
        mirror.load(Vec::new(), Vec::new(), Vec::new(), Vec::new(), 20);
        let after = mirror.consent_changes(before).unwrap();
        assert_eq!(after.owners, None);
        assert!(after.generation > before);
    }

    #[tokio::test]
    async fn rounds_are_shared_and_a_dropped_round_frees_the_waiters() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let mirror = std::sync::Arc::new(Mirror::replicated());
        // A round whose caller gives up mid-query does not end: the next
        // caller runs a round of its own.
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            mirror.catch_up(std::future::pending::<crate::store::StoreResult<()>>),
        )
        .await;
        assert!(dropped.is_err());
        let rounds = std::sync::Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        // One slow round in flight; callers arriving meanwhile wait for the
        // next round, which one of them runs for all.
        let first = tokio::spawn({
            let (mirror, rounds, mut released) = (
                std::sync::Arc::clone(&mirror),
                std::sync::Arc::clone(&rounds),
                released.clone(),
            );
            async move {
                mirror
                    .catch_up(|| async move {
                        rounds.fetch_add(1, Ordering::SeqCst);
                        let _ = released.wait_for(|go| *go).await;
                        Ok(())
                    })
                    .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (mirror, rounds) = (
                    std::sync::Arc::clone(&mirror),
                    std::sync::Arc::clone(&rounds),
                );
                tokio::spawn(async move {
                    mirror
                        .catch_up(|| async move {
                            rounds.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        release.send_replace(true);
        first.await.unwrap().unwrap();
        for waiter in waiters {
            waiter.await.unwrap().unwrap();
        }
        assert_eq!(rounds.load(Ordering::SeqCst), 2, "eight waiters, one round");
        // Waiters behind a round whose runner is dropped run another.
        let blocked = tokio::spawn({
            let mirror = std::sync::Arc::clone(&mirror);
            async move {
                mirror
                    .catch_up(std::future::pending::<crate::store::StoreResult<()>>)
                    .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let behind = tokio::spawn({
            let mirror = std::sync::Arc::clone(&mirror);
            async move { mirror.catch_up(|| async { Ok(()) }).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        blocked.abort();
        let answered = tokio::time::timeout(std::time::Duration::from_secs(5), behind).await;
        assert!(matches!(answered, Ok(Ok(Ok(())))), "{answered:?}");
        // A failed round fails those who needed it.
        let failed = mirror
            .catch_up(|| async { Err(crate::store::StoreError::Interrupted) })
            .await;
        assert!(failed.is_err());
    }
}
