//! Delegating (consent-semantics §3): a member hands a scope of decisions
//! to a member who accepts delegations, or to a persona.

use chrono::{DateTime, Utc};

use super::AppError;
use crate::consent::Engine;
use crate::domain::rule::Owner;
use crate::domain::{Delegation, DelegationId, FieldErrors, MemberId, PersonaId, Scope};
use crate::store::{Logged, Store, StoreError};

/// The proxy a member names, its id parsed but not yet looked up.
#[derive(Debug, Clone)]
pub enum ProxyRef {
    Member(MemberId),
    Persona(PersonaId),
}

/// Stores a delegation of `member`'s `scope` to `proxy` after checking
/// §3: not oneself, a member in the co-op who accepts delegations, or a
/// persona the co-op published; an identical scope is a conflict.
pub async fn delegate(
    store: &dyn Store,
    engine: &Engine,
    member: &MemberId,
    proxy: ProxyRef,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<Logged<Delegation>, AppError> {
    let proxy = match proxy {
        ProxyRef::Member(id) if &id == member => {
            return Err(invalid(
                "to.member",
                "a member cannot delegate to themselves",
            ));
        }
        ProxyRef::Member(id) => match store.member(&id).await? {
            None => {
                return Err(invalid(
                    "to.member",
                    format!("`{id}` is not a member of this co-op"),
                ));
            }
            Some(proxy) if !proxy.accepts_delegations => {
                return Err(invalid(
                    "to.member",
                    "this member does not accept delegations",
                ));
            }
            Some(proxy) => Owner::Member(proxy.id),
        },
        ProxyRef::Persona(id) => {
            let owner = Owner::Persona(id);
            let published = store
                .owner_states(std::slice::from_ref(&owner))
                .await?
                .first()
                .is_some_and(|state| state.can_proxy);
            if !published {
                return Err(invalid(
                    "to.persona",
                    format!("`{}` is not a persona of this co-op", owner.id()),
                ));
            }
            owner
        }
    };
    let mut delegation = Delegation {
        id: DelegationId::generate(),
        member: member.clone(),
        proxy,
        scope,
        seq: 0,
        created_at: now,
        cedar: String::new(),
    };
    delegation.cedar = engine
        .evaluator()
        .model()
        .compile_delegation(&delegation)
        .map_err(AppError::compile)?;
    let stored = store
        .create_delegation(&delegation)
        .await
        .map_err(|error| match error {
            StoreError::Conflict => AppError::Conflict(
                "you already delegate exactly this scope; revoke that delegation first",
            ),
            other => AppError::Store(other),
        })?;
    tracing::info!(delegation = %stored.value.id, "delegation created");
    Ok(stored)
}

/// Revokes one of `member`'s delegations; false when none such.
pub async fn revoke(
    store: &dyn Store,
    member: &MemberId,
    id: &DelegationId,
) -> Result<Logged<bool>, AppError> {
    let revoked = store.delete_delegation(member, id).await?;
    if revoked.value {
        tracing::info!(delegation = %id, "delegation revoked");
    }
    Ok(revoked)
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid(FieldErrors::single(field, message))
}
