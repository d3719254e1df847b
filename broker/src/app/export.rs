//! Everything the co-op holds about a member (`GET /v1/me/export`). The
//! access log can be long, so it is read a page at a time while the
//! document is sent, never held in memory whole.

use std::sync::Arc;

use futures_util::Stream;

use super::AppError;
use crate::domain::rule::{Owner, Rule};
use crate::domain::{Delegation, Member, MemberId};
use crate::store::{AccessRecord, Seq, Store, StoreError};

/// Rows of the access log read at a time.
pub const LOG_PAGE: u32 = 500;

/// Everything but the access log.
#[derive(Debug, Clone)]
pub struct Holdings {
    pub member: Member,
    /// `(category, JSON text)`, by category.
    pub data: Vec<(String, String)>,
    pub rules: Vec<Rule>,
    /// Each delegation, and whether it is active now.
    pub delegations: Vec<(Delegation, bool)>,
    /// `(third party id, subject)`, oldest first.
    pub connections: Vec<(String, String)>,
    /// Every withdrawal sent about the member, newest first.
    pub withdrawals: Vec<crate::store::EventRecord>,
}

/// Withdrawals read per query while exporting.
const WITHDRAWALS_PAGE: u32 = 500;

pub async fn holdings(store: &dyn Store, member: Member) -> Result<Holdings, AppError> {
    let rules = store.rules_of(&Owner::Member(member.id.clone())).await?;
    let delegations = store.delegations_of(&member.id).await?;
    let proxies: Vec<Owner> = delegations.iter().map(|d| d.proxy.clone()).collect();
    let states = store.owner_states(&proxies).await?;
    let delegations = delegations
        .into_iter()
        .zip(states)
        .map(|(delegation, state)| (delegation, state.can_proxy))
        .collect();
    let connections = store.connections_of(&member.id).await?;
    let data = store.data_of(&member.id).await?;
    let withdrawals = withdrawals_of(store, &member.id).await?;
    Ok(Holdings {
        member,
        data,
        rules,
        delegations,
        connections,
        withdrawals,
    })
}

/// Every withdrawal sent about `member`, newest first.
pub async fn withdrawals_of(
    store: &dyn Store,
    member: &MemberId,
) -> Result<Vec<crate::store::EventRecord>, StoreError> {
    let mut withdrawals = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .events(
                &crate::store::EventFilter::Member(member.clone()),
                before,
                WITHDRAWALS_PAGE,
            )
            .await?;
        let full = page.len() == usize::try_from(WITHDRAWALS_PAGE).unwrap_or(usize::MAX);
        before = page.last().map(|(seq, _)| *seq);
        withdrawals.extend(page.into_iter().map(|(_, event)| event));
        if !full {
            return Ok(withdrawals);
        }
    }
}

/// The withdrawals that reached what `read` gave its third party: for
/// each category it allowed, the first withdrawal of that category sent
/// to that third party for that purpose after the read. `withdrawals` as
/// `withdrawals_of` lists them (newest first).
pub fn withdrawals_covering<'w>(
    read: &AccessRecord,
    withdrawals: &'w [crate::store::EventRecord],
) -> Vec<&'w crate::store::EventRecord> {
    let mut covering: Vec<&crate::store::EventRecord> = Vec::new();
    let given = read
        .categories
        .iter()
        .filter(|category| category.verdict == datacoop_wire::Verdict::Allow);
    for category in given {
        let first = withdrawals
            .iter()
            .rev()
            .filter(|event| {
                event.third_party == read.third_party
                    && event.purpose == read.purpose
                    && event.created_at >= read.at
            })
            .find(|event| event.categories.contains(&category.category));
        if let Some(event) = first
            && !covering.iter().any(|seen| seen.id == event.id)
        {
            covering.push(event);
        }
    }
    covering
}

