//! Delegations (consent-semantics §3): a member hands a scope of their
//! decisions to a proxy, another member or a persona.

use chrono::{DateTime, Utc};

use super::rule::Owner;
use super::vocabulary::TermId;
use super::{DelegationId, MemberId};

/// A scope: categories and purposes, each `*` by default.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub data_categories: Vec<TermId>,
    pub purposes: Vec<TermId>,
}

impl Scope {
    /// The deepest scope category that covers `category` and the deepest
    /// scope purpose that covers `purpose`, when both exist (§3 covers).
    pub fn covering_depths(&self, category: &TermId, purpose: &TermId) -> Option<(usize, usize)> {
        let deepest = |terms: &[TermId], wanted: &TermId| {
            terms
                .iter()
                .filter(|term| term.covers(wanted))
                .map(TermId::depth)
                .max()
        };
        Some((
            deepest(&self.data_categories, category)?,
            deepest(&self.purposes, purpose)?,
        ))
    }

    /// A canonical text of the scope: identical scopes, and only they,
    /// have the same key (§3: at most one delegation per identical scope).
    pub fn key(&self) -> String {
        let sorted = |terms: &[TermId]| {
            let mut ids: Vec<&str> = terms.iter().map(TermId::as_str).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.join(",")
        };
        format!(
            "{}|{}",
            sorted(&self.data_categories),
            sorted(&self.purposes)
        )
    }
}

/// A stored delegation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    pub id: DelegationId,
    pub member: MemberId,
    /// A member or a persona.
    pub proxy: Owner,
    pub scope: Scope,
    /// Creation order, monotonic: ties between equally deep delegations go
    /// to the newest, and two timestamps can tie.
    pub seq: i64,
    pub created_at: DateTime<Utc>,
    /// The Cedar policy stating the proxy's right to decide for the member.
    pub cedar: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(categories: &[&str], purposes: &[&str]) -> Scope {
        Scope {
            data_categories: categories
                .iter()
                .map(|c| TermId::parse(c).unwrap())
                .collect(),
            purposes: purposes.iter().map(|p| TermId::parse(p).unwrap()).collect(),
        }
    }

    #[test]
    fn covering_depth_is_the_deepest_covering_term() {
        let id = |raw: &str| TermId::parse(raw).unwrap();
        let s = scope(&["*", "health", "health.heart"], &["research"]);
        assert_eq!(
            s.covering_depths(&id("health.heart.rate"), &id("research.academic")),
            Some((2, 1))
        );
        assert_eq!(
            s.covering_depths(&id("location"), &id("research")),
            Some((0, 1))
        );
        assert_eq!(s.covering_depths(&id("location"), &id("marketing")), None);
    }

    #[test]
    fn scope_keys_ignore_order_and_duplicates() {
        assert_eq!(
            scope(&["health", "location"], &["*"]).key(),
            scope(&["location", "health"], &["*"]).key()
        );
        assert_ne!(
            scope(&["health"], &["*"]).key(),
            scope(&["health", "location"], &["*"]).key()
        );
    }
}
