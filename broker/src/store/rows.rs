//! Rows as the database returns them, and their conversion to domain
//! types. Shared by both databases: the column types decode on each.

use chrono::{DateTime, Utc};

use super::{Seq, StoreError, StoreResult};
use crate::domain::{
    DisplayName, Member, MemberId, Registry, RequesterClass, ThirdParty, ThirdPartyId,
    ThirdPartyName, ThirdPartyStatus,
};

#[derive(Debug, sqlx::FromRow)]
pub(super) struct MemberRow {
    seq: Seq,
    id: String,
    display_name: Option<String>,
    registry: String,
    accepts_delegations: bool,
    created_at: DateTime<Utc>,
}

impl MemberRow {
    pub(super) fn into_domain(self) -> StoreResult<(Seq, Member)> {
        let registry = Registry::parse(&self.registry)
            .ok_or_else(|| StoreError::Corrupt(format!("member registry `{}`", self.registry)))?;
        Ok((
            self.seq,
            Member {
                id: MemberId::from_trusted(self.id),
                display_name: self.display_name.map(DisplayName::from_trusted),
                registry,
                accepts_delegations: self.accepts_delegations,
                created_at: self.created_at,
            },
        ))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ThirdPartyRow {
    seq: Seq,
    id: String,
    name: String,
    class: String,
    status: String,
    webhook_url: Option<String>,
    client_id: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ThirdPartyRow {
    pub(super) fn into_domain(self) -> StoreResult<(Seq, ThirdParty)> {
        let class = RequesterClass::parse(&self.class)
            .ok_or_else(|| StoreError::Corrupt(format!("third-party class `{}`", self.class)))?;
        let status = ThirdPartyStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Corrupt(format!("third-party status `{}`", self.status)))?;
        Ok((
            self.seq,
            ThirdParty {
                id: ThirdPartyId::from_trusted(self.id),
                name: ThirdPartyName::from_trusted(self.name),
                class,
                status,
                webhook_url: self.webhook_url,
                client_id: self.client_id,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
        ))
    }
}