/// The member's access log, newest first, one page at a time.
pub fn access_log(
    store: Arc<dyn Store>,
    member: MemberId,
) -> impl Stream<Item = Result<Vec<AccessRecord>, StoreError>> + Send + 'static {
    // The state: where the next page starts; `None` once the log is read.
    futures_util::stream::try_unfold(Some(None::<Seq>), move |next| {
        let store = Arc::clone(&store);
        let member = member.clone();
        async move {
            let Some(before) = next else {
                return Ok(None);
            };
            let rows = store.access_log(&member, before, LOG_PAGE).await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let more = rows.len() == usize::try_from(LOG_PAGE).unwrap_or(usize::MAX);
            let last = rows.last().map(|(seq, _)| *seq);
            let page = rows.into_iter().map(|(_, record)| record).collect();
            Ok(Some((page, more.then_some(last))))
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};
    use datacoop_wire::{Action, DeliveryState, Reason, Verdict};

    use super::*;
    use crate::domain::{EventId, ThirdPartyId};
    use crate::store::{CategoryVerdict, EventRecord};

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::minutes(minutes)
    }

    fn event(
        id: &str,
        third_party: &str,
        purpose: &str,
        categories: &[&str],
        minute: i64,
    ) -> EventRecord {
        EventRecord {
            kind: datacoop_wire::EventType::ConsentWithdrawn,
            id: EventId::from_trusted(id.to_owned()),
            third_party: ThirdPartyId::from_trusted(third_party.to_owned()),
            member: MemberId::from_trusted("mbr_a".to_owned()),
            purpose: purpose.to_owned(),
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            state: DeliveryState::Delivered,
            attempts: 1,
            created_at: at(minute),
            delivered_at: Some(at(minute)),
            failed_at: None,
            last_error: None,
            deletion_confirmed_at: None,
            log_index: 0,
        }
    }

    fn read(categories: &[(&str, Verdict)], minute: i64) -> AccessRecord {
        AccessRecord {
            member: MemberId::from_trusted("mbr_a".to_owned()),
            third_party: ThirdPartyId::from_trusted("tp_lab".to_owned()),
            purpose: "research".to_owned(),
            action: Action::Access,
            decision: Verdict::Allow,
            categories: categories
                .iter()
                .map(|(category, verdict)| CategoryVerdict {
                    category: (*category).to_owned(),
                    verdict: *verdict,
                    reason: Reason::Allowed,
                })
                .collect(),
            at: at(minute),
        }
    }

    fn ids(events: Vec<&EventRecord>) -> Vec<&str> {
        events.into_iter().map(|event| event.id.as_str()).collect()
    }

    #[test]
    fn a_read_shows_the_first_withdrawal_of_each_category_it_gave_after_it() {
        // Newest first, as `withdrawals_of` lists them.
        let withdrawals = vec![
            event("evt_later", "tp_lab", "research", &["health"], 30),
            event("evt_other_purpose", "tp_lab", "marketing", &["health"], 20),
            event("evt_other_lab", "tp_shop", "research", &["health"], 20),
            event(
                "evt_both",
                "tp_lab",
                "research",
                &["health", "location"],
                10,
            ),
            event("evt_before", "tp_lab", "research", &["health"], 0),
        ];
        let given = read(
            &[("health", Verdict::Allow), ("location", Verdict::Allow)],
            5,
        );
        assert_eq!(
            ids(withdrawals_covering(&given, &withdrawals)),
            ["evt_both"]
        );
        // What was refused was never given: nothing withdrawn reaches it.
        let refused = read(&[("health", Verdict::Deny)], 5);
        assert!(withdrawals_covering(&refused, &withdrawals).is_empty());
        // Given again after the first withdrawal: the next one reaches it.
        let again = read(&[("health", Verdict::Allow)], 15);
        assert_eq!(
            ids(withdrawals_covering(&again, &withdrawals)),
            ["evt_later"]
        );
        // Not withdrawn yet.
        let last = read(&[("health", Verdict::Allow)], 40);
        assert!(withdrawals_covering(&last, &withdrawals).is_empty());
    }
}
