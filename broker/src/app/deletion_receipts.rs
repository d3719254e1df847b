//! The stewards' view of deletion receipts (issue 10): withdrawals whose
//! recipient has not confirmed the deletion, and which of them are
//! overdue. `GET /v1/deletion-receipts` and the stewards' pages call this.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::AppError;
use crate::store::{EventFilter, EventRecord, Seq, Store};

/// Withdrawals sent before this instant and still unconfirmed at `now`
/// are overdue: `grace` (`DATACOOP_DELETION_GRACE_SECS`) has passed.
pub fn overdue_before(now: DateTime<Utc>, grace: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(grace)
        .ok()
        .and_then(|grace| now.checked_sub_signed(grace))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Up to `limit` withdrawals sent before `before` whose deletion is not
/// confirmed, oldest first, after position `after`.
pub async fn unconfirmed_before(
    store: &dyn Store,
    before: DateTime<Utc>,
    after: Option<Seq>,
    limit: u32,
) -> Result<Vec<(Seq, EventRecord)>, AppError> {
    Ok(store
        .events(&EventFilter::UnconfirmedBefore(before), after, limit)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overdue_is_the_grace_period_before_now() {
        let now = DateTime::parse_from_rfc3339("2026-03-08T12:00:00Z")
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_else(|_| unreachable!());
        let week = Duration::from_secs(7 * 24 * 3600);
        assert_eq!(
            overdue_before(now, week).to_rfc3339(),
            "2026-03-01T12:00:00+00:00"
        );
        assert_eq!(overdue_before(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
    }
}
