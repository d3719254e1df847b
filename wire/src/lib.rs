//! The JSON shapes of datacoop's public HTTP interface (`../shared/spec/http-contract.md`).
//!
//! This crate holds only serde types, so that the SDK never pulls in the server
//! and any change to the public shape shows up in review as a change here.
//! Request types are deliberately loose (plain strings where the broker must
//! validate against data it holds, such as the vocabulary); the broker parses
//! them into its domain types at the edge.

mod access;
mod audit;
mod datasets;
mod decisions;
mod delegations;
mod enums;
mod members;
mod oauth;
mod problem;
mod rules;
mod third_parties;
mod vocabulary;
mod webhooks;

pub use access::{
    AccessLogEntry, AccessRequest, AccessResponse, Connection, CreateConnection, Export,
    LoggedCategory,
};
pub use audit::{AuditEntry, ConsistencyProof, InclusionProof};
pub use datasets::{
    CountedBuild, CreateDataset, CreateLicense, Dataset, Dimension, License, LicenseStatus,
    Manifest, Measure, MeasureOp, Release, UpdateLicense,
};
pub use decisions::{
    CategoryDecision, DecidedBy, Decision, DecisionRequest, ExplainRequest, Reason, Verdict,
};
pub use delegations::{CreateDelegation, Delegation, Delegators, Proxy};
pub use enums::{Registry, RequesterClass, ThirdPartyStatus};
pub use members::{CreateMember, CreatedMember, Me, MemberSummary, SignInLink, UpdateMe};
pub use oauth::{OAuthError, RotatedSecret, TokenResponse};
pub use problem::{FieldError, Problem};
pub use rules::{
    Action, CreatePersona, Effect, Persona, RequesterSelector, Rule, RuleAction, RuleBody,
};
pub use third_parties::{CreateThirdParty, CreatedThirdParty, ThirdParty, UpdateThirdParty};
pub use vocabulary::{Term, Vocabulary};
pub use webhooks::{
    CreateDeletionReceipt, DeletionReceipt, Delivery, DeliveryState, EventType, LicenseEvent,
    LicenseEventData, SetWebhook, WebhookEndpoint, Withdrawal, WithdrawalData, WithdrawalEvent,
};

use serde::{Deserialize, Serialize};

/// One page of a cursor-paginated list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The answer of `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`, or `unavailable` when a check failed.
    pub status: String,
    /// Each check by name (`database`, `policies`) with `ok` or what is wrong.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub checks: std::collections::BTreeMap<String, String>,
}

/// Deserializes a field that may be absent (`None`) but, when present, is
/// never `null`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Deserializes a field that may be absent (outer `None`), `null` (inner
/// `None`) or a value, for PATCH bodies that can clear a field.
pub(crate) fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
