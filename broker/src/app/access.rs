//! A third party reads a member's data (`POST /v1/access`).
//!
//! A third party must learn nothing about a subject it has not been given:
//! an unknown subject, another third party's, or a departed member's is
//! decided through the engine as a member with no rules, answered in the
//! same shape, and logged like any other call; and every member-level
//! reason is shown to the third party as `no_consent`, so that neither a
//! member's own deny nor a broken delegation chain proves that the subject
//! exists. Co-op rules deny every subject alike, so `coop_policy` tells
//! nothing about one.

use chrono::{DateTime, Utc};
use datacoop_wire::{Action, Reason, Verdict};

use super::AppError;
use crate::consent::{DecisionInput, Engine};
use crate::domain::ThirdPartyId;
use crate::domain::vocabulary::TermId;
use crate::store::{AccessRecord, CategoryVerdict, Store, UnmatchedAccess};

/// One category as the third party is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenCategory {
    pub category: TermId,
    pub verdict: Verdict,
    /// `allowed`, `coop_policy`, `requester_inactive` or `no_consent`.
    pub reason: Reason,
    /// Decided by the co-op's rules, not by the subject's member.
    pub by_coop: bool,
}

/// The answer to a third party's read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub verdict: Verdict,
    pub categories: Vec<SeenCategory>,
    /// The allowed categories' stored values, `(category, JSON text)`: for
    /// a parent category, every stored descendant.
    pub data: Vec<(String, String)>,
    /// The index of the call's entry in the verifiable log.
    pub log_index: Option<u64>,
}

/// What the third party asks.
#[derive(Debug, Clone)]
pub struct AccessRequest {
    pub third_party: ThirdPartyId,
    pub subject: String,
    pub categories: Vec<TermId>,
    pub purpose: TermId,
}

/// How a reason reads to a third party: what only the member's own rules
/// or delegations can cause becomes `no_consent`.
fn seen_reason(reason: Reason) -> Reason {
    match reason {
        Reason::Allowed | Reason::CoopPolicy | Reason::RequesterInactive => reason,
        Reason::DeniedByRule
        | Reason::DelegationCycle
        | Reason::DelegationTooDeep
        | Reason::MemberInactive
        | Reason::NoConsent => Reason::NoConsent,
    }
}

/// Decides the read, logs it (known subject or not), and returns only the
/// data consent allows.
pub async fn read(
    store: &dyn Store,
    engine: &Engine,
    request: AccessRequest,
    now: DateTime<Utc>,
) -> Result<Access, AppError> {
    let member = store
        .member_by_subject(&request.third_party, &request.subject)
        .await?;
    let input = DecisionInput {
        member: member
            .as_ref()
            .map_or_else(|| request.subject.clone(), ToString::to_string),
        requester: request.third_party.to_string(),
        action: Action::Access,
        categories: request.categories,
        purpose: request.purpose,
    };
    let outcome = match &member {
        Some(_) => engine.decide(&input, now).await?,
        None => engine.decide_as_silent_member(&input, now).await?,
    };
    let verdicts: Vec<CategoryVerdict> = outcome
        .categories
        .iter()
        .map(|category| CategoryVerdict {
            category: category.category.to_string(),
            verdict: category.verdict,
            reason: category.reason,
        })
        .collect();
    let allowed: Vec<&TermId> = outcome
        .categories
        .iter()
        .filter(|category| category.verdict == Verdict::Allow)
        .map(|category| &category.category)
        .collect();
    let data = match &member {
        Some(member) if !allowed.is_empty() => store
            .data_of(member)
            .await?
            .into_iter()
            .filter(|(stored, _)| {
                TermId::parse(stored)
                    .is_ok_and(|stored| allowed.iter().any(|allowed| allowed.covers(&stored)))
            })
            .collect(),
        _ => Vec::new(),
    };
    let logged = match member {
        Some(member) => {
            store
                .log_access(&AccessRecord {
                    member,
                    third_party: request.third_party,
                    purpose: input.purpose.to_string(),
                    action: Action::Access,
                    decision: outcome.verdict,
                    categories: verdicts,
                    at: now,
                })
                .await?
        }
        None => {
            store
                .log_unmatched_access(&UnmatchedAccess {
                    third_party: request.third_party,
                    subject: request.subject,
                    purpose: input.purpose.to_string(),
                    action: Action::Access,
                    decision: outcome.verdict,
                    categories: verdicts,
                    at: now,
                })
                .await?
        }
    };
    let categories = outcome
        .categories
        .into_iter()
        .map(|category| {
            let reason = seen_reason(category.reason);
            SeenCategory {
                by_coop: matches!(reason, Reason::CoopPolicy | Reason::RequesterInactive),
                reason,
                verdict: category.verdict,
                category: category.category,
            }
        })
        .collect();
    Ok(Access {
        verdict: outcome.verdict,
        categories,
        data,
        log_index: logged.log_index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_level_reasons_read_as_no_consent() {
        for reason in [
            Reason::DeniedByRule,
            Reason::DelegationCycle,
            Reason::DelegationTooDeep,
            Reason::MemberInactive,
            Reason::NoConsent,
        ] {
            assert_eq!(seen_reason(reason), Reason::NoConsent, "{reason:?}");
        }
        for reason in [
            Reason::Allowed,
            Reason::CoopPolicy,
            Reason::RequesterInactive,
        ] {
            assert_eq!(seen_reason(reason), reason);
        }
    }
}
