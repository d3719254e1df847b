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
//! PostgreSQL has no mirror: replicas write behind each other's backs, so
//! every decision reads the database.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use super::DecisionFacts;
use crate::domain::rule::Owner;
use crate::domain::{MemberId, RequesterClass, ThirdPartyId, ThirdPartyStatus};

#[derive(Debug, Default)]
pub struct Mirror {
    state: RwLock<Option<State>>,
    /// Held from the start of a mirrored write until the mirror shows it.
    writer: tokio::sync::Mutex<()>,
}

/// What a committed write changed of the mirrored facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A member is in the co-op, accepting delegations or not.
    Member {
        id: MemberId,
        accepts_delegations: bool,
    },
    Left(MemberId),
    ThirdParty {
        id: ThirdPartyId,
        class: RequesterClass,
        status: ThirdPartyStatus,
    },
    Persona(crate::domain::PersonaId),
    /// An owner's policy version, as the database now holds it.
    Version(Owner, i64),
}

#[derive(Debug, Default)]
struct State {
    third_parties: HashMap<String, (RequesterClass, ThirdPartyStatus)>,
    /// Members still in the co-op, and whether each accepts delegations.
    members: HashMap<String, bool>,
    personas: HashSet<String>,
    versions: HashMap<Owner, i64>,
}

impl Mirror {
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
    ) {
        let state = State {
            third_parties: third_parties
                .into_iter()
                .map(|(id, class, status)| (id, (class, status)))
                .collect(),
            members: members.into_iter().collect(),
            personas: personas.into_iter().collect(),
            versions: versions.into_iter().collect(),
        };
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
        let version = |owner: Owner| state.versions.get(&owner).copied().unwrap_or(0);
        Some(DecisionFacts {
            requester: requester.and_then(|id| state.third_parties.get(id.as_str()).copied()),
            member_active: member.is_some_and(|id| state.members.contains_key(id.as_str())),
            coop_version: version(Owner::Coop),
            member_version: member.map_or(0, |id| version(Owner::Member(id.clone()))),
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
                    version: state.versions.get(owner).copied().unwrap_or(0),
                    can_proxy: match owner {
                        Owner::Member(id) => {
                            state.members.get(id.as_str()).copied().unwrap_or(false)
                        }
                        Owner::Persona(id) => state.personas.contains(id.as_str()),
                        Owner::Coop => false,
                    },
                })
                .collect(),
        )
    }

    /// Waits for the turn to write; the mirror shows the write once the
    /// guard's holder has applied its effects.
    pub async fn writer(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// Shows what a write just committed.
    pub fn apply(&self, effects: &[Effect]) {
        self.write(|state| {
            for effect in effects {
                match effect {
                    Effect::Member {
                        id,
                        accepts_delegations,
                    } => {
                        state.members.insert(id.to_string(), *accepts_delegations);
                    }
                    Effect::Left(id) => {
                        state.members.remove(id.as_str());
                    }
                    Effect::ThirdParty { id, class, status } => {
                        state
                            .third_parties
                            .insert(id.to_string(), (*class, *status));
                    }
                    Effect::Persona(id) => {
                        state.personas.insert(id.to_string());
                    }
                    Effect::Version(owner, version) => {
                        let held = state.versions.entry(owner.clone()).or_insert(0);
                        *held = (*held).max(*version);
                    }
                }
            }
        });
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
        mirror.load(Vec::new(), Vec::new(), Vec::new(), Vec::new());
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
            Effect::Version(Owner::Member(member.clone()), 2),
            // An older version arriving late never moves a version back.
            Effect::Version(Owner::Member(member.clone()), 1),
            Effect::Version(Owner::Coop, 1),
        ]);
        let facts = mirror.facts(Some(&lab), Some(&member)).unwrap();
        assert_eq!(
            facts.requester,
            Some((RequesterClass::Academic, ThirdPartyStatus::Suspended))
        );
        assert!(facts.member_active);
        assert_eq!((facts.member_version, facts.coop_version), (2, 1));
    }
}
