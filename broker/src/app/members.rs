//! A member's membership: leaving the co-op.

use chrono::{DateTime, Utc};

use super::AppError;
use crate::consent::Engine;
use crate::domain::MemberId;
use crate::domain::rule::Owner;
use crate::store::{Logged, Store};

/// The member leaves: erased in the store (one change through the commit
/// seam), and their compiled rules dropped from the engine. False when no
/// such member is in the co-op.
pub async fn leave(
    store: &dyn Store,
    engine: &Engine,
    member: &MemberId,
    now: DateTime<Utc>,
) -> Result<Logged<bool>, AppError> {
    let left = store.leave(member, now).await?;
    // Even if this call is dropped before here, the member's next decision
    // finds them gone and drops the slice then.
    engine.forget(&Owner::Member(member.clone()));
    Ok(left)
}
